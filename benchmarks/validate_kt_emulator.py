"""Validate the KT-reading emulator against direct KT fits at held-out random points, and time it.

    .venv/bin/python benchmarks/validate_kt_emulator.py [--grid standard] [--n-points 400]
        [--delta-range 0.15 0.9] [--fields 0 1] [--workers 2] [--seed 20261203]

Builds (or loads from the cache) the emulator of Kadono's reading (ZF + LF 1 mT by default,
500 bins of 0.04 μs, pulsed weights) over the Δ range (the build uses ``--workers`` processes), draws seeded held-out points —
Δ log-uniform over the range, Q uniform in [0, 0.95], ν_i/Δ log-uniform in [1e-3, 1e4]
(the last decade is the emulator's exact-limit tail), ν_μ/Δ log-uniform in [1e-3, 10] —
and compares the emulator with direct `kt_reading` fits there.  Printed and written to
``benchmarks/results/kt_emulator.json``:

* median / 95th percentile / max relative error of Δ_KT and ν_KT (all points, the table's
  interior, the ν_i tail, and points near / away from a jump);
* near a jump: the direct fit's `rival_margin` (relative χ² gap to a distinct local minimum)
  is below `NEAR_JUMP`, i.e. a competing minimum is within a factor 1.5 in χ²; the fraction of
  the held-out points and of the table's nodes that are so;
* whether `kt_reading`'s multi-start finds the global minimum: on a subsample, its χ² against a
  fit from 12 starts (ν/Δ log-spaced over 1e-3 … 30, two Δ starts);
* along Kadono's Fig. 3 scan (Δ = 0.3 μs⁻¹, Q = 0.8, his Arrhenius laws, 10–400 K), when
  Δ = 0.3 is in the range: the largest errors and T* from both;
* timing in the same run: one emulator call for 20 temperatures vs one direct reading, and
  their ratio.

The JSON holds one entry per (fields, Δ range, grid) under ``runs``.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bayesmusr.inference.conventional import KADONO, arrhenius
from bayesmusr.model.kt_reading import (
    Q_MAX,
    KTReadingEmulator,
    ReadingConditions,
    fit_kt_global,
    kt_reading_fit,
    rival_margin,
)
from bayesmusr.physics.tables import ea

NEAR_JUMP = 0.5
RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "kt_emulator.json"


def direct(args):
    """Direct reading at one point: (Δ_KT, ν_KT, rival margin, seconds)."""
    point, cond = args
    t0 = time.perf_counter()
    fit = kt_reading_fit(*point, cond)
    return fit.delta, fit.nu, rival_margin(fit), time.perf_counter() - t0


def thorough(args):
    """χ² of the reading from 12 ν starts and two Δ starts, and of `kt_reading` itself."""
    (delta, q, nu_i, nu_mu), cond = args
    t = cond.times()
    sig = cond.sigma(t)
    spectra = [ea(t, delta, nu_i, nu_mu, q, b) for b in cond.fields_mT]
    best = min((fit_kt_global(t, spectra, list(cond.fields_mT), errors=[sig] * len(spectra),
                              fit_amplitude=cond.fit_amplitude, nu_starts=list(delta * np.logspace(-3, 1.5, 12)),
                              delta_start=d0, tol=1e-10)
                for d0 in (delta, delta * math.sqrt(1 - q))), key=lambda f: f.chi2)
    fit = kt_reading_fit(delta, q, nu_i, nu_mu, cond)
    return fit.chi2, best.chi2, abs(fit.nu / best.nu - 1), abs(fit.delta / best.delta - 1)


def held_out_points(rng, n, delta_range):
    lo, hi = delta_range
    delta = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    q = rng.uniform(0.0, Q_MAX, n)
    nu_i = delta * 10 ** rng.uniform(-3.0, 4.0, n)
    nu_mu = delta * 10 ** rng.uniform(-3.0, 1.0, n)
    return np.column_stack([delta, q, nu_i, nu_mu])


def stats(rel):
    rel = np.asarray(rel)
    if rel.size == 0:
        return {"n": 0}
    return {"n": int(rel.size), "median": float(np.median(rel)), "p95": float(np.percentile(rel, 95)),
            "max": float(rel.max()), "frac_le_1pct": float(np.mean(rel <= 0.01)),
            "frac_le_3pct": float(np.mean(rel <= 0.03))}


def time_calls(emu, cond, n_temps=20, repeats=2000):
    """Median seconds of one emulator call over n_temps temperatures, and of one direct reading."""
    nu_i = np.logspace(-2, 2, n_temps)
    nu_mu = np.logspace(-3, 0, n_temps)
    emu(0.3, 0.8, nu_i, nu_mu)  # compile
    laps = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        emu(0.3, 0.8, nu_i, nu_mu)
        laps.append(time.perf_counter() - t0)
    direct_laps = [direct(((0.3, 0.8, float(a), float(b)), cond))[3] for a, b in zip(nu_i[::4], nu_mu[::4])]
    return statistics.median(laps), statistics.median(direct_laps)


def kadono_scan(emu, cond):
    """Emulator vs direct along Kadono's Fig. 3 scan (Δ = 0.3 μs⁻¹, Q = 0.8, his Arrhenius laws, 10–400 K)."""
    temps = np.arange(10.0, 401.0, 10.0)
    nu_i = arrhenius(temps, KADONO["nu_i0_per_s"], KADONO["e_i_eV"])
    nu_mu = arrhenius(temps, KADONO["nu_mu0_per_s"], KADONO["e_mu_eV"])
    direct_kt = np.array([kt_reading_fit(0.3, 0.8, a, b, cond) for a, b in zip(nu_i, nu_mu)])
    d_dir = np.array([f.delta for f in direct_kt])
    n_dir = np.array([f.nu for f in direct_kt])
    d_emu, n_emu = emu(0.3, 0.8, nu_i, nu_mu)
    measurable = n_dir * cond.t_max_us > 0.01  # ν_KT·t_max above 1 %: below, ν_KT sits at the fit's floor
    return {"temperatures_K": [float(temps[0]), float(temps[-1]), 10.0],
            "max_rel_err_delta_kt": float(np.max(np.abs(d_emu / d_dir - 1))),
            "max_rel_err_nu_kt_where_nu_t_max_gt_0.01": float(np.max(np.abs(n_emu / n_dir - 1)[measurable])),
            "max_abs_err_nu_kt_elsewhere_per_us": float(np.max(np.abs(n_emu - n_dir)[~measurable], initial=0.0)),
            "t_star_K_direct": float(temps[np.argmax(n_dir)]), "t_star_K_emulator": float(temps[np.argmax(n_emu)]),
            "nu_kt_max_direct": float(n_dir.max()), "nu_kt_max_emulator": float(n_emu.max())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", default="standard")
    ap.add_argument("--n-points", type=int, default=400)
    ap.add_argument("--n-global", type=int, default=60, help="points of the global-minimum check")
    ap.add_argument("--delta-range", type=float, nargs=2, default=(0.15, 0.9))
    ap.add_argument("--fields", type=float, nargs="+", default=(0.0, 1.0))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)

    cond = ReadingConditions(fields_mT=tuple(args.fields))
    rng = np.random.default_rng(args.seed)
    points = held_out_points(rng, args.n_points, args.delta_range)
    with ProcessPoolExecutor(args.workers) as pool:
        t0 = time.perf_counter()
        emu = KTReadingEmulator.load_or_build(cond, tuple(args.delta_range), cache_dir=args.cache_dir, executor=pool,
                                              grid=args.grid)
        print(f"emulator {emu.path}: nodes {emu.values.shape[:4]}, build {emu.meta.get('build_seconds')} s "
              f"({emu.meta.get('build_executor')}); this call {time.perf_counter() - t0:.1f} s")
        res = np.array(list(pool.map(direct, [(tuple(p), cond) for p in points], chunksize=8)))
        glob = np.array(list(pool.map(thorough, [(tuple(p), cond) for p in points[:args.n_global]])))
    d_emu, n_emu = emu(points[:, 0], points[:, 1], points[:, 2], points[:, 3])
    rel_d = np.abs(d_emu / res[:, 0] - 1)
    rel_n = np.abs(n_emu / res[:, 1] - 1)
    near = res[:, 2] < NEAR_JUMP
    tail = points[:, 2] / points[:, 0] > 1e3
    groups = {"all": np.ones(len(points), bool), "table_interior": ~tail, "nu_i_tail": tail,
              "near_jump": near, "away_from_jump": ~near}
    out = {"conditions": cond.to_dict(), "delta_range": list(args.delta_range), "grid": args.grid,
           "nodes": list(emu.values.shape[:4]), "build_seconds": emu.meta.get("build_seconds"),
           "build_executor": emu.meta.get("build_executor"), "seed": args.seed, "near_jump_margin": NEAR_JUMP,
           "errors": {g: {"delta_kt": stats(rel_d[m]), "nu_kt": stats(rel_n[m])} for g, m in groups.items()},
           "near_jump_fraction_points": float(near.mean()),
           "near_jump_fraction_nodes": float(np.mean(emu.margin < NEAR_JUMP))}
    missed = (glob[:, 0] > glob[:, 1] * (1 + 1e-6) + 1e-12) & (glob[:, 2] > 1e-4)
    out["global_minimum_check"] = {"n": len(glob), "missed": int(missed.sum()),
                                   "max_rel_diff_nu": float(glob[:, 2].max()),
                                   "max_rel_diff_delta": float(glob[:, 3].max())}
    lo, hi = args.delta_range
    if lo <= 0.3 <= hi:
        out["kadono_fig3_scan"] = kadono_scan(emu, cond)
    t_emu, t_direct = time_calls(emu, cond)
    out["timing"] = {"emulator_call_20_temperatures_us": t_emu * 1e6, "direct_reading_ms": t_direct * 1e3,
                     "direct_over_emulator_per_reading": t_direct / (t_emu / 20),
                     "direct_reading_ms_mean_in_pool": float(res[:, 3].mean() * 1e3)}
    worst = np.argsort(-np.maximum(rel_d, rel_n / 3))[:8]
    out["worst_points"] = [{"delta": p[0], "q": p[1], "nu_i/delta": p[2] / p[0], "nu_mu/delta": p[3] / p[0],
                            "rel_err_delta_kt": float(rel_d[i]), "rel_err_nu_kt": float(rel_n[i]),
                            "rival_margin": float(res[i, 2])} for i, p in zip(worst, points[worst])]
    report(out)
    # one entry per conditions and grid, so the ZF and ZF + LF validations live side by side
    label = f"fields_{'_'.join(f'{b:g}' for b in cond.fields_mT)}_delta_{args.delta_range[0]:g}-" \
            f"{args.delta_range[1]:g}_{args.grid}"
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(path.read_text()).get("runs", {}) if path.exists() else {}
    runs[label] = out
    path.write_text(json.dumps({"command": "benchmarks/validate_kt_emulator.py", "runs": runs}, indent=2) + "\n")
    print(f"written {path} [{label}]")


