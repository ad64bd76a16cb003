"""Readers for facility μSR files: one entry point, :func:`read_run`.

The format is recognised from the file's first bytes, never from its extension:

=================  ============================  ===============================================
signature          format                        module
=================  ============================  ===============================================
``0E 03 13 01``    ISIS muon NeXus v1 (HDF4)     :mod:`bayesmusr.io.readers.isis_nexus`
``89 'HDF' ...``   ISIS muon NeXus v2 (HDF5), or :mod:`bayesmusr.io.readers.isis_nexus`,
                   bayesmusr's own netCDF run    :meth:`bayesmusr.io.run.MuonRun.from_netcdf`
``'1N'``           PSI-BIN                       :mod:`bayesmusr.io.readers.psi`
``'M3' 'T4' 'T5'`` PSI MDU                       :mod:`bayesmusr.io.readers.psi`
``'root'``         PSI MusrRoot (ROOT file)      :mod:`bayesmusr.io.readers.musrroot`
MUD group header   TRIUMF MUD                    :mod:`bayesmusr.io.readers.mud`
text               ASCII asymmetry export        :mod:`bayesmusr.io.readers.ascii`
=================  ============================  ===============================================

Every failure to read a file raises :class:`RunFormatError` (a ``ValueError``)
whose message names the file, the field and what was expected. A path that is not a
regular file (directory, FIFO, device, socket) is refused before anything opens it
(:func:`bayesmusr.io.readers._checks.require_regular_file`: opening a FIFO blocks).
Every reader reads units with :mod:`bayesmusr.io.readers._meta` and completes a
geometry its header leaves open from the run title
(:func:`bayesmusr.io.readers._meta.complete_geometry`); counts, dead times and good
frames are checked by :mod:`bayesmusr.io.readers._checks`, and the overrides of
:func:`read_run` by :mod:`bayesmusr.io.readers._overrides`.
"""
from __future__ import annotations

import os
import pathlib
import struct
from typing import Any

import h5py

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers._checks import integer_counts, require_regular_file
from bayesmusr.io.readers._isolate import call_isolated
from bayesmusr.io.readers._overrides import (
    check_detector_values,
    check_names_and_scalars,
)
from bayesmusr.io.readers.ascii import read_ascii
from bayesmusr.io.readers.isis_nexus import read_nexus_v1, read_nexus_v2
from bayesmusr.io.readers.mud import read_mud
from bayesmusr.io.readers.musrroot import ROOT_MAGIC, read_musrroot
from bayesmusr.io.readers.psi import read_psi
from bayesmusr.io.run import RUN_FORMAT_ATTR, MuonRun

__all__ = ["RunFormatError", "call_isolated", "read_run", "sniff_format"]

HDF4_MAGIC = b"\x0e\x03\x13\x01"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: MUD files start with the core of a group section: size, secID = MUD_SEC_GRP_ID
#: (0x01010003), instanceID = a format ID (generic 0x0101xxxx/0x0102xxxx, TRIUMF TD
#: 0x02010000, TI 0x02020000),
#: all little-endian uint32 (checked against files written by the MUD library).
MUD_SEC_GRP_ID = 0x01010003


def _head(path: pathlib.Path, n: int = 64) -> bytes:
    require_regular_file(path)  # before open(): opening a FIFO would block
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except FileNotFoundError:  # removed since the check
        raise FileNotFoundError(f"{path}: no such run file") from None
    except OSError as exc:
        raise RunFormatError(path, "file", f"could not be opened ({exc.strerror})") from None


def _looks_like_mud(head: bytes) -> bool:
    if len(head) < 12:
        return False
    _size, sec_id, instance = struct.unpack("<III", head[:12])
    return sec_id == MUD_SEC_GRP_ID and (instance >> 24) in (0x01, 0x02)


def sniff_format(path: str | os.PathLike) -> str:
    """Name the format of a run file from its content.

    Parameters
    ----------
    path : str or os.PathLike
        File to inspect.

    Returns
    -------
    str
        One of ``"nexus-v1"``, ``"hdf5"`` (NeXus v2 or a bayesmusr netCDF run; told
        apart when opened), ``"psi-bin"``, ``"psi-mdu"``, ``"musr-root"``, ``"mud"``,
        ``"msr-text"`` (a musrfit text file, not data) or ``"ascii"``.

    Raises
    ------
    RunFormatError
        Not a regular file (directory, FIFO, device), empty file, or binary content
        of no known format.
    FileNotFoundError
        The file does not exist.
    """
    path = pathlib.Path(path)
    head = _head(path, 4096)
    if not head:
        raise RunFormatError(path, "file", "expected a μSR run file, found an empty file")
    if head.startswith(HDF4_MAGIC):
        return "nexus-v1"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head[:2] == b"1N":
        return "psi-bin"
    if head[:2] in (b"M3", b"T4", b"T5"):
        return "psi-mdu"
    if head.startswith(ROOT_MAGIC) and b"\x00" in head[4:8]:  # then the big-endian ROOT version: a text file has no NUL
        return "musr-root"
    if _looks_like_mud(head):
        return "mud"
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = head[:-4].decode("utf-8")  # a multi-byte character cut at the end
            except UnicodeDecodeError:
                text = None
        if text is not None:
            upper = text.upper()
            if "FITPARAMETER" in upper or "\nRUN " in upper or upper.startswith("RUN "):
                return "msr-text"
            return "ascii"
    raise RunFormatError(
        path,
        "file signature",
        "expected ISIS NeXus (HDF4/HDF5), PSI-BIN ('1N'), PSI MDU ('M3'/'T4'/'T5'), MusrRoot ('root'), "
        f"TRIUMF MUD or a text asymmetry file; found bytes {head[:8]!r}",
    )


