"""Benchmark the temperature-scan analysis (issues 6 and 19): wall time to convergence, memory, diagnostics.

Fits the embedded Kadono scan (12 temperatures 150–400 K, ZF + LF 1 mT, 10 M events
per spectrum; examples/data/scan) with the EA scan model (`examples/demo_analysis.toml`)
and reports, for the code of this checkout and for a baseline checkout (issue 19: commit
4d4ee95, ``benchmarks/_baseline.py``) measured in the same run, each in its own process:

* wall time of the EA scan fit (MAP, start, emcee, outputs) and of the whole job (KT
  reading in a second process, LOO, figures), and the CPU seconds of all processes;
* peak resident memory of the job's process (``ru_maxrss``) and of its largest child
  (the parallel KT reading);
* split R-hat and bulk ESS of every global parameter (goal: R-hat < 1.01, ESS > 400, met
  in the timed run), posterior mean, SD and whether the 95 % interval holds Kadono's value;
* the cost of one log-posterior evaluation of the scan model near the truth.

Run: .venv/bin/python benchmarks/bench_scan.py [--baseline /tmp/b19-base]  (writes benchmarks/results/scan.json)
     .venv/bin/python benchmarks/bench_scan.py --evaluations-only   (the log-posterior cost alone, minutes)
     .venv/bin/python benchmarks/bench_scan.py --posterior-only   (the EA scan posterior alone, both codes at once)
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import os
import platform
import resource
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from _baseline import DEFAULT_BASELINE, check_baseline, load_average, measure_both  # noqa: E402


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the parallel KT reading runs in one)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure():
    """One timed scan job with the imported bayesmusr; the measurements as a dict."""
    import bayesmusr
    from bayesmusr.inference import compare
    from bayesmusr.workflows.scan import load_config, load_scan
    from bayesmusr.job import run_analysis
    from bayesmusr.model.scan import ScanProblem

    config = ROOT / "examples" / "demo_analysis.toml"
    cfg, base = load_config(config)
    truth = cfg["truth"]
    points = load_scan(cfg, base)
    prob = ScanProblem(points, holder_fraction=cfg.get("model", {}).get("holder_fraction", True))
    y = np.array([truth[n] if n != "delta" else math.log(truth[n]) for n in prob.names])
    prob.log_posterior(y)  # reference nuisances, compile
    rng = np.random.default_rng(0)
    ys = [y + 1e-3 * rng.standard_normal(y.size) for _ in range(50)]
    t0 = time.perf_counter()
    for yy in ys:
        prob.log_posterior(yy)
    t_eval = (time.perf_counter() - t0) / len(ys)
    del prob, points
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(prefix="bench_scan_") as out:
        out = pathlib.Path(out)
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        run_analysis(config, out_dir=out, progress=False)
        total = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        idata = compare.load(out / "ea_scan.nc")
    import arviz as az

    post = idata.posterior
    names = [n for n in post.data_vars if n in truth]
    rhat = az.rhat(idata, var_names=names)
    ess = az.ess(idata, var_names=names, method="bulk")
    rows = {}
    for n in names:
        draws = np.asarray(post[n]).ravel()
        lo, hi = np.percentile(draws, [2.5, 97.5])
        rows[n] = {"mean": float(draws.mean()), "sd": float(draws.std()), "q2.5": float(lo), "q97.5": float(hi),
                   "truth": truth[n], "truth_in_95": bool(lo <= truth[n] <= hi), "r_hat": float(rhat[n]),
                   "ess_bulk": float(ess[n])}
    a = post.attrs
    return {"bayesmusr": bayesmusr.__file__, "load_average_end": load_average(),
            "seconds_ea_scan_fit": float(a.get("seconds_total", math.nan)),
            "seconds_ea_scan_mcmc": float(a.get("seconds_mcmc", math.nan)),
            "seconds_whole_job": total, "cpu_seconds_whole_job_all_processes": cpu,
            "peak_rss_mb_before_job": rss_before / 1024,
            "peak_rss_mb_job_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_rss_mb_largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "walkers": int(a.get("nwalkers", 0)), "steps": int(a.get("n_steps", 0)),
            "tau_max": float(a.get("tau_max", math.nan)), "converged": int(a.get("converged", 0)),
            "sampler": str(a.get("sampler", "")),
            "all_rhat_below_1.01": all(r["r_hat"] < 1.01 for r in rows.values()),
            "all_ess_bulk_above_400": all(r["ess_bulk"] > 400 for r in rows.values()),
            "parameters": rows, "log_posterior_ms_scan_model": t_eval * 1e3}


def measure_evaluations(n=100):
    """Only the scan model's log-posterior: median and mean time at ``n`` points around the truth."""
    import statistics

    import bayesmusr
    from bayesmusr.workflows.scan import load_config, load_scan
    from bayesmusr.model.scan import ScanProblem

    cfg, base = load_config(ROOT / "examples" / "demo_analysis.toml")
    truth = cfg["truth"]
    prob = ScanProblem(load_scan(cfg, base), holder_fraction=cfg.get("model", {}).get("holder_fraction", True))
    y = np.array([truth[k] if k != "delta" else math.log(truth[k]) for k in prob.names])
    anchor = getattr(prob, "anchor", prob.log_posterior)  # the sampler anchors at the MAP where it can
    anchor(y)
    # about one posterior SD per parameter (benchmarks/results/scan.json of the baseline run)
    sd = {"log10_nu_i0": 0.6, "e_i": 0.03, "log10_nu_mu0": 0.05, "e_mu": 0.002, "delta": 0.01, "q": 0.01,
          "fbg": 0.005}
    rng = np.random.default_rng(0)
    ys = [y + np.array([sd.get(k, 0.01) for k in prob.names]) * rng.standard_normal(y.size) for _ in range(n)]
    times = []
    for yy in ys:
        t0 = time.perf_counter()
        prob.log_posterior(yy)
        times.append(time.perf_counter() - t0)
    return {"bayesmusr": bayesmusr.__file__, "log_posterior_median_ms": 1e3 * statistics.median(times),
            "log_posterior_mean_ms": 1e3 * statistics.fmean(times), "points": n}


