"""Checks of the overrides given to :func:`bayesmusr.io.readers.read_run`, before they touch a run.

Every override is checked for its type, finiteness, range and (per-detector values) its
length, and refused with a :class:`RunFormatError` naming the file and ``override <name>``;
an unknown name is refused with the nearest valid one (``difflib``). ``None`` means "not
given", as in :meth:`bayesmusr.io.run.MuonRun.with_overrides`.

Two stages: :func:`check_names_and_scalars` runs before the file is read (a typo costs no
reading); :func:`check_detector_values` runs on the run read, whose detectors, bins and
bin width the per-detector values must fit. Booleans are refused where numbers are
expected (``True`` is an ``int`` in Python, never a temperature).
"""
from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.run import MuonRun

__all__ = ["HISTOGRAM_OVERRIDES", "OVERRIDES", "check_detector_values", "check_names_and_scalars"]

#: Override name -> what it takes (for error messages and the read_run docstring).
OVERRIDES = {
    "temperature_K": "a number of kelvin >= 0",
    "field_mT": "a number of mT",
    "geometry": "'ZF', 'LF' or 'TF'",
    "sample": "text",
    "title": "text",
    "run_number": "a whole number >= 0",
    "alpha": "a number > 0",
    "t0": "a bin index (its centre is time zero), one for all detectors or one per detector",
    "t0_bin": "a bin index like t0",
    "t0_us": "μs from the left edge of bin 0, one for all detectors or one per detector",
    "first_good_bin": "a whole bin index, one for all detectors or one per detector",
    "last_good_bin": "a whole bin index (the good range ends before it), one or one per detector",
    "dead_time": "μs, one for all detectors or one per detector",
    "grouping": "(forward, backward) detector numbers or a mapping with those keys",
    "groups": "like grouping",
    "columns": "three column indices (time, asymmetry, error), ASCII files only",
    "delimiter": "the column separator, ASCII files only",
}
#: Overrides that need histograms (t0, good bins, dead times, grouping).
HISTOGRAM_OVERRIDES = ("t0", "t0_bin", "t0_us", "first_good_bin", "last_good_bin", "dead_time", "grouping", "groups")
#: Names of which at most one may be given (they set the same thing).
_EXCLUSIVE = (("t0", "t0_bin", "t0_us"), ("grouping", "groups"))


def _refuse(path, name: str, message: str) -> RunFormatError:
    return RunFormatError(path, f"override {name}", message)


def _number(path, name: str, value: Any) -> float:
    """A real, finite number (not a bool, not text)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _refuse(path, name, f"expected {OVERRIDES[name]}, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise _refuse(path, name, f"expected a finite number, got {value!r}")
    return float(value)


def _whole(path, name: str, value: Any) -> int:
    v = _number(path, name, value)
    if v != round(v):
        raise _refuse(path, name, f"expected a whole number, got {value!r}")
    return int(v)


def check_names_and_scalars(path: str | os.PathLike, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Refuse unknown override names and bad scalar values, before the file is read.

    Parameters
    ----------
    path : str or os.PathLike
        The run file (named in every error).
    overrides : mapping
        The keyword arguments given to ``read_run``.

    Returns
    -------
    dict
        The overrides that are not None, scalars converted (``float``, ``int``,
        upper-case geometry); per-detector values are returned as given, for
        :func:`check_detector_values`.

    Raises
    ------
    RunFormatError
        An unknown name (with the nearest valid one), two names for the same thing,
        or a scalar of a wrong type or range.
    """
    out: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in OVERRIDES:
            near = difflib.get_close_matches(name, OVERRIDES, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise RunFormatError(path, f"override {name!r}", f"unknown; {hint}valid: {', '.join(OVERRIDES)}")
        if value is not None:
            out[name] = _scalar(path, name, value)
    for group in _EXCLUSIVE:
        given = [n for n in group if n in out]
        if len(given) > 1:
            raise _refuse(path, given[1], f"give only one of {', '.join(given)}: they set the same thing")
    return out


def _scalar(path, name: str, value: Any) -> Any:
    """One override checked on its own (per-detector ones pass unchanged)."""
    if name in ("temperature_K", "field_mT", "alpha"):
        v = _number(path, name, value)
        if (name == "temperature_K" and v < 0) or (name == "alpha" and v <= 0):
            raise _refuse(path, name, f"expected {OVERRIDES[name]}, got {value!r}")
        return v
    if name == "geometry":
        if not isinstance(value, str) or value.strip().upper() not in ("ZF", "LF", "TF"):
            raise _refuse(path, name, f"expected {OVERRIDES[name]}, got {value!r}")
        return value.strip().upper()
    if name in ("sample", "title", "delimiter"):
        if not isinstance(value, str) or (name == "delimiter" and not value):
            raise _refuse(path, name, f"expected {'non-empty ' if name == 'delimiter' else ''}text, got {value!r}")
        return value
    if name == "run_number":
        v = _whole(path, name, value)
        if v < 0:
            raise _refuse(path, name, f"expected {OVERRIDES[name]}, got {value!r}")
        return v
    if name == "columns":
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
            raise _refuse(path, name, f"expected {OVERRIDES[name]}, got {value!r}")
        cols = tuple(_whole(path, name, c) for c in value)
        if min(cols) < 0 or len(set(cols)) != 3:
            raise _refuse(path, name, f"expected three different indices >= 0, got {value!r}")
        return cols
    return value


def _objects(path, name: str, value: Any) -> np.ndarray:
    """``value`` as an object array (each element checked later), so that text or ragged lists are named, not cast."""
    try:
        return np.asarray(value, dtype=object)
    except (TypeError, ValueError):
        raise _refuse(path, name, f"expected {OVERRIDES[name]}, got {value!r}") from None


def _per_detector(path, name: str, value: Any, n_det: int, whole: bool) -> np.ndarray:
    """A scalar or one value per detector, numbers only, finite (whole when ``whole``)."""
    arr = _objects(path, name, value)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.size not in (1, n_det)):
        raise _refuse(path, name, f"expected one value or {n_det} (one per detector), got {arr.size} "
                                  f"(shape {arr.shape})")
    out = np.array([(_whole if whole else _number)(path, name, v) for v in arr.ravel()], dtype=np.float64)
    return np.broadcast_to(out, (n_det,)).copy()


