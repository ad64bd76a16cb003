"""The main job: a whole ZF/LF temperature scan read two ways, compared, reported.

``bayesmusr fit analysis.toml`` (and ``make demo`` on the embedded scan) runs

1. the Arrhenius EA scan model (:class:`bayesmusr.model.scan.ScanProblem`):
   global E_i, ν_i0, E_μ, ν_μ0, Δ, Q, with per-temperature ν_i, ν_μ and their
   credible bands;
2. the conventional reading: a dynamic KT per temperature
   (:class:`bayesmusr.model.scan.KTTemperatureProblem`), giving Δ_KT(T), ν_KT(T);
   then the Arrhenius fit of ν_KT below T* and Kadono's Eq. 4 on Δ_KT(T);
3. LOO/WAIC of the two readings over every bin of every run, with a verdict;
4. netCDF results, PNG figures and ``report.md`` in the output folder.

Every sampler call writes an emcee HDF5 backend: an interrupted job, run
again with the same configuration, resumes its chains and reuses finished
results.

Configuration (TOML)::

    [data]
    runs = "runs.toml"          # RunCollection TOML (relative to this file), or
    # files = "data/*.nc"       # a glob / list of run files
    bunch = 4                   # pack bins (musrfit "packing")
    t_min = 0.1                 # μs after t0
    t_max = 20.0
    temperature_tolerance_K = 0.5

    [model]
    pooled_delta = false        # per-temperature Δ_T partially pooled
    holder_fraction = "shared"  # one sample-holder fraction for the scan; true: one per run; false: none
    count_background = true

    [priors]                    # any of bayesmusr.model.scan.SCAN_PARAMETERS
    e_i = ["uniform", 0.05, 1.2]

    [sampler]                   # keys of bayesmusr.inference.sampling.SAMPLER_DEFAULTS, and seed
    seed = 1
    [kt]
    parallel = true             # KT fits in a second process while the EA scan samples
    [kt.sampler]                # the same for each per-temperature KT fit

    [truth]                     # optional: known values (simulated data) for plots/report
    e_i = 0.35

    [output]
    folder = "analysis-output"
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import math
import multiprocessing as mp
import os
import pathlib
import time
import tomllib

import numpy as np

from bayesmusr.inference import compare
from bayesmusr.inference.compare import priors_of
from bayesmusr.inference.conventional import fit_arrhenius, fit_two_state
from bayesmusr.inference.sampling import SAMPLER_DEFAULTS, check_settings, sample
from bayesmusr.io.collection import DEFAULT_TEMPERATURE_TOLERANCE_K, RunCollection
from bayesmusr.io.setup import SETUP_OPTIONS, RunSetup, check_keys
from bayesmusr.model.parameters import KT_SCAN_PARAMETERS, SCAN_PARAMETERS
from bayesmusr.model.rundata import RunData, ea_delta_support
from bayesmusr.model.scan import KTTemperatureProblem, ScanPointData, ScanProblem, holder_option, resolve_priors
from bayesmusr.physics.tables import release_tables
from bayesmusr.workflows.resume import chain_fingerprint, stamp_path
from bayesmusr.workflows.spec import new_spec, spec_attrs
from bayesmusr.workflows.temperature import run_record

#: the [model] holder_fraction of a TOML that does not set it (see bayesmusr.model.scan.ScanProblem)
DEFAULT_HOLDER_FRACTION = "shared"

RESULT_EA = "ea_scan.nc"
RESULT_KT = "kt_per_temperature.nc"


def load_config(path) -> tuple[dict, pathlib.Path]:
    """Read an analysis TOML (layout: module docstring).

    Parameters
    ----------
    path : path
        The analysis TOML; it must have a ``[data]`` table.

    Returns
    -------
    config : dict
        The parsed TOML.
    base : pathlib.Path
        Folder its relative paths refer to.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"analysis file {path} not found")
    if not path.is_file():
        raise ValueError(f"analysis file {path}: not a regular file")
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a TOML text file (a data file?); give the analysis TOML") from None
    if "data" not in cfg:
        raise ValueError(f"{path}: a [data] table naming the runs (runs = 'x.toml' or files = '*.nc') is required")
    check_config(cfg, str(path))
    return cfg, path.parent


