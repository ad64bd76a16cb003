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
Each histogram run r has the nuisances of :mod:`bayesmusr.models`
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
the MC error) and the likelihood of a small scan against a likelihood-ratio test.  Backgrounds are treated as unconstrained here (the data
fix them; every expected count must stay positive).  Asymmetry-only runs
(Gaussian) have nuisances a1 = A(1 − f), a2 = A f entering linearly, so their
marginal is exact.

Only the global parameters (6, or 7 + N_T with pooled Δ_T) are sampled, by
the one emcee wrapper (:func:`bayesmusr.sampling.sample`).  Pointwise
log-likelihoods (for LOO) use the conditional nuisances and the profiled
N0 = Σn / Σs of each run.

Units: rates μs⁻¹ inside; prefactors ν_i0, ν_μ0 are sampled as log10 of s⁻¹
(literature convention); energies eV; Δ μs⁻¹; T K; fields mT.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln

from . import _kernels
from .functions import K_B_EV
from .models import FitParameter, RunData, ea_support_note, parse_prior, relaxation

#: Global parameters of the EA scan model (declared once: priors, docs, CLI help).
SCAN_PARAMETERS = (
    FitParameter("log10_nu_i0", "log10(s⁻¹)", 12.0, (8.0, 16.0), "ion jump attempt rate ν_i0 (log10 of s⁻¹)", "uniform"),
    FitParameter("e_i", "eV", 0.35, (0.05, 1.2), "ion jump activation energy E_i", "uniform"),
    FitParameter("log10_nu_mu0", "log10(s⁻¹)", 6.0, (2.0, 11.0), "muon jump prefactor ν_μ0 (log10 of s⁻¹)", "uniform"),
    FitParameter("e_mu", "eV", 0.02, (0.0, 0.4), "muon jump activation energy E_μ", "uniform"),
    FitParameter("delta", "μs⁻¹", 0.3, (0.02, 3.0), "static width Δ (shared by the scan)", "loguniform"),
    FitParameter("q", "1", 0.5, (0.0, 1.0), "fraction Q of Δ² modulated by ion jumps", "uniform"),
)
#: The sample-holder (non-relaxing) fraction when one holder serves the whole scan (holder_fraction="shared").
HOLDER_PARAMETER = FitParameter("fbg", "1", 0.05, (0.0, 1.0),
                                "non-relaxing (sample-holder) fraction f, shared by every run of the scan", "uniform")


def holder_option(value) -> bool | str:
    """Check a ``holder_fraction`` option: True (one f per run), False (none) or "shared" (one for the scan)."""
    if isinstance(value, bool) or value == "shared":
        return value
    raise ValueError(f"holder_fraction must be true (one per run), false (none) or \"shared\" (one for the "
                     f"scan), got {value!r}")


#: Hyper-parameter of the partially pooled per-temperature Δ_T.
POOL_PARAMETER = FitParameter("tau_delta", "1", 0.05, (1e-3, 0.5), "spread of log Δ_T around log Δ", "loguniform")
#: Per-temperature parameters of the KT reading.
KT_SCAN_PARAMETERS = (
    FitParameter("delta", "μs⁻¹", 0.3, (0.01, 5.0), "KT static width Δ_KT", "loguniform"),
    FitParameter("nu", "μs⁻¹", 0.1, (1e-3, 100.0), "KT fluctuation rate ν_KT", "loguniform"),
)


# ----------------------------------------------------------------- nuisances
#: `_kernels.laplace_newton` without a predicted first step
_NO_PREDICTOR = np.zeros((0, 0))


