"""Compare emcee move mixtures on the bench_fit EA posterior (issue 19): τ, acceptance, ESS, R-hat per mixture.

The one-temperature EA problem of `bench_fit.py` (Laplace nuisances, 4 sampled dimensions), MAP and
Laplace start as `sample` makes them, then 32 walkers × STEPS steps per mixture from the same start
and random state.  Prints one JSON line per mixture; τ is emcee's integrated autocorrelation time
per parameter (tol=0), ESS and R-hat ArviZ's (bulk, rank-normalised) after a 2 τ_max burn-in.

Run: .venv/bin/python benchmarks/bench_moves.py ea 1500 de_snooker stretch de_stretch kde_de de
     (measured 3 Dec 2026: benchmarks/results/moves_ea.json)
"""
import json
import math
import sys
import time

import arviz as az
import emcee
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from bench_fit import CASES, NUISANCE, EVENTS, N_BINS, BIN_WIDTH
from bayesmusr.model.simulate import simulate_spectrum
from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem
from bayesmusr.inference.adapters import MarginalAdapter
from bayesmusr.inference.sampling import find_map, laplace_covariance, _initial_walkers
model = sys.argv[1]; steps = int(sys.argv[2]); which = sys.argv[3:]
rng = np.random.default_rng(7)
runs = [simulate_spectrum(model, CASES[model], b, rng=rng, n_events=EVENTS, n_bins=N_BINS, bin_width=BIN_WIDTH, **NUISANCE) for b in (0.0, 1.0)]
marg = MarginalAdapter(TemperaturePointProblem(ScanPointData(math.nan, runs), model))
t0 = time.perf_counter(); y_map, lp = find_map(marg); print("map s %.1f" % (time.perf_counter() - t0), flush=True)
lp = marg.anchor(y_map)
centre, cov = laplace_covariance(marg, y_map, lp)
M = emcee.moves
mixes = {
 "de_snooker": lambda: [(M.DEMove(), 0.8), (M.DESnookerMove(), 0.2)],
 "stretch": lambda: [(M.StretchMove(), 1.0)],
 "de": lambda: [(M.DEMove(), 1.0)],
 "de_stretch": lambda: [(M.DEMove(), 0.5), (M.StretchMove(), 0.5)],
 "de_g1": lambda: [(M.DEMove(), 0.9), (M.DEMove(gamma0=1.0), 0.1)],
 "kde": lambda: [(M.KDEMove(), 1.0)],
 "kde_de": lambda: [(M.KDEMove(), 0.5), (M.DEMove(), 0.5)],
}
nw = 32
for name in which:
    p0 = _initial_walkers(marg, centre, cov, nw, np.random.default_rng(3))
    s = emcee.EnsembleSampler(nw, marg.ndim, marg.log_posterior, moves=mixes[name]())
    s.random_state = np.random.RandomState(5).get_state()
    t0 = time.perf_counter()
    s.run_mcmc(p0, steps, progress=False)
    dt = time.perf_counter() - t0
    tau = s.get_autocorr_time(tol=0)
    ch = s.get_chain()
    burn = int(2 * tau.max())
    idata = az.from_dict(posterior={n: ch[burn:, :, k].T for k, n in enumerate(marg.names)})
    ess = az.ess(idata); rh = az.rhat(idata)
    print(json.dumps({"mix": name, "steps": steps, "s": round(dt, 1), "tau": np.round(tau, 1).tolist(),
                      "acc": round(float(s.acceptance_fraction.mean()), 3),
                      "ess_min": round(min(float(ess[n]) for n in marg.names)),
                      "rhat_max": round(max(float(rh[n]) for n in marg.names), 4)}), flush=True)
