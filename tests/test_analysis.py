"""End-to-end: `bayesmusr fit` on a tiny simulated scan writes results, figures and a report; bad configs fail clearly."""
import json
import shutil
import runpy

import numpy as np
import pytest

from bayesmusr import cli
from bayesmusr.inference import compare
from bayesmusr.workflows.spec import read_spec
from bayesmusr.physics import tables
from bayesmusr.workflows.scan import load_config

needs_table = pytest.mark.skipif(not tables.DEFAULT_TABLE.exists(), reason="shipped EA table not present")
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


@needs_table
def test_fit_command_end_to_end(tmp_path):
    make_scan = runpy.run_path(str(EXAMPLES / "make_demo_scan.py"), run_name="t")["make_scan"]
    make_scan(tmp_path / "scan", n_events=2e6, temperatures=np.array([230.0, 280.0, 330.0]))
    (tmp_path / "a.toml").write_text("""
[data]
runs = "scan/runs.toml"
bunch = 10
t_max = 16.0
[sampler]
seed = 3
max_steps = 400
min_steps = 200
progress = false
[kt.sampler]
max_steps = 300
min_steps = 200
progress = false
[truth]
e_i = 0.35
[output]
folder = "out"
""")
    with pytest.warns(Warning):  # short chains: the convergence warning must be raised, not hidden
        assert cli.main(["fit", str(tmp_path / "a.toml"), "--quiet"]) == 0
    out = tmp_path / "out"
    for name in ("ea_scan.nc", "kt_per_temperature.nc", "comparison.txt", "conventional.json", "report.md",
                 "rates.png", "delta_kt.png", "evidence_per_temperature.png", "spectra.png", "corner.png"):
        assert (out / name).exists(), name
    conv = json.loads((out / "conventional.json").read_text())
    assert len(conv["delta_kt"]) == 3 and conv["t_star_K"] in (230.0, 280.0, 330.0)
    report = (out / "report.md").read_text()
    assert "EA scan model" in report and "elpd" in report
    # a second run reuses the finished results (resumability of the whole job)
    made = (out / "ea_scan.nc").stat().st_mtime_ns
    assert cli.main(["fit", str(tmp_path / "a.toml"), "--quiet"]) == 0
    assert (out / "ea_scan.nc").stat().st_mtime_ns == made
    # the results carry the job's specification: every run file with its checksum, the configuration
    spec = read_spec(compare.load(out / "ea_scan.nc"))
    assert spec["kind"] == "scan" and spec["model"]["name"] == "ea_arrhenius_scan"
    assert len(spec["runs"]) == 6 and all(len(r["source"]["sha256"]) == 64 for r in spec["runs"])
    assert spec["job"]["config"]["data"]["bunch"] == 10 and spec["sampler"]["seed"] == 3
    assert read_spec(compare.load(out / "kt_per_temperature.nc"))["model"]["name"] == "kt_per_temperature"
    # rerun from the specification alone, the data folder moved: the same posterior
    shutil.copytree(tmp_path / "scan", tmp_path / "moved" / "scan")
    with pytest.warns(Warning):
        assert cli.main(["rerun", str(out / "ea_scan.nc"), "--out", str(tmp_path / "again"),
                         "--data-dir", str(tmp_path / "moved"), "--quiet"]) == 0
    a, b = compare.load(out / "ea_scan.nc").posterior, compare.load(tmp_path / "again" / "ea_scan.nc").posterior
    for name in ("e_i", "log10_nu_i0", "q", "delta"):
        assert abs(float(a[name].median()) - float(b[name].median())) < 0.1 * float(a[name].std()), name


