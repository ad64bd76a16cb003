"""Self-contained HTML reports of fit results (``bayesmusr report``): the page itself.

:func:`write_report` turns result files (ArviZ netCDF of ``bayesmusr fit`` or ``fit-temperature``),
or a folder written by ``bayesmusr fit``, into **one** HTML file with every figure embedded as a
PNG ``data:`` URI: the runs with the posterior-predictive bands of every result fitted to them,
corner plots, temperature dependences, the LOO/WAIC comparison and sampler diagnostics; whatever
cannot be shown is said in a note where it would be.  Every interval is a central credible interval
of :data:`bayesmusr.inference.compare.INTERVALS` (68 % and 95 %), and every table that shows one says
so.  This module owns the page (sections,
tables, CSS); loading is :mod:`~bayesmusr.report.results`, the bands :mod:`~bayesmusr.report.bands`
and the figures :mod:`~bayesmusr.report.figures`, whose public names are re-exported here.
"""
from __future__ import annotations

import base64
import datetime
import html
import math
import os
import pathlib
import re
from collections.abc import Iterable, Sequence

import numpy as np

from bayesmusr._version import __version__
from bayesmusr.inference.compare import INTERVALS, interval_columns, interval_label, prior_edge_notes
from bayesmusr.report.bands import NARROW, PERCENTILES, WIDE, RunBands, run_bands
from bayesmusr.report.figures import corner_figure, diagnostics_figure, png, run_figure, temperature_figure
from bayesmusr.report.results import (
    SAMPLER_ATTRS,
    Result,
    RunInfo,
    collect_results,
    comparison,
    diagnostics_summary,
    groups,
    load_result,
    sampler_info,
)

__all__ = ["Result", "RunInfo", "RunBands", "PERCENTILES", "load_result", "collect_results", "run_bands",
           "run_figure", "corner_figure", "temperature_figure", "diagnostics_summary", "sampler_info",
           "diagnostics_figure", "comparison", "write_report"]


