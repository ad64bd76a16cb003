"""Noise-free (Asimov) check of the EA scan model: does its posterior maximum sit at the truth?

For a variant of `validate_scan.py`, the expected counts themselves (no Poisson noise,
bunched bins as the job reads them) are fitted with the scan model, and the log-posterior is
maximised (Nelder–Mead from just beside the truth).  The likelihood alone is largest at the
truth, so a maximum elsewhere is the pull of the priors and of the Laplace-marginalised
per-run nuisances (their Occam factor).

``--shared`` fits with one holder fraction for the whole scan (holder_fraction="shared").
``--holder-test`` regenerates the data without a sample-holder fraction (f = 0) and fits it
twice — f free in every run (holder_fraction=true) and f fixed — to show which nuisance pulls.
Without a flag the fit has one f per run (holder_fraction=true, the job's default before 25 Nov 2026).

Run: .venv/bin/python benchmarks/asimov_scan.py [variant ...] [--shared | --holder-test]
     (writes benchmarks/results/asimov_scan.json; ~1.5 min per fit on 2 cores)
"""
from __future__ import annotations

import json
import math
import pathlib
import sys

import numpy as np
from scipy.optimize import minimize

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "asimov_scan.json"


def asimov_points(spec: dict, holder: float | None = None):
    """Expected counts of a variant at the job's bunched binning (t ≥ 0.05 μs, t ≤ t_max)."""
    from validate_scan import physics_at

    from bayesmusr.model.rundata import RunData
    from bayesmusr.model.scan import ScanPointData
    from bayesmusr.model.simulate import expected_counts

    truth = spec["truth"]
    nuis = dict(spec["nuisances"])
    if holder is not None:
        nuis["fbg"] = holder
    bw = spec["bin_width"] * spec["bunch"]
    t = (np.arange(int(spec["t_max"] / bw)) + 0.5) * bw
    keep = t >= 0.05
    points = []
    for temp in spec["temperatures"]:
        phys = physics_at(truth, temp)
        runs = []
        for b in spec["fields_mT"]:
            mf, mb, _ = expected_counts("ea", phys, b, t, bw, n_events=spec["n_events"], **nuis)
            runs.append(RunData("histograms", t[keep], b, width=np.full(keep.sum(), bw),
                                forward=mf[keep], backward=mb[keep]))
        points.append(ScanPointData(float(temp), runs))
    return points


def maximise(points, truth: dict, holder_fraction: bool | str = True, truth_f: float = 0.0) -> dict:
    """Posterior maximum of the scan model on these points, against the truth."""
    from bayesmusr.model.scan import ScanProblem

    prob = ScanProblem(points, holder_fraction=holder_fraction)
    y0 = np.array([math.log(truth[k]) if k == "delta" else truth[k] for k in prob.names if k != "fbg"])
    if prob.shared_holder:  # the shared holder fraction's truth is the variant's fbg
        y0 = np.append(y0, truth_f)
    start = y0 + np.array([0.02, 2e-4, 0.004, 4e-5, 2e-4, 4e-4, 1e-3][:y0.size])  # just beside the truth
    res = minimize(lambda y: -prob.log_posterior(y), start, method="Nelder-Mead",
                   options={"xatol": 1e-7, "fatol": 1e-6, "maxiter": 6000, "maxfev": 6000})
    phys = lambda y: {k: (math.exp(v) if k == "delta" else float(v)) for k, v in zip(prob.names, y)}  # noqa: E731
    return {"truth": phys(y0), "maximum": phys(res.x), "log_posterior_truth": float(prob.log_posterior(y0)),
            "log_posterior_maximum": float(-res.fun), "gain": float(-res.fun - prob.log_posterior(y0)),
            "holder_fraction_free": holder_fraction, "evaluations": int(res.nfev)}


def main():
    import validate_scan as v

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    holder_test = "--holder-test" in sys.argv
    names = args or ["isis_nexus_files", "three_fields", "other_material", "zf_only_psi"]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        spec = v.VARIANTS[name]
        if holder_test:
            runs = [("no holder, f free", 0.0, True), ("no holder, f fixed", 0.0, False)]
        elif "--shared" in sys.argv:
            runs = [("shared f", None, "shared")]
        else:
            runs = [("one f per run", None, True)]
        for label, holder, free in runs:
            f_true = spec["nuisances"]["fbg"] if holder is None else holder
            r = maximise(asimov_points(spec, holder), spec["truth"], holder_fraction=free, truth_f=f_true)
            results.setdefault(name, {})[label] = r
            print(f"{name} ({label}): gain {r['gain']:.2f}; " + ", ".join(
                f"{k} {r['truth'][k]:.4g} -> {r['maximum'][k]:.4g}" for k in r["truth"]))
            RESULTS.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
