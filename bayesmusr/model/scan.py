"""Temperature-scan models: the Arrhenius EA reading and the per-temperature KT reading.

Definition
----------
EA scan model (Kadono Eq. 1–3): for every temperature T

    ν_i(T) = ν_i0 exp(−E_i / k_B T),   ν_μ(T) = ν_μ0 exp(−E_μ / k_B T),

with Δ and Q shared by the whole scan (optionally Δ_T per temperature,
partially pooled: log Δ_T ~ N(log Δ, τ_Δ²)).  Every run (ZF or LF) of every
temperature sees P(t) = (1 − f) G^EA(t; Δ, ν_i(T), ν_μ(T), Q, B) + f.

KT reading: per temperature an independent dynamic KT with (Δ_T, ν_T),
i.e. what the literature fitted; sampled temperature by temperature (the
blocks are independent, so the product of their posteriors is the joint one).

Nuisances and the likelihood
----------------------------
Each histogram run r has the nuisances of :mod:`bayesmusr.model.forward`
(A_r, α_r, f_r, β_F,r, β_B,r, with N0_r integrated out analytically,
prior 1/N0): expected counts N0 [d (1 + A P) + β_F] and
N0 [d (1 − A P)/α + β_B] (Mantid's α; the code uses ρ = 1/α, in which the
counts are linear).  With 10⁶–10⁷ events per run they are determined
far better than the physics, and the scan has ~5 of them per run (≈ 120 for
12 temperatures × ZF + LF), which an ensemble sampler cannot mix in useful
time.  They are therefore integrated out by the Laplace method: for given
physics, a Newton solve (analytic gradient and Hessian) finds their
conditional maximum η̂_r, and

    log p(data_r | physics) ≈ ℓ_r(η̂_r) + (k/2) log 2π − ½ log det(−∇²ℓ_r(η̂_r)).

The error of this is O(1/N_events) relative; `tests/test_scan.py` checks the
conditional optimum against brute-force maximisation, the marginal against an
importance-sampled integral (differences 0.009 and 0.003 at 2×10⁶ events, within
the MC error) and the likelihood of a small scan against a likelihood-ratio test.  The solve is in
z, the logit of each nuisance's position inside its declared prior bounds (backgrounds included), so
ℓ_r carries the log prior density in z (:mod:`bayesmusr.model.nuisances`).  Asymmetry-only runs
(Gaussian) have nuisances a1 = A(1 − f), a2 = A f entering linearly, so their
marginal is exact.

Only the global parameters (6, or 7 + N_T with pooled Δ_T; + ``fbg`` with a shared holder) are sampled, by
the one emcee wrapper (:func:`bayesmusr.inference.sampling.sample`).  Pointwise
log-likelihoods (for LOO) use the conditional nuisances and the profiled
N0 = Σn / Σs of each run.

Units: rates μs⁻¹ inside; prefactors ν_i0, ν_μ0 are sampled as log10 of s⁻¹
(literature convention); energies eV; Δ μs⁻¹; T K; fields mT.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayesmusr.model.forward import relaxation
from bayesmusr.model.nuisances import AsymmetryNuisances, HistogramNuisances, make_nuisances
from bayesmusr.model.parameters import (
    HOLDER_PARAMETER,
    KT_SCAN_PARAMETERS,
    PHYSICS_PARAMETERS,
    POOL_PARAMETER,
    SCAN_PARAMETERS,
    ParameterSet,
    canonical_model,
    parse_prior,
    pooled_delta_parameter,
)
from bayesmusr.model.rundata import RunData, ea_support_note
from bayesmusr.physics.constants import arrhenius


def holder_option(value) -> bool | str:
    """Check a ``holder_fraction`` option: True (one f per run), False (none) or "shared" (one for the scan).

    Parameters
    ----------
    value : bool or str
        The option as given; anything else raises ValueError.

    Returns
    -------
    bool or str
        ``value`` itself.
    """
    if isinstance(value, bool) or value == "shared":
        return value
    raise ValueError(f"holder_fraction must be true (one per run), false (none) or \"shared\" (one for the "
                     f"scan), got {value!r}")



# ------------------------------------------------------------------ scan data
@dataclass
class ScanPointData:
    """The runs of one temperature."""

    temperature: float  # K
    runs: list[RunData] = field(default_factory=list)


def resolve_priors(declared, priors) -> list:
    """The prior of each declared parameter: the user's (checked against its support) or its default.

    Parameters
    ----------
    declared : sequence of FitParameter
        The parameters of a problem.
    priors : mapping or None
        User overrides by name (see :func:`bayesmusr.model.parameters.parse_prior`).

    Returns
    -------
    list of Prior
        In the order of ``declared``; ValueError for a name that is not declared.
    """
    priors = dict(priors or {})
    unknown = set(priors) - {p.name for p in declared}
    if unknown:
        raise ValueError(f"unknown prior name(s) {sorted(unknown)}; expected some of {[p.name for p in declared]}")
    return [parse_prior(priors[p.name], p.name, p) if p.name in priors else p.default_prior() for p in declared]


def _conditional(blk, g) -> None:
    """Set ``blk``'s conditional nuisances at ``g``; a retained draw without an optimum is an error, not stale values."""
    if not math.isfinite(blk.marginal(g)):
        raise ValueError(f"run {blk.run.label!r}: no conditional nuisance optimum at a retained posterior draw")