_DATA_KEYS = ("runs", "files", "temperature_tolerance_K")  # [data] keys that are not run set-up options

#: keys of each table of an analysis TOML (set-up options are added to [data]; [priors], [truth]: parameter names)
CONFIG_KEYS = {
    "": ("data", "model", "priors", "sampler", "kt", "truth", "output"),
    "data": (*_DATA_KEYS, *(o.name for o in SETUP_OPTIONS)),
    "model": ("pooled_delta", "holder_fraction", "count_background", "table"),
    "sampler": (*SAMPLER_DEFAULTS, "seed"),
    "kt": ("parallel", "sampler", "priors"),
    "kt.sampler": (*SAMPLER_DEFAULTS, "seed"),
    "output": ("folder",),
}


def check_config(cfg: dict, where: str) -> None:
    """Refuse unknown tables and keys of an analysis TOML (with the nearest valid name) and bad set-up values.

    Parameters
    ----------
    cfg : dict
        The parsed TOML.
    where : str
        Its path, for messages.

    Returns
    -------
    None
    """
    for table, keys in CONFIG_KEYS.items():
        section = cfg
        for part in filter(None, table.split(".")):
            section = section.get(part, {})
        if not isinstance(section, dict):
            raise ValueError(f"{where}: [{table}] must be a table, got {type(section).__name__}")
        check_keys(section, keys, f"{where}: [{table}]" if table else where)
    names = {p.name for p in SCAN_PARAMETERS}
    for table in ("truth",):
        check_keys(cfg.get(table, {}), names | {"fbg", "nu", "tau_delta"}, f"{where}: [{table}]")
    _check_types(cfg, where)
    for table, sampler in (("sampler", cfg.get("sampler", {})), ("kt.sampler", cfg.get("kt", {}).get("sampler", {}))):
        seed = sampler.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"{where}: [{table}] seed = {seed!r}: expected a whole number >= 0")
        try:
            check_settings({k: v for k, v in sampler.items() if k != "seed"})
        except ValueError as exc:
            raise ValueError(f"{where}: [{table}] {exc}") from None
    scan_setup(cfg, where)


#: (table, key) → (accepted types, what is expected) for the keys that are not run set-up options
_TYPES = {
    ("data", "runs"): ((str,), "a TOML file name"),
    ("data", "files"): ((str, list), "a glob pattern or a list of file names"),
    ("data", "temperature_tolerance_K"): ((int, float), "a number of kelvin >= 0"),
    ("model", "pooled_delta"): ((bool,), "true or false"),
    ("model", "count_background"): ((bool,), "true or false"),
    ("model", "holder_fraction"): ((bool, str), 'true, false or "shared"'),
    ("model", "table"): ((str,), "an EA table file name"),
    ("kt", "parallel"): ((bool,), "true or false"),
    ("output", "folder"): ((str,), "a folder name"),
}


def _check_types(cfg: dict, where: str) -> None:
    """The type (and for numbers the range) of every non-set-up key, named with its table."""
    for (table, key), (types, expected) in _TYPES.items():
        if key not in cfg.get(table, {}):
            continue
        value = cfg[table][key]
        bad = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if key == "temperature_tolerance_K" and not bad:
            bad = not (math.isfinite(value) and value >= 0)
        if key == "files" and isinstance(value, list) and not all(isinstance(v, str) for v in value):
            bad = True
        if bad:
            raise ValueError(f"{where}: [{table}] {key} = {value!r}: expected {expected}")
    if "holder_fraction" in cfg.get("model", {}):
        holder_option(cfg["model"]["holder_fraction"])


def scan_setup(cfg: dict, where: str = "[data]") -> RunSetup:
    """The run set-up options of an analysis TOML's [data] table (applied under each file's own).

    Parameters
    ----------
    cfg : dict
        The analysis configuration.
    where : str
        For messages.

    Returns
    -------
    RunSetup
    """
    data = cfg.get("data", {})
    return RunSetup.from_mapping({k: v for k, v in data.items() if k not in _DATA_KEYS},
                                 f"{where}: [data]")