class HistogramNuisances:
    """Laplace marginal over (A, ρ, f, β_F, β_B) of one histogram run, N0 integrated out.

    With shape s_F = d(1 + A P) + β_F, s_B = ρ d(1 − A P) + β_B, P = G + f(1 − G)
    and ρ = 1/α (α the Mantid/musrfit balance of A = (F − αB)/(F + αB), as in
    :func:`bayesmusr.likelihood.histogram_shapes`), the N0-marginal
    log-likelihood (prior 1/N0) is ℓ = Σ n log s − N log Σs + log Γ(N) − Σ log n!.
    ρ is the parameter here because the shapes are linear in it.
    """

    names = ("a0", "rho", "fbg", "bgf", "bgb")

    def __init__(self, run: RunData, holder_fraction: bool = True, count_background: bool = True):
        if run.kind != "histograms":
            raise ValueError(f"run {run.label!r}: HistogramNuisances needs a histogram run")
        self.run = run
        self.d = run.decay()
        self.nf = run.forward
        self.nb = run.backward
        self.n_total = float(self.nf.sum() + self.nb.sum())
        self.const = gammaln(self.n_total) - float(gammaln(self.nf + 1).sum() + gammaln(self.nb + 1).sum())
        self.free = np.array([True, True, holder_fraction, count_background, count_background])
        self.eta = None  # conditional optimum of the last evaluation (for pointwise terms)
        self.ref = None  # fixed Newton start, set at the first evaluation
        self.predictor = None  # A⁻¹ at the reference (quasi-Newton first step), set with ref

    def _start(self, g=None):
        """Starting nuisances from the relaxed linear problem.

        Fitted separately, each histogram is linear in the columns [d, dG, 1]
        (since 1 + A P = (1 + A f) + A(1 − f) G); weighted least squares on F
        and B gives A(1 − f), A f, ρ = 1/α and the backgrounds, clipped into the
        nuisance box.
        """
        bg = 1e-3 if self.free[3] else 0.0
        alpha = float(self.nb.sum() / max(self.nf.sum(), 1.0))
        fallback = np.array([0.2, alpha, 0.05 if self.free[2] else 0.0, bg, bg])
        if g is None:
            return fallback
        d = self.d
        # 1 + A P = (1 + A f) + A (1 − f) G: each histogram is linear in [d, dG (, 1)]
        cols = [d, d * g] + ([np.ones_like(d)] if self.free[3] else [])
        x = np.stack(cols, axis=1)
        try:
            cf = _wls(x, self.nf)
            cb = _wls(x, self.nb)
        except np.linalg.LinAlgError:
            return fallback
        if cf[0] <= 0 or cb[0] <= 0:
            return fallback
        r1, r2 = cf[1] / cf[0], -cb[1] / cb[0]  # u/(1+v), u/(1−v) with u = A(1−f), v = A f
        v = (r2 - r1) / (r2 + r1) if (self.free[2] and r1 + r2 != 0) else 0.0
        u = r1 * (1.0 + v)
        a = u + v
        f = v / a if a != 0 else 0.0
        n0f = cf[0] / (1.0 + v)
        alpha = cb[0] / (1.0 - v) / n0f
        # backgrounds start at ≥ 0: a negative relaxed estimate can make the shapes ≤ 0 in late, nearly
        # empty bins (seen on EMU00020882, 32 μs of data: ℓ = −inf at the start)
        bf = max(cf[2] / n0f, 0.0) if self.free[3] else 0.0
        bb = max(cb[2] / n0f, 0.0) if self.free[3] else 0.0
        eta = np.array([a, alpha, f, bf, bb])
        return np.clip(eta, self.LOWER + 1e-9, self.UPPER - 1e-9)

    @property
    def alpha(self) -> float:
        """α of the last conditional optimum (= 1/ρ)."""
        return 1.0 / self.eta[1]

    def _shapes(self, g, eta):
        a, alpha, f, bf, bb = eta
        p = g + f * (1.0 - g)
        u = self.d * p
        return self.d + a * u + bf, alpha * (self.d - a * u) + bb, u

    #: box for the nuisances (A, ρ = 1/α, f, β_F, β_B): physical ranges, f a fraction
    LOWER = np.array([-0.5, 0.2, -1.0, -0.01, -0.01])
    UPPER = np.array([0.5, 5.0, 1.0, 0.2, 0.2])
    # f is weakly determined run by run (SD ~0.05 at 10⁷ events) and its conditional optimum can
    # fall below 0; the Laplace step treats it (like the backgrounds) as an unconstrained real so
    # the optimum stays interior — bounding it at 0 made the solve fail on such runs

    def loglike(self, g, eta):
        """N0-marginal log-likelihood at nuisances ``eta`` (−inf outside the box)."""
        if np.any(eta < self.LOWER) or np.any(eta > self.UPPER):
            return -math.inf
        val = _kernels.histogram_nuisance_terms(self.d, g, self.nf, self.nb, eta, False)[0]
        return val + self.const

    def _derivatives(self, g, eta):
        _, grad, hess = _kernels.histogram_nuisance_terms(self.d, g, self.nf, self.nb, eta, True)
        return grad, hess

    def marginal(self, g):
        """Laplace log-marginal over the free nuisances for polarisation ``g``.

        Damped Newton iterations start from a *fixed* reference η_ref (the
        converged optimum of the first call) moved by one quasi-Newton step
        with the reference's inverse Hessian, and run to a predicted gain
        below 1e-9, so the result is a deterministic, smooth function of the
        physics (a sampler and a finite-difference optimiser both need that);
        the Hessian of the last point gives the determinant.
        """
        if self.ref is None:  # anchor: the converged optimum of the first evaluation
            first = self._marginal_full(g)
            if not math.isfinite(first):
                return first
            self.ref = self.eta.copy()
            self.predictor = self._predictor(g, self.ref)
            # this call too goes the way of every later one (from ref, predictor first), so that
            # the same G always gives the same value, bit for bit
        return self._marginal_full(g, self.ref, self.predictor)

    def _predictor(self, g, eta):
        """A⁻¹ = (−Hessian)⁻¹ over the free nuisances at ``eta`` embedded in 5 × 5 (None if not positive definite)."""
        _, hess = self._derivatives(g, eta)
        idx = np.flatnonzero(self.free)
        out = np.zeros((5, 5))
        try:
            a = -hess[np.ix_(idx, idx)]
            np.linalg.cholesky(a)
            out[np.ix_(idx, idx)] = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            return None
        return out

    def _marginal_full(self, g, start=None, predictor=None):
        """Damped Newton (Levenberg-Marquardt) Laplace solve from ``start`` (default: the relaxed fit).

        Newton steps with Levenberg-Marquardt damping (the likelihood is not
        concave everywhere in these bilinear parameters); stops when the
        undamped Newton step would gain less than 1e-9 and uses the Hessian of
        that point for the determinant.
        """
        # tried in turn (a fixed order, so the result stays a deterministic function of G): the reference
        # with its quasi-Newton step, the reference alone (the predicted start can land where the damped
        # Newton stalls: seen once on a short-chain FAST scan), then the relaxed linear fit
        tries = []
        if start is not None:
            if predictor is not None:
                tries.append((start, predictor))
            tries.append((start, _NO_PREDICTOR))
        tries.append((None, _NO_PREDICTOR))  # None: the relaxed linear start
        for first, pred in tries:
            eta = self._start(g) if first is None else np.array(first, dtype=float)
            val, eta, logdet, ok = _kernels.laplace_newton(self.d, g, self.nf, self.nb, eta, self.free,
                                                           self.LOWER, self.UPPER, pred)
            if not ok:
                continue
            self.eta = eta
            k = int(self.free.sum())
            return val + self.const + 0.5 * k * math.log(2 * math.pi) - 0.5 * logdet
        return -math.inf

    def _profiled(self, g, eta):
        """Shapes s_F, s_B at ``eta`` and the profiled N0 = Σn / Σs."""
        sf, sb, _ = self._shapes(g, eta)
        return sf, sb, self.n_total / (sf.sum() + sb.sum())

    def pointwise(self, g, eta=None):
        """Per-bin Poisson log-likelihood at the conditional nuisances and profiled N0."""
        sf, sb, n0 = self._profiled(g, self.eta if eta is None else eta)
        mf, mb = n0 * sf, n0 * sb
        return np.concatenate([self.nf * np.log(mf) - mf - gammaln(self.nf + 1),
                               self.nb * np.log(mb) - mb - gammaln(self.nb + 1)])

    def replicate(self, g, rng):
        sf, sb, n0 = self._profiled(g, self.eta)
        return np.concatenate([rng.poisson(n0 * sf), rng.poisson(n0 * sb)]).astype(float)

    def asymmetry(self, g):
        """A·P(t) = A (G + f(1 − G)) at the current nuisances, for plots (backgrounds left out)."""
        a, f = self.eta[0], self.eta[2]
        return a * (g + f * (1.0 - g))

    def observed_asymmetry(self, g):
        """(F − αB)/(F + αB) after subtracting the fitted flat backgrounds, and its first-order error.

        With the current nuisances (α = 1/ρ, β_F, β_B) and the profiled N0 at polarisation
        ``g``, the background-free counts F' = F − N0 β_F, B' = B − N0 β_B give an asymmetry
        whose expectation is :meth:`asymmetry` (late bins, where the backgrounds dominate,
        would otherwise fall towards the background's own asymmetry).
        """
        n0 = self._profiled(g, self.eta)[2]
        fwd, bwd = self.run.forward, self.run.backward
        f1, b1 = fwd - n0 * self.eta[3], bwd - n0 * self.eta[4]
        alpha = 1.0 / self.eta[1]
        den = f1 + alpha * b1
        den = np.where(np.abs(den) > 1.0, den, np.nan)  # a bin with nothing left after subtraction
        return (f1 - alpha * b1) / den, 2 * alpha * np.sqrt(b1**2 * fwd + f1**2 * bwd) / den**2

    @property
    def n_obs(self):
        return 2 * self.run.n_obs


