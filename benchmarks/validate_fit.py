"""Validation of the one-temperature fit on simulated spectra (issue 5).

All spectra: ZF + LF 1 mT, 2000 bins × 10 ns (0–20 μs), Poisson forward/backward
histograms from :func:`bayesmusr.model.simulate.simulate_spectrum`, fitted with
:func:`bayesmusr.workflows.temperature.fit_temperature` and its default Laplace-marginalised
nuisances (A, α, f, β_F, β_B per run; N0 analytic).  Every random number is seeded
from the dataset index.  Results go to JSON files in ``benchmarks/results/`` and are
written after every dataset; a rerun skips what is already there (resumable).

coverage  (``validate_coverage_ea.json``)
    Calibration test: for each dataset the true (Δ, ν_i, ν_μ, Q) are drawn from
    :data:`COVERAGE_PRIOR` — a realistic region around T* (Δ 0.35–0.6 μs⁻¹, Q 0.6–0.95,
    ν_i 0.3–3 μs⁻¹ ≈ 1–9 √QΔ, ν_μ 0.01–0.3 μs⁻¹) — and the fit uses that same prior.
    Then the central 68 % and 95 % posterior intervals of every parameter must
    contain the truth in 68 % and 95 % of the datasets, up to the binomial error
    √(p(1 − p)/N), whatever the sampler, the Laplace step or the table do — unless
    one of them is wrong (simulation-based calibration).  With a fixed truth and
    the default log-uniform priors the same statement would not hold for ν_μ, which
    15 M events only bound from above: its posterior is then prior-dominated.
    ``--events`` per spectrum (default 15 M); ``--tau`` chain length in τ (default 50,
    the default of a user fit).
loo  (``validate_loo_ea.json``)
    EA and dynamic KT fitted to the same spectra, LOO compared (elpd_EA − elpd_KT and
    its SE).  Cases: EA spectra at T* (ν_i = 3√QΔ) and 5 K above it (ν_i = 4√QΔ in
    Kadono's Arrhenius law), Δ = 0.5, Q = 0.8, ν_μ = 0.05, 20 M events per spectrum;
    the same at 10 M; T* at 30 M; and KT spectra with the KT reading of the T* case (Δ = 0.43,
    ν = 0.52).  Criteria of the issue: EA over KT by > 4 SE on EA data; EA not over KT
    by > 2 SE on KT data.
scaling  (``validate_loo_scaling.json``)
    Noise-free (Asimov) spectra: Δlog L = log L_EA(truth) − max log L_KT for the LOO
    cases at several Δ, ν_i, ν_μ; Δlog L ∝ events, and the expected elpd ratio is
    ≈ (Δlog L − Δp)/√(2 Δlog L) with Δp = 2 the extra EA parameters.  Cheap (no MCMC).
map  (``validate_map_ea.json``)
    The MAP of the Laplace-marginalised EA posterior against scipy's
    ``least_squares`` on the full EA model with every nuisance explicit
    (:meth:`bayesmusr.model.temperature.TemperatureProblem.residuals`), in posterior SDs.

Run (one process at a time; each mode resumes):
    nice -n 19 .venv/bin/python benchmarks/validate_fit.py coverage -n 50
    nice -n 19 .venv/bin/python benchmarks/validate_fit.py loo
    .venv/bin/python benchmarks/validate_fit.py scaling
    .venv/bin/python benchmarks/validate_fit.py map -n 5
    .venv/bin/python benchmarks/validate_fit.py summary
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import time
import warnings

import numpy as np

from bayesmusr.inference import compare
from bayesmusr.inference.sampling import ConvergenceWarning
from bayesmusr.workflows.temperature import fit_temperature

RESULTS = pathlib.Path(__file__).parent / "results"
N_BINS, BIN_WIDTH, FIELDS = 2000, 0.010, (0.0, 1.0)

#: physics prior of the calibration test (drawn for the truth and used in the fit)
COVERAGE_PRIOR = {"delta": ("loguniform", 0.35, 0.6), "nu_i": ("loguniform", 0.3, 3.0),
                  "nu_mu": ("loguniform", 0.01, 0.3), "q": ("uniform", 0.6, 0.95)}
#: nuisance ranges of the simulated runs (drawn per dataset, shared by its ZF and LF run)
NUISANCE_RANGES = {"a0": (0.18, 0.25), "alpha": (0.9, 1.15), "fbg": (0.03, 0.12), "bgf": (0.0, 2e-3),
                   "bgb": (0.0, 2e-3)}
#: nuisances of the LOO and MAP spectra
NUISANCE = {"a0": 0.22, "alpha": 1.05, "fbg": 0.08, "bgf": 5e-4, "bgb": 5e-4}


def _t_star_case(factor, delta=0.5, q=0.8, nu_mu=0.05):
    return {"delta": delta, "nu_i": factor * math.sqrt(q) * delta, "nu_mu": nu_mu, "q": q}


LOO_CASES = [  # in order of importance (the run can be cut short and resumed)
    {"name": "ea_T*_20M", "model": "ea", "truth": _t_star_case(3.0), "events": 20e6, "seed": 5000},
    {"name": "kt_20M", "model": "dynamic_kt", "truth": {"delta": 0.43, "nu": 0.52}, "events": 20e6, "seed": 5002},
    {"name": "ea_T*+5K_20M", "model": "ea", "truth": _t_star_case(4.0), "events": 20e6, "seed": 5001},
    {"name": "ea_T*_10M", "model": "ea", "truth": _t_star_case(3.0), "events": 10e6, "seed": 5003},
    {"name": "kt_10M", "model": "dynamic_kt", "truth": {"delta": 0.43, "nu": 0.52}, "events": 10e6, "seed": 5005},
    {"name": "ea_T*+5K_10M", "model": "ea", "truth": _t_star_case(4.0), "events": 10e6, "seed": 5004},
    # at T* itself 20 M events gave 3.6 SE; the Asimov scaling (mode `scaling`) puts 4 SE at ~24 M
    {"name": "ea_T*_30M", "model": "ea", "truth": _t_star_case(3.0), "events": 30e6, "seed": 5006},
]


def simulate(model, truth, rng, events, nuisance=NUISANCE):
    from bayesmusr.model.simulate import simulate_spectrum

    return [simulate_spectrum(model, truth, b, rng=rng, n_events=events, n_bins=N_BINS, bin_width=BIN_WIDTH,
                              **nuisance) for b in FIELDS]


def fit(runs, model, seed, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit_temperature(runs, model, seed=seed, progress=False, **kw)


def _load(path, settings):
    """Results so far (resume); refuses to mix records of other settings into one file."""
    path = pathlib.Path(path)
    settings = json.loads(json.dumps(settings))  # as stored (tuples become lists)
    if path.exists():
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("settings") == settings:
            return data
        if isinstance(data, dict) and data.get("records"):
            raise SystemExit(f"{path} holds {len(data['records'])} records made with other settings; "
                             "move it away or pass --json to start another file")
        print(f"{path}: an older format; starting a new file")
    return {"settings": settings, "records": []}


def _save(path, data):
    pathlib.Path(path).write_text(json.dumps(data, indent=1))


def _draw_truth(rng):
    out = {}
    for name, (kind, lo, hi) in COVERAGE_PRIOR.items():
        out[name] = float(math.exp(rng.uniform(math.log(lo), math.log(hi))) if kind == "loguniform"
                          else rng.uniform(lo, hi))
    return out


def run_coverage(args):
    path = args.json or RESULTS / "validate_coverage_ea.json"
    settings = {"prior": COVERAGE_PRIOR, "nuisance_ranges": NUISANCE_RANGES, "events_per_spectrum": args.events,
                "bins": N_BINS, "bin_width_us": BIN_WIDTH, "fields_mT": list(FIELDS), "tau_multiple": args.tau}
    data = _load(path, settings)
    done = {r["dataset"] for r in data["records"]}
    t_start = time.perf_counter()
    for k in range(args.n):
        if k in done:
            continue
        if args.budget and time.perf_counter() - t_start > args.budget:
            print(f"time budget {args.budget} s used; rerun to continue")
            break
        rng = np.random.default_rng([2026, k])
        truth = _draw_truth(rng)
        nuis = {n: float(rng.uniform(*r)) for n, r in NUISANCE_RANGES.items()}
        runs = simulate("ea", truth, rng, args.events, nuis)
        t0 = time.perf_counter()
        idata = fit(runs, "ea", seed=k, priors=COVERAGE_PRIOR, tau_multiple=args.tau)
        a = idata.posterior.attrs
        rec = {"dataset": k, "truth": truth, "nuisances": nuis, "seconds": time.perf_counter() - t0,
               "converged": int(a["converged"]), "tau_max": float(a["tau_max"]), "n_steps": int(a["n_steps"]),
               "chain_length_in_tau": float(a["chain_length_in_tau"]), "load_average": os.getloadavg()[0]}
        for name, v in truth.items():
            d = idata.posterior[name].values.ravel()
            q = np.quantile(d, [0.025, 0.16, 0.84, 0.975])
            rec[name] = {"median": float(np.median(d)), "sd": float(d.std()), "q": q.tolist(),
                         "in68": bool(q[1] <= v <= q[2]), "in95": bool(q[0] <= v <= q[3]),
                         "rank": float(np.mean(d < v))}
        data["records"].append(rec)
        _save(path, data)
        print(f"dataset {k}: {rec['seconds']:.0f} s, {rec['chain_length_in_tau']:.0f} τ, "
              + ", ".join(f"{n} {'✓' if rec[n]['in68'] else '·'}{'✓' if rec[n]['in95'] else '·'}" for n in truth),
              flush=True)
    summarise_coverage(path)


def summarise_coverage(path=None):
    path = path or RESULTS / "validate_coverage_ea.json"
    data = json.loads(pathlib.Path(path).read_text())
    recs = data["records"]
    n = len(recs)
    if not n:
        return None
    out = {"n": n}
    print(f"coverage over {n} datasets (truth drawn from the fit prior, "
          f"{data['settings']['events_per_spectrum']:.3g} events per spectrum):")
    for name in COVERAGE_PRIOR:
        for lvl in (68, 95):
            p = float(np.mean([r[name][f"in{lvl}"] for r in recs]))
            nominal = lvl / 100
            se = math.sqrt(nominal * (1 - nominal) / n)
            out[f"{name}_{lvl}"] = {"rate": p, "nominal": nominal, "binomial_se": se, "z": (p - nominal) / se}
            print(f"  {name:<6} {lvl} %: {p:.3f}  (nominal {nominal:.2f} ± {se:.3f}, {(p - nominal) / se:+.1f} SE)")
    secs = [r["seconds"] for r in recs]
    print(f"  chains ≥ {data['settings']['tau_multiple']} τ: {sum(r['converged'] for r in recs)}/{n}; fit time "
          f"median {np.median(secs):.0f} s (range {min(secs):.0f}–{max(secs):.0f} s)")
    return out


def _loo_record(case, events=None):
    events = events or case["events"]
    rng = np.random.default_rng(case["seed"])
    runs = simulate(case["model"], case["truth"], rng, events)
    res, info = {}, {}
    for m in ("ea", "dynamic_kt"):
        t0 = time.perf_counter()
        res[m] = fit(runs, m, seed=case["seed"])
        a = res[m].posterior.attrs
        info[m] = {"seconds": time.perf_counter() - t0, "converged": int(a["converged"]),
                   "chain_length_in_tau": float(a["chain_length_in_tau"])}
    cmp = compare.compare_results(res)
    t = cmp["loo"]
    diff = float(t.loc["ea", "elpd_loo"] - t.loc["dynamic_kt", "elpd_loo"])
    dse = float(t["dse"].max())
    post = {m: {n: [float(np.quantile(res[m].posterior[n].values, q)) for q in (0.16, 0.5, 0.84)]
                for n in (("delta", "nu_i", "nu_mu", "q") if m == "ea" else ("delta", "nu"))} for m in res}
    return {"case": case["name"], "generator": case["model"], "truth": case["truth"], "events_per_spectrum": events,
            "seed": case["seed"], "elpd_ea_minus_kt": diff, "dse": dse, "ratio": diff / dse if dse > 0 else None,
            "p_loo": {m: float(t.loc[m, "p_loo"]) for m in res},
            "elpd_waic_ea_minus_kt": float(cmp["waic"].loc["ea", "elpd_waic"]
                                           - cmp["waic"].loc["dynamic_kt", "elpd_waic"]),
            "pareto_k_above_0.7": {m: c["bad"] + c["very_bad"] for m, c in cmp["pareto_k"].items()},
            "posterior_16_50_84": post, "fits": info, "verdict": cmp["verdict"]}


def run_loo(args):
    path = args.json or RESULTS / "validate_loo_ea.json"
    data = _load(path, {"cases": LOO_CASES, "bins": N_BINS, "bin_width_us": BIN_WIDTH, "nuisance": NUISANCE})
    done = {r["case"] for r in data["records"]}
    for case in LOO_CASES:
        if case["name"] in done or (args.only and case["name"] not in args.only):
            continue
        rec = _loo_record(case)
        data["records"].append(rec)
        _save(path, data)
        print(f"{rec['case']}: elpd(EA) − elpd(KT) = {rec['elpd_ea_minus_kt']:.1f} ± {rec['dse']:.1f} "
              f"({rec['ratio']:+.1f} SE); fits {rec['fits']}", flush=True)


def asimov_delta_loglike(truth, events):
    """log L_EA(truth) − max log L_KT on noise-free spectra (expected counts as data), nuisances Laplace-marginalised."""
    from bayesmusr.model.rundata import RunData
    from bayesmusr.inference.adapters import MarginalAdapter
    from bayesmusr.inference.sampling import find_map
    from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem
    from bayesmusr.model.simulate import expected_counts

    t = (np.arange(N_BINS) + 0.5) * BIN_WIDTH
    runs = []
    for b in FIELDS:
        mf, mb, _ = expected_counts("ea", truth, b, t, BIN_WIDTH, n_events=events, **NUISANCE)
        runs.append(RunData("histograms", t, b, width=np.full(N_BINS, BIN_WIDTH), forward=mf, backward=mb))
    ea = MarginalAdapter(TemperaturePointProblem(ScanPointData(math.nan, runs), "ea"))
    y = np.array([math.log(truth["delta"]), math.log(truth["nu_i"]), math.log(truth["nu_mu"]), truth["q"]])
    kt = MarginalAdapter(TemperaturePointProblem(ScanPointData(math.nan, runs), "dynamic_kt"))
    y_kt, lp_kt = find_map(kt)
    return float(ea.log_posterior(y) - lp_kt), np.exp(y_kt).tolist()


def run_scaling(args):
    path = args.json or RESULTS / "validate_loo_scaling.json"
    grid = [(d, f, nm) for d in (0.3, 0.4, 0.5) for f in (1.0, 2.0, 3.0, 4.0, 6.0) for nm in (0.05, 0.8)]
    data = _load(path, {"events_per_spectrum": 15e6, "q": 0.8, "bins": N_BINS, "bin_width_us": BIN_WIDTH,
                        "nuisance": NUISANCE})
    done = {(r["delta"], r["nu_i_over_sqrtq_delta"], r["nu_mu"]) for r in data["records"]}
    for d, f, nm in grid:
        if (d, f, nm) in done:
            continue
        truth = _t_star_case(f, delta=d, nu_mu=nm)
        dl, kt = asimov_delta_loglike(truth, 15e6)
        data["records"].append({"delta": d, "nu_i_over_sqrtq_delta": f, "nu_mu": nm, "nu_i": truth["nu_i"],
                                "delta_loglike_15M": dl, "kt_best": kt,
                                "expected_ratio_15M": expected_ratio(dl),
                                "events_for_expected_4se": 15e6 * EXPECTED_4SE_DELTA_LOGLIKE / dl if dl > 0 else None})
        _save(path, data)
        print(f"Δ={d} ν_i={f}√QΔ ν_μ={nm}: Δlog L = {dl:.2f} at 15 M events (KT best {np.round(kt, 3)})", flush=True)


#: Δlog L at which (Δlog L − 2)/√(2 Δlog L) = 4
EXPECTED_4SE_DELTA_LOGLIKE = 35.9


def expected_ratio(delta_loglike, extra_params=2):
    """Expected elpd difference / SE for a noise-free Δlog L (large-sample approximation)."""
    return (delta_loglike - extra_params) / math.sqrt(2 * delta_loglike) if delta_loglike > 0 else float("nan")


def run_map(args):
    from scipy.optimize import least_squares

    from bayesmusr.model.temperature import TemperatureProblem
    from bayesmusr.inference.adapters import MarginalAdapter
    from bayesmusr.inference.sampling import find_map, laplace_covariance
    from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem

    path = args.json or RESULTS / "validate_map_ea.json"
    data = _load(path, {"events_per_spectrum": args.events, "bins": N_BINS, "nuisance": NUISANCE})
    done = {r["dataset"] for r in data["records"]}
    for k in range(args.n):
        if k in done:
            continue
        rng = np.random.default_rng([77, k])
        truth = _draw_truth(rng)
        runs = simulate("ea", truth, rng, args.events)
        marg = MarginalAdapter(TemperaturePointProblem(ScanPointData(math.nan, runs), "ea"))
        t0 = time.perf_counter()
        y_m, lp_m = find_map(marg)
        marg.anchor(y_m)
        _, cov = laplace_covariance(marg, y_m, lp_m)
        t_map = time.perf_counter() - t0
        full = TemperatureProblem(runs, "ea")
        # scipy least squares on the deviance residuals of the full model (all nuisances explicit),
        # started from the truth of the physics and the simulated nuisances
        start = {**truth, **{f"{n}_{i}": v for i in range(2) for n, v in NUISANCE.items()}}
        lo, hi = full.bounds
        t0 = time.perf_counter()
        ls = least_squares(full.residuals, np.clip(full.to_sampled(start), lo + 1e-9, hi - 1e-9), bounds=(lo, hi),
                           x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=5000)
        t_ls = time.perf_counter() - t0
        sd = np.sqrt(np.diag(cov))
        shift = (y_m - ls.x[:4]) / sd
        rec = {"dataset": k, "truth": truth, "map_laplace": y_m.tolist(), "least_squares": ls.x[:4].tolist(),
               "posterior_sd_sampling_coords": sd.tolist(), "shift_in_sd": shift.tolist(),
               "log_post_laplace_at_ls": float(marg.log_posterior(ls.x[:4])), "log_post_laplace_at_map": lp_m,
               "seconds_map": t_map, "seconds_least_squares": t_ls}
        data["records"].append(rec)
        _save(path, data)
        print(f"dataset {k}: MAP − least squares = {np.round(shift, 3)} SD (log Δ, log ν_i, log ν_μ, Q)", flush=True)


def _records(name):
    p = RESULTS / name
    if not p.exists():
        return []
    data = json.loads(p.read_text())
    return data["records"] if isinstance(data, dict) else []


def summary(args):
    if _records("validate_coverage_ea.json"):
        summarise_coverage(RESULTS / "validate_coverage_ea.json")
    for r in _records("validate_loo_ea.json"):
        print(f"LOO {r['case']:<14} EA − KT = {r['elpd_ea_minus_kt']:7.1f} ± {r['dse']:4.1f} ({r['ratio']:+.1f} SE), "
              f"WAIC {r['elpd_waic_ea_minus_kt']:.1f}, Pareto k > 0.7: {r['pareto_k_above_0.7']}")
    for r in _records("validate_loo_scaling.json"):
        n4 = r["events_for_expected_4se"]
        print(f"Asimov Δ={r['delta']} ν_i={r['nu_i_over_sqrtq_delta']}√QΔ ν_μ={r['nu_mu']}: Δlog L(15 M) = "
              f"{r['delta_loglike_15M']:.1f}, expected {r['expected_ratio_15M']:.1f} SE; 4 SE at "
              f"{'—' if n4 is None else f'{n4 / 1e6:.0f} M'} events per spectrum")
    s = np.array([r["shift_in_sd"] for r in _records("validate_map_ea.json")])
    if s.size:
        print(f"MAP vs least squares over {len(s)} datasets: max |shift| {np.abs(s).max():.3f} SD")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["coverage", "loo", "scaling", "map", "summary"])
    ap.add_argument("-n", type=int, default=50, help="datasets (coverage, map)")
    ap.add_argument("--events", type=float, default=15e6, help="events per spectrum (coverage, map)")
    ap.add_argument("--tau", type=float, default=50.0, help="chain length in τ for the coverage fits (default 50, as a user fit)")
    ap.add_argument("--budget", type=float, default=None, help="stop starting new datasets after this many seconds")
    ap.add_argument("--only", nargs="+", default=None, help="LOO case names to run")
    ap.add_argument("--json", default=None, help="results file (default: benchmarks/results/validate_<mode>…json)")
    args = ap.parse_args()
    {"coverage": run_coverage, "loo": run_loo, "scaling": run_scaling, "map": run_map, "summary": summary}[args.mode](args)


if __name__ == "__main__":
    main()
