"""Benchmark: one-temperature fit (ZF + LF 1 mT, 2000 bins each): log-posterior cost and full-fit wall time.

Baselines measured in the same run:
* the relaxation function alone (the two G(t) calls one log-posterior needs);
* a straightforward log-posterior in plain numpy/scipy — N0 as an explicit
  parameter, ``scipy.stats.poisson.logpmf`` per bin, G by the same public
  functions — which is what one writes first.

The full fit is ``bayesmusr.sampling.sample`` from scratch (MAP, Laplace start,
emcee until the chain is ≥ 50 τ), on 15 M events per spectrum.

Run:  .venv/bin/python benchmarks/bench_fit.py [--table PATH]   (writes benchmarks/results/fit.json)
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import time
import warnings

import numpy as np
from scipy.stats import poisson

from bayesmusr.models import TemperatureProblem, relaxation
from bayesmusr.sampling import ConvergenceWarning, TemperatureAdapter, sample
from bayesmusr.simulate import simulate_spectrum

CASES = {
    "dynamic_kt": {"delta": 0.3, "nu": 0.4},
    "ea": {"delta": 0.3, "nu_i": 0.8, "nu_mu": 0.05, "q": 0.8},
}


def median_time(fn, repeat=200):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def naive_log_posterior(runs, model, theta, nuis, table):
    """Plain version: explicit N0, scipy poisson.logpmf on every bin, exp decay at bin centres."""
    total = 0.0
    for r, (n0, a0, alpha, f) in zip(runs, nuis):
        g = relaxation(model, r.t, r.b_lf, theta, table)
        pol = (1 - f) * g + f
        d = np.exp(-r.t / 2.1969811)
        total += poisson.logpmf(r.forward, n0 * d * (1 + a0 * pol)).sum()
        total += poisson.logpmf(r.backward, n0 * d * (1 - a0 * pol) / alpha).sum()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", default=None, help="EA table (default: shipped; else give the small test table)")
    ap.add_argument("--bin-width", type=float, default=None, help="μs (default 0.016, or 0.01 with a small table)")
    ap.add_argument("--no-fit", action="store_true", help="only the log-posterior timing")
    args = ap.parse_args()
    from bayesmusr.tables import load_table

    tab = load_table(args.table)
    bw = args.bin_width or (0.016 if tab.x_max >= 12 else 0.01)
    rows = []
    for model, truth in CASES.items():
        rng = np.random.default_rng(7)
        runs = [simulate_spectrum(model, truth, b, rng=rng, n_events=15e6, n_bins=2000, bin_width=bw, table=args.table,
                                  a0=0.22, alpha=1.05, fbg=0.08) for b in (0.0, 1.0)]
        p = TemperatureProblem(runs, model, table=args.table)
        y = p.to_sampled({**truth, "a0_0": 0.22, "a0_1": 0.22, "alpha_0": 1.05, "alpha_1": 1.05,
                          "fbg_0": 0.08, "fbg_1": 0.08})
        theta = list(truth.values())
        p.log_posterior(y)
        t_lp = median_time(lambda: p.log_posterior(y))
        t_g = median_time(lambda: [relaxation(model, r.t, r.b_lf, theta, args.table) for r in runs])
        nuis = [(p.profile_n0(y)[i], 0.22, 1.05, 0.08) for i in range(2)]
        t_naive = median_time(lambda: naive_log_posterior(runs, model, theta, nuis, args.table), repeat=50)
        row = {"model": model, "bins_per_run": 2000, "bin_width_us": bw, "runs": "ZF + LF 1 mT",
               "ndim": p.ndim, "log_posterior_s": t_lp, "relaxation_calls_s": t_g,
               "naive_numpy_scipy_log_posterior_s": t_naive, "speedup_vs_naive": t_naive / t_lp,
               "log_posterior_over_relaxation": t_lp / t_g}
        print(f"{model}: log-posterior {1e3 * t_lp:.3f} ms (G calls alone {1e3 * t_g:.3f} ms; naive "
              f"numpy/scipy {1e3 * t_naive:.3f} ms, {t_naive / t_lp:.1f}x slower)", flush=True)
        if not args.no_fit:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                idata = sample(TemperatureAdapter(p), seed=1, progress=False)
            wall = time.perf_counter() - t0
            a = idata.posterior.attrs
            row.update({"fit_wall_s": wall, "fit_mcmc_s": float(a["seconds_mcmc"]), "n_steps": int(a["n_steps"]),
                        "nwalkers": int(a["nwalkers"]), "tau_max": float(a["tau_max"]),
                        "chain_length_in_tau": float(a["chain_length_in_tau"]), "converged": int(a["converged"])})
            print(f"  full fit: {wall:.1f} s wall ({a['n_steps']} steps x {a['nwalkers']} walkers, "
                  f"tau_max {float(a['tau_max']):.0f}, converged={a['converged']})", flush=True)
        rows.append(row)
    out = {"machine": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
           "load_average_at_end": os.getloadavg(), "ea_table": tab.path,
           "note": "2-core machine shared with other jobs during the run (see load average)", "results": rows}
    path = pathlib.Path(__file__).parent / "results" / "fit.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
