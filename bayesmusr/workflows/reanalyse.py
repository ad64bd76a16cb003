"""Reanalysis of a published KT table: EA posterior, the conventional reading, LOO verdict, T*.

Layout of a reanalysis TOML (``bayesmusr reanalyse CONFIG.toml``; every key optional but ``table``)::

    [reanalysis]
    table = "published.csv"        # relative to this file (format: bayesmusr.io.published)
    fields_mT = [0.0, 1.0]         # the measurement conditions of the KT fits (ReadingConditions)
    t_min_us = 0.0
    t_max_us = 20.0
    bin_us = 0.04
    source = "pulsed"              # or "continuous" (with background = b)
    fit_amplitude = false
    conventional = ["constant", "two_state"]
    seed = 0

    [reanalysis.noise]             # "published", "fit" or a relative error such as 0.05
    delta = "published"
    nu = "published"

    [priors]                       # any parameter of SCAN_PARAMETERS / NOISE_PARAMETERS
    e_i = ["uniform", 0.05, 1.2]

    [sampler]                      # bayesmusr.inference.sampling.SAMPLER_DEFAULTS
    [truth]                        # known values (simulated tables): marked in the report
    [output]
    folder = "reanalysis-output"

What is written in the output folder: ``reanalysis.nc`` (the EA reading's InferenceData: posterior,
per-row log-likelihood, replicated tables, the ``predictions`` group with T* and the reading,
ν_i and ν_μ on a fine temperature grid, and the specification), ``conventional_<model>.nc`` per
conventional reading, ``comparison.txt``, the emcee backends (resumed by the same command).
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import pathlib
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from bayesmusr.inference import compare
from bayesmusr.inference.sampling import SAMPLER_DEFAULTS, check_settings, sample
from bayesmusr.io.published import PublishedTable, read_published_table
from bayesmusr.model.kt_reading import KTReadingEmulator, ReadingConditions
from bayesmusr.model.reanalysis import CONVENTIONAL_MODELS, ConventionalProblem, EAReadingProblem
from bayesmusr.physics.tables import load_table
from bayesmusr.workflows.resume import chain_fingerprint, stamp_path
from bayesmusr.workflows.spec import attach_spec, file_record, new_spec, rerun_settings

__all__ = ["CONFIG_KEYS", "CLI_OPTIONS", "config_from_flags", "reanalyse_from_config", "reanalyse_from_spec", "Reanalysis", "load_reanalysis_config", "reanalyse", "reanalyse_config",
           "t_star_grid", "DELTA_RANGE", "DELTA_LADDER", "delta_range"]

_CONDITION_KEYS = tuple(f.name for f in dataclasses.fields(ReadingConditions))
#: keys of each table of a reanalysis TOML
CONFIG_KEYS = {
    "": ("reanalysis", "priors", "sampler", "truth", "output"),
    "reanalysis": ("table", *_CONDITION_KEYS, "conventional", "seed", "noise"),
    "reanalysis.noise": ("delta", "nu"),
    "sampler": tuple(SAMPLER_DEFAULTS),
    "output": ("folder",),
}
def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers such as 0,1, got {text!r}") from None


def _noise(text: str):
    try:
        return float(text)
    except ValueError:
        return text  # "published" / "fit", checked by the model


#: command-line flag → (TOML table, key, parser, help): ``bayesmusr reanalyse`` builds the same
#: configuration as a TOML file would (flags win over the file's keys)
CLI_OPTIONS = {
    "--fields": ("reanalysis", "fields_mT", _floats, "fields in mT of the spectra each KT fit shared, e.g. 0,1 "
                 "(default ZF only: 0)"),
    "--t-min": ("reanalysis", "t_min_us", float, "start of the fitted time window, μs (default 0)"),
    "--t-max": ("reanalysis", "t_max_us", float, "end of the fitted time window, μs (default 20)"),
    "--bin": ("reanalysis", "bin_us", float, "bin width of the fitted spectra, μs (default 0.04)"),
    "--source": ("reanalysis", "source", str, "counting statistics: pulsed (ISIS, J-PARC) or continuous (PSI, "
                 "TRIUMF); default pulsed"),
    "--background": ("reanalysis", "background", float, "continuous source: flat background per bin relative to "
                     "the t = 0 rate (default 0)"),
    "--conventional": ("reanalysis", "conventional", lambda s: s.split(","), "conventional readings to compare: "
                       "constant,two_state (default both)"),
    "--noise-delta": (("reanalysis", "noise"), "delta", _noise, "Δ_KT errors: published (default when given), fit, "
                      "or a relative error such as 0.03"),
    "--noise-nu": (("reanalysis", "noise"), "nu", _noise, "ν_KT errors: published (default when given), fit, or a "
                   "relative error such as 0.15"),
    "--seed": ("reanalysis", "seed", int, "random seed of every chain (default 0)"),
    "--max-steps": ("sampler", "max_steps", int, "longest chain, in emcee steps"),
}


def config_from_flags(values: Mapping[str, Any], cfg: Mapping | None = None) -> dict:
    """A configuration (as a TOML file gives it) with the given flags' values set over ``cfg``.

    Parameters
    ----------
    values : mapping
        Flag (``--fields``) → text as typed; None for flags not given.
    cfg : mapping, optional
        A parsed TOML to start from.

    Returns
    -------
    dict
    """
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (cfg or {}).items()}
    for flag, text in values.items():
        if text is None:
            continue
        where, key, parse, _ = CLI_OPTIONS[flag]
        try:
            value = parse(text)
        except ValueError as exc:
            raise ValueError(f"{flag} {text!r}: {exc}") from None
        tables = (where,) if isinstance(where, str) else where
        node = out
        for t in tables:
            node[t] = dict(node.get(t, {}))
            node = node[t]
        node[key] = value
    return out


#: the emulator's Δ range in units of a reference width Δ_ref ≥ the largest published Δ_KT (Δ_KT ≤ Δ; a
#: large Q with ions already moving at the lowest temperature puts Δ above it)
DELTA_RANGE = (0.5, 3.0)
#: the reference widths are this value times powers of √2, so that tables of similar widths share one
#: cached emulator (its build is the slow part)
DELTA_LADDER = 0.3
N_GRID = 81  # temperatures of the predicted curves and of the T* search


def delta_range(table: PublishedTable, conditions: ReadingConditions) -> tuple[float, float]:
    """The emulator's Δ range for a table: :data:`DELTA_RANGE` × the ladder width just above its largest Δ_KT.

    With Δ_ref the smallest :data:`DELTA_LADDER` × √2ᵏ ≥ max Δ_KT / 1.05 (a published width a few
    per cent above a ladder value is noise, not a reason for another emulator), the range
    [0.5, 3] Δ_ref always holds [0.75, 2.85] × max Δ_KT.  The upper end is capped where Δ·t_max
    reaches the end of the EA table (Δ·t ≤ x_max).

    Parameters
    ----------
    table : PublishedTable
    conditions : ReadingConditions
        Their window sets the cap.

    Returns
    -------
    (float, float)
        μs⁻¹.
    """
    top = float(np.max(table.delta_kt))
    k = math.ceil(2.0 * math.log2(top / (1.05 * DELTA_LADDER)) - 1e-9)
    ref = DELTA_LADDER * 2.0 ** (k / 2.0)
    cap = load_table().x_max / conditions.t_max_us
    if cap <= top:
        raise ValueError(f"the table's Δ_KT reaches {top:.3g} μs⁻¹, but with t_max_us = {conditions.t_max_us:g} "
                         f"the EA table covers Δ ≤ {cap:.3g} μs⁻¹ only (Δ·t ≤ {load_table().x_max:g}); give the "
                         "window the published fits used, or a shorter t_max_us")
    return round(DELTA_RANGE[0] * ref, 12), round(min(DELTA_RANGE[1] * ref, cap), 12)


@dataclasses.dataclass
class Reanalysis:
    """What :func:`reanalyse` returns: the results, the comparison and the output folder."""

    ea: Any  # arviz.InferenceData of the EA reading
    conventional: dict  # name → InferenceData
    comparison: dict  # compare.compare_results output
    summary: dict  # T*, who drives ν_KT, the verdict in words
    out: pathlib.Path


def load_reanalysis_config(path) -> tuple[dict, pathlib.Path]:
    """Read and check a reanalysis TOML (layout: module docstring).

    Parameters
    ----------
    path : path
        The TOML file.

    Returns
    -------
    config : dict
    base : pathlib.Path
        The folder relative paths refer to.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"reanalysis file {path}: no such file")
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a valid TOML text file ({exc})") from None
    check_config(cfg, str(path))
    if "table" not in cfg.get("reanalysis", {}):
        raise ValueError(f"{path}: [reanalysis] table = 'published.csv' (the published KT table) is required")
    return cfg, path.parent