def load_scan(cfg: dict, base: pathlib.Path):
    """Runs of the configuration as :class:`bayesmusr.model.scan.ScanPointData` (ZF and LF runs per temperature).

    Parameters
    ----------
    cfg : dict
        Analysis configuration; its ``[data]`` table is used.
    base : pathlib.Path
        Folder relative paths refer to.

    Returns
    -------
    list of ScanPointData
        One per temperature with ZF/LF runs (≥ 3), ascending T.
    """

    data = cfg["data"]
    if "runs" in data:
        coll = RunCollection.from_toml(base / data["runs"])
    elif "files" in data:
        files = data["files"]
        files = str(base / files) if isinstance(files, str) else [str(base / f) for f in files]
        coll = RunCollection.from_files(files)
    else:
        raise ValueError("[data] needs 'runs' (a RunCollection TOML) or 'files' (a glob or list)")
    common = scan_setup(cfg)
    points = []
    for sp in coll.paired(float(data.get("temperature_tolerance_K", DEFAULT_TEMPERATURE_TOLERANCE_K))):
        runs = [RunData.from_run(r, common.updated(RunSetup.of(r))) for r in sp.zf + sp.lf]  # the file's keys win
        if not runs:
            continue
        points.append(ScanPointData(sp.temperature_K, runs))
    if len(points) < 3:
        raise ValueError(f"a scan analysis needs ZF/LF runs at >= 3 temperatures, found {len(points)}")
    return points


def fingerprint(problem, seed: int, settings: dict) -> str:
    """The chain fingerprint (:func:`bayesmusr.workflows.resume.chain_fingerprint`) of a scan problem.

    Parameters
    ----------
    problem
        Scan or KT-per-temperature problem (``describe()``, ``points``).
    seed : int
        Sampler seed.
    settings : dict
        Sampler settings.

    Returns
    -------
    str
        SHA-256 hex digest.
    """
    return chain_fingerprint(problem.describe(), (r for pt in problem.points for r in pt.runs), seed, settings)


def _sample_or_load(problem, out: pathlib.Path, backend: pathlib.Path, seed: int, settings: dict,
                    attrs: dict | None = None):
    """Reuse a finished result or resume its backend — only if both come from this very configuration and data."""

    stamp = stamp_path(backend)
    fp = fingerprint(problem, seed, settings)
    old = stamp.read_text().strip() if stamp.exists() else None
    if old != fp and (out.exists() or backend.exists()):
        why = "made before fingerprints were kept" if old is None else "made with another configuration or data"
        print(f"  {out.name}: the existing result/backend was {why}; sampling afresh")
        out.unlink(missing_ok=True)
        backend.unlink(missing_ok=True)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fp + "\n")
    if out.exists():
        print(f"  reusing {out}")
        return compare.load(out)
    return sample(problem, seed=seed, backend=backend, out=out, attrs=attrs, **settings)


#: goals for every sampled parameter (issue 6): split R-hat and bulk ESS, the sampler's own stop rule
RHAT_GOAL = SAMPLER_DEFAULTS["rhat_goal"]
ESS_GOAL = SAMPLER_DEFAULTS["ess_goal"]


def diagnostics(idata, names) -> dict:
    """Unrounded split R-hat and bulk ESS per parameter, and whether the goals are met.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result with a posterior group.
    names : iterable of str
        Posterior variables to check.

    Returns
    -------
    dict
        ``r_hat`` and ``ess_bulk`` (name → float), ``met``: all R-hat < `RHAT_GOAL` and ESS ≥ `ESS_GOAL`.
    """

    az = compare._az()
    rhat = az.rhat(idata, var_names=list(names))
    ess = az.ess(idata, var_names=list(names), method="bulk")
    r = {n: float(rhat[n]) for n in names}
    e = {n: float(ess[n]) for n in names}
    return {"r_hat": r, "ess_bulk": e, "met": all(v < RHAT_GOAL for v in r.values()) and
            all(v >= ESS_GOAL for v in e.values())}


def _posterior_array(idata, name):
    return np.asarray(idata.posterior[name]).ravel()


