"""Ctrl-C and SIGTERM during a fit: exit 130, one line, no traceback, the chain kept and resumable."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bayesmusr.model.simulate import simulate_run


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("intr") / "run.nc"
    run = simulate_run("dynamic_kt", {"delta": 0.3, "nu": 0.2}, rng=np.random.default_rng(3), n_bins=800,
                       temperature_K=100.0)
    run.to_netcdf(path)
    return path


def _fit(run_file, backend, out, max_steps, min_steps=None):
    cmd = [sys.executable, "-m", "bayesmusr", "fit-temperature", str(run_file), "--model", "dynamic_kt",
           "--backend", str(backend), "--out", str(out), "--max-steps", str(max_steps), "--seed", "1", "--quiet",
           "--nuisances", "sampled"]
    # a chain that cannot end before the signal's delay however fast the machine (with Laplace nuisances this
    # fit converged in under 8 s after issue 19, and so did this one with every nuisance sampled later)
    cmd += [] if min_steps is None else ["--min-steps", str(min_steps)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.parametrize("sig, delay", [(signal.SIGINT, 4.0), (signal.SIGINT, 8.0), (signal.SIGTERM, 6.0)])
def test_an_interrupted_fit_exits_130_without_a_traceback(run_file, tmp_path, sig, delay):
    backend, out = tmp_path / "chain.h5", tmp_path / "r.nc"
    proc = _fit(run_file, backend, out, 1_000_000, min_steps=1_000_000)
    time.sleep(delay)  # import, numba compilation, MAP search or sampling, depending on the machine
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "SystemError" not in stderr, stderr
    assert "interrupted" in stderr and not out.exists()
    if backend.exists():  # sampling had begun: the same command resumes the chain
        done = _fit(run_file, backend, out, 600)
        stdout, stderr = done.communicate(timeout=300)
        assert done.returncode == 0, stderr
        assert out.exists()


def test_max_seconds_bounds_the_map_search_too():
    from bayesmusr.model.rundata import RunData
    from bayesmusr.workflows.temperature import fit_temperature

    run = RunData.from_run(simulate_run("dynamic_kt", {"delta": 0.3, "nu": 0.2}, rng=np.random.default_rng(4),
                                        n_bins=400))
    t0 = time.perf_counter()
    with pytest.warns(RuntimeWarning, match="max_seconds ran out during the MAP search"):
        idata = fit_temperature([run], "dynamic_kt", seed=1, progress=False, max_seconds=0.0, nwalkers=8,
                                check_every=10, max_draws=40)
    assert idata.posterior.attrs["converged"] == 0
    assert "max_seconds" in idata.posterior.attrs["convergence_message"]
    assert time.perf_counter() - t0 < 120
