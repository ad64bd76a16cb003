"""Figures and the Markdown report of a temperature-scan job (``bayesmusr fit``).

Owns :func:`make_figures` (one function per PNG, and the corner plot of
:func:`bayesmusr.report.figures.corner_plot`) and :func:`write_report` (``report.md``).  Rates come
from :meth:`bayesmusr.model.scan.ScanProblem.rates` and :func:`bayesmusr.physics.arrhenius`, curves
from :mod:`bayesmusr.model.forward` and the problem's nuisance blocks.

Intervals are the central credible intervals of :data:`bayesmusr.inference.compare.INTERVALS`
(68 % and 95 %), in the tables, bands and error bars alike.
Units: rates and Δ in μs⁻¹, T in K, t in μs, energies in eV.
"""
from __future__ import annotations

import math
import pathlib

import numpy as np

from bayesmusr.inference import compare
from bayesmusr.inference.compare import interval_columns, interval_label
from bayesmusr.inference.conventional import two_state_delta
from bayesmusr.model.forward import polarisation, relaxation
from bayesmusr.physics.constants import arrhenius
from bayesmusr.report.bands import LEVELS, NARROW, PERCENTILES, WIDE
from bayesmusr.report.figures import corner_plot, linewidth_bands, pyplot
from bayesmusr.workflows.scan import (
    ESS_GOAL,
    NU_KT_RIDGE_BOUND_FRACTION,
    NU_KT_RIDGE_RATIO,
    RHAT_GOAL,
    _posterior_array,
    diagnostics,
    support_warning,
)

__all__ = ["make_figures", "write_report"]


def _values(problem, ea_idata, n: int | None = 400, seed: int = 0) -> dict:
    """Every declared parameter of the EA scan: ``n`` posterior draws (all if None), fixed ones repeated."""
    post = ea_idata.posterior
    size = int(post.sizes["chain"] * post.sizes["draw"])
    sel = np.sort(np.random.default_rng(seed).choice(size, size=min(n, size), replace=False)) if n else slice(None)
    m = size if n is None else min(n, size)
    return {p.name: np.asarray(post[p.name]).ravel()[sel] if p.name in post else np.full(m, pr.value)
            for p, pr in zip(problem.declared, problem.priors)}


def _kt_percentiles(kt_results, name: str) -> np.ndarray:
    """(5, n_T) :data:`~bayesmusr.report.bands.PERCENTILES` of a KT parameter over the temperatures."""
    return np.array([np.percentile(_posterior_array(r, name), PERCENTILES) for r in kt_results]).T


def _kt_points(ax, x, kt_results, name: str, label: str) -> None:
    """KT-reading medians with their narrow (68 %) central intervals as error bars."""
    p = _kt_percentiles(kt_results, name)
    ax.errorbar(x, p[2], yerr=[p[2] - p[1], p[3] - p[2]], fmt="ks", ms=4,
                label=f"{label} (KT per T, median, {interval_label(NARROW)})")


def _rates_figure(problem, values: dict, kt_results, conv: dict, truth: dict):
    """ν_i(T), ν_μ(T) of the EA scan (68/95 % bands, μs⁻¹) against 1000/T, ν_KT of the KT reading, the truth."""
    temps = problem.temperatures
    tt = np.linspace(temps.min() * 0.95, temps.max() * 1.05, 200)
    nu_i, nu_mu = problem.rates([values[p.name][:, None] for p in problem.declared], tt)
    fig, ax = pyplot().subplots(figsize=(6.5, 4.5))
    for arr, color, label in ((nu_i, "C0", "ν_i"), (nu_mu, "C1", "ν_μ")):
        b = np.percentile(arr, PERCENTILES, axis=0)
        ax.fill_between(1000 / tt, b[0], b[4], color=color, alpha=0.18, lw=0)
        ax.fill_between(1000 / tt, b[1], b[3], color=color, alpha=0.35, lw=0)
        ax.plot(1000 / tt, b[2], color=color, label=f"{label} (EA scan, median, {LEVELS} bands)")
    _kt_points(ax, 1000 / temps, kt_results, "nu", "ν_KT")
    for pre, e, color, name in (("log10_nu_i0", "e_i", "C0", "ν_i"), ("log10_nu_mu0", "e_mu", "C1", "ν_μ")):
        if {pre, e} <= set(truth):
            ax.plot(1000 / tt, arrhenius(tt, truth[pre], truth[e]), f"{color}--", lw=1, label=f"{name} truth")
    ax.axvline(1000 / conv["t_star_K"], color="grey", lw=0.8, ls=":")
    ax.set(yscale="log", ylim=(1e-3, 1e3), xlabel="1000 / T (K⁻¹)", ylabel="rate (μs⁻¹)",
           title="Jump rates: EA scan model vs the KT reading")
    ax.legend(fontsize=8)
    return fig