def write_report(sources: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike | None = None, *,
                 compare_with: Sequence[str | os.PathLike] = (), n_draws: int = 200, max_points: int = 200,
                 seed: int = 0, recompute: bool = False) -> pathlib.Path:
    """Write one self-contained HTML report of results.

    Parameters
    ----------
    sources : path or sequence of paths
        Result netCDF file(s), or a folder written by ``bayesmusr fit``.
    out : path, optional
        HTML file to write; default ``report.html`` in the folder, or ``<stem>_report.html``
        next to the first result file.
    compare_with : sequence of paths
        More results, compared with the first by LOO when fitted to the same data.
    n_draws, max_points, seed
        See :func:`~bayesmusr.report.bands.run_bands`.
    recompute : bool
        Recompute the LOO comparison of a folder even when its ``comparison.txt`` is up to date
        (the LOO of a full scan takes ~30 s).

    Returns
    -------
    pathlib.Path
        The HTML file written.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    data = collect_results(sources, compare_with)
    first = data["inputs"][0]
    out = pathlib.Path(out) if out is not None else (
        first / "report.html" if first.is_dir() else first.with_name(f"{first.stem}_report.html"))
    try:
        gs = groups(data["results"])
        parts = [*_header(data), *_runs_section(gs, n_draws, max_points, seed), *_corner_section(data["results"]),
                 *_temperature_section(data["results"], gs), *_comparison_section(gs, data, recompute),
                 *_conventional_section(data["conventional"]), *_diagnostics_section(data)]
    finally:  # release the files: a later job in this process may rewrite them (bayesmusr fit does)
        for r in data["results"] + data["kt_fits"]:
            r.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>bayesmusr report</title>"
                   f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>", encoding="utf-8")
    return out


def _header(data) -> list[str]:
    """Title, table of contents, the results overview and what was skipped or borrowed."""
    toc = [("results", "Results"), ("runs", "Data and posterior-predictive bands"), ("corner", "Global parameters"),
           ("temperature", "Temperature dependences"), ("comparison", "Model comparison")]
    toc += [("conventional", "Conventional KT reading")] * bool(data["conventional"])
    toc += [("diagnostics", "Sampler diagnostics")]
    parts = [f"<h1>bayesmusr report</h1><p class='small'>Written "
             f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')} by bayesmusr {__version__} "
             f"from {html.escape(', '.join(str(p) for p in data['inputs']))}. Units: t in μs; Δ, ν, ν_i, ν_μ in "
             "μs⁻¹; fields in mT; T in K; energies in eV; log10_nu_i0, log10_nu_mu0 in log10(s⁻¹).</p>",
             "<nav><ol>" + "".join(f"<li><a href='#{a}'>{t}</a></li>" for a, t in toc) + "</ol></nav>",
             "<h2 id='results'>Results</h2>", _results_overview(data["results"], data["kt_fits"])]
    parts += [_note(f"{name} skipped: {why}") for name, why in data["skipped"].items()]
    return parts + [_note(f"{r.path.name}: {n}") for r in data["results"] for n in r.notes]


def _runs_section(gs, n_draws, max_points, seed) -> list[str]:
    """One figure per run with the bands of every result of its group, all in the first result's α."""
    narrow, wide = interval_label(NARROW), interval_label(WIDE)
    parts = ["<h2 id='runs'>Data and posterior-predictive bands</h2><p>Every run's asymmetry (black) with the "
             f"median and the {narrow} (dark) and {wide} (light) central bands of the replicated data of each "
             f"result, each made with that result's own nuisances. If a model describes the data, about {narrow} "
             f"and {wide} of the points fall inside its bands (stated in each figure). Histogram runs are shown as "
             "(F − αB)/(F + αB) with one α per run for the data and every replica: the first result's, given in "
             "the title.</p>"]
    for g in gs:
        parts.append(f"<h3>Runs fitted by {html.escape(', '.join(r.label for r in g))}</h3>")
        figs, sources, notes = [], {}, {}
        for k, run in enumerate(g[0].runs):
            bands = []
            for r in g:
                alpha = bands[0][1].alpha if bands else None  # the first result's α for all
                b = run_bands(r, r.runs[k], max_points=max_points, n_draws=n_draws, seed=seed, alpha=alpha)
                bands.append((r.label, b))
                if b.source:  # "N replicas" may differ between runs: keep one line per result
                    sources.setdefault(r.label, b.source)
                if b.note:
                    notes.setdefault((r.label, b.note), []).append(run.label)
            figs.append(f"<figure>{_img(run_figure(run, bands), 'run', run.title, run=run.index, result=g[0].label)}"
                        f"<figcaption>{html.escape(run.title)}</figcaption></figure>")
        parts += [f"<p class='small'>{html.escape(f'{lab}: bands from {src}.')}</p>" for lab, src in sources.items()]
        parts += [_note(f"{lab} ({'all runs' if len(runs) == len(g[0].runs) else ', '.join(runs)}): {text}.")
                  for (lab, text), runs in notes.items()]
        parts.append("<div class='runs'>" + "".join(figs) + "</div>")
    return parts


def _corner_section(results) -> list[str]:
    parts = ["<h2 id='corner'>Global parameters</h2>"]
    for r in results:
        fig = corner_figure(r)
        parts.append(_note(f"{r.label}: no global parameters (independent temperatures); see the temperature "
                           "dependences below.") if fig is None else
                     f"<h3>{html.escape(r.label)}</h3>" + _img(fig, "corner", f"corner plot of {r.label}",
                                                              result=r.label))
    return parts