@needs_table
def test_fit_command_on_exported_asymmetries(tmp_path):
    """A scan given only as exported asymmetries (Gaussian likelihood, no counts) runs through the whole
    job: results, figures (the spectra figure once indexed histogram nuisances) and both reports."""
    from bayesmusr.io.run import MuonRun, make_asymmetry_dataset
    from bayesmusr.model.simulate import simulate_spectrum

    rng = np.random.default_rng(11)
    (tmp_path / "runs").mkdir()
    for temp, nu_i in ((220.0, 0.05), (270.0, 0.8), (320.0, 8.0)):
        for b in (0.0, 1.0):
            rd = simulate_spectrum("ea", {"delta": 0.3, "nu_i": nu_i, "nu_mu": 0.3, "q": 0.8}, b, rng=rng,
                                   n_events=5e6, n_bins=300, bin_width=0.05, kind="asymmetry", a0=0.2, alpha=1.0,
                                   fbg=0.05)
            MuonRun(make_asymmetry_dataset(rd.t, rd.asymmetry, rd.error, attrs={
                "temperature_K": temp, "field_mT": b, "geometry": "ZF" if b == 0 else "LF",
                "run_number": int(temp) * 10 + int(b)})).to_netcdf(tmp_path / "runs" / f"r{temp:.0f}_{b:g}.nc")
    (tmp_path / "a.toml").write_text("""
[data]
files = "runs/*.nc"
[sampler]
seed = 3
max_steps = 300
min_steps = 200
progress = false
[kt]
parallel = false
[kt.sampler]
max_steps = 200
min_steps = 200
progress = false
[output]
folder = "out"
""")
    with pytest.warns(Warning):  # short chains
        assert cli.main(["fit", str(tmp_path / "a.toml"), "--quiet"]) == 0
    out = tmp_path / "out"
    for name in ("ea_scan.nc", "kt_per_temperature.nc", "spectra.png", "report.md", "report.html"):
        assert (out / name).exists(), name
    assert "Likelihood: Gaussian on the stored errors of 6 exported asymmetry runs" in (out / "report.md").read_text()


def test_results_are_reused_only_for_the_same_configuration_and_data(tmp_path, capsys):
    from bayesmusr.workflows.scan import _sample_or_load, fingerprint
    from bayesmusr.model.scan import KTTemperatureProblem, ScanPointData
    from bayesmusr.model.simulate import simulate_spectrum

    rng = np.random.default_rng(5)
    runs = [simulate_spectrum("dynamic_kt", {"delta": 0.3, "nu": 0.2}, b, rng=rng, n_events=2e6, n_bins=300,
                              bin_width=0.05, a0=0.2, alpha=1.0) for b in (0.0, 1.0)]
    point = ScanPointData(250.0, runs)
    settings = {"max_steps": 300, "min_steps": 200, "progress": False}
    out, backend = tmp_path / "kt.nc", tmp_path / "kt.h5"
    problem = KTTemperatureProblem(point)
    _sample_or_load(problem, out, backend, 1, settings)
    assert _sample_or_load(problem, out, backend, 1, {**settings, "max_steps": 900}) is not None
    assert "reusing" in capsys.readouterr().out  # a longer max_steps is the same posterior: reused
    # other priors, another seed, other data: another fingerprint, so a fresh chain
    other = KTTemperatureProblem(point, {"delta": ("loguniform", 0.05, 2.0)})
    assert fingerprint(other, 1, settings) != fingerprint(problem, 1, settings)
    assert fingerprint(problem, 2, settings) != fingerprint(problem, 1, settings)
    runs2 = [runs[0], simulate_spectrum("dynamic_kt", {"delta": 0.3, "nu": 0.2}, 1.0, rng=rng, n_events=2e6,
                                        n_bins=300, bin_width=0.05, a0=0.2, alpha=1.0)]
    assert fingerprint(KTTemperatureProblem(ScanPointData(250.0, runs2)), 1, settings) != \
        fingerprint(problem, 1, settings)
    made = out.stat().st_mtime_ns
    _sample_or_load(other, out, backend, 1, settings)
    assert "sampling afresh" in capsys.readouterr().out
    assert out.stat().st_mtime_ns != made
    assert (tmp_path / "kt.h5.fingerprint").read_text().strip() == fingerprint(other, 1, settings)