def _delta_figure(problem, values: dict, kt_results, conv: dict):
    """Δ_KT(T) of the KT reading (and its Eq. 4 fit) against Δ and √(1−Q)Δ of the EA scan, in μs⁻¹."""
    temps = problem.temperatures
    fig, ax = pyplot().subplots(figsize=(6.5, 4.5))
    _kt_points(ax, temps, kt_results, "delta", "Δ_KT")
    if "delta" in (e4 := conv.get("eq4", {})):
        tt = np.linspace(temps.min() * 0.95, temps.max() * 1.05, 200)
        ax.plot(tt, two_state_delta(tt, e4["delta"], e4["q"], e4["n_states"], e4["e_delta_eV"]), "k--", lw=1,
                label=f"Eq. 4 fit: E_Δ = {e4['e_delta_eV']:.2f} eV, Q = {e4['q']:.2f}")
    linewidth_bands(ax, values["delta"], values["q"])
    ax.set(xlabel="T (K)", ylabel="Δ (μs⁻¹)", title="Linewidth: the Δ_KT drop towards √(1−Q)Δ")
    ax.legend(fontsize=8)
    return fig


def _evidence_figure(temps: np.ndarray, cmp: dict):
    """Pointwise elpd_loo(EA) − elpd_loo(KT) summed per temperature (K) of the comparison ``cmp``."""
    import arviz as az

    ea = cmp["results"]["EA_scan"]
    # the comparison's own pointwise LOO: computed again here it was the job's peak memory (1.2 GB)
    loo = cmp.get("loo_pointwise") or {n: az.loo(cmp["results"][n], pointwise=True) for n in ("EA_scan", "KT_per_T")}
    diff_i = np.asarray(loo["EA_scan"].loo_i) - np.asarray(loo["KT_per_T"].loo_i)
    obs_t = np.asarray(ea.observed_data["obs_temperature"])
    fig, ax = pyplot().subplots(figsize=(6.5, 3.8))
    ax.bar(temps, [np.sum(diff_i[obs_t == t]) for t in temps], color="C0",
           width=0.6 * np.min(np.diff(temps)) if temps.size > 1 else 5)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="T (K)", ylabel="elpd_loo(EA) − elpd_loo(KT)",
           title="Where the data prefer EA (positive) or KT (negative)")
    return fig


def _spectra_panel(ax, problem, j: int, x_med: list, kt_med: tuple) -> tuple[float, float]:
    """Runs of temperature ``j``: data, EA curve and KT curve (both at the EA nuisances); returns the curves' range."""
    pt, f = problem.points[j], problem.holder(x_med)
    nu_i, nu_mu = problem.rates(x_med)
    theta = (problem.deltas(x_med)[j], nu_i[j], nu_mu[j], x_med[5])
    curves = []
    for k, (r, blk) in enumerate(zip(pt.runs, problem.blocks[j])):
        g = polarisation(relaxation("ea", r.t, r.b_lf, theta, table=problem.table), f or 0.0)
        blk.marginal(g)  # nuisances at the EA median; the KT curve is drawn with the same ones
        asym, err = blk.observed_asymmetry(g)
        keep = np.isfinite(asym) & (err < 0.05)  # after the background subtraction the last bins say nothing
        ax.errorbar(r.t[keep], asym[keep], yerr=err[keep], fmt=".", ms=2, color=f"C{k % 10}", alpha=0.4,
                    label=r.label)
        curves.append(blk.asymmetry(g))
        ax.plot(r.t, curves[-1], color=f"C{k % 10}", lw=1.5)
        gk = polarisation(relaxation("dynamic_kt", r.t, r.b_lf, kt_med), f or 0.0)  # P(t) as the EA curve's
        ax.plot(r.t, blk.asymmetry(gk), color="k", lw=0.8, ls="--")
    ax.set_title(f"T = {pt.temperature:g} K (solid EA, dashed KT, both at the EA nuisances)", fontsize=9)
    ax.set_xlabel("t (μs)")
    ax.legend(fontsize=7)
    return min(float(np.min(c)) for c in curves), max(float(np.max(c)) for c in curves)


