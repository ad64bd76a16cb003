"""Calibration of the published-table reanalysis: coverage of its intervals on simulated tables.

Each simulated "published" table is made the way a paper's is, independently of the emulator:

1. truth (Δ, Q, E_i, ν_i0, E_μ, ν_μ0) drawn at random (seeded) from a range where the ions'
   rate crosses the μSR window inside the scan for some tables and not for others; a draw whose
   muon rate passes 8 Δ inside the scan is drawn again (the emulator holds ν_μ ≤ 10 Δ; beyond, a
   KT fit only determines Δ²/ν);
2. at each of 10–14 temperatures, ZF and LF 1 mT asymmetry spectra of G^EA (the EA table,
   ``bayesmusr.physics.tables.ea``) with Gaussian counting noise σ(t) = σ₀ e^{t/2τ_μ} (a pulsed
   source, σ₀ per 0.04 μs bin drawn per table from [0.01, 0.03]);
3. a real global dynamic-KT χ² fit of each noisy pair (``fit_kt_global``), whose (Δ_KT, ν_KT) and
   their standard errors are the published row.

The reanalysis (emulator in the likelihood, published errors, default priors) is then run on the
table, and the script counts how often the central 68 % and 95 % intervals of E_i, E_μ, Q, Δ,
log10 ν_i0 and log10 ν_μ0 hold the truth, with the binomial standard error of each fraction, and
how wide the E_i interval is where the ions never reach the window (the "honestly wide" case).

Run:  .venv/bin/python benchmarks/validate_reanalysis.py [N_TABLES] [--fast] [--shard=K/N]
Each table's outcome is written to benchmarks/results/reanalysis_coverage/<i>.json as it
finishes, so an interrupted run resumes; the summary goes to
benchmarks/results/validate_reanalysis.json.
"""
from __future__ import annotations

import json
import math
import pathlib
import sys

import time

import numpy as np

from bayesmusr.inference.sampling import sample
from bayesmusr.io.published import PublishedTable
from bayesmusr.model.kt_reading import KTReadingEmulator, ReadingConditions
from bayesmusr.model.reanalysis import EAReadingProblem
from bayesmusr.model.simulate import simulate_published_table
from bayesmusr.physics.constants import arrhenius
from bayesmusr.workflows.reanalyse import delta_range

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "results" / "reanalysis_coverage"
CONDITIONS = ReadingConditions(fields_mT=(0.0, 1.0))
NAMES = ("e_i", "log10_nu_i0", "e_mu", "log10_nu_mu0", "q", "delta")


def draw_truth(rng: np.random.Generator) -> dict:
    """One truth whose reading the emulator covers (ν_μ ≤ 8 Δ over the scan; it holds ν_μ ≤ 10 Δ)."""
    while True:
        truth = _draw(rng)
        if _muon_ratio(truth) <= 8.0:
            return truth


def _muon_ratio(truth: dict) -> float:
    """Largest ν_μ/Δ over the scan (above ~10 the KT fit degenerates to Δ²/ν: no published Δ_KT, ν_KT)."""
    return float(np.max(arrhenius(np.array(truth["temperatures"]), truth["log10_nu_mu0"], truth["e_mu"]))
                 / truth["delta"])


def _draw(rng: np.random.Generator) -> dict:
    """One candidate truth; the scan's temperatures are placed around where ν_i = 3√QΔ (or not, 1 in 4)."""
    # Δ in [0.235, 0.295]: one cached emulator (Δ range 0.15–0.9 μs⁻¹, workflows.reanalyse.delta_range) serves all
    truth = {"delta": rng.uniform(0.235, 0.295), "q": rng.uniform(0.2, 0.9), "e_i": rng.uniform(0.2, 0.6),
             "log10_nu_i0": rng.uniform(11.0, 13.5), "e_mu": rng.uniform(0.01, 0.08),
             "log10_nu_mu0": rng.uniform(5.5, 7.0)}
    # temperature where the ions cross the window: ν_i(T) = 3√QΔ
    nu_star = 3.0 * math.sqrt(truth["q"]) * truth["delta"]
    t_cross = truth["e_i"] / (8.617333262e-5 * math.log(10 ** (truth["log10_nu_i0"] - 6.0) / nu_star))
    frac_hi = 1.3 if rng.uniform() < 0.75 else 0.75  # 1 in 4 scans stop below the crossing
    n = int(rng.integers(10, 15))
    return truth | {"temperatures": np.linspace(0.55 * t_cross, frac_hi * t_cross, n).tolist()}


