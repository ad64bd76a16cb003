"""One temperature, one model: the one-call fit of the ZF and LF runs of one temperature."""
from __future__ import annotations

import math
import pathlib
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesmusr.inference.adapters import MarginalAdapter, TemperatureAdapter
from bayesmusr.inference.sampling import check_settings, sample
from bayesmusr.io.collection import DEFAULT_TEMPERATURE_TOLERANCE_K
from bayesmusr.io.run import MuonRun
from bayesmusr.io.setup import RunSetup
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, RUN_PARAMETERS, canonical_model, declared, parse_prior
from bayesmusr.model.rundata import RunData, ea_support_note
from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem
from bayesmusr.model.temperature import TemperatureProblem
from bayesmusr.workflows.resume import chain_fingerprint, check_user_backend
from bayesmusr.workflows.spec import check_sources, file_record, new_spec, rerun_settings, spec_attrs

__all__ = ["fit_temperature", "refit", "run_record", "physics_names", "NUISANCE_MODES"]


NUISANCE_MODES = ("auto", "laplace", "sampled")


def fit_temperature(runs, model: str = "dynamic_kt", *, priors: Mapping[str, Any] | None = None,
                    out: str | pathlib.Path | None = None, backend: str | pathlib.Path | None = None, seed: int = 0,
                    setup=None, b_lf=None, t_min: float | None = None, t_max: float | None = None,
                    bunch: int | None = None, groups=None, dead_time=None, period=None,
                    holder_fraction: bool = True, extra_relaxation: bool = False,
                    count_background: bool = True, shared=(), table=None, nuisances: str = "auto",
                    temperature: float = math.nan,
                    temperature_tolerance_K: float = DEFAULT_TEMPERATURE_TOLERANCE_K, **settings):
    """Fit one temperature (its ZF and LF runs together) with one model: the one-call entry point.

    Parameters
    ----------
    runs : sequence of RunData, MuonRun or file paths
        Runs measured at one temperature (histogram files, bayesmusr netCDF
        runs or asymmetry exports).
    model : str
        ``"static_kt"``, ``"dynamic_kt"``/``"kt"`` or ``"ea"``.
    priors : mapping, optional
        Prior overrides (see :func:`bayesmusr.model.parameters.parse_prior`).
    out : path, optional
        netCDF file for the result.
    backend : path, optional
        emcee HDF5 backend: the chain is saved there as it runs and resumed if it exists — only
        into the fit it was made for (its fingerprint, :mod:`bayesmusr.workflows.resume`, must
        match; otherwise ValueError).
    seed : int
        Random seed.
    setup : RunSetup, mapping, or a list of them (one per run), optional
        How each run is read and reduced: grouping, t0, good bins, period, dead time,
        background, field, α (and its convention), window and packing
        (:class:`bayesmusr.io.setup.RunSetup`; a mapping is validated by option name).
    b_lf : float or list, optional
        Field(s) in mT when the files do not say (one for all runs, or one per run).
    t_min, t_max, bunch, groups, dead_time, period
        Shorthands for the same set-up options, applied over ``setup`` to every run
        (see :meth:`bayesmusr.model.rundata.RunData.from_run`).
    holder_fraction, extra_relaxation, count_background : bool
        Nuisance options of :class:`~bayesmusr.model.temperature.TemperatureProblem`.
    shared : sequence of str
        Per-run nuisances shared by all runs (e.g. ``("a0", "fbg")`` for one sample and holder).
    table : path, optional
        EA table.
    nuisances : {"auto", "laplace", "sampled"}
        ``"laplace"``: sample only the physics parameters, with every run's
        nuisances integrated out by the Laplace method
        (:class:`bayesmusr.model.scan.TemperaturePointProblem`, fast);
        ``"sampled"``: sample every nuisance with emcee
        (:class:`bayesmusr.model.temperature.TemperatureProblem`; needed for
        ``extra_relaxation``, ``shared`` nuisances and priors on nuisances);
        ``"auto"`` (default): ``"laplace"`` unless one of those is asked for.
    temperature : float
        Sample temperature in K; default: the runs' own (their mean, from the files' logs or
        titles), recorded in the result with where it came from.
    temperature_tolerance_K : float
        Largest spread (K) of the runs' own temperatures accepted as one temperature; runs
        further apart are refused unless ``temperature`` is given.
    **settings
        Sampler settings (:data:`~bayesmusr.inference.sampling.SAMPLER_DEFAULTS`), e.g. ``workers=2``.

    Returns
    -------
    arviz.InferenceData
        The result; ``posterior.attrs["nuisances"]`` says which treatment was used and
        ``posterior.attrs["bayesmusr_spec"]`` holds the fit specification
        (:mod:`bayesmusr.workflows.spec`), from which ``bayesmusr rerun`` refits it.
    """
    if nuisances not in NUISANCE_MODES:
        raise ValueError(f"nuisances must be one of {NUISANCE_MODES}, got {nuisances!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    check_settings(settings)  # before any file is read
    if isinstance(runs, (str, pathlib.Path, RunData, MuonRun)):
        runs = [runs]
    rd = _to_rundata(list(runs), setup, b_lf, {"t_min": t_min, "t_max": t_max, "bunch": bunch, "groups": groups,
                                               "dead_time": dead_time, "period": period})
    temp = _temperature(rd, temperature, temperature_tolerance_K)
    options = {"holder_fraction": holder_fraction, "extra_relaxation": extra_relaxation,
               "count_background": count_background, "shared": list(shared)}
    adapter = _adapter(rd, canonical_model(model), priors, options, table, nuisances, temp["value_K"])
    spec = new_spec("temperature", runs=[run_record(r) for r in rd], temperature=temp,
                    model=_model_section(adapter, options, table, nuisances),
                    sampler={**settings, "seed": seed})
    check_user_backend(backend, chain_fingerprint(adapter.describe(), rd, seed, settings))
    t_k = float(temp["value_K"]) if temp["value_K"] is not None else math.nan
    return sample(adapter, seed=seed, backend=backend, out=out, attrs={**spec_attrs(spec), "temperature_K": t_k},
                  **settings)


def _to_rundata(runs, setup, b_lf, kw):
    """RunData of each run: its own set-up (or the common one), the shorthands and its field applied over it."""
    setups = list(setup) if isinstance(setup, (list, tuple)) else [setup] * len(runs)
    fields = list(b_lf) if isinstance(b_lf, (list, tuple)) else [b_lf] * len(runs)
    for name, values in (("setup", setups), ("b_lf", fields)):
        if len(values) != len(runs):
            raise ValueError(f"{name}: expected one entry per run ({len(runs)}), got {len(values)}")
    out = []
    for r, su, field in zip(runs, setups, fields):
        if isinstance(r, RunData):
            out.append(r)
            continue
        su = su if isinstance(su, RunSetup) else RunSetup.from_mapping(su, "setup")
        out.append(RunData.from_run(r, su, b_lf=field, **{k: v for k, v in kw.items() if v is not None}))
    return out


def _temperature(runs, given, tolerance) -> dict:
    """The sample temperature and where it came from: the user's, else the mean of the runs' own."""
    if given is not None and math.isfinite(given):
        return {"value_K": float(given), "source": "user"}
    known = [(r.meta.get("temperature_K"), r.meta.get("temperature_source", "")) for r in runs]
    known = [(t, s) for t, s in known if t is not None and math.isfinite(t)]
    if not known:
        return {"value_K": None, "source": "unknown (give --temperature)"}
    temps = [t for t, _ in known]
    if not (tolerance >= 0):
        raise ValueError(f"temperature_tolerance_K: expected a value >= 0 K, got {tolerance!r}")
    if max(temps) - min(temps) > tolerance:
        raise ValueError(f"the runs were measured at different temperatures ({', '.join(f'{t:.2f}' for t in temps)} "
                         f"K, spread > {tolerance:g} K): fit each temperature separately, or give the temperature "
                         "(--temperature) or a larger --temperature-tolerance")
    sources = sorted({s or "file" for _, s in known})
    return {"value_K": float(np.mean([t for t, _ in known])), "source": "runs: " + ", ".join(sources)}


def run_record(r: RunData) -> dict:
    """The specification entry of one run: label, kind, field, temperature, source file and reader settings.

    Parameters
    ----------
    r : RunData
        A reduced run; its ``meta`` supplies the provenance.

    Returns
    -------
    dict
        JSON-ready entry (``field_mT`` in mT, ``temperature_K`` in K, ``window_us`` in μs).
    """
    m = r.meta
    src = file_record(m["source_file"], m.get("format", "")) if m.get("source_file") else None
    return {"label": r.label, "kind": r.kind, "field_mT": r.b_lf, "field_source": m.get("field_source", "user"),
            "temperature_K": m.get("temperature_K"), "temperature_source": m.get("temperature_source", ""),
            "run_number": m.get("run_number"), "source": src, "setup": m.get("setup", {}),
            "reduction": m.get("reduction", {}), "n_bins": r.n_obs,
            "window_us": [float(r.t.min()), float(r.t.max())]}


def _needs_sampled(priors, options) -> list[str]:
    run_names = {q.name for q, _, _ in RUN_PARAMETERS}
    nuisance_priors = sorted(n for n in (priors or {}) if n in run_names or n.rsplit("_", 1)[0] in run_names)
    return [why for why, flag in (("extra_relaxation", options["extra_relaxation"]),
                                  ("shared nuisances", bool(options["shared"])),
                                  (f"priors on nuisances {nuisance_priors}", bool(nuisance_priors))) if flag]


def _adapter(rd, model, priors, options, table, nuisances, temperature):
    """The problem to sample: physics only with Laplace nuisances where possible, else every nuisance."""
    needs_sampled = _needs_sampled(priors, options)
    if nuisances == "laplace" and needs_sampled:
        raise ValueError(f"nuisances='laplace' cannot handle {', '.join(needs_sampled)}; "
                         "use nuisances='sampled' (or 'auto')")
    if model == "ea":
        ea_support_note(rd, table)  # fails early with a clear message if the table is missing
    if nuisances != "sampled" and not needs_sampled:
        t = math.nan if temperature is None else temperature
        problem = TemperaturePointProblem(ScanPointData(t, rd), model, priors,
                                          holder_fraction=options["holder_fraction"],
                                          count_background=options["count_background"], table=table)
        adapter = MarginalAdapter(problem)
        if any(math.isfinite(adapter.log_posterior(y)) for y in adapter.initial_guesses()):
            return adapter
        why = ("the Laplace step finds no interior optimum of the run nuisances (A0, α, f, backgrounds) at any "
               "starting point: typically a spectrum that hardly relaxes, where A0, α and f are degenerate")
        if nuisances == "laplace":
            raise ValueError(f"{why}; use nuisances='sampled' (with a prior on alpha from a TF run)")
        warnings.warn(f"{why}; sampling every nuisance instead (nuisances='sampled')", RuntimeWarning, stacklevel=3)
    problem = TemperatureProblem(rd, model, priors, holder_fraction=options["holder_fraction"],
                                 extra_relaxation=options["extra_relaxation"],
                                 count_background=options["count_background"], shared=options["shared"],
                                 table=table)
    return TemperatureAdapter(problem)


def _model_section(adapter, options, table, nuisances) -> dict:
    """The model part of the specification: name, every prior (fixed ones included), options."""
    p = adapter.p
    if isinstance(adapter, MarginalAdapter):
        priors = {q.name: pr.as_dict() for q, pr in zip(p.declared, p.priors)}
        mode = "laplace"
    else:
        priors = {e.name: e.prior.as_dict() for e in p.entries}
        mode = "sampled"
    return {"name": p.model, "priors": priors, "options": options, "nuisances": mode, "requested": nuisances,
            "table": None if table is None else str(pathlib.Path(table).resolve())}


def refit(spec: Mapping, *, out=None, backend=None, **overrides):
    """Fit again from a specification alone (``bayesmusr rerun``): same files, reduction, model, priors, seed.

    Parameters
    ----------
    spec : mapping
        A ``"temperature"`` specification (:func:`bayesmusr.workflows.spec.read_spec`), its run
        files checked against their checksums (:func:`bayesmusr.workflows.spec.check_sources`).
    out, backend : path, optional
        As for :func:`fit_temperature`.
    **overrides
        Sampler settings to change (e.g. ``progress=False``).

    Returns
    -------
    arviz.InferenceData
    """
    if spec.get("kind") != "temperature":
        raise ValueError(f"not a one-temperature specification (kind {spec.get('kind')!r})")
    paths = check_sources(spec)
    setups = [r.get("setup") or _legacy_reader(r.get("reader") or {}) for r in spec["runs"]]
    m, s = spec["model"], rerun_settings(spec, spec["sampler"])
    seed = s.pop("seed", 0)
    s.update(overrides)
    t = spec.get("temperature", {})
    priors = {k: v for k, v in m["priors"].items() if k not in _default_priors(m)}
    opts = m["options"]
    return fit_temperature(paths, m["name"], priors=priors or None, out=out, backend=backend, seed=seed,
                           b_lf=[r["field_mT"] for r in spec["runs"]] if len(paths) > 1 else spec["runs"][0]["field_mT"],
                           holder_fraction=opts["holder_fraction"], extra_relaxation=opts["extra_relaxation"],
                           count_background=opts["count_background"], shared=tuple(opts["shared"]),
                           table=m.get("table"), nuisances=m["nuisances"],
                           temperature=t.get("value_K") if t.get("source") == "user" else math.nan,
                           setup=setups, **s)


def _legacy_reader(reader: Mapping) -> dict:
    """A specification's run settings as stored before run set-ups (``reader``) in set-up option names."""
    out = {k: v for k, v in reader.items() if v is not None and k in ("bunch", "t_min", "t_max", "period")}
    if reader.get("groups") is not None:
        out["forward"], out["backward"] = reader["groups"]
    if isinstance(reader.get("dead_time"), bool):
        out["dead_time"] = "file" if reader["dead_time"] else "none"
    return out


def _default_priors(model: Mapping) -> set:
    """Names whose stored prior is the declared default (they need not be passed again)."""
    out = set()
    for name, d in model["priors"].items():
        row = declared(name)
        if row is not None and parse_prior(d, name) == row.default_prior():
            out.add(name)
    return out


def physics_names(model: str) -> list[str]:
    """Names of a model's physics parameters.

    Parameters
    ----------
    model : str
        Model name or alias.

    Returns
    -------
    list of str
    """
    return [p.name for p in PHYSICS_PARAMETERS[canonical_model(model)]]
