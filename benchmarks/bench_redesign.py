"""Before/after the layered redesign (issue 14): the same workloads timed on the old and the new code, same run.

The old code is commit bac1ead (the last one before the redesign), checked out with
``git worktree`` into a temporary folder; both codes run the same child script in separate
processes, alternated ``--rounds`` times so that machine load hits both alike.  Workloads:

* ``dynamic_kt`` and ``ea`` on 2000 bins (LF 1 mT, ν_μ > 0): the relaxation functions;
* one log-posterior evaluation of a one-temperature fit with Laplace nuisances (KT and EA),
  with every nuisance sampled (KT), and of a 3-temperature EA scan (shared holder fraction),
  at points near the optimum (each problem built and anchored first, as the sampler does).

Prints median times and the ratio new/old per workload (< 1: the new code is faster) and
writes benchmarks/results/redesign.json.

Run: .venv/bin/python benchmarks/bench_redesign.py [--rounds 3] [--old-commit bac1ead]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent

CHILD = r'''
import json, sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
import bayesmusr as bm
try:  # the new layout
    from bayesmusr.model.simulate import simulate_run
    from bayesmusr.model.rundata import RunData
    from bayesmusr.model.scan import ScanPointData, ScanProblem, TemperaturePointProblem
    from bayesmusr.model.temperature import TemperatureProblem
except ImportError:  # the old one
    from bayesmusr.simulate import simulate_run
    from bayesmusr.models import RunData, TemperatureProblem
    from bayesmusr.scan import ScanPointData, ScanProblem, TemperaturePointProblem


def per_call(fn, n):
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def runs(rng, model, physics, temperature):
    return [RunData.from_run(simulate_run(model, physics, b, rng=rng, temperature_K=temperature, n_events=2e6,
                                          n_bins=2000, bin_width=0.016, a0=0.22, alpha=1.05, fbg=0.05,
                                          bgf=0.002, bgb=0.002)) for b in (0.0, 1.0)]


rng = np.random.default_rng(20261203)
t = np.linspace(0, 20, 2000)
out = {"dynamic_kt_2000": per_call(lambda: bm.dynamic_kt(t, 0.3, 0.5, 1.0), 200),
       "ea_2000_lf_numu": per_call(lambda: bm.ea(t, 0.3, 1.0, 0.05, 0.8, 1.0), 500)}
ea_phys = {"delta": 0.35, "nu_i": 0.5, "nu_mu": 0.02, "q": 0.8}
point = runs(rng, "ea", ea_phys, 200.0)
for model, y in (("dynamic_kt", [np.log(0.33), np.log(0.32)]),
                 ("ea", [np.log(0.35), np.log(0.5), np.log(0.02), 0.8])):
    prob = TemperaturePointProblem(ScanPointData(200.0, point), model)
    y = np.array(y)
    prob.log_posterior(y)
    steps = [y + 0.01 * rng.standard_normal(y.size) for _ in range(50)]
    out[f"logpost_laplace_{model}"] = per_call(lambda: [prob.log_posterior(s) for s in steps], 3) / len(steps)
full = TemperatureProblem(point, "dynamic_kt")
y0 = full.to_sampled({"delta": 0.33, "nu": 0.32, "a0_0": 0.22, "a0_1": 0.22, "alpha_0": 1.05, "alpha_1": 1.05,
                      "fbg_0": 0.05, "fbg_1": 0.05, "bgf_0": 0.002, "bgb_0": 0.002, "bgf_1": 0.002, "bgb_1": 0.002})
out["logpost_sampled_dynamic_kt"] = per_call(lambda: full.log_posterior(y0), 200)
scan = []
for temperature in (200.0, 250.0, 300.0):
    nu_i = 5e12 * 1e-6 * np.exp(-0.35 / (8.617333262e-5 * temperature))
    nu_mu = 2e6 * 1e-6 * np.exp(-0.02 / (8.617333262e-5 * temperature))
    scan.append(ScanPointData(temperature, runs(rng, "ea", {"delta": 0.35, "nu_i": nu_i, "nu_mu": nu_mu, "q": 0.8},
                                                temperature)))
sp = ScanProblem(scan, holder_fraction="shared")
names = sp.names
x = {"log10_nu_i0": np.log10(5e12), "e_i": 0.35, "log10_nu_mu0": np.log10(2e6), "e_mu": 0.02, "delta": np.log(0.35),
     "q": 0.8, "fbg": 0.05}
y = np.array([x[n] for n in names])
sp.log_posterior(y)
steps = [y + 0.003 * rng.standard_normal(y.size) for _ in range(20)]
out["logpost_scan_3T_shared"] = per_call(lambda: [sp.log_posterior(s) for s in steps], 3) / len(steps)
print(json.dumps(out))
'''


def old_tree(commit: str, where: pathlib.Path) -> pathlib.Path:
    """A checkout of ``commit`` (git worktree, detached) with its EA table in place."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), commit], check=True,
                   capture_output=True)
    return where


def run_child(pythonpath: pathlib.Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(pythonpath)
    res = subprocess.run([sys.executable, "-c", CHILD], cwd=pythonpath, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--old-commit", default="bac1ead")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = old_tree(args.old_commit, pathlib.Path(tmp) / "old")
        try:
            times = {"old": [], "new": []}
            for _ in range(args.rounds):
                times["old"].append(run_child(old))
                times["new"].append(run_child(REPO))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], capture_output=True)
    med = {which: {k: statistics.median(r[k] for r in rows) for k in rows[0]} for which, rows in times.items()}
    print(f"{'workload':<30} {'old':>12} {'new':>12} {'new/old':>8}")
    for k in med["old"]:
        print(f"{k:<30} {med['old'][k] * 1e3:10.3f}ms {med['new'][k] * 1e3:10.3f}ms {med['new'][k] / med['old'][k]:8.2f}")
    out = REPO / "benchmarks" / "results" / "redesign.json"
    out.write_text(json.dumps({"old_commit": args.old_commit, "rounds": args.rounds, "median_seconds": med,
                               "ratio_new_over_old": {k: med["new"][k] / med["old"][k] for k in med["old"]},
                               "machine": platform.platform(), "load": os.getloadavg()}, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