def check_config(cfg: Mapping, where: str) -> None:
    """Refuse unknown tables and keys (naming the nearest valid one).

    Parameters
    ----------
    cfg : mapping
        The parsed TOML.
    where : str
        The file, for messages.
    """
    def walk(table, prefix):
        allowed = CONFIG_KEYS.get(prefix)
        if allowed is None:
            return  # [priors] and [truth]: parameter names, checked by the problem
        for key, value in table.items():
            if key not in allowed:
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else f"; expected one of {list(allowed)}"
                raise ValueError(f"{where}: unknown key {prefix + '.' if prefix else ''}{key}{hint}")
            sub = f"{prefix}.{key}" if prefix else key
            if isinstance(value, Mapping):
                walk(value, sub)
            elif sub in CONFIG_KEYS:
                raise ValueError(f"{where}: [{sub}] must be a table, got {value!r}")
    walk(cfg, "")


def reanalyse_config(path, out_dir=None, progress: bool = True, cache_dir=None, executor=None) -> Reanalysis:
    """Run the reanalysis a TOML file describes (``bayesmusr reanalyse CONFIG.toml``).

    Parameters
    ----------
    path : path
        Reanalysis TOML.
    out_dir : path, optional
        Output folder (default ``[output] folder``, else ``reanalysis-output`` beside the TOML).
    progress : bool
        Progress lines.
    cache_dir : path, optional
        Where the emulator tables are kept (default: the user cache).
    executor : optional
        Anything with ``submit`` for the emulator build (a process pool, a Dask client).

    Returns
    -------
    Reanalysis
    """
    cfg, base = load_reanalysis_config(path)
    return reanalyse_from_config(cfg, base, out_dir, progress, cache_dir, executor)


