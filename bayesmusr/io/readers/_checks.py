"""Checks every reader applies to what a file holds, so that each refusal names the file and the field.

* :func:`require_regular_file` — a run file must be a regular file: a FIFO would block
  the reader forever, a device could be endless or have side effects on opening, a
  directory is no run. Checked with ``os.stat`` before anything opens the path.
* :func:`integer_counts` — counts must be numbers (not strings, booleans or objects),
  whole, finite and >= 0; returned as int64 (period, detector, bin).
* :func:`per_detector_values` — arrays stored per spectrum, or per spectrum and period
  (dead times, grouping). The rule is Mantid's ``LoadMuonNexus1::loadDeadTimes``: fewer
  values than spectra, or a number that is not a multiple of them, is refused; a
  multiple is read per period and period 1's values are used (with a note when the
  periods differ).
* :func:`run_number` — a run number that is not a whole number >= 0 (NaN, infinity,
  a fraction) is unknown (−1) with a note, not a reason to refuse the data.
* :func:`good_frames_note` — the dead-time correction N/(1 − Nτ/(Δt·F)) needs F > 0 good
  frames per period; when a file gives dead times but F <= 0 or non-finite, the run's
  ``notes`` say ``"dead time not corrected: good frames = 0"`` instead of silence.
"""
from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable

import numpy as np

from bayesmusr.io.errors import RunFormatError

__all__ = ["good_frames_note", "integer_counts", "per_detector_values", "require_regular_file", "run_number"]

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
#: Largest count an int64 holds exactly as a float64 (counts stored as floats beyond it are not whole numbers).
_MAX_FLOAT_COUNT = 2.0**53


