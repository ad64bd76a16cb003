"""Readers for facility μSR files: one entry point, :func:`read_run`.

The format is recognised from the file's first bytes, never from its extension:

=================  ============================  =====================================
signature          format                        module
=================  ============================  =====================================
``0E 03 13 01``    ISIS muon NeXus v1 (HDF4)     :mod:`bayesmusr.readers.isis_nexus`
``89 'HDF' ...``   ISIS muon NeXus v2 (HDF5), or :mod:`bayesmusr.readers.isis_nexus`,
                   bayesmusr's own netCDF run    :meth:`bayesmusr.data.MuonRun.from_netcdf`
``'1N'``           PSI-BIN                       :mod:`bayesmusr.readers.psi`
``'M3' 'T4' 'T5'`` PSI MDU                       :mod:`bayesmusr.readers.psi`
MUD group header   TRIUMF MUD                    :mod:`bayesmusr.readers.mud`
text               ASCII asymmetry export        :mod:`bayesmusr.readers.ascii`
=================  ============================  =====================================

Every failure to read a file raises :class:`RunFormatError` (a ``ValueError``)
whose message names the file, the field and what was expected.
"""
from __future__ import annotations

import os
import pathlib
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..data import MuonRun

__all__ = ["RunFormatError", "call_isolated", "read_run", "sniff_format"]

HDF4_MAGIC = b"\x0e\x03\x13\x01"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: MUD files start with the core of a group section: size, secID = MUD_SEC_GRP_ID
#: (0x01010003), instanceID = a format ID (generic 0x0101xxxx/0x0102xxxx, TRIUMF TD
#: 0x02010000, TI 0x02020000),
#: all little-endian uint32 (checked against files written by the MUD library).
MUD_SEC_GRP_ID = 0x01010003


class RunFormatError(ValueError):
    """A run file could not be read: wrong format, damaged, or missing a field.

    Parameters
    ----------
    path : str or os.PathLike
        The file concerned.
    field : str
        The field, dataset or header entry at fault.
    expected : str
        What was expected there (and, where known, what was found).
    """

    def __init__(self, path: str | os.PathLike | None, field: str, expected: str):
        self.path = None if path is None else str(path)
        self.field = field
        self.expected = expected
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{field}: {expected}")

    def __reduce__(self):
        return (type(self), (self.path, self.field, self.expected))


def _child(conn, func, args) -> None:  # pragma: no cover - runs in the forked child
    try:
        try:
            conn.send(("ok", func(*args)))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            try:
                conn.send(("error", exc))
            except Exception:  # noqa: BLE001 - an exception that cannot be pickled
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        conn.close()
    finally:
        os._exit(0)


def call_isolated(path: str | os.PathLike, library: str, func, *args):
    """Run ``func(*args)`` in a forked child process and return its result.

    The C libraries behind the binary readers (HDF4 via pyhdf, musr2py, the MUD
    library) abort or crash the interpreter on some damaged files instead of
    reporting an error. Running them in a child turns such a crash into a
    :class:`RunFormatError`. Exceptions raised in the child are re-raised here.
    Where ``fork`` is unavailable the call is made in-process.

    Parameters
    ----------
    path : path
        The file being read (for the error message).
    library : str
        Name of the library, for the error message.
    func : callable
        Module-level function to call; its result must be picklable.
    *args
        Arguments for ``func``.
    """
    import multiprocessing

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        return func(*args)
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, func, args), daemon=True)
    proc.start()
    send.close()
    try:
        status, payload = recv.recv()
    except (EOFError, OSError):
        status, payload = None, None
    finally:
        recv.close()
        proc.join()
    if status is None:
        raise RunFormatError(
            path, "file content",
            f"the {library} library crashed while reading it (exit code {proc.exitcode}): the file is damaged",
        )
    if status == "error":
        raise payload
    return payload


def _head(path: pathlib.Path, n: int = 64) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except IsADirectoryError:
        raise RunFormatError(path, "file", "expected a run file, found a directory") from None
    except FileNotFoundError:
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
        apart when opened), ``"psi-bin"``, ``"psi-mdu"``, ``"mud"``, ``"msr-text"``
        (a musrfit text file, not data) or ``"ascii"``.

    Raises
    ------
    RunFormatError
        Empty file, or binary content of no known format.
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
        "expected ISIS NeXus (HDF4/HDF5), PSI-BIN ('1N'), PSI MDU ('M3'/'T4'/'T5'), "
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
        ``t0`` (μs after the start of the histogram; a scalar or one per detector),
        ``t0_bin``, ``first_good_bin``, ``last_good_bin``, ``dead_time`` (μs per
        detector), ``grouping`` (forward/backward detector lists, see
        :meth:`bayesmusr.data.MuonRun.grouped`), ``sample``, ``title``,
        ``run_number``. ASCII files also take reader options such as ``columns``.

    Returns
    -------
    bayesmusr.data.MuonRun

    Raises
    ------
    RunFormatError
        The file is of no supported format, damaged, or lacks a field that is needed
        and was not given as an override.
    FileNotFoundError
        The file does not exist.
    """
    from ..data import MuonRun

    path = pathlib.Path(path)
    kind = sniff_format(path)
    reader_opts = {k: overrides.pop(k) for k in ("columns", "delimiter") if k in overrides}
    if kind == "nexus-v1":
        from .isis_nexus import read_nexus_v1

        run = read_nexus_v1(path)
    elif kind == "hdf5":
        run = _read_hdf5(path)
    elif kind in ("psi-bin", "psi-mdu"):
        from .psi import read_psi

        run = read_psi(path)
    elif kind == "mud":
        from .mud import read_mud

        run = read_mud(path)
    elif kind == "msr-text":
        raise RunFormatError(
            path,
            "file content",
            "this is a musrfit .msr text file (fit description), not data; expected a "
            "binary TRIUMF MUD run or another data file",
        )
    else:
        from .ascii import read_ascii

        run = read_ascii(
            path,
            temperature_K=overrides.pop("temperature_K", None),
            field_mT=overrides.pop("field_mT", None),
            geometry=overrides.pop("geometry", None),
            **reader_opts,
        )
    if overrides:
        run = run.with_overrides(**overrides)
    run.validate()
    return run


def _read_hdf5(path: pathlib.Path) -> "MuonRun":
    import h5py

    from ..data import RUN_FORMAT_ATTR, MuonRun

    try:
        with h5py.File(path, "r") as fh:
            is_own = RUN_FORMAT_ATTR in fh.attrs
            is_v2 = "raw_data_1" in fh
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise RunFormatError(path, "HDF5 structure", f"damaged or truncated HDF5 file ({exc})") from None
    if is_own:
        return MuonRun.from_netcdf(path)
    if is_v2:
        from .isis_nexus import read_nexus_v2

        return read_nexus_v2(path)
    raise RunFormatError(
        path, "HDF5 content", "expected an ISIS muon NeXus v2 file (group 'raw_data_1') or a bayesmusr netCDF run"
    )
