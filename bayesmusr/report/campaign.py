"""The summary of a campaign (``bayesmusr campaign``): one row per scan, as CSV, netCDF and one HTML page.

:func:`scan_row` reads what the scan job (:func:`bayesmusr.workflows.scan.fit_scan`) left in a scan's
folder — ``ea_scan.nc`` and ``kt_per_temperature.nc`` (with their fit specifications),
``conventional.json`` — and makes the row: the KT-vs-EA verdict with the LOO difference
elpd_loo(EA) − elpd_loo(KT) and its standard error (:func:`bayesmusr.inference.compare.compare_results`),
posterior medians and central 95 % intervals of E_i, log10 ν_i0, E_μ, log10 ν_μ0, Q and Δ, the KT
reading's T*, its Δ_KT kink and the Arrhenius energy below T*, and convergence flags.
:func:`failed_row` is the row of a scan that did not finish; :func:`write_summary` writes
``campaign.csv``, ``campaign.nc`` and ``campaign.html`` (a Table-I-like table and a figure of E_i
against the KT-reading energy, PNG embedded, linking to each scan's ``report.html``).

Units: energies in eV, ν_0 as log10 of s⁻¹, Δ in μs⁻¹, T in K, elpd in nats.
"""
from __future__ import annotations

import base64
import csv
import datetime
import html
import json
import math
import pathlib
import tempfile
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from bayesmusr._version import __version__
from bayesmusr.inference import compare
from bayesmusr.inference.compare import CLEAR_PREFERENCE_SE, PREFERENCE_SE
from bayesmusr.report.figures import png, pyplot
from bayesmusr.workflows.scan import RESULT_EA, RESULT_KT, diagnostics
from bayesmusr.workflows.spec import read_spec

__all__ = ["PARAMETERS", "COLUMNS", "ROW_VERSION", "scan_row", "failed_row", "write_summary", "read_csv",
           "warm_up"]

#: the EA scan's global parameters in the summary: name → (label, unit)
PARAMETERS = {"e_i": ("E_i", "eV"), "log10_nu_i0": ("log10 ν_i0", "log10(s⁻¹)"), "e_mu": ("E_μ", "eV"),
              "log10_nu_mu0": ("log10 ν_μ0", "log10(s⁻¹)"), "q": ("Q", "1"), "delta": ("Δ", "μs⁻¹")}

#: bump when the row's columns change: cached rows of an older version are rebuilt from the results
ROW_VERSION = 2

#: a Δ_KT drop above T* counts as a kink when it exceeds this many combined standard deviations
KINK_SD = 3.0