def _check_points(points: Sequence[ScanPointData]):
    if not points:
        raise ValueError("a scan needs at least one temperature")
    for p in points:
        if not (math.isfinite(p.temperature) and p.temperature > 0):
            raise ValueError(f"temperature must be a finite value > 0 K, got {p.temperature!r}")
        if not p.runs:
            raise ValueError(f"T = {p.temperature} K: no runs")


class _ProblemBase:
    """Shared machinery of the two scan problems (priors, bounds, observed data)."""

    def _setup_description(self):
        """Priors and options in words, for `describe` (and so for a result's fingerprint)."""
        return {"priors": self.params.describe(),
                "options": [f"{k}={v}" for k, v in self.options.items()]}

    def _setup_priors(self, declared, priors):
        self.declared = list(declared)
        self.priors = resolve_priors(declared, priors)
        self.params = ParameterSet([p.name for p in declared], self.priors)
        self.free, self.names, self.ndim, self.bounds = (list(self.params.free), self.params.names,
                                                         self.params.ndim, self.params.bounds)
        self.log_coordinates = self.params.log  # sampled as log x (the result reports x)
        self.shear_rate = self.params.shear_rate  # sampled in sheared coordinates (inference/shear.py)

    def _physical(self, y):
        return self.params.to_physical(y)

    def _sampled_values(self, x) -> dict:
        """The sampled parameters of physical vector ``x``, by name."""
        return {p.name: v for p, v, free in zip(self.declared, x, self.free) if free}

    def _plugin_pointwise(self, gs) -> list:
        """Per-run pointwise terms at each run's conditional nuisances for polarisations ``gs``."""
        pw = []
        for blocks, g_list in zip(self.blocks, gs):
            for blk, g in zip(blocks, g_list):
                _conditional(blk, g)  # conditional nuisances at this draw
                pw.append(blk.pointwise(g))
        return pw

    def _log_prior(self, y):
        return self.params.log_prior(y)

    def log_posterior(self, y):
        """Log posterior (up to a constant) with every run's nuisances Laplace-marginalised.

        Parameters
        ----------
        y : array_like
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        float
            −inf outside the prior bounds or the EA table's support.
        """
        y = np.asarray(y, dtype=float)
        lp = self._log_prior(y)
        if not math.isfinite(lp):
            return -math.inf
        x = self._physical(y)
        try:
            gs = self._polarisations(x)
        except ValueError:  # outside the EA table's support (e.g. ω_L/Δ > 20.8)
            return -math.inf
        return self._sum_marginals(gs, lp + self._hyper_log_prior(x))

    def _hyper_log_prior(self, x) -> float:
        return 0.0

    def anchor(self, y) -> float:
        """Re-anchor every run's Newton reference at the nuisance optimum of ``y`` (normally the MAP).

        Each Laplace solve starts from a fixed reference (:meth:`HistogramNuisances.marginal`), so the
        log-posterior stays a deterministic function of ``y``; without this the reference is the optimum
        of the first evaluation ever made, a starting guess that may be far from the posterior, and every
        solve then needs more Newton steps.

        Parameters
        ----------
        y : array_like
            Sampling coordinates, shape (ndim,).

        Returns
        -------
        float
            log p(y).
        """
        for blk in itertools.chain.from_iterable(self.blocks):
            if hasattr(blk, "ref"):
                blk.ref = None
        return self.log_posterior(y)

    def _sum_marginals(self, gs, start: float) -> float:
        """start + Σ over runs of the Laplace marginal (−inf as soon as one run has none)."""
        total = start
        for blocks, g_list in zip(self.blocks, gs):
            for blk, g in zip(blocks, g_list):
                m = blk.marginal(g)
                if not math.isfinite(m):
                    return -math.inf
                total += m
        return total

    def observed_data(self):
        data, dims, coords = {}, {}, {}
        run_of, temp_of, time_of = [], [], []
        i = 0
        for j, pt in enumerate(self.points):
            for r in pt.runs:
                coords[f"time_{i}"] = r.t
                if r.kind == "asymmetry":
                    data[f"asymmetry_{i}"], data[f"asymmetry_error_{i}"] = r.asymmetry, r.error
                    dims[f"asymmetry_{i}"] = dims[f"asymmetry_error_{i}"] = [f"time_{i}"]
                    reps = 1
                else:
                    data[f"forward_{i}"], data[f"backward_{i}"] = r.forward, r.backward
                    dims[f"forward_{i}"] = dims[f"backward_{i}"] = [f"time_{i}"]
                    reps = 2
                run_of.append(np.full(reps * r.n_obs, i))
                temp_of.append(np.full(reps * r.n_obs, pt.temperature))
                time_of.append(np.tile(r.t, reps))
                i += 1
        data["obs_run"] = np.concatenate(run_of)
        data["obs_temperature"] = np.concatenate(temp_of)
        data["obs_time"] = np.concatenate(time_of)
        dims["obs_run"] = dims["obs_temperature"] = dims["obs_time"] = ["obs"]
        return data, dims, coords

    def predictive_dims(self):
        out, i = {}, 0
        for pt in self.points:
            for r in pt.runs:
                for n in (["asymmetry"] if r.kind == "asymmetry" else ["forward", "backward"]):
                    out[f"{n}_{i}"] = [f"time_{i}"]
                i += 1
        return out

    def _replicas(self, gs, rng):
        rep, i = {}, 0
        for blocks, g_list in zip(self.blocks, gs):
            for blk, g in zip(blocks, g_list):
                v = blk.replicate(g, rng)
                if blk.run.kind == "asymmetry":
                    rep[f"asymmetry_{i}"] = v
                else:
                    rep[f"forward_{i}"], rep[f"backward_{i}"] = v[: blk.run.n_obs], v[blk.run.n_obs:]
                i += 1
        return rep


