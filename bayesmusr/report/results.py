"""What a report reads from saved results: loading, run metadata, groups, diagnostics, comparison.

Owns :class:`Result` and :class:`RunInfo`, :func:`load_result`, :func:`collect_results` and the
numbers shown next to the figures (:func:`diagnostics_summary`, :func:`sampler_info`,
:func:`comparison`).  Model name, priors (fixed values included), nuisance options, EA table and
the runs' labels, fields and temperatures come from the result's fit specification
(:func:`bayesmusr.workflows.spec.read_spec`); older results fall back to their attributes.
Units: t in μs, fields in mT, T in K.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import re
import warnings
from collections.abc import Iterable, Sequence

import h5py
import numpy as np

from bayesmusr.inference import compare
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, canonical_model, parse_prior
from bayesmusr.workflows.spec import read_spec

__all__ = ["Result", "RunInfo", "load_result", "collect_results", "groups", "diagnostics_summary", "sampler_info",
           "comparison", "SAMPLER_ATTRS"]

_RUN_DRAWS = re.compile(r"^(a0|n0|alpha)(_\d+)?$")  # run nuisances in the posterior (sampled, or drawn)


@dataclasses.dataclass(eq=False)
class RunInfo:
    """One run of a result's observed data."""

    index: int  #: run index ``i`` of the result (``forward_i``, ``time_i``, ...)
    label: str  #: e.g. ``"ZF #1001"``
    kind: str  #: ``"histograms"`` or ``"asymmetry"``
    b_lf: float  #: longitudinal field in mT (NaN if the file does not say)
    temperature: float  #: K (NaN if the file does not say)
    t: np.ndarray  #: bin centres in μs
    width: np.ndarray  #: bin widths in μs
    forward: np.ndarray | None = None  #: counts of a histogram run
    backward: np.ndarray | None = None
    asymmetry: np.ndarray | None = None  #: asymmetry of an asymmetry run, and its standard error
    error: np.ndarray | None = None

    @property
    def title(self) -> str:
        """Label, temperature and field in words."""
        temp = "T unknown" if not math.isfinite(self.temperature) else f"T = {self.temperature:.4g} K"
        field = "field unknown" if not math.isfinite(self.b_lf) else "ZF" if self.b_lf == 0 else f"LF {self.b_lf:g} mT"
        return f"{self.label} — {temp}, {field}"


@dataclasses.dataclass(eq=False)
class Result:
    """A loaded result and what the report needs to know about it."""

    path: pathlib.Path
    label: str  #: name used in the report (the file stem)
    idata: object  #: the arviz.InferenceData
    #: ``"ea_scan"`` (Arrhenius EA scan model), ``"kt_scan"`` (per-temperature KT reading of a scan),
    #: ``"kt_point"`` (one temperature, physics sampled, run nuisances by Laplace) or ``"temperature"``
    #: (one temperature with the run nuisances in the posterior)
    kind: str
    model: str  #: ``ea_arrhenius_scan``, ``kt_per_temperature``, ``dynamic_kt``, ``ea``, ...
    runs: list  #: of :class:`RunInfo`
    options: dict  #: nuisance options (holder_fraction, count_background, ...)
    notes: list  #: what the report could not take from the file itself
    priors: dict = dataclasses.field(default_factory=dict)  #: name → Prior, fixed parameters included
    table: str | None = None  #: EA table of the fit (None: the shipped one)

    @property
    def attrs(self) -> dict:
        """Attributes of the posterior group (model, runs, sampler diagnostics)."""
        return dict(self.idata.posterior.attrs)

    @property
    def fixed(self) -> dict:
        """Values of the parameters fixed by the priors."""
        return {n: pr.value for n, pr in self.priors.items() if pr.kind == "fixed"}

    @property
    def temperatures(self) -> np.ndarray:
        """Temperatures of a scan result (K), sorted as its ``_T<j>`` variables; else the result's one, if known."""
        t = self.attrs.get("temperatures_K", self.attrs.get("temperature_K"))
        return np.atleast_1d(np.asarray(t, dtype=float)) if t is not None else np.array([])

    def close(self) -> None:
        """Release the netCDF file (results are read lazily; an open file cannot be rewritten)."""
        for g in self.idata.groups():
            getattr(self.idata, g).close()

    def draws(self, name: str) -> np.ndarray:
        """All posterior draws of a variable, flattened over chains.

        Parameters
        ----------
        name : str
            Posterior variable.

        Returns
        -------
        numpy.ndarray, shape (chains × draws,)
        """
        return np.asarray(self.idata.posterior[name]).ravel()

    def global_names(self) -> list[str]:
        """Parameters shared by all runs: those the corner plot shows.

        Returns
        -------
        list of str
            Posterior variable names (empty for a ``kt_scan``).
        """
        post = list(self.idata.posterior.data_vars)
        if self.kind == "ea_scan":
            return [n for n in post if not re.search(r"_T\d+$", n)]
        if self.kind == "kt_scan":
            return []
        try:
            phys = [p.name for p in PHYSICS_PARAMETERS[canonical_model(self.model)]]
        except ValueError:
            phys = _as_list(self.attrs.get("physics_parameters"))
        return [n for n in phys if n in post]

    def fingerprint(self) -> tuple:
        """Identifies the fitted data: results with equal fingerprints can be compared.

        Returns
        -------
        tuple
            Number of ``obs`` entries, then per run (index, kind, bins, Σt, Σ data).
        """
        return (int(self.idata.log_likelihood["y"].shape[-1]), *(
            (r.index, r.kind, r.t.size, float(r.t.sum()), float(np.sum(r.forward if r.forward is not None
                                                                         else r.asymmetry))) for r in self.runs))