_STR, _FLOAT, _INT, _FLAG = "str", "float", "int", "flag"
#: every column of the summary: (name, type, unit, description), in file order
COLUMNS = (
    ("scan", _STR, "", "scan name (the TOML file's stem): its results are in <DIR>/<scan>/"),
    ("status", _STR, "", "ok, or failed"),
    ("error", _STR, "", "why a failed scan failed"),
    ("config", _STR, "", "the analysis TOML"),
    ("report", _STR, "", "the scan's HTML report, relative to the campaign folder"),
    ("n_temperatures", _INT, "", "temperatures of the scan"),
    ("t_min_K", _FLOAT, "K", "lowest temperature"),
    ("t_max_K", _FLOAT, "K", "highest temperature"),
    ("verdict", _STR, "", (f"EA (or KT) clearly preferred (|elpd difference| > {CLEAR_PREFERENCE_SE:g} SE) / "
                           f"moderately preferred (> {PREFERENCE_SE:g} SE) / not distinguished, as the scan "
                           "report reads the comparison")),
    ("verdict_firm", _FLAG, "", "both fits pass the convergence, R-hat, ESS and Pareto-k checks of the comparison"),
    ("elpd_diff_ea_minus_kt", _FLOAT, "nats", "elpd_loo(EA scan) − elpd_loo(KT per temperature)"),
    ("elpd_diff_se", _FLOAT, "nats", "standard error of that difference (paired over bins)"),
    *((f"{n}_{s}", _FLOAT, unit, f"{label}: posterior {what} (EA scan model)")
      for n, (label, unit) in PARAMETERS.items()
      for s, what in (("median", "median"), ("lo95", "2.5th percentile"), ("hi95", "97.5th percentile"))),
    ("kt_t_star_K", _FLOAT, "K", "T*: the temperature of the largest determined ν_KT (KT reading)"),
    ("kt_t_star_at_edge", _FLAG, "", "T* is the first or last usable temperature: no ν_KT maximum inside the scan"),
    ("kt_delta_kink", _FLAG, "", (f"Δ_KT above T* falls below its mean at and below T* by > {KINK_SD:g} SD "
                                  "(-1: no temperature above T*)")),
    ("kt_energy_eV", _FLOAT, "eV", "Arrhenius energy of ν_KT below T* (what a KT analysis reports as E_i)"),
    ("kt_energy_err_eV", _FLOAT, "eV", "its least-squares standard error"),
    ("kt_log10_nu0", _FLOAT, "log10(s⁻¹)", "its prefactor"),
    ("ea_converged", _FLAG, "", "the EA sampler's autocorrelation criterion was met"),
    ("ea_goals_met", _FLAG, "", "EA: split R-hat < 1.01 and bulk ESS > 400 for every global parameter"),
    ("ea_rhat_max", _FLOAT, "", "largest split R-hat of the EA global parameters"),
    ("ea_ess_min", _FLOAT, "", "smallest bulk ESS of the EA global parameters"),
    ("kt_sampling_ok", _FLAG, "", "every per-temperature KT posterior passes R-hat and ESS"),
    ("fit_seconds", _FLOAT, "s", "wall time of the scan task that made the results (NaN if reused)"),
)


def scan_row(folder, name: str | None = None, config: str = "", job=None) -> dict:
    """The summary row of one finished scan, read from the folder ``bayesmusr fit`` wrote.

    Parameters
    ----------
    folder : path
        The scan's output folder (``ea_scan.nc``, ``kt_per_temperature.nc``, ``conventional.json``).
    name : str, optional
        Scan name (default: the folder's name).
    config : str
        The analysis TOML, for the row.
    job : bayesmusr.workflows.scan.ScanJob, optional
        What the scan job just computed into ``folder``: its posteriors and LOO comparison are used
        instead of reading the results back and comparing them again (seconds to tens of seconds).

    Returns
    -------
    dict
        Column name → value (:data:`COLUMNS`).
    """
    folder = pathlib.Path(folder)
    if job is not None:
        return _row(folder, name, config, job.ea_idata, job.comparison)
    ea, kt = compare.load(folder / RESULT_EA), compare.load(folder / RESULT_KT)
    try:
        return _row(folder, name, config, ea, compare.compare_results({"EA_scan": ea, "KT_per_T": kt}))
    finally:
        for idata in (ea, kt):  # read lazily: release the files so that a later job can rewrite them
            for g in idata.groups():
                getattr(idata, g).close()


def _row(folder: pathlib.Path, name, config, ea, cmp) -> dict:
    """The row from the EA posterior, the LOO comparison and the scan's ``conventional.json``."""
    conv = json.loads((folder / "conventional.json").read_text(encoding="utf-8"))
    temps = np.asarray(conv["temperature_K"], dtype=float)
    row = {"scan": name or folder.name, "status": "ok", "error": "", "config": str(config),
           "report": f"{folder.name}/report.html", "n_temperatures": int(temps.size),
           "t_min_K": float(temps.min()), "t_max_K": float(temps.max())}
    row.update(_comparison_cells(cmp))
    row.update(_parameter_cells(ea))
    row.update(_kt_cells(conv))
    row.update(_convergence_cells(ea, cmp))
    return _complete(row)


def failed_row(name: str, config, error: str) -> dict:
    """The summary row of a scan that did not finish.

    Parameters
    ----------
    name : str
        Scan name.
    config : path
        The analysis TOML.
    error : str
        What went wrong (exception type and message).

    Returns
    -------
    dict
        Column name → value; every result column empty.
    """
    return _complete({"scan": name, "status": "failed", "error": error, "config": str(config)})


