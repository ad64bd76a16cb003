"""PSI MusrRoot reader (ROOT files, via ``uproot``; no ROOT installation needed).

Layout assumed (musrfit's ``MusrRootDefinition``, ``TMusrRunHeader`` and
``PRunDataHandler::ReadRootFile``):

``histos``
    A ``TFolder`` (the original layout) or a ``TDirectory`` (musrfit's replacement
    for the deprecated ``TFolder`` since October 2025; same names assumed, not checked
    against a real file) holding, somewhere below it
    (normally in ``DecayAnaModule``), one 1-D histogram (``TH1F``) per detector
    named ``hDecayNNN`` (``%03d``, from 1). Its bins 1..N (ROOT's under- and
    overflow bins dropped) are the counts; its title is the detector label.
``RunHeader``
    A ``TFolder`` of ``TObjArray`` (or a ``TDirectory`` of sub-directories):
    ``RunInfo``, ``DetectorInfo`` (one ``DetectorNNN`` per histogram), and
    others. Each entry is a ``TObjString`` ``"NNN - <label>: <value> -@<type>"``,
    type 0 string, 1 int, 2 double, 3 physical quantity
    (``"<value> [+- <error>] <unit>[; SP: <demand>][; <description>]"``),
    4/5/6 string/int/double vectors joined by ``"; "``. The names of the
    ``TObjString`` keys are not used, only their text.

Read from the header: ``RunInfo/Run Number``, ``Run Title``, ``Sample Name``,
``Comment``, ``Laboratory``, ``Instrument``, ``Run Start Time``,
``Sample Temperature`` (K, mK or °C → K), ``Sample Magnetic Field`` (G, kG, mT, T... →
mT), ``Time Resolution`` (ps/ns/μs: the bin width), ``No of Histos``,
``RedGreen Offsets``; per histogram ``DetectorInfo/DetectorNNN/Name``,
``Time Zero Bin``, ``First Good Bin``, ``Last Good Bin``.

Histograms ``hDecay(offset + j)`` (j = 1..No of Histos) of each RedGreen offset
(e.g. field off/on) form one period each, in the order of the offsets; t0 and
good bins are those of the first offset's detectors. t0 follows musrfit: the
centre of the ``Time Zero Bin`` (0-based in the histogram without its underflow
bin); ``Last Good Bin`` is read as the end of the good range, clipped to the
histogram length (the definition's example gives it equal to the length).
Good frames are unknown (continuous source).

Units are read by :func:`bayesmusr.io.readers._meta.convert_unit`. A field without a
unit is read as G and a temperature without one as K (musrfit converts only ``T`` and
takes anything else as G); an unknown unit leaves the value NaN with the reason in
its source. A ``Time Resolution`` without a known time unit is refused.

What fails, with :class:`RunFormatError` naming the file and the missing key: no
``RunHeader`` (e.g. the LEM ROOT files used until 2011, whose header is a
``TLemRunHeader`` in a ``RunInfo`` folder), no ``histos``, no
``RunInfo/Time Resolution`` (the bin width), a missing ``hDecayNNN`` histogram,
histograms of different lengths, a ``hDecayNNN`` that is not a histogram, counts
that are not whole numbers >= 0 (a TH1F stores floats), or a header object uproot
cannot deserialize.
"""
from __future__ import annotations

import datetime as _dt
import math
import pathlib
import re
from typing import Any

import numpy as np
import uproot

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers._checks import integer_counts, run_number
from bayesmusr.io.readers._meta import complete_geometry, convert_unit, quantity_source
from bayesmusr.io.run import MuonRun, make_histogram_dataset

__all__ = ["parse_header_line", "parse_quantity", "read_musrroot"]

ROOT_MAGIC = b"root"
_LINE = re.compile(r"^\s*\d+\s*-\s*(?P<label>[^:]+?)\s*:\s?(?P<value>.*?)\s*-@(?P<type>\d+)\s*$", re.DOTALL)
_QUANTITY = re.compile(
    r"^\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:\s*\+-\s*(?P<error>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?"
    r"\s*(?P<unit>[^;]*?)\s*(?:;|$)"
)
_HISTO = re.compile(r"^hDecay(\d{3,})$")
#: TMusrRunHeader writes "n/a" for strings it was not given.
_UNSET = {"", "n/a"}


def parse_header_line(text: str) -> tuple[str, str, int] | None:
    """Split one MusrRoot header string ``"NNN - <label>: <value> -@<type>"``.

    Parameters
    ----------
    text : str
        The ``TObjString`` content.

    Returns
    -------
    (label, value, type) or None
        None for strings of another form (e.g. ``RunSummary`` lines).
    """
    m = _LINE.match(str(text))
    return (m.group("label"), m.group("value"), int(m.group("type"))) if m else None


