"""The main job: a whole ZF/LF temperature scan read two ways, compared, reported.

``bayesmusr fit analysis.toml`` (and ``make demo`` on the embedded scan) runs

1. the Arrhenius EA scan model (:class:`bayesmusr.scan.ScanProblem`):
   global E_i, ν_i0, E_μ, ν_μ0, Δ, Q, with per-temperature ν_i, ν_μ and their
   credible bands;
2. the conventional reading: a dynamic KT per temperature
   (:class:`bayesmusr.scan.KTTemperatureProblem`), giving Δ_KT(T), ν_KT(T);
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

    [priors]                    # any of bayesmusr.scan.SCAN_PARAMETERS
    e_i = ["uniform", 0.05, 1.2]

    [sampler]                   # keys of bayesmusr.sampling.SAMPLER_DEFAULTS, and seed
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

import json
import math
import os
import pathlib
import time
import tomllib
from typing import Any

import numpy as np

from .conventional import fit_arrhenius, fit_two_state, two_state_delta
from .functions import K_B_EV, dynamic_kt

#: the [model] holder_fraction of a TOML that does not set it (see bayesmusr.scan.ScanProblem)
DEFAULT_HOLDER_FRACTION = "shared"

RESULT_EA = "ea_scan.nc"
RESULT_KT = "kt_per_temperature.nc"


def load_config(path) -> tuple[dict, pathlib.Path]:
    """Read an analysis TOML; returns (config, folder the relative paths refer to)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"analysis file {path} not found")
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML ({exc})") from None
    if "data" not in cfg:
        raise ValueError(f"{path}: a [data] table naming the runs (runs = 'x.toml' or files = '*.nc') is required")
    return cfg, path.parent


def load_scan(cfg: dict, base: pathlib.Path):
    """Runs of the configuration as :class:`bayesmusr.scan.ScanPointData` (ZF and LF runs per temperature)."""
    from .data import RunCollection
    from .models import RunData
    from .scan import ScanPointData

    data = cfg["data"]
    if "runs" in data:
        coll = RunCollection.from_toml(base / data["runs"])
    elif "files" in data:
        files = data["files"]
        files = str(base / files) if isinstance(files, str) else [str(base / f) for f in files]
        coll = RunCollection.from_files(files)
    else:
        raise ValueError("[data] needs 'runs' (a RunCollection TOML) or 'files' (a glob or list)")
    kw = {k: data[k] for k in ("bunch", "t_min", "t_max") if k in data}
    points = []
    for sp in coll.paired(float(data.get("temperature_tolerance_K", 0.5))):
        runs = [RunData.from_run(r, **kw) for r in sp.zf + sp.lf]
        if not runs:
            continue
        points.append(ScanPointData(sp.temperature_K, runs))
    if len(points) < 3:
        raise ValueError(f"a scan analysis needs ZF/LF runs at >= 3 temperatures, found {len(points)}")
    return points


#: sampler settings that only change how long a chain runs or how it is shown: a finished result or a
#: backend made with other values is still the same posterior's chain, so it is reused / resumed
_LENGTH_SETTINGS = ("min_steps", "max_steps", "max_seconds", "progress", "workers", "check_every")


def fingerprint(problem, seed: int, settings: dict) -> str:
    """Hash of what a chain depends on: the model description (priors, options, runs), the data, seed and settings.

    Stored next to the HDF5 backend (``<backend>.fingerprint``); a result or
    backend whose fingerprint differs came from another configuration or other
    data and is not reused.
    """
    import hashlib
    import json

    h = hashlib.sha256()
    h.update(json.dumps(problem.describe(), sort_keys=True, default=str).encode())
    h.update(json.dumps({k: v for k, v in settings.items() if k not in _LENGTH_SETTINGS},
                        sort_keys=True, default=str).encode())
    h.update(f"seed={seed}".encode())
    for point in problem.points:
        for run in point.runs:
            for name in ("t", "forward", "backward", "asymmetry", "error"):
                a = getattr(run, name, None)
                if a is not None:
                    h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def _sample_or_load(problem, out: pathlib.Path, backend: pathlib.Path, seed: int, settings: dict):
    """Reuse a finished result or resume its backend — only if both come from this very configuration and data."""
    from . import compare
    from .sampling import sample

    stamp = backend.with_name(backend.name + ".fingerprint")
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
    return sample(problem, seed=seed, backend=backend, out=out, **settings)


