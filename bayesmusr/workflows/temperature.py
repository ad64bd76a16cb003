"""One temperature, one model: the one-call fit of the ZF and LF runs of one temperature."""
from __future__ import annotations

import math
import pathlib
import warnings
from collections.abc import Mapping
from typing import Any

from bayesmusr.inference.adapters import MarginalAdapter, TemperatureAdapter
from bayesmusr.inference.sampling import sample
from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, RUN_PARAMETERS, canonical_model
from bayesmusr.model.rundata import RunData, ea_support_note
from bayesmusr.model.temperature import TemperatureProblem

__all__ = ["fit_temperature", "physics_names", "NUISANCE_MODES"]


def _to_rundata(runs, b_lf, kw):
    out = []
    for k, r in enumerate(runs):
        if isinstance(r, RunData):
            out.append(r)
            continue
        field = None if b_lf is None else (b_lf[k] if isinstance(b_lf, (list, tuple)) else b_lf)
        out.append(RunData.from_run(r, b_lf=field, **kw))
    return out


NUISANCE_MODES = ("auto", "laplace", "sampled")


def fit_temperature(runs, model: str = "dynamic_kt", *, priors: Mapping[str, Any] | None = None,
                    out: str | pathlib.Path | None = None, backend: str | pathlib.Path | None = None, seed: int = 0,
                    b_lf=None, t_min: float | None = None, t_max: float | None = None, bunch: int = 1,
                    groups=None, holder_fraction: bool = True, extra_relaxation: bool = False,
                    count_background: bool = True, shared=(), table=None, nuisances: str = "auto",
                    temperature: float = math.nan, **settings):
    """Fit one temperature (its ZF and LF runs together) with one model: the one-call entry point.

    Parameters
    ----------
    runs : sequence of RunData, MuonRun or file paths
        Runs measured at one temperature (histogram files, bayesmusr netCDF
        runs or asymmetry exports).
    model : str
        ``"static_kt"``, ``"dynamic_kt"``/``"kt"`` or ``"ea"``.
    priors : mapping, optional
        Prior overrides (see :func:`bayesmusr.models.parse_prior`).
    out : path, optional
        netCDF file for the result.
    backend : path, optional
        emcee HDF5 backend (resumes if it exists).
    seed : int
        Random seed.
    b_lf : float or list, optional
        Field(s) in mT when the files do not say.
    t_min, t_max, bunch, groups
        Data selection, see :meth:`bayesmusr.models.RunData.from_run`.
    holder_fraction, extra_relaxation, count_background : bool
        Nuisance options of :class:`~bayesmusr.models.TemperatureProblem`.
    shared : sequence of str
        Per-run nuisances shared by all runs (e.g. ``("a0", "fbg")`` for one sample and holder).
    table : path, optional
        EA table.
    nuisances : {"auto", "laplace", "sampled"}
        ``"laplace"``: sample only the physics parameters, with every run's
        nuisances integrated out by the Laplace method
        (:class:`bayesmusr.scan.TemperaturePointProblem`, fast);
        ``"sampled"``: sample every nuisance with emcee
        (:class:`bayesmusr.models.TemperatureProblem`; needed for
        ``extra_relaxation``, ``shared`` nuisances and priors on nuisances);
        ``"auto"`` (default): ``"laplace"`` unless one of those is asked for.
    temperature : float
        Sample temperature in K, recorded in the result (optional).
    **settings
        Sampler settings (:data:`SAMPLER_DEFAULTS`), e.g. ``workers=2``.

    Returns
    -------
    arviz.InferenceData
        The result; ``posterior.attrs["nuisances"]`` says which treatment was used.
    """

    if nuisances not in NUISANCE_MODES:
        raise ValueError(f"nuisances must be one of {NUISANCE_MODES}, got {nuisances!r}")
    if isinstance(runs, (str, pathlib.Path, RunData)):
        runs = [runs]
    rd = _to_rundata(list(runs), b_lf, {"t_min": t_min, "t_max": t_max, "bunch": bunch, "groups": groups})
    model = canonical_model(model)

    run_names = {q.name for q, _, _ in RUN_PARAMETERS}
    nuisance_priors = sorted(n for n in (priors or {}) if n in run_names or n.rsplit("_", 1)[0] in run_names)
    needs_sampled = [why for why, flag in (
        ("extra_relaxation", extra_relaxation), ("shared nuisances", bool(shared)),
        (f"priors on nuisances {nuisance_priors}", bool(nuisance_priors))) if flag]
    if nuisances == "laplace" and needs_sampled:
        raise ValueError(f"nuisances='laplace' cannot handle {', '.join(needs_sampled)}; "
                         "use nuisances='sampled' (or 'auto')")
    adapter = None
    if nuisances != "sampled" and not needs_sampled:
        if model == "ea":

            ea_support_note(rd, table)  # fails early with a clear message if the table is missing
        problem = TemperaturePointProblem(ScanPointData(float(temperature), rd), model, priors,
                                          holder_fraction=holder_fraction, count_background=count_background,
                                          table=table)
        adapter = MarginalAdapter(problem)
        if not any(math.isfinite(adapter.log_posterior(y)) for y in adapter.initial_guesses()):
            why = ("the Laplace step finds no interior optimum of the run nuisances (A0, α, f, backgrounds) at any "
                   "starting point: typically a spectrum that hardly relaxes, where A0, α and f are degenerate "
                   "and run to the edges of their box")
            if nuisances == "laplace":
                raise ValueError(f"{why}; use nuisances='sampled' (with a prior on alpha from a TF run)")
            warnings.warn(f"{why}; sampling every nuisance instead (nuisances='sampled')", RuntimeWarning,
                          stacklevel=2)
            adapter = None
    if adapter is None:
        problem = TemperatureProblem(rd, model, priors, holder_fraction=holder_fraction,
                                     extra_relaxation=extra_relaxation, count_background=count_background,
                                     shared=shared, table=table)
        if problem.model == "ea":
            problem.support_note()  # fails early with a clear message if the table is missing
        adapter = TemperatureAdapter(problem)
    return sample(adapter, seed=seed, backend=backend, out=out, **settings)


def physics_names(model: str) -> list[str]:
    """Names of a model's physics parameters."""

    return [p.name for p in PHYSICS_PARAMETERS[canonical_model(model)]]
