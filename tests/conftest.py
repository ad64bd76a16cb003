"""Test configuration: make tests/ importable (mc_reference) and keep numba caches local."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