def check_detector_values(path: str | os.PathLike, run: MuonRun, overrides: dict[str, Any]) -> dict[str, Any]:
    """Check the per-detector overrides against the run read from ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The run file.
    run : bayesmusr.io.run.MuonRun
        The run as read (its detectors, bins and bin width bound the values).
    overrides : dict
        As returned by :func:`check_names_and_scalars`.

    Returns
    -------
    dict
        The overrides with per-detector values as float64 arrays of one value per detector.

    Raises
    ------
    RunFormatError
        A histogram override on an asymmetry-only run, a wrong length, a value that
        is not a finite number (or not whole, for good bins), out of the histogram,
        or a grouping naming detectors the run does not have.
    """
    out = dict(overrides)
    given = [n for n in HISTOGRAM_OVERRIDES if n in out]
    if given and run.kind != "histograms":
        raise _refuse(path, given[0], f"applies to histogram runs only; this file is {run.attrs.get('format')} "
                                      "(asymmetry only)")
    if not given:
        return out
    n_det, n_bin, bw = run.n_detectors, run.n_bins, run.bin_width_us
    limits = {"t0": (0.0, n_bin - 1.0), "t0_bin": (0.0, n_bin - 1.0), "t0_us": (0.0, n_bin * bw),
              "first_good_bin": (0.0, n_bin - 1.0), "last_good_bin": (1.0, float(n_bin)), "dead_time": None}
    for name, bounds in limits.items():
        if name not in out:
            continue
        v = _per_detector(path, name, out[name], n_det, whole=name.endswith("good_bin"))
        if bounds and (np.any(v < bounds[0]) or np.any(v > bounds[1]) or (name == "t0_us" and np.any(v >= bounds[1]))):
            unit = " μs" if name == "t0_us" else ""
            raise _refuse(path, name, f"expected {bounds[0]:g} <= value {'<' if name == 't0_us' else '<='} "
                                      f"{bounds[1]:g}{unit} (the histogram has {n_bin} bins), got {v.min():g}..{v.max():g}")
        out[name] = v.astype(np.int64) if name.endswith("good_bin") else v
    for name in ("grouping", "groups"):
        if name in out:
            out[name] = _groups(path, name, out[name], run.ds["detector"].values)
    return out


def _groups(path, name: str, value: Any, detectors: np.ndarray) -> tuple[list[int], list[int]]:
    """(forward, backward) lists of existing, whole detector numbers, not overlapping."""
    if isinstance(value, Mapping):
        if set(value) != {"forward", "backward"}:
            raise _refuse(path, name, f"expected a mapping with keys 'forward' and 'backward', got keys {sorted(value)}")
        pair = (value["forward"], value["backward"])
    elif isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise _refuse(path, name, f"expected {OVERRIDES['grouping']}, got {value!r}")
    else:
        pair = tuple(value)
    known = {int(d) for d in detectors}
    out = []
    for side, members in zip(("forward", "backward"), pair):
        nums = [_whole(path, name, d) for d in _objects(path, name, members).ravel()]
        if not nums:
            raise _refuse(path, name, f"expected at least one {side} detector")
        missing = sorted(set(nums) - known)
        if missing:
            raise _refuse(path, name, f"{side} detectors {missing} do not exist (the run has {min(known)}..{max(known)})")
        out.append(nums)
    if set(out[0]) & set(out[1]):
        raise _refuse(path, name, f"forward and backward share detectors {sorted(set(out[0]) & set(out[1]))}")
    return out[0], out[1]