def _temperature_section(results, gs) -> list[str]:
    """Temperature dependences; an EA scan gets the KT reading of the same data overlaid."""
    kt_of = {r.label: next((x for x in g if x.kind == "kt_scan"), None) for g in gs for r in g if r.kind == "ea_scan"}
    parts = ["<h2 id='temperature'>Temperature dependences</h2>"
             f"<p>Posterior median per temperature with {interval_label(NARROW)} (dark) and {interval_label(WIDE)} "
             "(light) central credible bands.</p>"]
    for r in results:
        fig = temperature_figure(r, kt_of.get(r.label))
        parts.append(_note(f"{r.label}: a single-temperature result has no temperature dependence.") if fig is None
                     else f"<h3>{html.escape(r.label)}</h3>" + _img(fig, "temperature",
                                                                   f"temperature dependence of {r.label}",
                                                                   result=r.label))
    return parts


def _comparison_section(gs, data, recompute) -> list[str]:
    parts = ["<h2 id='comparison'>Model comparison (LOO over every bin)</h2>"
             "<p>elpd_loo: expected log predictive density of new data by Pareto-smoothed importance-sampling "
             "leave-one-out over every time bin of every run; higher is better. elpd_diff ± dse: shortfall against "
             "the best model with its paired standard error; diff/dse > 4 is a clear preference, 2–4 moderate, "
             "< 2 none. Pareto k̂ > 0.7 marks bins whose LOO term is unreliable.</p>"]
    compared = [g for g in gs if len(g) > 1]
    for g in compared:
        names = " vs ".join(r.label for r in g)
        if data["comparison_txt"] and not recompute and {r.label for r in g} == {"ea_scan", "kt_per_temperature"}:
            parts.append(f"<h3>{html.escape(names)}</h3><p class='small'>From comparison.txt, written by 'bayesmusr "
                         "fit' after both results (EA_scan = ea_scan.nc, KT_per_T = kt_per_temperature.nc); not "
                         f"recomputed.</p><pre class='comparison'>{html.escape(data['comparison_txt'])}</pre>")
            continue
        try:
            parts.append(f"<h3>{html.escape(names)}</h3>" + _comparison_html(comparison(g)))
        except ValueError as exc:
            parts.append(_note(f"{names}: no comparison ({exc})."))
    if not compared:
        parts.append(_note("Nothing to compare: a comparison needs two results fitted to the same data (give a "
                           "folder written by 'bayesmusr fit', or --compare OTHER.nc)."))
    if len(gs) > 1:
        parts.append(_note("Results fitted to different data are not compared: "
                           + "; ".join(", ".join(r.label for r in g) for g in gs) + "."))
    return parts


def _conventional_section(conv: dict | None) -> list[str]:
    """T*, the Arrhenius fit below it and Eq. 4, as conventional.json states them."""
    if not conv:
        return []
    rows = [["T* (maximum of ν_KT)", f"{conv.get('t_star_K', math.nan):.4g} K"
             + (" (edge of the scan: no maximum inside it)" if conv.get("t_star_at_scan_edge") else "")]]
    if a := conv.get("arrhenius_below_t_star"):
        rows.append(["Arrhenius fit of ν_KT below T*",
                     f"E = {a['energy_eV']:.3f} ± {a['energy_err_eV']:.3f} eV, ν₀ = {a['nu0_per_s']:.3g} s⁻¹"])
    e4 = conv.get("eq4", {})
    if "q" in e4 or "error" in e4:
        rows.append(["Kadono Eq. 4 fit of Δ_KT(T)", f"failed: {e4['error']}" if "error" in e4 else
                     f"E_Δ = {e4['e_delta_eV']:.3f} eV, Q = {e4['q']:.3f}, N = {e4['n_states']:.3g}, "
                     f"Δ = {e4['delta']:.4f} μs⁻¹"])
    return ["<h2 id='conventional'>Conventional KT reading (conventional.json)</h2><p>What a KT analysis of this "
            "scan would report: the temperature T* of the ν_KT maximum, an Arrhenius law fitted to ν_KT below T*, "
            "and Kadono's Eq. 4 fitted to Δ_KT(T).</p>"
            + _table(["quantity", "value"], [[html.escape(a), html.escape(b)] for a, b in rows])]


