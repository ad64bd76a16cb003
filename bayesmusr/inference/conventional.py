"""The conventional reading of a ZF/LF temperature scan, as the literature does it.

Definition
----------
1. Global KT fit per temperature: the ZF and LF spectra share (Δ_KT, ν_KT)
   (and the amplitude), only the field differs — musrfit-style χ²
   minimisation of the dynamic Gaussian KT (:func:`bayesmusr.physics.kt.dynamic_kt`);
   the fit itself, `fit_kt_global`, lives in `bayesmusr.model.kt_reading` (re-exported here).
2. Arrhenius fit of ν_KT below T* (the temperature of the ν_KT maximum):
   ln ν_KT = ln ν_0 − E/(k_B T), weighted linear least squares.
3. The two-state model of Kadono Eq. 4 (Cox et al. 2006) for Δ_KT(T):
   Δ_KT² = [Q/(1 + N exp(−E_Δ/k_B T)) + (1 − Q)] Δ².

and the Arrhenius laws the EA reading uses instead:
ν_i(T) = ν_i0 exp(−E_i/k_B T), ν_μ(T) = ν_μ0 exp(−E_μ/k_B T).

Units: rates in μs⁻¹ inside (ν_0 reported in s⁻¹ where stated), energies in
eV, temperatures in K, fields in mT, times in μs.

Reference values (Kadono; checked in tests/test_conventional.py and examples/)
------------------------------------------------------------------------------
For EA spectra with Δ = 0.3 μs⁻¹, Q = 0.8 (ZF + LF 1 mT): Δ_KT → √(1−Q)Δ =
0.134 μs⁻¹ for ν_i ≫ √QΔ; ν_KT peaks near ν_i ≈ 3√QΔ; Eq. 4 on Δ_KT(T) gives
E_Δ ≈ 0.4 eV, Q ≈ 0.82, N ≈ 1.2×10⁸ for Kadono's Arrhenius parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from bayesmusr.model.kt_reading import KTFit, fit_kt_global  # noqa: F401  (moved there; re-exported here)
from bayesmusr.model.reanalysis import two_state_delta
from bayesmusr.physics.constants import K_B_EV
from bayesmusr.physics.constants import arrhenius as physics_arrhenius

#: Kadono's simulation parameters (his Fig. 1–3, docs/paper.md): rates in s⁻¹, energies in eV, Δ in μs⁻¹
KADONO = {"nu_i0_per_s": 5e12, "e_i_eV": 0.35, "nu_mu0_per_s": 2e6, "e_mu_eV": 0.02, "delta": 0.3, "q": 0.8,
          "b_lf_mT": 1.0}


def arrhenius(temperature, nu0_per_s, energy_eV):
    """Arrhenius rate in μs⁻¹ from a prefactor in s⁻¹ (the law itself: :func:`bayesmusr.physics.arrhenius`).

    Parameters
    ----------
    temperature : float or ndarray
        Temperature in K.
    nu0_per_s : float or ndarray
        Prefactor ν₀ in s⁻¹.
    energy_eV : float or ndarray
        Activation energy in eV.

    Returns
    -------
    float or ndarray
        ν(T) = ν₀ exp(−E/k_B T) in μs⁻¹.
    """
    return physics_arrhenius(temperature, np.log10(nu0_per_s), energy_eV)


@dataclass
class ArrheniusFit:
    """Result of :func:`fit_arrhenius`: ν₀ in s⁻¹, E and its 1σ error in eV, the temperatures (K) fitted."""

    nu0_per_s: float
    energy_eV: float
    energy_err_eV: float
    temperatures: np.ndarray


def fit_arrhenius(temperature, nu, nu_err=None):
    """Weighted linear fit of ln ν = ln ν₀ − E/(k_B T); ν in μs⁻¹, ν₀ returned in s⁻¹.

    Parameters
    ----------
    temperature : array_like
        Temperatures in K (at least two).
    nu : array_like
        Rates in μs⁻¹ (> 0).
    nu_err : array_like, optional
        Their 1σ errors in μs⁻¹ (weights (ν/σ)² on ln ν); without them the errors
        are scaled by the residual variance.

    Returns
    -------
    ArrheniusFit
    """
    temperature = np.asarray(temperature, dtype=float)
    nu = np.asarray(nu, dtype=float)
    if temperature.size < 2:
        raise ValueError("an Arrhenius fit needs at least two temperatures")
    if np.any(nu <= 0):
        raise ValueError("rates must be > 0 for an Arrhenius fit")
    w = np.ones_like(nu) if nu_err is None else (nu / np.asarray(nu_err, dtype=float)) ** 2
    x = 1.0 / (K_B_EV * temperature)
    a = np.vstack([np.ones_like(x), -x]).T
    aw = a * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(aw, np.log(nu) * np.sqrt(w), rcond=None)
    cov = np.linalg.inv(aw.T @ aw)
    if nu_err is None and temperature.size > 2:
        r = np.log(nu) - a @ coef
        cov = cov * np.sum(r**2) / (temperature.size - 2)
    return ArrheniusFit(nu0_per_s=math.exp(coef[0]) * 1e6, energy_eV=float(coef[1]),
                        energy_err_eV=float(math.sqrt(cov[1, 1])), temperatures=temperature)


@dataclass
class TwoStateFit:
    """Result of :func:`fit_two_state`: Δ (μs⁻¹), Q, N, E_Δ (eV) and 1σ errors (of q, ln N, E_Δ)."""

    delta: float
    q: float
    n_states: float
    e_delta_eV: float
    errors: dict


def fit_two_state(temperature, delta_kt, delta_err=None, fix_delta=None):
    """Fit Kadono Eq. 4 to Δ_KT(T): returns Δ, Q, N, E_Δ (with 1σ errors from the Jacobian).

    Parameters
    ----------
    temperature : array_like
        Temperatures in K.
    delta_kt : array_like
        Δ_KT(T) in μs⁻¹.
    delta_err : array_like, optional
        Their 1σ errors in μs⁻¹ (default: unweighted, errors scaled by the residual variance).
    fix_delta : float, optional
        Hold Δ at this value (μs⁻¹) instead of fitting it.

    Returns
    -------
    TwoStateFit
    """
    temperature = np.asarray(temperature, dtype=float)
    y = np.asarray(delta_kt, dtype=float)
    e = np.ones_like(y) if delta_err is None else np.asarray(delta_err, dtype=float)
    d0 = float(np.max(y)) if fix_delta is None else fix_delta
    q0 = float(np.clip(1.0 - (np.min(y) / d0) ** 2, 0.05, 0.99))

    def model(p):
        delta = d0 if fix_delta is not None else p[3]
        return two_state_delta(temperature, delta, p[0], math.exp(p[1]), p[2])

    def resid(p):
        return (model(p) - y) / e

    best = None
    for ln_n, ed in [(math.log(1e4), 0.2), (math.log(1e8), 0.4), (math.log(1e12), 0.6)]:
        p0 = [q0, ln_n, ed] + ([] if fix_delta is not None else [d0])
        lo = [0.0, math.log(1e-3), 0.0] + ([] if fix_delta is not None else [0.0])
        hi = [1.0, math.log(1e30), 3.0] + ([] if fix_delta is not None else [10 * d0])
        res = least_squares(resid, p0, bounds=(lo, hi), xtol=1e-14, ftol=1e-14, gtol=1e-14)
        if best is None or res.cost < best.cost:
            best = res
    try:
        cov = np.linalg.inv(best.jac.T @ best.jac)
        if delta_err is None and y.size > len(best.x):
            # no errors given: scale by the residual variance (as fit_arrhenius does)
            cov = cov * (2.0 * best.cost) / (y.size - len(best.x))
        perr = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        perr = np.full(len(best.x), np.nan)
    p = best.x
    return TwoStateFit(delta=d0 if fix_delta is not None else float(p[3]), q=float(p[0]),
                       n_states=math.exp(p[1]), e_delta_eV=float(p[2]),
                       errors={"q": float(perr[0]), "ln_n": float(perr[1]), "e_delta_eV": float(perr[2])})
