"""Results carry their specification; ``bayesmusr info`` shows it and ``bayesmusr rerun`` refits from it alone.

Also: a default CLI fit of a real facility file keeps every nuisance inside its declared support,
and the temperature comes from the file whenever the user does not give one, in every mode.
"""
import json
import pathlib
import shutil

import numpy as np
import pytest

import bayesmusr as bm
from bayesmusr import cli
from bayesmusr.model.parameters import declared
from bayesmusr.model.simulate import simulate_run
from bayesmusr.workflows.spec import SPEC_ATTR, read_spec

DATA = pathlib.Path(__file__).resolve().parent / "data"
QUICK = ["--max-steps", "400", "--quiet"]


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(21)
    paths = []
    for b in (0.0, 1.0):
        run = simulate_run("dynamic_kt", {"delta": 0.3, "nu": 0.2}, b, rng=rng, temperature_K=215.0, n_events=5e5,
                           n_bins=600, bin_width=0.016)
        paths.append(str(run.to_netcdf(d / f"run_{b:g}mT.nc")))
    return paths


@pytest.fixture(scope="module")
def fitted(run_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "fit.nc"
    assert cli.main(["fit-temperature", *run_files, "--model", "kt", "--seed", "3", "--bunch", "2",
                     "--t-max", "8", "--out", str(out), *QUICK]) == 0
    return out


def _inside_support(post):
    bad = []
    for name in post.data_vars:
        row = declared(name)
        if row is None:
            continue
        lo, hi = row.domain
        x = post[name].values
        if np.any(x < lo) or np.any(x > hi):
            bad.append(f"{name}: [{x.min():.4g}, {x.max():.4g}] outside [{lo:g}, {hi:g}]")
    return bad


def test_result_carries_its_specification(fitted, run_files):
    spec = read_spec(bm.load(fitted))
    assert spec["kind"] == "temperature" and spec["bayesmusr_version"] == bm.__version__
    assert spec["command"].startswith("bayesmusr fit-temperature ") and "--bunch 2" in spec["command"]
    assert [r["source"]["path"] for r in spec["runs"]] == [str(pathlib.Path(p).resolve()) for p in run_files]
    assert all(len(r["source"]["sha256"]) == 64 for r in spec["runs"])
    assert spec["runs"][0]["setup"]["bunch"] == 2 and spec["runs"][0]["setup"]["t_max"] == 8
    assert spec["runs"][1]["field_mT"] == 1.0
    assert spec["model"]["name"] == "dynamic_kt" and spec["model"]["nuisances"] == "laplace"
    assert spec["model"]["priors"]["delta"] == declared("delta").default_prior().as_dict()
    assert spec["sampler"]["seed"] == 3 and spec["sampler"]["max_steps"] == 400
    # the temperature comes from the files when none is given
    assert spec["temperature"]["value_K"] == pytest.approx(215.0)
    assert bm.load(fitted).posterior.attrs["temperature_K"] == pytest.approx(215.0)


def test_info_prints_the_specification(fitted, capsys):
    assert cli.main(["info", str(fitted)]) == 0
    text = capsys.readouterr().out
    assert "temperature result" in text and "dynamic_kt" in text and "sha256" in text and "bunch=2" in text


def test_rerun_reproduces_the_posterior(fitted, run_files, tmp_path):
    # the files moved: --data-dir finds them by name, their checksums are checked
    moved = tmp_path / "moved"
    moved.mkdir()
    for p in run_files:
        shutil.copy(p, moved)
    out = tmp_path / "again.nc"
    assert cli.main(["rerun", str(fitted), "--out", str(out), "--data-dir", str(moved), "--quiet"]) == 0
    a, b = bm.load(fitted).posterior, bm.load(out).posterior
    for name in ("delta", "nu"):
        x, y = a[name].values, b[name].values
        assert abs(np.median(x) - np.median(y)) < 0.1 * x.std(), name


def test_rerun_refuses_a_changed_file(fitted, run_files, tmp_path):
    moved = tmp_path / "changed"
    moved.mkdir()
    for p in run_files:
        shutil.copy(p, moved)
    victim = moved / pathlib.Path(run_files[0]).name
    victim.write_bytes(victim.read_bytes() + b"\0")
    assert cli.main(["rerun", str(fitted), "--out", str(tmp_path / "x.nc"), "--data-dir", str(moved)]) == 2


def test_temperature_from_the_files_when_nuisances_are_sampled(run_files):
    idata = bm.fit_temperature(run_files, "dynamic_kt", nuisances="sampled", seed=1, progress=False, max_steps=200,
                               min_steps=100, bunch=4, t_max=6)
    spec = json.loads(idata.posterior.attrs[SPEC_ATTR])
    assert spec["model"]["nuisances"] == "sampled"
    assert spec["temperature"]["value_K"] == pytest.approx(215.0)
    assert idata.posterior.attrs["temperature_K"] == pytest.approx(215.0)
    assert not _inside_support(idata.posterior)


@pytest.mark.parametrize("name, temperature", [("EMU00020882.nxs", 300.35), ("psi_convert_test_mdu_1.mdu", 39.5)])
def test_default_cli_fit_of_a_real_file_keeps_every_nuisance_inside_its_support(tmp_path, name, temperature):
    """ISIS EMU 20882 (copper, ZF, HDF4 NeXus) and PSI run 7387 (MDU), fitted as a user would, CLI defaults."""
    out = tmp_path / "fit.nc"
    assert cli.main(["fit-temperature", str(DATA / name), "--model", "dynamic_kt", "--t-min", "0.25",
                     "--t-max", "10", "--bunch", "5", "--seed", "1", "--out", str(out), *QUICK]) == 0
    idata = bm.load(out)
    assert not _inside_support(idata.posterior)
    spec = read_spec(idata)
    assert spec["temperature"]["value_K"] == pytest.approx(temperature, abs=0.1)  # the sample log, not the title
    assert min(spec["runs"][0]["reduction"]["forward_detectors"]) >= 1  # detectors numbered from 1