#: goals for every global parameter of the EA scan (issue 6): split R-hat and bulk ESS
RHAT_GOAL = 1.01
ESS_GOAL = 400


def diagnostics(idata, names) -> dict:
    """Unrounded split R-hat and bulk ESS per parameter, and whether the goals are met."""
    from . import compare

    az = compare._az()
    rhat = az.rhat(idata, var_names=list(names))
    ess = az.ess(idata, var_names=list(names), method="bulk")
    r = {n: float(rhat[n]) for n in names}
    e = {n: float(ess[n]) for n in names}
    return {"r_hat": r, "ess_bulk": e, "met": all(v < RHAT_GOAL for v in r.values()) and
            all(v > ESS_GOAL for v in e.values())}


def _sample_to_diagnostics(problem, out: pathlib.Path, backend: pathlib.Path, seed: int, settings: dict,
                           rounds: int = 3):
    """Sample (or reuse) and, while R-hat ≥ 1.01 or bulk ESS ≤ 400 on a global parameter, extend the chain.

    The τ-based stop of the sampler can come early when τ is under-estimated
    (16 walkers: measured once τ_max = 27 at 1400 steps with R-hat up to 1.018,
    where a longer run found τ_max = 43); each extra round resumes the same
    HDF5 chain with min_steps raised by half.
    """
    from .sampling import SAMPLER_DEFAULTS

    idata = _sample_or_load(problem, out, backend, seed, settings)
    for _ in range(rounds):
        diag = diagnostics(idata, problem.names)
        steps = int(idata.posterior.attrs.get("n_steps", 0))
        max_steps = int(settings.get("max_steps", SAMPLER_DEFAULTS["max_steps"]))
        if diag["met"] or not backend.exists() or steps >= max_steps:
            break
        worst = max(diag["r_hat"], key=diag["r_hat"].get)
        print(f"  R-hat {diag['r_hat'][worst]:.4f} ({worst}), min bulk ESS {min(diag['ess_bulk'].values()):.0f}: "
              f"extending the chain beyond {steps} steps")
        out.unlink()
        idata = _sample_or_load(problem, out, backend, seed,
                                {**settings, "min_steps": min(max_steps, int(1.5 * steps))})
    return idata


def _posterior_array(idata, name):
    return np.asarray(idata.posterior[name]).ravel()


def run_analysis(config_path, out_dir=None, progress: bool = True) -> pathlib.Path:
    """Run the full scan analysis of a TOML configuration; returns the output folder."""
    from . import compare
    from .scan import ScanProblem, holder_option

    t_start = time.perf_counter()
    cfg, base = load_config(config_path)
    out = pathlib.Path(out_dir or base / cfg.get("output", {}).get("folder", "analysis-output"))
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
        raise ValueError(f"{config_path}: [model] {exc}") from None
    problem = ScanProblem(points, cfg.get("priors"), pooled_delta=bool(model.get("pooled_delta", False)),
                          holder_fraction=holder,
                          count_background=bool(model.get("count_background", True)), table=model.get("table"))
    print("EA scan model: sampling " + ", ".join(problem.names))
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
    if parallel:
        import concurrent.futures
        import multiprocessing as mp

        with concurrent.futures.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            kt_future = pool.submit(_kt_reading, *kt_args, False)
            ea_idata = _sample_to_diagnostics(problem, out / RESULT_EA, out / "ea_scan.h5", seed, sampler)
            t_ea = time.perf_counter() - t0
            kt_paths, t_kt = kt_future.result()
    else:
        ea_idata = _sample_to_diagnostics(problem, out / RESULT_EA, out / "ea_scan.h5", seed, sampler)
        t_ea = time.perf_counter() - t0
        kt_paths, t_kt = _kt_reading(*kt_args, progress)
    kt_results = [compare.load(path) for path in kt_paths]
    if warning := support_warning(problem, ea_idata):
        print("WARNING: " + warning)
    for note in compare.prior_edge_notes(ea_idata):
        print("NOTE: " + note)
    kt_idata = combine_kt(kt_results, problem, out / RESULT_KT)

    cmp = compare.compare_results({"EA_scan": ea_idata, "KT_per_T": kt_idata})
    comparison_text = compare.format_comparison(cmp)
    (out / "comparison.txt").write_text(comparison_text + "\n", encoding="utf-8")
    print(comparison_text)

    conv = conventional_reading(temps, kt_results)
    (out / "conventional.json").write_text(json.dumps(conv, indent=1), encoding="utf-8")
    truth = cfg.get("truth", {})
    figures = make_figures(out, problem, ea_idata, kt_results, conv, cmp, truth)
    timings = {"ea_scan_s": t_ea, "kt_s": t_kt, "total_s": time.perf_counter() - t_start}
    write_report(out, cfg, problem, ea_idata, kt_results, conv, cmp, comparison_text, figures, truth, timings)
    from .report import write_report as write_html_report

    write_html_report(out, out / "report.html")  # self-contained HTML next to report.md (bayesmusr report)
    print(f"analysis finished in {timings['total_s']:.0f} s: report {out / 'report.md'}")
    return out