def read_run(path: str | os.PathLike, **overrides: Any) -> "MuonRun":
    """Read one μSR run file of any supported format.

    Parameters
    ----------
    path : str or os.PathLike
        The run file. Its format is found from the content (see :func:`sniff_format`).
    **overrides
        Values that replace or complete what the file says, recorded as coming from
        the user: ``temperature_K``, ``field_mT``, ``geometry`` ("ZF", "LF", "TF"),
        ``t0`` (a bin index, whose centre is time zero; one value or one per
        detector; ``t0_bin`` is the same), ``t0_us`` (μs from the left edge of bin
        0), ``first_good_bin``, ``last_good_bin``, ``dead_time`` (μs, one value or
        one per detector), ``grouping`` or ``groups`` (forward/backward detector
        numbers, see :meth:`bayesmusr.io.run.MuonRun.grouped`), ``alpha``,
        ``sample``, ``title``, ``run_number``; for ASCII files also ``columns`` and
        ``delimiter``. None means "not given". Each is checked (type, finite, range,
        one per detector) by :mod:`bayesmusr.io.readers._overrides`.

    Returns
    -------
    bayesmusr.io.run.MuonRun

    Raises
    ------
    RunFormatError
        The path is not a regular file; the file is of no supported format, damaged,
        or lacks a field that is needed and was not given as an override; or an
        override is unknown (the message suggests the nearest name) or invalid
        (field ``override <name>``).
    FileNotFoundError
        The file does not exist.
    """
    path = pathlib.Path(path)
    overrides = check_names_and_scalars(path, overrides)  # before reading: a typo costs no reading
    kind = sniff_format(path)
    reader_opts = {k: overrides.pop(k) for k in ("columns", "delimiter") if k in overrides}
    if reader_opts and kind != "ascii":
        name = next(iter(reader_opts))
        raise RunFormatError(path, f"override {name}", f"applies to ASCII asymmetry files only; this file is {kind}")
    if kind == "nexus-v1":
        run = read_nexus_v1(path)
    elif kind == "hdf5":
        run = _read_hdf5(path)
    elif kind in ("psi-bin", "psi-mdu"):
        run = read_psi(path)
    elif kind == "musr-root":
        run = read_musrroot(path)
    elif kind == "mud":
        run = read_mud(path)
    elif kind == "msr-text":
        raise RunFormatError(
            path,
            "file content",
            "this is a musrfit .msr text file (fit description), not data; expected a "
            "binary TRIUMF MUD run or another data file",
        )
    else:
        run = read_ascii(
            path,
            temperature_K=overrides.pop("temperature_K", None),
            field_mT=overrides.pop("field_mT", None),
            geometry=overrides.pop("geometry", None),
            **reader_opts,
        )
    overrides = check_detector_values(path, run, overrides)
    if overrides:
        run = run.with_overrides(**overrides)
    run.validate()
    return run


def _read_hdf5(path: pathlib.Path) -> "MuonRun":

    try:
        with h5py.File(path, "r") as fh:
            is_own = RUN_FORMAT_ATTR in fh.attrs
            is_v2 = "raw_data_1" in fh
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise RunFormatError(path, "HDF5 structure", f"damaged or truncated HDF5 file ({exc})") from None
    if is_own:
        return _read_own(path)
    if is_v2:
        return read_nexus_v2(path)
    raise RunFormatError(
        path, "HDF5 content", "expected an ISIS muon NeXus v2 file (group 'raw_data_1') or a bayesmusr netCDF run"
    )


def _read_own(path: pathlib.Path) -> "MuonRun":
    """A bayesmusr netCDF run; a damaged one is a RunFormatError like any other file."""
    try:
        run = MuonRun.from_netcdf(path)
        if run.kind == "histograms":  # the file may have been edited: its counts get the readers' checks
            run.ds["counts"] = (run.ds["counts"].dims, integer_counts(run.ds["counts"].values, path, "counts"))
        return run.validate()
    except RunFormatError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        raise RunFormatError(path, "netCDF content", f"damaged bayesmusr run file ({type(exc).__name__}: {exc})") from None
