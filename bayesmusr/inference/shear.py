"""Sheared sampling coordinates for a rate whose small values do not matter (issue 19).

The posterior of a one-temperature EA fit is a hockey stick.  Below ν_μ ≈ 0.01 μs⁻¹ the data
cannot tell the muon jump rate from zero, so under its log-uniform prior log ν_μ has a plateau
down to the prior's edge, where Δ, ν_i and Q do not depend on it; above, Q falls and ν_i and
Δ rise *linearly in ν_μ* (measured on the ``bench_fit`` posteriors: Q ≈ 0.839 − 0.51 ν_μ from
ν_μ = 0.001 to 0.17 μs⁻¹).  In the sampled coordinates (log ν_μ) that line is an exponential
bend, and emcee's affine-invariant moves cross it slowly: τ_max 45–100 steps, Q the slowest.

Sampling y'_j = y_j − b_j·r instead, with r = exp(y_m) the rate itself, straightens the bend:
the other coordinates no longer move with r.  The map is triangular with unit diagonal, so its
Jacobian is 1 and the posterior density in y' is the same function, no correction needed.  The
slopes b come from the log-posterior's curvature at the MAP in coordinates where r is linear:
b = −H_oo⁻¹ H_or, the conditional mean's change per unit r of a Gaussian with that Hessian.
Measured on the bench_fit EA data: b = (0.28, 1.79, −0.48) for (log Δ, log ν_i, Q) against
(0.31, 2.32, −0.51) from a regression over the posterior draws; τ_max fell from 87–100 to
15–18 steps on the two slowest seeds.

A problem opts in by naming the rate's index in ``shear_rate`` (a log coordinate); the sampler
(:func:`bayesmusr.inference.sampling.run_chain`) finds the slopes after the MAP, samples the
:class:`ShearedProblem`, stores the slopes in the emcee backend (a resumed chain keeps them) and
returns the chain in the problem's own coordinates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Shear", "ShearedProblem", "LinearRate", "shear_from_hessian"]


@dataclass(frozen=True)
class Shear:
    """y' = y − b·exp(y_m): the sampled coordinates (``b[m]`` = 0, so y'_m = y_m)."""

    m: int
    b: np.ndarray

    def to_sampled(self, y: np.ndarray) -> np.ndarray:
        """Problem coordinates → sampled coordinates (any leading shape; the last axis is ndim).

        Parameters
        ----------
        y : ndarray

        Returns
        -------
        ndarray
        """
        y = np.asarray(y, dtype=float)
        return y - np.exp(y[..., self.m])[..., None] * self.b

    def to_problem(self, yp: np.ndarray) -> np.ndarray:
        """Sampled coordinates → problem coordinates (any leading shape; the last axis is ndim).

        Parameters
        ----------
        yp : ndarray

        Returns
        -------
        ndarray
        """
        yp = np.asarray(yp, dtype=float)
        return yp + np.exp(yp[..., self.m])[..., None] * self.b

    def describe(self, names) -> str:
        """The shear in words, for the result's attributes.

        Parameters
        ----------
        names : sequence of str
            Sampled parameter names.

        Returns
        -------
        str
        """
        terms = ", ".join(f"{n} {v:+.4g}" for n, v in zip(names, self.b) if v != 0.0)
        return f"sampled y_j - b_j exp(y_{names[self.m]}) with b: {terms}"


class ShearedProblem:
    """A problem's log-posterior in sheared coordinates (only what emcee evaluates)."""

    def __init__(self, problem, shear: Shear):
        self.problem, self.shear = problem, shear
        self.ndim, self.names = problem.ndim, problem.names
        # exp(y_m) beyond the prior's upper edge is outside the support anyway (and could overflow)
        self._y_max = float(problem.bounds[1][shear.m])

    def log_posterior(self, yp) -> float:
        """log p at the sampled point ``yp`` (−inf outside the support).

        Parameters
        ----------
        yp : ndarray, shape (ndim,)

        Returns
        -------
        float
        """
        if not yp[self.shear.m] <= self._y_max:
            return -math.inf
        return self.problem.log_posterior(self.shear.to_problem(yp))


class LinearRate:
    """A problem's log-posterior in coordinates x = y except x_m = exp(y_m): the rate itself, linear.

    The sampler differentiates it at the MAP (:func:`bayesmusr.inference.sampling.run_chain`) and
    :func:`shear_from_hessian` turns that Hessian into the shear.
    """

    def __init__(self, problem, m: int):
        self.problem, self.m = problem, m

    def point(self, y: np.ndarray) -> np.ndarray:
        """x of the sampling point ``y``.

        Parameters
        ----------
        y : ndarray

        Returns
        -------
        ndarray
        """
        x = np.array(y, dtype=float)
        x[self.m] = math.exp(y[self.m])
        return x

    def steps(self, y: np.ndarray, sd: np.ndarray) -> np.ndarray | None:
        """Central-difference steps at ``y``: half the Laplace SD ``sd``; for the rate also at most 40 % of
        its distance to the prior's lower edge, so that every stencil point stays inside (None if none fits).

        Parameters
        ----------
        y, sd : ndarray
            Sampling point and Laplace standard deviations (sampling coordinates).

        Returns
        -------
        ndarray or None
        """
        r = math.exp(y[self.m])
        h = 0.5 * np.array(sd, dtype=float)
        h[self.m] = min(0.4 * (r - math.exp(self.problem.bounds[0][self.m])), 0.5 * r * sd[self.m])
        return h if np.all(np.isfinite(h)) and np.all(h > 0) else None

    def log_posterior(self, x) -> float:
        """log p at ``x``.

        Parameters
        ----------
        x : ndarray

        Returns
        -------
        float
        """
        y = np.array(x, dtype=float)
        y[self.m] = math.log(x[self.m]) if x[self.m] > 0 else -math.inf
        return self.problem.log_posterior(y)


def shear_from_hessian(H: np.ndarray, m: int) -> Shear | None:
    """The shear b = −H_oo⁻¹ H_om from the Hessian ``H`` of :class:`LinearRate` (None unless H_oo < 0).

    Parameters
    ----------
    H : ndarray, shape (ndim, ndim)
        Hessian of log p in linear-rate coordinates at the MAP.
    m : int
        The rate's index.

    Returns
    -------
    Shear or None
        None if the curvature of the other coordinates is not negative definite or not finite
        (the chain is then sampled in the problem's own coordinates).
    """
    others = [j for j in range(H.shape[0]) if j != m]
    block = H[np.ix_(others, others)]
    if not np.all(np.isfinite(H[others][:, others])) or not np.all(np.isfinite(H[others, m])):
        return None
    try:
        np.linalg.cholesky(-block)
    except np.linalg.LinAlgError:
        return None
    b = np.zeros(H.shape[0])
    b[others] = -np.linalg.solve(block, H[others, m])
    return Shear(m, b) if np.all(np.isfinite(b)) else None