def _as_list(v) -> list:
    if v is None or isinstance(v, str):
        return v.split("; ") if v else []
    return np.atleast_1d(v).tolist()


def _model_section(idata, attrs) -> tuple[str, dict, dict, str | None]:
    """(model name, priors, options, table): the specification's when it describes this result's model."""
    spec = (read_spec(idata) or {}).get("model") or {}
    if spec.get("name") and spec["name"] == attrs.get("model", spec["name"]):  # a KT reading carries its job's
        priors = {n: parse_prior(d, n) for n, d in (spec.get("priors") or {}).items()}
        return spec["name"], priors, {"holder_fraction": True, "count_background": True,
                                      **(spec.get("options") or {})}, spec.get("table")
    options = {"holder_fraction": True, "count_background": True, "extra_relaxation": False}
    for k, _, v in (str(item).partition("=") for item in _as_list(attrs.get("options"))):
        if v:  # holder_fraction may be "shared"
            options[k.strip()] = v.strip() if v.strip() == "shared" else v.strip() in ("True", "1", "true")
    return str(attrs.get("model", "")), compare.priors_from_attrs(attrs), options, attrs.get("ea_table") or None


def _flat_temperatures(post):
    """The report's view of a posterior: each ``<name>_T`` (…, temperature) as ``<name>_T0 … <name>_T<n−1>``
    (draw dictionaries and per-run bands then need no dimension logic)."""
    per_t = [v for v in post.data_vars if "temperature" in post[v].dims]
    if not per_t:
        return post
    flat = post.drop_vars(per_t)
    for v in per_t:
        for j in range(post.sizes["temperature"]):
            flat[f"{v}{j}"] = post[v].isel(temperature=j, drop=True)
    return flat.drop_dims("temperature", errors="ignore")


def _kind(res_type, attrs, names) -> str:
    if res_type == "scan":
        return "ea_scan" if "nu_i_T0" in names else ("kt_scan" if "nu_T0" in names else "")
    if res_type == "temperature":
        sampled = "physics_parameters" in attrs or any(_RUN_DRAWS.match(n) for n in names)
        return "temperature" if sampled else "kt_point"
    return ""


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
    FileNotFoundError, ValueError
        No such file; not a bayesmusr fit result (the message names the file and what was expected).
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"result file {path} not found")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a result netCDF, or the folder alone (not with --compare)")
    try:
        with h5py.File(path, "r") as h:  # groups checked before ArviZ opens the file (and keeps it open)
            missing = {"posterior", "log_likelihood", "observed_data"} - set(h.keys())
    except OSError as exc:
        raise _not_a_result(path, f"not a netCDF-4/HDF5 file: {exc}") from None
    if missing:
        raise _not_a_result(path, f"no {', '.join(sorted(missing))} group")
    try:
        idata = compare.load(path)
    except ValueError as exc:
        raise _not_a_result(path, str(exc).removeprefix(f"{path}: ").removesuffix(
            "; expected a bayesmusr fit result")) from None
    idata.posterior = _flat_temperatures(idata.posterior)
    attrs = dict(idata.posterior.attrs)
    res_type = attrs.get("bayesmusr_result", (read_spec(idata) or {}).get("kind"))
    model, priors, options, table = _model_section(idata, attrs)
    r = Result(path, label or path.stem, idata, _kind(res_type, attrs, list(idata.posterior.data_vars)), model, [],
               options, [], priors, table)
    r.runs = _run_infos(idata, attrs, r.notes) if r.kind else []
    if not r.runs:
        r.close()
        raise _not_a_result(path, "its observed_data group holds no forward_<i> or asymmetry_<i> runs" if r.kind
                            else f"attribute bayesmusr_result={res_type!r}, model={model!r} is not one the report "
                                 "knows")
    return r