def parse_quantity(value: str) -> tuple[float, float, str]:
    """Read a ``TMusrRunPhysicalQuantity`` value ``"3.21 +- 0.05 K; SP: 3.2; CF1"``.

    Parameters
    ----------
    value : str
        The value part of a type-3 header string.

    Returns
    -------
    value, error : float
        NaN when absent.
    unit : str
    """
    m = _QUANTITY.match(value or "")
    if not m:
        return math.nan, math.nan, ""
    err = float(m.group("error")) if m.group("error") else math.nan
    return float(m.group("value")), err, m.group("unit").strip()


# --------------------------------------------------------------- tree walking
def _name(obj: Any, default: str) -> str:
    try:
        return str(obj.member("fName"))
    except (AttributeError, KeyError, TypeError):
        return default


def _children(obj: Any, path: pathlib.Path, where: str) -> list[tuple[str, Any]]:
    """(name, object) of a TDirectory, a TFolder (``fFolders``) or a TObjArray/TList."""
    try:
        if isinstance(obj, uproot.reading.ReadOnlyDirectory):
            return [(k, obj[k]) for k in obj.keys(recursive=False, cycle=False)]
        if hasattr(obj, "member") and _has_member(obj, "fFolders"):
            obj = obj.member("fFolders")
        if isinstance(obj, str) or not hasattr(obj, "__iter__"):
            return []
        return [(_name(child, str(i)), child) for i, child in enumerate(obj)]
    except Exception as exc:  # noqa: BLE001 - any uproot failure on a header object: name where it happened
        raise RunFormatError(path, where, f"uproot could not read this ROOT object ({type(exc).__name__}: {str(exc)[:200]})") from None


def _is_histogram(obj: Any) -> bool:
    """A 1-D ROOT histogram (TH1F, TH1D, TH1I, ...), as uproot names its class."""
    return str(getattr(obj, "classname", "")).startswith("TH1")


def _has_member(obj: Any, name: str) -> bool:
    try:
        obj.member(name)
    except (KeyError, AttributeError, TypeError):
        return False
    return True


def _header(run_header: Any, path: pathlib.Path) -> dict[str, tuple[str, int]]:
    """Every header entry as ``"RunInfo/Run Title" -> (value, type)``, walking folders/arrays/directories."""
    out: dict[str, tuple[str, int]] = {}
    stack = [("", run_header)]
    while stack:
        prefix, obj = stack.pop()
        for name, child in _children(obj, path, "RunHeader/" + prefix):
            if isinstance(child, str):
                parsed = parse_header_line(child)
                if parsed:
                    out.setdefault(prefix + parsed[0], (parsed[1], parsed[2]))
            else:
                stack.append((f"{prefix}{name}/", child))
    return out


def _histograms(histos: Any, path: pathlib.Path) -> dict[int, Any]:
    """Every ``hDecayNNN`` below ``histos``, by number."""
    out: dict[int, Any] = {}
    stack = [("histos", histos)]
    while stack:
        where, obj = stack.pop()
        for name, child in _children(obj, path, where):
            m = _HISTO.match(name)
            if m and _is_histogram(child):
                out.setdefault(int(m.group(1)), child)
            elif not isinstance(child, str) and not _is_histogram(child):
                stack.append((f"{where}/{name}", child))
    return out


# --------------------------------------------------------------------- reading
def read_musrroot(path: str | pathlib.Path):
    """Read a PSI MusrRoot run (layout in the module docstring).

    Parameters
    ----------
    path : path
        The ``.root`` file.

    Returns
    -------
    bayesmusr.io.run.MuonRun

    Raises
    ------
    RunFormatError
        Not a readable ROOT file, or a MusrRoot key is missing (named in the message).
    """
    path = pathlib.Path(path)
    try:
        with uproot.open(path) as fh:
            keys = set(fh.keys(recursive=False, cycle=False))
            for key in ("RunHeader", "histos"):
                if key not in keys:
                    old = " (a RunInfo folder: the LEM ROOT format used until 2011, not supported)" if "RunInfo" in keys else ""
                    raise RunFormatError(path, key, f"missing: expected a MusrRoot top-level {key!r}; found {sorted(keys)}{old}")
            header = _header(_get(fh, "RunHeader", path), path)
            histos = _histograms(_get(fh, "histos", path), path)
    except RunFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - uproot meets damaged bytes with zlib.error, RecursionError, NotImplementedError...
        raise RunFormatError(path, "ROOT content", f"damaged or unreadable ROOT file ({type(exc).__name__}: {str(exc)[:200]})") from None
    return _build(header, histos, path)


