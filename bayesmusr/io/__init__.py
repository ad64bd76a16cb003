"""io layer: the run object (:class:`MuonRun`), facility readers, run collections and writers.

Reads PSI-BIN/MDU, ISIS NeXus v1/v2, TRIUMF MUD, ASCII exports and bayesmusr's own netCDF runs
into one xarray-backed run object; knows nothing of models or sampling.
"""
