"""Benchmark the EA function: evaluation speed and table build cost against Monte Carlo.

1. Median time of `bayesmusr.ea` for one 2000-bin spectrum (times 0–20 μs,
   ZF and LF 1 mT, ν_μ > 0), for Δ = 0.3 (Kadono's value: Δt ≤ 6) and the
   worst case the table allows (Δ = 1: Δt ≤ 20), and at high field
   (ω_L/Δ = 8.5 and 14.2, the table's upper ω segment), with the ratio to
   `dynamic_kt` on the same bins measured in the same run (a KT fit's cost).
2. Build cost per parameter point of the deterministic construction
   (`ea.ea_static_scaled`, the table builder's unit of work) against the
   independent event-driven Monte Carlo of tests/mc_reference.py at equal
   accuracy: the MC is timed at 2e5 muons and its cost extrapolated with
   stderr ∝ N^{-1/2} to the muon count whose largest standard error equals
   (a) the construction's own measured error and (b) the table target 2e-4.

Issue 19: part 1 is also timed with a baseline checkout of bayesmusr (commit 4d4ee95,
``benchmarks/_baseline.py``), alternating baseline and new code in separate processes for three
rounds; the ratio of the medians and the largest difference between the two codes' values
(same table) are reported.  ``--build`` repeats part 2 (minutes of Monte Carlo); otherwise its
stored numbers are kept.

Run: .venv/bin/python benchmarks/bench_ea.py [--baseline /tmp/b19-base] [--build]   (writes benchmarks/results/ea.json)
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

import bayesmusr as bm
from bayesmusr.physics.ea import ea_static_scaled

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
from mc_reference import simulate_ea  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _baseline import DEFAULT_BASELINE, check_baseline, load_average, measure_both  # noqa: E402

from bayesmusr.physics.constants import OMEGA_PER_MT  # noqa: E402
from bayesmusr.physics.tables import load_table  # noqa: E402

# Kadono's Δ and the worst Δt range in ZF and 1 mT, then high fields (ω_L/Δ = 8.5 and 14.2)
CASES = [(0.3, 0.0), (0.3, 1.0), (1.0, 0.0), (1.0, 1.0), (0.1, 1.0), (0.3, 5.0)]


def median_time(fn, repeat):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _times():
    rng = np.random.default_rng(42)
    return np.sort(rng.uniform(0.0, 20.0, 2000))  # arbitrary, non-uniform times


def measure():
    """Median times of `ea` and `dynamic_kt` per case, and the `ea` values, with the imported bayesmusr."""
    t = _times()
    bm.ea(t, 0.3, 0.5, 0.05, 0.8, 1.0)  # load the table and compile outside timing
    omega_max = load_table().omega_max
    rows = []
    for delta, b in CASES:
        if OMEGA_PER_MT * b / delta > omega_max:
            continue
        args = (delta, 0.5, 0.05, 0.8, b)
        rows.append({"delta_per_us": delta, "b_lf_mT": b, "ea_median_s": median_time(lambda: bm.ea(t, *args), 201),
                     "dynamic_kt_median_s": median_time(lambda: bm.dynamic_kt(t, delta, 0.5, b), 201),
                     "ea_values": bm.ea(t, *args).tolist()})
    return {"bayesmusr": bm.__file__, "cases": rows}


def build_cost():
    """Part 2: construction cost per table point against the Monte Carlo reference at equal accuracy."""
    # build cost per point vs Monte Carlo at equal accuracy
    dx, n = 0.04, 501
    build = []
    for v, q, w in [(1.0, 0.5, 0.0), (3.0, 0.8, 1.5), (30.0, 0.5, 0.0), (0.3, 0.5, 12.0)]:
        ours_t = median_time(lambda: ea_static_scaled(dx, n, v, q, w), 3)
        g = ea_static_scaled(dx, n, v, q, w)
        ref = ea_static_scaled(dx / 2, 2 * n - 1, v, q, w, n_r=128)[::2]
        ours_err = float(np.max(np.abs(g - ref)))
        x = np.arange(n) * dx
        n_mc = 200_000
        simulate_ea(x[:10], 1.0, v, 0.0, q, omega_l=w, n_muons=1000, seed=1)  # compile
        t0 = time.perf_counter()
        mean, se = simulate_ea(x, 1.0, v, 0.0, q, omega_l=w, n_muons=n_mc, seed=2)
        mc_t = time.perf_counter() - t0
        se_max = float(se.max())
        ok = se > 0  # t = 0 has no spread
        mc_err = float(np.max(np.abs(mean - g)[ok] / se[ok]))
        n_equal = n_mc * (se_max / max(ours_err, 1e-12)) ** 2
        n_2e4 = n_mc * (se_max / 2e-4) ** 2
        build.append({
            "nu_i_over_delta": v, "q": q, "omega_over_delta": w, "times": n,
            "construction_s": ours_t, "construction_max_error": ours_err,
            "mc_s_at_2e5_muons": mc_t, "mc_max_stderr_at_2e5": se_max, "mc_vs_construction_max_z": mc_err,
            "mc_s_at_equal_accuracy": mc_t * n_equal / n_mc, "mc_s_at_2e-4": mc_t * n_2e4 / n_mc,
            "ratio_mc_to_construction_equal_accuracy": mc_t * n_equal / n_mc / ours_t,
            "ratio_mc_to_construction_at_2e-4": mc_t * n_2e4 / n_mc / ours_t,
        })
        r = build[-1]
        print(f"build point ν_i/Δ={v} Q={q} ω/Δ={w}: construction {ours_t:.2f} s (error {ours_err:.1e}); "
              f"MC {mc_t:.1f} s for 2e5 muons (stderr {se_max:.1e}, |z|max {mc_err:.1f}); MC at 2e-4: "
              f"{r['mc_s_at_2e-4']:.0f} s (×{r['ratio_mc_to_construction_at_2e-4']:.0f}); at equal accuracy "
              f"×{r['ratio_mc_to_construction_equal_accuracy']:.1e}")
    return build


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=DEFAULT_BASELINE, help="baseline checkout (benchmarks/_baseline.py)")
    ap.add_argument("--measure", action="store_true", help="measure the imported bayesmusr only (one JSON line)")
    ap.add_argument("--build", action="store_true", help="also repeat the build-cost comparison (minutes)")
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure()))
        return
    baseline = check_baseline(args.baseline)
    load_start = load_average()
    base, new = measure_both(__file__, baseline, rounds=3)
    rows = []
    for k, case in enumerate(new[0]["cases"]):
        te = statistics.median(r["cases"][k]["ea_median_s"] for r in new)
        tb = statistics.median(r["cases"][k]["ea_median_s"] for r in base)
        tk = statistics.median(r["cases"][k]["dynamic_kt_median_s"] for r in new)
        diff = float(np.max(np.abs(np.array(case["ea_values"]) - np.array(base[0]["cases"][k]["ea_values"]))))
        delta, b = case["delta_per_us"], case["b_lf_mT"]
        rows.append({"delta_per_us": delta, "b_lf_mT": b, "omega_over_delta": OMEGA_PER_MT * b / delta,
                     "nu_i": 0.5, "nu_mu": 0.05, "q": 0.8,
                     "bins": 2000, "ea_median_us": te * 1e6, "dynamic_kt_median_us": tk * 1e6,
                     "ratio_ea_to_dynamic_kt": te / tk, "baseline_checkout_ea_median_us": tb * 1e6,
                     "ratio_baseline_checkout_over_new": tb / te, "max_abs_difference_to_baseline_checkout": diff})
        print(f"ea, Δ={delta} LF={b} mT, 2000 bins: {te * 1e6:7.1f} µs (baseline checkout {tb * 1e6:7.1f} µs, "
              f"×{tb / te:.2f}; values differ by ≤ {diff:.1e}); dynamic_kt {tk * 1e6:7.1f} µs")
    out = pathlib.Path(__file__).parent / "results" / "ea.json"
    old = json.loads(out.read_text()) if out.exists() else {}
    build = build_cost() if args.build else old.get("build_cost", [])
    out.write_text(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                               "baseline_checkout": str(baseline), "load_average_start_end": [load_start,
                                                                                              load_average()],
                               "evaluation": rows, "build_cost": build}, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
