"""The report of a published-table reanalysis (``bayesmusr reanalyse``): one self-contained HTML page.

Everything is read from the folder :func:`bayesmusr.workflows.reanalyse.reanalyse` wrote: the
published points with the posterior-predictive KT reading of the EA model and the conventional
readings (central 68 % and 95 % bands), ν_i(T) and ν_μ(T) bands, the T* interval, the posterior
of the global parameters, the LOO comparison and the verdict in words.  No model is evaluated
here: the curves are the ``predictions`` group of each result.
"""
from __future__ import annotations

import datetime
import html
import json
import pathlib

import numpy as np

from bayesmusr._version import __version__
from bayesmusr.inference import compare
from bayesmusr.inference.compare import INTERVALS, interval_label
from bayesmusr.io.published import PublishedTable
from bayesmusr.model.parameters import NOISE_PARAMETERS, SCAN_PARAMETERS
from bayesmusr.report.figures import corner_plot, pyplot
from bayesmusr.report.html import _CSS, _img, _note, _table
from bayesmusr.workflows.reanalyse import summarise
from bayesmusr.workflows.spec import read_spec

__all__ = ["load_reanalysis", "write_reanalysis_report", "reading_figure"]

_PCT = (2.5, 16.0, 50.0, 84.0, 97.5)  # the 95 % and 68 % central bands (compare.INTERVALS) and the median


def load_reanalysis(folder) -> dict:
    """The results of a reanalysis folder: EA, conventional readings, comparison, summary, table, spec.

    Parameters
    ----------
    folder : path
        Output folder of ``bayesmusr reanalyse``.

    Returns
    -------
    dict
    """
    folder = pathlib.Path(folder)
    path = folder / "reanalysis.nc"
    if not path.is_file():
        raise ValueError(f"{folder}: no reanalysis.nc; expected the output folder of bayesmusr reanalyse")
    ea = compare.load(path)
    conv = {p.stem.removeprefix("conventional_"): compare.load(p) for p in sorted(folder.glob("conventional_*.nc"))}
    od = ea.observed_data
    table = PublishedTable.from_columns(str(folder), temperature_K=od["temperature"].values,
                                        **{k: od[k].values for k in ("delta_kt", "delta_kt_err", "nu_kt", "nu_kt_err")})
    comparison = compare.compare_results({"EA reading": ea, **{f"conventional ({m})": r for m, r in conv.items()}})
    return {"ea": ea, "conventional": conv, "comparison": comparison, "summary": summarise(ea, comparison, table),
            "table": table, "spec": read_spec(ea) or {}}


def _bands(ax, grid, arr, color, label):
    p = np.nanpercentile(arr.reshape(-1, grid.size), _PCT, axis=0)  # NaN: a draw outside the emulator there
    ax.fill_between(grid, p[0], p[4], color=color, alpha=0.18, lw=0)
    ax.fill_between(grid, p[1], p[3], color=color, alpha=0.35, lw=0)
    ax.plot(grid, p[2], color=color, lw=1.2, label=label)


def reading_figure(data: dict):
    """Δ_KT(T) and ν_KT(T): published points, the EA and conventional readings, ν_i and ν_μ, T*.

    Parameters
    ----------
    data : dict
        :func:`load_reanalysis` output.

    Returns
    -------
    matplotlib.figure.Figure
    """
    t, ea = data["table"], data["ea"].predictions
    grid = ea["t_grid"].values
    fig, (a1, a2) = pyplot().subplots(1, 2, figsize=(11, 4.2))
    a1.errorbar(t.temperature, t.delta_kt, yerr=np.nan_to_num(t.delta_kt_err), fmt="ko", ms=4, label="published")
    have = np.isfinite(t.nu_kt)
    a2.errorbar(t.temperature[have], t.nu_kt[have], yerr=np.nan_to_num(t.nu_kt_err[have]), fmt="ko", ms=4,
                label="published ν_KT")
    _bands(a1, grid, ea["delta_kt"].values, "C0", "EA reading")
    _bands(a2, grid, ea["nu_kt"].values, "C0", "EA reading: ν_KT")
    _bands(a2, grid, ea["nu_i"].values, "C2", "ν_i (ions)")
    _bands(a2, grid, ea["nu_mu"].values, "C3", "ν_μ (muon)")
    for k, (name, res) in enumerate(data["conventional"].items()):
        if "predictions" in res.groups():
            pc = res.predictions
            ls = ("--", ":")[k % 2]
            a1.plot(grid, np.nanmedian(pc["delta_kt"].values.reshape(-1, grid.size), 0), "C1", ls=ls,
                    label=f"conventional ({name})")
            a2.plot(grid, np.nanmedian(pc["nu_kt"].values.reshape(-1, grid.size), 0), "C1", ls=ls,
                    label=f"conventional ({name}): Arrhenius ν_KT")
    lo, _, hi = data["summary"]["t_star"]
    a2.axvspan(lo, hi, color="0.85", zorder=0, label="T* (EA, 95 %)")
    top = np.nanmax(t.nu_kt)
    a2.set_yscale("log")
    a2.set_ylim(max(np.nanmin(t.nu_kt) / 30, 1e-4), top * 30)
    a1.set_ylim(0, 1.25 * np.max(t.delta_kt))
    for ax, lab in ((a1, "Δ_KT (μs⁻¹)"), (a2, "rate (μs⁻¹)")):
        ax.set_xlabel("T (K)")
        ax.set_ylabel(lab)
        ax.legend(fontsize=7)
    fig.suptitle(f"bands: central {interval_label(INTERVALS[0])} and {interval_label(INTERVALS[1])} of the posterior",
                 fontsize=9)
    fig.tight_layout()
    return fig


