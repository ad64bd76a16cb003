"""Benchmark the temperature-scan analysis (issue 6): wall time to convergence, diagnostics, recovery.

Fits the embedded Kadono scan (12 temperatures 150–400 K, ZF + LF 1 mT, 10 M events
per spectrum; examples/data/scan) with the EA scan model and reports

* wall time of the EA scan fit and of the whole job (KT reading, LOO, figures);
* R-hat and bulk ESS of every global parameter (goal: R-hat < 1.01, ESS > 400);
* posterior mean, SD and whether the 95 % interval contains Kadono's value;
* the cost of one log-posterior evaluation of the scan model (nuisances Laplace-
  marginalised, 6 sampled dimensions) against the same likelihood written with
  every nuisance explicit (bayesmusr.model.temperature.TemperatureProblem summed over the 12
  temperatures, 6 + 12×10 dimensions) — the ratio measured in the same process.

Run: .venv/bin/python benchmarks/bench_scan.py [output-folder]  (writes benchmarks/results/scan.json)
"""
from __future__ import annotations

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


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the parallel KT reading runs in one)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main():
    from bayesmusr import compare
    from bayesmusr.workflows.scan import load_config, load_scan
    from bayesmusr.job import run_analysis
    from bayesmusr.model.temperature import TemperatureProblem
    from bayesmusr.model.scan import ScanProblem

    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tempfile.mkdtemp(prefix="bench_scan_"))
    config = ROOT / "examples" / "demo_analysis.toml"
    cfg, base = load_config(config)
    truth = cfg["truth"]

    # per-evaluation cost: Laplace-marginalised scan model vs explicit nuisances
    points = load_scan(cfg, base)
    prob = ScanProblem(points, holder_fraction=cfg.get("model", {}).get("holder_fraction", True))
    y = np.array([truth[n] if n != "delta" else math.log(truth[n]) for n in prob.names])
    prob.log_posterior(y)  # reference nuisances, compile
    rng = np.random.default_rng(0)
    ys = [y + 1e-4 * rng.standard_normal(y.size) for _ in range(30)]
    t0 = time.perf_counter()
    for yy in ys:
        prob.log_posterior(yy)
    t_scan = (time.perf_counter() - t0) / len(ys)
    explicit = [TemperatureProblem(p.runs, "ea") for p in points]
    vecs = [tp.to_sampled(tp.default_values()) for tp in explicit]
    for tp, v in zip(explicit, vecs):
        tp.log_posterior(v)
    t0 = time.perf_counter()
    for _ in range(10):
        for tp, v in zip(explicit, vecs):
            tp.log_posterior(v)
    t_explicit = (time.perf_counter() - t0) / 10
    dims_explicit = sum(len(v) for v in vecs) - 4 * len(explicit) + 6  # per-run f, as the explicit model has
    print(f"one log-posterior: scan model {t_scan * 1e3:.2f} ms ({prob.ndim} sampled dims); explicit nuisances "
          f"{t_explicit * 1e3:.2f} ms ({dims_explicit} dims); ratio {t_explicit / t_scan:.2f}")

    load_start = os.getloadavg()
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    run_analysis(config, out_dir=out, progress=False)
    total = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    load_end = os.getloadavg()
    idata = compare.load(out / "ea_scan.nc")
    rows = {}
    post = idata.posterior
    import arviz as az

    rhat = az.rhat(idata, var_names=prob.names)
    ess_bulk = az.ess(idata, var_names=prob.names, method="bulk")
    ess_tail = az.ess(idata, var_names=prob.names, method="tail")
    for n in prob.names:
        draws = np.asarray(post[n]).ravel()
        lo, hi = np.percentile(draws, [2.5, 97.5])
        tv = truth[n]
        # unrounded diagnostics (the summary table rounds R-hat to 2 decimals)
        rows[n] = {"mean": float(draws.mean()), "sd": float(draws.std()), "q2.5": float(lo), "q97.5": float(hi),
                   "truth": tv, "truth_in_95": bool(lo <= tv <= hi), "r_hat": float(rhat[n]),
                   "ess_bulk": float(ess_bulk[n]), "ess_tail": float(ess_tail[n])}
        r = rows[n]
        print(f"{n:13s} mean {r['mean']:.4g} sd {r['sd']:.3g} 95% [{lo:.4g}, {hi:.4g}] truth {tv:g} "
              f"{'in' if r['truth_in_95'] else 'OUT'}  R-hat {r['r_hat']:.3f} ESS {r['ess_bulk']:.0f}")
    attrs = idata.posterior.attrs
    result = {
        "machine": platform.machine(), "python": platform.python_version(),
        "scan": "examples/data/scan (12 T, ZF + LF 1 mT, 1e7 events/spectrum, bunch 4, t <= 20 us)",
        "seconds_ea_scan_fit": float(attrs.get("seconds_total", math.nan)),
        "seconds_whole_job": total,
        "cpu_seconds_whole_job_all_processes": cpu,
        "load_average_1min_start_end": [load_start[0], load_end[0]],
        "note": "the machine is shared: compare wall time with cpu seconds and the load average",
        "walkers": int(attrs.get("nwalkers", 0)), "steps": int(attrs.get("n_steps", 0)),
        "tau_max": float(attrs.get("tau_max", math.nan)), "converged": int(attrs.get("converged", 0)),
        "all_rhat_below_1.01": all(r["r_hat"] < 1.01 for r in rows.values()),
        "all_ess_bulk_above_400": all(r["ess_bulk"] > 400 for r in rows.values()),
        "parameters": rows,
        "log_posterior_ms_scan_model": t_scan * 1e3, "log_posterior_ms_explicit_nuisances": t_explicit * 1e3,
        "explicit_over_scan_ratio": t_explicit / t_scan, "sampled_dims_scan": prob.ndim,
        "sampled_dims_explicit": dims_explicit,
    }
    path = ROOT / "benchmarks" / "results" / "scan.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"EA scan fit {result['seconds_ea_scan_fit']:.0f} s, whole job {total:.0f} s wall, {cpu:.0f} s CPU "
          f"(load {load_start[0]:.1f} -> {load_end[0]:.1f}); written {path}")


if __name__ == "__main__":
    main()
