"""Every ArviZ call of bayesmusr: InferenceData, netCDF, summaries, LOO/WAIC comparison.

Kept in one module so that a move to the ArviZ 1.x (DataTree) API touches one
file.

Reading a comparison
--------------------
``elpd_loo`` is the expected log predictive density of new data, estimated by
Pareto-smoothed importance-sampling leave-one-out (PSIS-LOO) over every time
bin of every run; higher is better.  ``elpd_diff`` is each model's shortfall
against the best and ``dse`` the standard error of that difference (paired
over bins).  The verdict uses the ratio elpd_diff/dse: above 4 the data
clearly prefer the better model, 2–4 is a moderate preference, below 2 the
data do not distinguish the models.  Pareto k̂ > 0.7 for a bin means the
importance-sampling estimate for that bin is unreliable (the posterior moves
a lot when that bin is left out); a handful out of thousands barely changes
elpd, but many such bins make the LOO numbers, and the verdict, unreliable.
WAIC is reported alongside as a cross-check; it should agree with LOO when the
k̂ are good.
"""
from __future__ import annotations

import math
import os
import pathlib
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from bayesmusr.model.parameters import Prior, is_physical_edge

__all__ = ["make_inference_data", "save", "load", "summary", "compare_results", "format_comparison",
           "pareto_k_counts", "verdict"]


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def make_inference_data(posterior: Mapping[str, np.ndarray], pointwise: np.ndarray,
                        predictive: Mapping[str, np.ndarray], observed: Mapping[str, np.ndarray],
                        obs_dims: Mapping[str, list], obs_coords: Mapping[str, np.ndarray],
                        sample_stats: Mapping[str, np.ndarray], attrs: Mapping, pp_dims: Mapping | None = None):
    """Build InferenceData from arrays shaped (chain, draw, ...).

    Parameters
    ----------
    posterior : mapping
        Parameter name → (chain, draw).
    pointwise : ndarray
        (chain, draw, obs): log-likelihood per observation (time bin).
    predictive : mapping
        Replicated data, name → (chain, draw_pp, n).
    observed : mapping
        Observed arrays; ``obs_dims``/``obs_coords`` name their dimensions.
    sample_stats : mapping
        E.g. ``lp`` → (chain, draw).
    attrs : mapping
        Attributes stored on every group (lists are stored as strings where
        netCDF needs it).
    pp_dims : mapping, optional
        Dimension names of the predictive variables.

    Returns
    -------
    arviz.InferenceData
    """
    az = _az()

    # (arviz 0.23 drops log_likelihood when sample_stats is passed to from_dict too: add it separately)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "more chains than draws" for short test chains
        idata = az.from_dict(posterior=dict(posterior), log_likelihood={"y": pointwise}, dims={"y": ["obs"]})
        groups = {"sample_stats": az.from_dict(posterior=dict(sample_stats)).posterior}
    if predictive:
        pp_dims = pp_dims or {}
        pv = {}
        for k, v in predictive.items():
            dims = ["chain", "draw"] + list(pp_dims.get(k, [f"{k}_dim"]))
            coords = {d: obs_coords[d] for d in dims[2:] if d in obs_coords}
            pv[k] = xr.DataArray(v, dims=dims, coords={"chain": np.arange(v.shape[0]), "draw": np.arange(v.shape[1]),
                                                      **coords})
        groups["posterior_predictive"] = xr.Dataset(pv)
    ov = {}
    for k, v in observed.items():
        dims = list(obs_dims.get(k, [f"{k}_dim"]))
        ov[k] = xr.DataArray(np.asarray(v), dims=dims, coords={d: obs_coords[d] for d in dims if d in obs_coords})
    groups["observed_data"] = xr.Dataset(ov)
    idata.add_groups(groups)
    clean = {k: _attr(v) for k, v in attrs.items()}
    for g in idata.groups():
        getattr(idata, g).attrs.update(clean)
    return idata


def _attr(v):
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in v) and v:
            return np.asarray(v, dtype=float)
        return "; ".join(str(x) for x in v)
    if isinstance(v, bool):
        return int(v)
    if v is None:
        return ""
    return v


