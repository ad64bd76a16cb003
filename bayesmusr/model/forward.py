"""The forward model, written once: physics and nuisances → polarisation → expected counts or asymmetry.

Definition
----------
For a run with relaxation G(t; θ, B) (:func:`relaxation`) the muon polarisation is

    P(t) = (1 − f) G(t) e^{−λt} + f                                   (:func:`polarisation`)

with f the non-relaxing (sample-holder) fraction and λ an optional extra relaxation.
Per run kind:

* forward/backward histogram pair (:func:`histogram_shapes`), counts per unit N0
  μ_F/N0 = d (1 + A P) + β_F,  μ_B/N0 = d (1 − A P)/α + β_B,
  with d the bin-averaged muon decay (:func:`bin_decay`) and α bayesmusr's balance of
  A = (F − αB)/(F + αB) (musrfit's α is its inverse);
* exported asymmetry (:func:`asymmetry_shape`): A G e^{−λt} + c, the constant c standing for A f
  and the offset an imperfect α leaves.

The likelihoods, LOO pointwise terms, posterior-predictive replicas, the report's bands and
the simulator all call these functions (the Laplace kernel in ``physics/_kernels.py`` is
their compiled twin, tested against them).  Arrhenius rates: :func:`bayesmusr.physics.arrhenius`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bayesmusr.physics.constants import MUON_LIFETIME
from bayesmusr.physics.kt import dynamic_kt, static_kt
from bayesmusr.physics.tables import ea

__all__ = ["relaxation", "polarisation", "bin_decay", "histogram_shapes", "asymmetry_shape"]


def relaxation(model: str, t: np.ndarray, b_lf: float, theta: Sequence[float], table=None) -> np.ndarray:
    """G(t) of a model for physics parameters ``theta`` (in the order of ``PHYSICS_PARAMETERS[model]``).

    Parameters
    ----------
    model : str
        ``static_kt``, ``dynamic_kt`` or ``ea``.
    t : ndarray
        Times in μs.
    b_lf : float
        Longitudinal field in mT.
    theta : sequence of float
        Δ (μs⁻¹); then ν (dynamic KT) or ν_i, ν_μ (μs⁻¹), Q (EA).
    table : path, optional
        EA table (default: the shipped one).

    Returns
    -------
    ndarray
        G(t).  Raises ValueError outside the EA table.
    """
    if model == "static_kt":
        return static_kt(t, theta[0], b_lf)
    if model == "dynamic_kt":
        return dynamic_kt(t, theta[0], theta[1], b_lf)
    if model == "ea":
        return ea(t, theta[0], theta[1], theta[2], theta[3], b_lf, table=table)
    raise ValueError(f"unknown model {model!r}")


def polarisation(g: np.ndarray, fbg: float = 0.0, lam: float = 0.0, t: np.ndarray | None = None) -> np.ndarray:
    """P(t) = (1 − f) G(t) e^{−λt} + f.

    Parameters
    ----------
    g : ndarray
        Relaxation function G(t).
    fbg : float
        Non-relaxing fraction f (0–1).
    lam : float
        Extra exponential relaxation λ in μs⁻¹ (needs ``t``).
    t : ndarray, optional
        Times in μs (only used when λ ≠ 0).

    Returns
    -------
    ndarray
    """
    p = g * np.exp(-lam * t) if lam != 0.0 else g
    return (1.0 - fbg) * p + fbg if fbg != 0.0 else p


def bin_decay(t: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Muon decay averaged over each bin, d_i = e^{−t_i/τ} (2τ/w_i) sinh(w_i/2τ) (1 at t = 0).

    Parameters
    ----------
    t, width : ndarray
        Bin centres and widths in μs.

    Returns
    -------
    ndarray
    """
    x = np.asarray(width, dtype=float) / (2 * MUON_LIFETIME)
    return np.exp(-np.asarray(t, dtype=float) / MUON_LIFETIME) * np.sinh(x) / x


def histogram_shapes(decay, asym_pol, alpha, bg_forward=0.0, bg_backward=0.0):
    """Expected forward/backward counts per unit N0: d (1 + A P) + β_F and d (1 − A P)/α + β_B.

    Parameters
    ----------
    decay : ndarray
        Bin-averaged muon decay d_i (:func:`bin_decay`).
    asym_pol : ndarray
        A·P(t_i).
    alpha : float
        Detector balance α of A = (F − αB)/(F + αB) (bayesmusr's convention; musrfit's α is 1/α).
    bg_forward, bg_backward : float
        Flat backgrounds per bin in units of N0.

    Returns
    -------
    (ndarray, ndarray)
    """
    dp = decay * asym_pol
    return decay + dp + bg_forward, (decay - dp) / alpha + bg_backward


def asymmetry_shape(a0: float, g: np.ndarray, base: float = 0.0) -> np.ndarray:
    """Model of an exported asymmetry, A·G + c (G may already carry e^{−λt}).

    Parameters
    ----------
    a0 : float
        Amplitude A of the relaxing part.
    g : ndarray
        Relaxation (times any extra exponential).
    base : float
        Constant baseline c.

    Returns
    -------
    ndarray
    """
    return a0 * g + base