def _kt_reading(points, priors, holder_fraction, count_background, out, seed, kt_sampler, progress):
    """Per-temperature dynamic-KT fits (the conventional reading); returns (result paths, seconds).

    Runs in a worker process when the job is parallel, so it takes and returns
    only picklable things; each temperature reuses its finished result or
    resumes its HDF5 backend exactly as in a serial run.
    """
    from .scan import KTTemperatureProblem

    t0 = time.perf_counter()
    settings = dict(kt_sampler)
    settings.setdefault("progress", progress)
    paths = []
    for j, p in enumerate(points):
        print(f"KT reading, T = {p.temperature:g} K", flush=True)
        kp = KTTemperatureProblem(p, priors, holder_fraction=holder_fraction, count_background=count_background)
        path = out / "kt" / f"kt_T{j:02d}.nc"
        _sample_or_load(kp, path, out / "kt" / f"kt_T{j:02d}.h5", seed + 100 + j, settings)
        paths.append(path)
    return paths, time.perf_counter() - t0


def combine_kt(kt_results, problem, path):
    """One InferenceData for the KT reading of the whole scan (independent temperatures).

    The per-temperature posteriors are independent, so pairing their draws by
    index gives draws of the joint posterior; the pointwise log-likelihoods are
    concatenated in the scan's bin order, which makes the result comparable
    with the EA scan model by LOO.
    """
    from . import compare

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
             **{k: desc[k] for k in ("run_labels", "run_fields_mT", "run_temperatures_K", "options")}}
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


def conventional_reading(temps, kt_results) -> dict:
    """Δ_KT(T), ν_KT(T) (posterior median, SD), T*, Arrhenius below T*, Eq. 4 on Δ_KT(T).

    Temperatures where ν_KT is not determined (the Δ²/ν ridge of a narrowed
    spectrum: `NU_KT_RIDGE_RATIO`, `NU_KT_RIDGE_BOUND_FRACTION`) are listed under ``"undetermined_K"`` and
    left out of T*, the Arrhenius fit and Eq. 4: their medians are set by
    the prior range, not by the data, and a least-squares KT fit would land
    anywhere on the ridge.
    """
    d_med = np.array([float(np.median(_posterior_array(r, "delta"))) for r in kt_results])
    d_sd = np.array([float(np.std(_posterior_array(r, "delta"))) for r in kt_results])
    n_med = np.array([float(np.median(_posterior_array(r, "nu"))) for r in kt_results])
    n_sd = np.array([float(np.std(_posterior_array(r, "nu"))) for r in kt_results])
    from .compare import priors_of
    from .scan import KT_SCAN_PARAMETERS

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


def _band(samples, axis=0):
    return np.percentile(samples, [2.5, 50, 97.5], axis=axis)


