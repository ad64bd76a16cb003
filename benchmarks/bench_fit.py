"""Benchmark the one-temperature fit (issue 5): log-posterior cost and full fits to convergence.

Data: ZF + LF 1 mT, 2000 bins × 10 ns each (0–20 μs), 15 M events per spectrum,
A0 = 0.22, α = 1.05, f = 0.08, β_F = β_B = 5·10⁻⁴ (seeded simulation).  EA truth at
T* (Δ = 0.5 μs⁻¹, Q = 0.8, ν_i = 3√QΔ = 1.34 μs⁻¹, ν_μ = 0.05 μs⁻¹); KT truth
Δ = 0.43, ν = 0.52 μs⁻¹ (the KT reading of that EA spectrum).  Default priors.

Measured, all in the same process so that the ratios are immune to the machine load:

* one log-posterior evaluation of the default fit (per-run nuisances Laplace-
  marginalised, only the physics sampled: 4 dimensions for EA, 2 for KT) at
  300 points drawn from the Laplace approximation of the posterior (typical
  proposals, each needs a few Newton steps of the nuisances), and at the MAP
  itself; the relaxation functions alone; and the baseline — the same likelihood
  with every nuisance sampled (:class:`bayesmusr.model.temperature.TemperatureProblem`,
  14 / 12 dimensions);
* a full fit (`fit_temperature`: MAP, Laplace start, emcee until the chain is
  ≥ 50 integrated autocorrelation times and τ is stable, outputs) with
  ``workers=1`` and ``workers=2`` — the same seed gives the same chain, so the
  ratio of their MCMC times is the speedup of the process pool;
* the baseline fit with every nuisance sampled, stopped after ``--baseline-seconds``
  of MCMC (it does not reach 50 τ in useful time for EA); its chain length in τ per
  second gives the projected time to 50 τ.

Run: .venv/bin/python benchmarks/bench_fit.py   (writes benchmarks/results/fit.json)
     .venv/bin/python benchmarks/bench_fit.py --pool-only   (the pool speedup alone, 3 repeats)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import platform
import statistics
import time
import warnings

import numpy as np

from bayesmusr.model.temperature import TemperatureProblem
from bayesmusr.model.forward import relaxation
from bayesmusr.inference.sampling import ConvergenceWarning, find_map, laplace_covariance, sample
from bayesmusr.inference.adapters import MarginalAdapter, TemperatureAdapter
from bayesmusr.workflows.temperature import fit_temperature
from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem
from bayesmusr.model.simulate import simulate_spectrum

N_BINS, BIN_WIDTH, EVENTS = 2000, 0.010, 15e6
NUISANCE = {"a0": 0.22, "alpha": 1.05, "fbg": 0.08, "bgf": 5e-4, "bgb": 5e-4}
CASES = {
    "ea": {"delta": 0.5, "nu_i": 3 * math.sqrt(0.8) * 0.5, "nu_mu": 0.05, "q": 0.8},
    "dynamic_kt": {"delta": 0.43, "nu": 0.52},
}


def median_time(fn, args_list):
    times = []
    for a in args_list:
        t0 = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fit_row(idata, wall):
    a = idata.posterior.attrs
    return {"wall_s": wall, "mcmc_s": float(a["seconds_mcmc"]), "setup_and_output_s": wall - float(a["seconds_mcmc"]),
            "n_steps": int(a["n_steps"]), "nwalkers": int(a["nwalkers"]), "tau_max": float(a["tau_max"]),
            "chain_length_in_tau": float(a["chain_length_in_tau"]), "converged": int(a["converged"]),
            "acceptance": float(a["acceptance_fraction_mean"]),
            "evaluations_per_s": int(a["n_steps"]) * int(a["nwalkers"]) / float(a["seconds_mcmc"])}


def pool_only(path):
    """Process-pool speedup alone: 300 MCMC steps of the EA problem with workers=1 and 2 (same chain).

    Runs the pair three times and records every pair with the load average, because on a
    shared 2-core machine the second process only helps when a core is free.
    """
    from bayesmusr.inference.sampling import run_chain

    rng = np.random.default_rng(7)
    runs = [simulate_spectrum("ea", CASES["ea"], b, rng=rng, n_events=EVENTS, n_bins=N_BINS, bin_width=BIN_WIDTH,
                              **NUISANCE) for b in (0.0, 1.0)]
    pairs = []
    for _ in range(3):
        pair = {"load_average_1min_before": os.getloadavg()[0]}
        chains = {}
        for workers in (1, 2):
            adapter = MarginalAdapter(TemperaturePointProblem(ScanPointData(math.nan, runs), "ea"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                r = run_chain(adapter, seed=1, max_steps=300, check_every=100, min_steps=10**6, tau_multiple=1e9,
                              progress=False, workers=workers)
            pair[f"mcmc_s_workers{workers}"] = r["mcmc_seconds"]
            chains[workers] = r["chain"]
        pair["speedup"] = pair["mcmc_s_workers1"] / pair["mcmc_s_workers2"]
        pair["same_chain"] = bool(np.array_equal(chains[1], chains[2]))
        pairs.append(pair)
        print(f"pool: workers=1 {pair['mcmc_s_workers1']:.1f} s, workers=2 {pair['mcmc_s_workers2']:.1f} s, "
              f"speedup {pair['speedup']:.2f} (load {pair['load_average_1min_before']:.1f})", flush=True)
    out = json.loads(path.read_text()) if path.exists() else {}
    out["pool_microbenchmark"] = {"what": "EA, 300 steps x 32 walkers, workers=1 vs 2, same seed", "pairs": pairs}
    path.write_text(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-seconds", type=float, default=240.0, help="MCMC budget of the baseline EA fit")
    ap.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--pool-only", action="store_true", help="only the process-pool speedup (added to fit.json)")
    args = ap.parse_args()
    path = pathlib.Path(__file__).parent / "results" / "fit.json"
    if args.pool_only:
        pool_only(path)
        return
    from bayesmusr.physics.tables import load_table

    rows = []
    load_start = os.getloadavg()
    for model in args.models:
        truth = CASES[model]
        rng = np.random.default_rng(7)
        runs = [simulate_spectrum(model, truth, b, rng=rng, n_events=EVENTS, n_bins=N_BINS, bin_width=BIN_WIDTH,
                                  **NUISANCE) for b in (0.0, 1.0)]
        row = {"model": model, "truth": truth, "bins_per_run": N_BINS, "bin_width_us": BIN_WIDTH,
               "events_per_spectrum": EVENTS, "runs": "ZF + LF 1 mT"}
        # ---- log-posterior evaluation
        marg = MarginalAdapter(TemperaturePointProblem(ScanPointData(math.nan, runs), model))
        y_map, lp_map = find_map(marg)
        lp_map = marg.anchor(y_map)
        centre, cov = laplace_covariance(marg, y_map, lp_map)
        pts = np.random.default_rng(1).multivariate_normal(centre, cov, size=300)
        pts = [y for y in pts if math.isfinite(marg.log_posterior(y))]
        t_marg = median_time(marg.log_posterior, pts)
        t_at_map = median_time(marg.log_posterior, [y_map] * 100)
        theta = [marg.p._physical(y) for y in pts]
        t_g = median_time(lambda x: [relaxation(marg.p.model, r.t, r.b_lf, x) for r in runs], theta)
        full = TemperatureProblem(runs, model)
        y_full = full.to_sampled({**truth, **{f"{n}_{i}": v for i in range(2) for n, v in NUISANCE.items()}})
        full.log_posterior(y_full)
        t_full = median_time(full.log_posterior, [y_full] * 300)
        row.update({
            "log_posterior": {
                "laplace_ndim": marg.ndim, "laplace_s_at_posterior_draws": t_marg, "laplace_s_at_map": t_at_map,
                "relaxation_functions_s": t_g, "baseline_all_nuisances_sampled_ndim": full.ndim,
                "baseline_all_nuisances_sampled_s": t_full, "ratio_laplace_over_baseline": t_marg / t_full}})
        print(f"{model}: log-posterior {1e3 * t_marg:.3f} ms ({marg.ndim} dims, Laplace nuisances; {1e3 * t_at_map:.3f}"
              f" ms at the MAP; G(t) alone {1e3 * t_g:.3f} ms) vs {1e3 * t_full:.3f} ms with all {full.ndim} "
              f"parameters sampled", flush=True)
        # ---- full fits, new default, serial and with a pool of 2 (same chain)
        for workers in (1, 2):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                idata = fit_temperature(runs, model, seed=1, progress=False, workers=workers)
            r = fit_row(idata, time.perf_counter() - t0)
            r["load_average_1min_after"] = os.getloadavg()[0]
            row[f"fit_laplace_workers{workers}"] = r
            print(f"  fit, workers={workers}: {r['wall_s']:.1f} s wall (MCMC {r['mcmc_s']:.1f} s, "
                  f"{r['n_steps']} steps × {r['nwalkers']} walkers, τ_max {r['tau_max']:.0f}, "
                  f"{r['chain_length_in_tau']:.0f} τ, converged={r['converged']})", flush=True)
        row["pool_speedup_mcmc"] = row["fit_laplace_workers1"]["mcmc_s"] / row["fit_laplace_workers2"]["mcmc_s"]
        row["pool_speedup_wall"] = row["fit_laplace_workers1"]["wall_s"] / row["fit_laplace_workers2"]["wall_s"]
        # ---- baseline: every nuisance sampled
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            base = sample(TemperatureAdapter(full), seed=1, progress=False, max_seconds=args.baseline_seconds)
        b = fit_row(base, time.perf_counter() - t0)
        b["projected_mcmc_s_to_50_tau"] = (b["mcmc_s"] * 50.0 / b["chain_length_in_tau"]
                                           if b["chain_length_in_tau"] > 0 else None)
        row["fit_baseline_all_nuisances_sampled"] = b
        best = min(row["fit_laplace_workers1"]["wall_s"], row["fit_laplace_workers2"]["wall_s"])
        row["target_60s_met"] = bool(best <= 60.0 and row["fit_laplace_workers1"]["converged"])
        print(f"  baseline (all nuisances sampled): {b['wall_s']:.1f} s wall, {b['n_steps']} steps, τ_max "
              f"{b['tau_max']:.0f} = {b['chain_length_in_tau']:.1f} τ, converged={b['converged']}; projected MCMC "
              f"time to 50 τ {b['projected_mcmc_s_to_50_tau'] or float('nan'):.0f} s", flush=True)
        rows.append(row)
    out = {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
           "load_average_at_start": load_start, "load_average_at_end": os.getloadavg(),
           "ea_table": str(load_table(None).path),
           "note": ("2-core machine shared with other sessions' jobs (see the load averages); "
                    "ratios are measured in the same process"),
           "results": rows}
    if args.models != list(CASES) and path.exists():  # keep the other model's row
        old = json.loads(path.read_text())
        out["results"] = [r for r in old.get("results", []) if r["model"] not in args.models] + rows
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