def _diagnostics_section(data) -> list[str]:
    parts = ["<h2 id='diagnostics'>Sampler diagnostics</h2><p>Posterior mean, SD, median and "
             f"{_intervals_text()}, with the Monte Carlo standard errors, bulk and tail effective sample size "
             "and R-hat of arviz over the walkers (treated as chains). R-hat across ensemble walkers is a check, "
             "not a proof, of convergence; the primary criterion is the chain length in integrated "
             "autocorrelation times τ, stored by the sampler.</p>"]
    for r in data["results"]:
        s, info = diagnostics_summary(r), sampler_info(r)
        parts.append(f"<h3>{html.escape(r.label)}</h3>" + _summary_html(r, s) + _sampler_html(info)
                     + _img(diagnostics_figure(r, s), "diagnostics", f"diagnostics of {r.label}", result=r.label))
        if r.kind == "kt_scan" and not info:
            parts.append(_note(f"{r.label} combines independent per-temperature fits; their own sampler "
                               "diagnostics are in kt/kt_T*.nc" + (" (table below)." if data["kt_fits"] else ".")))
    if data["kt_fits"]:
        parts.append("<h3>Per-temperature KT fits (kt/)</h3>" + _kt_fits_html(data["kt_fits"]))
    return parts


def _results_overview(results, kt_fits) -> str:
    rows = []
    for r in results + kt_fits:
        post, temps = r.idata.posterior, r.temperatures
        ttxt = "–" if temps.size == 0 else (f"{temps.min():.4g}–{temps.max():.4g} K ({temps.size})" if temps.size > 1
                                            else f"{temps[0]:.4g} K")
        rows.append([html.escape(str(r.path.name if r not in kt_fits else f"kt/{r.path.name}")),
                     html.escape(r.kind), html.escape(r.model), f"{post.sizes['chain']} × {post.sizes['draw']}",
                     ttxt, str(len(r.runs)), html.escape(str(r.attrs.get("convergence_message", "not stored")))])
    return _table(["file", "kind", "model", "chains × draws", "temperatures", "runs", "sampler"], rows)


def _comparison_html(res) -> str:
    t, tw, rows = res["loo"], res["waic"], []
    for name in t.index:
        r, k, rel = t.loc[name], res["pareto_k"][name], res["reliability"][name]
        dse = float(r["dse"])
        rows.append([html.escape(str(name)), f"{int(r['rank'])}", _fmt(r["elpd_loo"]), _fmt(r["se"]),
                     _fmt(r["p_loo"]), _fmt(r["elpd_diff"]), _fmt(dse),
                     _fmt(float(r["elpd_diff"]) / dse) if dse > 0 else "–", _fmt(tw.loc[name, "elpd_waic"]),
                     f"{k['good']} / {k['ok']} / {k['bad']} / {k['very_bad']}", _fmt(r["weight"]),
                     _converged_text(rel)])
    return _table(["model", "rank", "elpd_loo", "SE", "p_loo", "elpd_diff", "dse", "diff/dse", "elpd_waic",
                   "Pareto k̂ ≤0.5 / ≤0.7 / ≤1 / >1", "weight", "converged"], rows, cls="comparison") + \
        f"<pre>{html.escape(res['verdict'])}</pre>"


def _converged_text(rel) -> str:
    """Whether a compared fit passed the checks of ``fit_reliability``, with its worst R-hat and ESS."""
    word = ("no" if not rel["sampling_ok"] else "yes" if rel["converged"] else "no record")
    (rn, rv), (en, ev) = rel["r_hat"], rel["ess_bulk"]
    return html.escape(f"{word} (max R-hat {rv:.3f} {rn}, min ESS {ev:.0f} {en})")


