"""Physical constants and the Arrhenius law, declared once for the whole package."""
from __future__ import annotations

import math

import numpy as np

from bayesmusr.physics.domain import check_values

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

    Raises
    ------
    ValueError
        Naming the argument: not numbers, not finite, temperature ≤ 0; or a rate that
        overflows double precision (ln ν > 709, e.g. a negative E at very low T).
    """
    t = check_values(temperature, "temperature", "arrhenius")
    log10_nu0 = check_values(log10_nu0_per_s, "log10_nu0_per_s", "arrhenius")
    energy = check_values(energy_eV, "energy_eV", "arrhenius")
    # the same expression as always below; first make sure neither factor nor their product can overflow
    # to inf (inf·0 would be NaN): e^709 is the largest power of e in double precision
    with np.errstate(over="ignore", divide="ignore"):
        log_prefactor = (log10_nu0 - 6.0) * math.log(10.0)
        log_boltzmann = -energy / (K_B_EV * t)
        log_nu = log_prefactor + log_boltzmann
    if np.any(log_prefactor > 709.0) or np.any(log_boltzmann > 709.0) or np.any(log_nu > 709.0):
        worst = max(float(np.max(log_prefactor)), float(np.max(log_boltzmann)), float(np.nanmax(log_nu)))
        raise ValueError(f"arrhenius: log10_nu0_per_s, energy_eV and temperature give a rate that overflows double "
                         f"precision (ln of ν0, of exp(−E/k_BT) or of ν reaches {worst:.4g} > 709; a negative "
                         f"energy_eV at low temperature, or an absurd prefactor)")
    return 10.0 ** (log10_nu0 - 6.0) * np.exp(-np.asarray(energy_eV) / (K_B_EV * t))