def _complete(row: Mapping) -> dict:
    """``row`` with every column of :data:`COLUMNS`, missing ones empty (NaN, -1, '')."""
    empty = {_STR: "", _FLOAT: math.nan, _INT: -1, _FLAG: -1}
    return {name: row.get(name, empty[kind]) for name, kind, _, _ in COLUMNS} | \
        {k: v for k, v in row.items() if k not in {c[0] for c in COLUMNS}}


def _comparison_cells(cmp) -> dict:
    """Signed LOO difference EA − KT, its SE (the ``dse`` of the lower-ranked model) and the verdict."""
    table = cmp["loo"]
    diff = float(table.loc["EA_scan", "elpd_loo"] - table.loc["KT_per_T", "elpd_loo"])
    se = float(table.loc[table.index[1], "dse"])
    if se > 0 and abs(diff) > PREFERENCE_SE * se:
        strength = "clearly" if abs(diff) > CLEAR_PREFERENCE_SE * se else "moderately"
        verdict = f"{'EA' if diff > 0 else 'KT'} {strength} preferred"
    else:
        verdict = "not distinguished"
    firm = all(not r["reasons"] for r in cmp["reliability"].values())
    return {"verdict": verdict, "verdict_firm": int(firm), "elpd_diff_ea_minus_kt": diff, "elpd_diff_se": se}


def _parameter_cells(ea) -> dict:
    """Median and 95 % central interval of each of :data:`PARAMETERS`; a fixed one is its value three times."""
    priors = ((read_spec(ea) or {}).get("model") or {}).get("priors") or {}
    cells = {}
    for name in PARAMETERS:
        if name in ea.posterior:
            lo, med, hi = np.percentile(np.asarray(ea.posterior[name]).ravel(), [2.5, 50, 97.5])
        elif (priors.get(name) or {}).get("kind") == "fixed":
            lo = med = hi = float(priors[name]["value"])
        else:
            lo = med = hi = math.nan
        cells |= {f"{name}_median": float(med), f"{name}_lo95": float(lo), f"{name}_hi95": float(hi)}
    return cells


def _kink(conv: Mapping) -> int:
    """1 if Δ_KT drops above T* by more than :data:`KINK_SD` combined SDs, 0 if not, -1 if nothing is above T*."""
    t = np.asarray(conv["temperature_K"], dtype=float)
    d, sd = np.asarray(conv["delta_kt"], dtype=float), np.asarray(conv["delta_kt_sd"], dtype=float)
    left_out = np.isin(t, np.asarray(conv.get("undetermined_K", []), dtype=float))
    below, above = (t <= conv["t_star_K"]), (t > conv["t_star_K"])
    if not above.any():
        return -1
    ref = float(np.mean(d[below & ~left_out] if (below & ~left_out).any() else d[below]))
    ref_sd = float(np.std(d[below], ddof=1) / math.sqrt(below.sum())) if below.sum() > 1 else float(sd[below][0])
    drop = (ref - d[above]) / np.hypot(sd[above], ref_sd)
    return int(bool(np.any(drop > KINK_SD)))


def _kt_cells(conv: Mapping) -> dict:
    """T*, whether it is at the scan's edge, the Δ_KT kink and the Arrhenius energy of ν_KT below T*."""
    cells = {"kt_t_star_K": float(conv["t_star_K"]), "kt_t_star_at_edge": int(bool(conv.get("t_star_at_scan_edge"))),
             "kt_delta_kink": _kink(conv)}
    if arr := conv.get("arrhenius_below_t_star"):
        cells |= {"kt_energy_eV": float(arr["energy_eV"]), "kt_energy_err_eV": float(arr["energy_err_eV"]),
                  "kt_log10_nu0": math.log10(arr["nu0_per_s"]) if arr["nu0_per_s"] > 0 else math.nan}
    return cells