def reanalyse_from_config(cfg: Mapping, base: pathlib.Path, out_dir=None, progress=True, cache_dir=None,
                          executor=None) -> Reanalysis:
    """:func:`reanalyse` with the options of a parsed configuration.

    Parameters
    ----------
    cfg : mapping
        The configuration (layout: module docstring).
    base : pathlib.Path
        Folder relative paths are taken from.
    out_dir, progress, cache_dir, executor
        As for :func:`reanalyse_config`.

    Returns
    -------
    Reanalysis
    """
    r = dict(cfg.get("reanalysis", {}))
    table_path = pathlib.Path(r.pop("table"))
    table_path = table_path if table_path.is_absolute() else base / table_path
    conditions = ReadingConditions(**{k: (tuple(v) if k == "fields_mT" and isinstance(v, list) else v)
                                      for k, v in r.items() if k in _CONDITION_KEYS})
    out = pathlib.Path(out_dir or base / cfg.get("output", {}).get("folder", "reanalysis-output"))
    return reanalyse(read_published_table(table_path), conditions, out=out, priors=cfg.get("priors"),
                     noise=r.get("noise"), conventional=tuple(r.get("conventional", CONVENTIONAL_MODELS)),
                     seed=int(r.get("seed", 0)), sampler=cfg.get("sampler"), truth=cfg.get("truth"),
                     progress=progress, cache_dir=cache_dir, executor=executor, config=dict(cfg),
                     table_file=table_path)