def test_conventional_reading_leaves_out_temperatures_where_kt_only_fixes_delta2_over_nu():
    """A narrowed spectrum's KT posterior runs along Δ²/ν = const to the prior bounds; its median ν_KT must
    not become T* (the demo scan once reported T* = 332 K from such a ridge)."""
    import types

    import xarray as xr

    from bayesmusr.workflows.scan import conventional_reading
    from bayesmusr.physics.kt import K_B_EV as KB_EV

    rng = np.random.default_rng(0)
    temps = np.array([200.0, 230.0, 260.0, 290.0, 320.0, 350.0, 380.0])
    nu_true = 0.4 * np.exp(-0.03 / (KB_EV * temps)) / np.exp(-0.03 / (KB_EV * 200.0))
    nu_true[2] += 0.5  # the ν_KT peak at 260 K
    delta_true = 0.3 * np.sqrt(0.2 + 0.8 / (1 + 1e8 * np.exp(-0.5 / (KB_EV * temps))))
    results = []
    for j, (d, n) in enumerate(zip(delta_true, nu_true)):
        if temps[j] == 320.0:  # a ridge: ν from 1 to 80, Δ² ∝ ν
            nu = np.exp(rng.uniform(0, np.log(80.0), 4000))
            delta = d * np.sqrt(nu / nu.min())
        elif temps[j] == 380.0:  # a ridge to the prior bound 100 with a 16–84 % ratio below 10
            nu = np.exp(rng.uniform(np.log(4.0), np.log(100.0), 4000))
            delta = d * np.sqrt(nu / nu.min())
        else:
            nu, delta = n * (1 + 0.03 * rng.standard_normal(4000)), d * (1 + 0.01 * rng.standard_normal(4000))
        post = xr.Dataset({"delta": (("chain", "draw"), delta.reshape(4, 1000)),
                           "nu": (("chain", "draw"), nu.reshape(4, 1000))})
        results.append(types.SimpleNamespace(posterior=post))
    conv = conventional_reading(temps, results)
    assert conv["undetermined_K"] == [320.0, 380.0]
    assert conv["t_star_K"] == 260.0  # not 320 K, whose median ν is ~9
    assert conv["t_star_at_scan_edge"] is False
    assert 320.0 not in conv["arrhenius_below_t_star"]["temperatures_K"]
    assert "error" not in conv["eq4"]


def test_conventional_reading_says_when_t_star_is_the_scan_edge():
    """ν_KT rising over the whole scan has no maximum inside it: T* is the last temperature, flagged."""
    import types

    import xarray as xr

    from bayesmusr.workflows.scan import conventional_reading

    rng = np.random.default_rng(1)
    temps = np.array([200.0, 250.0, 300.0, 350.0])
    results = []
    for j, t in enumerate(temps):
        nu = (0.2 + 0.3 * j) * (1 + 0.02 * rng.standard_normal(2000))
        delta = 0.3 * (1 + 0.01 * rng.standard_normal(2000))
        results.append(types.SimpleNamespace(posterior=xr.Dataset(
            {"delta": (("chain", "draw"), delta.reshape(2, 1000)), "nu": (("chain", "draw"), nu.reshape(2, 1000))})))
    conv = conventional_reading(temps, results)
    assert conv["t_star_K"] == 350.0 and conv["t_star_at_scan_edge"] is True


def test_scan_from_isis_nexus_files_pairs_runs_by_logged_temperature(tmp_path):
    """A scan given as EMU-like NeXus files (glob): runs are paired by the Temp_Sample log (not the rounded
    header), ZF/LF from the field logs although every header says TF, counts grouped from 96 detectors."""
    from bayesmusr.model.simulate import simulate_run, write_isis_nexus_v2

    rng = np.random.default_rng(4)
    (tmp_path / "data").mkdir()
    number = 100
    for temp in (200.2, 250.4, 300.1):
        for b in (0.0, 1.0):
            number += 1
            run = simulate_run("ea", {"delta": 0.3, "nu_i": 0.5, "nu_mu": 0.1, "q": 0.8}, b, rng=rng, n_events=3e5,
                               n_bins=500, bin_width=0.032, temperature_K=temp, run_number=number, a0=0.2)
            write_isis_nexus_v2(run, tmp_path / "data" / f"EMU{number:08d}.nxs", rng=rng)
    (tmp_path / "a.toml").write_text('[data]\nfiles = "data/EMU*.nxs"\nbunch = 2\n')
    cfg, base = load_config(tmp_path / "a.toml")
    from bayesmusr.workflows.scan import load_scan

    points = load_scan(cfg, base)
    assert [round(p.temperature, 1) for p in points] == [200.2, 250.4, 300.1]
    for p in points:
        assert sorted(r.b_lf for r in p.runs) == [0.0, 1.0]
        assert all(r.kind == "histograms" and r.t.size == 250 for r in p.runs)