def _parameter_rows(ea, truth: dict) -> list[list[str]]:
    names = [p.name for p in SCAN_PARAMETERS + NOISE_PARAMETERS if p.name in ea.posterior]
    table = compare.summary(ea, names)
    units = {p.name: p.unit for p in SCAN_PARAMETERS + NOISE_PARAMETERS}
    rows = []
    for n in names:
        r = table.loc[n]
        cells = [f"{r[c]:.4g}" for c in ("median", "q16", "q84", "q2.5", "q97.5")]
        rows.append([f"<code>{n}</code>", html.escape(units[n]), *cells, f"{r['r_hat']:.3f}", f"{r['ess_bulk']:.0f}",
                     f"{truth[n]:.4g}" if n in truth else "–"])
    return rows


def write_reanalysis_report(folder, out=None) -> pathlib.Path:
    """Write ``report.html`` of a reanalysis folder.

    Parameters
    ----------
    folder : path
        Output folder of ``bayesmusr reanalyse``.
    out : path, optional
        HTML file (default ``<folder>/report.html``).

    Returns
    -------
    pathlib.Path
    """
    data = load_reanalysis(folder)
    out = pathlib.Path(out or pathlib.Path(folder) / "report.html")
    spec = data["spec"]
    job = spec.get("job", {})
    truth = job.get("truth", {}) or {}
    ea = data["ea"]
    draws = {n: ea.posterior[n].values.ravel() for n in ("e_i", "log10_nu_i0", "e_mu", "log10_nu_mu0", "q", "delta")}
    parts = [
        "<h1>bayesmusr reanalysis of a published KT table</h1>",
        f"<p class=small>bayesmusr {__version__}, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M}; table "
        f"{html.escape(str((job.get('table_file') or {}).get('path') or job.get('table', {}).get('source', '')))}; "
        f"measurement conditions of the KT fits: {html.escape(json.dumps(job.get('conditions', {})))}.</p>",
        "<h2>Verdict</h2>", f"<p>{html.escape(data['summary']['text'])}</p>",
        *[_note(f"{name}: {'; '.join(r['reasons'])}") for name, r in data["comparison"]["reliability"].items()
          if r["reasons"]],
        "<h2>The published points and the readings</h2>", _img(reading_figure(data), "fig", "readings"),
        "<p class=small>Left: Δ_KT. Right: ν_KT (log scale) with the ions' and the muon's rates of the EA "
        "posterior; the grey band is the 95 % interval of the EA reading's T* (the ν_KT maximum).</p>",
        "<h2>EA parameters</h2>",
        _table(["parameter", "unit", "median", "16 %", "84 %", "2.5 %", "97.5 %", "R-hat", "ESS bulk", "truth"],
               _parameter_rows(ea, truth), caption="central 68 % (16–84 %) and 95 % (2.5–97.5 %) intervals"),
        _img(corner_plot(draws, "EA reading: global parameters", truth), "fig", "corner"),
        "<h2>Model comparison (LOO, one term per published temperature)</h2>",
        f"<pre>{html.escape(compare.format_comparison(data['comparison']))}</pre>",
    ]
    out.write_text("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>bayesmusr reanalysis</title>"
                   f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>", encoding="utf-8")
    return out