def reanalyse_from_spec(spec: Mapping, out, progress: bool = True, data_dir=None, cache_dir=None) -> Reanalysis:
    """Run a reanalysis again from the specification stored in its result (``bayesmusr rerun``).

    Parameters
    ----------
    spec : mapping
        A ``"reanalysis"`` specification.
    out : path
        New output folder.
    progress : bool
        Progress lines.
    data_dir : path, optional
        Folder that now holds the table file, if it moved (its checksum is still checked).
    cache_dir : path, optional
        Emulator cache folder.

    Returns
    -------
    Reanalysis
    """
    job = spec["job"]
    cfg = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (job.get("config") or {}).items()}
    cfg["reanalysis"] = {**cfg.get("reanalysis", {}), **job["conditions"], "noise": job.get("noise", {}),
                         "conventional": job["conventional"], "seed": spec["sampler"]["seed"]}
    cfg["sampler"] = rerun_settings(spec, {k: v for k, v in spec["sampler"].items() if k != "seed" and v is not None})
    rec = job.get("table_file")
    if rec:
        path = pathlib.Path(data_dir) / pathlib.Path(rec["path"]).name if data_dir else pathlib.Path(rec["path"])
        if file_record(path, "csv")["sha256"] != rec["sha256"]:
            raise ValueError(f"{path}: not the table the result was made from (missing, or its checksum differs); "
                             "give --data-dir with the original file")
        cfg["reanalysis"]["table"] = str(path)
        return reanalyse_from_config(cfg, path.parent, out, progress, cache_dir)
    table = PublishedTable.from_columns(job["table"].get("source", ""), **{k: [np.nan if v is None else v for v in vs]
                                        for k, vs in job["table"].items() if k != "source"})
    conditions = ReadingConditions.from_dict(job["conditions"])
    return reanalyse(table, conditions, out=out, priors=cfg.get("priors"), noise=job.get("noise"),
                     conventional=tuple(job["conventional"]), seed=int(spec["sampler"]["seed"]),
                     sampler=cfg["sampler"], truth=job.get("truth"), progress=progress, cache_dir=cache_dir,
                     config=cfg)


def _check_options(table, conventional, seed, sampler) -> dict:
    if not isinstance(table, PublishedTable):
        raise ValueError(f"table must be a PublishedTable (bayesmusr.io.published.read_published_table), got "
                         f"{type(table).__name__}")
    bad = [c for c in conventional if c not in CONVENTIONAL_MODELS]
    if bad or not conventional:
        raise ValueError(f"conventional must be a non-empty list of {CONVENTIONAL_MODELS}, got {list(conventional)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number ≥ 0, got {seed!r}")
    return check_settings({**(sampler or {}), "progress": (sampler or {}).get("progress", True)})


