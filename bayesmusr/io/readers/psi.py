"""PSI-BIN and PSI MDU readers (via ``musr2py``, behind a bounds-checking guard).

``musr2py.MuSR_td_PSI_bin().read(path)`` reads both formats and reports failure
through its return code (0 = success) and ``ReadStatus()`` (e.g. ``"ERROR Open
... failed!"``). It does not check the header against the file: a damaged
header makes it read past its buffers and crash the interpreter (seen with
single flipped bytes in the first kilobyte of an MDU file). So this module
first parses the header itself and checks that every size, count and offset the
library will use fits the file; only then is ``musr2py`` called. Layout facts:

PSI-BIN (``'1N'``, 1024-byte header, little-endian)
    int16 at 28 bins per histogram, at 30 number of histograms; int16 at 128,
    130, 132, 134: data records in the file, bins per record, records per
    histogram, histograms per record (must be 1); float32 at 1012 bin width (μs);
    histograms start at byte 1024 as int32.
PSI MDU (``'M3'`` pTA, ``'T4'``/``'T5'`` TDC)
    512-byte file header (run number int32 at 44, title at 52, detector list at
    192, mean temperatures at 392, deviations at 442, then the sizes of the
    header, settings, tag and statistics records at 496-511); settings record
    (13 int32 then 16 or 32 tag records of 60 bytes); statistics record; then per
    tag a copy of its record and, for positron tags (type ``'P'``), its
    histogram of int32 counts.

Metadata: temperature from the header values (mean of the first sensor, source
``"header:temperature sensor 1"``; else the temperature string, a bare number read as
K), field from the padded field string read by
:func:`bayesmusr.io.readers._meta.read_quantity` (``"0.5 T"`` = 500 mT, ``"5 kG"`` =
500 mT, ``"50G"`` = 5 mT; a bare number is read as G, PSI's unit, and the source says
so; an unknown unit leaves the field NaN with the reason in ``field_source``),
t0 per histogram as the header bin (musrfit convention: the t0 bin's centre is
time zero). Header t0 values are often one bin after the prompt peak. Geometry:
ZF when the header field is zero, else from the title
(:func:`bayesmusr.io.readers._meta.complete_geometry`).
"""
from __future__ import annotations

import datetime as _dt
import math
import pathlib
import struct

import numpy as np

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers._checks import integer_counts
from bayesmusr.io.readers._isolate import call_isolated
from bayesmusr.io.readers._meta import complete_geometry, quantity_source, read_quantity
from bayesmusr.io.run import MuonRun, make_histogram_dataset

__all__ = ["read_psi", "check_psi_header"]

_MAX_HISTOS = 32
_MAX_BINS = 1 << 24
_MDU_SIZES = {b"M3": (1012, 200, 16), b"T4": (1012, 200, 16), b"T5": (1972, 328, 32)}
_TDC_CODES = (25, 100, 200, 800)


def _cstring(buf: bytes, start: int, length: int, path, field: str, need_nul: bool = True) -> str:
    raw = buf[start:start + length]
    if need_nul and b"\x00" not in raw:
        raise RunFormatError(path, field, "expected a NUL-terminated string in the header")
    return raw.split(b"\x00", 1)[0].decode("latin-1")


