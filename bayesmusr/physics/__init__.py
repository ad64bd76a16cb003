"""Physics layer: relaxation functions (static/dynamic KT, Keren, G^EA), EA tables, numba kernels.

Knows nothing of data files, priors or sampling.  Units: t in μs, Δ and rates in μs⁻¹,
fields in mT, temperatures in K, energies in eV.
"""
from bayesmusr.physics.constants import K_B_EV, MUON_LIFETIME, OMEGA_PER_MT, arrhenius
from bayesmusr.physics.ea import ea_direct
from bayesmusr.physics.kt import dynamic_kt, keren, static_kt
from bayesmusr.physics.tables import ea

__all__ = ["static_kt", "dynamic_kt", "keren", "ea", "ea_direct", "arrhenius", "K_B_EV", "MUON_LIFETIME",
           "OMEGA_PER_MT"]