def _kt_reading(points, priors, holder_fraction, count_background, out, seed, kt_sampler, progress, first=0):
    """Per-temperature dynamic-KT fits (the conventional reading); returns (result paths, seconds).

    Runs in a worker process when the job is parallel, so it takes and returns
    only picklable things; each temperature reuses its finished result or
    resumes its HDF5 backend exactly as in a serial run.  ``first`` is the scan
    index of ``points[0]`` (file names and seeds follow it), so that one
    temperature can be fitted as a task of its own (``fit_scan(executor=...)``).
    """

    t0 = time.perf_counter()
    settings = dict(kt_sampler)
    settings.setdefault("progress", progress)
    paths = []
    for j, p in enumerate(points, start=first):
        print(f"KT reading, T = {p.temperature:g} K", flush=True)
        kp = KTTemperatureProblem(p, priors, holder_fraction=holder_fraction, count_background=count_background)
        path = out / "kt" / f"kt_T{j:02d}.nc"
        _sample_or_load(kp, path, out / "kt" / f"kt_T{j:02d}.h5", seed + 100 + j, settings)
        paths.append(path)
    return paths, time.perf_counter() - t0


def combine_kt(kt_results, problem, path, attrs: dict | None = None):
    """One InferenceData for the KT reading of the whole scan (independent temperatures).

    The per-temperature posteriors are independent, so pairing their draws by
    index gives draws of the joint posterior; the pointwise log-likelihoods are
    concatenated in the scan's bin order, which makes the result comparable
    with the EA scan model by LOO.

    Parameters
    ----------
    kt_results : list of arviz.InferenceData
        Per-temperature KT results, in the scan's temperature order.
    problem : ScanProblem
        The scan's problem (observed data and run descriptions).
    path : path
        netCDF file to write.
    attrs : dict, optional
        More posterior attributes (e.g. the specification).

    Returns
    -------
    arviz.InferenceData
        ``delta_T<j>``, ``nu_T<j>`` (μs⁻¹) on the common (chain, draw) size, pointwise log-likelihood.
    """

    nw = min(int(r.posterior.sizes["chain"]) for r in kt_results)
    nd = min(int(r.posterior.sizes["draw"]) for r in kt_results)
    post, pw = {}, []
    for j, r in enumerate(kt_results):
        for name in ("delta", "nu"):
            post[f"{name}_T{j}"] = np.asarray(r.posterior[name])[:nw, :nd]
        pw.append(np.asarray(r.log_likelihood["y"])[:nw, :nd])
    pointwise = np.concatenate(pw, axis=-1)
    observed, dims, coords = problem.observed_data()
    desc = problem.describe()  # the same runs as the EA scan: labels, fields and temperatures per run
    attrs = {"bayesmusr_result": "scan", "model": "kt_per_temperature",
             "temperatures_K": [float(t) for t in problem.temperatures],
             **{k: desc[k] for k in ("run_labels", "run_fields_mT", "run_temperatures_K", "options")},
             **_kt_convergence(kt_results, problem.temperatures), **(attrs or {})}
    idata = compare.make_inference_data(post, pointwise, {}, observed, dims, coords,
                                        {"lp": np.zeros((nw, nd))}, attrs, pp_dims={})
    compare.save(idata, path)
    return idata


#: a temperature's ν_KT counts as determined when its 84th/16th percentile ratio is below this; in the
#: motionally narrowed regime the KT likelihood fixes only Δ²/ν, and the posterior runs along that ridge to
#: the prior bounds (demo scan, 331.8 K: ν_KT 16–84 % = 1.9–55 μs⁻¹, median 7.4, against ~1 on either side)
NU_KT_RIDGE_RATIO = 10.0
#: ... or when its 97.5th percentile reaches this fraction of the prior's upper ν bound: a ridge runs to the
#: bound (a simulated scan at 450 K: 16–84 % = 6.8–59, ratio 8.7, 97.5 % = 93 of 100, median 20 became T*;
#: benchmarks/validate_scan.py), while the other ν_KT posteriors of those scans end at 97.5 % ≤ 28
NU_KT_RIDGE_BOUND_FRACTION = 0.5


def _kt_convergence(kt_results, temperatures) -> dict:
    """The sampler record of the combined KT reading: converged only if every temperature's fit is."""
    def first(r, key, default):
        return np.asarray(r.posterior.attrs.get(key, default)).ravel()[0]
    conv = [int(first(r, "converged", 0)) for r in kt_results]
    return {"converged": int(all(conv)),
            "chain_length_in_tau": min(float(first(r, "chain_length_in_tau", np.nan)) for r in kt_results),
            "tau_multiple_required": float(first(kt_results[0], "tau_multiple_required", 50)),
            "convergence_message": "converged" if all(conv) else
            "not converged at T = " + ", ".join(f"{t:g} K" for t, c in zip(temperatures, conv) if not c)}