def _run_metadata(idata, attrs, idx: list[int]) -> list[list]:
    """Labels, fields (mT) and temperatures (K) of the runs: the specification's, else the attributes'."""
    od, n = idata.observed_data, len(idx)
    cols = [_as_list(attrs.get(k)) for k in ("run_labels", "run_fields_mT", "run_temperatures_K")]
    if not cols[2] and "temperature_K" in attrs:
        cols[2] = [attrs["temperature_K"]] * n
    if not cols[2] and {"obs_run", "obs_temperature"} <= set(od.data_vars):
        run_of, temp_of = np.asarray(od["obs_run"]), np.asarray(od["obs_temperature"])
        cols[2] = [temp_of[run_of == i][0] if np.any(run_of == i) else math.nan for i in idx]
    cols = [c if len(c) == n else [None] * n for c in cols]
    spec = (read_spec(idata) or {}).get("runs") or []
    spec = spec if len(spec) == n else [{}] * n
    return [[v if s.get(key) is None else s[key] for s, v in zip(spec, c)]
            for c, key in zip(cols, ("label", "field_mT", "temperature_K"))]


def _run_infos(idata, attrs, notes) -> list[RunInfo]:
    od = idata.observed_data
    idx = sorted({int(m.group(2)) for v in od.data_vars if (m := re.match(r"^(forward|asymmetry)_(\d+)$", v))})
    labels, fields, temps = _run_metadata(idata, attrs, idx)
    fields, temps = ([math.nan if v is None else float(v) for v in c] for c in (fields, temps))
    if not all(math.isfinite(b) for b in fields):
        notes.append("the file does not store the runs' longitudinal fields")
    out = []
    for k, i in enumerate(idx):
        t = np.asarray(od[f"time_{i}"], dtype=float)
        width = (np.asarray(od[f"bin_width_{i}"], dtype=float) if f"bin_width_{i}" in od else
                 np.full(t.size, float(np.median(np.diff(t))) if t.size > 1 else 1.0))
        arrays = ({"forward": od[f"forward_{i}"], "backward": od[f"backward_{i}"]} if f"forward_{i}" in od else
                  {"asymmetry": od[f"asymmetry_{i}"], "error": od[f"asymmetry_error_{i}"]})
        out.append(RunInfo(i, str(labels[k] or f"run {i}"), "histograms" if "forward" in arrays else "asymmetry",
                           fields[k], temps[k], t, width, **{n: np.asarray(v, dtype=float) for n, v in arrays.items()}))
    return out


def _knows_fields(r: Result) -> bool:
    return all(math.isfinite(x.b_lf) for x in r.runs)


def _borrow_metadata(r: Result, other: Result) -> bool:
    """Fill ``r``'s unknown run fields, labels and options from ``other`` if it was fitted to the same data."""
    if other is r or other.fingerprint() != r.fingerprint() or not _knows_fields(other):
        return False
    for a, b in zip(r.runs, other.runs):
        a.b_lf, a.label = b.b_lf, b.label if a.label.startswith("run ") else a.label
        a.temperature = a.temperature if math.isfinite(a.temperature) else b.temperature
    if "options" not in r.attrs and read_spec(r.idata) is None:
        r.options = dict(other.options)
    r.notes = [n for n in r.notes if "fields" not in n]
    r.notes.append(f"run fields, labels and nuisance options taken from {other.path.name} (fitted to the same data)")
    return True


def collect_results(sources: Iterable[str | os.PathLike], compare_with: Iterable[str | os.PathLike] = ()) -> dict:
    """Load everything a report shows.

    Parameters
    ----------
    sources : paths
        Result netCDF files, or one folder written by ``bayesmusr fit`` (its top-level result
        files, ``kt/*.nc`` per-temperature fits and ``conventional.json`` are read).
    compare_with : paths
        More result files (``--compare``).

    Returns
    -------
    dict
        ``results`` (list of :class:`Result`), ``kt_fits`` (per-temperature KT results of a
        folder), ``conventional`` (dict or None), ``skipped`` (file → reason), ``inputs`` (what
        was given), ``comparison_txt`` (the folder's ``comparison.txt`` if it is newer than
        ``ea_scan.nc`` and ``kt_per_temperature.nc``, else None).
    """
    inputs = [pathlib.Path(s) for s in [*sources, *compare_with]]
    if not inputs:
        raise ValueError("report: give a result netCDF or a folder written by 'bayesmusr fit'")
    folders = [p for p in inputs if p.is_dir()]
    if folders and len(inputs) > 1:
        raise ValueError(f"report: give either one folder ({folders[0]}) or result files, not both")
    data = {"results": [], "kt_fits": [], "conventional": None, "skipped": {}, "inputs": inputs,
            "comparison_txt": None}
    (_collect_folder if folders else _collect_files)(inputs[0] if folders else inputs, data)
    results = data["results"]
    for r in results:
        any(_borrow_metadata(r, other) for other in results if not _knows_fields(r))
    labels = [r.label for r in results]
    for k, r in enumerate(results):
        r.label = f"{r.label}_{k}" if labels.count(r.label) > 1 else r.label
    return data


