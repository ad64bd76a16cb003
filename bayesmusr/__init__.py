"""bayesmusr: Bayesian analysis of muon spin relaxation data.

Units everywhere in the public API (see docs/units.md): time in μs, Δ, ν and
relaxation rates in μs⁻¹ (MHz, as musrfit), longitudinal field in mT,
temperature in K, activation energies in eV.
"""
from importlib.metadata import PackageNotFoundError, version as _version

from .ea import ea_direct
from .functions import dynamic_kt, keren, static_kt
from .tables import ea

try:
    __version__ = _version("bayesmusr")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["static_kt", "dynamic_kt", "keren", "ea", "ea_direct", "__version__"]
