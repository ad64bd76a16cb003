"""The installed version of bayesmusr (below every layer: results and reports record it)."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayesmusr")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