def make_figures(out, problem, ea_idata, kt_results, conv, cmp, truth) -> dict:
    """PNG figures of the two readings and the evidence; returns {name: path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    temps = problem.temperatures
    figs = {}
    tt = np.linspace(temps.min() * 0.95, temps.max() * 1.05, 200)
    post = ea_idata.posterior
    draws = {n: np.asarray(post[n]).ravel() for n in post.data_vars}
    sel = np.random.default_rng(0).choice(draws["e_i"].size if "e_i" in draws else 1,
                                          size=min(400, draws[next(iter(draws))].size), replace=False)

    def param(name):
        if name in draws:
            return draws[name][sel]
        k = [p.name for p in problem.declared].index(name)
        return np.full(sel.size, problem.priors[k].value)

    li0, ei, lm0, em = param("log10_nu_i0"), param("e_i"), param("log10_nu_mu0"), param("e_mu")
    nu_i = 10 ** (li0[:, None] - 6) * np.exp(-ei[:, None] / (K_B_EV * tt[None, :]))
    nu_mu = 10 ** (lm0[:, None] - 6) * np.exp(-em[:, None] / (K_B_EV * tt[None, :]))
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for arr, color, label in ((nu_i, "C0", "ν_i (EA scan, 95 % band)"), (nu_mu, "C1", "ν_μ (EA scan, 95 % band)")):
        lo, med, hi = _band(arr)
        ax.fill_between(1000 / tt, lo, hi, color=color, alpha=0.3)
        ax.plot(1000 / tt, med, color=color, label=label)
    ax.errorbar(1000 / temps, conv["nu_kt"], yerr=conv["nu_kt_sd"], fmt="ks", ms=4, label="ν_KT (KT per T)")
    if {"log10_nu_i0", "e_i"} <= set(truth):
        ax.plot(1000 / tt, 10 ** (truth["log10_nu_i0"] - 6) * np.exp(-truth["e_i"] / (K_B_EV * tt)), "C0--",
                lw=1, label="ν_i truth")
    if {"log10_nu_mu0", "e_mu"} <= set(truth):
        ax.plot(1000 / tt, 10 ** (truth["log10_nu_mu0"] - 6) * np.exp(-truth["e_mu"] / (K_B_EV * tt)), "C1--",
                lw=1, label="ν_μ truth")
    ax.axvline(1000 / conv["t_star_K"], color="grey", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1e3)
    ax.set_xlabel("1000 / T (K⁻¹)")
    ax.set_ylabel("rate (μs⁻¹)")
    ax.legend(fontsize=8)
    ax.set_title("Jump rates: EA scan model vs the KT reading")
    fig.tight_layout()
    figs["rates"] = out / "rates.png"
    fig.savefig(figs["rates"], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.errorbar(temps, conv["delta_kt"], yerr=conv["delta_kt_sd"], fmt="ks", ms=4, label="Δ_KT (KT per T)")
    if "delta" in conv.get("eq4", {}):
        e4 = conv["eq4"]
        ax.plot(tt, two_state_delta(tt, e4["delta"], e4["q"], e4["n_states"], e4["e_delta_eV"]), "k--", lw=1,
                label=f"Eq. 4 fit: E_Δ = {e4['e_delta_eV']:.2f} eV, Q = {e4['q']:.2f}")
    d, q = param("delta"), param("q")
    for arr, color, label in ((d, "C2", "Δ (EA scan)"), (np.sqrt(1 - q) * d, "C3", "√(1−Q)Δ (EA scan)")):
        lo, med, hi = np.percentile(arr, [2.5, 50, 97.5])
        ax.axhspan(lo, hi, color=color, alpha=0.25)
        ax.axhline(med, color=color, label=label)
    ax.set_xlabel("T (K)")
    ax.set_ylabel("Δ (μs⁻¹)")
    ax.legend(fontsize=8)
    ax.set_title("Linewidth: the Δ_KT drop towards √(1−Q)Δ")
    fig.tight_layout()
    figs["delta"] = out / "delta_kt.png"
    fig.savefig(figs["delta"], dpi=120)
    plt.close(fig)

    # evidence per temperature: pointwise elpd difference summed per T
    loo_ea = cmp["results"]["EA_scan"]
    loo_kt = cmp["results"]["KT_per_T"]
    import arviz as az

    pe = np.asarray(az.loo(loo_ea, pointwise=True).loo_i)
    pk = np.asarray(az.loo(loo_kt, pointwise=True).loo_i)
    obs_t = np.asarray(loo_ea.observed_data["obs_temperature"])
    diff = np.array([np.sum((pe - pk)[obs_t == t]) for t in temps])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.bar(temps, diff, width=0.6 * np.min(np.diff(temps)) if temps.size > 1 else 5, color="C0")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("T (K)")
    ax.set_ylabel("elpd_loo(EA) − elpd_loo(KT)")
    ax.set_title("Where the data prefer EA (positive) or KT (negative)")
    fig.tight_layout()
    figs["evidence"] = out / "evidence_per_temperature.png"
    fig.savefig(figs["evidence"], dpi=120)
    plt.close(fig)

    # spectra with both readings at three temperatures (low, T*, high)
    js = sorted({0, int(np.argmin(np.abs(temps - conv["t_star_K"]))), len(temps) - 1})
    fig, axes = plt.subplots(1, len(js), figsize=(4.2 * len(js), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    x_med = [float(np.median(draws[n])) if n in draws else problem.priors[k].value
             for k, n in enumerate(p.name for p in problem.declared)]
    gs_ea = problem._polarisations(x_med)
    f_shared = problem.holder(x_med)
    lims = []  # model range per panel: the y axis (shared) follows the curves, not the noisy late bins
    for ax, j in zip(axes, js):
        pt = problem.points[j]
        kt_med = (float(np.median(_posterior_array(kt_results[j], "delta"))),
                  float(np.median(_posterior_array(kt_results[j], "nu"))))
        curves = []
        for k, (r, blk, g) in enumerate(zip(pt.runs, problem.blocks[j], gs_ea[j])):
            color = f"C{k % 10}"
            blk.marginal(g)  # nuisances at the EA median; the KT curve is drawn with the same ones
            asym, err = blk.observed_asymmetry(g)
            # after the background subtraction the last bins hold a few counts: their points say nothing
            keep = np.isfinite(asym) & (err < 0.05)
            ax.errorbar(r.t[keep], asym[keep], yerr=err[keep], fmt=".", ms=2, color=color, alpha=0.4,
                        label=f"{r.label}")
            curves.append(blk.asymmetry(g))
            ax.plot(r.t, curves[-1], color=color, lw=1.5)
            gk = dynamic_kt(r.t, kt_med[0], kt_med[1], r.b_lf)
            gk = gk if f_shared is None else (1.0 - f_shared) * gk + f_shared  # as the EA curve's P(t)
            ax.plot(r.t, blk.asymmetry(gk), color="k", lw=0.8, ls="--")
        lims.append((min(float(np.min(c)) for c in curves), max(float(np.max(c)) for c in curves)))
        ax.set_title(f"T = {pt.temperature:g} K (solid EA, dashed KT)", fontsize=9)
        ax.set_xlabel("t (μs)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("asymmetry")
    lo, hi = min(a for a, _ in lims), max(b for _, b in lims)
    pad = 0.15 * max(hi - lo, 0.02)
    axes[0].set_ylim(lo - 2 * pad, hi + pad)
    fig.tight_layout()
    figs["spectra"] = out / "spectra.png"
    fig.savefig(figs["spectra"], dpi=110)
    plt.close(fig)

    # pair plot of the global parameters
    names = [n for n in problem.names if n in draws][:6]
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k, 1.9 * k))
    for i in range(k):
        for jj in range(k):
            ax = axes[i, jj]
            if jj > i:
                ax.axis("off")
                continue
            if i == jj:
                ax.hist(draws[names[i]], bins=30, color="C0")
            else:
                ax.plot(draws[names[jj]], draws[names[i]], ",", color="C0", alpha=0.5)
            if names[i] in truth and i == jj:
                ax.axvline(truth[names[i]], color="C3", lw=1)
            if i == k - 1:
                ax.set_xlabel(names[jj], fontsize=8)
            if jj == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize=8)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    figs["corner"] = out / "corner.png"
    fig.savefig(figs["corner"], dpi=100)
    plt.close(fig)
    return figs


def support_warning(problem, idata) -> str:
    """A warning if the Δ posterior presses against the EA table's support (else '').

    The table covers ω_L/Δ ≤ ω_max and Δ·t ≤ x_max, so for the scan's fields and
    times Δ is confined to [ω_L,max/ω_max, x_max/t_max]; a posterior piled at
    either end is truncated by the table, not by the data.
    """
    from .models import ea_delta_support

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


def _likelihood_line(problem) -> str:
    """Which likelihood the runs got: Poisson for counts, Gaussian for exported asymmetries."""
    kinds = [r.kind for p in problem.points for r in p.runs]
    parts = []
    if n := kinds.count("histograms"):
        parts.append(f"Poisson on the forward/backward counts of {n} histogram run{'s' * (n > 1)} "
                     "(N0 integrated out; A, α, holder fraction and backgrounds by Laplace)")
    if n := kinds.count("asymmetry"):
        parts.append(f"Gaussian on the stored errors of {n} exported asymmetry run{'s' * (n > 1)} "
                     "(amplitude and holder fraction integrated out exactly)")
    return "Likelihood: " + "; ".join(parts) + "."


def _diagnostics_line(diag) -> str:
    worst = max(diag["r_hat"], key=diag["r_hat"].get)
    low = min(diag["ess_bulk"], key=diag["ess_bulk"].get)
    verdict = "goals met" if diag["met"] else "**goals NOT met: treat the intervals with caution**"
    return (f"Diagnostics (unrounded): max R-hat {diag['r_hat'][worst]:.4f} ({worst}; goal < {RHAT_GOAL}), "
            f"min bulk ESS {diag['ess_bulk'][low]:.0f} ({low}; goal > {ESS_GOAL}) — {verdict}.")


def write_report(out, cfg, problem, ea_idata, kt_results, conv, cmp, comparison_text, figures, truth, timings):
    """Markdown report of the scan analysis."""
    from . import compare

    summ = compare.summary(ea_idata, var_names=[n for n in problem.names], hdi_prob=0.95)
    attrs = ea_idata.posterior.attrs
    lines = ["# bayesmusr temperature-scan analysis", "",
             f"Temperatures: {', '.join(f'{t:g}' for t in problem.temperatures)} K; "
             f"runs: {sum(len(p.runs) for p in problem.points)} "
             f"(fields {sorted({r.b_lf for p in problem.points for r in p.runs})} mT).", "",
             _likelihood_line(problem), "",
             "## 1. EA scan model (Arrhenius ion and muon jumps, shared Δ and Q)", "",
             "| parameter | mean | sd | 95 % HDI | R-hat | ESS bulk | ESS tail |" + (" truth |" if truth else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if truth else "")]
    for name in problem.names:
        r = summ.loc[name]
        hdi = [c for c in summ.columns if c.startswith("hdi")]
        tv = f" {truth[name]:g} |" if name in truth else (" – |" if truth else "")
        lines.append(f"| {name} | {r['mean']:.4g} | {r['sd']:.3g} | [{r[hdi[0]]:.4g}, {r[hdi[1]]:.4g}] | "
                     f"{r['r_hat']:.4f} | {r['ess_bulk']:.0f} | {r['ess_tail']:.0f} |" + tv)
    lines += ["", f"Sampler: {attrs.get('sampler', 'emcee')}; {attrs.get('nwalkers')} walkers × "
              f"{attrs.get('n_steps')} steps, τ_max = {float(attrs.get('tau_max', math.nan)):.0f}, chain = "
              f"{float(attrs.get('chain_length_in_tau', math.nan)):.0f} τ; "
              f"{attrs.get('convergence_message', '')}.", "",
              _diagnostics_line(diagnostics(ea_idata, problem.names)), "",
              *([f"**Warning:** {w}", ""] if (w := support_warning(problem, ea_idata)) else []),
              *(x for note in compare.prior_edge_notes(ea_idata) for x in (f"**Prior bound:** {note}", "")),
              "Units: log10_nu_i0, log10_nu_mu0 in log10(s⁻¹); e_i, e_mu in eV; delta in μs⁻¹; q (and fbg, "
              "the shared holder fraction) dimensionless.",
              "", "Derived jump rates per temperature (posterior median [95 % interval], μs⁻¹):", "",
              "| T (K) | ν_i | ν_μ | ν_KT (KT reading) | Δ_KT |", "|---|---|---|---|---|"]
    post = ea_idata.posterior
    for j, t in enumerate(problem.temperatures):
        ni = np.asarray(post[f"nu_i_T{j}"]).ravel()
        nm = np.asarray(post[f"nu_mu_T{j}"]).ravel()
        bi, bm_ = np.percentile(ni, [2.5, 50, 97.5]), np.percentile(nm, [2.5, 50, 97.5])
        lines.append(f"| {t:g} | {bi[1]:.3g} [{bi[0]:.3g}, {bi[2]:.3g}] | {bm_[1]:.3g} [{bm_[0]:.3g}, {bm_[2]:.3g}] | "
                     f"{conv['nu_kt'][j]:.3g} ± {conv['nu_kt_sd'][j]:.2g} | {conv['delta_kt'][j]:.4f} ± "
                     f"{conv['delta_kt_sd'][j]:.2g} |")
    lines += ["", "## 2. The conventional KT reading", "",
              f"T* (maximum of ν_KT) = {conv['t_star_K']:g} K."
              + (" This is the edge of the scan: ν_KT has no maximum inside it, so T* and the Arrhenius "
                 "fit below it only bound the conventional reading." if conv.get("t_star_at_scan_edge") else "")
              + (f" Left out of T*, the Arrhenius fit and Eq. 4: {', '.join(f'{t:g}' for t in conv['undetermined_K'])}"
                 " K, where the KT posterior only fixes Δ²/ν (ν_KT's 84th/16th percentile ratio ≥ "
                 f"{NU_KT_RIDGE_RATIO:g}, or its 97.5th percentile ≥ {NU_KT_RIDGE_BOUND_FRACTION:g} × the prior's "
                 "upper bound: motional narrowing, or a static spectrum)." if conv.get("undetermined_K") else "")]
    if "arrhenius_below_t_star" in conv:
        a = conv["arrhenius_below_t_star"]
        lines.append(f"Arrhenius fit of ν_KT below T*: E = {a['energy_eV']:.3f} ± {a['energy_err_eV']:.3f} eV, "
                     f"ν_0 = {a['nu0_per_s']:.3g} s⁻¹ — the number a KT analysis would report as the ion "
                     "jump activation energy.")
    if "q" in conv.get("eq4", {}):
        e4 = conv["eq4"]
        lines.append(f"Kadono Eq. 4 fit of Δ_KT(T): E_Δ = {e4['e_delta_eV']:.3f} eV, Q = {e4['q']:.3f}, "
                     f"N = {e4['n_states']:.3g}, Δ = {e4['delta']:.4f} μs⁻¹.")
    lines += ["", "## 3. Which reading do the data support? (LOO over all bins)", "", "```", comparison_text, "```",
              ""]
    for key, title in (("rates", "Jump rates"), ("delta", "Linewidth"), ("evidence", "Evidence per temperature"),
                       ("spectra", "Spectra with both readings"), ("corner", "Posterior of the global parameters")):
        if key in figures:
            lines += [f"### {title}", "", f"![{title}]({pathlib.Path(figures[key]).name})", ""]
    lines += ["## 4. Run time", "",
              f"EA scan {timings['ea_scan_s']:.0f} s, KT reading {timings['kt_s']:.0f} s, total "
              f"{timings['total_s']:.0f} s (before writing this report).", "",
              "Files: `ea_scan.nc`, `kt_per_temperature.nc`, `kt/` (per-temperature results), "
              "`comparison.txt`, `conventional.json`, the PNG figures, and the emcee backends (`*.h5`) that let "
              "an interrupted run resume."]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
