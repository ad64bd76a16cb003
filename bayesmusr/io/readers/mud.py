"""TRIUMF MUD reader (via ``mud-py``, a core dependency: module ``mudpy``, built from source).

MUD files are binary streams of sections; the file starts with a group section
whose core is (size, secID = 0x01010003, instanceID = format, e.g. 0x02010000
for TD-μSR), little-endian — that is how :func:`bayesmusr.io.readers.sniff_format`
tells them from musrfit's text ``.msr`` files, which share the extension.

Histograms come from ``mudpy.mud_friendly_wrapper``: counts, bin width
(``fs_per_bin``), ``t0_bin``, good bins ``good_bin1``..``good_bin2`` (inclusive)
and titles. Temperature and field are the run description strings
(e.g. ``"10.0K"``, ``"20.0G"``, ``"290.0(0.1)K"``), read by
:func:`bayesmusr.io.readers._meta.read_quantity`; a bare number is read as K or G
(what TRIUMF writes, and what musrfit assumes) and the source says so; a string of
another form or an unknown unit leaves the value NaN with the reason in the source.
t0 follows musrfit: the centre of ``t0_bin``. MUD headers state no geometry: a zero
field means ZF, otherwise the title is read
(:func:`bayesmusr.io.readers._meta.complete_geometry`).

``mudpy`` is imported inside the forked child that reads the file, not at module
level: if the C extension failed to build, every other reader keeps working and
reading a MUD file says how to install it.
"""
from __future__ import annotations

import datetime as _dt
import importlib
import pathlib

import numpy as np

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers._checks import integer_counts
from bayesmusr.io.readers._isolate import call_isolated
from bayesmusr.io.readers._meta import complete_geometry, quantity_source, read_quantity
from bayesmusr.io.run import MuonRun, make_histogram_dataset

__all__ = ["read_mud"]

#: the module of the ``mud-py`` distribution (declared in pyproject.toml under that name): the import and
#: distribution names differ, so it is named here once and imported by name in the reading child
MUD_MODULE = "mudpy.mud_friendly_wrapper"


def read_mud(path: str | pathlib.Path):
    """Read a TRIUMF MUD TD-μSR run.

    Parameters
    ----------
    path : path
        The MUD file (often named ``*.msr``).

    Returns
    -------
    bayesmusr.io.run.MuonRun

    Raises
    ------
    RunFormatError
        ``mud-py`` is missing (it is a dependency of bayesmusr; ``pip install
        'mud-py>=1.3'`` builds it with a C compiler), or the file is damaged or holds
        no TD histograms.
    """
    path = pathlib.Path(path)
    return call_isolated(path, "MUD (mud-py)", _read_here, path)


def _read_here(path: pathlib.Path):
    try:
        mud = importlib.import_module(MUD_MODULE)
    except ImportError:
        raise RunFormatError(
            path, "MUD reader",
            "reading TRIUMF MUD files needs mud-py (module mudpy), a dependency of bayesmusr that is not "
            "installed here: pip install 'mud-py>=1.3' (it builds from source with a C compiler)",
        ) from None
    try:
        fh = mud.open_read(str(path))
    except (RuntimeError, OSError, ValueError) as exc:
        raise RunFormatError(path, "MUD structure", f"the MUD library could not open it ({exc})") from None
    try:
        return _read(mud, fh, path)
    except RunFormatError:
        raise
    except (RuntimeError, ValueError, TypeError, OverflowError, UnicodeDecodeError, IndexError, MemoryError) as exc:
        raise RunFormatError(path, "MUD content", f"unreadable section ({type(exc).__name__}: {exc})") from None
    finally:
        try:
            mud.close_read(fh)
        except Exception:  # noqa: BLE001 - closing must not mask the real error
            pass


def _read(mud, fh, path: pathlib.Path):
    def opt(fn, *args, default=""):
        try:
            return fn(fh, *args)
        except (RuntimeError, ValueError, UnicodeDecodeError):
            return default

    kind, n_hist = (int(x) for x in mud.get_hists(fh))
    if n_hist < 1:
        raise RunFormatError(path, "histograms", "expected at least one TD histogram, found none")
    data, t0b, fgb, lgb, names, bws = [], [], [], [], [], []
    for i in range(1, n_hist + 1):
        data.append(np.asarray(mud.get_hist_data(fh, i)))
        bws.append(float(mud.get_hist_fs_per_bin(fh, i)) * 1e-9)  # fs -> μs
        t0b.append(float(mud.get_hist_t0_bin(fh, i)))
        fgb.append(int(mud.get_hist_good_bin1(fh, i)))
        lgb.append(int(mud.get_hist_good_bin2(fh, i)) + 1)
        names.append(str(opt(mud.get_hist_title, i)).strip())
    lengths = {d.size for d in data}
    if len(lengths) != 1 or 0 in lengths:
        raise RunFormatError(path, "histograms", f"expected equal, non-zero lengths, found {sorted(lengths)}")
    counts = integer_counts(np.stack(data)[np.newaxis], path, "histogram data",
                            lambda idx: f"histogram {idx[1] + 1}, bin {idx[2]}")
    if len({round(b, 12) for b in bws}) != 1 or not bws[0] > 0:
        raise RunFormatError(path, "fs_per_bin", f"expected one positive bin width, found {bws}")
    bw = bws[0]
    n_bins = counts.shape[2]
    raw_T, raw_B = str(opt(mud.get_temperature)).strip(), str(opt(mud.get_field)).strip()
    T, T_note = read_quantity(raw_T, "temperature", default_unit="K")
    field_mT, B_note = read_quantity(raw_B, "field", default_unit="G")
    start = opt(mud.get_start_time, default=0)
    start_iso = _dt.datetime.fromtimestamp(int(start), tz=_dt.timezone.utc).isoformat() if start else ""
    attrs = {
        "format": "TRIUMF MUD",
        "facility": str(opt(mud.get_lab)) or "TRIUMF",
        "instrument": " ".join(s for s in (str(opt(mud.get_area)), str(opt(mud.get_apparatus))) if s),
        "run_number": int(opt(mud.get_run_number, default=-1)),
        "sample": str(opt(mud.get_sample)),
        "title": str(opt(mud.get_title)),
        "comment": f"orientation {opt(mud.get_orientation)}",
        "start_time": start_iso,
        "temperature_K": T,
        "temperature_source": quantity_source(f"header:temperature string {raw_T!r}", T, T_note),
        "field_mT": field_mT,
        "field_source": quantity_source(f"header:field string {raw_B!r}", field_mT, B_note),
        "geometry": "ZF" if np.isfinite(field_mT) and abs(field_mT) < 0.01 else "",
        "geometry_source": "header field = 0" if np.isfinite(field_mT) and abs(field_mT) < 0.01 else "",
        "source_file": str(path),
        "t0_source": "file:t0_bin (bin centre)",
    }
    ds = make_histogram_dataset(
        counts,
        bin_width_us=bw,
        t0_us=(np.asarray(t0b) + 0.5) * bw,
        t0_bin=t0b,
        first_good_bin=fgb,
        last_good_bin=np.minimum(lgb, n_bins),
        detector_names=names,
        attrs=complete_geometry(attrs),
    )
    return MuonRun(ds)