def save(idata, path: str | os.PathLike) -> pathlib.Path:
    """Write InferenceData as netCDF (all groups), creating the folder if needed.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result.
    path : str or os.PathLike
        The netCDF file to write.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = pathlib.Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(path))
    return path


def load(path: str | os.PathLike):
    """Read a result written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike
        A bayesmusr result (ArviZ netCDF with a ``log_likelihood`` group).

    Returns
    -------
    arviz.InferenceData

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a readable bayesmusr result.
    """
    az = _az()
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"result file {path} not found")
    try:
        idata = az.from_netcdf(str(path))
    except Exception as exc:  # noqa: BLE001 - netCDF/HDF5 errors are not user-facing
        raise ValueError(f"{path}: cannot be read as an ArviZ netCDF result ({exc.__class__.__name__}: {exc})") from None
    if "log_likelihood" not in idata.groups():
        raise ValueError(f"{path}: no log_likelihood group; expected a bayesmusr fit result")
    return idata


def summary(idata, var_names: Sequence[str] | None = None, hdi_prob: float = 0.94):
    """Posterior summary: mean, SD, HDI, MCSE, bulk/tail ESS and R-hat (a pandas DataFrame), unrounded.

    ArviZ rounds to two decimals by default, which printed E_μ = 0.0186 ± 0.0020 eV as
    0.02 ± 0.00 and an R-hat of 1.0049 as 1.01; callers format the numbers themselves.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result.
    var_names : sequence of str, optional
        Variables to summarise (default: every posterior variable).
    hdi_prob : float
        Probability mass of the highest-density interval (0–1).

    Returns
    -------
    pandas.DataFrame
        One row per variable, in the variable's own unit (see the result's ``units`` attribute).
    """
    az = _az()
    return az.summary(idata, var_names=list(var_names) if var_names else None, hdi_prob=hdi_prob,
                      stat_focus="mean", round_to="none")


def priors_of(idata) -> dict:
    """The priors a result was sampled with (its ``priors`` attribute), by parameter name.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result.

    Returns
    -------
    dict of str to Prior
        As :func:`priors_from_attrs`.
    """
    return priors_from_attrs(idata.posterior.attrs)


def priors_from_attrs(attrs) -> dict:
    """Priors by name from a result's attributes (``priors``: "name: uniform[a, b]; ...").

    Parameters
    ----------
    attrs : mapping
        Attributes of a result's posterior group.

    Returns
    -------
    dict of str to Prior
        Priors in the parameters' physical units; descriptions this version cannot read are left out.
    """

    text = str(attrs.get("priors", ""))
    out = {}
    for item in filter(None, (x.strip() for x in text.split(";"))):
        name, _, desc = item.partition(":")
        try:
            out[name.strip()] = Prior.from_description(desc)
        except ValueError:
            continue  # a description this version cannot read: no prior-edge note for it
    return out


def prior_edge_notes(idata, priors: Mapping | None = None, near: float = 0.02, mass: float = 0.05) -> list[str]:
    """Parameters whose posterior piles against a prior bound that is not a physical limit.

    A posterior with more than ``mass`` of its draws within ``near`` × (prior range) of
    a bound (measured in the sampled coordinate: log x for log-uniform priors) is cut
    there by the prior, not by the data: its interval on that side is the prior's, and
    the honest statement is a one-sided limit (or a wider prior, if the values beyond
    are physical).  A flat posterior puts only ``near`` of its mass there.  Bounds listed
    that are edges of the declared support (Q = 0 or 1, E_μ = 0, …; :mod:`bayesmusr.model.parameters`) are not flagged.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result.
    priors : mapping name → Prior, optional
        Default: read from the result (:func:`priors_of`).
    near : float
        Width of the band at each bound, as a fraction of the prior range.
    mass : float
        Posterior fraction in that band above which the bound is reported.

    Returns
    -------
    list of str
        One sentence per bound the posterior piles against.
    """

    priors = priors_of(idata) if priors is None else priors
    notes = []
    for name, pr in priors.items():
        if pr.kind == "fixed" or name not in idata.posterior:
            continue
        x = np.asarray(idata.posterior[name], dtype=float).ravel()
        to = np.log if pr.log_scale else (lambda v: v)
        lo, hi = float(pr.lo), float(pr.hi)
        if not (math.isfinite(lo) and math.isfinite(hi)) or x.size == 0:
            continue
        width = float(to(hi) - to(lo))
        for side, bound in (("lower", lo), ("upper", hi)):
            if is_physical_edge(name, bound):  # a support edge (Q = 1, E_μ = 0, f = 0): physics, not a choice
                continue
            frac = float(np.mean(np.abs(to(x) - to(bound)) < near * width))
            if frac > mass:
                q = np.percentile(x, 97.5 if side == "lower" else 2.5)
                limit_text = (f"an upper limit ({name} < {q:.4g} at 97.5 %)" if side == "lower"
                              else f"a lower limit ({name} > {q:.4g} at 2.5 %)")
                notes.append(f"{name}: {100 * frac:.0f} % of the posterior lies within {100 * near:g} % of the "
                             f"prior's {side} bound {bound:g} ({pr.describe()}): the data do not bound it on that "
                             f"side, the interval there is the prior's. Quote {limit_text}, or widen the prior "
                             "if values beyond the bound are physical.")
    return notes


def _label(idata, fallback: str) -> str:
    a = idata.posterior.attrs
    return str(a.get("model", fallback)) or fallback


def pareto_k_counts(loo) -> dict[str, int]:
    """Bins per Pareto-k̂ class: good (≤ 0.5), ok (0.5–0.7), bad (0.7–1), very bad (> 1).

    Parameters
    ----------
    loo : arviz.ELPDData
        An ``az.loo(..., pointwise=True)`` result.

    Returns
    -------
    dict of str to int
        ``good``, ``ok``, ``bad``, ``very_bad`` and ``n`` (all bins).
    """
    k = np.asarray(loo.pareto_k)
    return {"good": int(np.sum(k <= 0.5)), "ok": int(np.sum((k > 0.5) & (k <= 0.7))),
            "bad": int(np.sum((k > 0.7) & (k <= 1.0))), "very_bad": int(np.sum(k > 1.0)), "n": int(k.size)}


def compare_results(results: Mapping[str, object] | Sequence, names: Sequence[str] | None = None):
    """LOO (and WAIC) comparison of fit results of the same data.

    Parameters
    ----------
    results : mapping name → InferenceData or path, or a sequence of them
        Results of different models fitted to the same runs.
    names : sequence of str, optional
        Labels for a sequence (default: model names, made unique).

    Returns
    -------
    dict
        ``loo``: the ``az.compare`` table (pandas DataFrame, ic = loo);
        ``waic``: the same with WAIC; ``pareto_k``: counts per model;
        ``verdict``: plain-language reading (str); ``results``: the InferenceData by name.
    """
    az = _az()
    if isinstance(results, Mapping):
        items = list(results.items())
    else:
        items = []
        seen: dict[str, int] = {}
        for k, r in enumerate(results):
            idata = load(r) if isinstance(r, (str, os.PathLike)) else r
            base = names[k] if names else (pathlib.Path(r).stem if isinstance(r, (str, os.PathLike))
                                           else _label(idata, f"model{k}"))
            seen[base] = seen.get(base, 0) + 1
            items.append((base if seen[base] == 1 else f"{base}_{seen[base]}", idata))
    items = [(n, load(r) if isinstance(r, (str, os.PathLike)) else r) for n, r in items]
    if len(items) < 2:
        raise ValueError("compare needs at least two results")
    sizes = {n: int(r.log_likelihood["y"].shape[-1]) for n, r in items}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"results were fitted to different data (number of bins {sizes}); compare fits of the same runs")
    obs0 = items[0][1].observed_data
    for n, r in items[1:]:
        for v in obs0.data_vars:
            if v in r.observed_data and not np.array_equal(np.asarray(obs0[v]), np.asarray(r.observed_data[v])):
                raise ValueError(f"results {items[0][0]!r} and {n!r} were fitted to different data ({v} differs)")
    d = dict(items)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loos = {n: az.loo(r, pointwise=True) for n, r in items}
        waics = {n: az.waic(r, pointwise=True) for n, r in items}
        table = az.compare(loos, ic="loo")
        table_w = az.compare(waics, ic="waic")
    ks = {n: pareto_k_counts(l) for n, l in loos.items()}
    return {"loo": table, "waic": table_w, "pareto_k": ks, "verdict": verdict(table, ks, table_w), "results": d}


def verdict(table, pareto: Mapping[str, Mapping[str, int]], waic_table=None) -> str:
    """Plain-language reading of an ``az.compare`` table and the Pareto-k̂ counts.

    Parameters
    ----------
    table : pandas.DataFrame
        ``az.compare`` table with ic = loo (best model first).
    pareto : mapping
        :func:`pareto_k_counts` per model.
    waic_table : pandas.DataFrame, optional
        The same comparison with WAIC, as a cross-check.

    Returns
    -------
    str
        One line per comparison, per model's Pareto k̂, and the WAIC agreement.
    """
    best = table.index[0]
    lines = []
    for name in table.index[1:]:
        diff, dse = float(table.loc[name, "elpd_diff"]), float(table.loc[name, "dse"])
        ratio = diff / dse if dse > 0 else math.inf
        if ratio > 4:
            word = "clearly prefer"
        elif ratio > 2:
            word = "moderately prefer"
        else:
            word = "do not distinguish"
        if word == "do not distinguish":
            lines.append(f"The data do not distinguish {best} from {name}: elpd difference {diff:.1f} ± {dse:.1f} "
                         f"({ratio:.1f} SE, below 2).")
        else:
            lines.append(f"The data {word} {best} over {name}: elpd difference {diff:.1f} ± {dse:.1f} "
                         f"({ratio:.1f} standard errors).")
    for name, k in pareto.items():
        frac = (k["bad"] + k["very_bad"]) / max(k["n"], 1)
        if k["bad"] + k["very_bad"] == 0:
            lines.append(f"{name}: all {k['n']} Pareto k̂ ≤ 0.7 — the LOO estimate is reliable.")
        elif frac < 0.01:
            lines.append(f"{name}: {k['bad'] + k['very_bad']} of {k['n']} bins have Pareto k̂ > 0.7 — a few "
                         "influential bins; LOO is still usable but those bins' terms are uncertain.")
        else:
            lines.append(f"{name}: {k['bad'] + k['very_bad']} of {k['n']} bins ({100 * frac:.1f} %) have Pareto "
                         "k̂ > 0.7 — the LOO estimate is unreliable; treat the verdict with caution "
                         "(refit with more draws, or check the model).")
    if waic_table is not None:
        wbest = waic_table.index[0]
        if wbest != best:
            lines.append(f"WAIC ranks {wbest} first while LOO ranks {best} first: the criteria disagree, "
                         "so the difference is not robust.")
        else:
            lines.append(f"WAIC agrees: {wbest} ranks first.")
    return "\n".join(lines)


def format_comparison(res: Mapping) -> str:
    """Text table of a :func:`compare_results` output, with Pareto-k̂ counts and the verdict.

    Parameters
    ----------
    res : mapping
        The output of :func:`compare_results`.

    Returns
    -------
    str
        elpd_loo, p_loo, elpd_diff, dse, their ratio, elpd_waic, bins with k̂ > 0.7 and the
        stacking weight per model (elpd in log-density units), then the verdict.
    """
    t, tw = res["loo"], res["waic"]
    lines = [f"{'model':<16} {'rank':>4} {'elpd_loo':>12} {'p_loo':>8} {'elpd_diff':>10} {'dse':>8} "
             f"{'diff/dse':>8} {'elpd_waic':>12} {'k>0.7':>6} {'weight':>7}"]
    for name in t.index:
        r = t.loc[name]
        dse = float(r["dse"])
        ratio = float(r["elpd_diff"]) / dse if dse > 0 else 0.0
        k = res["pareto_k"][name]
        lines.append(f"{name:<16} {int(r['rank']):>4} {float(r['elpd_loo']):>12.1f} {float(r['p_loo']):>8.1f} "
                     f"{float(r['elpd_diff']):>10.1f} {dse:>8.1f} {ratio:>8.1f} "
                     f"{float(tw.loc[name, 'elpd_waic']):>12.1f} {k['bad'] + k['very_bad']:>6d} "
                     f"{float(r['weight']):>7.3f}")
    lines.append("")
    lines.append(res["verdict"])
    return "\n".join(lines)
