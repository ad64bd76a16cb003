"""Matplotlib figures of results: runs with their bands, corner plots, temperature dependences, diagnostics.

Owns every figure of the HTML report and the pieces the scan report shares (:func:`corner_plot`,
:func:`linewidth_bands`).  Figures only draw: the numbers come from :mod:`bayesmusr.report.bands`
and :mod:`bayesmusr.report.results`.  matplotlib is imported when a figure is drawn (Agg backend).
Bands and error bars are the central credible intervals of
:data:`bayesmusr.inference.compare.INTERVALS` (68 % and 95 %, :data:`~bayesmusr.report.bands.PERCENTILES`);
the 2-D contours of a corner plot hold the same masses as highest-density regions.
Units: t in μs, rates and Δ in μs⁻¹, T in K.
"""
from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from bayesmusr.inference.compare import interval_label
from bayesmusr.report.bands import LEVELS, NARROW, PERCENTILES, WIDE, RunBands
from bayesmusr.report.results import Result, RunInfo, diagnostics_summary

__all__ = ["run_figure", "corner_plot", "corner_figure", "temperature_figure", "diagnostics_figure", "linewidth_bands", "png",
           "pyplot"]

_COLORS = ("C0", "C1", "C2", "C3", "C4")


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend (imported when a figure is drawn).

    Returns
    -------
    module
        ``matplotlib.pyplot``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig, dpi: int = 90) -> bytes:
    """The PNG bytes of ``fig`` at ``dpi`` dots per inch (the figure is closed).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Figure to render; closed afterwards.
    dpi : int
        Resolution, dots per inch.

    Returns
    -------
    bytes
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    return buf.getvalue()


def run_figure(run: RunInfo, bands: Sequence[tuple[str, RunBands]]):
    """Figure of one run: data with error bars and the bands of every result.

    Parameters
    ----------
    run : RunInfo
    bands : sequence of (result label, RunBands)
        The first result's band is filled, the others are outlines; the data points are the
        first one's (all share its α).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = pyplot().subplots(figsize=(5.6, 3.6))
    lines = []
    for k, ((label, b), color) in enumerate(zip(bands, _COLORS)):
        if b.bands is None:
            lines.append(f"{label}: no band")
            continue
        if k == 0:
            ax.fill_between(b.t, b.bands[0], b.bands[4], color=color, alpha=0.18, lw=0)
            ax.fill_between(b.t, b.bands[1], b.bands[3], color=color, alpha=0.35, lw=0)
        else:
            for j, ls in ((0, ":"), (1, "--"), (3, "--"), (4, ":")):
                ax.plot(b.t, b.bands[j], color=color, lw=0.8, ls=ls)
        ax.plot(b.t, b.bands[2], color=color, lw=1.2, label=f"{label}: median, {LEVELS}" + (" (dashed/dotted)" * k))
        lines.append(f"{label}: {100 * b.inside68:.0f} % / {100 * b.inside95:.0f} % of points in the {LEVELS} "
                     f"band ({b.n_replicas} replicas)")
    label0, b0 = bands[0]
    ax.errorbar(b0.t, b0.y, yerr=b0.yerr, fmt=".", ms=3, lw=0.6, color="k", label="data", zorder=3)
    ok = np.isfinite(b0.y) & np.isfinite(b0.yerr)
    if ok.any():  # y range from the well-measured points (late bins with few counts have huge error bars)
        good = ok & (b0.yerr <= np.nanpercentile(b0.yerr[ok], 80))
        lo, hi = np.nanmin((b0.y - b0.yerr)[good]), np.nanmax((b0.y + b0.yerr)[good])
        ax.set_ylim(lo - 0.1 * (hi - lo) - 1e-3, hi + 0.1 * (hi - lo) + 1e-3)
    ax.set_xlabel("t (μs)")
    ax.set_ylabel("asymmetry" if not math.isfinite(b0.alpha) else "(F − αB)/(F + αB)")
    alpha = f"\nα = {b0.alpha:.4f} ({label0}) for data and all replicas" if math.isfinite(b0.alpha) else ""
    ax.set_title(f"{run.title}" + (f", packed ×{b0.pack}" if b0.pack > 1 else "") + alpha, fontsize=8)
    ax.legend(fontsize=6, loc="upper right")
    ax.text(0.01, 0.02, "\n".join(lines), transform=ax.transAxes, fontsize=6, va="bottom", color="0.25")
    fig.tight_layout()
    return fig


