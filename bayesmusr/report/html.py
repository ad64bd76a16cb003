"""Self-contained HTML reports of fit results (``bayesmusr report``).

:func:`write_report` turns one or more result files (ArviZ netCDF written by
``bayesmusr fit`` or ``bayesmusr fit-temperature``), or a folder written by
``bayesmusr fit`` / ``make demo``, into **one** HTML file. Every figure is a PNG
embedded as a base64 ``data:`` URI, so the file has no external assets and
can be mailed or archived on its own. The report shows

1. the data of every run with posterior-predictive bands: median and 68/95 %
   bands of the replicated asymmetry, one figure per run, for every result
   fitted to those runs;
2. a corner plot of each result's global parameters;
3. temperature dependences with credible bands: ν_i(T), ν_μ(T) and Δ of the EA
   scan model, Δ_KT(T) and ν_KT(T) of the per-temperature KT reading;
4. a LOO/WAIC comparison (:func:`bayesmusr.compare.compare_results`) of the
   results fitted to the same data;
5. sampler diagnostics: R-hat, bulk/tail ESS and MCSE (``arviz.summary``), and
   the acceptance fraction, autocorrelation times and convergence message the
   sampler stored in the result's attributes.

Whatever cannot be shown (a field not stored in a file, a model that cannot
be evaluated) is said in the report, in a note next to where it would be.

Where the bands come from
-------------------------
The replicated data are the result's ``posterior_predictive`` group when it
has one (Poisson replicas drawn by the sampler at a subset of the draws). A
result without it (the combined KT reading ``kt_per_temperature.nc``) is put
through its model instead: for ``n_draws`` posterior draws (seeded) the
relaxation function of that draw, the per-run nuisances at their conditional
optimum (the Laplace step of :mod:`bayesmusr.scan`, as the sampler did) and
one Poisson replica per draw. Either way the band is a posterior-predictive
band of replicated data, and about 95 % of the data points should fall inside
the 95 % band; the figure states the fraction that does.

Histogram runs are shown as the asymmetry A = (F − αB)/(F + αB) of the data and
of every replica, with one α per run for both: the posterior median of α when
the result samples it, otherwise the conditional optimum of α at the
posterior-median physics. Runs with more than ``max_points`` bins are packed
for display (counts summed over neighbouring bins, the same for data and
replicas).

Units as everywhere (DESIGN §2): t in μs, rates in μs⁻¹, fields in mT, T in K.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import io
import json
import math
import os
import pathlib
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from bayesmusr.inference.compare import priors_from_attrs
from bayesmusr.inference import compare
import h5py
from bayesmusr.model.rundata import RunData
from bayesmusr.model.nuisances import AsymmetryNuisances, HistogramNuisances
from scipy.ndimage import gaussian_filter
from bayesmusr.inference.compare import prior_edge_notes
from bayesmusr._version import __version__
from bayesmusr.model.parameters import RUN_PARAMETERS
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, canonical_model
from bayesmusr.model.forward import bin_decay, histogram_shapes, polarisation, relaxation
from bayesmusr.model import likelihood as lk

__all__ = ["Result", "RunInfo", "RunBands", "load_result", "collect_results", "run_bands", "run_figure",
           "corner_figure", "temperature_figure", "diagnostics_summary", "sampler_info", "diagnostics_figure",
           "comparison", "write_report"]

#: percentiles of the bands: 95 % and 68 % central intervals and the median
PERCENTILES = (2.5, 16.0, 50.0, 84.0, 97.5)
_TEMP_SUFFIX = re.compile(r"_T(\d+)$")


# ------------------------------------------------------------------ results
@dataclasses.dataclass(eq=False)
class RunInfo:
    """One run of a result's observed data.

    Attributes
    ----------
    index : int
        Run index ``i`` of the result (``forward_i``, ``time_i``, ...).
    label : str
        Run label (e.g. ``"ZF #1001"``).
    kind : str
        ``"histograms"`` or ``"asymmetry"``.
    b_lf : float
        Longitudinal field in mT (NaN if the file does not say).
    temperature : float
        K (NaN if the file does not say).
    t : ndarray
        Bin centres in μs.
    """

    index: int
    label: str
    kind: str
    b_lf: float
    temperature: float
    t: np.ndarray
    width: np.ndarray
    forward: np.ndarray | None = None
    backward: np.ndarray | None = None
    asymmetry: np.ndarray | None = None
    error: np.ndarray | None = None

    @property
    def title(self) -> str:
        """Label, temperature and field in words."""
        temp = "T unknown" if not math.isfinite(self.temperature) else f"T = {self.temperature:.4g} K"
        field = "field unknown" if not math.isfinite(self.b_lf) else (
            "ZF" if self.b_lf == 0 else f"LF {self.b_lf:g} mT")
        return f"{self.label} — {temp}, {field}"


@dataclasses.dataclass(eq=False)
class Result:
    """A loaded result and what the report needs to know about it.

    Attributes
    ----------
    path : pathlib.Path
    label : str
        Name used in the report (the file stem).
    idata : arviz.InferenceData
    kind : str
        ``"ea_scan"`` (Arrhenius EA scan model), ``"kt_scan"`` (per-temperature KT
        reading of a scan), ``"kt_point"`` (one temperature of that reading) or
        ``"temperature"`` (``bayesmusr fit-temperature``).
    model : str
        The ``model`` attribute (``ea_arrhenius_scan``, ``dynamic_kt``, ``ea``, ...).
    runs : list of RunInfo
    options : dict
        Nuisance options (holder_fraction, count_background, ...).
    notes : list of str
        What the report could not take from the file itself.
    """

    path: pathlib.Path
    label: str
    idata: object
    kind: str
    model: str
    runs: list
    options: dict
    notes: list

    @property
    def attrs(self) -> dict:
        """Attributes of the posterior group (model, runs, sampler diagnostics)."""
        return dict(self.idata.posterior.attrs)

    @property
    def temperatures(self) -> np.ndarray:
        """Temperatures of a scan result (K), sorted as its ``_T<j>`` variables; empty otherwise."""
        t = self.attrs.get("temperatures_K")
        if t is None:
            t = self.attrs.get("temperature_K")
        return np.atleast_1d(np.asarray(t, dtype=float)) if t is not None else np.array([])

    def close(self) -> None:
        """Release the netCDF file (results are read lazily; an open file cannot be rewritten)."""
        for g in self.idata.groups():
            getattr(self.idata, g).close()

    def draws(self, name: str) -> np.ndarray:
        """All posterior draws of a variable, flattened over chains."""
        return np.asarray(self.idata.posterior[name]).ravel()

    def global_names(self) -> list[str]:
        """Parameters shared by all runs: those the corner plot shows."""
        post = list(self.idata.posterior.data_vars)
        if self.kind == "ea_scan":
            return [n for n in post if not _TEMP_SUFFIX.search(n)]
        if self.kind == "kt_scan":
            return []
        if self.kind == "kt_point":
            return [n for n in ("delta", "nu") if n in post]
        phys = _as_list(self.attrs.get("physics_parameters"))
        return [n for n in phys if n in post]

    def fingerprint(self) -> tuple:
        """Identifies the fitted data: results with equal fingerprints can be compared."""
        key = [int(self.idata.log_likelihood["y"].shape[-1])]
        for r in self.runs:
            data = r.forward if r.kind == "histograms" else r.asymmetry
            key.append((r.index, r.kind, r.t.size, float(r.t.sum()), float(np.sum(data))))
        return tuple(key)


def _as_list(v) -> list:
    if v is None:
        return []
    if isinstance(v, str):
        return [s for s in v.split("; ")] if v else []
    return [x for x in np.atleast_1d(v).tolist()]


def _options(attrs) -> dict:
    out = {"holder_fraction": True, "count_background": True, "extra_relaxation": False}
    for item in _as_list(attrs.get("options")):
        k, _, v = str(item).partition("=")
        if v:
            v = v.strip()
            out[k.strip()] = v if v == "shared" else v in ("True", "1", "true")  # holder_fraction may be "shared"
    return out


def _fixed_values(attrs) -> dict:
    """Parameters fixed by the priors, from the ``priors`` attribute (``name: fixed = v``)."""

    return {name: pr.value for name, pr in priors_from_attrs(attrs).items() if pr.kind == "fixed"}


def _not_a_result(path, why) -> ValueError:
    return ValueError(f"{path}: not a bayesmusr fit result ({why}); expected a netCDF written by "
                      "'bayesmusr fit' (ea_scan.nc, kt_per_temperature.nc) or 'bayesmusr fit-temperature', "
                      "or a folder written by 'bayesmusr fit'")


def load_result(path: str | os.PathLike, label: str | None = None) -> Result:
    """Read a result netCDF for a report.

    Parameters
    ----------
    path : path
        ArviZ netCDF written by ``bayesmusr fit`` or ``bayesmusr fit-temperature``.
    label : str, optional
        Name in the report (default: the file stem).

    Returns
    -------
    Result

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a bayesmusr fit result (the message names the file
        and what was expected).
    """

    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"result file {path} not found")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a result netCDF, or the folder alone (not with --compare)")
    missing = {"posterior", "log_likelihood", "observed_data"} - _file_groups(path)
    if missing:  # checked before ArviZ opens the file (and keeps it open)
        raise _not_a_result(path, f"no {', '.join(sorted(missing))} group")
    try:
        idata = compare.load(path)
    except ValueError as exc:
        why = str(exc).removeprefix(f"{path}: ").removesuffix("; expected a bayesmusr fit result")
        raise _not_a_result(path, why) from None
    attrs = dict(idata.posterior.attrs)
    res_type, model = attrs.get("bayesmusr_result"), str(attrs.get("model", ""))
    if res_type == "scan" and model == "ea_arrhenius_scan":
        kind = "ea_scan"
    elif res_type == "scan" and model == "kt_per_temperature":
        kind = "kt_scan"
    elif res_type == "temperature" and "physics_parameters" in attrs:
        kind = "temperature"
    elif res_type == "temperature" and model == "dynamic_kt":
        kind = "kt_point"
    else:
        kind = ""
    notes: list[str] = []
    runs = _run_infos(idata, attrs, notes) if kind else []
    result = Result(path, label or path.stem, idata, kind, model, runs, _options(attrs), notes)
    if not kind:
        result.close()
        raise _not_a_result(path, f"attribute bayesmusr_result={res_type!r}, model={model!r} is not one the "
                                  "report knows")
    if not runs:
        result.close()
        raise _not_a_result(path, "its observed_data group holds no forward_<i> or asymmetry_<i> runs")
    return result


def _file_groups(path: pathlib.Path) -> set:
    """Top-level groups of a netCDF-4 (HDF5) file, read and closed with h5py."""

    try:
        with h5py.File(path, "r") as h:
            return set(h.keys())
    except OSError as exc:
        raise _not_a_result(path, f"not a netCDF-4/HDF5 file: {exc}") from None


def _run_infos(idata, attrs, notes) -> list[RunInfo]:
    od = idata.observed_data
    idx = sorted({int(m.group(2)) for v in od.data_vars if (m := re.match(r"^(forward|asymmetry)_(\d+)$", v))})
    labels = _as_list(attrs.get("run_labels"))
    fields = [float(x) for x in _as_list(attrs.get("run_fields_mT"))]
    temps = [float(x) for x in _as_list(attrs.get("run_temperatures_K"))]
    if not temps and "temperature_K" in attrs:
        temps = [float(attrs["temperature_K"])] * len(idx)
    if not temps and {"obs_run", "obs_temperature"} <= set(od.data_vars):
        run_of, temp_of = np.asarray(od["obs_run"]), np.asarray(od["obs_temperature"])
        temps = [float(temp_of[run_of == i][0]) if np.any(run_of == i) else math.nan for i in idx]
    if len(fields) != len(idx):
        if idx:
            notes.append("the file does not store the runs' longitudinal fields")
        fields = [math.nan] * len(idx)
    if len(labels) != len(idx):
        labels = [f"run {i}" for i in idx]
    if len(temps) != len(idx):
        temps = [math.nan] * len(idx)
    out = []
    for k, i in enumerate(idx):
        t = np.asarray(od[f"time_{i}"], dtype=float)
        if f"bin_width_{i}" in od:
            width = np.asarray(od[f"bin_width_{i}"], dtype=float)
        else:
            width = np.full(t.size, float(np.median(np.diff(t))) if t.size > 1 else 1.0)
        if f"forward_{i}" in od:
            out.append(RunInfo(i, str(labels[k]), "histograms", fields[k], temps[k], t, width,
                               forward=np.asarray(od[f"forward_{i}"], float),
                               backward=np.asarray(od[f"backward_{i}"], float)))
        else:
            out.append(RunInfo(i, str(labels[k]), "asymmetry", fields[k], temps[k], t, width,
                               asymmetry=np.asarray(od[f"asymmetry_{i}"], float),
                               error=np.asarray(od[f"asymmetry_error_{i}"], float)))
    return out


def _borrow_metadata(results: Sequence[Result]) -> None:
    """Fill unknown run fields, labels and options from another result fitted to the same data."""
    for r in results:
        if all(math.isfinite(x.b_lf) for x in r.runs):
            continue
        for other in results:
            if other is r or other.fingerprint() != r.fingerprint():
                continue
            if not all(math.isfinite(x.b_lf) for x in other.runs):
                continue
            for a, b in zip(r.runs, other.runs):
                a.b_lf = b.b_lf
                if a.label.startswith("run "):
                    a.label = b.label
                if not math.isfinite(a.temperature):
                    a.temperature = b.temperature
            if "options" not in r.attrs:
                r.options = dict(other.options)
            r.notes = [n for n in r.notes if "fields" not in n]
            r.notes.append(f"run fields, labels and nuisance options taken from {other.path.name} "
                           "(fitted to the same data)")
            break


def collect_results(sources: Iterable[str | os.PathLike], compare_with: Iterable[str | os.PathLike] = ()):
    """Load everything a report shows.

    Parameters
    ----------
    sources : paths
        Result netCDF files, or one folder written by ``bayesmusr fit`` (its
        top-level result files, ``kt/*.nc`` per-temperature fits and
        ``conventional.json`` are read).
    compare_with : paths
        More result files (``--compare``).

    Returns
    -------
    dict
        ``results`` (list of :class:`Result`), ``kt_fits`` (per-temperature KT
        results of a folder), ``conventional`` (dict or None), ``skipped``
        (file → reason), ``inputs`` (what was given), ``comparison_txt`` (the
        folder's ``comparison.txt`` if it is newer than ``ea_scan.nc`` and
        ``kt_per_temperature.nc``, else None).
    """
    results, kt_fits, skipped = [], [], {}
    conventional = comparison_txt = None
    inputs = [pathlib.Path(s) for s in sources] + [pathlib.Path(s) for s in compare_with]
    if not inputs:
        raise ValueError("report: give a result netCDF or a folder written by 'bayesmusr fit'")
    folders = [p for p in inputs if p.is_dir()]
    if folders and len(inputs) > 1:
        raise ValueError(f"report: give either one folder ({folders[0]}) or result files, not both")
    if folders:
        folder = folders[0]
        files = sorted(folder.glob("*.nc"), key=lambda p: (p.name != "ea_scan.nc", p.name))
        for f in files:
            try:
                results.append(load_result(f))
            except ValueError as exc:
                skipped[f.name] = str(exc).removeprefix(f"{f}: ")
        for f in sorted((folder / "kt").glob("kt_T*.nc")):
            try:
                kt_fits.append(load_result(f))
            except ValueError as exc:
                skipped[f"kt/{f.name}"] = str(exc).removeprefix(f"{f}: ")
        if not results:
            for r in kt_fits:
                r.close()
            raise ValueError(f"{folder}: no bayesmusr result netCDF in this folder (expected ea_scan.nc, "
                             f"kt_per_temperature.nc or fit-temperature results)"
                             + (f"; skipped: {skipped}" if skipped else ""))
        conv = folder / "conventional.json"
        if conv.exists():
            conventional = json.loads(conv.read_text(encoding="utf-8"))
        # comparison.txt of 'bayesmusr fit' (the same compare_results call): reused while newer than the results
        txt, pair = folder / "comparison.txt", [folder / "ea_scan.nc", folder / "kt_per_temperature.nc"]
        if txt.exists() and all(p.exists() for p in pair) and \
                txt.stat().st_mtime >= max(p.stat().st_mtime for p in pair):
            comparison_txt = txt.read_text(encoding="utf-8")
    else:
        try:
            for p in inputs:
                results.append(load_result(p))
        except (ValueError, FileNotFoundError):
            for r in results:
                r.close()
            raise
        # a result lacking its runs' fields: look for a result of the same fit next to it
        for r in list(results):
            if all(math.isfinite(x.b_lf) for x in r.runs):
                continue
            for sib in sorted(r.path.parent.glob("*.nc")):
                if sib.resolve() in {x.path.resolve() for x in results}:
                    continue
                try:
                    cand = load_result(sib)
                except (ValueError, FileNotFoundError):
                    continue
                same = cand.fingerprint() == r.fingerprint()
                if same:
                    _borrow_metadata([r, cand])
                cand.close()
                if same:
                    break
    _borrow_metadata(results)
    labels = [r.label for r in results]
    for k, r in enumerate(results):
        if labels.count(r.label) > 1:
            r.label = f"{r.label}_{k}"
    return {"results": results, "kt_fits": kt_fits, "conventional": conventional, "skipped": skipped,
            "inputs": inputs, "comparison_txt": comparison_txt}


# -------------------------------------------------------------------- bands
@dataclasses.dataclass(eq=False)
class RunBands:
    """Posterior-predictive bands of one run's asymmetry (packed for display).

    Attributes
    ----------
    t : ndarray
        Packed bin centres (μs).
    y, yerr : ndarray
        Data asymmetry and its standard error.
    bands : ndarray or None
        (5, n) percentiles :data:`PERCENTILES` of the replicated asymmetry.
    source : str
        Where the replicas come from, in words.
    n_replicas : int
    alpha : float
        α used for the asymmetry of a histogram run (NaN for asymmetry runs).
    inside68, inside95 : float
        Fraction of data points inside the 68 % / 95 % bands.
    note : str
        Why there is no band, or a caveat.
    """

    t: np.ndarray
    y: np.ndarray
    yerr: np.ndarray
    bands: np.ndarray | None
    source: str
    n_replicas: int
    alpha: float
    pack: int
    inside68: float = math.nan
    inside95: float = math.nan
    note: str = ""


def _pack_counts(x: np.ndarray, k: int) -> np.ndarray:
    """Sum counts over groups of ``k`` neighbouring bins along the last axis (last group may be shorter)."""
    if k == 1:
        return x
    starts = np.arange(0, x.shape[-1], k)
    return np.add.reduceat(x, starts, axis=-1)


def _pack_mean(x: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return x
    return _pack_counts(x * w, k) / _pack_counts(w, k)


def _asym(f, b, alpha):
    den = f + alpha * b
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(den > 0, (f - alpha * b) / den, np.nan)
        e = np.where(den > 0, 2 * alpha * np.sqrt(f * b * (f + b)) / den**2, np.nan)
    return a, e


def _nuisance_block(result: Result, run: RunInfo):

    # a scan's shared holder fraction is in the relaxation (P = (1 − f) G + f, see _RunModel), not the run
    holder = result.options.get("holder_fraction", True) is True
    if run.kind == "histograms":
        rd = RunData("histograms", run.t, float(run.b_lf), run.label, width=run.width, forward=run.forward,
                     backward=run.backward)
        return HistogramNuisances(rd, holder, bool(result.options.get("count_background", True)))
    rd = RunData("asymmetry", run.t, float(run.b_lf), run.label, asymmetry=run.asymmetry, error=run.error)
    return AsymmetryNuisances(rd, holder)


def _temperature_index(result: Result, run: RunInfo) -> int:
    temps = result.temperatures
    if temps.size == 0 or not math.isfinite(run.temperature):
        raise ValueError(f"run {run.label!r}: its temperature is not stored, so its ν_i(T), ν_μ(T) cannot be chosen")
    return int(np.argmin(np.abs(temps - run.temperature)))


def _value(draw: Mapping[str, float], fixed: Mapping[str, float], names: Sequence[str], default: float) -> float:
    for n in names:
        if n in draw:
            return float(draw[n])
        if n in fixed:
            return float(fixed[n])
    return float(default)


class _RunModel:
    """Expected data of one run for a posterior draw, through the result's own model.

    ``ea_scan``/``kt_scan``/``kt_point`` results: the relaxation function of the
    draw and the per-run nuisances at their conditional optimum (Laplace step of
    :mod:`bayesmusr.scan`, as in the sampler). ``temperature`` results
    (``fit-temperature``): every nuisance is in the posterior (N0 as ``n0_i``).
    """

    def __init__(self, result: Result, run: RunInfo):

        if not math.isfinite(run.b_lf):
            raise ValueError("the run's longitudinal field is not stored in the file (report the whole folder "
                             "written by 'bayesmusr fit', or add its ea_scan.nc with --compare)")
        self.result, self.run = result, run
        self.fixed = _fixed_values(result.attrs)
        self.defaults = {p.name: p.default for p, _, _ in RUN_PARAMETERS}
        if result.kind in ("ea_scan", "kt_scan"):
            self.j = _temperature_index(result, run)
        if result.kind != "temperature":
            self.block = _nuisance_block(result, run)
        else:

            rd = RunData(run.kind, run.t, float(run.b_lf), run.label, width=run.width,
                         forward=run.forward if run.kind == "histograms" else None,
                         backward=run.backward if run.kind == "histograms" else None,
                         asymmetry=run.asymmetry, error=run.error)
            self.decay = rd.decay() if run.kind == "histograms" else None
            self.table = result.attrs.get("ea_table") or None

    def relaxation(self, draw: Mapping[str, float]) -> np.ndarray:

        r, j, fx = self.result, getattr(self, "j", None), self.fixed
        if r.kind == "ea_scan":
            delta = _value(draw, fx, (f"delta_T{j}", "delta"), math.nan)
            q = _value(draw, fx, ("q",), math.nan)
            theta = (delta, float(draw[f"nu_i_T{j}"]), float(draw[f"nu_mu_T{j}"]), q)
            g = relaxation("ea", self.run.t, self.run.b_lf, theta)
            if r.options.get("holder_fraction") == "shared":
                f = _value(draw, fx, ("fbg",), 0.0)
                g = (1.0 - f) * g + f
            return g
        if r.kind == "kt_scan":
            return relaxation("dynamic_kt", self.run.t, self.run.b_lf, (draw[f"delta_T{j}"], draw[f"nu_T{j}"]))
        if r.kind == "kt_point":
            return relaxation("dynamic_kt", self.run.t, self.run.b_lf,
                              (_value(draw, fx, ("delta",), math.nan), _value(draw, fx, ("nu",), math.nan)))
        model = canonical_model(r.model)
        theta = [_value(draw, fx, (p.name,), math.nan) for p in PHYSICS_PARAMETERS[model]]
        return relaxation(model, self.run.t, self.run.b_lf, theta, table=self.table)

    def _nuisance(self, draw, name):
        i = self.run.index
        return _value(draw, self.fixed, (f"{name}_{i}", name), self.defaults[name])

    def alpha(self, draw: Mapping[str, float]) -> float:
        """α of the run at this draw (sampled, or the conditional optimum)."""
        if self.run.kind != "histograms":
            return math.nan
        if self.result.kind == "temperature":
            return self._nuisance(draw, "alpha")
        g = self.relaxation(draw)
        if not math.isfinite(self.block.marginal(g)):
            raise ValueError("the nuisance optimisation failed at the posterior median")
        return float(self.block.alpha)

    def replicate(self, draw: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
        """One replica of the run's data (forward then backward counts, or the asymmetry)."""
        g = self.relaxation(draw)
        if self.result.kind != "temperature":
            if not math.isfinite(self.block.marginal(g)):
                raise ValueError("the nuisance optimisation failed for a posterior draw")
            return self.block.replicate(g, rng)

        run = self.run
        a0, lam = self._nuisance(draw, "a0"), self._nuisance(draw, "lam")
        p = g * np.exp(-lam * run.t)
        if run.kind == "asymmetry":
            mu = a0 * p + self._nuisance(draw, "base")
            return rng.normal(mu, run.error)
        f = self._nuisance(draw, "fbg")
        p = (1.0 - f) * p + f
        mf, mb = histogram_shapes(self.decay, a0 * p, self._nuisance(draw, "alpha"), self._nuisance(draw, "bgf"),
                                     self._nuisance(draw, "bgb"))
        n0 = draw.get(f"n0_{run.index}", math.nan)
        if not math.isfinite(n0):
            n0 = (run.forward.sum() + run.backward.sum()) / (mf.sum() + mb.sum())
        return rng.poisson(n0 * np.concatenate([mf, mb])).astype(float)


def _draw_dicts(result: Result, idx: np.ndarray) -> list[dict]:
    post = result.idata.posterior
    flat = {n: np.asarray(post[n]).reshape(-1) for n in post.data_vars}
    return [{n: float(v[k]) for n, v in flat.items()} for k in idx]


def _median_draw(result: Result) -> dict:
    post = result.idata.posterior
    return {n: float(np.median(np.asarray(post[n]))) for n in post.data_vars}


def run_bands(result: Result, run: RunInfo, *, max_points: int = 200, n_draws: int = 200, seed: int = 0) -> RunBands:
    """Posterior-predictive bands of one run's asymmetry (see the module docstring).

    Parameters
    ----------
    result : Result
    run : RunInfo
        One of ``result.runs``.
    max_points : int
        Pack the run to at most this many points for display.
    n_draws : int
        Posterior draws put through the model when the result has no
        ``posterior_predictive`` group.
    seed : int
        Seed of the draw selection and the Poisson replicas of that case.

    Returns
    -------
    RunBands
        ``bands`` is None (and ``note`` says why) when no replicas could be made.
    """
    i = run.index
    k = max(1, int(math.ceil(run.t.size / max_points)))
    t = _pack_mean(run.t, np.ones_like(run.t), k)
    pp = result.idata.posterior_predictive if "posterior_predictive" in result.idata.groups() else None
    names = [f"forward_{i}", f"backward_{i}"] if run.kind == "histograms" else [f"asymmetry_{i}"]
    reps, source, note = None, "", ""
    model = None
    try:
        model = _RunModel(result, run)
    except (ValueError, KeyError) as exc:
        model_error = str(exc)
    else:
        model_error = ""
    # α first: the nuisance solve of the posterior median then anchors the Laplace steps of the replicas
    alpha, alpha_note = math.nan, ""
    if run.kind == "histograms":
        alpha = 1.0
        if model is not None:
            try:
                alpha = model.alpha(_median_draw(result))
            except (ValueError, KeyError) as exc:
                alpha_note = f"α = 1 used for display ({exc})"
        else:
            alpha_note = "α = 1 used for display (the model could not be evaluated)"
    if pp is not None and all(n in pp for n in names):
        arrs = [np.asarray(pp[n], dtype=float).reshape(-1, run.t.size) for n in names]
        reps = np.concatenate(arrs, axis=1)
        source = f"the posterior_predictive group of {result.path.name} ({reps.shape[0]} replicas)"
    elif model is not None:
        rng = np.random.default_rng(seed)
        n_total = int(np.prod([result.idata.posterior.sizes[d] for d in ("chain", "draw")]))
        idx = np.sort(rng.choice(n_total, size=min(n_draws, n_total), replace=False))
        try:
            reps = np.array([model.replicate(d, rng) for d in _draw_dicts(result, idx)])
            source = (f"{idx.size} posterior draws put through the {result.model} model, one Poisson replica "
                      f"each (seed {seed}; {result.path.name} has no posterior_predictive group)")
        except (ValueError, KeyError) as exc:
            reps, note = None, f"no band: the model could not be evaluated ({exc})"
    else:
        note = f"no band: {result.path.name} has no posterior_predictive group for this run and {model_error}"
    if alpha_note:
        note = f"{note}; {alpha_note}" if note else alpha_note
    if run.kind == "histograms":
        f, b = _pack_counts(run.forward, k), _pack_counts(run.backward, k)
        y, yerr = _asym(f, b, alpha)
        rep_y = None
        if reps is not None:
            n = run.t.size
            rep_y = _asym(_pack_counts(reps[:, :n], k), _pack_counts(reps[:, n:], k), alpha)[0]
    else:
        w = 1.0 / run.error**2
        y = _pack_mean(run.asymmetry, w, k)
        yerr = 1.0 / np.sqrt(_pack_counts(w, k))
        rep_y = None if reps is None else _pack_mean(reps, np.broadcast_to(w, reps.shape), k)
    bands = None
    inside68 = inside95 = math.nan
    if rep_y is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins (no counts) stay NaN
            bands = np.nanpercentile(rep_y, PERCENTILES, axis=0)
        ok = np.isfinite(y) & np.all(np.isfinite(bands), axis=0)
        if ok.any():
            inside95 = float(np.mean((y[ok] >= bands[0, ok]) & (y[ok] <= bands[4, ok])))
            inside68 = float(np.mean((y[ok] >= bands[1, ok]) & (y[ok] <= bands[3, ok])))
    return RunBands(t, y, yerr, bands, source, 0 if reps is None else int(reps.shape[0]), alpha, k,
                    inside68, inside95, note)


# ------------------------------------------------------------------ figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


_COLORS = ("C0", "C1", "C2", "C3", "C4")


def run_figure(run: RunInfo, bands: Sequence[tuple[str, RunBands]]):
    """Figure of one run: data with error bars and the bands of every result.

    Parameters
    ----------
    run : RunInfo
    bands : sequence of (result label, RunBands)

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    lines = []
    for k, ((label, b), color) in enumerate(zip(bands, _COLORS)):
        if b.bands is not None and k == 0:  # the first result filled, the others as outlines
            ax.fill_between(b.t, b.bands[0], b.bands[4], color=color, alpha=0.18, lw=0)
            ax.fill_between(b.t, b.bands[1], b.bands[3], color=color, alpha=0.35, lw=0)
        elif b.bands is not None:
            for j, ls in ((0, ":"), (1, "--"), (3, "--"), (4, ":")):
                ax.plot(b.t, b.bands[j], color=color, lw=0.8, ls=ls)
        if b.bands is not None:
            ax.plot(b.t, b.bands[2], color=color, lw=1.2,
                    label=f"{label}: median, 68/95 %" + (" (dashed/dotted)" if k else ""))
            lines.append(f"{label}: {100 * b.inside68:.0f} % / {100 * b.inside95:.0f} % of points in the 68/95 % "
                         f"band ({b.n_replicas} replicas)")
        else:
            lines.append(f"{label}: no band")
    b0 = bands[0][1]
    ax.errorbar(b0.t, b0.y, yerr=b0.yerr, fmt=".", ms=3, lw=0.6, color="k", label="data", zorder=3)
    ok = np.isfinite(b0.y) & np.isfinite(b0.yerr)
    if ok.any():
        # y range from the well-measured points (late bins with few counts have huge error bars)
        good = ok & (b0.yerr <= np.nanpercentile(b0.yerr[ok], 80))
        lo, hi = np.nanmin((b0.y - b0.yerr)[good]), np.nanmax((b0.y + b0.yerr)[good])
        pad = 0.1 * (hi - lo) + 1e-3
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("t (μs)")
    ax.set_ylabel("asymmetry")
    alpha_note = f", α = {b0.alpha:.3f}" if math.isfinite(b0.alpha) else ""
    ax.set_title(f"{run.title}{alpha_note}" + (f", packed ×{b0.pack}" if b0.pack > 1 else ""), fontsize=8)
    ax.legend(fontsize=6, loc="upper right")
    ax.text(0.01, 0.02, "\n".join(lines), transform=ax.transAxes, fontsize=6, va="bottom", color="0.25")
    fig.tight_layout()
    return fig


def _hpd_levels(h: np.ndarray, masses=(0.95, 0.68)) -> list[float]:
    flat = np.sort(h.ravel())[::-1]
    cum = np.cumsum(flat) / flat.sum()
    return sorted({float(flat[min(np.searchsorted(cum, m), flat.size - 1)]) for m in masses})


def corner_figure(result: Result, names: Sequence[str] | None = None, bins: int = 30):
    """Corner plot of a result's global parameters (None if it has fewer than one).

    Diagonal: marginal histograms with the median and the 68 % interval;
    below: 2-D histograms (lightly smoothed) with the 68 % and 95 % highest-density contours.
    """

    names = list(names if names is not None else result.global_names())[:8]
    if not names:
        return None
    plt = _plt()
    k = len(names)
    x = {n: result.draws(n) for n in names}
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k + 0.6, 1.9 * k + 0.6), squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            xi, xj = x[names[i]], x[names[j]]
            if i == j:
                ax.hist(xi, bins=bins, color="C0", alpha=0.7)
                lo, med, hi = np.percentile(xi, [16, 50, 84])
                for v, ls in ((lo, ":"), (med, "-"), (hi, ":")):
                    ax.axvline(v, color="k", lw=0.8, ls=ls)
                ax.set_title(f"{names[i]} = {med:.4g} (+{hi - med:.2g} −{med - lo:.2g})", fontsize=7)
                ax.set_yticks([])
            else:
                if np.ptp(xi) > 0 and np.ptp(xj) > 0:
                    h, xe, ye = np.histogram2d(xj, xi, bins=bins)
                    h = gaussian_filter(h, 1.0)
                    ax.plot(xj, xi, ",", color="0.6", alpha=0.5)
                    ax.contour(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T, levels=_hpd_levels(h),
                               colors=["C0", "C0"], linewidths=[0.8, 1.3])
                else:
                    ax.plot(xj, xi, ".", color="C0", ms=1)
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i], fontsize=8)
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=6)
    fig.suptitle(f"{result.label}: posterior of the global parameters (contours: 68 % and 95 %)", fontsize=9)
    fig.tight_layout()
    return fig


def _per_temperature(result: Result, name: str) -> np.ndarray | None:
    """(5, n_T) percentiles of ``<name>_T<j>`` over the temperatures, or None."""
    n_t = result.temperatures.size
    post = result.idata.posterior
    if n_t == 0 or any(f"{name}_T{j}" not in post for j in range(n_t)):
        return None
    return np.array([np.percentile(result.draws(f"{name}_T{j}"), PERCENTILES) for j in range(n_t)]).T


def _band_plot(ax, x, p, color, label, marker="o"):
    ax.fill_between(x, p[0], p[4], color=color, alpha=0.18, lw=0)
    ax.fill_between(x, p[1], p[3], color=color, alpha=0.35, lw=0)
    ax.plot(x, p[2], marker=marker, ms=3, color=color, lw=1, label=label)


def temperature_figure(result: Result, kt: Result | None = None):
    """Temperature dependences with 68/95 % credible bands (None for a single-temperature result).

    ``ea_scan``: ν_i(T), ν_μ(T) against 1000/T and Δ with √(1−Q)Δ against T;
    ``kt_scan``: ν_KT(T) and Δ_KT(T). ``kt``, a KT reading of the same data,
    is overlaid on the EA panels.
    """
    temps = result.temperatures
    if result.kind not in ("ea_scan", "kt_scan") or temps.size < 2:
        return None
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.9))
    inv = 1000.0 / temps
    if result.kind == "ea_scan":
        for name, color, label in (("nu_i", "C0", "ν_i (EA scan)"), ("nu_mu", "C1", "ν_μ (EA scan)")):
            p = _per_temperature(result, name)
            if p is not None:
                _band_plot(a1, inv, p, color, label)
        if kt is not None and (p := _per_temperature(kt, "nu")) is not None:
            a1.errorbar(1000.0 / kt.temperatures, p[2], yerr=[p[2] - p[1], p[3] - p[2]], fmt="ks", ms=3, lw=0.8,
                        label=f"ν_KT ({kt.label}, median, 68 %)")
        a1.set_yscale("log")
        a1.set_xlabel("1000 / T (K⁻¹)")
        a1.set_ylabel("jump rate (μs⁻¹)")
        a1.set_title("Jump rates with 68/95 % credible bands", fontsize=9)
        post = result.idata.posterior
        fixed = _fixed_values(result.attrs)
        pd = _per_temperature(result, "delta")
        if pd is not None:
            _band_plot(a2, temps, pd, "C2", "Δ_T (EA scan, pooled)")
        elif "delta" in post:
            d = result.draws("delta")
            q = result.draws("q") if "q" in post else np.full(d.size, fixed.get("q", math.nan))
            for arr, color, label in ((d, "C2", "Δ (EA scan)"), (np.sqrt(1 - q) * d, "C3", "√(1−Q)Δ (EA scan)")):
                p = np.percentile(arr, PERCENTILES)
                a2.axhspan(p[0], p[4], color=color, alpha=0.18)
                a2.axhspan(p[1], p[3], color=color, alpha=0.35)
                a2.axhline(p[2], color=color, label=label)
        if kt is not None and (p := _per_temperature(kt, "delta")) is not None:
            a2.errorbar(kt.temperatures, p[2], yerr=[p[2] - p[1], p[3] - p[2]], fmt="ks", ms=3, lw=0.8,
                        label=f"Δ_KT ({kt.label}, median, 68 %)")
        a2.set_title("Linewidth", fontsize=9)
    else:
        for ax, name, label in ((a1, "nu", "ν_KT"), (a2, "delta", "Δ_KT")):
            p = _per_temperature(result, name)
            if p is not None:
                _band_plot(ax, inv if ax is a1 else temps, p, "C3", f"{label} ({result.label})", marker="s")
        a1.set_yscale("log")
        a1.set_xlabel("1000 / T (K⁻¹)")
        a1.set_ylabel("ν_KT (μs⁻¹)")
        a1.set_title("KT fluctuation rate with 68/95 % credible bands", fontsize=9)
        a2.set_title("KT linewidth with 68/95 % credible bands", fontsize=9)
    a2.set_xlabel("T (K)")
    a2.set_ylabel("Δ (μs⁻¹)")
    for ax in (a1, a2):
        ax.legend(fontsize=7)
    fig.suptitle(result.label, fontsize=9)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------- diagnostics
def diagnostics_summary(result: Result, var_names: Sequence[str] | None = None, hdi_prob: float = 0.95):
    """``arviz.summary`` of a result, unrounded: mean, SD, HDI, MCSE, bulk/tail ESS, R-hat (a DataFrame)."""

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "more chains than draws", R-hat of constant derived variables
        return compare.summary(result.idata, var_names=var_names, hdi_prob=hdi_prob)


#: sampler attributes shown in the report, with their meaning
SAMPLER_ATTRS = (
    ("converged", "chain ≥ the required number of autocorrelation times (1) or stopped early (0)"),
    ("convergence_message", "what the sampler said when it stopped"),
    ("nwalkers", "emcee walkers (the chains of the summary)"),
    ("n_steps", "steps per walker"),
    ("burn_in", "steps dropped as burn-in (2 τ_max)"),
    ("thin", "thinning of the kept draws"),
    ("tau_max", "largest integrated autocorrelation time τ (steps)"),
    ("chain_length_in_tau", "chain length in units of τ_max"),
    ("tau_multiple_required", "chain length in τ required to stop"),
    ("acceptance_fraction_mean", "mean acceptance fraction of the walkers"),
    ("seconds_total", "wall-clock time of the fit (s)"),
    ("resumed", "resumed from an emcee HDF5 backend (1)"),
    ("seed", "random seed"),
    ("sampler", "sampler and moves"),
)


def sampler_info(result: Result) -> dict:
    """Sampler diagnostics stored in a result's attributes (empty if none); ``tau`` per parameter."""
    a = result.attrs
    out = {k: a[k] for k, _ in SAMPLER_ATTRS if k in a}
    names, tau = _as_list(a.get("tau_names")), _as_list(a.get("tau"))
    if names and len(names) == len(tau):
        out["tau"] = dict(zip(names, [float(x) for x in tau]))
    return out


def diagnostics_figure(result: Result, summary=None):
    """Walker traces of the log posterior and bulk/tail ESS and R-hat per variable."""
    plt = _plt()
    summary = diagnostics_summary(result) if summary is None else summary
    names = list(summary.index)
    height = max(3.0, 0.16 * len(names) + 1.2)
    fig, axes = plt.subplots(1, 3, figsize=(11, height), gridspec_kw={"width_ratios": [1.4, 1, 1]})
    a0, a1, a2 = axes
    if "sample_stats" in result.idata.groups() and "lp" in result.idata.sample_stats:
        lp = np.asarray(result.idata.sample_stats["lp"])
        if np.any(lp != 0):
            for w in range(lp.shape[0]):
                a0.plot(lp[w], lw=0.6, alpha=0.7)
            a0.set_xlabel("kept draw")
            a0.set_ylabel("log posterior")
            a0.set_title("log posterior per walker (after burn-in)", fontsize=8)
        else:
            a0.text(0.5, 0.5, "log posterior not stored\n(combined per-temperature result)", ha="center",
                    va="center", fontsize=8, transform=a0.transAxes)
            a0.set_axis_off()
    y = np.arange(len(names))
    a1.barh(y - 0.2, summary["ess_bulk"], height=0.4, label="bulk")
    a1.barh(y + 0.2, summary["ess_tail"], height=0.4, label="tail")
    a1.axvline(400, color="k", lw=0.8, ls="--")
    a1.set_yticks(y, names, fontsize=6)
    a1.invert_yaxis()
    a1.set_xlabel("ESS (dashed: 400)")
    a1.legend(fontsize=6)
    rhat = np.asarray(summary["r_hat"], dtype=float)
    a2.plot(np.where(np.isfinite(rhat), rhat, np.nan), y, "o", ms=3)
    a2.axvline(1.01, color="k", lw=0.8, ls="--")
    a2.set_yticks(y, [""] * len(names))
    a2.invert_yaxis()
    a2.set_xlabel("R-hat across walkers (dashed: 1.01)")
    fig.suptitle(f"{result.label}: sampler diagnostics", fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------- comparison
def _groups(results: Sequence[Result]) -> list[list[Result]]:
    groups: dict[tuple, list[Result]] = {}
    for r in results:
        groups.setdefault(r.fingerprint(), []).append(r)
    return list(groups.values())


def comparison(results: Sequence[Result]):
    """LOO/WAIC comparison (:func:`bayesmusr.compare.compare_results`) of results fitted to the same data.

    Returns
    -------
    dict or None
        None for fewer than two results.
    """

    if len(results) < 2:
        return None
    return compare.compare_results({r.label: r.idata for r in results})


# --------------------------------------------------------------------- HTML
def _png(fig, dpi: int = 90) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig, cls: str, alt: str, **data) -> str:
    extra = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in data.items())
    return f'<img class="{cls}"{extra} alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'


def _fmt(v, kind: str = "g") -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    if not math.isfinite(v):
        return "–"
    if kind == "int":
        return f"{v:.0f}"
    if kind == "rhat":
        return f"{v:.3f}"
    return f"{v:.4g}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "", tid: str = "") -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attrs = (f' class="{cls}"' if cls else "") + (f' id="{tid}"' if tid else "")
    return f"<table{attrs}><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


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


def _results_overview(results, kt_fits) -> str:
    rows = []
    for r in results + kt_fits:
        post = r.idata.posterior
        temps = r.temperatures
        ttxt = "–" if temps.size == 0 else (f"{temps.min():.4g}–{temps.max():.4g} K ({temps.size})" if temps.size > 1
                                            else f"{temps[0]:.4g} K")
        rows.append([html.escape(str(r.path.name if r not in kt_fits else f"kt/{r.path.name}")),
                     html.escape(r.kind), html.escape(r.model), f"{post.sizes['chain']} × {post.sizes['draw']}",
                     ttxt, str(len(r.runs)), html.escape(str(r.attrs.get("convergence_message", "not stored")))])
    return _table(["file", "kind", "model", "chains × draws", "temperatures", "runs", "sampler"], rows)


def _comparison_html(res) -> str:
    t, tw = res["loo"], res["waic"]
    rows = []
    for name in t.index:
        r = t.loc[name]
        dse = float(r["dse"])
        k = res["pareto_k"][name]
        rows.append([html.escape(str(name)), f"{int(r['rank'])}", _fmt(r["elpd_loo"]), _fmt(r["se"]),
                     _fmt(r["p_loo"]), _fmt(r["elpd_diff"]), _fmt(dse),
                     _fmt(float(r["elpd_diff"]) / dse) if dse > 0 else "–", _fmt(tw.loc[name, "elpd_waic"]),
                     f"{k['good']} / {k['ok']} / {k['bad']} / {k['very_bad']}", _fmt(r["weight"])])
    table = _table(["model", "rank", "elpd_loo", "SE", "p_loo", "elpd_diff", "dse", "diff/dse", "elpd_waic",
                    "Pareto k̂ ≤0.5 / ≤0.7 / ≤1 / >1", "weight"], rows, cls="comparison")
    return table + f"<pre>{html.escape(res['verdict'])}</pre>"


def _summary_html(result: Result, summary) -> str:
    hdi = [c for c in summary.columns if c.startswith("hdi")]
    rows = []
    for name, r in summary.iterrows():
        rows.append([html.escape(str(name)), _fmt(r["mean"]), _fmt(r["sd"]), _fmt(r[hdi[0]]), _fmt(r[hdi[1]]),
                     _fmt(r["mcse_mean"]), _fmt(r["mcse_sd"]), _fmt(r["ess_bulk"], "int"),
                     _fmt(r["ess_tail"], "int"), _fmt(r["r_hat"], "rhat")])

    notes = "".join(_note(n) for n in prior_edge_notes(result.idata))
    return _table(["parameter", "mean", "sd", hdi[0], hdi[1], "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail",
                   "r_hat"], rows, cls="summary", tid=f"summary-{_slug(result.label)}") + notes


def _sampler_html(info: dict) -> str:
    if not info:
        return _note("No sampler attributes (acceptance fraction, autocorrelation times) are stored in this file.")
    meaning = dict(SAMPLER_ATTRS)
    rows = [[html.escape(k), _fmt(v) if not isinstance(v, str) else html.escape(v), html.escape(meaning[k])]
            for k, v in info.items() if k != "tau"]
    out = _table(["attribute", "value", "meaning"], rows, cls="sampler")
    if "tau" in info:
        out += _table(["parameter", "τ (steps)"], [[html.escape(k), _fmt(v)] for k, v in info["tau"].items()],
                      cls="tau")
    return out


def _kt_fits_html(kt_fits) -> str:
    rows = []
    for r in kt_fits:
        s = diagnostics_summary(r)
        a = r.attrs
        rows.append([html.escape(f"kt/{r.path.name}"), _fmt(a.get("temperature_K", math.nan)),
                     _fmt(a.get("converged", math.nan), "int"), _fmt(a.get("n_steps", math.nan), "int"),
                     _fmt(a.get("tau_max", math.nan)), _fmt(a.get("chain_length_in_tau", math.nan)),
                     _fmt(a.get("acceptance_fraction_mean", math.nan)), _fmt(np.nanmax(s["r_hat"]), "rhat"),
                     _fmt(np.nanmin(s["ess_bulk"]), "int"), _fmt(np.nanmin(s["ess_tail"]), "int")])
    return _table(["file", "T (K)", "converged", "steps", "τ_max", "chain / τ", "acceptance", "max R-hat",
                   "min ESS bulk", "min ESS tail"], rows, cls="ktfits")


def _conventional_html(conv: dict) -> str:
    rows = [["T* (maximum of ν_KT)", f"{conv.get('t_star_K', math.nan):.4g} K"
             + (" (edge of the scan: no maximum inside it)" if conv.get("t_star_at_scan_edge") else "")]]
    if "arrhenius_below_t_star" in conv:
        a = conv["arrhenius_below_t_star"]
        rows.append(["Arrhenius fit of ν_KT below T*",
                     f"E = {a['energy_eV']:.3f} ± {a['energy_err_eV']:.3f} eV, ν₀ = {a['nu0_per_s']:.3g} s⁻¹"])
    e4 = conv.get("eq4", {})
    if "q" in e4:
        rows.append(["Kadono Eq. 4 fit of Δ_KT(T)", f"E_Δ = {e4['e_delta_eV']:.3f} eV, Q = {e4['q']:.3f}, "
                                                     f"N = {e4['n_states']:.3g}, Δ = {e4['delta']:.4f} μs⁻¹"])
    elif "error" in e4:
        rows.append(["Kadono Eq. 4 fit of Δ_KT(T)", f"failed: {e4['error']}"])
    return _table(["quantity", "value"], [[html.escape(a), html.escape(b)] for a, b in rows])


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", s)


def write_report(sources: str | os.PathLike | Sequence[str | os.PathLike], out: str | os.PathLike | None = None, *,
                 compare_with: Sequence[str | os.PathLike] = (), n_draws: int = 200, max_points: int = 200,
                 seed: int = 0, recompute: bool = False) -> pathlib.Path:
    """Write one self-contained HTML report of results.

    Parameters
    ----------
    sources : path or sequence of paths
        Result netCDF file(s), or a folder written by ``bayesmusr fit``.
    out : path, optional
        HTML file to write; default ``report.html`` in the folder, or
        ``<stem>_report.html`` next to the first result file.
    compare_with : sequence of paths
        More results, compared with the first by LOO when fitted to the same data.
    n_draws, max_points, seed
        See :func:`run_bands`.
    recompute : bool
        Recompute the LOO comparison of a folder even when its ``comparison.txt``
        is up to date (the LOO of a full scan takes ~30 s).

    Returns
    -------
    pathlib.Path
        The HTML file written.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    data = collect_results(sources, compare_with)
    try:
        return _write(data, out, n_draws=n_draws, max_points=max_points, seed=seed, recompute=recompute)
    finally:  # release the files: a later job in this process may rewrite them (bayesmusr fit does)
        for r in data["results"] + data["kt_fits"]:
            r.close()


def _write(data, out, *, n_draws, max_points, seed, recompute) -> pathlib.Path:

    results, kt_fits = data["results"], data["kt_fits"]
    first = data["inputs"][0]
    if out is None:
        out = first / "report.html" if first.is_dir() else first.with_name(f"{first.stem}_report.html")
    out = pathlib.Path(out)
    groups = _groups(results)
    kt_of = {}  # EA scan result -> KT reading of the same data (overlaid on the temperature figure)
    for g in groups:
        kts = [r for r in g if r.kind == "kt_scan"]
        for r in g:
            if r.kind == "ea_scan" and kts:
                kt_of[r.label] = kts[0]

    parts = [f"<h1>bayesmusr report</h1><p class='small'>Written "
             f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')} by bayesmusr {__version__} "
             f"from {html.escape(', '.join(str(p) for p in data['inputs']))}. Units: t in μs; Δ, ν, ν_i, ν_μ in "
             "μs⁻¹; fields in mT; T in K; energies in eV; log10_nu_i0, log10_nu_mu0 in log10(s⁻¹).</p>",
             "<nav><ol><li><a href='#results'>Results</a></li><li><a href='#runs'>Data and posterior-predictive "
             "bands</a></li><li><a href='#corner'>Global parameters</a></li><li><a href='#temperature'>Temperature "
             "dependences</a></li><li><a href='#comparison'>Model comparison</a></li>"
             + ("<li><a href='#conventional'>Conventional KT reading</a></li>" if data["conventional"] else "")
             + "<li><a href='#diagnostics'>Sampler diagnostics</a></li></ol></nav>",
             "<h2 id='results'>Results</h2>", _results_overview(results, kt_fits)]
    for name, why in data["skipped"].items():
        parts.append(_note(f"{name} skipped: {why}"))
    for r in results:
        for n in r.notes:
            parts.append(_note(f"{r.path.name}: {n}"))

    # 2. runs
    parts.append("<h2 id='runs'>Data and posterior-predictive bands</h2>"
                 "<p>Every run's asymmetry (black) with the median and the 68 % (dark) and 95 % (light) bands of "
                 "the replicated data of each result. If a model describes the data, about 68 % and 95 % of the "
                 "points fall inside its bands (stated in each figure). Histogram runs are shown as "
                 "(F − αB)/(F + αB) with the α given in the title, for data and replicas alike.</p>")
    for g in groups:
        names = ", ".join(r.label for r in g)
        parts.append(f"<h3>Runs fitted by {html.escape(names)}</h3>")
        figs, sources_txt, notes = [], {}, {}
        for k, run in enumerate(g[0].runs):
            bands = []
            for r in g:
                b = run_bands(r, r.runs[k], max_points=max_points, n_draws=n_draws, seed=seed)
                bands.append((r.label, b))
                if b.source:  # "N replicas" may differ between runs: keep one line per result
                    sources_txt.setdefault(r.label, b.source)
                if b.note:
                    notes.setdefault((r.label, b.note), []).append(run.label)
            fig = run_figure(run, bands)
            figs.append(f"<figure>{_img(fig, 'run', run.title, run=run.index, result=g[0].label)}"
                        f"<figcaption>{html.escape(run.title)}</figcaption></figure>")
        parts += [f"<p class='small'>{html.escape(f'{lab}: bands from {src}.')}</p>" for lab, src in
                  sources_txt.items()]
        parts += [_note(f"{lab} ({'all runs' if len(runs) == len(g[0].runs) else ', '.join(runs)}): {text}.")
                  for (lab, text), runs in notes.items()]
        parts.append("<div class='runs'>" + "".join(figs) + "</div>")

    # 3. corner
    parts.append("<h2 id='corner'>Global parameters</h2>")
    for r in results:
        fig = corner_figure(r)
        if fig is None:
            parts.append(_note(f"{r.label}: no global parameters (independent temperatures); see the temperature "
                               "dependences below."))
        else:
            parts.append(f"<h3>{html.escape(r.label)}</h3>" + _img(fig, "corner", f"corner plot of {r.label}",
                                                                  result=r.label))

    # 4. temperature
    parts.append("<h2 id='temperature'>Temperature dependences</h2>"
                 "<p>Posterior median per temperature with 68 % (dark) and 95 % (light) credible bands.</p>")
    for r in results:
        fig = temperature_figure(r, kt_of.get(r.label))
        if fig is None:
            parts.append(_note(f"{r.label}: a single-temperature result has no temperature dependence."))
        else:
            parts.append(f"<h3>{html.escape(r.label)}</h3>" + _img(fig, "temperature", f"temperature dependence "
                                                                   f"of {r.label}", result=r.label))

    # 5. comparison
    parts.append("<h2 id='comparison'>Model comparison (LOO over every bin)</h2>"
                 "<p>elpd_loo: expected log predictive density of new data by Pareto-smoothed importance-sampling "
                 "leave-one-out over every time bin of every run; higher is better. elpd_diff ± dse: shortfall "
                 "against the best model with its paired standard error; diff/dse > 4 is a clear preference, 2–4 "
                 "moderate, < 2 none. Pareto k̂ > 0.7 marks bins whose LOO term is unreliable.</p>")
    compared = False
    for g in groups:
        if len(g) < 2:
            continue
        title = f"<h3>{html.escape(' vs '.join(r.label for r in g))}</h3>"
        if data["comparison_txt"] and not recompute and {r.label for r in g} == {"ea_scan", "kt_per_temperature"}:
            parts.append(title + "<p class='small'>From comparison.txt, written by 'bayesmusr fit' after both "
                         "results (EA_scan = ea_scan.nc, KT_per_T = kt_per_temperature.nc); not recomputed.</p>"
                         f"<pre class='comparison'>{html.escape(data['comparison_txt'])}</pre>")
            compared = True
            continue
        try:
            parts.append(title + _comparison_html(comparison(g)))
            compared = True
        except ValueError as exc:
            parts.append(_note(f"{' vs '.join(r.label for r in g)}: no comparison ({exc})."))
    if not compared:
        parts.append(_note("Nothing to compare: a comparison needs two results fitted to the same data (give a "
                           "folder written by 'bayesmusr fit', or --compare OTHER.nc)."))
    if len(groups) > 1:
        parts.append(_note("Results fitted to different data are not compared: "
                           + "; ".join(", ".join(r.label for r in g) for g in groups) + "."))

    # 6. conventional
    if data["conventional"]:
        parts.append("<h2 id='conventional'>Conventional KT reading (conventional.json)</h2>"
                     "<p>What a KT analysis of this scan would report: the temperature T* of the ν_KT maximum, an "
                     "Arrhenius law fitted to ν_KT below T*, and Kadono's Eq. 4 fitted to Δ_KT(T).</p>"
                     + _conventional_html(data["conventional"]))

    # 7. diagnostics
    parts.append("<h2 id='diagnostics'>Sampler diagnostics</h2>"
                 "<p>arviz.summary over the walkers (treated as chains): bulk and tail effective sample size, "
                 "Monte Carlo standard errors and R-hat. R-hat across ensemble walkers is a check, not a proof, "
                 "of convergence; the primary criterion is the chain length in integrated autocorrelation times "
                 "τ, stored by the sampler.</p>")
    for r in results:
        s = diagnostics_summary(r)
        parts.append(f"<h3>{html.escape(r.label)}</h3>" + _summary_html(r, s) + _sampler_html(sampler_info(r))
                     + _img(diagnostics_figure(r, s), "diagnostics", f"diagnostics of {r.label}", result=r.label))
        if r.kind == "kt_scan" and not sampler_info(r):
            parts.append(_note(f"{r.label} combines independent per-temperature fits; their own sampler "
                               "diagnostics are in kt/kt_T*.nc" + (" (table below)." if kt_fits else ".")))
    if kt_fits:
        parts.append("<h3>Per-temperature KT fits (kt/)</h3>" + _kt_fits_html(kt_fits))

    doc = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>bayesmusr report</title>"
           f"<style>{_CSS}</style></head><body>" + "\n".join(parts) + "</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out
