"""Reduction (grouping, dead time, α, background, packing, asymmetry), netCDF round
trip, overrides, RunCollection, and the ``info``/``plot`` commands.

Reduced quantities are checked against computations written out here with numpy
on the raw arrays read independently of bayesmusr's readers.
"""
from __future__ import annotations

import pathlib

import h5py
import numpy as np
import pytest
import xarray as xr

from bayesmusr import cli
from bayesmusr.io.run import MuonRun, estimate_alpha, make_histogram_dataset
from bayesmusr.io.collection import RunCollection, format_info_lines
from bayesmusr.report.plots import plot_run_file
from bayesmusr.io.readers import RunFormatError, read_run, sniff_format

DATA = pathlib.Path(__file__).parent / "data"
SHARED = pathlib.Path(__file__).parents[2] / "shared" / "data"
ZF = DATA / "EMU00020882.nxs"
TF = DATA / "EMU00020883.nxs"
MDU = DATA / "psi_convert_test_mdu_1.mdu"
HIFI = DATA / "HIFIgrouped_116891.txt"
V2 = SHARED / "EMU00126645.nxs"


def _raw_v1_counts(path):
    """counts of histogram_data_1 straight from pyhdf (no bayesmusr code)."""
    from pyhdf.SD import SD, SDC

    sd = SD(str(path), SDC.READ)
    try:
        for i in range(sd.info()[0]):
            ds = sd.select(i)
            name, _, dims, _, _ = ds.info()
            if name == "counts" and dims == [96, 2000]:
                return np.asarray(ds.get(), dtype=np.int64)
    finally:
        sd.end()
    raise AssertionError("counts not found")


# ------------------------------------------------------------- asymmetry
def test_zf_asymmetry_matches_hand_computation():
    raw = _raw_v1_counts(ZF)
    F = raw[:48].sum(axis=0).astype(float)  # EMU forward = detectors 1-48
    B = raw[48:].sum(axis=0).astype(float)  # backward = 49-96
    i = np.arange(2000)
    good = (i >= 22) & (F + B > 0) & (F > 0) & (B > 0)  # first good bin 22
    t_hand = (i[good] + 0.5) * 0.016 - 0.239  # bin centres after time_zero = 0.239 μs
    A_hand = (F[good] - B[good]) / (F[good] + B[good])
    err_hand = 2 * np.sqrt(B[good] ** 2 * F[good] + F[good] ** 2 * B[good]) / (F[good] + B[good]) ** 2

    run = read_run(ZF)
    a = run.asymmetry(alpha=1.0)
    assert a.attrs["dead_time_corrected"] == 0  # the file has no dead times
    np.testing.assert_allclose(a["time"].values, t_hand, atol=1e-6)
    np.testing.assert_allclose(a["asymmetry"].values, A_hand, rtol=1e-12)
    np.testing.assert_allclose(a["asymmetry_error"].values, err_hand, rtol=1e-12)
    # copper at 300 K: a weakly relaxing ZF signal near 0.21 (EMU, α = 1) in the first μs
    early = a["asymmetry"].values[a["time"].values < 1.0]
    assert 0.18 < early.mean() < 0.24


def test_grouped_histograms_for_poisson_likelihood():
    raw = _raw_v1_counts(ZF)
    g = read_run(ZF).grouped()
    assert g.attrs["bin_width_us"] == pytest.approx(0.016)
    assert g.attrs["first_good_time_us"] == pytest.approx(22.5 * 0.016 - 0.239, abs=1e-6)
    np.testing.assert_array_equal(g["forward"].values, raw[:48, 22:].sum(axis=0))
    np.testing.assert_array_equal(g["backward"].values, raw[48:, 22:].sum(axis=0))
    np.testing.assert_array_equal(g["forward_variance"].values, g["forward"].values)  # Poisson, no dead time
    assert g["time"].values[0] > 0 and np.all(np.diff(g["time"].values) > 0)
    p = read_run(ZF).grouped(bunch=4)
    np.testing.assert_array_equal(p["forward"].values[:3], raw[:48, 22:34].sum(axis=0).reshape(3, 4).sum(axis=1))
    np.testing.assert_allclose(p["time"].values[0], ((22 + 25) / 2 + 0.5) * 0.016 - 0.239, atol=1e-6)
    assert p.attrs["bin_width_us"] == pytest.approx(0.064)


