# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # A report, step by step
#
# `bayesmusr report FOLDER` (and `bayesmusr fit`, which calls it) writes one
# self-contained HTML file. This notebook builds the same report piece by piece
# with the public functions of `bayesmusr.report` (`results`: loading; `bands`:
# posterior-predictive bands; `figures`; `html`: the page), on a tiny simulated
# temperature scan fitted in a few seconds:
#
# 1. simulate three temperatures (ZF + LF 1 mT) with Kadono's parameters;
# 2. fit them two ways, as `bayesmusr fit` does: the Arrhenius EA scan model
#    (`ea_scan.nc`) and a dynamic KT per temperature (`kt/kt_T*.nc`, combined
#    into `kt_per_temperature.nc`);
# 3. load the results, draw the posterior-predictive bands of one run, the
#    corner plot, the temperature dependences, the LOO comparison and the
#    sampler diagnostics;
# 4. write the whole report with `write_report`.
#
# Run headless: `python examples/report_walkthrough.py`. Outputs (results, PNG
# figures, `report.html`, `report_walkthrough.json`) go to
# `$BAYESMUSR_EXAMPLES_OUT/report_walkthrough` (default `examples/output/`).
# `BAYESMUSR_FAST=1` uses very short chains (seconds; the report then says the
# chains did not converge), as the test suite does (~20 s); the default runs the
# chains to the sampler's convergence criterion of 30 autocorrelation times (measured
# 120 s on a shared 2-core machine).

# %%
import json
import math
import os
import pathlib
import time
import warnings

import matplotlib

matplotlib.use("Agg")
import numpy as np

from bayesmusr.report import bands as rb, figures, html, results as rr
from bayesmusr.workflows.scan import combine_kt
from bayesmusr.inference.compare import format_comparison
from bayesmusr.inference.conventional import KADONO, arrhenius
from bayesmusr.inference.sampling import ConvergenceWarning, sample
from bayesmusr.model.scan import KTTemperatureProblem, ScanPointData, ScanProblem
from bayesmusr.model.simulate import simulate_spectrum

HERE = pathlib.Path(__file__).resolve().parent if "__file__" in globals() else pathlib.Path.cwd()
FAST = os.environ.get("BAYESMUSR_FAST", "0") not in ("", "0")
OUT = pathlib.Path(os.environ.get("BAYESMUSR_EXAMPLES_OUT", HERE / "output")) / "report_walkthrough"
OUT.mkdir(parents=True, exist_ok=True)
t_start = time.perf_counter()

# %% [markdown]
# ## 1. A tiny scan
#
# Three temperatures around T*, ZF and LF 1 mT, 2 M events per spectrum in 150
# bins of 0.1 μs; the nuisances (A0, α, holder fraction, backgrounds) are those
# of the demo scan. The generator is seeded, so the data are the same every run.

# %%
rng = np.random.default_rng(20261125)
points = []
for temp in (230.0, 270.0, 310.0):
    physics = {"delta": KADONO["delta"], "q": KADONO["q"],
               "nu_i": float(arrhenius(temp, KADONO["nu_i0_per_s"], KADONO["e_i_eV"])),
               "nu_mu": float(arrhenius(temp, KADONO["nu_mu0_per_s"], KADONO["e_mu_eV"]))}
    runs = [simulate_spectrum("ea", physics, b, rng=rng, n_events=2e6, n_bins=150, bin_width=0.1, a0=0.22,
                              alpha=1.05, fbg=0.06, bgf=1e-3, bgb=1e-3) for b in (0.0, KADONO["b_lf_mT"])]
    points.append(ScanPointData(temp, runs))

# %% [markdown]
# ## 2. Two readings of the scan
#
# The same calls as `bayesmusr fit`. To keep the example fast the muon-jump law
# is fixed at its true value (`priors`), so the EA scan samples log10 ν_i0, E_i,
# Δ and Q. Short chains in FAST mode stop before the convergence criterion; the
# sampler warns and records it, and the report shows it.

# %%
settings = dict(nwalkers=12, max_steps=150, min_steps=100, check_every=50, max_draws=300, n_predictive=100) \
    if FAST else dict(nwalkers=16, tau_multiple=30, max_draws=1000, n_predictive=200)
settings["progress"] = False
folder = OUT / "fit"
(folder / "kt").mkdir(parents=True, exist_ok=True)
for f in folder.glob("**/*.nc"):
    f.unlink()  # results of an earlier run would be reused by nothing here: start clean
