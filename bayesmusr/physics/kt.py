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
    (`bayesmusr.physics._kernels.renewal`; g on the solver's uniform grid in a field by
    a recurrence, `_static_kt_grid`, within 4e-11 of the Faddeeva form); above ν/Δ = 1000 Keren's form, which
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

Domain, asymptotic forms and limits (tests/test_physics_domains.py)
-------------------------------------------------------------------
Arguments are validated against `bayesmusr.physics.domain.DOMAIN` (0 ≤ t ≤ 1e6 μs,
0 ≤ Δ ≤ 1e6 μs⁻¹, 0 ≤ ν ≤ 1e12 μs⁻¹, 0 ≤ B ≤ 1e9 mT; real, finite).  Inside it:

* Δt ≥ `X_FLAT` = 40: the static function is evaluated at Δt = 40, where it already equals
  its t → ∞ value to the last bit (every e^{−Δ²t²/2} term underflows to 0 beyond Δt ≈ 38.6);
  without this, Δ²t² overflowed and gave NaN.
* ω_L/Δ ≥ `W_STATIC_ONE` = 2e6: static G = 1.  From the LF formula, integrating J by parts,
  |J| ≤ 3/w, so |1 − G| ≤ 4/w² + 6/w⁴ ≤ 1.0000015e−12 there (w = ω_L/Δ).