class AsymmetryNuisances:
    """Exact Gaussian marginal over a1 = A(1−f), a2 = A f (flat priors) of one asymmetry run."""

    names = ("a1", "a2")

    def __init__(self, run: RunData, holder_fraction: bool = True):
        if run.kind != "asymmetry":
            raise ValueError(f"run {run.label!r}: AsymmetryNuisances needs an asymmetry run")
        self.run = run
        self.w = 1.0 / run.error**2
        self.holder = holder_fraction
        self.eta = np.zeros(2)
        self.const = -0.5 * float(np.sum(np.log(2 * math.pi * run.error**2)))

    def marginal(self, g):
        y = self.run.asymmetry
        x = np.stack([g, np.ones_like(g)], axis=1) if self.holder else g[:, None]
        xtw = x.T * self.w
        h = xtw @ x
        coef = np.linalg.solve(h, xtw @ y)
        r = y - x @ coef
        self.eta = np.array([coef[0], coef[1] if self.holder else 0.0])
        k = x.shape[1]
        return self.const - 0.5 * float(self.w @ r**2) + 0.5 * k * math.log(2 * math.pi) - 0.5 * float(
            np.linalg.slogdet(h)[1])

    def pointwise(self, g, eta=None):
        a1, a2 = self.eta if eta is None else eta
        r = self.run.asymmetry - (a1 * g + a2)
        return -0.5 * r**2 * self.w - 0.5 * np.log(2 * math.pi * self.run.error**2)

    def replicate(self, g, rng):
        a1, a2 = self.eta
        return a1 * g + a2 + self.run.error * rng.standard_normal(g.size)

    def asymmetry(self, g):
        """a1·G + a2 at the current nuisances (A·P(t) with a1 = A(1 − f), a2 = A f), for plots."""
        return self.eta[0] * g + self.eta[1]

    def observed_asymmetry(self, g=None):
        """The run's asymmetry and its errors, as stored (``g`` unused: same call as the histogram block)."""
        return self.run.asymmetry, self.run.error

    @property
    def n_obs(self):
        return self.run.n_obs


