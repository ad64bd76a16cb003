"""Public relaxation functions: the Gaussian Kubo-Toyabe family.

Units (as everywhere, docs/concepts.md): t in μs, Δ and ν in μs⁻¹ (= MHz, as in musrfit), the
longitudinal field ``b_lf`` in mT, converted with ω_L = γ_μ B,
γ_μ/2π = 135.5388 MHz/T (ω_L = 0.851616 μs⁻¹ per mT).

Definitions
-----------
static_kt
    ZF: G(t) = 1/3 + 2/3 (1 − Δ²t²) exp(−Δ²t²/2).
    LF (Hayano et al. 1979): G(t) = 1 − (2Δ²/ω²)[1 − e^{−Δ²t²/2} cos ωt]
    + (2Δ⁴/ω³) ∫_0^t e^{−Δ²τ²/2} sin ωτ dτ.  The integral is evaluated through
    the Faddeeva function (scipy.special.wofz) for ω/Δ ≥ 0.5 and by a power
    series in (ω/Δ)² below, which removes the 1/ω³ cancellation and gives
    the ZF form smoothly as ω → 0.
dynamic_kt
    Strong-collision dynamic KT: G = g e^{−νt} + ν ∫ g(τ) e^{−ντ} G(t−τ) dτ,
    g the static function, solved as a Volterra equation by product
    integration (exact e^{−ντ} weights) with Richardson extrapolation
    (`bayesmusr.physics._kernels.renewal`); above ν/Δ = 1000 Keren's form, which
    agrees with the Volterra solution to ≤ 3.5e-8 there.  Accuracy |error| ≤ 1e-5 for
    Δt ∈ [0, 30], ν/Δ ∈ [0, 1000], ω_L/Δ ∈ [0, 100] (tests/test_kt.py,
    step-halving convergence and an independent Monte Carlo).
keren
    Keren (1994) LF approximation G = exp(−Γt),
    Γt = 2Δ² Re[(p t − 1 + e^{−p t}) / p²], p = ν + iω_L, identical to the
    usual real form; in ZF it is the Abragam function.

Reference values (checked in tests/test_kt.py)
----------------------------------------------
G(0) = 1; ZF static minimum at Δt = √3 with G = 1/3 − (4/3)e^{−3/2};
ZF static G → 1/3 as t → ∞; LF G → 1 as ω_L/Δ → ∞.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import wofz

from bayesmusr.physics import _kernels
from bayesmusr.physics.constants import K_B_EV, MUON_LIFETIME, OMEGA_PER_MT  # noqa: F401  (re-exported)

_SERIES_BELOW = 0.5  # ω/Δ below which the LF static KT uses the power series
#: ν/Δ above which dynamic_kt returns Keren's form (measured |difference| ≤ 3.5e-8 for ν/Δ ≥ 1000)
KEREN_ABOVE = 1000.0


def _check_scalar(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(v) or v < 0.0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def _check_times(t, name: str = "t") -> np.ndarray:
    arr = np.asarray(t, dtype=float)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if arr.size and arr.min() < 0.0:
        raise ValueError(f"{name} must be >= 0 μs (relaxation functions start at t = 0), got min {arr.min()!r}")
    return arr


def _static_kt_scaled(x: np.ndarray, w: float) -> np.ndarray:
    """Static Gaussian KT at dimensionless times x = Δt and field w = ω/Δ."""
    x = np.asarray(x, dtype=float)
    ex = np.exp(-0.5 * x * x)
    if w == 0.0:
        return 1.0 / 3.0 + (2.0 / 3.0) * (1.0 - x * x) * ex
    if w < _SERIES_BELOW:
        # G = 1 + Σ_{k≥1} (−1)^k w^{2k−2} 2 [e^{−x²/2} x^{2k}/(2k)! + I_{2k+1}(x)/(2k+1)!]
        # with I_n(x) = ∫_0^x u^n e^{−u²/2} du, via T_k = I_{2k+1}/(2k+1)!:
        # T_0 = 1 − e^{−x²/2}, T_{k+1} = (T_k − e^{−x²/2} a_{k+1})/(2k+3), a_k = x^{2k}/(2k)!
        total = np.ones_like(x)
        a = np.ones_like(x)  # a_0
        tk = -np.expm1(-0.5 * x * x)  # T_0
        wpow = 1.0  # w^{2k-2}
        for k in range(1, 60):
            a = a * x * x / ((2 * k - 1) * (2 * k))
            tk = (tk - ex * a) / (2 * k + 1)
            term = 2.0 * wpow * (ex * a + tk)
            total += term if k % 2 == 0 else -term
            wpow *= w * w
            if wpow * (np.max(ex * a) + np.max(np.abs(tk))) < 1e-18:
                break
        return total
    # Faddeeva form of J = ∫_0^x e^{−u²/2} sin(wu) du = Im ∫_0^x e^{−u²/2 + iwu} du,
    # ∫_0^x e^{−cu² + iwu} du = √π/(2√c) [w(z0) − e^{−cx² + iwx} w(z0 + i√c x)], c = 1/2
    sc = math.sqrt(0.5)
    z0 = w / (2.0 * sc)
    integral = (math.sqrt(math.pi) / (2.0 * sc)) * (
        wofz(z0) - np.exp(-0.5 * x * x + 1j * w * x) * wofz(z0 + 1j * sc * x)
    )
    j = integral.imag
    return 1.0 - (2.0 / w**2) * (1.0 - ex * np.cos(w * x)) + (2.0 / w**3) * j


def static_kt(t, delta, b_lf=0.0):
    """Static Gaussian Kubo-Toyabe polarisation, zero or longitudinal field.

    Parameters
    ----------
    t : array_like
        Times in μs (≥ 0, any order and spacing).
    delta : float
        Field width Δ in μs⁻¹.
    b_lf : float, optional
        Longitudinal field in mT (default 0: zero field).

    Returns
    -------
    ndarray
        G_z(t), same shape as ``t``.
    """
    delta = _check_scalar(delta, "delta")
    b_lf = _check_scalar(b_lf, "b_lf")
    t = _check_times(t)
    if delta == 0.0:
        return np.ones_like(t)
    return _static_kt_scaled(t * delta, OMEGA_PER_MT * b_lf / delta)


def _kt_step(w: float, v: float) -> float:
    """Coarse grid step (units of 1/Δ) keeping Δh, ν h and ω h small."""
    h = 0.04
    if v > 0:
        h = min(h, 0.25 / v)
    if w > 0:
        h = min(h, 0.25 / w)
    return h


def _dynamic_kt_scaled(x: np.ndarray, w: float, v: float, step: float | None = None) -> np.ndarray:
    """Dynamic KT at x = Δt for w = ω/Δ, v = ν/Δ (Richardson on h, h/2)."""
    if x.size == 0:
        return np.empty_like(x)
    h = _kt_step(w, v) if step is None else step
    xmax = float(x.max())
    n = int(math.ceil(xmax / h)) + 3  # margin for the cubic stencil
    grid_h2 = np.arange(2 * n + 1) * (0.5 * h)
    g_h2 = _static_kt_scaled(grid_h2, w)
    coarse = _kernels.renewal(g_h2[::2].copy(), v, h)
    fine = _kernels.renewal(g_h2, v, 0.5 * h)
    extrapolated = (4.0 * fine[::2] - coarse) / 3.0
    return _kernels.cubic_uniform(extrapolated, h, x.ravel()).reshape(x.shape)


def dynamic_kt(t, delta, nu, b_lf=0.0):
    """Strong-collision dynamic Gaussian Kubo-Toyabe polarisation (ZF/LF).

    Solves the strong-collision Volterra equation (module docstring) exactly up to a
    controlled discretisation error (≤ 1e-5 in the documented domain).

    Parameters
    ----------
    t : array_like
        Times in μs (≥ 0, any order and spacing).
    delta : float
        Field width Δ in μs⁻¹.
    nu : float
        Fluctuation rate ν in μs⁻¹.
    b_lf : float, optional
        Longitudinal field in mT.

    Returns
    -------
    ndarray
        G_z(t), same shape as ``t``.
    """
    delta = _check_scalar(delta, "delta")
    nu = _check_scalar(nu, "nu")
    b_lf = _check_scalar(b_lf, "b_lf")
    t = _check_times(t)
    if delta == 0.0:
        return np.ones_like(t)
    w = OMEGA_PER_MT * b_lf / delta
    if nu == 0.0:
        return _static_kt_scaled(t * delta, w)
    if nu / delta > KEREN_ABOVE:
        # deep motional narrowing: Keren is exact to ≤ 4e-8 here (measured for Δt ≤ 30, ω/Δ ≤ 100),
        # and the Volterra grid would need ν/Δ × Δt / 0.25 steps
        return keren(t, delta, nu, b_lf)
    return _dynamic_kt_scaled(t * delta, w, nu / delta)


def _phi2(z: np.ndarray) -> np.ndarray:
    """(e^{−z} − 1 + z)/z², stable for small |z| (complex z)."""
    out = np.empty_like(z)
    small = np.abs(z) < 1e-2
    zs = z[small]
    # Σ_k (−z)^k/(k+2)!, five terms give < 1e-16 for |z| < 1e-2
    out[small] = 0.5 - zs / 6.0 + zs**2 / 24.0 - zs**3 / 120.0 + zs**4 / 720.0
    zb = z[~small]
    out[~small] = (np.exp(-zb) - 1.0 + zb) / zb**2
    return out


def keren(t, delta, nu, b_lf=0.0):
    """Keren's analytic approximation to the dynamic LF Kubo-Toyabe function.

    G(t) = exp(−Γt) with Γt = 2Δ²/(ω²+ν²)² {(ω²+ν²)νt + (ω²−ν²)[1 − e^{−νt} cos ωt]
    − 2νω e^{−νt} sin ωt}, evaluated as 2Δ²t² Re φ₂((ν + iω)t) with
    φ₂(z) = (e^{−z} − 1 + z)/z² (no cancellation at small ν, ω).  In zero field
    this is the Abragam form exp[−(2Δ²/ν²)(e^{−νt} − 1 + νt)].  Valid for ν ≳ Δ.

    Parameters
    ----------
    t : array_like
        Times in μs (≥ 0).
    delta, nu : float
        Δ and ν in μs⁻¹.
    b_lf : float, optional
        Longitudinal field in mT.

    Returns
    -------
    ndarray
        G_z(t), same shape as ``t``.
    """
    delta = _check_scalar(delta, "delta")
    nu = _check_scalar(nu, "nu")
    b_lf = _check_scalar(b_lf, "b_lf")
    t = _check_times(t)
    p = nu + 1j * OMEGA_PER_MT * b_lf
    gamma_t = 2.0 * delta**2 * t**2 * _phi2(np.atleast_1d(p * t).astype(complex)).real.reshape(t.shape)
    return np.exp(-gamma_t)