def _get(fh, key: str, path: pathlib.Path):
    try:
        return fh[key]
    except Exception as exc:  # noqa: BLE001 - e.g. a TFolder whose streamer uproot cannot use
        raise RunFormatError(path, key, f"uproot could not read it ({type(exc).__name__}: {str(exc)[:200]})") from None


class _Header:
    """Typed access to the parsed header entries."""

    def __init__(self, entries: dict[str, tuple[str, int]], path: pathlib.Path):
        self.entries, self.path = entries, path

    def text(self, key: str) -> str:
        v = self.entries.get(key, ("", 0))[0].strip()
        return "" if v in _UNSET else v

    def number(self, key: str) -> float:
        try:
            return float(self.entries[key][0])
        except (KeyError, ValueError):
            return math.nan

    def quantity(self, key: str) -> tuple[float, float, str]:
        return parse_quantity(self.entries[key][0]) if key in self.entries else (math.nan, math.nan, "")

    def ints(self, key: str) -> list[int]:
        if key not in self.entries:
            return []
        values = [self._whole(key, x) for x in self.entries[key][0].split(";") if x.strip()]
        if any(v is None for v in values):
            raise RunFormatError(self.path, f"RunHeader/{key}", f"expected integers, found {self.entries[key][0]!r}")
        return values

    def whole(self, key: str, default: int) -> int:
        """A whole number; ``default`` when the key is absent; refused when present but not a whole number."""
        if key not in self.entries:
            return default
        v = self._whole(key, self.entries[key][0])
        if v is None:
            raise RunFormatError(self.path, f"RunHeader/{key}", f"expected a whole number, found {self.entries[key][0]!r}")
        return v

    @staticmethod
    def _whole(key: str, text: str) -> int | None:
        try:
            v = float(text)
        except ValueError:
            return None
        # beyond 2^53 a float is no longer an exact count of bins or histograms
        return int(v) if math.isfinite(v) and v == round(v) and abs(v) < 2.0**53 else None


def _bin_width_us(h: _Header) -> float:
    value, _, unit = h.quantity("RunInfo/Time Resolution")
    key = "RunHeader/RunInfo/Time Resolution"
    if not math.isfinite(value):
        raise RunFormatError(h.path, key, "missing: needed for the bin width (e.g. '0.1953125 ns')")
    bw, note = convert_unit(value, unit, "time")
    if not (math.isfinite(bw) and bw > 0):
        raise RunFormatError(h.path, key, f"expected a positive time in ps, ns or us, found {value:g} {unit!r}"
                             + (f": {note}" if note else ""))
    return bw


def _layout(h: _Header, histos: dict[int, Any]) -> tuple[list[int], int]:
    """RedGreen offsets (one period each) and histograms per period."""
    offsets = h.ints("RunInfo/RedGreen Offsets") or [0]
    n = h.whole("RunInfo/No of Histos", 0)
    if n < 1:
        if not histos:
            raise RunFormatError(h.path, "histos/DecayAnaModule/hDecay001", "missing: the file holds no hDecayNNN histogram")
        return [0], max(histos)
    return offsets, n


def _counts(h: _Header, histos: dict[int, Any], offsets: list[int], n: int) -> tuple[np.ndarray, list[str]]:
    rows, titles = [], []
    for off in offsets:
        for j in range(1, n + 1):
            if off + j not in histos:
                raise RunFormatError(
                    h.path, f"histos/DecayAnaModule/hDecay{off + j:03d}",
                    f"missing: RunInfo says {n} histograms per RedGreen offset {offsets}; found {sorted(histos)}")
            rows.append(_bins(histos[off + j], h.path, off + j))
            titles.append(str(histos[off + j].member("fTitle")) if _has_member(histos[off + j], "fTitle") else "")
    lengths = {r.size for r in rows}
    if len(lengths) != 1:
        raise RunFormatError(h.path, "histos", f"expected histograms of one length, found lengths {sorted(lengths)}")
    numbers = [off + j for off in offsets for j in range(1, n + 1)]
    counts = integer_counts(  # TH1F stores counts as floats: they must still be whole and >= 0
        np.stack(rows).reshape(len(offsets), n, -1), h.path, "histos",
        lambda idx: f"hDecay{numbers[idx[0] * n + idx[1]]:03d}, bin {idx[2]}")
    return counts, titles[:n]