def _convergence_cells(ea, cmp) -> dict:
    """The EA sampler's own criterion, the scan's R-hat/ESS goals, and the KT reading's R-hat/ESS check."""
    names = [n for n in PARAMETERS if n in ea.posterior] + [n for n in ("fbg", "tau_delta") if n in ea.posterior]
    diag = diagnostics(ea, names)
    flag = cmp["reliability"]["EA_scan"]["converged"]
    return {"ea_converged": -1 if flag is None else int(flag), "ea_goals_met": int(diag["met"]),
            "ea_rhat_max": max(diag["r_hat"].values()), "ea_ess_min": min(diag["ess_bulk"].values()),
            "kt_sampling_ok": int(cmp["reliability"]["KT_per_T"]["sampling_ok"])}


def write_summary(out, rows: Sequence[Mapping], title: str = "bayesmusr campaign") -> dict:
    """Write ``campaign.csv``, ``campaign.nc`` and ``campaign.html`` into the folder ``out``.

    Parameters
    ----------
    out : path
        The campaign folder (each scan's results in ``out/<scan>/``).
    rows : sequence of mapping
        One row per scan (:func:`scan_row`, :func:`failed_row`).
    title : str
        Heading of the HTML page.

    Returns
    -------
    dict
        ``csv``, ``nc``, ``html`` → pathlib.Path.
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [_complete(r) for r in rows]
    paths = {"csv": out / "campaign.csv", "nc": out / "campaign.nc", "html": out / "campaign.html"}
    _write_csv(paths["csv"], rows)
    _write_netcdf(paths["nc"], rows)
    paths["html"].write_text(_page(rows, title), encoding="utf-8")
    return paths


def warm_up() -> None:
    """Do once what :func:`write_summary` does slowly the first time in a process: import matplotlib and draw
    a PNG, import the netCDF writer and let xarray probe for its array types.  A campaign calls this in a
    thread while its scans run, so that the summary after the last scan is quick (measured on a summary of
    two scans, load average 8: 3.1–3.4 s in a fresh process, 0.5–1.4 s after this).
    """
    png(pyplot().figure(figsize=(1, 1)))
    with tempfile.TemporaryDirectory() as tmp:
        _write_netcdf(pathlib.Path(tmp) / "warm_up.nc", [failed_row("warm_up", "", "")])


def _write_csv(path: pathlib.Path, rows) -> None:
    """Columns of :data:`COLUMNS`; NaN as an empty cell, -1 flags as empty, floats at full precision."""
    def cell(v, kind):
        if kind == _FLOAT:
            return "" if not math.isfinite(v) else repr(float(v))
        if kind in (_INT, _FLAG):
            return "" if v == -1 else str(int(v))
        return v
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([c[0] for c in COLUMNS])
        for r in rows:
            w.writerow([cell(r[name], kind) for name, kind, _, _ in COLUMNS])


def read_csv(path) -> list[dict]:
    """Read ``campaign.csv`` back into typed rows (the inverse of the CSV part of :func:`write_summary`).

    Parameters
    ----------
    path : path
        A ``campaign.csv``.

    Returns
    -------
    list of dict
        Column name → value (floats NaN, flags and ints -1 where the cell is empty).
    """
    kinds = {name: kind for name, kind, _, _ in COLUMNS}
    conv = {_FLOAT: lambda s: float(s) if s else math.nan, _INT: lambda s: int(s) if s else -1,
            _FLAG: lambda s: int(s) if s else -1, _STR: str}
    with pathlib.Path(path).open(newline="", encoding="utf-8") as fh:
        return [{k: conv[kinds.get(k, _STR)](v) for k, v in r.items()} for r in csv.DictReader(fh)]


def _write_netcdf(path: pathlib.Path, rows) -> None:
    """One variable per column on the dimension ``scan``, with its unit and description as attributes."""
    dtype = {_FLOAT: np.float64, _INT: np.int32, _FLAG: np.int8, _STR: object}
    data = {}
    for name, kind, unit, desc in COLUMNS[1:]:
        attrs = {"description": desc} | ({"units": unit} if unit else {}) | \
            ({"flag_values": "1 yes, 0 no, -1 unknown"} if kind == _FLAG else {})
        values = np.array([str(r[name]) if kind == _STR else r[name] for r in rows], dtype=dtype[kind])
        data[name] = xr.Variable(("scan",), values, attrs=attrs)
    ds = xr.Dataset(data, coords={"scan": np.array([r["scan"] for r in rows], dtype=object)},
                    attrs={"title": "bayesmusr campaign summary", "bayesmusr_version": __version__,
                           "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    tmp = path.with_name(f".{path.name}.tmp")
    ds.to_netcdf(tmp, engine="netcdf4")
    tmp.replace(path)  # a reader never sees half a file


def _fmt(v, digits: str = ".3g") -> str:
    return "–" if not isinstance(v, (int, float)) or not math.isfinite(v) else f"{v:{digits}}"


def _interval(r: Mapping, name: str, digits: str = ".3g") -> str:
    med, lo, hi = r[f"{name}_median"], r[f"{name}_lo95"], r[f"{name}_hi95"]
    if not math.isfinite(med):
        return "–"
    return f"{med:{digits}} <span class=small>[{lo:{digits}}, {hi:{digits}}]</span>"


def _flag(v: int, yes: str = "yes", no: str = "no") -> str:
    return {1: yes, 0: no}.get(int(v), "–")


def _table_rows(rows, n_columns: int) -> list[str]:
    """Rows of the summary table: name (linked), T range, T*, kink, KT energy, EA parameters, verdict, checks."""
    out = []
    for r in rows:
        link = f'<a href="{html.escape(r["report"])}">{html.escape(r["scan"])}</a>' if r["report"] else \
            html.escape(r["scan"])
        if r["status"] != "ok":
            out.append(f'<tr><td>{link}</td><td colspan={n_columns - 1} class=bad>failed: '
                       f'{html.escape(r["error"])}</td></tr>')
            continue
        e_kt = (f"{r['kt_energy_eV']:.3f} ± {r['kt_energy_err_eV']:.3f}" if math.isfinite(r["kt_energy_eV"])
                else "–")
        t_star = _fmt(r["kt_t_star_K"], ".4g") + (" (edge)" if r["kt_t_star_at_edge"] == 1 else "")
        diff = f"{r['elpd_diff_ea_minus_kt']:.1f} ± {r['elpd_diff_se']:.1f}"
        checks = ("yes" if r["verdict_firm"] == 1 else "no") + \
            f" <span class=small>(R̂ {_fmt(r['ea_rhat_max'], '.3f')}, ESS {_fmt(r['ea_ess_min'], '.0f')})</span>"
        cells = [link, f"{r['n_temperatures']}: {r['t_min_K']:.4g}–{r['t_max_K']:.4g}", t_star,
                 _flag(r["kt_delta_kink"]), e_kt, *(_interval(r, n) for n in PARAMETERS),
                 f"{html.escape(r['verdict'])}", diff, checks]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return out


def _energy_figure(rows):
    """E_i of the EA scan (median, 95 %) against the KT-reading energy (± 1.96 SE) per scan; Q per scan."""
    ok = [r for r in rows if r["status"] == "ok"]
    fig, (a1, a2) = pyplot().subplots(1, 2, figsize=(11, 4.4))
    colors = {"EA clearly preferred": "C3", "EA moderately preferred": "C1", "KT clearly preferred": "C0",
              "KT moderately preferred": "C9", "not distinguished": "C7"}
    for k, r in enumerate(ok):
        c = colors.get(r["verdict"], "k")
        y, ylo, yhi = r["e_i_median"], r["e_i_lo95"], r["e_i_hi95"]
        if math.isfinite(r["kt_energy_eV"]):
            x, dx = r["kt_energy_eV"], 1.96 * r["kt_energy_err_eV"]
            a1.errorbar([x], [y], xerr=[[dx], [dx]] if math.isfinite(dx) else None, yerr=[[y - ylo], [yhi - y]],
                        fmt="o", color=c, capsize=3)
            a1.annotate(r["scan"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
        a2.errorbar([k], [r["q_median"]], yerr=[[r["q_median"] - r["q_lo95"]], [r["q_hi95"] - r["q_median"]]],
                    fmt="o", color=c, capsize=3)
    lim = [0, max([1e-3] + [v for r in ok for v in (r["e_i_hi95"], r["kt_energy_eV"]) if math.isfinite(v)]) * 1.1]
    a1.plot(lim, lim, "k:", lw=0.8, label="E_i = E_KT")
    a1.set(xlabel="KT reading: Arrhenius energy of ν_KT below T* (eV)", ylabel="EA scan model: E_i (eV)",
           title="Ion jump energy: EA scan vs the KT reading")
    for verdict, c in colors.items():
        if any(r["verdict"] == verdict for r in ok):  # a legend of the verdicts this campaign has
            a1.plot([], [], "o", color=c, label=verdict)
    a1.legend(fontsize=8)
    a2.set_xticks(range(len(ok)), [r["scan"] for r in ok], rotation=30, ha="right", fontsize=8)
    a2.set(xlim=(-0.6, len(ok) - 0.4), ylim=(0, 1), ylabel="Q (EA scan model)",
           title="Fluctuating fraction Q of the linewidth")
    fig.tight_layout()
    return fig


def _page(rows, title: str) -> str:
    """The whole HTML page: counts, the Table-I-like table, the figure, the column notes."""
    n_ok = sum(r["status"] == "ok" for r in rows)
    header = ["scan", "N_T: T range (K)", "T* (K)", "kink in Δ_KT", "E_KT below T* (eV)",
              *(f"{label} ({unit})" if unit != "1" else label for label, unit in PARAMETERS.values()),
              "verdict (LOO)", "elpd EA − KT", "firm"]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(_table_rows(rows, len(header)))
    img = ""
    if n_ok:
        src = base64.b64encode(png(_energy_figure(rows), dpi=100)).decode("ascii")
        img = f'<img alt="E_i (EA) against the KT-reading energy, and Q per scan" src="data:image/png;base64,{src}">'
    notes = "".join(f"<li><code>{n}</code>{f' ({html.escape(u)})' if u else ''}: {html.escape(d)}</li>"
                    for n, _, u, d in COLUMNS)
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{len(rows)} scans, {n_ok} finished, {len(rows) - n_ok} failed; bayesmusr {__version__}, "
            f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M}. Each scan name links to its own report.</p>"
            "<h2>Scans (as the paper's Table I, with the EA scan model beside the KT reading)</h2>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "<p class=small>EA parameters: posterior median [central 95 % interval]. T*: largest determined ν_KT "
            "(edge: at the first/last usable temperature, so ν_KT has no maximum inside the scan). E_KT: "
            "least-squares Arrhenius fit of ν_KT below T* ± 1 SE. Verdict: elpd_loo(EA) − elpd_loo(KT) ± SE "
            f"over every bin; a preference needs more than {PREFERENCE_SE:g} SE, a clear one more than "
            f"{CLEAR_PREFERENCE_SE:g} SE; firm: both fits pass the "
            "convergence, R-hat, ESS and Pareto-k̂ checks (R̂ and ESS shown: the EA global parameters).</p>"
            f"<h2>E_i of the EA scan model against the KT reading</h2>{img}"
            "<p class=small>Left: error bars are the EA 95 % interval (vertical) and ± 1.96 SE of the KT "
            "Arrhenius fit (horizontal); on the dotted line the two readings agree. Right: Q with its 95 % "
            "interval; small Q leaves the KT reading adequate, large Q gives the ν_KT peak and Δ_KT drop.</p>"
            f"<h2>Columns of campaign.csv / campaign.nc</h2><ul class=small>{notes}</ul></body></html>")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1400px;padding:0 1em;
color:#222;line-height:1.4}
h2{border-bottom:2px solid #3f51b5;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ccc;padding:.2em .5em;
text-align:right}th{background:#eef}td:first-child,th:first-child{text-align:left}
img{max-width:100%}.small{font-size:.85em;color:#555}.bad{color:#b00020;text-align:left}
"""
