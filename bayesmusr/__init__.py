"""bayesmusr: Bayesian analysis of muon spin relaxation data.

Units everywhere in the public API: time in μs, Δ, ν and relaxation rates in μs⁻¹
(MHz, as musrfit), longitudinal field in mT, temperature in K, activation energies
in eV, Arrhenius prefactors in s⁻¹ (sampled as log10).

The package is layered (docs/architecture.md); imports go only downwards:
``physics`` → ``io`` → ``model`` → ``inference`` → ``workflows`` → ``report`` → ``cli``.
This module re-exports the small public API, imported here in that order:

* relaxation functions: ``static_kt``, ``dynamic_kt``, ``keren``, ``ea``, ``ea_direct``;
* data: ``read_run``, ``MuonRun``, ``RunCollection``, ``estimate_alpha``;
* results: ``save``, ``load``, ``summary`` (68 % and 95 % central intervals), ``compare``
  (the same function as ``compare_results``: LOO with a verdict qualified by convergence
  and Pareto k̂);
* fits: ``fit_temperature`` (one temperature), ``fit_scan`` (a temperature scan, both readings).
"""
from bayesmusr._version import __version__
from bayesmusr.physics import dynamic_kt, ea, ea_direct, keren, static_kt
from bayesmusr.io.collection import RunCollection
from bayesmusr.io.readers import read_run
from bayesmusr.io.run import MuonRun, estimate_alpha
from bayesmusr.inference.compare import compare, compare_results, load, save, summary
from bayesmusr.workflows.scan import fit_scan
from bayesmusr.workflows.temperature import fit_temperature

__all__ = ["static_kt", "dynamic_kt", "keren", "ea", "ea_direct", "read_run", "MuonRun", "RunCollection",
           "estimate_alpha", "save", "load", "summary", "compare", "compare_results", "fit_temperature", "fit_scan",
           "__version__"]