def simulate_table(truth: dict, rng: np.random.Generator) -> PublishedTable:
    """Noisy EA spectra at each temperature, each pair fitted by the global dynamic KT (module docstring)."""
    return simulate_published_table(truth, truth["temperatures"], CONDITIONS, sigma0=rng.uniform(0.01, 0.03), rng=rng)


def one_table(i: int, fast: bool, cache: pathlib.Path) -> dict:
    rng = np.random.default_rng([20261203, i])
    truth = draw_truth(rng)
    table = simulate_table(truth, rng)
    emu = KTReadingEmulator.load_or_build(CONDITIONS, delta_range(table, CONDITIONS), cache_dir=cache, progress=False)
    problem = EAReadingProblem(table, emu)
    t0 = time.perf_counter()
    settings = {"max_steps": 4000 if fast else 20000, "progress": False}
    idata = sample(problem, seed=i, **settings)
    out = {"i": i, "truth": truth, "seconds": time.perf_counter() - t0,
           "converged": int(idata.posterior.attrs["converged"]), "n_rows": table.n,
           "model_error": list(problem.model_error),
           "n_nu": int(np.isfinite(table.nu_kt).sum())}
    for name in NAMES:
        v = idata.posterior[name].values.ravel()
        out[name] = np.percentile(v, [2.5, 16, 50, 84, 97.5]).tolist()
    return out


def summarise(rows: list[dict]) -> dict:
    res = {"n_tables": len(rows), "converged": sum(r["converged"] for r in rows)}
    for name in NAMES:
        cov = {}
        for mass, (lo, hi) in (("68", (1, 3)), ("95", (0, 4))):
            hit = [r[name][lo] <= r["truth"][name] <= r[name][hi] for r in rows]
            p = float(np.mean(hit))
            cov[mass] = {"fraction": p, "binomial_se": math.sqrt(p * (1 - p) / len(rows)) if rows else math.nan}
        res[name] = cov
    below = [r for r in rows if max(r["truth"]["temperatures"]) < _t_cross(r["truth"])]
    res["e_i_95_width_ions_outside_window"] = float(np.median([r["e_i"][4] - r["e_i"][0] for r in below])) \
        if below else math.nan
    res["e_i_95_width_ions_inside_window"] = float(np.median([r["e_i"][4] - r["e_i"][0] for r in rows
                                                              if r not in below])) if len(below) < len(rows) else math.nan
    res["n_ions_outside_window"] = len(below)
    return res


def _t_cross(truth: dict) -> float:
    nu_star = 3.0 * math.sqrt(truth["q"]) * truth["delta"]
    return truth["e_i"] / (8.617333262e-5 * math.log(10 ** (truth["log10_nu_i0"] - 6.0) / nu_star))


def main(argv: list[str]) -> None:
    n = int(next((a for a in argv if a.isdigit()), 50))
    fast = "--fast" in argv
    shard, n_shards = (int(v) for v in next((a.split("=")[1] for a in argv if a.startswith("--shard=")), "0/1").split("/"))
    OUT.mkdir(parents=True, exist_ok=True)
    cache = None  # the user cache ($BAYESMUSR_CACHE or ~/.cache/bayesmusr): the emulator is built once
    rows = []
    for i in range(n):
        path = OUT / f"{i:03d}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
            continue
        if i % n_shards != shard:  # another process's table (--shard=k/n runs n processes side by side)
            continue
        row = one_table(i, fast, cache)
        path.write_text(json.dumps(row, indent=1))
        rows.append(row)
        print(f"table {i}: {row['seconds']:.0f} s, E_i {row['e_i'][2]:.3f} [{row['e_i'][0]:.3f}, {row['e_i'][4]:.3f}] "
              f"truth {row['truth']['e_i']:.3f}; Q {row['q'][2]:.2f} truth {row['truth']['q']:.2f}", flush=True)
    if len(rows) < n:
        print(f"{len(rows)} of {n} tables done (the other shards are still running)")
        return
    res = summarise(rows)
    (HERE / "results" / "validate_reanalysis.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