def conventional_reading(temps, kt_results) -> dict:
    """Δ_KT(T), ν_KT(T) (posterior median, SD), T*, Arrhenius below T*, Eq. 4 on Δ_KT(T).

    Temperatures where ν_KT is not determined (the Δ²/ν ridge of a narrowed
    spectrum: `NU_KT_RIDGE_RATIO`, `NU_KT_RIDGE_BOUND_FRACTION`) are listed under ``"undetermined_K"`` and
    left out of T*, the Arrhenius fit and Eq. 4: their medians are set by
    the prior range, not by the data, and a least-squares KT fit would land
    anywhere on the ridge.

    Parameters
    ----------
    temps : numpy.ndarray
        Temperatures (K), ascending, one per KT result.
    kt_results : list of arviz.InferenceData
        Per-temperature KT results.

    Returns
    -------
    dict
        ``temperature_K``, ``delta_kt``/``nu_kt`` with ``_sd`` (μs⁻¹), ``t_star_K``, ``undetermined_K``,
        ``t_star_at_scan_edge``, ``arrhenius_below_t_star`` (if ≥ 2 points; eV, s⁻¹) and ``eq4``.
    """
    d_med = np.array([float(np.median(_posterior_array(r, "delta"))) for r in kt_results])
    d_sd = np.array([float(np.std(_posterior_array(r, "delta"))) for r in kt_results])
    n_med = np.array([float(np.median(_posterior_array(r, "nu"))) for r in kt_results])
    n_sd = np.array([float(np.std(_posterior_array(r, "nu"))) for r in kt_results])

    lo, hi, top = np.array([np.percentile(_posterior_array(r, "nu"), [16, 84, 97.5]) for r in kt_results]).T
    default_max = next(p.bounds[1] for p in KT_SCAN_PARAMETERS if p.name == "nu")
    nu_max = np.array([getattr(priors_of(r).get("nu"), "hi", default_max) for r in kt_results])
    ok = (hi < NU_KT_RIDGE_RATIO * lo) & (top < NU_KT_RIDGE_BOUND_FRACTION * nu_max)
    if ok.sum() < 3:  # nothing sensible to leave out
        ok[:] = True
    j_star = int(np.flatnonzero(ok)[np.argmax(n_med[ok])])
    out = {"temperature_K": temps.tolist(), "delta_kt": d_med.tolist(), "delta_kt_sd": d_sd.tolist(),
           "nu_kt": n_med.tolist(), "nu_kt_sd": n_sd.tolist(), "t_star_K": float(temps[j_star]),
           "undetermined_K": temps[~ok].tolist(),
           # ν_KT largest at the first/last usable temperature: its maximum lies outside the scan
           "t_star_at_scan_edge": bool(j_star in (np.flatnonzero(ok)[0], np.flatnonzero(ok)[-1]))}
    below = np.flatnonzero(ok[: j_star + 1])
    if below.size >= 2:
        arr = fit_arrhenius(temps[below], n_med[below], n_sd[below])
        out["arrhenius_below_t_star"] = {"nu0_per_s": arr.nu0_per_s, "energy_eV": arr.energy_eV,
                                         "energy_err_eV": arr.energy_err_eV,
                                         "temperatures_K": temps[below].tolist()}
    try:
        ts = fit_two_state(temps[ok], d_med[ok], np.maximum(d_sd[ok], 1e-6))
        out["eq4"] = {"delta": ts.delta, "q": ts.q, "n_states": ts.n_states, "e_delta_eV": ts.e_delta_eV,
                      "errors": ts.errors}
    except (ValueError, np.linalg.LinAlgError) as exc:
        out["eq4"] = {"error": str(exc)}
    return out


