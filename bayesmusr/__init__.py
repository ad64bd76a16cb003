"""bayesmusr: Bayesian analysis of muon spin relaxation data.

Units everywhere in the public API: time in μs, Δ, ν and relaxation rates in μs⁻¹
(MHz, as musrfit), longitudinal field in mT, temperature in K, activation energies
in eV, Arrhenius prefactors in s⁻¹ (sampled as log10).

The package is layered (docs/architecture.md); imports go only downwards:
``physics`` → ``io`` → ``model`` → ``inference`` → ``workflows`` → ``report`` → ``cli``.
This module re-exports the small public API (imported on first use):

* relaxation functions: ``static_kt``, ``dynamic_kt``, ``keren``, ``ea``, ``ea_direct``;
* data: ``read_run``, ``MuonRun``, ``RunCollection``, ``estimate_alpha``;
* results: ``save``, ``load``, ``summary`` (68 % and 95 % central intervals), ``compare``
  (the same function as ``compare_results``: LOO with a verdict qualified by convergence
  and Pareto k̂);
* fits: ``fit_temperature`` (one temperature), ``fit_scan`` (a temperature scan, both readings).
"""
import importlib

from bayesmusr._version import __version__

#: public name → the module that defines it (imported on first use, so that ``import bayesmusr`` and the
#: command line start in milliseconds and a Ctrl-C while starting is handled by ``bayesmusr.__main__``)
_API = {
    **dict.fromkeys(("static_kt", "dynamic_kt", "keren", "ea", "ea_direct"), "bayesmusr.physics"),
    "RunCollection": "bayesmusr.io.collection",
    "read_run": "bayesmusr.io.readers",
    **dict.fromkeys(("MuonRun", "estimate_alpha"), "bayesmusr.io.run"),
    **dict.fromkeys(("compare", "compare_results", "load", "save", "summary"), "bayesmusr.inference.compare"),
    "fit_scan": "bayesmusr.workflows.scan",
    "fit_temperature": "bayesmusr.workflows.temperature",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    """The public API, imported on first use (PEP 562).

    Parameters
    ----------
    name : str
        A name of :data:`__all__`.

    Returns
    -------
    object
    """
    if name not in _API:
        raise AttributeError(f"module 'bayesmusr' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_API])