def check_psi_header(path: str | pathlib.Path) -> dict:
    """Parse and bounds-check a PSI-BIN or MDU header without ``musr2py``.

    Parameters
    ----------
    path : path
        The ``.bin`` or ``.mdu`` file.

    Returns
    -------
    dict
        ``format`` ("PSI-BIN" or "PSI MDU <id>"), ``n_histos``, ``n_bins`` and
        the raw header fields used.

    Raises
    ------
    RunFormatError
        Any size, count or offset that does not fit the file.
    """
    path = pathlib.Path(path)
    buf = path.read_bytes()
    size = len(buf)
    fid = buf[:2]
    if fid == b"1N":
        if size < 1024:
            raise RunFormatError(path, "PSI-BIN header", f"expected 1024 header bytes, file has {size}")
        n_bins, n_hist = struct.unpack_from("<hh", buf, 28)
        numdaf, lendaf, kdafhi, khidaf = struct.unpack_from("<hhhh", buf, 128)
        if not 1 <= n_hist <= 16:
            raise RunFormatError(path, "number of histograms (byte 30)", f"expected 1..16, found {n_hist}")
        if n_bins <= 0:
            raise RunFormatError(path, "bins per histogram (byte 28)", f"expected > 0, found {n_bins}")
        if khidaf != 1:
            raise RunFormatError(path, "histograms per record (byte 134)", f"expected 1, found {khidaf}")
        if numdaf <= 0 or lendaf <= 0 or kdafhi <= 0:
            raise RunFormatError(path, "data records (bytes 128-133)", f"expected positive sizes, found {numdaf}, {lendaf}, {kdafhi}")
        data_bytes = numdaf * lendaf * 4
        if 1024 + data_bytes > size:
            raise RunFormatError(path, "histogram data", f"expected {1024 + data_bytes} bytes, file has {size} (truncated)")
        if (n_hist - 1) * kdafhi * lendaf + n_bins > numdaf * lendaf:
            raise RunFormatError(path, "histogram layout", "histograms extend beyond the data records")
        (bw,) = struct.unpack_from("<f", buf, 1012)
        (res,) = struct.unpack_from("<h", buf, 2)
        if bw == 0:
            if not -8 <= res <= 16:
                raise RunFormatError(path, "TDC resolution (byte 2)", f"expected a resolution code, found {res}")
        elif not (math.isfinite(bw) and bw > 0):
            raise RunFormatError(path, "bin width (byte 1012)", f"expected a positive number of μs, found {bw}")
        return {"format": "PSI-BIN", "n_histos": int(n_hist), "n_bins": int(n_bins)}
    if fid not in _MDU_SIZES:
        raise RunFormatError(path, "format id", f"expected '1N', 'M3', 'T4' or 'T5', found {fid!r}")
    n_settings, n_stats, n_tags = _MDU_SIZES[fid]
    if size < 512:
        raise RunFormatError(path, "MDU header", f"expected 512 header bytes, file has {size}")
    bin_size, nb_header, nb_settings, nb_tag, nb_stats = struct.unpack_from("<5i", buf, 492)
    if (nb_header, nb_settings, nb_tag, nb_stats) != (512, n_settings, 60, n_stats):
        raise RunFormatError(
            path, "MDU record sizes (bytes 496-511)",
            f"expected 512/{n_settings}/60/{n_stats} for {fid.decode()}, found {nb_header}/{nb_settings}/{nb_tag}/{nb_stats}",
        )
    for start, length, field in ((52, 41, "run title"), (93, 63, "run subtitle"), (192, 200, "detector list"),
                                 (392, 50, "mean temperatures"), (442, 50, "temperature deviations")):
        _cstring(buf, start, length, path, field)
    histo_res, _offset, _bins_per, n_det_header = struct.unpack_from("<4i", buf, 176)
    settings_at = 512
    if size < settings_at + n_settings + n_stats:
        raise RunFormatError(path, "MDU settings", f"file truncated in the settings/statistics records ({size} bytes)")
    mode_fields = struct.unpack_from("<13i", buf, settings_at)
    if fid == b"M3":
        timespan = mode_fields[9]
        if not 6 <= timespan <= 11:
            raise RunFormatError(path, "pTA timespan", f"expected 6..11, found {timespan}")
        if not 0 <= histo_res + 8 - timespan <= 16:
            raise RunFormatError(path, "histogram resolution", f"expected a PSI resolution code, found {histo_res}")
    else:
        if mode_fields[9] not in _TDC_CODES:
            raise RunFormatError(path, "TDC resolution code", f"expected one of {_TDC_CODES}, found {mode_fields[9]}")
        if not 1 <= histo_res <= 1024:
            raise RunFormatError(path, "histogram resolution factor", f"expected 1..1024, found {histo_res}")
    selected = set()
    for tok in _cstring(buf, 192, 200, path, "detector list").split():
        if tok.isascii() and tok.lstrip("-").isdigit():  # str.isdigit() also accepts "¹", which int() refuses
            selected.add(int(tok))
    tags = [buf[settings_at + 52 + 60 * i: settings_at + 52 + 60 * (i + 1)] for i in range(n_tags)]
    pos = settings_at + n_settings + n_stats
    shape = None
    n_hist = 0
    for i, tag in enumerate(tags):
        if pos + 60 > size:
            raise RunFormatError(path, f"tag record {i}", f"file truncated at byte {size}")
        if buf[pos:pos + 60] != tag:
            raise RunFormatError(path, f"tag record {i}", "expected a copy of the settings tag, found different bytes")
        pos += 60
        if tag[12:13] != b"P":
            continue
        hmin, hmax = struct.unpack_from("<2i", tag, 40)
        nbins = hmax - hmin + 1
        if nbins <= 1:
            continue
        if hmin < 0 or nbins > _MAX_BINS:
            raise RunFormatError(path, f"tag {i} histogram range", f"expected 0 <= min, at most {_MAX_BINS} bins, found {hmin}..{hmax}")
        if shape is None:
            shape = (hmin, hmax)
        elif shape != (hmin, hmax):
            raise RunFormatError(path, f"tag {i} histogram range", f"expected {shape} like the first histogram, found {(hmin, hmax)}")
        if pos + 4 * nbins > size:
            raise RunFormatError(path, f"histogram of tag {i}", f"expected {4 * nbins} bytes at {pos}, file has {size} (truncated)")
        pos += 4 * nbins
        if fid != b"M3" or i in selected:
            n_hist += 1
    if n_hist == 0 or shape is None:
        raise RunFormatError(path, "histograms", "expected at least one positron histogram, found none")
    if n_hist > _MAX_HISTOS:
        raise RunFormatError(path, "histograms", f"expected at most {_MAX_HISTOS}, found {n_hist}")
    n_bins = shape[1] + 1 - (1 if fid == b"M3" else 0)
    return {"format": f"PSI MDU {fid.decode()}", "n_histos": n_hist, "n_bins": n_bins, "n_detectors_header": n_det_header}


