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

A verdict is stated as firm only when both fits are trustworthy: the sampler's
autocorrelation criterion was met (the result's ``converged`` attribute), R-hat
across walkers is below :data:`RHAT_LIMIT` and bulk ESS above :data:`ESS_LIMIT`
for every posterior variable, and at most :data:`PARETO_BAD_FRACTION` of the
bins have k̂ > :data:`PARETO_K_LIMIT`.  Otherwise it opens with "Not a firm
verdict" and says which fit fails which check (:func:`fit_reliability`).

Intervals
---------
Every table and figure of bayesmusr reports the central (equal-tailed)
credible intervals of :data:`INTERVALS`: 68 % (``q16``–``q84``) and 95 %
(``q2.5``–``q97.5``), with the median.  Central rather than highest-density:
they do not change under the monotone reparametrisations the sampler uses
(log ν, logit f), so the interval of ν is the exponential of the interval of
log ν, and they are the percentiles the posterior-predictive bands use.

Result files
------------
The pointwise log-likelihood is nearly all of a result (draws × bins).  Its
float64 digits below ~10⁻⁵ nats are sampling noise that does not compress, so
:func:`make_inference_data` rounds it to a binary grid per bin
(:func:`quantize_log_likelihood`: at most :data:`LOG_LIKELIHOOD_QUANTUM`, and
at most the bin's spread / 2**:data:`LOG_LIKELIHOOD_BITS`), and :func:`save` writes
every group losslessly with zlib.  The result in memory is the one on disk.
"""
from __future__ import annotations

import math
import os
import pathlib
import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from bayesmusr.model.parameters import Prior, is_physical_edge

__all__ = ["INTERVALS", "LOG_LIKELIHOOD_QUANTUM", "LOG_LIKELIHOOD_BITS", "RHAT_LIMIT", "ESS_LIMIT", "PARETO_K_LIMIT",
           "PARETO_BAD_FRACTION", "make_inference_data", "quantize_log_likelihood", "save", "load", "summary",
           "interval_percentiles", "interval_columns", "interval_label", "compare_results", "compare",
           "format_comparison", "fit_reliability", "pareto_k_counts", "verdict"]

#: Posterior masses of the central credible intervals reported everywhere (tables, figures, bands).
INTERVALS = (0.68, 0.95)

#: Coarsest grid (nats) of the stored pointwise log-likelihood (:func:`quantize_log_likelihood`):
#: a term moves by at most half of it (7.6e-6 nats), and each LOO term by at most as much.  The
#: float64 digits below it are sampling noise that does not compress; measurements in
#: docs/fitting.md ("Result files").
LOG_LIKELIHOOD_QUANTUM = 2.0**-16
#: ... and the grid is at least this many binary digits finer than each bin's spread over the draws
LOG_LIKELIHOOD_BITS = 10

#: A compared fit counts as unconverged above this R-hat across walkers.  Not 1.01: with a few
#: dozen retained draws per walker split R-hat scatters by ~0.01 around 1 for a chain that met
#: the autocorrelation criterion (measured up to 1.018 and 1.012 on 50 τ fits of EMU 20882).
RHAT_LIMIT = 1.05
#: ... or below this bulk effective sample size (the scan's goal, enough for 95 % intervals).
ESS_LIMIT = 400
#: Pareto k̂ above which a bin's importance-sampling LOO term is unreliable.
#: an elpd difference above this many standard errors is a preference, above CLEAR_PREFERENCE_SE a clear one
PREFERENCE_SE = 2.0
CLEAR_PREFERENCE_SE = 4.0
PARETO_K_LIMIT = 0.7
#: Fraction of bins with k̂ > PARETO_K_LIMIT above which a comparison is not firm.
PARETO_BAD_FRACTION = 0.01


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


_PER_T = re.compile(r"^(?P<base>.+_T)(?P<j>\d+)$")


def stack_temperatures(posterior: Mapping[str, np.ndarray], temperatures) -> tuple[dict, dict, dict]:
    """Per-temperature variables ``<name>_T0 … <name>_T<n−1>`` as one ``<name>_T`` with a ``temperature`` dimension.

    Parameters
    ----------
    posterior : mapping
        Name → (chain, draw) arrays.
    temperatures : sequence of float or None
        The scan's temperatures in K (None or empty: nothing is stacked).

    Returns
    -------
    posterior : dict
        With each complete family of ``_T<j>`` variables replaced by one (chain, draw, temperature) array.
    dims : dict
        ``{"<name>_T": ["temperature"]}`` for ArviZ.
    coords : dict
        ``{"temperature": temperatures}`` (K), or empty.
    """
    temps = [] if temperatures is None else [float(t) for t in np.ravel(temperatures)]
    out, families = dict(posterior), {}
    for name in posterior:
        m = _PER_T.match(name)
        if m and temps:
            families.setdefault(m["base"], {})[int(m["j"])] = name
    dims = {}
    for base, members in families.items():
        if sorted(members) != list(range(len(temps))):
            continue  # not one value per temperature: left as it is
        out[base] = np.stack([np.asarray(out.pop(members[j])) for j in range(len(temps))], axis=-1)
        dims[base] = ["temperature"]
    return out, dims, ({"temperature": np.asarray(temps)} if dims else {})


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
        (chain, draw, obs): log-likelihood per observation (time bin), stored rounded by
        :func:`quantize_log_likelihood` (by at most 7.6e-6 nats).
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
    posterior, dims, coords = stack_temperatures(posterior, attrs.get("temperatures_K"))
    # (arviz 0.23 drops log_likelihood when sample_stats is passed to from_dict too: add it separately)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "more chains than draws" for short test chains
        idata = az.from_dict(posterior=dict(posterior), log_likelihood={"y": quantize_log_likelihood(pointwise)},
                             dims={"y": ["obs"], **dims}, coords=coords)
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


def quantize_log_likelihood(values: np.ndarray) -> np.ndarray:
    """Pointwise log-likelihoods rounded to a binary grid per observation, for compact storage.

    The grid of observation ``i`` is the power of two at or below
    min(SD_i / 2**:data:`LOG_LIKELIHOOD_BITS`, :data:`LOG_LIKELIHOOD_QUANTUM`), SD_i the spread
    of its terms over the draws: every term moves by at most 2⁻¹⁷ nats and by at most
    SD_i/2¹¹, so no observation's terms collapse onto a few values (ArviZ's Pareto fit of the
    importance weights returns NaN when the tail draws tie).  The rounded values are exact
    float64 numbers whose low mantissa bits are zero, which zlib then compresses.

    Parameters
    ----------
    values : ndarray
        Pointwise log-likelihoods (nats), observations on the last axis.

    Returns
    -------
    ndarray
        float64, same shape; observations with a non-finite term or no spread are unchanged.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim < 2 or v.size == 0:
        return v.copy()
    out = v.copy()
    flat = out.reshape(-1, v.shape[-1])  # a view: rounded in place, a block of observations at a time
    for a in range(0, flat.shape[1], _QUANTIZE_BLOCK):
        _quantize_block(flat[:, a:a + _QUANTIZE_BLOCK])
    return out


#: observations rounded together: whole-array temporaries of a scan's draws × bins cost several
#: hundred MB each and made this the peak of a scan job's memory (1.19 GB measured)
_QUANTIZE_BLOCK = 512


def _quantize_block(blk: np.ndarray) -> None:
    """Round the columns (observations) of ``blk`` in place (see `quantize_log_likelihood`)."""
    with np.errstate(invalid="ignore"):
        sd = blk.std(axis=0)
    ok = np.all(np.isfinite(blk), axis=0) & (sd > 0)
    cols = np.nonzero(ok)[0]
    exponent = np.maximum(np.minimum(np.floor(np.log2(sd[cols])) - LOG_LIKELIHOOD_BITS,
                                     math.log2(LOG_LIKELIHOOD_QUANTUM)), -60.0)
    step = np.exp2(exponent)  # powers of two: dividing and multiplying by them is exact
    blk[:, cols] = np.round(blk[:, cols] / step) * step


def _encoding(var: xr.DataArray) -> dict:
    """Lossless netCDF encoding of one variable: zlib with byte shuffling, counts as integers."""
    if var.dtype.kind not in "fiub" or var.size == 0:
        return {}
    enc = {"zlib": True, "complevel": 6, "shuffle": True}
    v = np.asarray(var.values)
    if v.dtype.kind == "f" and _whole_int32(v):
        # counts (data, replicas): whole numbers, stored exactly; the unit scale factor makes
        # readers unpack them to float64 again, so a loaded result has the dtypes of a fresh one
        enc.update(dtype="int32", scale_factor=1.0, _FillValue=np.iinfo(np.int32).min)
    if v.ndim == 3:
        # chunks over all draws of a few bins: one bin's terms share their leading bytes
        per_bin = v.shape[0] * v.shape[1] * v.dtype.itemsize
        enc["chunksizes"] = (v.shape[0], v.shape[1], int(min(v.shape[2], max(1, 2**18 // per_bin))))
    return enc


def _whole_int32(v: np.ndarray, block: int = 2**20) -> bool:
    """All values finite whole numbers inside int32; checked a block at a time (no whole-array temporaries)."""
    flat = v.reshape(-1)
    for a in range(0, flat.size, block):
        b = flat[a:a + block]
        if not (np.all(np.isfinite(b)) and np.all(b == np.round(b)) and np.all(np.abs(b) < np.iinfo(np.int32).max)):
            return False
    return True


def save(idata, path: str | os.PathLike) -> pathlib.Path:
    """Write InferenceData as compressed netCDF (all groups), creating the folder if needed.

    Lossless: every numeric variable is zlib-compressed with byte shuffling, and whole-number
    arrays (counts, replicated counts) are stored as 32-bit integers that any netCDF reader
    unpacks to float64.  What makes results small is the rounding of their pointwise
    log-likelihood (:func:`quantize_log_likelihood`, done by :func:`make_inference_data`).
    The file is written next to ``path`` and then moved over it, so an interrupted save leaves
    no partial result and a result read lazily from ``path`` can be saved back to it.

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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        mode = "w"
        if getattr(idata, "attrs", None):
            xr.Dataset(attrs=dict(idata.attrs)).to_netcdf(tmp, mode=mode, engine="h5netcdf")
            mode = "a"
        for g in idata.groups():
            ds = getattr(idata, g)
            enc = {name: _encoding(var) for name, var in ds.variables.items()}
            ds.to_netcdf(tmp, mode=mode, group=g, engine="h5netcdf", encoding={k: v for k, v in enc.items() if v})
            mode = "a"
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def posterior_only(idata):
    """A result without its draws × observations groups: the posterior (with its attributes) alone.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result.

    Returns
    -------
    arviz.InferenceData
        Only the ``posterior`` group.
    """
    return _az().InferenceData(posterior=idata.posterior)


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


def interval_percentiles(intervals: Sequence[float] = INTERVALS) -> tuple[float, ...]:
    """Percentiles of the central intervals and the median, ascending.

    Parameters
    ----------
    intervals : sequence of float
        Posterior masses (0–1), e.g. :data:`INTERVALS`.

    Returns
    -------
    tuple of float
        (2.5, 16, 50, 84, 97.5) for (0.68, 0.95).
    """
    lows = [round(50.0 * (1.0 - m), 6) for m in sorted(intervals, reverse=True)]
    return (*lows, 50.0, *[round(100.0 - q, 6) for q in reversed(lows)])


def interval_columns(intervals: Sequence[float] = INTERVALS) -> list[tuple[str, str]]:
    """Column names of the interval bounds, as :func:`summary` writes them.

    Parameters
    ----------
    intervals : sequence of float
        Posterior masses (0–1).

    Returns
    -------
    list of (str, str)
        (lower, upper) per mass in the order given: ``[("q16", "q84"), ("q2.5", "q97.5")]``.
    """
    return [(f"q{round(50.0 * (1.0 - m), 6):g}", f"q{round(50.0 * (1.0 + m), 6):g}") for m in intervals]


def interval_label(mass: float) -> str:
    """A posterior mass in words: ``0.68`` → ``"68 %"``.

    Parameters
    ----------
    mass : float
        Posterior mass (0–1).

    Returns
    -------
    str
    """
    return f"{round(100.0 * mass, 4):g} %"


def summary(idata, var_names: Sequence[str] | None = None, intervals: Sequence[float] = INTERVALS):
    """Posterior summary with the central credible intervals of :data:`INTERVALS`, unrounded.

    Columns: ``mean``, ``sd``, the interval bounds from the widest to the narrowest and the
    median in ascending order (``q2.5``, ``q16``, ``median``, ``q84``, ``q97.5``), then
    ``mcse_mean``, ``mcse_sd``, ``ess_bulk``, ``ess_tail`` and ``r_hat`` (R-hat across walkers).
    ArviZ rounds to two decimals by default, which printed E_μ = 0.0186 ± 0.0020 eV as
    0.02 ± 0.00 and an R-hat of 1.0049 as 1.01; callers format the numbers themselves.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result.
    var_names : sequence of str, optional
        Variables to summarise (default: every posterior variable).
    intervals : sequence of float
        Posterior masses of the central intervals (0–1).

    Returns
    -------
    pandas.DataFrame
        One row per variable, in the variable's own unit (see the result's ``units`` attribute).
    """
    az = _az()
    pct = interval_percentiles(intervals)
    names = ["median" if q == 50.0 else f"q{q:g}" for q in pct]
    funcs = {"mean": np.mean, "sd": lambda x: np.std(x, ddof=1),
             **{n: (lambda x, q=q: np.percentile(x, q)) for n, q in zip(names, pct)}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "more chains than draws" on short test chains
        table = az.summary(idata, var_names=list(var_names) if var_names else None, kind="diagnostics",
                           stat_funcs=funcs, extend=True, round_to="none")
    return table[[*funcs, "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]]


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
                lo_q, hi_q = interval_percentiles()[0], interval_percentiles()[-1]  # the widest interval's ends
                q = np.percentile(x, hi_q if side == "lower" else lo_q)
                limit_text = (f"an upper limit ({name} < {q:.4g} at {hi_q:g} %)" if side == "lower"
                              else f"a lower limit ({name} > {q:.4g} at {lo_q:g} %)")
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


def _items(results, names) -> list[tuple[str, object]]:
    """(name, InferenceData) pairs of the results to compare; paths are loaded."""
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
    return [(n, load(r) if isinstance(r, (str, os.PathLike)) else r) for n, r in items]


def _check_same_data(items) -> None:
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


def compare_results(results: Mapping[str, object] | Sequence, names: Sequence[str] | None = None):
    """LOO (and WAIC) comparison of fit results of the same data, with a verdict qualified by diagnostics.

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
        ``reliability``: :func:`fit_reliability` per model;
        ``verdict``: plain-language reading (str); ``results``: the InferenceData by name;
        ``loo_pointwise``: the ``az.loo(..., pointwise=True)`` result by name (for per-observation
        figures, which would otherwise compute it again on arrays of draws × observations).
    """
    az = _az()
    items = _items(results, names)
    _check_same_data(items)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loos = {n: az.loo(r, pointwise=True) for n, r in items}
        waics = {n: az.waic(r, pointwise=True) for n, r in items}
        table = az.compare(loos, ic="loo")
        table_w = az.compare(waics, ic="waic")
    ks = {n: pareto_k_counts(l) for n, l in loos.items()}
    # a published table's observations are its rows (temperatures), a run's its time bins
    units = {n: "rows" if _attr_text(r, "bayesmusr_result") == "reanalysis" else "bins" for n, r in items}
    rel = {n: fit_reliability(r, ks[n], units[n]) for n, r in items}
    return {"loo": table, "waic": table_w, "pareto_k": ks, "reliability": rel,
            "verdict": verdict(table, ks, table_w, rel, units), "results": dict(items), "loo_pointwise": loos}


#: the short name, as exported by the package (``bayesmusr.compare``)
compare = compare_results


def _attr_text(idata, key: str) -> str:
    """A text attribute of a result's posterior ("" if absent)."""
    return str(idata.posterior.attrs.get(key, ""))


def _attr_number(attrs, key: str) -> float:
    """A numeric attribute as float (NaN if absent or not a number); netCDF may store it as a 1-element array."""
    try:
        return float(np.asarray(attrs[key], dtype=float).ravel()[0])
    except (KeyError, TypeError, ValueError, IndexError):
        return math.nan


def _extreme(values, pick) -> tuple[str, float]:
    """(variable, value) of the max/min of an ArviZ diagnostic over all variables, NaNs skipped."""
    flat = [(n, float(x)) for n in values.data_vars for x in np.atleast_1d(np.asarray(values[n])).ravel()
            if np.isfinite(x)]
    return pick(flat, key=lambda t: t[1]) if flat else ("", math.nan)


def fit_reliability(idata, pareto: Mapping[str, int] | None = None, unit: str = "bins") -> dict:
    """Whether a result's posterior, and its LOO, can be trusted; the reasons if not.

    Checks the sampler's own criterion (the ``converged`` attribute: the chain reached
    ``tau_multiple_required`` autocorrelation times), R-hat across walkers against
    :data:`RHAT_LIMIT` and bulk ESS against :data:`ESS_LIMIT` for every posterior variable,
    and, given ``pareto``, the fraction of bins with Pareto k̂ > :data:`PARETO_K_LIMIT`.

    Parameters
    ----------
    idata : arviz.InferenceData
        A result.
    pareto : mapping, optional
        :func:`pareto_k_counts` of its LOO.
    unit : str
        What one observation is, for the messages ("bins" of runs, "rows" of a published table).

    Returns
    -------
    dict
        ``converged``: True/False as the sampler recorded it, None if the file has no record
        (e.g. a combination of per-temperature fits); ``r_hat`` and ``ess_bulk``: (variable, value)
        of the worst variable; ``sampling_ok``: the convergence, R-hat and ESS checks pass;
        ``reasons``: list of str, empty when every check (Pareto k̂ included) passes.
    """
    az = _az()
    a = idata.posterior.attrs
    flag = _attr_number(a, "converged")
    converged = None if math.isnan(flag) else bool(flag)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R-hat of constant variables, "more chains than draws"
        r_hat = _extreme(az.rhat(idata.posterior), max)
        ess = _extreme(az.ess(idata.posterior, method="bulk"), min)
    reasons = []
    if converged is False:
        length, need = _attr_number(a, "chain_length_in_tau"), _attr_number(a, "tau_multiple_required")
        reasons.append(f"did not converge (chain {length:.1f} autocorrelation times long, {need:g} required)"
                       if math.isfinite(length) and math.isfinite(need) else
                       f"did not converge ({a.get('convergence_message', 'no message stored')})")
    if r_hat[1] > RHAT_LIMIT:
        reasons.append(f"R-hat {r_hat[1]:.3f} for {r_hat[0]} (limit {RHAT_LIMIT:g})")
    if ess[1] < ESS_LIMIT:
        reasons.append(f"bulk ESS {ess[1]:.0f} for {ess[0]} (limit {ESS_LIMIT})")
    sampling_ok = not reasons
    if pareto is not None:
        bad = pareto["bad"] + pareto["very_bad"]
        if bad > PARETO_BAD_FRACTION * pareto["n"]:
            reasons.append(f"{bad} of {pareto['n']} {unit} ({100 * bad / max(pareto['n'], 1):.1f} %) have Pareto "
                           f"k̂ > {PARETO_K_LIMIT:g}")
    return {"converged": converged, "r_hat": r_hat, "ess_bulk": ess, "sampling_ok": sampling_ok, "reasons": reasons}


def _preference(best: str, name: str, diff: float, dse: float) -> str:
    """The LOO reading of one pair, without qualification."""
    ratio = diff / dse if dse > 0 else (math.inf if diff > 0 else 0.0)  # identical fits: no preference
    if ratio <= PREFERENCE_SE:
        return (f"the data do not distinguish {best} from {name}: elpd difference {diff:.1f} ± {dse:.1f} "
                f"({ratio:.1f} SE, below {PREFERENCE_SE:g}).")
    word = "clearly prefer" if ratio > CLEAR_PREFERENCE_SE else "moderately prefer"
    return f"the data {word} {best} over {name}: elpd difference {diff:.1f} ± {dse:.1f} ({ratio:.1f} standard errors)."


def _pareto_line(name: str, k: Mapping[str, int], unit: str = "bins") -> str:
    bad = k["bad"] + k["very_bad"]
    frac = bad / max(k["n"], 1)
    if bad == 0:
        return f"{name}: all {k['n']} Pareto k̂ ≤ {PARETO_K_LIMIT:g} — the LOO estimate is reliable."
    if frac <= PARETO_BAD_FRACTION:
        return (f"{name}: {bad} of {k['n']} {unit} have Pareto k̂ > {PARETO_K_LIMIT:g} — a few influential {unit}; "
                f"LOO is still usable but those {unit}' terms are uncertain.")
    return (f"{name}: {bad} of {k['n']} {unit} ({100 * frac:.1f} %) have Pareto k̂ > {PARETO_K_LIMIT:g} — the LOO "
            "estimate is unreliable (refit with more draws, or check the model).")


def verdict(table, pareto: Mapping[str, Mapping[str, int]], waic_table=None,
            reliability: Mapping[str, Mapping] | None = None, units: Mapping[str, str] | None = None) -> str:
    """Plain-language reading of an ``az.compare`` table, qualified by each fit's diagnostics.

    Parameters
    ----------
    table : pandas.DataFrame
        ``az.compare`` table with ic = loo (best model first).
    pareto : mapping
        :func:`pareto_k_counts` per model.
    waic_table : pandas.DataFrame, optional
        The same comparison with WAIC, as a cross-check.
    reliability : mapping, optional
        :func:`fit_reliability` per model.  A pair with a failed check is reported as
        "Not a firm verdict", naming the fit and the check, before the reading itself.
    units : mapping, optional
        What one observation of each model's data is ("bins" by default; "rows" of a table).

    Returns
    -------
    str
        One line per comparison, per model's Pareto k̂ and convergence record, and the WAIC agreement.
    """
    best, rel = table.index[0], reliability or {}
    lines = []
    for name in table.index[1:]:
        reading = _preference(best, name, float(table.loc[name, "elpd_diff"]), float(table.loc[name, "dse"]))
        issues = [f"{n}: {', '.join(rel[n]['reasons'])}" for n in (best, name) if rel.get(n, {}).get("reasons")]
        lines.append(f"Not a firm verdict — {'; '.join(issues)}. Taken at face value, {reading}" if issues
                     else reading[0].upper() + reading[1:])
    lines += [_pareto_line(name, k, (units or {}).get(name, "bins")) for name, k in pareto.items()]
    lines += [f"{name}: no sampler convergence record in the file; judged by R-hat and ESS only."
              for name, r in rel.items() if r.get("converged") is None]
    if waic_table is not None:
        wbest = waic_table.index[0]
        if wbest != best:
            lines.append(f"WAIC ranks {wbest} first while LOO ranks {best} first: the criteria disagree, "
                         "so the difference is not robust.")
        else:
            lines.append(f"WAIC agrees: {wbest} ranks first.")
    return "\n".join(lines)


def _converged_cell(r: Mapping | None) -> str:
    if not r:
        return "?"
    if not r["sampling_ok"]:
        return "no"
    return "yes" if r["converged"] else "no record"


def format_comparison(res: Mapping) -> str:
    """Text table of a :func:`compare_results` output, with Pareto-k̂ counts, convergence and the verdict.

    Parameters
    ----------
    res : mapping
        The output of :func:`compare_results`.

    Returns
    -------
    str
        elpd_loo, p_loo, elpd_diff, dse, their ratio, elpd_waic, bins with k̂ > 0.7, the stacking
        weight and whether the fit converged per model (elpd in log-density units), then the verdict.
    """
    t, tw, rel = res["loo"], res["waic"], res.get("reliability", {})
    w = max(16, *(len(str(n)) for n in t.index))
    lines = [f"{'model':<{w}} {'rank':>4} {'elpd_loo':>12} {'p_loo':>8} {'elpd_diff':>10} {'dse':>8} "
             f"{'diff/dse':>8} {'elpd_waic':>12} {'k>0.7':>6} {'weight':>7} {'converged':>9}"]
    for name in t.index:
        r = t.loc[name]
        dse = float(r["dse"])
        ratio = float(r["elpd_diff"]) / dse if dse > 0 else 0.0
        k = res["pareto_k"][name]
        lines.append(f"{name:<{w}} {int(r['rank']):>4} {float(r['elpd_loo']):>12.1f} {float(r['p_loo']):>8.1f} "
                     f"{float(r['elpd_diff']):>10.1f} {dse:>8.1f} {ratio:>8.1f} "
                     f"{float(tw.loc[name, 'elpd_waic']):>12.1f} {k['bad'] + k['very_bad']:>6d} "
                     f"{float(r['weight']):>7.3f} {_converged_cell(rel.get(name)):>9}")
    lines += ["", f"converged: yes = the sampler's autocorrelation criterion was met, R-hat ≤ {RHAT_LIMIT:g} and "
              f"bulk ESS ≥ {ESS_LIMIT} for every variable; no record = the file has no sampler record, R-hat and "
              "ESS pass; no = a check failed (named in the verdict).", "", res["verdict"]]
    return "\n".join(lines)