# ------------------------------------------------------------- EA scan model
class ScanProblem(_ProblemBase):
    """Posterior of the Arrhenius EA scan model (a problem for :func:`bayesmusr.inference.sampling.sample`).

    Parameters
    ----------
    points : sequence of ScanPointData
        Runs per temperature.
    priors : mapping, optional
        Overrides for :data:`SCAN_PARAMETERS` (and ``tau_delta``), see
        :func:`bayesmusr.model.parameters.parse_prior`.
    pooled_delta : bool
        Per-temperature Δ_T partially pooled around Δ (adds ``tau_delta`` and
        one ``dlog_delta_<j>`` per temperature).
    holder_fraction : True, False or "shared"
        The non-relaxing (sample-holder) fraction f: ``True`` integrates out one f per
        run, ``"shared"`` samples one f for the whole scan (parameter ``fbg``: one
        sample holder), ``False`` sets f = 0.  Per-run f under its flat prior pulls Q
        upwards where G(t) loses contrast (fast muon over the whole scan): noise-free
        data put the posterior maximum at Q = 0.96 for a truth of 0.90
        (`benchmarks/asimov_scan.py`); one shared f removes that freedom.  `bayesmusr fit`
        uses ``"shared"`` unless the TOML's ``[model] holder_fraction`` says otherwise.
    count_background : bool
        Flat backgrounds per run (as in :class:`bayesmusr.model.temperature.TemperatureProblem`).
    table : path, optional
        EA table.
    """

    def __init__(self, points: Sequence[ScanPointData], priors: Mapping[str, Any] | None = None, *,
                 pooled_delta: bool = False, holder_fraction: bool | str = True, count_background: bool = True,
                 table=None):
        holder_option(holder_fraction)
        _check_points(points)
        self.points = sorted(points, key=lambda p: p.temperature)
        self.temperatures = np.array([p.temperature for p in self.points])
        self.table = table
        self.pooled = pooled_delta
        declared = list(SCAN_PARAMETERS)
        if pooled_delta:
            declared.append(POOL_PARAMETER)
            declared += [pooled_delta_parameter(j, t) for j, t in enumerate(self.temperatures)]
        self.shared_holder = holder_fraction == "shared"
        if self.shared_holder:
            declared.append(HOLDER_PARAMETER)
        self._setup_priors(declared, priors)
        # a shared f enters the polarisation, P = (1 − f) G + f (see _polarisations); the runs then have none
        per_run = holder_fraction is True
        self.blocks = [[make_nuisances(r, per_run, count_background) for r in p.runs] for p in self.points]
        # LOO scores each bin at the conditional optimum of its run's nuisances; that plug-in is optimistic
        # by about one unit of elpd per two optimised nuisances, and the KT reading optimises one f per run.
        # With a shared f the bins are therefore scored with per-run (A, α, f, β) as in the KT reading, so
        # the comparison is between the readings' physics, not their nuisance counts (on the demo scan,
        # scoring with the sampled shared f moved EA's elpd by −7.6)
        self.score_blocks = ([[make_nuisances(r, True, count_background) for r in p.runs] for p in self.points]
                             if self.shared_holder else self.blocks)
        self.options = {"pooled_delta": pooled_delta, "holder_fraction": holder_fraction,
                        "count_background": count_background}

    def holder(self, x) -> float | None:
        """The shared holder fraction of physical parameters ``x`` (None unless holder_fraction="shared").

        Parameters
        ----------
        x : ndarray
            Full physical parameter vector, ordered as ``declared``.

        Returns
        -------
        float or None
        """
        return float(x[len(self.declared) - 1]) if self.shared_holder else None

    # physics per temperature
    def rates(self, x, temperatures=None):
        """ν_i(T), ν_μ(T) in μs⁻¹ for physical parameter list ``x``.

        Parameters
        ----------
        x : sequence of float
            Physical parameters, starting log10 ν_i0, E_i, log10 ν_μ0 (log10 s⁻¹), E_μ (eV).
        temperatures : array_like, optional
            Temperatures in K (default: the scan's).

        Returns
        -------
        nu_i, nu_mu : ndarray
            One rate per temperature, μs⁻¹.
        """
        temps = self.temperatures if temperatures is None else np.asarray(temperatures, dtype=float)
        return arrhenius(temps, x[0], x[1]), arrhenius(temps, x[2], x[3])

    def deltas(self, x):
        """Δ_T per temperature: Δ, or Δ exp(dlog_delta_<j>) with pooled Δ_T.

        Parameters
        ----------
        x : ndarray
            Full physical parameter vector, ordered as ``declared``.

        Returns
        -------
        ndarray
            Shape (N_T,), μs⁻¹.
        """
        if not self.pooled:
            return np.full(len(self.points), x[4])
        return x[4] * np.exp(np.asarray(x[7:7 + len(self.points)]))

    def _relaxations(self, x):
        """G^EA(t) of every run (per temperature, per run) for physical parameters ``x``."""
        nu_i, nu_mu = self.rates(x)
        deltas = self.deltas(x)
        return [[relaxation("ea", r.t, r.b_lf, (deltas[j], nu_i[j], nu_mu[j], x[5]), table=self.table)
                 for r in pt.runs] for j, pt in enumerate(self.points)]

    def _polarisations(self, x, relaxations=None):
        """P(t) of every run: G^EA, or (1 − f) G^EA + f with the scan's shared holder fraction f."""
        gs = self._relaxations(x) if relaxations is None else relaxations
        f = self.holder(x)
        return gs if f is None else [[(1.0 - f) * g + f for g in g_list] for g_list in gs]

    def _hyper_log_prior(self, x) -> float:
        """The pooled Δ_T's hierarchical prior (0 without pooling)."""
        if not self.pooled:
            return 0.0
        tau = x[6]
        dl = np.asarray(x[7:7 + len(self.points)])
        # log Δ_T − log Δ ~ N(0, τ²) truncated to the declared box [−1, 1]: the truncation's
        # normaliser depends on τ, so it is part of τ's likelihood (5 % at τ = 0.5)
        norm = math.erf(1.0 / (tau * math.sqrt(2.0)))
        return float(-0.5 * np.sum(dl**2) / tau**2 - len(dl) * math.log(tau * norm))

    def initial_guesses(self):
        """Starting points: the declared defaults and a spread of activation parameters.

        Returns
        -------
        list of ndarray
            Sampling coordinates, shape (ndim,) each.
        """
        base = []
        for p, pr, f in zip(self.declared, self.priors, self.free):
            if f:
                v = min(max(p.default, pr.lo), pr.hi) if pr.kind != "normal" else pr.mu
                base.append(math.log(v) if pr.log_scale else v)
        base = np.array(base)
        out = [base]
        names = self.names
        for e_i, l_i0 in [(0.25, 10.0), (0.5, 13.0), (0.35, 12.5), (0.7, 15.0)]:
            for q in (0.5, 0.8):
                y = base.copy()
                for n, v in (("e_i", e_i), ("log10_nu_i0", l_i0), ("q", q)):
                    if n in names:
                        y[names.index(n)] = v
                out.append(y)
        return out

    def posterior_extras(self, y, rng, predictive):
        """Outputs of one retained draw: values with the derived rates, pointwise log-likelihood, replicas.

        Parameters
        ----------
        y : array_like
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.
        rng : numpy.random.Generator
            Seeded generator for the replicas.
        predictive : bool
            Draw posterior-predictive replicas.

        Returns
        -------
        vals : dict
            Sampled parameters in physical units, plus ``nu_i_T<j>``, ``nu_mu_T<j>`` (μs⁻¹)
            and, pooled, ``delta_T<j>`` (μs⁻¹); the result stacks them as ``nu_i_T`` … with a
            ``temperature`` dimension (:func:`bayesmusr.inference.compare.stack_temperatures`).
        pointwise : ndarray
            Per-bin log-likelihood at the conditional nuisances (per run: forward bins, then backward).
        replicas : dict or None
            ``forward_<i>``/``backward_<i>`` or ``asymmetry_<i>`` per run; None unless ``predictive``.
        """
        x = self._physical(y)
        vals = self._sampled_values(x)
        nu_i, nu_mu = self.rates(x)
        for j, t in enumerate(self.temperatures):
            vals[f"nu_i_T{j}"] = nu_i[j]
            vals[f"nu_mu_T{j}"] = nu_mu[j]
            if self.pooled:
                vals[f"delta_T{j}"] = self.deltas(x)[j]
        g_plain = self._relaxations(x)
        gs = self._polarisations(x, g_plain)
        if not self.shared_holder:
            pw = self._plugin_pointwise(gs)
        else:
            pw = []
            # bins scored with per-run conditional (A, α, f, β) on G^EA (see score_blocks in __init__); the
            # model's own optimum, with f = the shared f, is the same expectation in the per-run form
            # (A((1 − f)G + f)), so the per-run Newton starts there and only lets f move
            f = self.holder(x)
            for blocks, scores, g_list, g0_list in zip(self.blocks, self.score_blocks, gs, g_plain):
                for blk, score, g, g0 in zip(blocks, scores, g_list, g0_list):
                    _conditional(blk, g)
                    if hasattr(score, "set_reference"):
                        score.set_reference(np.concatenate([blk.eta[:2], [f], blk.eta[3:]]))
                    if math.isfinite(score.marginal(g0)):
                        pw.append(score.pointwise(g0))
                    else:  # f has no optimum of its own when G ≈ 1 (it cannot change the expectation
                        # there): the model's own nuisances, with the shared f, give the same prediction
                        pw.append(blk.pointwise(g))
        rep = self._replicas(gs, rng) if predictive else None
        return vals, np.concatenate(pw), rep

    def describe(self):
        """Attributes of a result: temperatures, runs, priors, options, units, likelihood, EA support.

        Returns
        -------
        dict
        """
        return {
            "bayesmusr_result": "scan",
            "model": "ea_arrhenius_scan",
            "temperatures_K": self.temperatures.tolist(),
            "run_labels": [r.label for p in self.points for r in p.runs],
            "run_fields_mT": [float(r.b_lf) for p in self.points for r in p.runs],
            "run_temperatures_K": [float(p.temperature) for p in self.points for r in p.runs],
            **self._setup_description(),
            "units": [f"{p.name}: {p.unit}" for p in self.declared] + ["nu_i_T, nu_mu_T (per temperature): μs⁻¹"],
            "likelihood": ("Poisson on forward/backward histograms (Gaussian for asymmetry runs); per-run "
                           "nuisances (A, α, f, β_F, β_B) integrated out by the Laplace method, N0 analytically"),
            "ea_support": self._support_note(),
        }

    def _support_note(self) -> str:
        """`ea_support_note` of the scan's runs, made once: it loads the 181 MB EA table, which a job
        releases after sampling (``describe`` is called again when the results are combined)."""
        if getattr(self, "_support", None) is None:
            self._support = ea_support_note([r for p in self.points for r in p.runs], self.table)
        return self._support