def reanalyse(table: PublishedTable, conditions: ReadingConditions | None = None, *, out, priors=None, noise=None,
              conventional: Sequence[str] = CONVENTIONAL_MODELS, seed: int = 0, sampler=None, truth=None,
              progress: bool = True, cache_dir=None, executor=None, emulator_grid: str = "standard", config=None,
              table_file=None) -> Reanalysis:
    """EA posterior of a published KT table, the conventional readings, and the LOO verdict.

    Parameters
    ----------
    table : PublishedTable
        The published scan.
    conditions : ReadingConditions, optional
        How the published KT fits were made (fields, window, source); default Kadono's reading, ZF.
    out : path
        Output folder (created; the backends there are resumed by the same call).
    priors : mapping, optional
        Prior overrides by parameter name (EA and conventional problems each take theirs).
    noise : mapping, optional
        ``{"delta": …, "nu": …}`` (:func:`bayesmusr.model.reanalysis.noise_priors`).
    conventional : sequence of {"constant", "two_state"}
        The conventional readings to compare with.
    seed : int
        Seed of every chain.
    sampler : mapping, optional
        Sampler settings (:data:`bayesmusr.inference.sampling.SAMPLER_DEFAULTS`).
    truth : mapping, optional
        Known parameter values (simulated tables), stored for the report.
    progress : bool
        Progress lines.
    cache_dir : path, optional
        Emulator cache folder.
    executor : optional
        Runs the emulator build's grid slices (``submit``).
    emulator_grid : str
        The emulator's grid (``standard``; ``coarse`` and ``test`` for quick checks only).
    config, table_file : optional
        The configuration and CSV file it came from (for the specification).

    Returns
    -------
    Reanalysis
    """
    conditions = conditions or ReadingConditions()
    settings = _check_options(table, conventional, seed, sampler)
    _warn_fast_rows(table)
    settings["progress"] = progress and settings["progress"]
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    emulator = KTReadingEmulator.load_or_build(conditions, delta_range(table, conditions), cache_dir=cache_dir,
                                               executor=executor, progress=progress, grid=emulator_grid)
    ea_problem = EAReadingProblem(table, emulator, _subset(priors, EAReadingProblem.declared), noise)
    spec = _spec(table, conditions, noise, conventional, seed, settings, config, table_file, truth)
    ea = _sample_or_load(ea_problem, out / "reanalysis.nc", seed, settings, spec, "EA reading", progress)
    _add_predictions(ea_problem, ea, out / "reanalysis.nc")
    conv = {}
    for model in conventional:
        p = ConventionalProblem(table, model, _subset(priors, ConventionalProblem.parameters(model)), noise)
        path = out / f"conventional_{model}.nc"
        conv[model] = _sample_or_load(p, path, seed, settings, spec, f"conventional reading ({model})", progress)
        _add_predictions(p, conv[model], path)
    comparison = compare.compare_results({"EA reading": ea, **{f"conventional ({m})": r for m, r in conv.items()}})
    summary = summarise(ea, comparison, table)
    (out / "comparison.txt").write_text(compare.format_comparison(comparison) + "\n\n" + summary["text"] + "\n",
                                        encoding="utf-8")
    return Reanalysis(ea=ea, conventional=conv, comparison=comparison, summary=summary, out=out)


def _warn_fast_rows(table: PublishedTable) -> None:
    """Say which rows lie beyond the emulator's ν/Δ ≤ 10: there a KT fit determines only Δ²/ν."""
    with np.errstate(invalid="ignore"):
        fast = table.temperature[table.nu_kt / table.delta_kt > 10.0]
    if fast.size:
        warnings.warn(f"{table.source or 'table'}: ν_KT/Δ_KT > 10 at T = {', '.join(f'{t:g}' for t in fast)} K. "
                      "In this motional-narrowing regime a KT fit determines only Δ²/ν, and the emulated EA "
                      "reading covers ν_μ ≤ 10 Δ only: expect those rows to be fitted poorly (leave them out, or "
                      "give their ν_KT as blank).",
                      UserWarning, stacklevel=3)


def _subset(priors, declared) -> dict:
    """The user's priors that belong to a problem (the EA and conventional readings share a [priors] table)."""
    names = {p.name for p in declared}
    every = {p.name for p in EAReadingProblem.declared} | {p.name for m in CONVENTIONAL_MODELS
                                                            for p in ConventionalProblem.parameters(m)}
    unknown = set(priors or {}) - every
    if unknown:
        raise ValueError(f"[priors]: unknown parameter(s) {sorted(unknown)}; expected some of {sorted(every)}")
    return {k: v for k, v in (priors or {}).items() if k in names}


def _spec(table, conditions, noise, conventional, seed, settings, config, table_file, truth) -> dict:
    job = {"table": table.as_dict(), "table_file": file_record(table_file, "csv") if table_file else None,
           "conditions": conditions.to_dict(), "noise": dict(noise or {}), "conventional": list(conventional),
           "config": config or {}, "truth": dict(truth or {})}
    return new_spec("reanalysis", runs=[], model={"name": "ea_reading", "options": conditions.to_dict()},
                    sampler={**settings, "seed": seed}, job=job)