def require_regular_file(path: str | os.PathLike) -> None:
    """Refuse, without opening it, a path that is not a regular file.

    Parameters
    ----------
    path : str or os.PathLike
        The run file (symbolic links are followed).

    Raises
    ------
    FileNotFoundError
        Nothing exists at ``path``.
    RunFormatError
        ``path`` is a directory, FIFO, device or socket (field ``"file"``), or cannot be examined.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such run file") from None
    except OSError as exc:
        raise RunFormatError(path, "file", f"could not be examined ({exc.strerror})") from None
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    raise RunFormatError(path, "file", f"is {kind}, not a run file: not opened")


def _where(idx: tuple[int, ...]) -> str:
    return f"period {idx[0] + 1}, detector {idx[1] + 1}, bin {idx[2]}"


def integer_counts(
    values, path, field: str, locate: Callable[[tuple[int, ...]], str] | None = None
) -> np.ndarray:
    """Counts (period, detector, bin) checked to be whole numbers >= 0, as int64.

    Parameters
    ----------
    values : array_like
        The counts as read, shape (period, detector, bin).
    path : path
        The file, for the error message.
    field : str
        The dataset the counts come from (e.g. ``"raw_data_1/detector_1/counts"``).
    locate : callable, optional
        Names an index (period, detector, bin) in the file's terms; default
        ``"period p, detector d, bin b"`` (period and detector from 1, bin from 0).

    Returns
    -------
    ndarray of int64

    Raises
    ------
    RunFormatError
        Empty, of a non-numeric or boolean dtype, not finite, fractional, negative or too large.
    """
    locate = locate or _where
    a = np.asarray(values)
    if a.ndim != 3 or a.size == 0:
        raise RunFormatError(path, field, f"expected non-empty (period, detector, bin) histograms, found shape {a.shape}")
    if a.dtype.kind not in "iuf":
        raise RunFormatError(path, field, f"expected integer counts, found values of type {a.dtype} ({_dtype_words(a)})")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise RunFormatError(path, field, f"expected finite counts, found {a[idx]} ({locate(idx)}) (NaN or infinity)")
        frac = a != np.round(a)
        if np.any(frac):
            idx = tuple(int(i) for i in np.argwhere(frac)[0])
            raise RunFormatError(path, field, f"expected integer counts, found {a[idx]:g} ({locate(idx)})")
        if np.any(np.abs(a) > _MAX_FLOAT_COUNT):
            raise RunFormatError(path, field, f"expected counts below 2^53, found {np.max(np.abs(a)):g}")
    elif a.dtype.kind == "u" and a.dtype.itemsize >= 8 and np.any(a > np.iinfo(np.int64).max):
        raise RunFormatError(path, field, f"expected counts below 2^63, found {a.max()}")
    neg = a < 0
    if np.any(neg):
        idx = tuple(int(i) for i in np.argwhere(neg)[0])
        raise RunFormatError(path, field, f"expected counts >= 0, found {a[idx]:g} ({locate(idx)})")
    return a.astype(np.int64)


def _dtype_words(a: np.ndarray) -> str:
    return {"S": "byte strings", "U": "text", "O": "objects", "b": "booleans", "c": "complex numbers",
            "V": "records", "M": "dates", "m": "time spans"}.get(a.dtype.kind, "not numbers")


def per_detector_values(
    values, n_det: int, n_per: int, path, field: str, what: str, notes: list[str], strict: bool = True
) -> np.ndarray | None:
    """Period 1's values of an array stored per spectrum, or per spectrum and period.

    Parameters
    ----------
    values : array_like or None
        As read from the file (None: absent).
    n_det, n_per : int
        Spectra per period and periods of the run.
    path : path
        The file, for error messages.
    field : str
        The dataset, for error messages.
    what : str
        What the values are ("dead times", "grouping"), for ``notes``.
    notes : list of str
        Notes of the run; a note is added when the periods' values differ, when a
        multiple of the spectra other than one set per period is read, or when
        non-strict values are ignored.
    strict : bool
        True: refuse arrays of a wrong length or type (dead times); False: ignore
        them with a note (grouping, which has defaults).

    Returns
    -------
    ndarray or None
        ``n_det`` values (float64); None when ``values`` is None or was ignored.

    Raises
    ------
    RunFormatError
        (``strict``) Non-numeric values, infinities, fewer values than spectra, or a
        number of values that is not a multiple of the spectra.
    """
    if values is None:
        return None
    a = np.asarray(values)
    problem = ""
    if a.dtype.kind not in "iuf":
        problem = f"expected numbers, found values of type {a.dtype} ({_dtype_words(a)})"
    elif a.size < n_det or a.size % n_det:
        problem = (f"expected {n_det} values (one per spectrum) or {n_det * n_per} (per spectrum and period), "
                   f"found {a.size}")
    elif np.any(np.isinf(a)):
        problem = "expected finite values, found infinity"
    if problem:
        if strict:
            raise RunFormatError(path, field, problem)
        notes.append(f"{what} ignored ({field}: {problem})")
        return None
    a = a.astype(np.float64).ravel()
    sets = a.size // n_det
    if sets > 1:
        per = a.reshape(sets, n_det)
        if sets != n_per:
            notes.append(f"{what}: {sets} sets of {n_det} for {n_per} period(s); the first is used (as Mantid)")
        elif np.any((per != per[0]) & ~(np.isnan(per) & np.isnan(per[0]))):
            notes.append(f"{what} differ between periods; period 1's are used")
    return a[:n_det]


def good_frames_note(frames: np.ndarray | None, dead: np.ndarray | None) -> str:
    """Why the dead-time correction cannot be applied although the file gives dead times.

    Parameters
    ----------
    frames : ndarray or None
        Good frames per period (None: unknown).
    dead : ndarray or None
        Dead times per detector (None or all NaN: the file gives none).

    Returns
    -------
    str
        ``"dead time not corrected: good frames = 0"`` (naming the periods of a
        multi-period run) when some period has good frames <= 0 or non-finite; ``""``
        when the correction can be applied or there are no dead times.
    """
    if dead is None or not np.any(np.isfinite(dead)) or frames is None:
        return ""
    f = np.asarray(frames, np.float64).ravel()
    bad = [i for i, v in enumerate(f) if not (math.isfinite(v) and v > 0)]
    if not bad:
        return ""
    if f.size == 1:
        return f"dead time not corrected: good frames = {f[0]:g}"
    return "dead time not corrected: " + ", ".join(f"period {i + 1} good frames = {f[i]:g}" for i in bad)


def run_number(value: float, field: str, notes: list[str]) -> int:
    """A header run number as an int; −1 (unknown) with a note when it is not a whole number >= 0.

    Parameters
    ----------
    value : float
        The number read (NaN when absent or not a number).
    field : str
        Where it was read, for the note.
    notes : list of str
        Notes of the run (appended to when the value is unusable).

    Returns
    -------
    int
    """
    if math.isnan(value):
        return -1
    if math.isfinite(value) and value == round(value) and 0 <= value < 2.0**53:
        return int(value)
    notes.append(f"{field}: expected a whole number >= 0, found {value:g}; run number unknown")
    return -1
