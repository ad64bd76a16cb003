"""bayesmusr: Bayesian analysis of muon spin relaxation data.

Units everywhere in the public API: time in μs, Δ, ν and relaxation rates in μs⁻¹
(MHz, as musrfit), longitudinal field in mT, temperature in K, activation energies
in eV, Arrhenius prefactors in s⁻¹ (sampled as log10).

The package is layered (docs/architecture.md); imports go only downwards:
``physics`` → ``io`` → ``model`` → ``inference`` → ``workflows`` → ``report`` → ``cli``.
This module re-exports the small public API.
"""
from bayesmusr._version import __version__
from bayesmusr.inference.compare import load, save, summary
from bayesmusr.io.readers import read_run
from bayesmusr.io.run import MuonRun, estimate_alpha
from bayesmusr.physics import dynamic_kt, ea, ea_direct, keren, static_kt
from bayesmusr.workflows.temperature import fit_temperature

__all__ = ["static_kt", "dynamic_kt", "keren", "ea", "ea_direct", "read_run", "MuonRun", "estimate_alpha",
           "fit_temperature", "load", "save", "summary", "__version__"]