* dynamic_kt with ω_L/Δ ≥ `KEREN_FIELD_ABOVE` = 500: Keren's form.  Measured
  |Volterra − Keren| ≤ 2.000/w² for w = 10–300, ν/Δ = 0–1000, Δt ≤ 30 (the static
  limit's undamped 2/w² oscillation is the largest term), so ≤ 8e−6 here, within the 1e−5
  accuracy; the Volterra grid would need ~4w steps per unit of Δt.
* dynamic_kt otherwise: the Volterra solver's cost is estimated first
  (`_kernels.renewal_ops`) and a call above `bayesmusr.physics.domain.MAX_RENEWAL_OPS` is
  refused with the longest Δ·t the same ν/Δ, ω_L/Δ can reach (about 2500 in ZF at slow ν).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import wofz

import bayesmusr.physics._kernels as _kernels  # the submodule itself: no edge to the package, which imports this module
from bayesmusr.physics.constants import K_B_EV, MUON_LIFETIME, OMEGA_PER_MT  # noqa: F401  (re-exported)
from bayesmusr.physics.domain import check_number, check_times, check_work, reach, within_limits

_SERIES_BELOW = 0.5  # ω/Δ below which the LF static KT uses the power series
#: ν/Δ above which dynamic_kt returns Keren's form (measured |difference| ≤ 3.5e-8 for ν/Δ ≥ 1000)
KEREN_ABOVE = 1000.0
#: ω_L/Δ from which dynamic_kt returns Keren's form (|difference| ≤ 2/w² ≤ 8e-6, module docstring)
KEREN_FIELD_ABOVE = 500.0
#: Δt from which the static KT equals its t → ∞ value in double precision (e^{−x²/2} = 0 beyond 38.6)
X_FLAT = 40.0
#: ω_L/Δ from which the static KT is 1 to within 4/w² + 6/w⁴ ≤ 1.0000015e-12 (module docstring)
W_STATIC_ONE = 2e6


def _static_kt_scaled(x: np.ndarray, w: float) -> np.ndarray:
    """Static Gaussian KT at dimensionless times x = Δt and field w = ω/Δ (module docstring: X_FLAT, W_STATIC_ONE)."""
    # beyond X_FLAT every term is at its limit to the last bit, and x² could overflow
    x = np.minimum(np.asarray(x, dtype=float), X_FLAT)
    if w >= W_STATIC_ONE:  # |1 − G| ≤ 1.0000015e-12; w² and w³ below could overflow
        return np.ones_like(x)
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

    Raises
    ------
    ValueError
        Naming the argument, for values outside `bayesmusr.physics.domain.DOMAIN`.
    """
    t = check_times(t, "static_kt")
    delta = check_number(delta, "delta", "static_kt")
    b_lf = check_number(b_lf, "b_lf", "static_kt")
    return _static(t, delta, b_lf)


def _static(t: np.ndarray, delta: float, b_lf: float) -> np.ndarray:
    """`static_kt` on validated arguments."""
    omega = OMEGA_PER_MT * b_lf
    if delta == 0.0 or omega >= W_STATIC_ONE * delta:  # G = 1 (to 1e-12); ω/Δ could overflow
        return np.ones_like(t)
    return _static_kt_scaled(t * delta, omega / delta)


def _kt_step(w: float, v: float) -> float:
    """Coarse grid step (units of 1/Δ) keeping Δh, ν h and ω h small."""
    h = 0.04
    if v > 0:
        h = min(h, 0.25 / v)
    if w > 0:
        h = min(h, 0.25 / w)
    return h


def _dynamic_kt_cost(x_max: float, w: float, v: float, h: float):
    """(renewal multiply-adds, largest grid) of `_dynamic_kt_scaled` up to Δt = x_max."""
    n = math.ceil(x_max / h) + 3
    return _kernels.renewal_ops(n + 1, v * h) + _kernels.renewal_ops(2 * n + 1, 0.5 * v * h), 2.0 * n + 1


def _check_dynamic_work(x_max: float, w: float, v: float, h: float, delta: float | None):
    """Refuse a Volterra solution whose cost exceeds the work limits (message: the Δ·t it can reach)."""
    if within_limits(*_dynamic_kt_cost(x_max, w, v, h)):
        return
    x_ok = reach(lambda xm: _dynamic_kt_cost(xm, w, v, h), x_max)
    t_ok = f" (t <= {x_ok / delta:.4g} μs at delta = {delta:g} μs⁻¹)" if delta else ""
    check_work(*_dynamic_kt_cost(x_max, w, v, h), "dynamic_kt",
               f"delta * t_max = {x_max:.4g} with nu/delta = {v:.4g}, omega_L/delta = {w:.4g}",
               f"with these nu/delta and omega_L/delta the Volterra solver reaches delta * t <= {x_ok:.4g}"
               f"{t_ok}: shorten the time range")


#: below this ω_L/Δ the recurrence of `_static_kt_grid` takes four Simpson substeps per node, above it one
_GRID_SUBSTEPS_BELOW = 20.0


def _static_kt_grid(hy: float, n: int, w: float) -> np.ndarray:
    """Static KT at x_k = k·hy, k < n, field w = ω/Δ: `_static_kt_scaled` on a uniform grid.

    In a field (w ≥ `_SERIES_BELOW`) by the recurrence kernel `_kernels.static_kt_uniform`
    (no special function: ~10 µs for 487 nodes against ~50 µs for the Faddeeva form), with four
    Simpson substeps per node below w = 20.  Measured against the Faddeeva form for Δt ≤ 40 on the
    grids `dynamic_kt` uses: max |difference| 3.8e-11 (w = 0.5), 1.4e-12 (w = 2.84), 4e-13 (w = 30),
    1e-14 (w = 100–500).
    """
    if w < _SERIES_BELOW or w >= W_STATIC_ONE:
        return _static_kt_scaled(np.arange(n) * hy, w)
    m = 4 if w < _GRID_SUBSTEPS_BELOW else 1
    return _kernels.static_kt_uniform(hy / m, (n - 1) * m + 1, w)[::m].copy()


def _dynamic_kt_scaled(x: np.ndarray, w: float, v: float, step: float | None = None,
                       delta: float | None = None) -> np.ndarray:
    """Dynamic KT at x = Δt for w = ω/Δ, v = ν/Δ (Richardson on h, h/2); refused above the work limits."""
    if x.size == 0:
        return np.empty_like(x)
    h = _kt_step(w, v) if step is None else step
    xmax = float(x.max())
    _check_dynamic_work(xmax, w, v, h, delta)
    n = int(math.ceil(xmax / h)) + 3  # margin for the cubic stencil
    g_h2 = _static_kt_grid(0.5 * h, 2 * n + 1, w)
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

    Raises
    ------
    ValueError
        Naming the argument, for values outside `bayesmusr.physics.domain.DOMAIN`; or when
        the Volterra solution would exceed the work limits (the message gives the longest
        time these ν/Δ and ω_L/Δ reach).

    Notes
    -----
    Above ν/Δ = `KEREN_ABOVE` or ω_L/Δ = `KEREN_FIELD_ABOVE` Keren's form is returned
    (module docstring: error ≤ 3.5e-8, resp. ≤ 2Δ²/ω_L² ≤ 8e-6).
    """
    t = check_times(t, "dynamic_kt")
    delta = check_number(delta, "delta", "dynamic_kt")
    nu = check_number(nu, "nu", "dynamic_kt")
    b_lf = check_number(b_lf, "b_lf", "dynamic_kt")
    return _dynamic(t, delta, nu, b_lf)


def _dynamic(t: np.ndarray, delta: float, nu: float, b_lf: float) -> np.ndarray:
    """`dynamic_kt` on validated arguments (also `ea`'s exact limits, whose ν may be a sum of two rates)."""
    if delta == 0.0:
        return np.ones_like(t)
    if nu == 0.0:
        return _static(t, delta, b_lf)
    # Python floats: a ratio overflows to inf (no exception), which these comparisons handle
    w = OMEGA_PER_MT * b_lf / delta
    if nu / delta > KEREN_ABOVE or w >= KEREN_FIELD_ABOVE:
        # deep motional narrowing: Keren is exact to ≤ 4e-8 (measured for Δt ≤ 30, ω/Δ ≤ 100); high
        # field: to ≤ 2/w² (module docstring).  The Volterra grid would need ~Δt·max(ν/Δ, ω/Δ)/0.25 steps
        return _keren(t, delta, nu, b_lf)
    return _dynamic_kt_scaled(t * delta, w, nu / delta, delta=delta)


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

    Raises
    ------
    ValueError
        Naming the argument, for values outside `bayesmusr.physics.domain.DOMAIN` (inside
        it every product below stays finite: |p t| ≤ 2e18, Δ²t² ≤ 1e24).
    """
    t = check_times(t, "keren")
    delta = check_number(delta, "delta", "keren")
    nu = check_number(nu, "nu", "keren")
    b_lf = check_number(b_lf, "b_lf", "keren")
    return _keren(t, delta, nu, b_lf)


def _keren(t: np.ndarray, delta: float, nu: float, b_lf: float) -> np.ndarray:
    """`keren` on validated arguments."""
    p = nu + 1j * OMEGA_PER_MT * b_lf
    gamma_t = 2.0 * delta**2 * t**2 * _phi2(np.atleast_1d(p * t).astype(complex)).real.reshape(t.shape)
    return np.exp(-gamma_t)
