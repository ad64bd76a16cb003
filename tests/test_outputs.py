"""Outputs are checked before any work: inputs, data files and folders are never overwritten."""
from __future__ import annotations

import pathlib
import shutil

import numpy as np
import pytest

from bayesmusr import cli
from bayesmusr.io.paths import check_outputs

DATA = pathlib.Path(__file__).parent / "data"
ZF = DATA / "EMU00020882.nxs"


@pytest.fixture()
def run_copy(tmp_path):
    p = tmp_path / "run.nxs"
    shutil.copy(ZF, p)
    return p


@pytest.mark.parametrize("args, message", [
    (["fit-temperature", "{run}", "--out", "{run}"], "one of the inputs"),
    (["fit-temperature", "{run}", "--out", "{other}"], "did not write"),
    (["fit-temperature", "{run}", "--out", "{tmp}"], "is a folder"),
    (["fit-temperature", "{run}", "--backend", "{other}"], "did not write"),
    (["fit-temperature", "{run}", "--out", "{tmp}/x.nc", "--backend", "{tmp}/x.nc"], "the same path as --out"),
    (["fit-temperature", "{run}", "--out", "{run}/x.nc"], "is a file, not a folder"),
    (["plot", "{run}", "-o", "{run}"], "one of the inputs"),
    (["plot", "{run}", "-o", "{tmp}"], "is a folder"),
    (["report", "{run}", "--out", "{other}"], "did not write"),
    (["fit", "{cfg}", "--out", "{other}"], "not a folder"),
    (["fit", "{run}", "--out", "{tmp}/o"], "not a TOML text file"),
])
def test_outputs_that_would_destroy_user_files_are_refused(args, message, run_copy, tmp_path, capsys):
    other = tmp_path / "other.nxs"
    shutil.copy(ZF, other)
    before = {p: p.read_bytes() for p in (run_copy, other)}
    cfg = tmp_path / "a.toml"
    cfg.write_text('[data]\nruns = "r.toml"\n')
    argv = [a.format(run=run_copy, other=other, tmp=tmp_path, cfg=cfg) for a in args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and ("--out" in err or "--backend" in err or "--output" in err or "a TOML" in err)
    assert all(p.read_bytes() == b for p, b in before.items())  # nothing touched


def test_missing_folders_are_created_after_the_checks(tmp_path):
    out = tmp_path / "a" / "b" / "r.nc"
    check_outputs([("--out", out, "result")])
    assert out.parent.is_dir() and not out.exists()
    with pytest.raises(ValueError, match="unknown output kind"):
        check_outputs([("--out", tmp_path / "x", "movie")])


def test_a_backend_resumes_only_into_its_own_fit(tmp_path):
    import numpy as np

    from bayesmusr.model.rundata import RunData
    from bayesmusr.model.simulate import simulate_run
    from bayesmusr.workflows.temperature import fit_temperature

    run = RunData.from_run(simulate_run("static_kt", {"delta": 0.3}, rng=np.random.default_rng(1), n_bins=300))
    backend = tmp_path / "chain.h5"
    kw = dict(backend=backend, progress=False, max_steps=60, min_steps=60, nwalkers=8, count_background=False)
    fit_temperature([run], "static_kt", seed=1, **kw)
    assert (tmp_path / "chain.h5.fingerprint").exists()
    fit_temperature([run], "static_kt", seed=1, **{**kw, "max_steps": 120, "min_steps": 120})  # same fit: resumed
    with pytest.raises(ValueError, match="another fit"):
        fit_temperature([run], "static_kt", seed=2, **kw)  # another seed: refused, the file is kept
    assert backend.exists()


def test_laplace_centre_stays_inside_a_narrow_box():
    """A parameter at its bound with a conditional SD wider than its prior range (the MAP of a hierarchical
    funnel) used to push the Hessian stencil out of the box, so that no walker could be placed."""
    from bayesmusr.inference.sampling import _initial_walkers, laplace_covariance

    class Funnel:
        bounds = (np.array([-6.9, -1.0]), np.array([-0.7, 1.0]))

        def log_posterior(self, y):
            lo, hi = self.bounds
            if np.any(y < lo) or np.any(y > hi):
                return -np.inf
            return -0.5 * ((y[0] + 6.9) / 50.0) ** 2 - 0.5 * (y[1] / 0.1) ** 2

    p = Funnel()
    y_map = np.array([-6.9, 0.0])
    centre, cov = laplace_covariance(p, y_map, p.log_posterior(y_map))
    assert np.isfinite(p.log_posterior(centre))
    walkers = _initial_walkers(p, centre, cov, 8, np.random.default_rng(0))
    assert walkers.shape == (8, 2) and all(np.isfinite(p.log_posterior(w)) for w in walkers)
