"""Run nuisances integrated out by the Laplace method: one block per run.

Definition
----------
Each histogram run has nuisances (A, ρ = 1/α, f, β_F, β_B) and N0; N0 is integrated out
analytically (prior 1/N0) and the others by the Laplace method around their conditional
optimum given the physics (a damped Newton solve in the compiled kernel).  The solve runs in
unbounded coordinates z (logit of the position inside each nuisance's default prior bounds,
on log ρ for the log-uniform α), so the Laplace integral is over the declared prior and every
optimum and conditional draw is inside the declared support (:mod:`bayesmusr.model.parameters`).
Asymmetry runs have linear nuisances (a1 = A(1 − f), a2 = A f) whose Gaussian marginal is exact.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from bayesmusr.model.forward import histogram_shapes, polarisation
from bayesmusr.model.parameters import A0, ALPHA, BASE, BGB, BGF, FBG, from_unbounded, to_unbounded
from bayesmusr.model.rundata import RunData
from bayesmusr.physics import _kernels

__all__ = ["HistogramNuisances", "AsymmetryNuisances", "make_nuisances"]


#: `_kernels.laplace_newton` without a predicted first step
_NO_PREDICTOR = np.zeros((0, 0))
#: prior bounds of (A, ρ = 1/α, f, β_F, β_B), from the declarations; ρ is log-uniform as α is
LO = np.array([A0.bounds[0], 1.0 / ALPHA.bounds[1], FBG.bounds[0], BGF.bounds[0], BGB.bounds[0]])
HI = np.array([A0.bounds[1], 1.0 / ALPHA.bounds[0], FBG.bounds[1], BGF.bounds[1], BGB.bounds[1]])
LOGK = np.array([p.prior == "loguniform" for p in (A0, ALPHA, FBG, BGF, BGB)])


class HistogramNuisances:
    """Laplace marginal over (A, ρ, f, β_F, β_B) of one histogram run, N0 integrated out.

    With the forward model (:mod:`bayesmusr.model.forward`) s_F = d(1 + A P) + β_F,
    s_B = ρ d(1 − A P) + β_B, P = (1 − f) G + f and ρ = 1/α, the N0-marginal log-likelihood
    (prior 1/N0) is ℓ = Σ n log s − N log Σs + log Γ(N) − Σ log n!.  ρ is the parameter here
    because the shapes are linear in it.  The Newton solve and the Laplace determinant are in
    z, the logit of each nuisance's position inside its default prior bounds (:data:`LO`,
    :data:`HI`), so the marginal is over the declared prior and every η is inside it.
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
        bg = count_background and run.count_background
        self.free = np.array([True, run.alpha is None, holder_fraction, bg, bg])
        # values of the entries that are not free: ρ = 1/α when the set-up fixes α, f = 0, no backgrounds
        self.fixed = np.array([0.0, 0.0 if run.alpha is None else 1.0 / run.alpha, 0.0, 0.0, 0.0])
        self.eta = None  # conditional optimum of the last evaluation (for pointwise terms)
        self.z = None  # the same in unbounded coordinates
        self.ref = None  # fixed Newton start (z), set at the first evaluation
        self.predictor = None  # A⁻¹ at the reference (quasi-Newton first step), set with ref

    def _start(self, g=None):
        """Starting nuisances from the relaxed linear problem.

        Fitted separately, each histogram is linear in the columns [d, dG, 1]
        (since 1 + A P = (1 + A f) + A(1 − f) G); weighted least squares on F
        and B gives A(1 − f), A f, ρ = 1/α and the backgrounds, clipped into the
        prior bounds.
        """
        bg = 1e-3 if self.free[3] else 0.0
        rho = float(self.nb.sum() / max(self.nf.sum(), 1.0))  # ρ = 1/α ≈ ΣB/ΣF
        fallback = np.array([0.2, rho, 0.05 if self.free[2] else 0.0, bg, bg])
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
        rho = cb[0] / (1.0 - v) / n0f
        # backgrounds start at ≥ 0: a negative relaxed estimate can make the shapes ≤ 0 in late, nearly
        # empty bins (seen on EMU00020882, 32 μs of data: ℓ = −inf at the start)
        bf = max(cf[2] / n0f, 0.0) if self.free[3] else 0.0
        bb = max(cb[2] / n0f, 0.0) if self.free[3] else 0.0
        return self._inside(np.array([a, rho, f, bf, bb]))

    @staticmethod
    def _inside(eta):
        """``eta`` moved at least 1 % of each prior range away from its edges (|z| ≤ 4.6): a Newton start."""
        margin = 0.01 * (HI - LO)
        return np.clip(eta, LO + margin, HI - margin)

    @property
    def alpha(self) -> float:
        """α of the last conditional optimum (= 1/ρ)."""
        return 1.0 / self.eta[1]

    def to_z(self, eta) -> np.ndarray:
        """Unbounded coordinates of nuisances ``eta`` (strictly inside the prior bounds).

        Parameters
        ----------
        eta : array_like
            η = (A, ρ = 1/α, f, β_F, β_B); edge values are moved 1e-9 of the range inside.

        Returns
        -------
        ndarray
            z, shape (5,): logit of the position inside [LO, HI] (on log ρ); 0 where not free.
        """
        margin = 1e-9 * (HI - LO)  # an edge value (f = 0) maps to a large but finite z
        return np.where(self.free, to_unbounded(np.clip(eta, LO + margin, HI - margin), LO, HI, LOGK), 0.0)

    def shapes(self, g, eta):
        """Expected counts per unit N0, (s_F, s_B), at nuisances ``eta`` = (A, ρ, f, β_F, β_B).

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        eta : array_like
            Shape (5,), physical values.

        Returns
        -------
        (ndarray, ndarray)
            s_F and s_B per bin.
        """
        a, rho, f, bf, bb = eta
        return histogram_shapes(self.d, a * polarisation(g, f), 1.0 / rho, bf, bb)

    def _solve(self, g, z, predictor):
        return _kernels.laplace_newton(self.d, g, self.nf, self.nb, z, self.free, self.fixed, LO, HI, LOGK, predictor)

    def log_density(self, g, z) -> float:
        """ℓ(η(z)) + log prior density in z (the integrand of :meth:`marginal`), constants included.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        z : array_like
            Shape (5,), unbounded coordinates (entries that are not free are ignored).

        Returns
        -------
        float
        """
        return _kernels.terms_unbounded(self.d, g, self.nf, self.nb, np.asarray(z, dtype=float), self.free,
                                        self.fixed, LO, HI, LOGK, 0)[0] + self.const

    def hessian(self, g, z):
        """Hessian of ℓ + log prior in z over the free nuisances at ``z``.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        z : ndarray
            Shape (5,), unbounded coordinates.

        Returns
        -------
        ndarray
            Shape (k, k), k = number of free nuisances.
        """
        _, _, hess, _ = _kernels.terms_unbounded(self.d, g, self.nf, self.nb, z, self.free, self.fixed, LO, HI,
                                                 LOGK, 1)
        idx = np.flatnonzero(self.free)
        return hess[np.ix_(idx, idx)]

    def set_reference(self, eta) -> None:
        """Fix the Newton start at nuisances ``eta`` (no predicted step) for the following calls.

        Parameters
        ----------
        eta : array_like
            η = (A, ρ, f, β_F, β_B), physical values.
        """
        self.ref = self.to_z(np.asarray(eta, dtype=float))
        self.predictor = None

    def marginal(self, g):
        """Laplace log-marginal over the free nuisances for polarisation ``g``.

        Damped Newton iterations start from a *fixed* reference z_ref (the converged optimum of
        the first call) moved by one quasi-Newton step with the reference's inverse Hessian, and
        run to a predicted gain below 1e-9, so the result is a deterministic, smooth function of
        the physics (a sampler and a finite-difference optimiser both need that); the Hessian of
        the last point gives the determinant.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.

        Returns
        -------
        float
            log p(run | G), −inf without an optimum; the optimum is left in ``eta`` and ``z``.
        """
        if self.ref is None:  # anchor: the converged optimum of the first evaluation
            first = self._marginal_full(g)
            if not math.isfinite(first):
                return first
            self.ref = self.z.copy()
            self.predictor = self._predictor(g, self.ref)
            # this call too goes the way of every later one (from ref, predictor first), so that
            # the same G always gives the same value, bit for bit
        return self._marginal_full(g, self.ref, self.predictor)

    def _predictor(self, g, z):
        """A⁻¹ = (−Hessian)⁻¹ over the free nuisances at ``z`` embedded in 5 × 5 (None if not positive definite)."""
        idx = np.flatnonzero(self.free)
        out = np.zeros((5, 5))
        try:
            a = -self.hessian(g, z)
            np.linalg.cholesky(a)
            out[np.ix_(idx, idx)] = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            return None
        return out

    def _marginal_full(self, g, start=None, predictor=None):
        """Damped Newton (Levenberg-Marquardt) Laplace solve from ``start`` (default: the relaxed fit)."""
        for first, pred in self._starts(g, start, predictor):
            val, z, eta, logdet, ok = self._solve(g, first, pred)  # the kernel copies its start
            if ok:
                self.z, self.eta = z, eta
                k = int(self.free.sum())
                return val + self.const + 0.5 * k * math.log(2 * math.pi) - 0.5 * logdet
        return -math.inf

    def _starts(self, g, start, predictor):
        """The Newton starts, in a fixed order (so the result stays a deterministic function of G).

        The reference with its quasi-Newton step, the reference alone (the predicted start can land
        where the damped Newton stalls: seen once on a short-chain FAST scan), then the relaxed linear
        fit, then a plain start (the relaxed fit can put (A, ρ, f) on their edges when G is far from
        the data).  A generator: the fallback starts are built only when reached, as they cost more
        than a converging solve (two weighted least-squares fits; profiled at 28 % of a scan's
        log-posterior when built eagerly).
        """
        if start is not None:
            start = np.asarray(start, dtype=float)
            if predictor is not None:
                yield start, predictor
            yield start, _NO_PREDICTOR
        yield self.to_z(self._start(g)), _NO_PREDICTOR
        yield self.to_z(self._inside(self._start(None))), _NO_PREDICTOR

    def conditional_draw(self, g, rng) -> np.ndarray:
        """Nuisances drawn from their Laplace conditional at ``g``: Gaussian in z, so always inside the prior.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        rng : numpy.random.Generator

        Returns
        -------
        ndarray
            η = (A, ρ, f, β_F, β_B), shape (5,); entries that are not free at their fixed values (0).
        """
        if not math.isfinite(self.marginal(g)):
            raise ValueError(f"run {self.run.label!r}: no conditional nuisance optimum at a retained posterior draw")
        idx = np.flatnonzero(self.free)
        chol = np.linalg.cholesky(-self.hessian(g, self.z))
        z = self.z.copy()
        z[idx] += np.linalg.solve(chol.T, rng.standard_normal(idx.size))
        eta = np.where(self.free, from_unbounded(z, LO, HI, LOGK), self.fixed)
        return eta

    def _profiled(self, g, eta):
        """Shapes s_F, s_B at ``eta`` and the profiled N0 = Σn / Σs."""
        sf, sb = self.shapes(g, eta)
        return sf, sb, self.n_total / (sf.sum() + sb.sum())

    def pointwise(self, g, eta=None):
        """Per-bin Poisson log-likelihood at the conditional nuisances and profiled N0.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        eta : array_like, optional
            η = (A, ρ, f, β_F, β_B); default the optimum of the last :meth:`marginal`.

        Returns
        -------
        ndarray
            Shape (2 n_obs,): forward bins, then backward bins.
        """
        sf, sb, n0 = self._profiled(g, self.eta if eta is None else eta)
        mf, mb = n0 * sf, n0 * sb
        return np.concatenate([self.nf * np.log(mf) - mf - gammaln(self.nf + 1),
                               self.nb * np.log(mb) - mb - gammaln(self.nb + 1)])

    def replicate(self, g, rng):
        """Poisson replica of the forward then backward counts at the conditional nuisances.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        rng : numpy.random.Generator

        Returns
        -------
        ndarray
            Counts, shape (2 n_obs,).
        """
        sf, sb, n0 = self._profiled(g, self.eta)
        return np.concatenate([rng.poisson(n0 * sf), rng.poisson(n0 * sb)]).astype(float)

    def asymmetry(self, g):
        """A·P(t) at the current nuisances, for plots (backgrounds left out).

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.

        Returns
        -------
        ndarray
        """
        return self.eta[0] * polarisation(g, self.eta[2])

    def observed_asymmetry(self, g):
        """(F − αB)/(F + αB) after subtracting the fitted flat backgrounds, and its first-order error.

        With the current nuisances (α = 1/ρ, β_F, β_B) and the profiled N0 at polarisation
        ``g``, the background-free counts F' = F − N0 β_F, B' = B − N0 β_B give an asymmetry
        whose expectation is :meth:`asymmetry` (late bins, where the backgrounds dominate,
        would otherwise fall towards the background's own asymmetry).

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.

        Returns
        -------
        asymmetry, error : ndarray
            Per bin; NaN where nothing is left after the subtraction.
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
        """Exact log-marginal over (a1, a2) (flat, unbounded priors); the optimum is left in ``eta``.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.

        Returns
        -------
        float
        """
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

    def conditional_draw(self, g, rng, tries: int = 1000) -> np.ndarray:
        """(a1, a2) drawn from their exact conditional: the Gaussian truncated to the declared prior bounds.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        rng : numpy.random.Generator
        tries : int
            Rejection attempts before a ValueError.

        Returns
        -------
        ndarray
            (a1, a2); a2 = 0 without a holder fraction.
        """
        if not math.isfinite(self.marginal(g)):
            raise ValueError(f"run {self.run.label!r}: no conditional optimum")
        x = np.stack([g, np.ones_like(g)], axis=1) if self.holder else g[:, None]
        chol = np.linalg.cholesky((x.T * self.w) @ x)
        lo, hi = np.array([A0.bounds[0], BASE.bounds[0]]), np.array([A0.bounds[1], BASE.bounds[1]])
        for _ in range(tries):
            eta = self.eta.copy()
            eta[: x.shape[1]] += np.linalg.solve(chol.T, rng.standard_normal(x.shape[1]))
            if np.all((eta >= lo) & (eta <= hi)):
                return eta
        raise ValueError(f"run {self.run.label!r}: the asymmetry amplitude and baseline lie outside their declared "
                         f"bounds a0 {A0.bounds}, base {BASE.bounds}")

    def pointwise(self, g, eta=None):
        """Per-bin Gaussian log-density of the asymmetry at (a1, a2).

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        eta : array_like, optional
            (a1, a2); default the optimum of the last :meth:`marginal`.

        Returns
        -------
        ndarray
            Shape (n_obs,).
        """
        a1, a2 = self.eta if eta is None else eta
        r = self.run.asymmetry - (a1 * g + a2)
        return -0.5 * r**2 * self.w - 0.5 * np.log(2 * math.pi * self.run.error**2)

    def replicate(self, g, rng):
        """Gaussian replica of the asymmetry at the current (a1, a2).

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.
        rng : numpy.random.Generator

        Returns
        -------
        ndarray
            Shape (n_obs,).
        """
        a1, a2 = self.eta
        return a1 * g + a2 + self.run.error * rng.standard_normal(g.size)

    def asymmetry(self, g):
        """a1·G + a2 at the current nuisances (A·P(t) with a1 = A(1 − f), a2 = A f), for plots.

        Parameters
        ----------
        g : ndarray
            Relaxation G(t) of the run, one value per bin.

        Returns
        -------
        ndarray
        """
        return self.eta[0] * g + self.eta[1]

    def observed_asymmetry(self, g=None):
        """The run's asymmetry and its errors, as stored (``g`` unused: same call as the histogram block).

        Parameters
        ----------
        g : ndarray, optional
            Ignored.

        Returns
        -------
        asymmetry, error : ndarray
        """
        return self.run.asymmetry, self.run.error

    @property
    def n_obs(self):
        return self.run.n_obs


def _wls(x, counts):
    """Weighted least squares of counts on columns x with Poisson weights 1/max(n, 1)."""
    w = 1.0 / np.maximum(counts, 1.0)
    xt = x.T * w
    return np.linalg.solve(xt @ x, xt @ counts)


def make_nuisances(run, holder_fraction, count_background):
    """The nuisance block of a run: :class:`HistogramNuisances` or :class:`AsymmetryNuisances`.

    Parameters
    ----------
    run : RunData
        The run; its ``kind`` picks the block.
    holder_fraction : bool
        Integrate out the holder fraction f (histograms) or the constant a2 (asymmetry).
    count_background : bool
        Integrate out flat backgrounds β_F, β_B (histogram runs only).

    Returns
    -------
    HistogramNuisances or AsymmetryNuisances
    """
    if run.kind == "histograms":
        return HistogramNuisances(run, holder_fraction, count_background)
    return AsymmetryNuisances(run, holder_fraction)


