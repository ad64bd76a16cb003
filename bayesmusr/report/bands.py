"""Posterior-predictive bands of every run, in the asymmetry a figure shows (:func:`run_bands`).

Nothing of the model is written here: G comes from :func:`bayesmusr.model.forward.relaxation`
(EA scan rates from :func:`bayesmusr.physics.arrhenius`), P from ``forward.polarisation``,
expected counts from ``forward.histogram_shapes`` and the Laplace nuisances from
:mod:`bayesmusr.model.nuisances`.  The replicas are the result's ``posterior_predictive`` group
when it has one; otherwise ``n_draws`` seeded posterior draws are put through the result's own
model — its G, and its own run nuisances (A, α, f, backgrounds): the draw's values when they are
in the posterior, else their conditional optimum (the Laplace step, as its sampler did) — with
one replica per draw.  The bands are the central intervals of
:data:`bayesmusr.inference.compare.INTERVALS` (68 % and 95 %): about 68 % / 95 % of the data
should fall inside them.

Histogram runs are shown as (F − αB)/(F + αB) of data and replicas with **one** α: the
result's own (posterior median, or conditional optimum at the posterior-median physics) unless
a report overlaying several results passes the first one's.  Runs with more than ``max_points``
bins are packed (counts summed over neighbouring bins, data and replicas alike).
Units: t in μs, fields in mT, T in K.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping

import numpy as np

from bayesmusr.inference.compare import INTERVALS, interval_label, interval_percentiles
from bayesmusr.model.forward import asymmetry_shape, bin_decay, histogram_shapes, polarisation, relaxation
from bayesmusr.model.nuisances import make_nuisances
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, RUN_PARAMETERS, canonical_model
from bayesmusr.model.rundata import RunData
from bayesmusr.physics.constants import arrhenius
from bayesmusr.report.results import Result, RunInfo

__all__ = ["PERCENTILES", "NARROW", "WIDE", "LEVELS", "RunBands", "run_bands"]

#: the narrow and the wide central interval of every band and error bar (the package's two intervals)
NARROW, WIDE = sorted(INTERVALS)
#: percentiles of the bands, ascending: wide low, narrow low, median, narrow high, wide high
PERCENTILES = interval_percentiles((NARROW, WIDE))
#: the two levels in words, for legends and titles: "68/95 %"
LEVELS = f"{interval_label(NARROW).removesuffix(' %')}/{interval_label(WIDE)}"
_DEFAULTS = {p.name: p.default for p, _, _ in RUN_PARAMETERS}


@dataclasses.dataclass(eq=False)
class RunBands:
    """Posterior-predictive bands of one run's asymmetry, packed for display (times in μs)."""

    t: np.ndarray  #: packed bin centres
    y: np.ndarray  #: data asymmetry
    yerr: np.ndarray  #: its standard error
    bands: np.ndarray | None  #: (5, n) percentiles :data:`PERCENTILES` of the replicated asymmetry
    source: str  #: where the replicas come from, in words
    n_replicas: int
    alpha: float  #: α of the shown asymmetry, data and replicas alike (NaN for asymmetry runs)
    pack: int  #: bins summed per shown point
    inside68: float = math.nan  #: fraction of data points inside the narrow (:data:`NARROW`, 68 %) band
    inside95: float = math.nan  #: ... and inside the wide (:data:`WIDE`, 95 %) band
    note: str = ""  #: why there is no band, or a caveat
    #: the result's own α (posterior median, or conditional optimum at the posterior-median physics), with
    #: which its replicas were made (NaN: asymmetry run, or not computable)
    fit_alpha: float = math.nan