def _intervals_text() -> str:
    """The interval convention in words, with the column names of the tables."""
    pairs = " and ".join(f"{interval_label(m)} ({lo}–{hi})" for m, (lo, hi) in zip(INTERVALS, interval_columns()))
    return f"central credible intervals of {pairs}"


def _summary_html(result: Result, summary) -> str:
    cols = list(summary.columns)  # mean, sd, the interval bounds around the median, MCSE, ESS, R-hat
    kinds = {"ess_bulk": "int", "ess_tail": "int", "r_hat": "rhat"}
    rows = [[html.escape(str(name))] + [_fmt(r[c], kinds.get(c, "g")) for c in cols] for name, r in summary.iterrows()]
    tid = f"summary-{re.sub(r'[^A-Za-z0-9_-]+', '-', result.label)}"
    return _table(["parameter", *cols], rows, cls="summary", tid=tid, caption=f"Intervals: {_intervals_text()}.") \
        + "".join(_note(n) for n in prior_edge_notes(result.idata))


def _sampler_html(info: dict) -> str:
    if not info:
        return _note("No sampler attributes (acceptance fraction, autocorrelation times) are stored in this file.")
    meaning = dict(SAMPLER_ATTRS)
    rows = [[html.escape(k), _fmt(v) if not isinstance(v, str) else html.escape(v), html.escape(meaning[k])]
            for k, v in info.items() if k != "tau"]
    tau = info.get("tau", {})
    return _table(["attribute", "value", "meaning"], rows, cls="sampler") + (
        _table(["parameter", "τ (steps)"], [[html.escape(k), _fmt(v)] for k, v in tau.items()], cls="tau") if tau else "")


def _kt_fits_html(kt_fits) -> str:
    rows = []
    for r in kt_fits:
        s, a = diagnostics_summary(r), r.attrs
        rows.append([html.escape(f"kt/{r.path.name}"), _fmt(a.get("temperature_K", math.nan)),
                     _fmt(a.get("converged", math.nan), "int"), _fmt(a.get("n_steps", math.nan), "int"),
                     _fmt(a.get("tau_max", math.nan)), _fmt(a.get("chain_length_in_tau", math.nan)),
                     _fmt(a.get("acceptance_fraction_mean", math.nan)), _fmt(np.nanmax(s["r_hat"]), "rhat"),
                     _fmt(np.nanmin(s["ess_bulk"]), "int"), _fmt(np.nanmin(s["ess_tail"]), "int")])
    return _table(["file", "T (K)", "converged", "steps", "τ_max", "chain / τ", "acceptance", "max R-hat",
                   "min ESS bulk", "min ESS tail"], rows, cls="ktfits")


def _img(fig, cls: str, alt: str, **data) -> str:
    extra = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in data.items())
    src = base64.b64encode(png(fig)).decode("ascii")
    return f'<img class="{cls}"{extra} alt="{html.escape(alt)}" src="data:image/png;base64,{src}">'


def _fmt(v, kind: str = "g") -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    if not math.isfinite(v):
        return "–"
    return f"{v:.0f}" if kind == "int" else (f"{v:.3f}" if kind == "rhat" else f"{v:.4g}")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "", tid: str = "",
           caption: str = "") -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attrs = (f' class="{cls}"' if cls else "") + (f' id="{tid}"' if tid else "")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table{attrs}>{cap}<thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:2px solid #3f51b5;padding-bottom:.2em;margin-top:1.6em}h3{margin-top:1.2em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ccc;padding:.2em .5em;
text-align:right}th{background:#eef}td:first-child,th:first-child{text-align:left}
.runs{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:.6em}
.runs figure{margin:0}.runs img{width:100%}img{max-width:100%}figcaption{font-size:.8em;color:#555}
.note{background:#fff4e0;border-left:4px solid #f0a020;padding:.4em .8em;font-size:.9em}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}.small{font-size:.85em;color:#555}
"""
