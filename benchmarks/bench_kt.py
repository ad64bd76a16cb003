"""Benchmark: dynamic_kt on one 2000-bin spectrum against a straightforward scipy/numpy solver.

The baseline solves the same Volterra equation with a plain trapezoid rule in
numpy (one dot product per step) and interpolates with scipy's CubicSpline —
what one writes first.  Its step is chosen so that its error is comparable
to ours (it needs h ≈ 2e-3/Δ to reach ~1e-5), and both errors are measured
against a step-halved bayesmusr solution in the same run.

Run:  .venv/bin/python benchmarks/bench_kt.py   (writes benchmarks/results/kt.json)
"""
from __future__ import annotations

import json
import pathlib
import platform
import statistics
import time

import numpy as np
from scipy.interpolate import CubicSpline

import bayesmusr as bm
from bayesmusr.physics.kt import OMEGA_PER_MT, _dynamic_kt_scaled, _kt_step


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


def main():
    t = np.arange(2000) * 0.016 + 0.008  # ISIS-like: 2000 bins of 16 ns (0–32 μs)
    cases = [("ZF", 0.3, 0.5, 0.0), ("LF 1 mT", 0.3, 0.5, 1.0), ("LF 10 mT, fast", 0.5, 5.0, 10.0)]
    rows = []
    bm.dynamic_kt(t, 0.3, 0.5, 1.0)  # compile (numba cache) outside the timing
    for label, delta, nu, b in cases:
        w = OMEGA_PER_MT * b / delta
        x = t * delta
        ref = _dynamic_kt_scaled(x, w, nu / delta, step=_kt_step(w, nu / delta) / 4)
        ours = bm.dynamic_kt(t, delta, nu, b)
        ours_time = median_time(lambda: bm.dynamic_kt(t, delta, nu, b), 21)
        base_h = 2e-3
        base = baseline_dynamic_kt(t, delta, nu, b, base_h)
        base_time = median_time(lambda: baseline_dynamic_kt(t, delta, nu, b, base_h), 3)
        rows.append({
            "case": label, "delta_per_us": delta, "nu_per_us": nu, "b_lf_mT": b, "bins": 2000,
            "bayesmusr_median_s": ours_time, "bayesmusr_max_abs_error": float(np.max(np.abs(ours - ref))),
            "baseline": f"numpy trapezoid Volterra h={base_h}/Δ + scipy CubicSpline",
            "baseline_median_s": base_time, "baseline_max_abs_error": float(np.max(np.abs(base - ref))),
            "speedup": base_time / ours_time,
        })
        print(f"{label:16s} bayesmusr {ours_time * 1e3:8.3f} ms (err {rows[-1]['bayesmusr_max_abs_error']:.1e})"
              f" | baseline {base_time * 1e3:9.2f} ms (err {rows[-1]['baseline_max_abs_error']:.1e})"
              f" | speed-up ×{rows[-1]['speedup']:.0f}")
    out = pathlib.Path(__file__).parent / "results" / "kt.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                               "python": platform.python_version(), "results": rows}, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