class _RunModel:
    """Expected data of one run for a posterior draw, through the model layer (see the module docstring)."""

    def __init__(self, result: Result, run: RunInfo):
        if not math.isfinite(run.b_lf):
            raise ValueError("the run's longitudinal field is not stored in the file (report the whole folder "
                             "written by 'bayesmusr fit', or add its ea_scan.nc with --compare)")
        self.result, self.run = result, run
        self.j = None
        if result.kind in ("ea_scan", "kt_scan"):
            temps = result.temperatures
            if temps.size == 0 or not math.isfinite(run.temperature):
                raise ValueError(f"run {run.label!r}: its temperature is not stored, so its parameters of "
                                 "that temperature cannot be chosen")
            self.j = int(np.argmin(np.abs(temps - run.temperature)))
        self.block = None  # nuisances in the posterior ("temperature"); else Laplace, as the result's sampler
        if result.kind != "temperature":
            holder = result.options.get("holder_fraction", True)
            # a scan's shared f is in P (see polarisation); the KT reading fitted one f per run instead (job.py)
            per_run = holder is True or (holder == "shared" and result.kind in ("kt_scan", "kt_point"))
            data = RunData(run.kind, run.t, float(run.b_lf), run.label, width=run.width, forward=run.forward,
                           backward=run.backward, asymmetry=run.asymmetry, error=run.error)
            self.block = make_nuisances(data, per_run, bool(result.options.get("count_background", True)))

    def value(self, draw: Mapping[str, float], *names: str, default: float = math.nan) -> float:
        """The first of ``names`` in the draw, else among the fixed parameters, else ``default``."""
        fixed = self.result.fixed
        return next((float(src[n]) for n in names for src in (draw, fixed) if n in src), default)

    def _nuisance(self, draw, name: str) -> float:
        return self.value(draw, f"{name}_{self.run.index}", name, default=_DEFAULTS[name])

    def polarisation(self, draw: Mapping[str, float]) -> np.ndarray:
        """P(t) the run's nuisance block sees: G of the draw, with a scan's shared holder fraction."""
        r, v, j, f = self.result, self.value, self.j, 0.0
        if r.kind == "ea_scan":
            temp = r.temperatures[j]
            model = "ea"
            theta = (v(draw, f"delta_T{j}", "delta"), arrhenius(temp, v(draw, "log10_nu_i0"), v(draw, "e_i")),
                     arrhenius(temp, v(draw, "log10_nu_mu0"), v(draw, "e_mu")), v(draw, "q"))
            f = v(draw, "fbg", default=0.0) if r.options.get("holder_fraction") == "shared" else 0.0
        elif r.kind == "kt_scan":
            model, theta = "dynamic_kt", (v(draw, f"delta_T{j}"), v(draw, f"nu_T{j}"))
        else:
            model = canonical_model(r.model)
            theta = [v(draw, p.name) for p in PHYSICS_PARAMETERS[model]]
        return polarisation(relaxation(model, self.run.t, self.run.b_lf, theta, table=r.table), f)

    def _solved(self, draw) -> np.ndarray:
        p = self.polarisation(draw)
        if not math.isfinite(self.block.marginal(p)):
            raise ValueError("the nuisance optimisation failed for a posterior draw")
        return p

    def alpha(self, draw: Mapping[str, float]) -> float:
        """α of the run at this draw: sampled, or the conditional optimum (η = (A, ρ = 1/α, f, β_F, β_B))."""
        if self.run.kind != "histograms":
            return math.nan
        if self.block is None:
            return self._nuisance(draw, "alpha")
        self._solved(draw)
        return 1.0 / float(self.block.eta[1])

    def replicate(self, draw: Mapping[str, float], rng: np.random.Generator) -> np.ndarray:
        """One replica of the run's data: forward then backward counts, or the asymmetry."""
        if self.block is not None:
            return self.block.replicate(self._solved(draw), rng)
        run, nz = self.run, (lambda name: self._nuisance(draw, name))
        p = polarisation(self.polarisation(draw), nz("fbg") if run.kind == "histograms" else 0.0, nz("lam"), run.t)
        if run.kind == "asymmetry":
            return rng.normal(asymmetry_shape(nz("a0"), p, nz("base")), run.error)
        mf, mb = histogram_shapes(bin_decay(run.t, run.width), nz("a0") * p, nz("alpha"), nz("bgf"), nz("bgb"))
        n0 = self.value(draw, f"n0_{run.index}")
        if not math.isfinite(n0):  # profiled N0
            n0 = (run.forward.sum() + run.backward.sum()) / (mf.sum() + mb.sum())
        return rng.poisson(n0 * np.concatenate([mf, mb])).astype(float)


def _median_draw(result: Result) -> dict:
    """Posterior median of every variable (the draw a result's own α is taken at)."""
    post = result.idata.posterior
    return {n: float(np.median(np.asarray(post[n]))) for n in post.data_vars}


def _draw_dicts(result: Result, idx: np.ndarray) -> list[dict]:
    post = result.idata.posterior
    flat = {n: np.asarray(post[n]).reshape(-1) for n in post.data_vars}
    return [{n: float(v[k]) for n, v in flat.items()} for k in idx]


def _pack(x: np.ndarray, k: int, w: np.ndarray | None = None) -> np.ndarray:
    """Sum over groups of ``k`` neighbouring bins along the last axis; with weights ``w``, their weighted mean."""
    if k == 1:
        return x
    starts = np.arange(0, x.shape[-1], k)
    return np.add.reduceat(x, starts, axis=-1) if w is None else _pack(x * w, k) / _pack(w, k)


def _asym(f, b, alpha):
    """(F − αB)/(F + αB) and its first-order Poisson error (NaN where F + αB = 0)."""
    den = f + alpha * b
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(den > 0, (f - alpha * b) / den, np.nan),
                np.where(den > 0, 2 * alpha * np.sqrt(f * b * (f + b)) / den**2, np.nan))


