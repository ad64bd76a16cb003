"""``bayesmusr campaign`` (issue 17): scans as tasks on a 2-worker Dask LocalCluster.

Two tiny simulated ZF scans (3 temperatures, 100 bins, chains of 60-80 steps: the numbers mean
nothing, the plumbing is what is tested): summary rows, a second identical call that refits
nothing and starts no cluster, a scan with a missing TOML reported with its error while the
others finish, and (slow) a worker killed in the middle of a scan task.
"""
import contextlib
import json
import os
import pathlib
import signal
import threading
import time

import distributed
import numpy as np
import pytest
import xarray as xr

from bayesmusr import campaign
from bayesmusr.campaign import DONE_FILE, LOG_FILE, SCAN_RESOURCE, WORKER_ENV, run_campaign, scan_key, scan_names
from bayesmusr.cli import main
from bayesmusr.inference.compare import load
from bayesmusr.inference.conventional import arrhenius
from bayesmusr.model.simulate import simulate_run
from bayesmusr.report.campaign import COLUMNS, ROW_VERSION, read_csv, scan_row
from bayesmusr.workflows.spec import read_spec

#: short chains; the EA sampler needs nwalkers >= 2 × 7 parameters
TINY_TOML = """[data]
runs = "{folder}/runs.toml"
[sampler]
seed = {seed}
nwalkers = 14
min_steps = 60
max_steps = 80
check_every = 20
tau_multiple = 5
max_draws = 300
n_predictive = 40
[kt.sampler]
nwalkers = 8
min_steps = 60
max_steps = 80
check_every = 20
tau_multiple = 5
max_draws = 300
n_predictive = 40
"""

#: what `bayesmusr fit` leaves in a scan folder
SCAN_FILES = ("ea_scan.nc", "kt_per_temperature.nc", "conventional.json", "comparison.txt", "report.md",
              "report.html", "rates.png", "corner.png")


def write_tiny_scan(root: pathlib.Path, name: str, q: float, seed: int) -> pathlib.Path:
    """Three ZF runs (200, 260, 320 K) of the EA model with fluctuating fraction ``q``; returns the TOML."""
    folder = root / f"{name}_data"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    lines = []
    for k, temp in enumerate((200.0, 260.0, 320.0)):
        physics = {"delta": 0.3, "q": q, "nu_i": float(arrhenius(temp, 5e12, 0.35)),
                   "nu_mu": float(arrhenius(temp, 2e6, 0.02))}
        run = simulate_run("ea", physics, 0.0, rng=rng, temperature_K=temp, run_number=100 + k, n_events=1e6,
                           n_bins=100, bin_width=0.16, a0=0.22, alpha=1.05, fbg=0.06, bgf=1e-3, bgb=1e-3)
        run.to_netcdf(folder / f"run{k}.nc")
        lines += ["[[run]]", f'file = "run{k}.nc"', ""]
    (folder / "runs.toml").write_text("\n".join(lines), encoding="utf-8")
    toml = root / f"{name}.toml"
    toml.write_text(TINY_TOML.format(folder=folder.name, seed=seed), encoding="utf-8")
    return toml


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    root = tmp_path_factory.mktemp("scans")
    return [write_tiny_scan(root, "anomaly", 0.8, 1), write_tiny_scan(root, "plain", 0.1, 2)]