def _hpd_levels(h: np.ndarray, masses=(WIDE, NARROW)) -> list[float]:
    flat = np.sort(h.ravel())[::-1]
    cum = np.cumsum(flat) / flat.sum()
    return sorted({float(flat[min(np.searchsorted(cum, m), flat.size - 1)]) for m in masses})


def _pair_panel(ax, xj, xi, bins):
    """Lower-triangle panel: points and the 68/95 % (NARROW/WIDE) highest-density contours of a 2-D histogram."""
    if np.ptp(xi) > 0 and np.ptp(xj) > 0:
        h, xe, ye = np.histogram2d(xj, xi, bins=bins)
        h = gaussian_filter(h, 1.0)
        ax.plot(xj, xi, ",", color="0.6", alpha=0.5)
        ax.contour(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T, levels=_hpd_levels(h),
                   colors=["C0", "C0"], linewidths=[0.8, 1.3])
    else:
        ax.plot(xj, xi, ".", color="C0", ms=1)


def corner_plot(draws: Mapping[str, np.ndarray], title: str, truth: Mapping[str, float] | None = None,
                bins: int = 30):
    """Corner plot of posterior draws.

    Diagonal: marginal histograms with the median and the 68 % central interval (dotted), as the
    tables quote them; below: 2-D histograms (lightly smoothed) with the 68 % and 95 %
    highest-density contours (:data:`~bayesmusr.report.bands.NARROW`, ``WIDE``).

    Parameters
    ----------
    draws : mapping
        Parameter name → draws (in the parameter's unit), at most 8 shown.
    title : str
    truth : mapping, optional
        True values, drawn as red lines (simulations).
    bins : int
        Histogram bins per axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names, truth = list(draws)[:8], truth or {}
    k = len(names)
    fig, axes = pyplot().subplots(k, k, figsize=(1.9 * k + 0.6, 1.9 * k + 0.6), squeeze=False)
    for i in range(k):
        for j in range(k):
            ax, xi = axes[i, j], draws[names[i]]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(xi, bins=bins, color="C0", alpha=0.7)
                lo, med, hi = np.percentile(xi, PERCENTILES[1:4])  # the narrow central interval
                for v, ls in ((lo, ":"), (med, "-"), (hi, ":")):
                    ax.axvline(v, color="k", lw=0.8, ls=ls)
                if names[i] in truth:
                    ax.axvline(truth[names[i]], color="C3", lw=1)
                ax.set_title(f"{names[i]} = {med:.4g} (+{hi - med:.2g} −{med - lo:.2g}, {interval_label(NARROW)})",
                             fontsize=7)
                ax.set_yticks([])
            else:
                _pair_panel(ax, draws[names[j]], xi, bins)
            ax.set_xlabel(names[j] if i == k - 1 else "", fontsize=8)
            ax.set_ylabel(names[i] if j == 0 and i > 0 else "", fontsize=8)
            if i < k - 1:
                ax.set_xticklabels([])
            if j > 0 and i != j:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=6)
    # wrapped to the figure's width (~14 characters of 9 pt per inch): a small corner plot is narrow
    fig.suptitle(textwrap.fill(title, width=int(14 * fig.get_figwidth())), fontsize=9)
    fig.tight_layout()
    return fig


def corner_figure(result: Result, names: Sequence[str] | None = None, bins: int = 30):
    """Corner plot (:func:`corner_plot`) of a result's global parameters.

    Parameters
    ----------
    result : Result
    names : sequence of str, optional
        Parameters (default: :meth:`Result.global_names`).
    bins : int
        Histogram bins per axis.

    Returns
    -------
    matplotlib.figure.Figure or None
        None if the result has no global parameter.
    """
    names = list(names if names is not None else result.global_names())
    if not names:
        return None
    return corner_plot({n: result.draws(n) for n in names}, f"{result.label}: posterior of the global parameters "
                       f"(diagonal: median, {interval_label(NARROW)} central interval; contours: "
                       f"{interval_label(NARROW)}, {interval_label(WIDE)} highest density)", bins=bins)


def _per_temperature(result: Result, name: str) -> np.ndarray | None:
    """(5, n_T) percentiles of ``<name>_T<j>`` over the temperatures, or None."""
    n_t = result.temperatures.size
    if n_t == 0 or any(f"{name}_T{j}" not in result.idata.posterior for j in range(n_t)):
        return None
    return np.array([np.percentile(result.draws(f"{name}_T{j}"), PERCENTILES) for j in range(n_t)]).T


def _band_plot(ax, x, p, color, label, marker="o"):
    ax.fill_between(x, p[0], p[4], color=color, alpha=0.18, lw=0)
    ax.fill_between(x, p[1], p[3], color=color, alpha=0.35, lw=0)
    ax.plot(x, p[2], marker=marker, ms=3, color=color, lw=1, label=label)


def _kt_points(ax, kt: Result | None, name: str, x_of, label: str):
    """Overlay the KT reading's medians with 68 % (NARROW) central error bars."""
    if kt is not None and (p := _per_temperature(kt, name)) is not None:
        ax.errorbar(x_of(kt.temperatures), p[2], yerr=[p[2] - p[1], p[3] - p[2]], fmt="ks", ms=3, lw=0.8,
                    label=f"{label} ({kt.label}, median, {interval_label(NARROW)})")