def _replicas(result: Result, run: RunInfo, model, why: str, n_draws: int, seed: int):
    """(replicas or None, where they come from, note)."""
    name, i = result.path.name, run.index
    names = [f"forward_{i}", f"backward_{i}"] if run.kind == "histograms" else [f"asymmetry_{i}"]
    pp = result.idata.posterior_predictive if "posterior_predictive" in result.idata.groups() else None
    if pp is not None and all(n in pp for n in names):
        reps = np.concatenate([np.asarray(pp[n], dtype=float).reshape(-1, run.t.size) for n in names], axis=1)
        return reps, f"the posterior_predictive group of {name} ({reps.shape[0]} replicas)", ""
    if model is None:
        return None, "", f"no band: {name} has no posterior_predictive group for this run and {why}"
    rng = np.random.default_rng(seed)
    n_total = int(np.prod([result.idata.posterior.sizes[d] for d in ("chain", "draw")]))
    idx = np.sort(rng.choice(n_total, size=min(n_draws, n_total), replace=False))
    try:
        reps = np.array([model.replicate(d, rng) for d in _draw_dicts(result, idx)])
    except (ValueError, KeyError) as exc:
        return None, "", f"no band: the model could not be evaluated ({exc})"
    return reps, (f"{idx.size} posterior draws put through the {result.model} model, one replica each "
                  f"(seed {seed}; {name} has no posterior_predictive group)"), ""


def _fit_alpha(result: Result, run: RunInfo, model) -> tuple[float, str]:
    """The result's own α of a histogram run, or (NaN, why not)."""
    if run.kind != "histograms":
        return math.nan, ""
    if model is None:
        return math.nan, "the model could not be evaluated"
    try:  # first: the solve at the posterior median then anchors the Laplace steps of the replicas
        return model.alpha(_median_draw(result)), ""
    except (ValueError, KeyError) as exc:
        return math.nan, str(exc)


def run_bands(result: Result, run: RunInfo, *, max_points: int = 200, n_draws: int = 200, seed: int = 0,
              alpha: float | None = None) -> RunBands:
    """Posterior-predictive bands of one run's asymmetry (see the module docstring).

    Parameters
    ----------
    result : Result
    run : RunInfo
        One of ``result.runs``.
    max_points : int
        Pack the run to at most this many points for display.
    n_draws : int
        Posterior draws put through the model when the result has no ``posterior_predictive`` group.
    seed : int
        Seed of the draw selection and the replicas of that case.
    alpha : float, optional
        α of the shown asymmetry (data and replicas) of a histogram run; default: the result's own.

    Returns
    -------
    RunBands
        ``bands`` is None (and ``note`` says why) when no replicas could be made.
    """
    try:
        model, why = _RunModel(result, run), ""
    except (ValueError, KeyError) as exc:
        model, why = None, str(exc)
    fit_alpha, why_not = _fit_alpha(result, run, model)
    alpha_note = f"α = 1 used for display ({why_not})" if why_not and alpha is None else ""
    if run.kind == "histograms":
        alpha = float(alpha) if alpha is not None else (fit_alpha if math.isfinite(fit_alpha) else 1.0)
    reps, source, note = _replicas(result, run, model, why, n_draws, seed)
    note = "; ".join(filter(None, (note, alpha_note)))
    k = max(1, int(math.ceil(run.t.size / max_points)))
    if run.kind == "histograms":
        y, yerr = _asym(_pack(run.forward, k), _pack(run.backward, k), alpha)
        n = run.t.size
        rep_y = None if reps is None else _asym(_pack(reps[:, :n], k), _pack(reps[:, n:], k), alpha)[0]
    else:
        alpha, w = math.nan, 1.0 / run.error**2
        y, yerr = _pack(run.asymmetry, k, w), 1.0 / np.sqrt(_pack(w, k))
        rep_y = None if reps is None else _pack(reps, k, np.broadcast_to(w, reps.shape))
    out = RunBands(_pack(run.t, k, np.ones_like(run.t)), y, yerr, None, source, 0 if reps is None else len(reps),
                   alpha, k, note=note, fit_alpha=fit_alpha)
    if rep_y is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins (no counts) stay NaN
            out.bands = b = np.nanpercentile(rep_y, PERCENTILES, axis=0)
        ok = np.isfinite(y) & np.all(np.isfinite(b), axis=0)
        if ok.any():
            out.inside95 = float(np.mean((y[ok] >= b[0, ok]) & (y[ok] <= b[4, ok])))
            out.inside68 = float(np.mean((y[ok] >= b[1, ok]) & (y[ok] <= b[3, ok])))
    return out