def read_psi(path: str | pathlib.Path):
    """Read a PSI-BIN or PSI MDU run.

    Parameters
    ----------
    path : path
        The file (the format is told from its first two bytes).

    Returns
    -------
    bayesmusr.io.run.MuonRun

    Raises
    ------
    RunFormatError
        Header inconsistent with the file, or ``musr2py`` reports an error.
    """
    path = pathlib.Path(path)
    header = check_psi_header(path)
    return call_isolated(path, "musr2py", _read_here, path, header)


def _read_here(path: pathlib.Path, header: dict):
    try:
        import musr2py
    except ImportError as exc:  # pragma: no cover - musr2py is a dependency
        raise RunFormatError(path, "PSI reader", f"needs the musr2py package ({exc})") from None
    reader = musr2py.MuSR_td_PSI_bin()
    status = reader.read(str(path))
    if status != 0 or not reader.readingOK():
        raise RunFormatError(path, "PSI data", f"musr2py could not read it (code {status}: {reader.ReadStatus()})")
    try:
        return _convert(reader, header, path)
    except UnicodeDecodeError as exc:
        raise RunFormatError(path, "header text", f"expected text fields, found undecodable bytes ({exc.reason})") from None
    except (ValueError, TypeError, OverflowError, IndexError, MemoryError) as exc:
        if isinstance(exc, RunFormatError):
            raise
        raise RunFormatError(path, "header", f"unexpected content ({type(exc).__name__}: {exc})") from None


def _convert(reader, header: dict, path: pathlib.Path):
    n_hist = reader.get_numberHisto_int()
    n_bins = reader.get_histoLength_bin()
    if (n_hist, n_bins) != (header["n_histos"], header["n_bins"]):
        raise RunFormatError(
            path, "histograms",
            f"header check found {header['n_histos']} x {header['n_bins']}, musr2py read {n_hist} x {n_bins}",
        )
    counts = np.array([reader.get_histo_vector(i, 1) for i in range(n_hist)], dtype=np.float64)
    counts = integer_counts(counts[np.newaxis], path, "histogram data",
                            lambda idx: f"histogram {idx[1] + 1}, bin {idx[2]}")
    bw = float(reader.get_binWidth_us())
    t0_bins = np.asarray(reader.get_t0_vector(), dtype=np.float64)[:n_hist]
    fg = np.asarray(reader.get_firstGood_vector(), dtype=np.int64)[:n_hist]
    lg = np.asarray(reader.get_lastGood_vector(), dtype=np.int64)[:n_hist]
    lg = np.minimum(lg, n_bins)
    names = [str(s).strip() for s in reader.get_histoNames_vector()][:n_hist]
    temps = [float(t) for t in reader.get_temperatures_vector()]
    devs = [float(t) for t in reader.get_devTemperatures_vector()]
    if temps and np.isfinite(temps[0]) and temps[0] > 0:
        T, T_std, T_src = temps[0], (devs[0] if devs else math.nan), "header:temperature sensor 1"
    else:
        raw_T = str(reader.get_temp()).strip()
        T, note = read_quantity(raw_T, "temperature", default_unit="K")  # PSI writes "12.0K"
        T_std, T_src = math.nan, quantity_source(f"header:temperature string {raw_T!r}", T, note)
    raw_B = str(reader.get_field()).strip()
    field_mT, note = read_quantity(raw_B, "field", default_unit="G")  # PSI writes "50G"; a bare number is G
    field_src = quantity_source(f"header:field string {raw_B!r}", field_mT, note)
    if np.isfinite(field_mT) and abs(field_mT) < 0.01:
        geometry, geo_src = "ZF", "header field = 0"
    else:
        geometry, geo_src = "", ""  # PSI headers state no geometry: complete_geometry reads the title
    start = ""
    date_time = reader.get_timeStart_vector()
    if len(date_time) >= 2:
        for fmt in ("%d-%b-%y %H:%M:%S", "%d-%b-%Y %H:%M:%S"):
            try:
                start = _dt.datetime.strptime(f"{date_time[0].strip()} {date_time[1].strip()}", fmt).isoformat()
                break
            except ValueError:
                continue
    attrs = {
        "format": header["format"],
        "facility": "PSI",
        "instrument": "",
        "run_number": int(reader.get_runNumber_int()),
        "sample": reader.get_sample().strip(),
        "title": reader.get_comment().strip(),
        "comment": f"orientation {reader.get_orient().strip()}; header events {reader.get_totalEvents_long()}",
        "start_time": start,
        "temperature_K": T,
        "temperature_std_K": T_std,
        "temperature_source": T_src,
        "field_mT": field_mT,
        "field_source": field_src,
        "geometry": geometry,
        "geometry_source": geo_src,
        "source_file": str(path),
        "t0_source": "file:t0 bin (bin centre)",
    }
    ds = make_histogram_dataset(
        counts,
        bin_width_us=bw,
        t0_us=(t0_bins + 0.5) * bw,
        t0_bin=t0_bins,
        first_good_bin=fg,
        last_good_bin=lg,
        detector_names=names,
        attrs=complete_geometry(attrs),
    )
    return MuonRun(ds)
