"""Benchmark: dynamic_kt on one 2000-bin spectrum against a straightforward scipy/numpy solver.

The baseline solves the same Volterra equation with a plain trapezoid rule in
numpy (one dot product per step) and interpolates with scipy's CubicSpline —
what one writes first.  Its step is chosen so that its error is comparable
to ours (it needs h ≈ 2e-3/Δ to reach ~1e-5), and both errors are measured
against a step-halved bayesmusr solution in the same run.

Issue 19: the same cases are also timed with a baseline checkout of bayesmusr (commit 4d4ee95,
``benchmarks/_baseline.py``), alternating baseline and new code in separate processes for three
rounds, and the ratio of the medians is reported.

Run:  .venv/bin/python benchmarks/bench_kt.py [--baseline /tmp/b19-base]   (writes benchmarks/results/kt.json)
"""
from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import sys
import time

import numpy as np
from scipy.interpolate import CubicSpline

import bayesmusr as bm
from bayesmusr.physics.kt import OMEGA_PER_MT, _dynamic_kt_scaled, _kt_step

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _baseline import DEFAULT_BASELINE, check_baseline, load_average, measure_both  # noqa: E402

T_US = np.arange(2000) * 0.016 + 0.008  # ISIS-like: 2000 bins of 16 ns (0–32 μs)
CASES = [("ZF", 0.3, 0.5, 0.0), ("LF 1 mT", 0.3, 0.5, 1.0), ("LF 10 mT, fast", 0.5, 5.0, 10.0)]


def baseline_dynamic_kt(t, delta, nu, b_lf, h_scaled):
    """Plain trapezoid Volterra (numpy) on step h = h_scaled/Δ, CubicSpline to t."""
    h = h_scaled
    n = int(np.ceil(t.max() * delta / h)) + 2
    x = np.arange(n) * h
    g = bm.static_kt(x / delta, delta, b_lf)
    v = nu / delta
    f = g * np.exp(-v * x)
    G = np.empty(n)
    G[0] = 1.0
    for i in range(1, n):
        conv = np.dot(f[1:i], G[i - 1:0:-1]) + 0.5 * f[i] * G[0]
        G[i] = (f[i] + v * h * conv) / (1 - 0.5 * v * h * f[0])
    return CubicSpline(x, G)(t * delta)


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure():
    """Median time and error (against a step-quartered solution) of every case with the imported bayesmusr."""
    t = T_US
    bm.dynamic_kt(t, 0.3, 0.5, 1.0)  # compile (numba cache) outside the timing
    rows = []
    for label, delta, nu, b in CASES:
        w = OMEGA_PER_MT * b / delta
        ref = _dynamic_kt_scaled(t * delta, w, nu / delta, step=_kt_step(w, nu / delta) / 4)
        ours = bm.dynamic_kt(t, delta, nu, b)
        rows.append({"case": label, "median_s": median_time(lambda: bm.dynamic_kt(t, delta, nu, b), 51),
                     "max_abs_error": float(np.max(np.abs(ours - ref)))})
    return {"bayesmusr": bm.__file__, "cases": rows}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="baseline checkout (benchmarks/_baseline.py)")
    ap.add_argument("--measure", action="store_true", help="measure the imported bayesmusr only (one JSON line)")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    baseline = check_baseline(args.baseline)
    load_start = load_average()
    base, new = measure_both(__file__, baseline, rounds=3)
    t = T_US
    rows = []
    for k, (label, delta, nu, b) in enumerate(CASES):
        ours_time = statistics.median(r["cases"][k]["median_s"] for r in new)
        old_time = statistics.median(r["cases"][k]["median_s"] for r in base)
        err, old_err = new[0]["cases"][k]["max_abs_error"], base[0]["cases"][k]["max_abs_error"]
        w = OMEGA_PER_MT * b / delta
        ref = _dynamic_kt_scaled(t * delta, w, nu / delta, step=_kt_step(w, nu / delta) / 4)
        base_h = 2e-3
        simple = baseline_dynamic_kt(t, delta, nu, b, base_h)
        simple_time = median_time(lambda: baseline_dynamic_kt(t, delta, nu, b, base_h), 3)
        rows.append({
            "case": label, "delta_per_us": delta, "nu_per_us": nu, "b_lf_mT": b, "bins": 2000,
            "bayesmusr_median_s": ours_time, "bayesmusr_max_abs_error": err,
            "baseline_checkout_median_s": old_time, "baseline_checkout_max_abs_error": old_err,
            "ratio_baseline_checkout_over_new": old_time / ours_time,
            "baseline": f"numpy trapezoid Volterra h={base_h}/Δ + scipy CubicSpline",
            "baseline_median_s": simple_time, "baseline_max_abs_error": float(np.max(np.abs(simple - ref))),
            "speedup": simple_time / ours_time,
        })
        r = rows[-1]
        print(f"{label:16s} bayesmusr {ours_time * 1e3:7.3f} ms (err {err:.1e}) | baseline checkout "
              f"{old_time * 1e3:7.3f} ms (err {old_err:.1e}), ratio ×{r['ratio_baseline_checkout_over_new']:.2f}"
              f" | numpy/scipy {simple_time * 1e3:8.2f} ms (err {r['baseline_max_abs_error']:.1e}), ×{r['speedup']:.0f}")
    med_new = statistics.median(r["bayesmusr_median_s"] for r in rows)
    med_old = statistics.median(r["baseline_checkout_median_s"] for r in rows)
    print(f"median over the cases: {med_new * 1e3:.3f} ms (baseline checkout {med_old * 1e3:.3f} ms, "
          f"×{med_old / med_new:.2f})")
    out = pathlib.Path(__file__).parent / "results" / "kt.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                               "python": platform.python_version(), "baseline_checkout": str(baseline),
                               "load_average_start_end": [load_start, load_average()],
                               "median_over_cases_s": med_new, "baseline_checkout_median_over_cases_s": med_old,
                               "results": rows}, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