def test_alpha_from_tf_calibration_run():
    raw = _raw_v1_counts(TF)
    F, B = raw[:48, 22:].sum(), raw[48:, 22:].sum()
    run = read_run(TF)
    alpha = estimate_alpha(run)
    assert alpha == pytest.approx(F / B, rel=1e-12)
    g = run.grouped()
    assert np.sum(g["forward"].values - alpha * g["backward"].values) == pytest.approx(0.0, abs=1e-6 * F)
    # with α applied, the 10 mT precession averages to ~0 over whole periods
    a = run.asymmetry(alpha=alpha)
    sel = a["time"].values < 8.0
    assert abs(np.average(a["asymmetry"].values[sel], weights=a["asymmetry_error"].values[sel] ** -2)) < 0.01


def test_dead_time_correction_mantid_convention():
    rng = np.random.default_rng(3)
    counts = rng.poisson(2000, size=(1, 4, 100)).astype(np.int64)
    tau = np.array([0.01, 0.02, 0.005, 0.0])
    frames = 100000.0  # N τ/(Δt F) up to 2.5 %
    ds = make_histogram_dataset(counts, bin_width_us=0.016, t0_us=0.08, first_good_bin=8, last_good_bin=100,
                                dead_time_us=tau, good_frames=[frames], attrs={"instrument": "TEST"})
    run = MuonRun(ds).validate()
    g = run.grouped(groups=([1, 2], [3, 4]), dead_time=True)
    N = counts[0].astype(float)
    true = N / (1 - N * tau[:, None] / (0.016 * frames))  # N_true = N / (1 − N τ/(Δt F))
    np.testing.assert_allclose(g["forward"].values, true[:2, 8:].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g["backward"].values, true[2:, 8:].sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(g["forward_variance"].values, (true[:2, 8:] ** 2 / N[:2, 8:]).sum(axis=0), rtol=1e-12)
    assert run.grouped(groups=([1, 2], [3, 4]))["forward"].values[0] == pytest.approx(true[:2, 8].sum())
    off = run.grouped(groups=([1, 2], [3, 4]), dead_time=False)
    np.testing.assert_array_equal(off["forward"].values, N[:2, 8:].sum(axis=0))


@pytest.mark.skipif(not V2.exists(), reason="EMU00126645.nxs (not committed) is absent")
def test_v2_dead_time_from_file():
    with h5py.File(V2) as fh:
        c = fh["raw_data_1/detector_1/counts"][0].astype(float)
        tau = fh["raw_data_1/detector_1/dead_time"][()].astype(float)
        frames = float(fh["raw_data_1/periods/good_frames"][0])
    true = c / (1 - c * tau[:, None] / (0.016 * frames))
    g = read_run(V2).grouped()  # grouping 1-48 / 49-96 and dead times from the file
    assert g.attrs["dead_time_corrected"] == 1
    np.testing.assert_allclose(g["forward"].values, true[:48, 19:].sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(g["backward"].values, true[48:, 19:].sum(axis=0), rtol=1e-5)


def test_psi_t0_alignment_and_background():
    run = read_run(MDU)
    c = run.ds["counts"].values[0].astype(float)
    # Forward t0 bin 259, Backward 251: backward is shifted by 8 bins onto forward's time axis
    g = run.grouped(groups=([1], [2]), good_only=False)
    start = int(g["first_bin"].values[0])
    n = g.sizes["time"]
    assert start == 8  # the first 8 forward bins have no backward partner
    np.testing.assert_array_equal(g["forward"].values, c[0, start: start + n])
    np.testing.assert_array_equal(g["backward"].values, c[1, start - 8: start - 8 + n])
    np.testing.assert_allclose(g["time"].values[0], (start + 0.5) * run.bin_width_us - (259 + 0.5) * run.bin_width_us)
    # pre-t0 background: mean over 0.1·t0 .. t0 − 10 bins (times relative to t0)
    bF, bB, _, _ = run.background(groups=([1], [2]))
    t = g["time"].values
    t0 = (259 + 0.5) * run.bin_width_us
    sel = (t >= -0.9 * t0) & (t < -10 * run.bin_width_us)
    assert bF == pytest.approx(g["forward"].values[sel].mean())
    assert bB == pytest.approx(g["backward"].values[sel].mean())
    a = run.asymmetry(groups=([1], [2]), background="pre_t0")
    good = run.grouped(groups=([1], [2]))
    F, B = good["forward"].values - bF, good["backward"].values - bB
    ok = F + B > 0
    np.testing.assert_allclose(a["asymmetry"].values, ((F - B) / (F + B))[ok], rtol=1e-10)


def test_rebin_keeps_counts_and_t0():
    run = read_run(ZF)
    r2 = run.rebin(2)
    assert r2.n_bins == 1000 and r2.bin_width_us == pytest.approx(0.032)
    assert r2.total_counts == run.total_counts
    assert np.all(r2.ds["first_good_bin"].values == 11) and np.allclose(r2.ds["t0"].values, 0.239, atol=1e-6)


def test_multi_period(tmp_path):
    p = tmp_path / "mp.nxs"
    counts = np.stack([np.full((4, 60), 5, np.int32), np.full((4, 60), 7, np.int32)])
    with h5py.File(p, "w") as fh:
        d = fh.create_group("raw_data_1/detector_1")
        ds = d.create_dataset("counts", data=counts)
        ds.attrs["t0_bin"], ds.attrs["first_good_bin"], ds.attrs["last_good_bin"] = 2, 4, 60
        d.create_dataset("raw_time", data=np.arange(61) * 0.016)
        fh["raw_data_1"].create_dataset("run_number", data=[5])
    run = read_run(p)
    assert run.n_periods == 2
    with pytest.raises(ValueError, match="period"):
        run.grouped(groups=([1, 2], [3, 4]))
    assert run.grouped(groups=([1, 2], [3, 4]), period=2)["forward"].values[0] == 14
    assert run.grouped(groups=([1, 2], [3, 4]), period="sum")["forward"].values[0] == 24
    with pytest.raises(RunFormatError, match="grouping"):
        run.grouped()  # no grouping in the file, no default for this instrument


# ------------------------------------------------------- netCDF round trip
@pytest.mark.parametrize("src", [ZF, MDU, HIFI])
def test_netcdf_round_trip_is_lossless(tmp_path, src):
    run = read_run(src)
    out = run.to_netcdf(tmp_path / "run.nc")
    assert sniff_format(out) == "hdf5"
    back = read_run(out)
    xr.testing.assert_identical(back.ds, run.ds)
    for name in run.ds.data_vars:
        assert back.ds[name].dtype.kind == run.ds[name].dtype.kind


# --------------------------------------------------------------- overrides
def test_overrides_are_recorded():
    run = read_run(ZF, temperature_K=295.0, t0_us=0.24, groups={"forward": [1, 2], "backward": [50]}, geometry="ZF")
    assert run.temperature_K == 295.0 and run.attrs["temperature_source"] == "user"
    assert np.all(run.ds["t0"].values == 0.24) and run.attrs["t0_source"] == "user"
    f, b = run.default_groups()
    assert f.tolist() == [1, 2] and b.tolist() == [50] and run.attrs["grouping_source"] == "user"
    with pytest.raises(RunFormatError, match="do not exist"):
        read_run(ZF, groups=([1], [200]))


# ------------------------------------------------------------ collections
def test_collection_sorted_and_paired():
    col = RunCollection.from_files(str(DATA / "EMU000208*.nxs"))
    assert [r.attrs["run_number"] for r in col] == [20883, 20882]  # 287.6 K before 300.4 K
    pts = col.paired(tolerance_K=15.0)
    assert len(pts) == 1 and [r.attrs["run_number"] for r in pts[0].zf] == [20882]
    assert [r.attrs["run_number"] for r in pts[0].tf] == [20883]
    assert len(col.paired(tolerance_K=0.5)) == 2
    col2 = RunCollection.from_files([ZF, TF], overrides={"EMU00020882.nxs": {"temperature_K": 10.0}, 20883: {"t0_us": 0.24}})
    assert [r.attrs["run_number"] for r in col2] == [20882, 20883]
    assert np.all(col2[1].ds["t0"].values == 0.24)


def test_collection_from_toml(tmp_path):
    toml = tmp_path / "scan.toml"
    toml.write_text(
        f'[defaults]\nforward = [1, 2, 3]\nbackward = [49, 50]\n\n'
        f'[[run]]\nfile = "{ZF}"\ntemperature_K = 290.0\n\n'
        f'[[run]]\nglob = "{DATA}/EMU00020883.nxs"\n\n'
        f'[[run]]\nfile = "{HIFI}"\ntemperature_K = 5.0\ngeometry = "ZF"\n'
    )
    # [defaults] groups also reach the ASCII run, which has no histograms: refused
    with pytest.raises(ValueError, match="histogram runs only"):
        RunCollection.from_toml(toml)
    toml.write_text(
        f'[[run]]\nfile = "{ZF}"\ntemperature_K = 290.0\nforward = "1-3"\nbackward = [49, 50]\n\n'
        f'[[run]]\nglob = "{DATA}/EMU00020883.nxs"\n\n[[run]]\nfile = "{HIFI}"\ntemperature_K = 5.0\n'
    )
    col = RunCollection.from_toml(toml)
    assert col.temperatures[0] == 5.0 and np.all(np.diff(col.temperatures) > 0)
    assert [r.attrs["run_number"] for r in col] == [116891, 20883, 20882]
    assert col[2].default_groups()[0].tolist() == [1, 2, 3]


def test_collection_needs_temperature(tmp_path):
    with pytest.raises(RunFormatError) as err:
        RunCollection.from_files([HIFI])
    assert str(HIFI) in str(err.value) and "temperature" in str(err.value)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[run]]\nfile = 3 = 4\n")
    with pytest.raises(RunFormatError, match="TOML"):
        RunCollection.from_toml(bad)


# ------------------------------------------------------------ info / plot
def test_info_lines_and_cli(capsys, tmp_path):
    lines, n_bad = format_info_lines([ZF, MDU, HIFI])
    assert n_bad == 0
    assert "run 20882 | EMU | copper | T=300.35 K (log:Temp_Sample mean) | B=0 mT ZF | 96 det, 1 period, 2000 bins x 16 ns, 3040889 counts" in lines[0]
    assert "PSI MDU M3 | run 7387" in lines[1] and "5 det" in lines[1] and "0.625 ns" in lines[1]
    assert "asymmetry only, 993 points" in lines[2]
    assert cli.main(["info", str(ZF), str(TF)]) == 0
    assert "run 20883" in capsys.readouterr().out
    bad = tmp_path / "bad.nxs"
    bad.write_bytes(b"\x0e\x03\x13\x01" + bytes(100))
    assert cli.main(["info", str(bad)]) == 1  # every file described, non-zero status when one is bad
    assert str(bad) in capsys.readouterr().err


def test_plot_run_file(tmp_path):
    for src in (ZF, HIFI):
        out = plot_run_file(src, tmp_path / f"{src.stem}.png")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