with warnings.catch_warnings():
    if FAST:
        warnings.simplefilter("ignore", ConvergenceWarning)
    scan = ScanProblem(points, priors={"log10_nu_mu0": math.log10(KADONO["nu_mu0_per_s"]),
                                       "e_mu": KADONO["e_mu_eV"]})
    ea_idata = sample(scan, seed=1, out=folder / "ea_scan.nc", **settings)
    kt_fits = [sample(KTTemperatureProblem(p), seed=101 + j, out=folder / "kt" / f"kt_T{j:02d}.nc", **settings)
               for j, p in enumerate(scan.points)]
combine_kt(kt_fits, scan, folder / "kt_per_temperature.nc")
print(f"fits written to {folder}")

# %% [markdown]
# ## 3. The pieces of the report
#
# `collect_results` reads what `write_report` reads: every result of the folder
# (and the per-temperature KT fits). The combined KT reading stores no
# posterior-predictive replicas and no run fields; the report takes the fields
# from `ea_scan.nc` (same data) and puts posterior draws through the KT model.

# %%
data = rr.collect_results([folder])
ea, kt = data["results"]
print([(r.label, r.kind, len(r.runs)) for r in data["results"]], "notes:", kt.notes)

# %% [markdown]
# Posterior-predictive bands of one run (the LF run at the middle temperature)
# for both readings: the fraction of data points inside the 68 % and 95 % bands
# should be near 68 % and 95 % when a model describes the data. Each reading's
# replicas are made with its own nuisances (its own α among them); the data and
# both bands are shown as (F − αB)/(F + αB) with one α, the EA scan's.

# %%
k = 3
b_ea = rb.run_bands(ea, ea.runs[k])
bands = [(ea.label, b_ea), (kt.label, rb.run_bands(kt, kt.runs[k], alpha=b_ea.alpha))]
for label, b in bands:
    print(f"{label}: {b.source}; own α = {b.fit_alpha:.4f}, shown with α = {b.alpha:.4f}; "
          f"inside 68 %: {b.inside68:.2f}, inside 95 %: {b.inside95:.2f}")
fig = figures.run_figure(ea.runs[k], bands)
fig.savefig(OUT / "run_bands.png", dpi=100)

# %% [markdown]
# Corner plot of the global parameters of the EA scan, and the temperature
# dependences: ν_i(T), ν_μ(T) and Δ of the EA scan with the KT reading overlaid.

# %%
figures.corner_figure(ea).savefig(OUT / "corner.png", dpi=90)
figures.temperature_figure(ea, kt).savefig(OUT / "temperature.png", dpi=90)

# %% [markdown]
# Which reading do the data support? LOO over every bin (with three
# temperatures and 2 M events the answer is usually "not distinguishable").

# %%
cmp = rr.comparison([ea, kt])
print(format_comparison(cmp))

# %% [markdown]
# Sampler diagnostics: `arviz.summary` (R-hat, bulk/tail ESS, MCSE) and what the
# sampler stored (acceptance fraction, autocorrelation times, convergence).

# %%
summary = rr.diagnostics_summary(ea)
print(summary[["mean", "sd", "ess_bulk", "ess_tail", "r_hat"]].to_string())
info = rr.sampler_info(ea)
print({k: info[k] for k in ("acceptance_fraction_mean", "tau_max", "chain_length_in_tau", "convergence_message")})
figures.diagnostics_figure(ea, summary).savefig(OUT / "diagnostics.png", dpi=90)

# %% [markdown]
# ## 4. The whole report
#
# One call; open `report.html` in a browser. `bayesmusr report FOLDER` does the same.

# %%
html_path = html.write_report(folder, OUT / "report.html")
for r in data["results"] + data["kt_fits"]:
    r.close()  # results are read lazily: release the files
print(f"report written: {html_path} ({html_path.stat().st_size / 1e6:.1f} MB)")
results = {
    "meta": {"fast_mode": FAST, "seconds": time.perf_counter() - t_start},
    "report": str(html_path),
    "figures": ["run_bands.png", "corner.png", "temperature.png", "diagnostics.png"],
    "n_runs": len(ea.runs),
    "band_coverage_run3": {label: {"inside68": b.inside68, "inside95": b.inside95} for label, b in bands},
    "elpd_loo": {str(n): float(cmp["loo"].loc[n, "elpd_loo"]) for n in cmp["loo"].index},
    "ea_r_hat_max": float(np.nanmax(summary["r_hat"])),
}
(OUT / "report_walkthrough.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
print(f"done in {results['meta']['seconds']:.0f} s")
