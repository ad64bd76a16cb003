"""Figures and the Markdown report of a temperature-scan job (``bayesmusr fit``)."""
from __future__ import annotations

import json
import math
import pathlib

import numpy as np

from bayesmusr.inference import compare
from bayesmusr.physics.constants import K_B_EV
from bayesmusr.physics.kt import dynamic_kt
from bayesmusr.inference.conventional import two_state_delta
from bayesmusr.workflows.scan import (ESS_GOAL, NU_KT_RIDGE_BOUND_FRACTION, NU_KT_RIDGE_RATIO, RHAT_GOAL,
                                      _posterior_array, diagnostics, support_warning)

__all__ = ["make_figures", "write_report"]


def _band(samples, axis=0):
    return np.percentile(samples, [2.5, 50, 97.5], axis=axis)


def make_figures(out, problem, ea_idata, kt_results, conv, cmp, truth) -> dict:
    """PNG figures of the two readings and the evidence; returns {name: path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    temps = problem.temperatures
    figs = {}
    tt = np.linspace(temps.min() * 0.95, temps.max() * 1.05, 200)
    post = ea_idata.posterior
    draws = {n: np.asarray(post[n]).ravel() for n in post.data_vars}
    sel = np.random.default_rng(0).choice(draws["e_i"].size if "e_i" in draws else 1,
                                          size=min(400, draws[next(iter(draws))].size), replace=False)

    def param(name):
        if name in draws:
            return draws[name][sel]
        k = [p.name for p in problem.declared].index(name)
        return np.full(sel.size, problem.priors[k].value)

    li0, ei, lm0, em = param("log10_nu_i0"), param("e_i"), param("log10_nu_mu0"), param("e_mu")
    nu_i = 10 ** (li0[:, None] - 6) * np.exp(-ei[:, None] / (K_B_EV * tt[None, :]))
    nu_mu = 10 ** (lm0[:, None] - 6) * np.exp(-em[:, None] / (K_B_EV * tt[None, :]))
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for arr, color, label in ((nu_i, "C0", "ν_i (EA scan, 95 % band)"), (nu_mu, "C1", "ν_μ (EA scan, 95 % band)")):
        lo, med, hi = _band(arr)
        ax.fill_between(1000 / tt, lo, hi, color=color, alpha=0.3)
        ax.plot(1000 / tt, med, color=color, label=label)
    ax.errorbar(1000 / temps, conv["nu_kt"], yerr=conv["nu_kt_sd"], fmt="ks", ms=4, label="ν_KT (KT per T)")
    if {"log10_nu_i0", "e_i"} <= set(truth):
        ax.plot(1000 / tt, 10 ** (truth["log10_nu_i0"] - 6) * np.exp(-truth["e_i"] / (K_B_EV * tt)), "C0--",
                lw=1, label="ν_i truth")
    if {"log10_nu_mu0", "e_mu"} <= set(truth):
        ax.plot(1000 / tt, 10 ** (truth["log10_nu_mu0"] - 6) * np.exp(-truth["e_mu"] / (K_B_EV * tt)), "C1--",
                lw=1, label="ν_μ truth")
    ax.axvline(1000 / conv["t_star_K"], color="grey", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1e3)
    ax.set_xlabel("1000 / T (K⁻¹)")
    ax.set_ylabel("rate (μs⁻¹)")
    ax.legend(fontsize=8)
    ax.set_title("Jump rates: EA scan model vs the KT reading")
    fig.tight_layout()
    figs["rates"] = out / "rates.png"
    fig.savefig(figs["rates"], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.errorbar(temps, conv["delta_kt"], yerr=conv["delta_kt_sd"], fmt="ks", ms=4, label="Δ_KT (KT per T)")
    if "delta" in conv.get("eq4", {}):
        e4 = conv["eq4"]
        ax.plot(tt, two_state_delta(tt, e4["delta"], e4["q"], e4["n_states"], e4["e_delta_eV"]), "k--", lw=1,
                label=f"Eq. 4 fit: E_Δ = {e4['e_delta_eV']:.2f} eV, Q = {e4['q']:.2f}")
    d, q = param("delta"), param("q")
    for arr, color, label in ((d, "C2", "Δ (EA scan)"), (np.sqrt(1 - q) * d, "C3", "√(1−Q)Δ (EA scan)")):
        lo, med, hi = np.percentile(arr, [2.5, 50, 97.5])
        ax.axhspan(lo, hi, color=color, alpha=0.25)
        ax.axhline(med, color=color, label=label)
    ax.set_xlabel("T (K)")
    ax.set_ylabel("Δ (μs⁻¹)")
    ax.legend(fontsize=8)
    ax.set_title("Linewidth: the Δ_KT drop towards √(1−Q)Δ")
    fig.tight_layout()
    figs["delta"] = out / "delta_kt.png"
    fig.savefig(figs["delta"], dpi=120)
    plt.close(fig)

    # evidence per temperature: pointwise elpd difference summed per T
    loo_ea = cmp["results"]["EA_scan"]
    loo_kt = cmp["results"]["KT_per_T"]
    import arviz as az

    pe = np.asarray(az.loo(loo_ea, pointwise=True).loo_i)
    pk = np.asarray(az.loo(loo_kt, pointwise=True).loo_i)
    obs_t = np.asarray(loo_ea.observed_data["obs_temperature"])
    diff = np.array([np.sum((pe - pk)[obs_t == t]) for t in temps])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.bar(temps, diff, width=0.6 * np.min(np.diff(temps)) if temps.size > 1 else 5, color="C0")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("T (K)")
    ax.set_ylabel("elpd_loo(EA) − elpd_loo(KT)")
    ax.set_title("Where the data prefer EA (positive) or KT (negative)")
    fig.tight_layout()
    figs["evidence"] = out / "evidence_per_temperature.png"
    fig.savefig(figs["evidence"], dpi=120)
    plt.close(fig)

    # spectra with both readings at three temperatures (low, T*, high)
    js = sorted({0, int(np.argmin(np.abs(temps - conv["t_star_K"]))), len(temps) - 1})
    fig, axes = plt.subplots(1, len(js), figsize=(4.2 * len(js), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    x_med = [float(np.median(draws[n])) if n in draws else problem.priors[k].value
             for k, n in enumerate(p.name for p in problem.declared)]
    gs_ea = problem._polarisations(x_med)
    f_shared = problem.holder(x_med)
    lims = []  # model range per panel: the y axis (shared) follows the curves, not the noisy late bins
    for ax, j in zip(axes, js):
        pt = problem.points[j]
        kt_med = (float(np.median(_posterior_array(kt_results[j], "delta"))),
                  float(np.median(_posterior_array(kt_results[j], "nu"))))
        curves = []
        for k, (r, blk, g) in enumerate(zip(pt.runs, problem.blocks[j], gs_ea[j])):
            color = f"C{k % 10}"
            blk.marginal(g)  # nuisances at the EA median; the KT curve is drawn with the same ones
            asym, err = blk.observed_asymmetry(g)
            # after the background subtraction the last bins hold a few counts: their points say nothing
            keep = np.isfinite(asym) & (err < 0.05)
            ax.errorbar(r.t[keep], asym[keep], yerr=err[keep], fmt=".", ms=2, color=color, alpha=0.4,
                        label=f"{r.label}")
            curves.append(blk.asymmetry(g))
            ax.plot(r.t, curves[-1], color=color, lw=1.5)
            gk = dynamic_kt(r.t, kt_med[0], kt_med[1], r.b_lf)
            gk = gk if f_shared is None else (1.0 - f_shared) * gk + f_shared  # as the EA curve's P(t)
            ax.plot(r.t, blk.asymmetry(gk), color="k", lw=0.8, ls="--")
        lims.append((min(float(np.min(c)) for c in curves), max(float(np.max(c)) for c in curves)))
        ax.set_title(f"T = {pt.temperature:g} K (solid EA, dashed KT)", fontsize=9)
        ax.set_xlabel("t (μs)")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("asymmetry")
    lo, hi = min(a for a, _ in lims), max(b for _, b in lims)
    pad = 0.15 * max(hi - lo, 0.02)
    axes[0].set_ylim(lo - 2 * pad, hi + pad)
    fig.tight_layout()
    figs["spectra"] = out / "spectra.png"
    fig.savefig(figs["spectra"], dpi=110)
    plt.close(fig)

    # pair plot of the global parameters
    names = [n for n in problem.names if n in draws][:6]
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k, 1.9 * k))
    for i in range(k):
        for jj in range(k):
            ax = axes[i, jj]
            if jj > i:
                ax.axis("off")
                continue
            if i == jj:
                ax.hist(draws[names[i]], bins=30, color="C0")
            else:
                ax.plot(draws[names[jj]], draws[names[i]], ",", color="C0", alpha=0.5)
            if names[i] in truth and i == jj:
                ax.axvline(truth[names[i]], color="C3", lw=1)
            if i == k - 1:
                ax.set_xlabel(names[jj], fontsize=8)
            if jj == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize=8)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    figs["corner"] = out / "corner.png"
    fig.savefig(figs["corner"], dpi=100)
    plt.close(fig)
    return figs


def _likelihood_line(problem) -> str:
    """Which likelihood the runs got: Poisson for counts, Gaussian for exported asymmetries."""
    kinds = [r.kind for p in problem.points for r in p.runs]
    parts = []
    if n := kinds.count("histograms"):
        parts.append(f"Poisson on the forward/backward counts of {n} histogram run{'s' * (n > 1)} "
                     "(N0 integrated out; A, α, holder fraction and backgrounds by Laplace)")
    if n := kinds.count("asymmetry"):
        parts.append(f"Gaussian on the stored errors of {n} exported asymmetry run{'s' * (n > 1)} "
                     "(amplitude and holder fraction integrated out exactly)")
    return "Likelihood: " + "; ".join(parts) + "."


def _diagnostics_line(diag) -> str:
    worst = max(diag["r_hat"], key=diag["r_hat"].get)
    low = min(diag["ess_bulk"], key=diag["ess_bulk"].get)
    verdict = "goals met" if diag["met"] else "**goals NOT met: treat the intervals with caution**"
    return (f"Diagnostics (unrounded): max R-hat {diag['r_hat'][worst]:.4f} ({worst}; goal < {RHAT_GOAL}), "
            f"min bulk ESS {diag['ess_bulk'][low]:.0f} ({low}; goal > {ESS_GOAL}) — {verdict}.")


def write_report(out, cfg, problem, ea_idata, kt_results, conv, cmp, comparison_text, figures, truth, timings):
    """Markdown report of the scan analysis."""

    summ = compare.summary(ea_idata, var_names=[n for n in problem.names], hdi_prob=0.95)
    attrs = ea_idata.posterior.attrs
    lines = ["# bayesmusr temperature-scan analysis", "",
             f"Temperatures: {', '.join(f'{t:g}' for t in problem.temperatures)} K; "
             f"runs: {sum(len(p.runs) for p in problem.points)} "
             f"(fields {sorted({r.b_lf for p in problem.points for r in p.runs})} mT).", "",
             _likelihood_line(problem), "",
             "## 1. EA scan model (Arrhenius ion and muon jumps, shared Δ and Q)", "",
             "| parameter | mean | sd | 95 % HDI | R-hat | ESS bulk | ESS tail |" + (" truth |" if truth else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if truth else "")]
    for name in problem.names:
        r = summ.loc[name]
        hdi = [c for c in summ.columns if c.startswith("hdi")]
        tv = f" {truth[name]:g} |" if name in truth else (" – |" if truth else "")
        lines.append(f"| {name} | {r['mean']:.4g} | {r['sd']:.3g} | [{r[hdi[0]]:.4g}, {r[hdi[1]]:.4g}] | "
                     f"{r['r_hat']:.4f} | {r['ess_bulk']:.0f} | {r['ess_tail']:.0f} |" + tv)
    lines += ["", f"Sampler: {attrs.get('sampler', 'emcee')}; {attrs.get('nwalkers')} walkers × "
              f"{attrs.get('n_steps')} steps, τ_max = {float(attrs.get('tau_max', math.nan)):.0f}, chain = "
              f"{float(attrs.get('chain_length_in_tau', math.nan)):.0f} τ; "
              f"{attrs.get('convergence_message', '')}.", "",
              _diagnostics_line(diagnostics(ea_idata, problem.names)), "",
              *([f"**Warning:** {w}", ""] if (w := support_warning(problem, ea_idata)) else []),
              *(x for note in compare.prior_edge_notes(ea_idata) for x in (f"**Prior bound:** {note}", "")),
              "Units: log10_nu_i0, log10_nu_mu0 in log10(s⁻¹); e_i, e_mu in eV; delta in μs⁻¹; q (and fbg, "
              "the shared holder fraction) dimensionless.",
              "", "Derived jump rates per temperature (posterior median [95 % interval], μs⁻¹):", "",
              "| T (K) | ν_i | ν_μ | ν_KT (KT reading) | Δ_KT |", "|---|---|---|---|---|"]
    post = ea_idata.posterior
    for j, t in enumerate(problem.temperatures):
        ni = np.asarray(post[f"nu_i_T{j}"]).ravel()
        nm = np.asarray(post[f"nu_mu_T{j}"]).ravel()
        bi, bm_ = np.percentile(ni, [2.5, 50, 97.5]), np.percentile(nm, [2.5, 50, 97.5])
        lines.append(f"| {t:g} | {bi[1]:.3g} [{bi[0]:.3g}, {bi[2]:.3g}] | {bm_[1]:.3g} [{bm_[0]:.3g}, {bm_[2]:.3g}] | "
                     f"{conv['nu_kt'][j]:.3g} ± {conv['nu_kt_sd'][j]:.2g} | {conv['delta_kt'][j]:.4f} ± "
                     f"{conv['delta_kt_sd'][j]:.2g} |")
    lines += ["", "## 2. The conventional KT reading", "",
              f"T* (maximum of ν_KT) = {conv['t_star_K']:g} K."
              + (" This is the edge of the scan: ν_KT has no maximum inside it, so T* and the Arrhenius "
                 "fit below it only bound the conventional reading." if conv.get("t_star_at_scan_edge") else "")
              + (f" Left out of T*, the Arrhenius fit and Eq. 4: {', '.join(f'{t:g}' for t in conv['undetermined_K'])}"
                 " K, where the KT posterior only fixes Δ²/ν (ν_KT's 84th/16th percentile ratio ≥ "
                 f"{NU_KT_RIDGE_RATIO:g}, or its 97.5th percentile ≥ {NU_KT_RIDGE_BOUND_FRACTION:g} × the prior's "
                 "upper bound: motional narrowing, or a static spectrum)." if conv.get("undetermined_K") else "")]
    if "arrhenius_below_t_star" in conv:
        a = conv["arrhenius_below_t_star"]
        lines.append(f"Arrhenius fit of ν_KT below T*: E = {a['energy_eV']:.3f} ± {a['energy_err_eV']:.3f} eV, "
                     f"ν_0 = {a['nu0_per_s']:.3g} s⁻¹ — the number a KT analysis would report as the ion "
                     "jump activation energy.")
    if "q" in conv.get("eq4", {}):
        e4 = conv["eq4"]
        lines.append(f"Kadono Eq. 4 fit of Δ_KT(T): E_Δ = {e4['e_delta_eV']:.3f} eV, Q = {e4['q']:.3f}, "
                     f"N = {e4['n_states']:.3g}, Δ = {e4['delta']:.4f} μs⁻¹.")
    lines += ["", "## 3. Which reading do the data support? (LOO over all bins)", "", "```", comparison_text, "```",
              ""]
    for key, title in (("rates", "Jump rates"), ("delta", "Linewidth"), ("evidence", "Evidence per temperature"),
                       ("spectra", "Spectra with both readings"), ("corner", "Posterior of the global parameters")):
        if key in figures:
            lines += [f"### {title}", "", f"![{title}]({pathlib.Path(figures[key]).name})", ""]
    lines += ["## 4. Run time", "",
              f"EA scan {timings['ea_scan_s']:.0f} s, KT reading {timings['kt_s']:.0f} s, total "
              f"{timings['total_s']:.0f} s (before writing this report).", "",
              "Files: `ea_scan.nc`, `kt_per_temperature.nc`, `kt/` (per-temperature results), "
              "`comparison.txt`, `conventional.json`, the PNG figures, and the emcee backends (`*.h5`) that let "
              "an interrupted run resume."]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