def report(out):
    for g, e in out["errors"].items():
        for k in ("delta_kt", "nu_kt"):
            s = e[k]
            if s["n"]:
                print(f"{g:15s} {k:8s} n={s['n']:4d}  median {s['median']:.2e}  p95 {s['p95']:.2e}  "
                      f"max {s['max']:.2e}  ≤1%: {s['frac_le_1pct']:.1%}  ≤3%: {s['frac_le_3pct']:.1%}")
    print(f"near a jump (rival χ² within ×{1 + out['near_jump_margin']:g}): "
          f"{out['near_jump_fraction_points']:.1%} of points, {out['near_jump_fraction_nodes']:.1%} of nodes")
    g = out["global_minimum_check"]
    print(f"global minimum: kt_reading missed it at {g['missed']} of {g['n']} points "
          f"(max |Δν/ν| {g['max_rel_diff_nu']:.1e}, |ΔΔ/Δ| {g['max_rel_diff_delta']:.1e})")
    if "kadono_fig3_scan" in out:
        k = out["kadono_fig3_scan"]
        print(f"Kadono Fig. 3 scan: Δ_KT max rel err {k['max_rel_err_delta_kt']:.2e}; ν_KT max rel err "
              f"{k['max_rel_err_nu_kt_where_nu_t_max_gt_0.01']:.2e} where ν_KT·t_max > 0.01, max abs err "
              f"{k['max_abs_err_nu_kt_elsewhere_per_us']:.1e} μs⁻¹ below; T* {k['t_star_K_direct']:g} K direct, "
              f"{k['t_star_K_emulator']:g} K emulator")
    t = out["timing"]
    print(f"timing: emulator {t['emulator_call_20_temperatures_us']:.1f} μs per call of 20 temperatures; "
          f"direct {t['direct_reading_ms']:.1f} ms per reading; ratio per reading "
          f"{t['direct_over_emulator_per_reading']:.3g}")


if __name__ == "__main__":
    main()