def measure_posterior():
    """Only the EA scan posterior (`sample` with the demo configuration's sampler settings), no KT reading or
    report: wall time, chain, convergence of every global parameter and the process's peak memory."""
    import warnings

    import arviz as az

    import bayesmusr
    from bayesmusr.inference.sampling import ConvergenceWarning, sample
    from bayesmusr.model.scan import ScanProblem
    from bayesmusr.workflows.scan import load_config, load_scan

    cfg, base = load_config(ROOT / "examples" / "demo_analysis.toml")
    model = cfg.get("model", {})
    settings = dict(cfg.get("sampler", {}))
    seed = int(settings.pop("seed", 1))
    t0 = time.perf_counter()
    prob = ScanProblem(load_scan(cfg, base), cfg.get("priors"), pooled_delta=bool(model.get("pooled_delta", False)),
                       holder_fraction=model.get("holder_fraction", True),
                       count_background=bool(model.get("count_background", True)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        idata = sample(prob, seed=seed, progress=False, **settings)
    wall = time.perf_counter() - t0
    rhat = az.rhat(idata, var_names=prob.names)
    ess = az.ess(idata, var_names=prob.names, method="bulk")
    a = idata.posterior.attrs
    r = {n: float(rhat[n]) for n in prob.names}
    e = {n: float(ess[n]) for n in prob.names}
    return {"bayesmusr": bayesmusr.__file__, "settings": settings, "wall_s": wall,
            "seconds_total": float(a["seconds_total"]), "seconds_mcmc": float(a["seconds_mcmc"]),
            "steps": int(a["n_steps"]), "walkers": int(a["nwalkers"]), "tau_max": float(a["tau_max"]),
            "converged": int(a["converged"]), "r_hat": r, "ess_bulk": e,
            "convergence_met": all(v < 1.01 for v in r.values()) and all(v > 400 for v in e.values()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "load_average_end": load_average()}


def posterior_only(baseline):
    """The EA scan posterior alone, baseline and new at the same time (added to scan.json)."""
    from _baseline import measure_both_concurrently

    b, n = measure_both_concurrently(__file__, baseline, ["--posterior-only"])
    for label, r in (("baseline", b), ("new", n)):
        print(f"{label:8s}: EA scan posterior {r['wall_s']:.0f} s ({r['steps']} steps × {r['walkers']}, τ_max "
              f"{r['tau_max']:.0f}, MCMC {r['seconds_mcmc']:.0f} s), max R-hat {max(r['r_hat'].values()):.4f}, "
              f"min ESS {min(r['ess_bulk'].values()):.0f}, met {r['convergence_met']}; peak RSS {r['peak_rss_mb']:.0f} MB")
    print(f"ratio baseline/new: wall ×{b['wall_s'] / n['wall_s']:.2f}, peak RSS ×{b['peak_rss_mb'] / n['peak_rss_mb']:.2f}")
    path = ROOT / "benchmarks" / "results" / "scan.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    out["posterior_only"] = {"baseline_checkout": str(baseline), "baseline": b, "new": n,
                             "note": "baseline and new run at the same time, each in its own process",
                             "ratio_wall_baseline_over_new": b["wall_s"] / n["wall_s"]}
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


def quick(baseline):
    """Log-posterior cost of the scan model, baseline against new, three alternating rounds (added to scan.json)."""
    import statistics

    base, new = measure_both(__file__, baseline, ["--evaluations-only"], rounds=3)
    b = statistics.median(r["log_posterior_mean_ms"] for r in base)
    n = statistics.median(r["log_posterior_mean_ms"] for r in new)
    print(f"scan log-posterior, mean over 100 points near the truth (median of 3 rounds): baseline {b:.2f} ms, "
          f"new {n:.2f} ms, ratio ×{b / n:.2f}")
    path = ROOT / "benchmarks" / "results" / "scan.json"
    out = json.loads(path.read_text()) if path.exists() else {}
    out["log_posterior_only"] = {"baseline_checkout": str(baseline), "load_average_end": load_average(),
                                 "baseline_runs": base, "new_runs": new, "baseline_mean_ms": b, "new_mean_ms": n,
                                 "ratio_baseline_over_new": b / n}
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="baseline checkout (benchmarks/_baseline.py)")
    ap.add_argument("--measure", action="store_true", help="measure the imported bayesmusr only (one JSON line)")
    ap.add_argument("--evaluations-only", action="store_true",
                    help="with --measure: only the log-posterior cost; alone: compare that only (minutes, not an hour)")
    ap.add_argument("--posterior-only", action="store_true",
                    help="the EA scan posterior alone (no KT reading, LOO or report), baseline and new concurrently")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure_posterior() if args.posterior_only else
                         measure_evaluations() if args.evaluations_only else measure()))
        return
    if args.evaluations_only:
        quick(check_baseline(args.baseline))
        return
    if args.posterior_only:
        posterior_only(check_baseline(args.baseline))
        return
    baseline = check_baseline(args.baseline)
    load_start = load_average()
    (b,), (n,) = measure_both(__file__, baseline, timeout=7200)
    for label, r in (("baseline", b), ("new", n)):
        print(f"{label:8s}: EA scan fit {r['seconds_ea_scan_fit']:.0f} s (MCMC {r['seconds_ea_scan_mcmc']:.0f} s, "
              f"{r['steps']} steps × {r['walkers']}, τ_max {r['tau_max']:.0f}), whole job {r['seconds_whole_job']:.0f} "
              f"s, {r['cpu_seconds_whole_job_all_processes']:.0f} s CPU; peak RSS {r['peak_rss_mb_job_process']:.0f} "
              f"MB (KT child {r['peak_rss_mb_largest_child']:.0f} MB); one log-posterior "
              f"{r['log_posterior_ms_scan_model']:.2f} ms; R-hat < 1.01: {r['all_rhat_below_1.01']}, ESS > 400: "
              f"{r['all_ess_bulk_above_400']}")
        for name, p in r["parameters"].items():
            print(f"    {name:13s} mean {p['mean']:.4g} sd {p['sd']:.3g} truth {p['truth']:g} "
                  f"{'in' if p['truth_in_95'] else 'OUT'}  R-hat {p['r_hat']:.4f} ESS {p['ess_bulk']:.0f}")
    ratios = {k: b[k] / n[k] for k in ("seconds_ea_scan_fit", "seconds_whole_job", "peak_rss_mb_job_process",
                                       "log_posterior_ms_scan_model")}
    print("ratios baseline/new: " + ", ".join(f"{k} ×{v:.2f}" for k, v in ratios.items()))
    result = {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
              "scan": "examples/data/scan (12 T, ZF + LF 1 mT, 1e7 events/spectrum, bunch 4, t <= 20 us)",
              "baseline_checkout": str(baseline), "load_average_start": load_start,
              "note": ("the machine is shared: baseline and new measured in the same run, one after the other, "
                       "each in its own process; compare wall time with CPU seconds and the load averages"),
              "baseline": b, "new": n, "ratios_baseline_over_new": ratios}
    path = ROOT / "benchmarks" / "results" / "scan.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
