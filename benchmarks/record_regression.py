"""Record seeded regression fixtures of the current code: ``tests/regression/baseline.json``.

Written before the package was split into layered subpackages, to pin what the
code computes now.  Everything is seeded; nothing depends on wall-clock budgets.

Entries
-------
spectra
    ``static_kt``, ``dynamic_kt``, ``keren``, ``ea`` (table) and ``ea_direct`` on 41
    times 0–15 μs, six parameter sets each (ZF and LF 1 mT; EA with ν_μ > 0,
    Q ∈ {0.3, 0.8}, Δ ≥ 0.05, LF ≤ 1 mT).  Checked to 1e-9 by tests/test_regression.py.
simulated_point, simulated_scan
    Recipes (seed, physics, nuisances) of the simulated data used below, with
    SHA-256 digests of the forward/backward counts they give.
log_posterior
    Log posteriors at fixed parameter vectors (no sampling):
    ``TemperaturePointProblem`` (dynamic_kt, ea), ``TemperatureProblem`` (every
    nuisance sampled), ``ScanProblem`` (holder_fraction True and "shared").  The
    Laplace-marginal problems anchor their Newton reference at the *first*
    evaluation, so each list is evaluated in its stored order on a fresh problem.
    Also the conditional nuisance optimum ``blk.eta`` (A, ρ = 1/α, f, β_F, β_B) of
    every run after the first evaluation.
fit_kt, fit_ea
    Short seeded ``fit_temperature`` runs on the simulated point (default Laplace
    nuisances): median, SD, min, max of every posterior variable.
fit_emu
    ``fit_temperature`` on tests/data/EMU00020882.nxs as
    ``bayesmusr fit-temperature FILE --model dynamic_kt --t-min 0.25 --t-max 10 --bunch 5 --seed 1``,
    with the Laplace-path diagnostics.

Run (≈ 4 min on 2 cores):  .venv/bin/python benchmarks/record_regression.py [--skip-ea-fit] [--skip-emu]

Timing baseline (``tests/regression/baseline_timing.json``; ≈ 30 s):
``.venv/bin/python benchmarks/record_regression.py --timing [--bench]``: median of 20
``log_posterior`` calls of the problems above (TemperaturePointProblem dynamic_kt and
ea, TemperatureProblem dynamic_kt, 3-temperature ScanProblem with holder_fraction
"shared" and True), the machine load (``uptime``) before and after, and with
``--bench`` the headline numbers of benchmarks/bench_kt.py and bench_ea.py (run as
subprocesses; their results/*.json files are restored afterwards).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import pathlib
import platform
import subprocess
import time
import warnings

import numpy as np

import bayesmusr
from bayesmusr.functions import K_B_EV
from bayesmusr.models import RunData, TemperatureProblem, relaxation
from bayesmusr.sampling import fit_temperature
from bayesmusr.scan import ScanPointData, ScanProblem, TemperaturePointProblem
from bayesmusr.simulate import simulate_run

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "regression" / "baseline.json"
EMU_FILE = "tests/data/EMU00020882.nxs"

TIMES = np.linspace(0.0, 15.0, 41)  # μs

SPECTRA = {
    "static_kt": [{"delta": d, "b_lf": b} for d, b in
                  [(0.3, 0.0), (0.3, 1.0), (0.05, 0.0), (0.05, 1.0), (1.0, 0.0), (1.0, 1.0)]],
    "dynamic_kt": [{"delta": d, "nu": v, "b_lf": b} for d, v, b in
                   [(0.3, 0.01, 0.0), (0.3, 0.5, 0.0), (0.3, 0.5, 1.0), (0.1, 0.05, 1.0), (1.0, 5.0, 0.0),
                    (0.5, 20.0, 1.0)]],
    "keren": [{"delta": d, "nu": v, "b_lf": b} for d, v, b in
              [(0.3, 3.0, 0.0), (0.3, 3.0, 1.0), (0.1, 0.5, 0.0), (0.1, 0.5, 1.0), (1.0, 20.0, 0.0),
               (0.5, 10.0, 1.0)]],
}
_EA_SETS = [{"delta": d, "nu_i": vi, "nu_mu": vm, "q": q, "b_lf": b} for d, vi, vm, q, b in
            [(0.3, 0.5, 0.02, 0.8, 0.0), (0.3, 0.5, 0.02, 0.8, 1.0), (0.3, 2.0, 0.05, 0.3, 0.0),
             (0.05, 0.1, 0.01, 0.3, 1.0), (1.0, 5.0, 0.1, 0.8, 0.0), (0.5, 0.05, 0.2, 0.3, 1.0)]]
SPECTRA["ea"] = _EA_SETS
SPECTRA["ea_direct"] = _EA_SETS

#: the simulated temperature point (EA truth, ZF + LF 1 mT, 2000 bins × 16 ns, 2e6 events per run)
SIM_POINT = {
    "model": "ea",
    "physics": {"delta": 0.35, "nu_i": 0.5, "nu_mu": 0.02, "q": 0.8},
    "fields_mT": [0.0, 1.0],
    "temperature_K": 200.0,
    "seed": 20260101,
    "kwargs": {"n_events": 2e6, "n_bins": 2000, "bin_width": 0.016, "a0": 0.22, "alpha": 1.05, "fbg": 0.05,
               "bgf": 0.002, "bgb": 0.002},
    "note": "one numpy Generator(seed); simulate_run(model, physics, b, rng=rng, temperature_K=T, **kwargs) for b "
            "in fields_mT, in that order; RunData.from_run(run) with no selection",
}

#: Arrhenius truth of the 3-temperature scan (rates per temperature computed from it, stored per point)
SCAN_TRUTH = {"log10_nu_i0": 12.0, "e_i": 0.25, "log10_nu_mu0": 6.0, "e_mu": 0.05, "delta": 0.35, "q": 0.8,
              "fbg": 0.05}
SCAN_TEMPERATURES = [150.0, 200.0, 250.0]
SCAN_SEED = 20260102


def _f(x):
    return float(x)


def _digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes()).hexdigest()


def _git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _y_of(problem, values: dict) -> np.ndarray:
    """Sampling vector of a scan-type problem (log x for log-uniform priors) from physical values by name."""
    y = []
    for p, pr, free in zip(problem.declared, problem.priors, problem.free):
        if free:
            v = float(values[p.name])
            y.append(math.log(v) if pr.log_scale else v)
    y = np.array(y)
    back = problem._physical(y)
    assert np.allclose([back[i] for i, p in enumerate(problem.declared) if p.name in values],
                       [values[p.name] for p in problem.declared if p.name in values], rtol=1e-12)
    return y


# ---------------------------------------------------------------- spectra
def record_spectra():
    funcs = {"static_kt": bayesmusr.static_kt, "dynamic_kt": bayesmusr.dynamic_kt, "keren": bayesmusr.keren,
             "ea": bayesmusr.ea, "ea_direct": bayesmusr.ea_direct}
    out = {"times_us": TIMES.tolist(), "description": (
        "G(t) of each public relaxation function on times_us for each parameter set (keyword arguments, "
        "μs⁻¹ and mT); ea = table interpolation, ea_direct = direct construction (default dx, n_r)."),
        "functions": {}}
    for name, sets in SPECTRA.items():
        rows = []
        for kw in sets:
            t0 = time.perf_counter()
            g = np.asarray(funcs[name](TIMES, **kw), dtype=float)
            rows.append({"kwargs": kw, "values": g.tolist(), "seconds": time.perf_counter() - t0})
        out["functions"][name] = rows
    # informative: table vs direct construction on the same sets
    out["ea_table_minus_direct_max_abs"] = [
        _f(np.max(np.abs(np.array(a["values"]) - np.array(b["values"]))))
        for a, b in zip(out["functions"]["ea"], out["functions"]["ea_direct"])]
    return out


# ---------------------------------------------------------- simulated data
def simulate_point(spec):
    rng = np.random.default_rng(spec["seed"])
    return [simulate_run(spec["model"], spec["physics"], b, rng=rng, temperature_K=spec["temperature_K"],
                         **spec["kwargs"]) for b in spec["fields_mT"]]


def scan_spec():
    points = []
    for T in SCAN_TEMPERATURES:
        nu_i = 10 ** (SCAN_TRUTH["log10_nu_i0"] - 6) * math.exp(-SCAN_TRUTH["e_i"] / (K_B_EV * T))
        nu_mu = 10 ** (SCAN_TRUTH["log10_nu_mu0"] - 6) * math.exp(-SCAN_TRUTH["e_mu"] / (K_B_EV * T))
        points.append({"temperature_K": T, "physics": {"delta": SCAN_TRUTH["delta"], "nu_i": nu_i, "nu_mu": nu_mu,
                                                        "q": SCAN_TRUTH["q"]}})
    kwargs = dict(SIM_POINT["kwargs"], fbg=SCAN_TRUTH["fbg"])
    return {"model": "ea", "truth": SCAN_TRUTH, "points": points, "fields_mT": [0.0, 1.0], "seed": SCAN_SEED,
            "kwargs": kwargs,
            "note": "one numpy Generator(seed) for the whole scan; for each point in order, for b in fields_mT: "
                    "simulate_run('ea', point physics, b, rng=rng, temperature_K=T, **kwargs); "
                    "RunData.from_run(run); rates ν(T) = 10^(log10_ν0 − 6) exp(−E/k_B T) μs⁻¹"}


def simulate_scan(spec):
    rng = np.random.default_rng(spec["seed"])
    out = []
    for pt in spec["points"]:
        runs = [simulate_run(spec["model"], pt["physics"], b, rng=rng, temperature_K=pt["temperature_K"],
                             **spec["kwargs"]) for b in spec["fields_mT"]]
        out.append(ScanPointData(pt["temperature_K"], [RunData.from_run(r) for r in runs]))
    return out


def run_digests(rundata):
    return [{"label": r.label, "n_bins": int(r.t.size), "forward_sum": _f(r.forward.sum()),
             "backward_sum": _f(r.backward.sum()), "forward_sha256": _digest(r.forward),
             "backward_sha256": _digest(r.backward), "t_sha256": _digest(r.t)} for r in rundata]


# ------------------------------------------------------------- log posteriors
TPP_POINTS = {
    "dynamic_kt": [{"delta": 0.33, "nu": 0.32}, {"delta": 0.30, "nu": 0.30}, {"delta": 0.35, "nu": 0.25},
                   {"delta": 0.25, "nu": 0.6}, {"delta": 0.5, "nu": 0.05}],
    "ea": [{"delta": 0.36, "nu_i": 0.85, "nu_mu": 0.02, "q": 0.67}, {"delta": 0.35, "nu_i": 0.5, "nu_mu": 0.02, "q": 0.8},
           {"delta": 0.3, "nu_i": 2.0, "nu_mu": 0.05, "q": 0.5}, {"delta": 0.45, "nu_i": 0.2, "nu_mu": 0.01, "q": 0.9},
           {"delta": 0.25, "nu_i": 5.0, "nu_mu": 0.1, "q": 0.3}],
}
_NUIS = {"a0_0": 0.206, "alpha_0": 1.078, "fbg_0": 0.03, "bgf_0": 0.00198, "bgb_0": 0.00199,
         "a0_1": 0.229, "alpha_1": 1.035, "fbg_1": 0.04, "bgf_1": 0.0020, "bgb_1": 0.00199}
TP_POINTS = {
    "dynamic_kt": [dict(_NUIS, delta=0.33, nu=0.32), dict(_NUIS, delta=0.30, nu=0.40, fbg_0=0.0, fbg_1=0.1),
                   dict(_NUIS, delta=0.40, nu=0.2, a0_0=0.22, alpha_1=1.05, bgb_1=0.0021)],
    "ea": [dict(_NUIS, delta=0.35, nu_i=0.5, nu_mu=0.02, q=0.8),
           dict(_NUIS, delta=0.3, nu_i=2.0, nu_mu=0.05, q=0.5, fbg_0=0.1)],
}
SCAN_POINTS = [dict(SCAN_TRUTH), dict(SCAN_TRUTH, e_i=0.3, log10_nu_i0=13.0, q=0.6, fbg=0.1),
               dict(SCAN_TRUTH, delta=0.3, e_mu=0.02, log10_nu_mu0=5.5, q=0.9, fbg=0.0)]


def _eta_record(problem):
    return [{"label": blk.run.label, "names": list(blk.names), "eta": [_f(v) for v in blk.eta]}
            for blk in problem.blocks[0]]


def record_log_posteriors(point_runs, scan_points):
    out = {"description": (
        "log posterior (up to the problem's constant) at fixed points; 'physical' = parameter values by name, "
        "'y' = the sampling vector passed to log_posterior (log x for log-uniform priors, order 'names'). "
        "Each list is evaluated in order on a freshly built problem (the Laplace blocks anchor their Newton "
        "reference at the first evaluation)."), "entries": []}
    point = ScanPointData(SIM_POINT["temperature_K"], point_runs)
    for model, pts in TPP_POINTS.items():
        p = TemperaturePointProblem(point, model)
        rows = []
        for k, vals in enumerate(pts):
            y = _y_of(p, vals)
            rows.append({"physical": vals, "y": y.tolist(), "log_posterior": _f(p.log_posterior(y))})
            if k == 0:
                eta = _eta_record(p)
        out["entries"].append({
            "problem": "TemperaturePointProblem", "data": "simulated_point", "model": model,
            "options": {"holder_fraction": True, "count_background": True}, "names": p.names, "points": rows,
            "eta_after_first_point": eta,
            "description": f"scan.TemperaturePointProblem(ScanPointData(T, runs), '{model}').log_posterior(y): "
                           "per-run nuisances Laplace-marginalised; eta_after_first_point = blk.eta of each "
                           "HistogramNuisances block after the first evaluation (A, ρ = 1/α, f, β_F, β_B)"})
    for model, pts in TP_POINTS.items():
        p = TemperatureProblem(point_runs, model)
        rows = [{"physical": vals, "y": p.to_sampled(vals).tolist(),
                 "log_posterior": _f(p.log_posterior(p.to_sampled(vals)))} for vals in pts]
        out["entries"].append({
            "problem": "TemperatureProblem", "data": "simulated_point", "model": model,
            "options": {"holder_fraction": True, "extra_relaxation": False, "count_background": True},
            "names": p.names, "points": rows,
            "description": f"models.TemperatureProblem(runs, '{model}').log_posterior(y): every nuisance sampled "
                           "(N0 integrated out analytically); stateless"})
    for holder in ("shared", True):
        p = ScanProblem(scan_points, holder_fraction=holder)
        rows = []
        for vals in SCAN_POINTS:
            v = {k: x for k, x in vals.items() if k in p.names}
            y = _y_of(p, v)
            rows.append({"physical": v, "y": y.tolist(), "log_posterior": _f(p.log_posterior(y))})
        out["entries"].append({
            "problem": "ScanProblem", "data": "simulated_scan", "model": "ea_arrhenius_scan",
            "options": {"holder_fraction": holder, "pooled_delta": False, "count_background": True},
            "names": p.names, "points": rows,
            "description": f"scan.ScanProblem(points, holder_fraction={holder!r}).log_posterior(y), 3 temperatures "
                           "× (ZF, LF 1 mT)"})
    return out


# --------------------------------------------------------------------- fits
def _posterior_stats(idata):
    post = idata.posterior
    stats = {}
    for k in post.data_vars:
        v = np.asarray(post[k].values, dtype=float).ravel()
        stats[k] = {"median": _f(np.median(v)), "sd": _f(np.std(v, ddof=1)), "min": _f(v.min()), "max": _f(v.max()),
                    "n": int(v.size)}
    a = post.attrs
    info = {k: a[k] for k in ("nuisances", "nwalkers", "n_steps", "burn_in", "thin", "converged",
                              "convergence_message", "tau_max", "seconds_total", "seconds_mcmc") if k in a}
    info["tau"] = dict(zip(str(a.get("tau_names", "")).split("; "), np.atleast_1d(a.get("tau", [])).tolist())) \
        if isinstance(a.get("tau_names"), str) else a.get("tau")
    info["map_sampling_coordinates"] = np.atleast_1d(a.get("map_sampling_coordinates", [])).tolist()
    info["map_log_posterior"] = _f(a.get("map_log_posterior", math.nan))
    info = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in info.items()}
    return stats, info


def _fbg_summary(stats):
    return {k: {"min": v["min"], "max": v["max"], "median": v["median"],
                "below_0": v["min"] < 0.0, "above_1": v["max"] > 1.0}
            for k, v in stats.items() if k.startswith("fbg")}


def record_fit(runs, model, settings, description):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = fit_temperature(runs, model, seed=1, **settings)
    secs = time.perf_counter() - t0
    stats, info = _posterior_stats(idata)
    return {"description": description, "model": model, "seed": 1, "settings": settings, "seconds": secs,
            "posterior": stats, "sampler": info, "fbg_ranges": _fbg_summary(stats),
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught]}


def record_emu():
    from bayesmusr import _kernels
    from bayesmusr.scan import _NO_PREDICTOR, HistogramNuisances

    path = ROOT / EMU_FILE
    sel = {"t_min": 0.25, "t_max": 10.0, "bunch": 5}
    settings = dict(sel, progress=False)
    out = record_fit([str(path)], "dynamic_kt", settings, (
        "fit_temperature(['tests/data/EMU00020882.nxs'], 'dynamic_kt', t_min=0.25, t_max=10, bunch=5, seed=1) = "
        "CLI 'bayesmusr fit-temperature FILE --model dynamic_kt --t-min 0.25 --t-max 10 --bunch 5 --seed 1' "
        "(default sampler settings, nuisances='auto'); ISIS EMU 20882, Cu, ZF"))
    out["file"] = EMU_FILE
    out["file_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    rd = RunData.from_run(str(path), **sel)
    out["data"] = run_digests([rd])
    out["data"][0]["t_first"], out["data"][0]["t_last"] = _f(rd.t[0]), _f(rd.t[-1])
    # the Laplace path refuses this run: record why (conditional optimum of the nuisances at a few physics values)
    try:
        fit_temperature([str(path)], "dynamic_kt", nuisances="laplace", seed=1, progress=False, **sel)
        out["laplace_path"] = "fit ran (unexpected)"
    except ValueError as exc:
        out["laplace_path"] = f"ValueError: {exc}"
    blk = HistogramNuisances(rd)
    diag = []
    med = out["posterior"]
    for th in [(med["delta"]["median"], med["nu"]["median"]), (0.3, 0.1), (0.1, 0.01), (0.6, 5.0)]:
        g = relaxation("dynamic_kt", rd.t, 0.0, th)
        e0 = blk._start(g)
        _, eta, _, ok = _kernels.laplace_newton(blk.d, g, blk.nf, blk.nb, e0, blk.free, blk.LOWER, blk.UPPER,
                                                _NO_PREDICTOR)
        diag.append({"delta_nu": [_f(v) for v in th], "relaxed_start": [_f(v) for v in e0],
                     "newton_end": [_f(v) for v in eta], "converged": bool(ok)})
    out["laplace_diagnostic"] = {
        "description": "damped Newton (A, ρ = 1/α, f, β_F, β_B) from HistogramNuisances' relaxed start at fixed "
                       "(Δ, ν); box f ∈ [−1, 1] (LOWER/UPPER) although the declared fbg prior is [0, 1]",
        "box_lower": HistogramNuisances.LOWER.tolist(), "box_upper": HistogramNuisances.UPPER.tolist(),
        "points": diag}
    return out


# ------------------------------------------------------------------- timing
def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _median_time(fn, repeat=20):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return float(np.median(out)), float(np.min(out)), float(np.max(out))


def time_log_posteriors(point_runs, scan_points):
    """Median of 20 log_posterior calls at the second stored point, after the first (anchor) evaluation."""
    point = ScanPointData(SIM_POINT["temperature_K"], point_runs)
    cases = [("TemperaturePointProblem", "dynamic_kt", lambda: TemperaturePointProblem(point, "dynamic_kt"),
              TPP_POINTS["dynamic_kt"]),
             ("TemperaturePointProblem", "ea", lambda: TemperaturePointProblem(point, "ea"), TPP_POINTS["ea"]),
             ("TemperatureProblem", "dynamic_kt", lambda: TemperatureProblem(point_runs, "dynamic_kt"),
              TP_POINTS["dynamic_kt"]),
             ("ScanProblem", "holder_fraction=shared", lambda: ScanProblem(scan_points, holder_fraction="shared"),
              SCAN_POINTS),
             ("ScanProblem", "holder_fraction=True", lambda: ScanProblem(scan_points, holder_fraction=True),
              SCAN_POINTS)]
    rows = []
    for name, variant, make, pts in cases:
        p = make()
        if name == "TemperatureProblem":
            ys = [p.to_sampled(v) for v in pts[:2]]
        else:
            ys = [_y_of(p, {k: x for k, x in v.items() if k in p.names}) for v in pts[:2]]
        p.log_posterior(ys[0])  # anchor (and compile / load tables)
        p.log_posterior(ys[1])
        med, lo, hi = _median_time(lambda p=p, y=ys[1]: p.log_posterior(y))
        n_bins = sum(r.n_obs for pt in getattr(p, "points", [point]) for r in pt.runs) if name != "TemperatureProblem" \
            else sum(r.n_obs for r in point_runs)
        rows.append({"problem": name, "variant": variant, "median_s": med, "min_s": lo, "max_s": hi, "repeat": 20,
                     "time_bins_total": int(n_bins)})
        print(f"log_posterior {name} {variant}: median {med * 1e3:.3f} ms", flush=True)
    return rows


def run_benches():
    """Run bench_kt.py and bench_ea.py (≤ 3 min each), keep their results, restore their results/*.json."""
    import sys

    out = {}
    for bench, res in (("bench_kt.py", "kt.json"), ("bench_ea.py", "ea.json")):
        path = ROOT / "benchmarks" / "results" / res
        before = path.read_bytes() if path.exists() else None
        t0 = time.perf_counter()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [v for v in [os.environ.get("PYTHONPATH")]
                                                                         if v]))  # this tree's bayesmusr
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / bench)], cwd=ROOT, capture_output=True,
                              text=True, timeout=180, env=env, check=False)
        secs = time.perf_counter() - t0
        data = json.loads(path.read_text()) if proc.returncode == 0 else None
        if before is not None:
            path.write_bytes(before)
        entry = {"command": f"python benchmarks/{bench}", "seconds": secs, "returncode": proc.returncode,
                 "stdout": proc.stdout.strip().splitlines()}
        if data is not None and bench == "bench_kt.py":
            entry["headline"] = {r["case"]: {"bayesmusr_ms": r["bayesmusr_median_s"] * 1e3,
                                             "baseline_ms": r["baseline_median_s"] * 1e3, "speedup": r["speedup"]}
                                 for r in data["results"]}
        elif data is not None:
            entry["headline"] = {
                "evaluation_2000_bins": {f"delta={r['delta_per_us']} B={r['b_lf_mT']} mT":
                                         {"ea_us": r["ea_median_us"], "dynamic_kt_us": r["dynamic_kt_median_us"]}
                                         for r in data["evaluation"]},
                "build_point": {f"nu_i/delta={r['nu_i_over_delta']} Q={r['q']} w/delta={r['omega_over_delta']}":
                                {"construction_s": r["construction_s"], "mc_s_at_2e5_muons": r["mc_s_at_2e5_muons"]}
                                for r in data["build_cost"]}}
        entry["results"] = data
        out[bench] = entry
        print(f"{bench}: {secs:.1f} s", flush=True)
    return out


def record_timing(bench: bool, out_path: pathlib.Path, note: str = ""):
    res = {"description": "Timing baseline before the subpackage restructure (benchmarks/record_regression.py "
                          "--timing); times in seconds unless the key says otherwise",
           "commit": _git("rev-parse", "HEAD"), "date_utc": datetime.datetime.now(datetime.UTC)
           .isoformat(timespec="seconds"), "machine": {"cpus": os.cpu_count(), "machine": platform.machine(),
                                                       "processor": platform.processor(),
                                                       "python": platform.python_version()},
           "uptime_before": _uptime(), "note": note}
    runs = simulate_point(SIM_POINT)
    point_rd = [RunData.from_run(r) for r in runs]
    scan_points = simulate_scan(scan_spec())
    res["log_posterior"] = {"description": "median (min, max) of 20 log_posterior(y) calls at the second stored point "
                                           "of each problem in baseline.json, after evaluating the first (anchor) "
                                           "and the second once; data as in baseline.json",
                            "rows": time_log_posteriors(point_rd, scan_points)}
    res["benchmarks"] = run_benches() if bench else {"skipped": "run with --bench"}
    res["uptime_after"] = _uptime()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    print(f"written {out_path}")


# --------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-ea-fit", action="store_true")
    ap.add_argument("--skip-emu", action="store_true")
    ap.add_argument("--out", default=None, help="output JSON (default tests/regression/baseline.json, or "
                                                "baseline_timing.json with --timing)")
    ap.add_argument("--timing", action="store_true", help="write the timing baseline instead of the fixtures")
    ap.add_argument("--bench", action="store_true", help="with --timing: also run bench_kt.py and bench_ea.py")
    ap.add_argument("--note", default="", help="with --timing: free text stored in the JSON (e.g. other load)")
    args = ap.parse_args(argv)
    if args.timing:
        record_timing(args.bench, pathlib.Path(args.out or OUT.with_name("baseline_timing.json")), args.note)
        return
    args.out = args.out or str(OUT)
    t_all = time.perf_counter()
    import numba
    import scipy

    res = {
        "description": "Seeded regression fixtures of bayesmusr before the subpackage restructure "
                       "(benchmarks/record_regression.py; checked by tests/test_regression.py).",
        "commit": _git("rev-parse", "HEAD"),
        "commit_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                        "numba": numba.__version__, "machine": platform.machine(),
                        "bayesmusr_file": str(pathlib.Path(bayesmusr.__file__).resolve().relative_to(ROOT))},
        "seconds": {},
    }

    def timed(name, fn, *a):
        t0 = time.perf_counter()
        v = fn(*a)
        res["seconds"][name] = time.perf_counter() - t0
        print(f"{name}: {res['seconds'][name]:.1f} s", flush=True)
        return v

    res["spectra"] = timed("spectra", record_spectra)
    runs = timed("simulate_point", simulate_point, SIM_POINT)
    point_rd = [RunData.from_run(r) for r in runs]
    res["simulated_point"] = dict(SIM_POINT, runs=run_digests(point_rd),
                                  description="simulated temperature point (EA truth) used by log_posterior and fits")
    sspec = scan_spec()
    scan_points = timed("simulate_scan", simulate_scan, sspec)
    res["simulated_scan"] = dict(sspec, runs=[run_digests(p.runs) for p in scan_points],
                                 description="simulated 3-temperature EA scan used by the ScanProblem entries")
    res["log_posterior"] = timed("log_posterior", record_log_posteriors, point_rd, scan_points)
    kt_settings = {"max_steps": 2000, "progress": False}
    res["fit_kt"] = timed("fit_kt", record_fit, runs, "dynamic_kt", kt_settings,
                          "fit_temperature(simulated_point runs, 'dynamic_kt', seed=1, max_steps=2000), default "
                          "(Laplace) nuisances; stats over all retained draws (sd with ddof=1)")
    if args.skip_ea_fit:
        res["fit_ea"] = {"skipped": "--skip-ea-fit"}
    else:
        res["fit_ea"] = timed("fit_ea", record_fit, runs, "ea", {"max_steps": 6000, "progress": False},
                              "fit_temperature(simulated_point runs, 'ea', seed=1, max_steps=6000), default "
                              "(Laplace) nuisances")
    res["fit_emu"] = {"skipped": "--skip-emu"} if args.skip_emu else timed("fit_emu", record_emu)
    res["seconds"]["total"] = time.perf_counter() - t_all
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    print(f"written {out} in {res['seconds']['total']:.0f} s")


if __name__ == "__main__":
    main()