def _collect_folder(folder: pathlib.Path, data: dict) -> None:
    """Results, per-temperature KT fits, conventional.json and an up-to-date comparison.txt of a fit folder."""
    def load(files, into: list, prefix: str = ""):
        for f in files:
            try:
                into.append(load_result(f))
            except ValueError as exc:
                data["skipped"][prefix + f.name] = str(exc).removeprefix(f"{f}: ")

    load(sorted(folder.glob("*.nc"), key=lambda p: (p.name != "ea_scan.nc", p.name)), data["results"])
    load(sorted((folder / "kt").glob("kt_T*.nc")), data["kt_fits"], "kt/")
    if not data["results"]:
        for r in data["kt_fits"]:
            r.close()
        raise ValueError(f"{folder}: no bayesmusr result netCDF in this folder (expected ea_scan.nc, "
                         "kt_per_temperature.nc or fit-temperature results)"
                         + (f"; skipped: {data['skipped']}" if data["skipped"] else ""))
    if (conv := folder / "conventional.json").exists():
        data["conventional"] = json.loads(conv.read_text(encoding="utf-8"))
    # comparison.txt of 'bayesmusr fit' (the same compare_results call): reused while newer than the results
    txt, pair = folder / "comparison.txt", [folder / "ea_scan.nc", folder / "kt_per_temperature.nc"]
    if txt.exists() and all(p.exists() for p in pair) and txt.stat().st_mtime >= max(p.stat().st_mtime for p in pair):
        data["comparison_txt"] = txt.read_text(encoding="utf-8")


def _collect_files(inputs, data: dict) -> None:
    """Result files; one lacking its runs' fields borrows them from a result of the same fit next to it."""
    results = data["results"]
    try:
        results += [load_result(p) for p in inputs]
    except (ValueError, FileNotFoundError):
        for r in results:
            r.close()
        raise
    given = {x.path.resolve() for x in results}
    for r in [r for r in results if not _knows_fields(r)]:
        for sib in sorted(p for p in r.path.parent.glob("*.nc") if p.resolve() not in given):
            try:
                cand = load_result(sib)
            except (ValueError, FileNotFoundError):
                continue
            same = _borrow_metadata(r, cand)
            cand.close()
            if same:
                break


def groups(results: Sequence[Result]) -> list[list[Result]]:
    """Results grouped by the data they were fitted to (:meth:`Result.fingerprint`), in input order.

    Parameters
    ----------
    results : sequence of Result

    Returns
    -------
    list of list of Result
        One list per distinct fingerprint.
    """
    out: dict[tuple, list[Result]] = {}
    for r in results:
        out.setdefault(r.fingerprint(), []).append(r)
    return list(out.values())


def diagnostics_summary(result: Result, var_names: Sequence[str] | None = None,
                        intervals: Sequence[float] = compare.INTERVALS):
    """:func:`bayesmusr.inference.compare.summary` of a result, unrounded.

    Parameters
    ----------
    result : Result
    var_names : sequence of str, optional
        Variables (default: all).
    intervals : sequence of float
        Posterior masses of the central credible intervals (default: the package's 68 % and 95 %).

    Returns
    -------
    pandas.DataFrame
        Mean, SD, the interval bounds and median (``q2.5``, ``q16``, ``median``, ``q84``, ``q97.5``),
        MCSE (in the variable's unit), bulk/tail ESS and R-hat per variable.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "more chains than draws", R-hat of constant derived variables
        return compare.summary(result.idata, var_names=var_names, intervals=intervals)


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
    """Sampler diagnostics stored in a result's attributes.

    Parameters
    ----------
    result : Result

    Returns
    -------
    dict
        The :data:`SAMPLER_ATTRS` present (empty if none), and ``tau``: parameter → integrated
        autocorrelation time in steps.
    """
    a = result.attrs
    out = {k: a[k] for k, _ in SAMPLER_ATTRS if k in a}
    names, tau = _as_list(a.get("tau_names")), _as_list(a.get("tau"))
    if names and len(names) == len(tau):
        out["tau"] = dict(zip(names, [float(x) for x in tau]))
    return out


def comparison(results: Sequence[Result]) -> dict | None:
    """LOO/WAIC comparison (:func:`bayesmusr.inference.compare.compare_results`) of results of the same data.

    Parameters
    ----------
    results : sequence of Result

    Returns
    -------
    dict or None
        As ``compare_results`` (elpd in nats); None for fewer than two results.
    """
    return compare.compare_results({r.label: r.idata for r in results}) if len(results) >= 2 else None