def _sample_or_load(problem, path: pathlib.Path, seed, settings, spec, label, progress):
    """Reuse a finished result or resume its backend when both belong to this very fit; else sample afresh."""
    backend = path.with_suffix(".h5")
    stamp = stamp_path(backend)
    fp = chain_fingerprint({**problem.describe(), "conditions": spec["job"]["conditions"],
                            "table": spec["job"]["table"]}, [], seed, settings)
    if (stamp.read_text().strip() if stamp.exists() else None) != fp:
        path.unlink(missing_ok=True)
        backend.unlink(missing_ok=True)
        stamp.write_text(fp + "\n")
    elif path.exists():
        if progress:
            print(f"  {label}: reusing {path}")
        return compare.load(path)
    if progress:
        print(f"  {label}: sampling {problem.ndim} parameters")
    idata = sample(problem, seed=seed, backend=backend, **settings)
    priors = {n: pr.as_dict() for n, pr in zip(problem.all_names, problem.params.priors)}
    attach_spec(idata, {**spec, "model": {**spec["model"], "name": problem.model_name, "priors": priors}})
    compare.save(idata, path)
    return idata


def t_star_grid(table: PublishedTable, n: int = N_GRID) -> np.ndarray:
    """Temperatures of the predicted curves: 1/T evenly spaced from 0.8 T_min to 1.25 T_max.

    Parameters
    ----------
    table : PublishedTable
    n : int
        Number of temperatures.

    Returns
    -------
    ndarray
        K, ascending.
    """
    lo, hi = 0.8 * float(table.temperature.min()), 1.25 * float(table.temperature.max())
    return np.sort(1.0 / np.linspace(1.0 / lo, 1.0 / hi, n))


def _add_predictions(problem, idata, path: pathlib.Path) -> None:
    """Add (once) the curves on the temperature grid to a result and save it."""
    if "predictions" not in idata.groups():
        idata.add_groups({"predictions": _predictions(problem, idata)})
        compare.save(idata, path)


def _predictions(problem, idata) -> xr.Dataset:
    """The reading (and, for EA, ν_i, ν_μ and T*) on :func:`t_star_grid` for every retained draw."""
    grid = t_star_grid(problem.table)
    post = idata.posterior
    nc, nd = post.sizes["chain"], post.sizes["draw"]
    ea = isinstance(problem, EAReadingProblem)
    keys = ("delta_kt", "nu_kt") + (("nu_i", "nu_mu") if ea else ())
    curves = {k: np.empty((nc, nd, grid.size), np.float32) for k in keys}
    values = {n: post[n].values for n in problem.names}
    for c in range(nc):
        for d in range(nd):
            x = problem.physical({n: v[c, d] for n, v in values.items()})
            arrays = problem.predict(x, grid) + (problem.rates(x, grid) if ea else ())
            for k, arr in zip(keys, arrays):
                curves[k][c, d] = arr
    ds = {k: (("chain", "draw", "t_grid"), v) for k, v in curves.items()}
    if ea:
        ds["t_star"] = (("chain", "draw"), _peak(grid, curves["nu_kt"]))
    coords = {"chain": np.arange(nc), "draw": np.arange(nd), "t_grid": grid}
    return xr.Dataset(ds, coords=coords, attrs={"t_grid": "K, 1/T evenly spaced", "units": "rates μs⁻¹; t_star K"})