def _spectra_figure(problem, median: dict, kt_results, t_star: float):
    """Spectra with both readings (posterior medians) at the lowest temperature, T* (K) and the highest."""
    temps = problem.temperatures
    js = sorted({0, int(np.argmin(np.abs(temps - t_star))), len(temps) - 1})
    fig, axes = pyplot().subplots(1, len(js), figsize=(4.2 * len(js), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    x_med = [median[p.name] for p in problem.declared]
    lims = [_spectra_panel(ax, problem, j, x_med, tuple(float(np.median(_posterior_array(kt_results[j], n)))
                                                         for n in ("delta", "nu"))) for ax, j in zip(axes, js)]
    lo, hi = min(a for a, _ in lims), max(b for _, b in lims)  # the shared y axis follows the curves
    pad = 0.15 * max(hi - lo, 0.02)
    axes[0].set_ylim(lo - 2 * pad, hi + pad)
    axes[0].set_ylabel("asymmetry")
    return fig


def make_figures(out, problem, ea_idata, kt_results, conv, cmp, truth) -> dict:
    """PNG figures of the two readings and the evidence, written to the folder ``out``.

    Parameters
    ----------
    out : pathlib.Path
    problem : ScanProblem
    ea_idata, kt_results : arviz.InferenceData, sequence of them
        The EA scan result; the per-temperature KT fits.
    conv, cmp : dict
        :func:`~bayesmusr.workflows.scan.conventional_reading`; the LOO comparison of ``EA_scan`` and ``KT_per_T``.
    truth : dict
        True parameters of a simulated scan (may be empty).

    Returns
    -------
    dict
        Figure name → PNG path.
    """
    values, every = _values(problem, ea_idata), _values(problem, ea_idata, None)
    median = {n: float(np.median(v)) for n, v in every.items()}
    made = {"rates": ("rates.png", 120, _rates_figure(problem, values, kt_results, conv, truth)),
            "delta": ("delta_kt.png", 120, _delta_figure(problem, values, kt_results, conv)),
            "evidence": ("evidence_per_temperature.png", 120, _evidence_figure(problem.temperatures, cmp)),
            "spectra": ("spectra.png", 110, _spectra_figure(problem, median, kt_results, conv["t_star_K"])),
            "corner": ("corner.png", 100, corner_plot({n: every[n] for n in problem.names[:6]},
                                                      "EA scan: posterior of the global parameters", truth))}
    figs = {}
    for key, (name, dpi, fig) in made.items():
        fig.tight_layout()
        figs[key] = out / name
        fig.savefig(figs[key], dpi=dpi)
        pyplot().close(fig)
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
            f"min bulk ESS {diag['ess_bulk'][low]:.0f} ({low}; goal ≥ {ESS_GOAL}) — {verdict}.")


def _interval_cell(p, fmt: str = ".3g") -> str:
    """'median [narrow] [wide]' from the five :data:`~bayesmusr.report.bands.PERCENTILES`."""
    return f"{p[2]:{fmt}} [{p[1]:{fmt}}, {p[3]:{fmt}}] [{p[0]:{fmt}}, {p[4]:{fmt}}]"


def _parameter_table(problem, ea_idata, truth) -> list[str]:
    """The EA scan's parameters: mean, SD, median with both central intervals, R-hat, ESS (and the truth)."""
    summ = compare.summary(ea_idata, var_names=list(problem.names), intervals=(NARROW, WIDE))
    (n_lo, n_hi), (w_lo, w_hi) = interval_columns((NARROW, WIDE))
    lines = [f"| parameter | mean | sd | median | {interval_label(NARROW)} central [{n_lo}, {n_hi}] | "
             f"{interval_label(WIDE)} central [{w_lo}, {w_hi}] | R-hat | ESS bulk | ESS tail |"
             + (" truth |" if truth else ""), "|---|---|---|---|---|---|---|---|---|" + ("---|" if truth else "")]
    for name in problem.names:
        r = summ.loc[name]
        tv = f" {truth[name]:g} |" if name in truth else (" – |" if truth else "")
        lines.append(f"| {name} | {r['mean']:.4g} | {r['sd']:.3g} | {r['median']:.4g} | [{r[n_lo]:.4g}, "
                     f"{r[n_hi]:.4g}] | [{r[w_lo]:.4g}, {r[w_hi]:.4g}] | {r['r_hat']:.4f} | {r['ess_bulk']:.0f} | "
                     f"{r['ess_tail']:.0f} |" + tv)
    return lines


def _rates_table(problem, ea_idata, kt_results) -> list[str]:
    """Derived jump rates of the EA scan and the KT reading's ν_KT, Δ_KT per temperature, with both intervals."""
    post = ea_idata.posterior
    nu_kt, delta_kt = _kt_percentiles(kt_results, "nu"), _kt_percentiles(kt_results, "delta")
    lines = [f"Derived jump rates per temperature: posterior median [{interval_label(NARROW)} central] "
             f"[{interval_label(WIDE)} central], μs⁻¹:", "",
             "| T (K) | ν_i | ν_μ | ν_KT (KT reading) | Δ_KT (KT reading) |", "|---|---|---|---|---|"]
    for j, t in enumerate(problem.temperatures):
        bi, bm = (np.percentile(np.asarray(post[f"{n}_T"].isel(temperature=j)).ravel(), PERCENTILES)
                  for n in ("nu_i", "nu_mu"))
        lines.append(f"| {t:g} | {_interval_cell(bi)} | {_interval_cell(bm)} | {_interval_cell(nu_kt[:, j])} | "
                     f"{_interval_cell(delta_kt[:, j], '.4f')} |")
    return lines


def _ea_lines(problem, ea_idata, kt_results, truth) -> list[str]:
    """Section 1: the EA scan's parameter table, sampler, warnings and the derived rates per temperature."""
    attrs = ea_idata.posterior.attrs
    return ["## 1. EA scan model (Arrhenius ion and muon jumps, shared Δ and Q)", "",
            *_parameter_table(problem, ea_idata, truth),
            "", f"Sampler: {attrs.get('sampler', 'emcee')}; {attrs.get('nwalkers')} walkers × "
            f"{attrs.get('n_steps')} steps, τ_max = {float(attrs.get('tau_max', math.nan)):.0f}, chain = "
            f"{float(attrs.get('chain_length_in_tau', math.nan)):.0f} τ; "
            f"{str(attrs.get('convergence_message', '')).rstrip('.')}.", "",
            _diagnostics_line(diagnostics(ea_idata, problem.names)), "",
            *([f"**Warning:** {w}", ""] if (w := support_warning(problem, ea_idata)) else []),
            *(x for note in compare.prior_edge_notes(ea_idata) for x in (f"**Prior bound:** {note}", "")),
            "Units: log10_nu_i0, log10_nu_mu0 in log10(s⁻¹); e_i, e_mu in eV; delta in μs⁻¹; q (and fbg, "
            "the shared holder fraction) dimensionless.", "", *_rates_table(problem, ea_idata, kt_results)]


def _kt_lines(conv) -> list[str]:
    """Section 2: T*, what was left out of it, the Arrhenius fit below it and Eq. 4."""
    lines = ["", "## 2. The conventional KT reading", "",
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
    return lines


def write_report(out, cfg, problem, ea_idata, kt_results, conv, cmp, comparison_text, figures, truth, timings):
    """Markdown report of the scan analysis, ``report.md`` in the folder ``out``.

    Parameters
    ----------
    out : pathlib.Path
    cfg : dict
        The analysis configuration (not used).
    problem, ea_idata, kt_results, conv, cmp, truth
        As for :func:`make_figures`.
    comparison_text : str
        The formatted LOO comparison.
    figures : dict
        Figure name → PNG path (:func:`make_figures`).
    timings : dict
        ``ea_scan_s``, ``kt_s``, ``total_s`` in seconds.
    """
    lines = ["# bayesmusr temperature-scan analysis", "",
             f"Temperatures: {', '.join(f'{t:g}' for t in problem.temperatures)} K; "
             f"runs: {sum(len(p.runs) for p in problem.points)} "
             f"(fields {sorted({r.b_lf for p in problem.points for r in p.runs})} mT).", "",
             _likelihood_line(problem), "", *_ea_lines(problem, ea_idata, kt_results, truth), *_kt_lines(conv),
             "", "## 3. Which reading do the data support? (LOO over all bins)", "", "```", comparison_text, "```", ""]
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