def _bins(hist: Any, path: pathlib.Path, number: int) -> np.ndarray:
    """The bins of one ``hDecayNNN`` without ROOT's under- and overflow bins."""
    try:
        return np.asarray(hist.values(flow=False))
    except Exception as exc:  # noqa: BLE001 - uproot leaves undecodable objects as Unknown_*, without values()
        raise RunFormatError(path, f"histos/hDecay{number:03d}",
                             f"expected a 1-D histogram, uproot read {type(hist).__name__} ({str(exc)[:200]})") from None


def _detectors(h: _Header, n: int, n_bins: int, bw: float, titles: list[str]) -> dict[str, Any]:
    """t0 (musrfit: centre of the t0 bin), good bins and names of the first offset's detectors."""
    t0b = np.array([h.number(f"DetectorInfo/Detector{j:03d}/Time Zero Bin") for j in range(1, n + 1)])
    fgb = [h.whole(f"DetectorInfo/Detector{j:03d}/First Good Bin", 0) for j in range(1, n + 1)]
    lgb = [h.whole(f"DetectorInfo/Detector{j:03d}/Last Good Bin", n_bins) for j in range(1, n + 1)]
    names = [h.text(f"DetectorInfo/Detector{j:03d}/Name") or titles[j - 1] for j in range(1, n + 1)]
    return {
        "t0_bin": t0b, "t0_us": (t0b + 0.5) * bw,
        "first": np.array(fgb, np.int64),
        "last": np.minimum(np.array(lgb, np.int64), n_bins),
        "names": names,
    }


def _physical(h: _Header, key: str, kind: str, default_unit: str) -> tuple[float, float, str]:
    """A quantity in mT or K, its error and its source; NaN (the source saying why) when absent or unreadable."""
    if key not in h.entries:
        return math.nan, math.nan, ""
    value, err, unit = h.quantity(key)
    where = f"header:{key} ({h.entries[key][0].split(';')[0].strip()})"
    if not math.isfinite(value):
        return math.nan, math.nan, quantity_source(where, math.nan, "expected a number then a unit")
    out, note = convert_unit(value, unit, kind, default_unit)
    out_err = convert_unit(value + err, unit, kind, default_unit)[0] - out if math.isfinite(err) else math.nan
    return out, out_err, quantity_source(where, out, note)


def _start_time(text: str) -> str:
    if text.startswith("1970-01-01"):  # TMusrRunHeader's placeholder for "not set"
        return ""
    try:
        return _dt.datetime.fromisoformat(text.strip()).isoformat()
    except ValueError:
        return text


def _build(entries: dict[str, tuple[str, int]], histos: dict[int, Any], path: pathlib.Path):
    h = _Header(entries, path)
    bw = _bin_width_us(h)
    offsets, n = _layout(h, histos)
    counts, titles = _counts(h, histos, offsets, n)
    d = _detectors(h, n, counts.shape[2], bw, titles)
    T, T_err, T_src = _physical(h, "RunInfo/Sample Temperature", "temperature", "K")
    B, _, B_src = _physical(h, "RunInfo/Sample Magnetic Field", "field", "G")
    zero = math.isfinite(B) and abs(B) < 0.01
    notes: list[str] = []
    number = run_number(h.number("RunInfo/Run Number"), "RunHeader/RunInfo/Run Number", notes)
    attrs = {
        "format": "PSI MusrRoot",
        "facility": h.text("RunInfo/Laboratory") or "PSI",
        "instrument": h.text("RunInfo/Instrument"),
        "run_number": number,
        "sample": h.text("RunInfo/Sample Name"),
        "title": h.text("RunInfo/Run Title"),
        "comment": h.text("RunInfo/Comment"),
        "start_time": _start_time(h.text("RunInfo/Run Start Time")),
        "temperature_K": T, "temperature_std_K": T_err, "temperature_source": T_src,
        "field_mT": B, "field_source": B_src,
        "geometry": "ZF" if zero else "", "geometry_source": "header field = 0" if zero else "",
        "source_file": str(path),
        "t0_source": "file:DetectorInfo Time Zero Bin (bin centre)",
        "periods_source": f"RunInfo/RedGreen Offsets {offsets}",
        "notes": "; ".join(notes),
    }
    ds = make_histogram_dataset(
        counts, bin_width_us=bw, t0_us=d["t0_us"], t0_bin=d["t0_bin"], first_good_bin=d["first"],
        last_good_bin=d["last"], detector_names=d["names"], attrs=complete_geometry(attrs),
    )
    return MuonRun(ds)