# --------------------------------------------------------------- KT reading
# ------------------------------------------------- one temperature, any model
class TemperaturePointProblem(_ProblemBase):
    """One temperature, one model (static KT, dynamic KT or EA), with Laplace-marginalised nuisances.

    The one-temperature counterpart of :class:`ScanProblem`: the runs of the
    point share the physics parameters ``PHYSICS_PARAMETERS[model]`` of
    :mod:`bayesmusr.model.parameters` (the only sampled ones); every run's nuisances are
    integrated out as described in the module docstring.  Used by
    :func:`bayesmusr.workflows.temperature.fit_temperature` through
    :class:`bayesmusr.inference.adapters.MarginalAdapter`, which adds the outputs.
    """

    def __init__(self, point: ScanPointData, model: str = "ea", priors: Mapping[str, Any] | None = None, *,
                 holder_fraction: bool = True, count_background: bool = True, table=None):

        if not isinstance(holder_fraction, bool):  # "shared" is a scan option: one temperature has per-run f
            raise ValueError(f"holder_fraction must be true or false for one temperature, got {holder_fraction!r}")
        if not point.runs:
            raise ValueError("a temperature needs at least one run")
        self.model = canonical_model(model)
        self.points = [point]
        self.temperatures = np.array([point.temperature])
        self.table = table
        self._setup_priors(PHYSICS_PARAMETERS[self.model], priors)
        self.blocks = [[make_nuisances(r, holder_fraction, count_background) for r in point.runs]]
        self.options = {"holder_fraction": holder_fraction, "count_background": count_background}

    def _polarisations(self, x):
        return [[relaxation(self.model, r.t, r.b_lf, x, table=self.table) for r in self.points[0].runs]]

    def initial_guesses(self):
        """A grid of physics values (Δ, rates, Q), clipped into the prior bounds.

        Returns
        -------
        list of ndarray
            Sampling coordinates, shape (ndim,) each.
        """

        grid = {"delta": (0.1, 0.3, 0.6), "nu": (0.01, 0.1, 1.0, 5.0), "nu_i": (0.05, 0.5, 5.0),
                "nu_mu": (0.003, 0.05), "q": (0.3, 0.8)}
        axes = []
        for p, pr, f in zip(self.declared, self.priors, self.free):
            if not f:
                continue
            vals = (pr.mu,) if pr.kind == "normal" else grid.get(p.name, (p.default,))
            lo, hi = (math.log(pr.lo), math.log(pr.hi)) if pr.log_scale else (pr.lo, pr.hi)
            vals = [math.log(v) if pr.log_scale else v for v in vals]
            axes.append(sorted({min(max(v, lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo)) for v in vals}))
        return [np.array(c) for c in itertools.product(*axes)]

    def posterior_extras(self, y, rng, predictive):
        """Physics values, per-bin log-likelihood at the conditional nuisances, replicas.

        Parameters
        ----------
        y : array_like
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.
        rng : numpy.random.Generator
            Seeded generator for the replicas.
        predictive : bool
            Draw posterior-predictive replicas.

        Returns
        -------
        vals : dict
            Sampled parameters in physical units (the physics only).
        pointwise : ndarray
            Per-bin log-likelihood at the conditional nuisances (per run: forward bins, then backward).
        replicas : dict or None
            ``forward_<i>``/``backward_<i>`` or ``asymmetry_<i>`` per run; None unless ``predictive``.
        """
        x = self._physical(y)
        gs = self._polarisations(x)
        pw = self._plugin_pointwise(gs)
        return self._sampled_values(x), np.concatenate(pw), (self._replicas(gs, rng) if predictive else None)

    def describe(self):
        """Attributes of a result: model, temperature, runs, priors, options.

        Returns
        -------
        dict
        """
        return {"bayesmusr_result": "temperature", "model": self.model,
                "temperature_K": float(self.temperatures[0]),
                "run_labels": [r.label for r in self.points[0].runs],
                "run_fields_mT": [float(r.b_lf) for r in self.points[0].runs],
                **self._setup_description(),
                "likelihood": "as the EA scan model (Laplace-marginalised nuisances)"}


def KTTemperatureProblem(point: ScanPointData, priors: Mapping[str, Any] | None = None, **options):
    """The KT reading of one temperature: :class:`TemperaturePointProblem` with the dynamic KT.

    Parameters
    ----------
    point : ScanPointData
        The runs of one temperature.
    priors : mapping, optional
        Overrides for ``delta`` and ``nu``.
    **options
        ``holder_fraction``, ``count_background``.

    Returns
    -------
    TemperaturePointProblem
    """
    return TemperaturePointProblem(point, "dynamic_kt", priors, **options)


__all__ = ["SCAN_PARAMETERS", "KT_SCAN_PARAMETERS", "ScanPointData", "ScanProblem", "KTTemperatureProblem",
           "TemperaturePointProblem", "HistogramNuisances", "AsymmetryNuisances"] 