def support_warning(problem, idata) -> str:
    """A warning if the Δ posterior presses against the EA table's support (else '').

    The table covers ω_L/Δ ≤ ω_max and Δ·t ≤ x_max, so for the scan's fields and
    times Δ is confined to [ω_L,max/ω_max, x_max/t_max]; a posterior piled at
    either end is truncated by the table, not by the data.

    Parameters
    ----------
    problem : ScanProblem
        The scan's problem (runs, EA table).
    idata : arviz.InferenceData
        Its result.

    Returns
    -------
    str
        The warning, or '' (also when Δ is not in the posterior).
    """

    lo, hi, tab = ea_delta_support([r for p in problem.points for r in p.runs], problem.table)
    if "delta" not in idata.posterior:
        return ""
    d = np.asarray(idata.posterior["delta"]).ravel()
    q_lo, q_hi = np.percentile(d, [2.5, 97.5])
    if q_lo < lo * 1.005 or q_hi > hi * 0.995:
        return (f"the Δ posterior (95 % in [{q_lo:.4g}, {q_hi:.4g}] μs⁻¹) reaches the edge of the EA table's "
                f"support for these runs, {lo:.4g} ≤ Δ ≤ {hi:.4g} μs⁻¹ (ω_L/Δ ≤ {tab.omega_max:g}, "
                f"Δ·t ≤ {tab.x_max:g}): the result is truncated by the table, not by the data. Shorten t_max, "
                "leave out the high-field runs, or see docs/ea-tables.md.")
    return ""


@dataclasses.dataclass
class ScanJob:
    """Everything the scan job computed, for the report layer."""

    problem: ScanProblem
    ea_idata: object
    kt_results: list
    kt_idata: object
    comparison: dict
    comparison_text: str
    conventional: dict
    timings: dict
    spec: dict