def _wls(x, counts):
    """Weighted least squares of counts on columns x with Poisson weights 1/max(n, 1)."""
    w = 1.0 / np.maximum(counts, 1.0)
    xt = x.T * w
    return np.linalg.solve(xt @ x, xt @ counts)


def _nuisances(run, holder_fraction, count_background):
    if run.kind == "histograms":
        return HistogramNuisances(run, holder_fraction, count_background)
    return AsymmetryNuisances(run, holder_fraction)


# ------------------------------------------------------------------ scan data
@dataclass
class ScanPointData:
    """The runs of one temperature."""

    temperature: float  # K
    runs: list[RunData] = field(default_factory=list)


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
        return {"priors": [f"{p.name}: {pr.describe()}" for p, pr in zip(self.declared, self.priors)],
                "options": [f"{k}={v}" for k, v in self.options.items()]}

    def _setup_priors(self, declared, priors):
        priors = dict(priors or {})
        unknown = set(priors) - {p.name for p in declared}
        if unknown:
            raise ValueError(f"unknown prior name(s) {sorted(unknown)}; expected some of {[p.name for p in declared]}")
        self.priors = [parse_prior(priors[p.name], p.name) if p.name in priors else p.default_prior() for p in declared]
        self.declared = list(declared)
        self.free = [pr.kind != "fixed" for pr in self.priors]
        self.names = [p.name for p, f in zip(declared, self.free) if f]
        self.ndim = len(self.names)
        lo, hi = [], []
        for pr, f in zip(self.priors, self.free):
            if f:
                a, b = (math.log(pr.lo), math.log(pr.hi)) if pr.log_scale else (pr.lo, pr.hi)
                lo.append(a)
                hi.append(b)
        self.bounds = (np.array(lo), np.array(hi))

    def _physical(self, y):
        out, k = [], 0
        for pr, f in zip(self.priors, self.free):
            if not f:
                out.append(pr.value)
                continue
            out.append(math.exp(y[k]) if pr.log_scale else float(y[k]))
            k += 1
        return out

    def _log_prior(self, y):
        lo, hi = self.bounds
        if np.any(y < lo) or np.any(y > hi):
            return -math.inf
        lp, k = 0.0, 0
        for pr, f in zip(self.priors, self.free):
            if not f:
                continue
            if pr.kind == "normal":
                x = math.exp(y[k]) if pr.log_scale else y[k]
                lp += -0.5 * ((x - pr.mu) / pr.sigma) ** 2
            k += 1
        return lp

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
    """Posterior of the Arrhenius EA scan model (a problem for :func:`bayesmusr.sampling.sample`).

    Parameters
    ----------
    points : sequence of ScanPointData
        Runs per temperature.
    priors : mapping, optional
        Overrides for :data:`SCAN_PARAMETERS` (and ``tau_delta``), see
        :func:`bayesmusr.models.parse_prior`.
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
        Flat backgrounds per run (as in :class:`bayesmusr.models.TemperatureProblem`).
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
            declared += [FitParameter(f"dlog_delta_{j}", "1", 0.0, (-1.0, 1.0),
                                      f"log Δ_T − log Δ at T = {t:g} K", "uniform")
                         for j, t in enumerate(self.temperatures)]
        self.shared_holder = holder_fraction == "shared"
        if self.shared_holder:
            declared.append(HOLDER_PARAMETER)
        self._setup_priors(declared, priors)
        # a shared f enters the polarisation, P = (1 − f) G + f (see _polarisations); the runs then have none
        per_run = holder_fraction is True
        self.blocks = [[_nuisances(r, per_run, count_background) for r in p.runs] for p in self.points]
        # LOO scores each bin at the conditional optimum of its run's nuisances; that plug-in is optimistic
        # by about one unit of elpd per two optimised nuisances, and the KT reading optimises one f per run.
        # With a shared f the bins are therefore scored with per-run (A, α, f, β) as in the KT reading, so
        # the comparison is between the readings' physics, not their nuisance counts (on the demo scan,
        # scoring with the sampled shared f moved EA's elpd by −7.6)
        self.score_blocks = ([[_nuisances(r, True, count_background) for r in p.runs] for p in self.points]
                             if self.shared_holder else self.blocks)
        self.options = {"pooled_delta": pooled_delta, "holder_fraction": holder_fraction,
                        "count_background": count_background}

    def holder(self, x) -> float | None:
        """The shared holder fraction of physical parameters ``x`` (None unless holder_fraction="shared")."""
        return float(x[len(self.declared) - 1]) if self.shared_holder else None

    # physics per temperature
    def rates(self, x, temperatures=None):
        """ν_i(T), ν_μ(T) in μs⁻¹ for physical parameter list ``x``."""
        temps = self.temperatures if temperatures is None else np.asarray(temperatures, dtype=float)
        nu_i = 10 ** (x[0] - 6) * np.exp(-x[1] / (K_B_EV * temps))
        nu_mu = 10 ** (x[2] - 6) * np.exp(-x[3] / (K_B_EV * temps))
        return nu_i, nu_mu

    def deltas(self, x):
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

    def log_posterior(self, y):
        y = np.asarray(y, dtype=float)
        lp = self._log_prior(y)
        if not math.isfinite(lp):
            return -math.inf
        x = self._physical(y)
        if self.pooled:
            tau = x[6]
            dl = np.asarray(x[7:7 + len(self.points)])
            # log Δ_T − log Δ ~ N(0, τ²) truncated to the declared box [−1, 1]: the truncation's
            # normaliser depends on τ, so it is part of τ's likelihood (5 % at τ = 0.5)
            norm = math.erf(1.0 / (tau * math.sqrt(2.0)))
            lp += float(-0.5 * np.sum(dl**2) / tau**2 - len(dl) * math.log(tau * norm))
        try:
            gs = self._polarisations(x)
        except ValueError:  # outside the EA table's support (e.g. ω_L/Δ > 20.8)
            return -math.inf
        return self._sum_marginals(gs, lp)

    def initial_guesses(self):
        """Starting points: the declared defaults and a spread of activation parameters."""
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
        x = self._physical(y)
        vals = {p.name: v for p, v in zip(self.declared, x) if p.name in self.names}
        nu_i, nu_mu = self.rates(x)
        for j, t in enumerate(self.temperatures):
            vals[f"nu_i_T{j}"] = nu_i[j]
            vals[f"nu_mu_T{j}"] = nu_mu[j]
            if self.pooled:
                vals[f"delta_T{j}"] = self.deltas(x)[j]
        g_plain = self._relaxations(x)
        gs = self._polarisations(x, g_plain)
        pw = []
        if not self.shared_holder:
            for blocks, g_list in zip(self.blocks, gs):
                for blk, g in zip(blocks, g_list):
                    blk.marginal(g)  # conditional nuisances at this draw
                    pw.append(blk.pointwise(g))
        else:
            # bins scored with per-run conditional (A, α, f, β) on G^EA (see score_blocks in __init__); the
            # model's own optimum, with f = the shared f, is the same expectation in the per-run form
            # (A((1 − f)G + f)), so the per-run Newton starts there and only lets f move
            f = self.holder(x)
            for blocks, scores, g_list, g0_list in zip(self.blocks, self.score_blocks, gs, g_plain):
                for blk, score, g, g0 in zip(blocks, scores, g_list, g0_list):
                    if not math.isfinite(blk.marginal(g)):
                        raise ValueError("no conditional nuisance optimum at a retained posterior draw")
                    if hasattr(score, "ref"):
                        score.ref = np.array(blk.eta, dtype=float)
                        score.ref[2] = f
                        score.predictor = None
                    if math.isfinite(score.marginal(g0)):
                        pw.append(score.pointwise(g0))
                    else:  # f has no optimum of its own when G ≈ 1 (it cannot change the expectation
                        # there): the model's own nuisances, with the shared f, give the same prediction
                        pw.append(blk.pointwise(g))
        rep = self._replicas(gs, rng) if predictive else None
        return vals, np.concatenate(pw), rep

    def describe(self):
        return {
            "bayesmusr_result": "scan",
            "model": "ea_arrhenius_scan",
            "temperatures_K": self.temperatures.tolist(),
            "run_labels": [r.label for p in self.points for r in p.runs],
            "run_fields_mT": [float(r.b_lf) for p in self.points for r in p.runs],
            "run_temperatures_K": [float(p.temperature) for p in self.points for r in p.runs],
            **self._setup_description(),
            "units": [f"{p.name}: {p.unit}" for p in self.declared] + ["nu_i_T*, nu_mu_T*: μs⁻¹"],
            "likelihood": ("Poisson on forward/backward histograms (Gaussian for asymmetry runs); per-run "
                           "nuisances (A, α, f, β_F, β_B) integrated out by the Laplace method, N0 analytically"),
            "ea_support": ea_support_note([r for p in self.points for r in p.runs], self.table),
        }


# --------------------------------------------------------------- KT reading
class KTTemperatureProblem(_ProblemBase):
    """Dynamic KT (Δ_T, ν_T) of one temperature with Laplace-marginalised nuisances."""

    def __init__(self, point: ScanPointData, priors: Mapping[str, Any] | None = None, *,
                 holder_fraction: bool = True, count_background: bool = True):
        _check_points([point])
        self.points = [point]
        self.temperatures = np.array([point.temperature])
        self._setup_priors(KT_SCAN_PARAMETERS, priors)
        self.options = {"holder_fraction": holder_fraction, "count_background": count_background}
        self.blocks = [[_nuisances(r, holder_fraction, count_background) for r in point.runs]]

    def _polarisations(self, x):
        return [[relaxation("dynamic_kt", r.t, r.b_lf, (x[0], x[1])) for r in self.points[0].runs]]

    def log_posterior(self, y):
        y = np.asarray(y, dtype=float)
        lp = self._log_prior(y)
        if not math.isfinite(lp):
            return -math.inf
        return self._sum_marginals(self._polarisations(self._physical(y)), lp)

    def initial_guesses(self):
        out = []
        for d in (0.1, 0.3, 0.6):
            for nu in (0.01, 0.1, 1.0, 5.0):
                out.append(np.array([math.log(d), math.log(nu)])[: self.ndim])
        return out

    def posterior_extras(self, y, rng, predictive):
        x = self._physical(y)
        vals = {p.name: v for p, v in zip(self.declared, x) if p.name in self.names}
        gs = self._polarisations(x)
        pw = []
        for blk, g in zip(self.blocks[0], gs[0]):
            blk.marginal(g)
            pw.append(blk.pointwise(g))
        return vals, np.concatenate(pw), (self._replicas(gs, rng) if predictive else None)

    def describe(self):
        return {"bayesmusr_result": "temperature", "model": "dynamic_kt",
                "temperature_K": float(self.temperatures[0]),
                "run_labels": [r.label for r in self.points[0].runs],
                "run_fields_mT": [float(r.b_lf) for r in self.points[0].runs],
                **self._setup_description(),
                "likelihood": "as the EA scan model (Laplace-marginalised nuisances)"}


# ------------------------------------------------- one temperature, any model
class TemperaturePointProblem(_ProblemBase):
    """One temperature, one model (static KT, dynamic KT or EA), with Laplace-marginalised nuisances.

    The one-temperature counterpart of :class:`ScanProblem`: the runs of the
    point share the physics parameters ``PHYSICS_PARAMETERS[model]`` of
    :mod:`bayesmusr.models` (the only sampled ones); every run's nuisances are
    integrated out as described in the module docstring.  Used by
    :func:`bayesmusr.sampling.fit_temperature` through
    :class:`bayesmusr.sampling.MarginalAdapter`, which adds the outputs.
    """

    def __init__(self, point: ScanPointData, model: str = "ea", priors: Mapping[str, Any] | None = None, *,
                 holder_fraction: bool = True, count_background: bool = True, table=None):
        from .models import PHYSICS_PARAMETERS, canonical_model

        if not point.runs:
            raise ValueError("a temperature needs at least one run")
        self.model = canonical_model(model)
        self.points = [point]
        self.temperatures = np.array([point.temperature])
        self.table = table
        self._setup_priors(PHYSICS_PARAMETERS[self.model], priors)
        self.blocks = [[_nuisances(r, holder_fraction, count_background) for r in point.runs]]
        self.options = {"holder_fraction": holder_fraction, "count_background": count_background}

    def _polarisations(self, x):
        return [[relaxation(self.model, r.t, r.b_lf, x, table=self.table) for r in self.points[0].runs]]

    def log_posterior(self, y):
        y = np.asarray(y, dtype=float)
        lp = self._log_prior(y)
        if not math.isfinite(lp):
            return -math.inf
        try:
            gs = self._polarisations(self._physical(y))
        except ValueError:  # outside the EA table's support (e.g. ω_L/Δ > 20.8)
            return -math.inf
        return self._sum_marginals(gs, lp)

    def initial_guesses(self):
        """A grid of physics values (Δ, rates, Q), clipped into the prior bounds."""
        import itertools

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


__all__ = ["SCAN_PARAMETERS", "KT_SCAN_PARAMETERS", "ScanPointData", "ScanProblem", "KTTemperatureProblem",
           "TemperaturePointProblem", "HistogramNuisances", "AsymmetryNuisances"] 