def _peak(grid: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Temperature of the maximum of each curve: a parabola in (1/T, ln ν) through the top three grid points.

    The edge of the grid where the maximum lies there; NaN (a draw outside the emulator at some
    temperature) is never a maximum.
    """
    y = np.log(np.maximum(np.nan_to_num(nu.astype(float), nan=0.0), 1e-300))
    i = np.clip(np.argmax(y, axis=-1), 1, grid.size - 2)
    x = 1.0 / grid
    y0, y1, y2 = (np.take_along_axis(y, (i + k)[..., None], -1)[..., 0] for k in (-1, 0, 1))
    x0, x1, x2 = x[i - 1], x[i], x[i + 1]
    # vertex of the parabola through three points (x decreasing with T; spacing uniform in 1/T)
    h = x1 - x0
    denom = y0 - 2.0 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(denom < 0, 0.5 * h * (y0 - y2) / denom, 0.0)
    xv = np.clip(x1 + shift, min(x[-1], x[0]), max(x[-1], x[0]))
    edge = (np.argmax(y, axis=-1) == 0) | (np.argmax(y, axis=-1) == grid.size - 1)
    return np.where(edge, grid[np.argmax(y, axis=-1)], 1.0 / xv)


def summarise(ea, comparison: Mapping, table: PublishedTable) -> dict:
    """The numbers and the words of a reanalysis: verdict, T*, what ν_KT follows below T*.

    Parameters
    ----------
    ea : arviz.InferenceData
        The EA reading's result (with its ``predictions`` group).
    comparison : mapping
        :func:`bayesmusr.inference.compare.compare_results` output.
    table : PublishedTable
        The data.

    Returns
    -------
    dict
        ``best``, ``elpd_diff``/``dse`` against the best conventional reading, ``t_star`` (median
        and 95 % interval, K; ``t_star_at_edge`` the posterior fraction at the grid's ends),
        ``t_star_published`` (the table's ν_KT maximum), ``muon_fraction`` (posterior fraction in
        which ν_KT below T* follows ν_μ rather than ν_i), ``text``.
    """
    pred = ea.predictions
    grid = pred["t_grid"].values
    ts = pred["t_star"].values.ravel()
    q = np.percentile(ts, [2.5, 50, 97.5])
    edge = float(np.mean((ts <= grid[0]) | (ts >= grid[-1])))
    nk, ni, nm = (pred[k].values.reshape(-1, grid.size) for k in ("nu_kt", "nu_i", "nu_mu"))
    below = grid[None, :] < ts[:, None]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # ν_i underflows to 0 when cold
        closer_mu = np.abs(np.log(nk / nm)) < np.abs(np.log(nk / ni))
    frac = np.where(below.any(1), (closer_mu & below).sum(1) / np.maximum(below.sum(1), 1) > 0.5, False)
    have = np.isfinite(table.nu_kt)
    t_pub = float(table.temperature[have][int(np.argmax(table.nu_kt[have]))])
    loo = comparison["loo"]
    best = str(loo.index[0])
    rival = next(n for n in loo.index if (n == "EA reading") != (best == "EA reading"))
    diff = float(loo.loc[rival, "elpd_diff"])
    dse = float(loo.loc[rival, "dse"])
    out = {"best": best, "rival": rival, "elpd_diff": diff, "dse": dse, "t_star": q.tolist(), "t_star_at_edge": edge,
           "t_star_published": t_pub, "muon_fraction": float(np.mean(frac))}
    out["text"] = _words(out)
    return out


def _words(s: Mapping) -> str:
    ratio = s["elpd_diff"] / s["dse"] if s["dse"] > 0 else math.inf
    if ratio <= compare.PREFERENCE_SE:
        head = (f"The table does not distinguish the EA reading from the conventional one "
                f"(elpd difference {s['elpd_diff']:.1f} ± {s['dse']:.1f}).")
    else:
        head = (f"The table prefers the {s['best']} over the {s['rival']} (elpd difference {s['elpd_diff']:.1f} ± "
                f"{s['dse']:.1f}, {ratio:.1f} standard errors).")
    lo, med, hi = s["t_star"]
    star = (f"The EA reading puts the ν_KT maximum T* at {med:.0f} K (95 %: {lo:.0f}–{hi:.0f} K); the table's own "
            f"maximum is at {s['t_star_published']:g} K.")
    if s["t_star_at_edge"] > 0.5:
        star += " In most of the posterior T* lies at the edge of the range considered: no maximum inside it."
    mu = s["muon_fraction"]
    who = ("Below T*, ν_KT follows the muon's rate ν_μ" if mu > 0.5 else "Below T*, ν_KT follows the ions' rate ν_i")
    who += f" in {100 * max(mu, 1 - mu):.0f} % of the posterior"
    who += (": the KT rate there measures muon diffusion, not ion diffusion." if mu > 0.5
            else ": the KT rate there measures ion diffusion.")
    return " ".join([head, star, who])