@contextlib.contextmanager
def local_cluster():
    """A Client on 2 workers made as run_campaign makes its LocalCluster (one thread each, pinned, one scan each)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, env=WORKER_ENV,
                                  resources={SCAN_RESOURCE: 1}, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def client():
    with local_cluster() as c:
        yield c


def _mtimes(folder: pathlib.Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_scan_names_are_stems_and_clashes_are_told_apart(tmp_path):
    assert list(scan_names([tmp_path / "x" / "a.toml", tmp_path / "b.toml"])) == ["a", "b"]
    assert list(scan_names([tmp_path / "x" / "a.toml", tmp_path / "y" / "a.toml"])) == ["x_a", "y_a"]
    with pytest.raises(ValueError, match="share the output folder"):
        scan_names([tmp_path / "a.toml", tmp_path / "a.toml"])


def test_scan_key_follows_the_toml_and_the_data_bytes(tmp_path):
    toml = write_tiny_scan(tmp_path, "s", 0.5, 3)
    key = scan_key(toml)
    assert scan_key(toml) == key  # deterministic
    toml.write_text(toml.read_text().replace("seed = 3", "seed = 4"))
    assert scan_key(toml) != key
    key = scan_key(toml)
    run = tmp_path / "s_data" / "run1.nc"
    run.write_bytes(run.read_bytes() + b"\0")
    assert scan_key(toml) != key


def test_campaign_rows_failure_and_a_second_call_that_refits_nothing(scans, client, tmp_path, monkeypatch,
                                                                     capsys):
    out = tmp_path / "camp"
    missing = tmp_path / "no_such_scan.toml"
    rows = run_campaign([*scans, missing], out, scheduler=client)
    assert [r["scan"] for r in rows] == ["anomaly", "plain", "no_such_scan"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert "FileNotFoundError" in rows[2]["error"] and "not found" in rows[2]["error"]
    for r, toml in zip(rows[:2], scans):
        folder = out / r["scan"]
        assert all((folder / f).is_file() for f in SCAN_FILES), sorted(p.name for p in folder.iterdir())
        assert r["n_temperatures"] == 3 and (r["t_min_K"], r["t_max_K"]) == (200.0, 320.0)
        assert r["verdict"] in ("not distinguished", *(f"{m} {s} preferred" for m in ("EA", "KT")
                                                        for s in ("clearly", "moderately")))
        ratio = abs(r["elpd_diff_ea_minus_kt"]) / r["elpd_diff_se"]
        assert (r["verdict"] == "not distinguished") == (ratio <= 2) and ("clearly" in r["verdict"]) == (ratio > 4)
        assert r["elpd_diff_se"] > 0 and np.isfinite(r["elpd_diff_ea_minus_kt"])
        assert r["e_i_lo95"] <= r["e_i_median"] <= r["e_i_hi95"] and 0 <= r["q_lo95"] <= r["q_hi95"] <= 1
        assert r["kt_t_star_K"] in (200.0, 260.0, 320.0) and r["ea_converged"] in (0, 1)
        assert r["fit_seconds"] > 0 and r["report"] == f"{r['scan']}/report.html"
        spec = read_spec(load(folder / "ea_scan.nc"))  # the specification `bayesmusr fit` stores
        assert spec["job"]["config"]["sampler"]["seed"] == (1 if r["scan"] == "anomaly" else 2)
        assert spec["job"]["base"] == str(toml.parent.resolve())
    # the row made from the job's own comparison is the one the results on disk give
    from_files = scan_row(out / "anomaly", "anomaly", str(scans[0]))
    for name, kind, _, _ in COLUMNS:
        if kind == "float" and name != "fit_seconds":
            assert from_files[name] == pytest.approx(rows[0][name], rel=1e-6, abs=1e-3, nan_ok=True), name
        elif name != "fit_seconds":
            assert from_files[name] == rows[0][name], name
    hosts = {(out / n / LOG_FILE).read_text(encoding="utf-8").split(" on ")[1].split()[0] for n in ("anomaly", "plain")}
    assert len(hosts) == 2  # one scan per worker (the SCAN_RESOURCE): both ran at once
    printed = capsys.readouterr().out
    assert printed.count("finished in") == 2 and "no_such_scan: FAILED" in printed and "dashboard" in printed

    csv_rows = read_csv(out / "campaign.csv")
    assert [r["scan"] for r in csv_rows] == ["anomaly", "plain", "no_such_scan"]
    assert csv_rows[0]["e_i_median"] == pytest.approx(rows[0]["e_i_median"], rel=1e-12)
    ds = xr.open_dataset(out / "campaign.nc")
    assert list(ds["scan"].values) == ["anomaly", "plain", "no_such_scan"]
    assert set(ds.data_vars) == {c[0] for c in COLUMNS[1:]} and ds["e_i_median"].attrs["units"] == "eV"
    assert str(ds["status"].values[2]) == "failed"
    ds.close()
    page = (out / "campaign.html").read_text(encoding="utf-8")
    assert 'href="anomaly/report.html"' in page and "data:image/png;base64," in page and "failed:" in page

    # the same call again, from the command line: nothing is refitted, no cluster is started
    before = {name: _mtimes(out / name) for name in ("anomaly", "plain")}
    summary_mtime = (out / "campaign.csv").stat().st_mtime_ns

    def no_cluster(*args, **kwargs):
        raise AssertionError("a second identical call must not start a cluster")

    monkeypatch.setattr(distributed, "LocalCluster", no_cluster)
    t0 = time.perf_counter()
    status = main(["campaign", *map(str, scans), str(missing), "--out", str(out), "--workers", "2"])
    took = time.perf_counter() - t0
    assert status == 1  # a scan failed
    assert {name: _mtimes(out / name) for name in ("anomaly", "plain")} == before
    assert (out / "campaign.csv").stat().st_mtime_ns > summary_mtime
    assert capsys.readouterr().out.count("not refitted") == 2
    again = read_csv(out / "campaign.csv")
    assert [r["e_i_median"] for r in again[:2]] == [r["e_i_median"] for r in csv_rows[:2]]
    assert took < 30, took

    # a row stored by another version of the summary is rebuilt from the results once, and stored again
    done_path = out / "anomaly" / DONE_FILE
    done = json.loads(done_path.read_text(encoding="utf-8"))
    done_path.write_text(json.dumps({**done, "row_version": ROW_VERSION - 1}), encoding="utf-8")
    assert main(["campaign", *map(str, scans), "--out", str(out)]) == 0
    stored = json.loads(done_path.read_text(encoding="utf-8"))
    assert stored["row_version"] == ROW_VERSION and stored["key"] == done["key"]
    assert stored["row"]["fit_seconds"] == done["row"]["fit_seconds"]
    assert stored["row"]["e_i_median"] == pytest.approx(done["row"]["e_i_median"], rel=1e-6)


def test_a_changed_scan_is_resubmitted(scans, tmp_path):
    """A DONE_FILE whose key no longer matches is not trusted (the task is submitted; fits reuse by fingerprint)."""
    folder = tmp_path / "camp" / "anomaly"
    folder.mkdir(parents=True)
    for f in campaign._RESULTS:
        (folder / f).write_text("x")
    (folder / DONE_FILE).write_text(json.dumps({"key": "stale", "row_version": 1, "row": {}}))
    assert campaign._reusable_row("anomaly", scans[0], folder, scan_key(scans[0])) is None


@pytest.mark.slow
def test_a_killed_worker_does_not_lose_the_campaign(scans, tmp_path):
    out = tmp_path / "camp"
    with local_cluster() as c:
        result = {}
        runner = threading.Thread(target=lambda: result.update(rows=run_campaign(scans, out, scheduler=c)))
        runner.start()
        victim, deadline = None, time.monotonic() + 300
        while victim is None and time.monotonic() < deadline:  # the anomaly scan task, while it samples EA
            time.sleep(0.5)
            if (out / "anomaly" / "ea_scan.h5").exists():
                victim = next((w for w, keys in c.processing().items()
                               if any(str(k).startswith("scan-anomaly-") for k in keys)), None)
        assert victim is not None, "the scan task was never seen running"
        pid = c.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        runner.join(timeout=900)
        assert not runner.is_alive()
        assert len(c.scheduler_info(n_workers=-1)["workers"]) == 2  # the nanny replaced the worker
    rows = result["rows"]
    assert [r["status"] for r in rows] == ["ok", "ok"], [r["error"] for r in rows]
    log = (out / "anomaly" / LOG_FILE).read_text(encoding="utf-8")
    assert log.count(" scan anomaly (") == 2  # the scan task ran twice: killed, then retried elsewhere
    assert all((out / "anomaly" / f).is_file() for f in SCAN_FILES)