def fit_scan(cfg: dict, base: pathlib.Path, out: pathlib.Path, progress: bool = True, executor=None) -> ScanJob:
    """Both readings of a scan (EA Arrhenius model, per-temperature KT), compared, written into ``out``.

    Parameters
    ----------
    cfg : dict
        The analysis configuration (module docstring).
    base : path
        Folder its relative paths refer to.
    out : path
        Output folder (results, backends; an interrupted job resumes there).
    progress : bool
        Show progress bars.
    executor : concurrent.futures.Executor-like, optional
        If given, every temperature's KT fit is submitted to it (``submit(fn, *args)`` returning a
        future with ``result()``; e.g. a Dask client's ``get_executor()``) while this process samples
        the EA scan model, instead of the ``[kt] parallel`` process.

    Returns
    -------
    ScanJob
    """
    t_start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    points = load_scan(cfg, base)
    temps = np.array([p.temperature for p in points])
    print(f"scan: {len(points)} temperatures {temps.min():g}–{temps.max():g} K, "
          f"{sum(len(p.runs) for p in points)} runs")

    model = cfg.get("model", {})
    sampler = dict(cfg.get("sampler", {}))
    seed = int(sampler.pop("seed", 1))
    sampler.setdefault("progress", progress)
    try:
        holder = holder_option(model.get("holder_fraction", DEFAULT_HOLDER_FRACTION))
    except ValueError as exc:
        raise ValueError(f"[model] {exc}") from None
    problem = ScanProblem(points, cfg.get("priors"), pooled_delta=bool(model.get("pooled_delta", False)),
                          holder_fraction=holder,
                          count_background=bool(model.get("count_background", True)), table=model.get("table"))
    print("EA scan model: sampling " + ", ".join(problem.names))
    spec = scan_spec(cfg, base, points, problem, {**sampler, "seed": seed})
    kt_cfg = cfg.get("kt", {})
    kt_sampler = dict(kt_cfg.get("sampler", {}))
    # the KT reading fits each temperature on its own, as the literature did: a shared f becomes one per run
    kt_args = (points, kt_cfg.get("priors"), holder is not False,
               bool(model.get("count_background", True)), out, seed, kt_sampler)
    (out / "kt").mkdir(exist_ok=True)
    # The two readings are independent: on a multi-core machine the per-temperature KT fits
    # run in a second process while this one samples the EA scan model (each sampler is
    # single-threaded), which nearly halves the wall time of the job.
    parallel = bool(kt_cfg.get("parallel", True)) and (os.cpu_count() or 1) >= 2
    t0 = time.perf_counter()
    if executor is not None:
        # one task per temperature on the caller's executor (a Dask cluster in bayesmusr.campaign); they are
        # submitted before the EA chain and waited for after it, in this thread
        kt_futures = [executor.submit(_kt_reading, [p], *kt_args[1:], False, j) for j, p in enumerate(points)]
        ea_idata = _sample_or_load(problem, out / RESULT_EA, out / "ea_scan.h5", seed, sampler,
                                          attrs=spec_attrs(spec))
        t_ea = time.perf_counter() - t0
        kt_paths = [path for f in kt_futures for path in f.result()[0]]
        t_kt = time.perf_counter() - t0
    elif parallel:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            kt_future = pool.submit(_kt_reading, *kt_args, False)
            ea_idata = _sample_or_load(problem, out / RESULT_EA, out / "ea_scan.h5", seed, sampler,
                                              attrs=spec_attrs(spec))
            t_ea = time.perf_counter() - t0
            kt_paths, t_kt = kt_future.result()
    else:
        ea_idata = _sample_or_load(problem, out / RESULT_EA, out / "ea_scan.h5", seed, sampler,
                                              attrs=spec_attrs(spec))
        t_ea = time.perf_counter() - t0
        kt_paths, t_kt = _kt_reading(*kt_args, progress)
    kt_results = [compare.load(path) for path in kt_paths]
    if warning := support_warning(problem, ea_idata):
        print("WARNING: " + warning)
    for note in compare.prior_edge_notes(ea_idata):
        print("NOTE: " + note)
    kt_priors = resolve_priors(KT_SCAN_PARAMETERS, kt_cfg.get("priors"))  # every temperature's
    kt_model = {"name": "kt_per_temperature", "nuisances": "laplace",
                "priors": {q.name: pr.as_dict() for q, pr in zip(KT_SCAN_PARAMETERS, kt_priors)},
                "options": {"holder_fraction": holder is not False,
                            "count_background": bool(model.get("count_background", True))}}
    # the job's memory peaks here, where draws × bins arrays are combined and compared (ArviZ copies
    # them): the EA table goes until the figures load it again, and of the per-temperature fits only
    # what the report reads (their posteriors) is kept (docs/fitting.md, "Speed, issue 19")
    release_tables()
    kt_idata = combine_kt(kt_results, problem, out / RESULT_KT, attrs=spec_attrs({**spec, "model": kt_model}))
    kt_results = [compare.posterior_only(r) for r in kt_results]

    cmp = compare.compare_results({"EA_scan": ea_idata, "KT_per_T": kt_idata})
    comparison_text = compare.format_comparison(cmp)
    (out / "comparison.txt").write_text(comparison_text + "\n", encoding="utf-8")
    print(comparison_text)

    conv = conventional_reading(temps, kt_results)
    (out / "conventional.json").write_text(json.dumps(conv, indent=1), encoding="utf-8")
    timings = {"ea_scan_s": t_ea, "kt_s": t_kt, "total_s": time.perf_counter() - t_start}
    return ScanJob(problem, ea_idata, kt_results, kt_idata, cmp, comparison_text, conv, timings, spec)


def scan_spec(cfg: dict, base: pathlib.Path, points, problem, sampler: dict) -> dict:
    """The specification of a scan job: the configuration, every run with its file and reduction, priors.

    Parameters
    ----------
    cfg : dict
        Analysis configuration.
    base : pathlib.Path
        Folder its relative paths refer to.
    points : list of ScanPointData
        The scan's temperatures and runs.
    problem : ScanProblem
        The EA scan problem (priors, options, temperatures).
    sampler : dict
        Sampler settings with ``seed``.

    Returns
    -------
    dict
        A ``"scan"`` specification (:func:`bayesmusr.workflows.spec.new_spec`).
    """
    runs = [run_record(r) for p in points for r in p.runs]
    model = {"name": "ea_arrhenius_scan", "priors": {q.name: pr.as_dict() for q, pr in zip(problem.declared,
                                                                                            problem.priors)},
             "options": problem.options, "nuisances": "laplace", "table": cfg.get("model", {}).get("table")}
    temps = {"values_K": problem.temperatures.tolist(), "source": "runs grouped by their own temperatures"}
    return new_spec("scan", runs=runs, model=model, sampler=sampler, temperature=temps,
                    job={"config": cfg, "base": str(pathlib.Path(base).resolve())})