def linewidth_bands(ax, delta: np.ndarray, q) -> None:
    """Horizontal 68/95 % central bands and medians of the EA scan's Δ and √(1−Q)Δ (μs⁻¹) from their draws.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    delta : numpy.ndarray
        Draws of Δ (μs⁻¹), any shape.
    q : numpy.ndarray or float
        Draws of Q matching ``delta``, or its fixed value.
    """
    for arr, color, label in ((delta, "C2", "Δ (EA scan)"), (np.sqrt(1 - q) * delta, "C3", "√(1−Q)Δ (EA scan)")):
        p = np.percentile(arr, PERCENTILES)
        ax.axhspan(p[0], p[4], color=color, alpha=0.18)
        ax.axhspan(p[1], p[3], color=color, alpha=0.35)
        ax.axhline(p[2], color=color, label=label)


def _ea_panels(a1, a2, result: Result, kt: Result | None):
    """ν_i(T), ν_μ(T) against 1000/T; Δ (per temperature, or global with √(1−Q)Δ) against T."""
    for name, color, label in (("nu_i", "C0", "ν_i (EA scan)"), ("nu_mu", "C1", "ν_μ (EA scan)")):
        if (p := _per_temperature(result, name)) is not None:
            _band_plot(a1, 1000.0 / result.temperatures, p, color, label)
    _kt_points(a1, kt, "nu", lambda t: 1000.0 / t, "ν_KT")
    a1.set_ylabel("jump rate (μs⁻¹)")
    a1.set_title(f"Jump rates with {LEVELS} credible bands", fontsize=9)
    if (pd := _per_temperature(result, "delta")) is not None:
        _band_plot(a2, result.temperatures, pd, "C2", "Δ_T (EA scan, pooled)")
    elif "delta" in result.idata.posterior:
        d = result.draws("delta")
        linewidth_bands(a2, d, result.draws("q") if "q" in result.idata.posterior else result.fixed.get("q", math.nan))
    _kt_points(a2, kt, "delta", lambda t: t, "Δ_KT")
    a2.set_title("Linewidth", fontsize=9)


