"""Physical constants and the Arrhenius law, declared once for the whole package."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["OMEGA_PER_MT", "MUON_LIFETIME", "K_B_EV", "arrhenius"]

#: ω_L per mT of longitudinal field, μs⁻¹ (γ_μ/2π = 135.5388 MHz/T)
OMEGA_PER_MT = 2.0 * math.pi * 135.5388e-3
#: muon lifetime, μs
MUON_LIFETIME = 2.1969811
#: Boltzmann constant, eV/K
K_B_EV = 8.617333262e-5


def arrhenius(temperature, log10_nu0_per_s, energy_eV):
    """Arrhenius rate ν(T) = ν0 exp(−E / k_B T) in μs⁻¹.

    Parameters
    ----------
    temperature : float or ndarray
        Temperature in K (> 0).
    log10_nu0_per_s : float or ndarray
        log10 of the prefactor ν0 in s⁻¹ (the literature's unit).
    energy_eV : float or ndarray
        Activation energy E in eV.

    Returns
    -------
    float or ndarray
        ν(T) in μs⁻¹ (MHz).
    """
    t = np.asarray(temperature, dtype=float)
    return 10.0 ** (np.asarray(log10_nu0_per_s, dtype=float) - 6.0) * np.exp(-np.asarray(energy_eV) / (K_B_EV * t))
