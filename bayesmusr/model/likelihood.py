"""Likelihoods of μSR spectra: Poisson on grouped histograms, Gaussian on asymmetry.

Arrays only (no xarray).  Every total has a pointwise (per-bin) companion whose
sum equals it, for LOO/WAIC.

Poisson (the reference)
    log L = Σ_i [n_i log μ_i − μ_i − log n_i!]; ``log n!`` = lgamma(n + 1), so
    dead-time-corrected (non-integer) counts are accepted.
Poisson with the normalisation integrated out
    If μ_i = N0 m_i and N0 has the scale-invariant prior 1/N0,
    log ∫ Π_i Pois(n_i | N0 m_i) dN0/N0
    = Σ n_i log m_i − n log M + lgamma(n) − Σ log n_i!,  n = Σ n_i, M = Σ m_i,
    and N0 | rest ~ Gamma(shape n, rate M).  As a function of the other
    parameters this equals the Poisson likelihood profiled over N0 (up to a
    constant), so its maximum is the maximum-likelihood point.
Gaussian (asymmetry-only data)
    log L = Σ_i [−½ ((y_i − a_i)/σ_i)² − log σ_i − ½ log 2π].
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

__all__ = [
    "poisson_loglike",
    "poisson_pointwise",
    "poisson_scale_marginal",
    "gaussian_loglike",
    "gaussian_pointwise",
    "log_factorial_sum",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def log_factorial_sum(counts: np.ndarray) -> float:
    """Σ log n_i! (lgamma(n + 1)); precompute it once per dataset.

    Parameters
    ----------
    counts : array_like
        Counts n_i ≥ 0 (non-integer, dead-time-corrected counts allowed).

    Returns
    -------
    float
    """
    return float(np.sum(gammaln(np.asarray(counts, dtype=float) + 1.0)))


def _check_pair(a, b, na, nb):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"{na} and {nb} must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def poisson_pointwise(counts, expected) -> np.ndarray:
    """Per-bin Poisson log-probability n log μ − μ − log n!.

    Parameters
    ----------
    counts : array_like
        Observed counts n ≥ 0.
    expected : array_like
        Expected counts μ > 0 (μ = 0 is allowed where n = 0).

    Returns
    -------
    ndarray
        Same shape as ``counts``; −inf where μ ≤ 0 < n.
    """
    n, mu = _check_pair(counts, expected, "counts", "expected")
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n > 0, n * np.log(np.where(mu > 0, mu, 1.0)), 0.0)
    out = term - mu - gammaln(n + 1.0)
    bad = (mu <= 0) & (n > 0) | (mu < 0)
    if np.any(bad):
        out = np.where(bad, -np.inf, out)
    return out


def poisson_loglike(counts, expected, log_factorials: float | None = None) -> float:
    """Total Poisson log-likelihood Σ [n log μ − μ − log n!].

    Parameters
    ----------
    counts, expected : array_like
        As in :func:`poisson_pointwise`.
    log_factorials : float, optional
        Precomputed :func:`log_factorial_sum` of ``counts``.

    Returns
    -------
    float
        −inf where some μ ≤ 0 < n.
    """
    n, mu = _check_pair(counts, expected, "counts", "expected")
    if np.any(mu <= 0):
        return float(np.sum(poisson_pointwise(n, mu)))
    lf = log_factorial_sum(n) if log_factorials is None else log_factorials
    return float(np.dot(n, np.log(mu)) - mu.sum() - lf)


def poisson_scale_marginal(counts, shape, log_factorials: float | None = None) -> float:
    """Poisson log-likelihood with a common scale N0 integrated out (prior 1/N0).

    Parameters
    ----------
    counts : ndarray
        Observed counts n_i.
    shape : ndarray
        m_i > 0 with μ_i = N0 m_i.
    log_factorials : float, optional
        Precomputed Σ log n_i!.

    Returns
    -------
    float
        Σ n_i log m_i − n log Σm + lgamma(n) − Σ log n_i!  (−inf if some m_i ≤ 0).
    """
    n = counts
    m = shape
    if m.min() <= 0.0:
        return -math.inf
    ntot = n.sum()
    if ntot <= 0:
        raise ValueError("counts: the marginal over N0 needs at least one count")
    lf = log_factorial_sum(n) if log_factorials is None else log_factorials
    return float(np.dot(n, np.log(m)) - ntot * math.log(m.sum()) + math.lgamma(ntot) - lf)


def gaussian_pointwise(y, model, sigma) -> np.ndarray:
    """Per-point Gaussian log-density −½((y − a)/σ)² − log σ − ½ log 2π.

    Parameters
    ----------
    y : array_like
        Observed asymmetry.
    model : array_like
        Model asymmetry a, same shape as ``y``.
    sigma : array_like or float
        Standard errors σ > 0 (broadcast to ``y``).

    Returns
    -------
    ndarray
        Same shape as ``y``.
    """
    y, a = _check_pair(y, model, "y", "model")
    s = np.broadcast_to(np.asarray(sigma, dtype=float), y.shape)
    if np.any(s <= 0):
        raise ValueError("sigma: the asymmetry errors must be > 0")
    r = (y - a) / s
    return -0.5 * r * r - np.log(s) - _HALF_LOG_2PI


def gaussian_loglike(y, model, sigma) -> float:
    """Total Gaussian log-likelihood (sum of :func:`gaussian_pointwise`).

    Parameters
    ----------
    y, model, sigma : array_like
        As in :func:`gaussian_pointwise`; shapes and σ > 0 are not checked.

    Returns
    -------
    float
    """
    y = np.asarray(y, dtype=float)
    s = np.asarray(sigma, dtype=float)
    r = (y - model) / s
    return float(-0.5 * np.dot(r, r) - np.sum(np.log(s)) - y.size * _HALF_LOG_2PI)