def temperature_figure(result: Result, kt: Result | None = None):
    """Temperature dependences with 68/95 % central credible bands.

    ``ea_scan``: ν_i(T), ν_μ(T) against 1000/T and Δ with √(1−Q)Δ against T; ``kt_scan``:
    ν_KT(T) and Δ_KT(T).

    Parameters
    ----------
    result : Result
    kt : Result, optional
        A KT reading of the same data, overlaid on the EA panels.

    Returns
    -------
    matplotlib.figure.Figure or None
        None for a single-temperature result.
    """
    temps = result.temperatures
    if result.kind not in ("ea_scan", "kt_scan") or temps.size < 2:
        return None
    fig, (a1, a2) = pyplot().subplots(1, 2, figsize=(10, 3.9))
    if result.kind == "ea_scan":
        _ea_panels(a1, a2, result, kt)
    else:
        for ax, name, x, label in ((a1, "nu", 1000.0 / temps, "ν_KT"), (a2, "delta", temps, "Δ_KT")):
            if (p := _per_temperature(result, name)) is not None:
                _band_plot(ax, x, p, "C3", f"{label} ({result.label})", marker="s")
        a1.set_ylabel("ν_KT (μs⁻¹)")
        a1.set_title(f"KT fluctuation rate with {LEVELS} credible bands", fontsize=9)
        a2.set_title(f"KT linewidth with {LEVELS} credible bands", fontsize=9)
    a1.set_yscale("log")
    a1.set_xlabel("1000 / T (K⁻¹)")
    a2.set_xlabel("T (K)")
    a2.set_ylabel("Δ (μs⁻¹)")
    for ax in (a1, a2):
        ax.legend(fontsize=7)
    fig.suptitle(result.label, fontsize=9)
    fig.tight_layout()
    return fig


def _trace_panel(ax, result: Result):
    """Log posterior per walker after burn-in (or why it is not there)."""
    idata = result.idata
    lp = np.asarray(idata.sample_stats["lp"]) if "sample_stats" in idata.groups() and "lp" in idata.sample_stats \
        else None
    if lp is None:
        return
    if not np.any(lp != 0):
        ax.text(0.5, 0.5, "log posterior not stored\n(combined per-temperature result)", ha="center", va="center",
                fontsize=8, transform=ax.transAxes)
        ax.set_axis_off()
        return
    for w in range(lp.shape[0]):
        ax.plot(lp[w], lw=0.6, alpha=0.7)
    ax.set_xlabel("kept draw")
    ax.set_ylabel("log posterior")
    ax.set_title("log posterior per walker (after burn-in)", fontsize=8)


def diagnostics_figure(result: Result, summary=None):
    """Walker traces of the log posterior, and bulk/tail ESS and R-hat per variable.

    Parameters
    ----------
    result : Result
    summary : pandas.DataFrame, optional
        :func:`~bayesmusr.report.results.diagnostics_summary` of the result (computed if not given).

    Returns
    -------
    matplotlib.figure.Figure
    """
    summary = diagnostics_summary(result) if summary is None else summary
    names = list(summary.index)
    fig, (a0, a1, a2) = pyplot().subplots(1, 3, figsize=(11, max(3.0, 0.16 * len(names) + 1.2)),
                                        gridspec_kw={"width_ratios": [1.4, 1, 1]})
    _trace_panel(a0, result)
    y = np.arange(len(names))
    a1.barh(y - 0.2, summary["ess_bulk"], height=0.4, label="bulk")
    a1.barh(y + 0.2, summary["ess_tail"], height=0.4, label="tail")
    a1.axvline(400, color="k", lw=0.8, ls="--")
    a1.set_yticks(y, names, fontsize=6)
    a1.set_xlabel("ESS (dashed: 400)")
    a1.legend(fontsize=6)
    rhat = np.asarray(summary["r_hat"], dtype=float)
    a2.plot(np.where(np.isfinite(rhat), rhat, np.nan), y, "o", ms=3)
    a2.axvline(1.01, color="k", lw=0.8, ls="--")
    a2.set_yticks(y, [""] * len(names))
    a2.set_xlabel("R-hat across walkers (dashed: 1.01)")
    for ax in (a1, a2):
        ax.invert_yaxis()
    fig.suptitle(f"{result.label}: sampler diagnostics", fontsize=9)
    fig.tight_layout()
    return fig
