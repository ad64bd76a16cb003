"""ISIS muon NeXus readers: v1 (HDF4, via ``pyhdf``) and v2 (HDF5, via ``h5py``).

Layout facts used (checked on EMU00020882/3.nxs and EMU00126645.nxs; periods as
Mantid's ``MuonNexusReader``/``LoadMuonNexus1`` and ``LoadMuonNexusV2Helper`` read them):

v1 (HDF4; entry ``run``, class NXentry)
    ``histogram_data_1/counts`` is (period·spectrum, bin): period p's spectrum s is
    row ``p·n_spectra + s``. The number of periods is ``run/switching_states``
    (its absolute value; 1 in single-period files, whose ``beam/period_sequences``
    may still say 2); without it, ``instrument/detector/number`` is taken as the
    number of spectra per period. ``counts`` carries the attributes ``t0_bin``,
    ``first_good_bin``, ``last_good_bin`` (one value for all periods);
    ``histogram_data_1/time_zero`` (μs), ``resolution`` (ps = bin width),
    ``grouping`` (all zero when the file has none; one entry per spectrum or per
    spectrum and period); ``instrument/detector/deadtimes`` (μs, attribute
    ``available``; also per spectrum or per spectrum and period). Good frames: per
    period ``instrument/beam/frames_period_daq`` (one per period) in multi-period
    files, ``frames_good`` (else ``frames``) in single-period ones.
    ``sample/temperature``, ``magnetic_field`` (G), ``magnetic_field_state``; logs
    are NXlog groups holding ``name``, ``values``, ``time`` (s after the start;
    negative times are pre-run and dropped). Dataset names repeat in every log, so
    groups are walked from ``run`` rather than looked up by name.
v2 (HDF5; entry ``raw_data_1``)
    ``detector_1/counts`` (period, spectrum, bin) with the same attributes;
    ``periods/number`` the number of periods and ``periods/good_frames`` the good
    frames of each (the entry's ``good_frames`` is the total);
    ``detector_1/raw_time`` bin edges (μs), ``time_zero``, ``grouping``,
    ``dead_time`` (μs; per spectrum, or per spectrum and period);
    ``selog/<name>/value_log`` logs.

In both versions ``time_zero ≈ t0_bin × bin width``: t0 lies at the left edge of
bin ``t0_bin`` (0-based). The file's ``time_zero`` is used as t0. Grouping and dead
times given per period are taken from period 1 (``notes`` says when the periods
differ).

Temperature: the mean of the ``Temp_Sample`` log over the run (source
``"log:Temp_Sample mean"``), else the header ``sample/temperature``, else ``T=`` in
the title (a bare number is K; ``mK`` and ``C`` are converted).
Field: header ``sample/magnetic_field``. Geometry: from the field logs
(EMU ``Field_T20`` transverse, ``Field_Danfysik`` longitudinal, in G), falling
back on the header state only when no log exists — headers say "TF" on
zero-field runs — and then on the title
(:func:`bayesmusr.io.readers._meta.complete_geometry`).

Units: the header ``sample/magnetic_field`` and ``sample/temperature`` and the times
``time_zero``, ``resolution``, ``raw_time`` and dead times are converted by their
``units`` attributes (:func:`bayesmusr.io.readers._meta.convert_unit`; ISIS writes
``Gauss``, ``Kelvin``, ``microseconds``, ``picoseconds``). Without the attribute the
NeXus muon definition's units apply: G, K, μs, and ps for ``resolution``. An unknown
field or temperature unit leaves the value NaN with the reason in its source; an
unknown time unit is refused. Log ``units`` are not used: the v1 files write ``K`` on
every log, field logs included, and v2 files leave ``field_danfysik`` blank; logs are
read as K (temperatures) and G (fields), the units ISIS logs them in.

Refused with :class:`RunFormatError` naming the dataset: counts that are not whole
numbers >= 0 (strings, booleans, fractions, NaN, negatives), dead times that are not
numbers or whose count is below, or not a multiple of, the number of spectra
(Mantid's ``LoadMuonNexus1`` refuses the same); a grouping of a wrong length is
ignored with a note (the instrument default applies). Good frames <= 0 with dead
times present leave ``notes = "dead time not corrected: good frames = 0"``; a run
number that is not a whole number >= 0 is −1 with a note.
"""
from __future__ import annotations

import math
import pathlib
import re
from typing import Any

import h5py
import numpy as np

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers._checks import (
    good_frames_note,
    integer_counts,
    per_detector_values,
    run_number,
)
from bayesmusr.io.readers._isolate import call_isolated
from bayesmusr.io.readers._meta import (
    complete_geometry,
    convert_unit,
    quantity_source,
    read_quantity,
)
from bayesmusr.io.run import MuonRun, make_histogram_dataset

__all__ = ["read_nexus_v1", "read_nexus_v2", "v1_period_layout"]

#: Field logs (lower-case names) whose non-zero reading means TF or LF, per instrument.
#: EMU: T20 transverse coils, Danfysik longitudinal magnet (EMU files also log the
#: other instruments' magnets, e.g. field_hifi, which must be ignored there).
_FIELD_LOGS = {
    "EMU": (("field_t20",), ("field_danfysik",)),
    "HIFI": ((), ("field_hifi",)),
}
_GENERIC_FIELD_LOGS = (("field_t20", "field_tf"), ("field_danfysik", "field_lf"))
#: Readings below this (G) count as zero field (ZF compensation leaves a few 0.01 G).
_FIELD_ZERO_G = 1.0
_TEMP_LOGS = ("temp_sample", "sample_temp", "temp_sample_1")

_TITLE_T = re.compile(r"T\s*=\s*([-+]?\d+(?:\.\d*)?)\s*(mK|K|°C|C)?(?![A-Za-z])", re.IGNORECASE)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip().rstrip("\x00").strip()
    if isinstance(value, bytes):
        return value.decode("latin-1").rstrip("\x00").strip()
    arr = np.asarray(value)
    if arr.dtype.kind == "O":  # HDF5 variable-length strings (h5py returns bytes or str objects)
        parts = [x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in arr.ravel()]
        return "".join(parts).rstrip("\x00").strip()
    if arr.dtype.kind in "SU":
        flat = arr.ravel()
        if arr.dtype.kind == "S" and arr.dtype.itemsize == 1:
            return flat.tobytes().decode("latin-1").rstrip("\x00").strip()
        parts = [x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in flat]
        return "".join(parts).rstrip("\x00").strip() if len(parts) > 1 and all(len(p) <= 1 for p in parts) else (parts[0].rstrip("\x00").strip() if parts else "")
    if arr.dtype.kind in "iu" and arr.ndim == 1:
        return bytes(arr.astype(np.uint8)).decode("latin-1").rstrip("\x00").strip()
    return str(value).strip()


def _log_mean(time: np.ndarray | None, values: np.ndarray) -> tuple[float, float] | None:
    v = np.asarray(values, dtype=np.float64).ravel()
    if time is not None:
        t = np.asarray(time, dtype=np.float64).ravel()
        if t.size == v.size:
            v = v[t >= 0]
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    return float(v.mean()), float(v.std())


def _geometry_from_logs(
    logs: dict[str, tuple[float, float]], header_state: str, field_mT: float, instrument: str = ""
) -> tuple[str, str]:
    tf_names, lf_names = _FIELD_LOGS.get(instrument.upper(), _GENERIC_FIELD_LOGS)
    tf = {k: logs[k][0] for k in tf_names if k in logs}
    lf = {k: logs[k][0] for k in lf_names if k in logs}
    if tf or lf:
        big_tf = {k: v for k, v in tf.items() if abs(v) >= _FIELD_ZERO_G}
        big_lf = {k: v for k, v in lf.items() if abs(v) >= _FIELD_ZERO_G}
        readings = ", ".join(f"{k}={v:.3g} G" for k, v in {**tf, **lf}.items())
        if big_tf and not big_lf:
            geo = "TF"
        elif big_lf and not big_tf:
            geo = "LF"
        elif not big_tf and not big_lf:
            geo = "ZF"
        else:
            geo = ""
        src = f"logs: {readings}"
        if header_state and geo and header_state.upper() != geo:
            src += f" (header magnetic_field_state {header_state!r} contradicted)"
        return geo, src
    state = header_state.upper()
    if np.isfinite(field_mT) and abs(field_mT) * 10.0 < _FIELD_ZERO_G:
        return "ZF", f"header magnetic_field={field_mT * 10.0:g} G"
    if state in ("ZF", "LF", "TF"):
        return state, "header magnetic_field_state"
    return "", "unknown"


def _temperature(logs: dict[str, tuple[float, float]], log_names: dict[str, str], header: tuple[float, str],
                 title: str):
    """(T, std, source): the temperature log, else the header ``(value K, source)``, else ``T=`` in the title."""
    for key in _TEMP_LOGS:
        if key in logs:
            mean, std = logs[key]
            return mean, std, f"log:{log_names.get(key, key)} mean"
    header_T, header_src = header
    if np.isfinite(header_T) and header_T > 0:
        return header_T, math.nan, header_src
    why = f" ({header_src})" if header_src and not np.isfinite(header_T) else ""
    m = _TITLE_T.search(title or "")
    if m:
        T, _ = convert_unit(float(m.group(1)), m.group(2), "temperature", default_unit="K")
        if np.isfinite(T):
            return T, math.nan, "title" + why
    return math.nan, math.nan, header_src if why else ""


def _header_quantity(value: Any, attrs: dict, name: str, kind: str, default_unit: str) -> tuple[float, str]:
    """A header dataset (number and ``units`` attribute, or text) in mT or K, and its source; (NaN, "") if absent."""
    if value is None:
        return math.nan, ""
    a = np.asarray(value)
    unit = _text(attrs.get("units")) if attrs else ""
    if a.dtype.kind in "fiu" and a.size:
        shown = f"{float(a.ravel()[0]):g}" + (f" {unit}" if unit else "")
        v, note = convert_unit(float(a.ravel()[0]), unit, kind, default_unit)
    else:
        shown = _text(value)
        v, note = read_quantity(shown, kind, default_unit)
    return v, quantity_source(f"header:{name} ({shown})", v, note)


def _attr_number(attrs, key: str, default, path, owner: str, whole: bool = False):
    """A bin attribute of the counts (``t0_bin``, ``first_good_bin``...): its first value as a real, finite
    number (whole for good bins), ``default`` when absent; refused, naming the attribute, otherwise."""
    value = attrs.get(key) if attrs else None
    if value is None:
        return default
    a = np.ravel(np.asarray(value))
    if a.size == 0 or a.dtype.kind not in "fiu":
        raise RunFormatError(path, f"{owner} attribute {key}", f"expected a number, found {value!r}")
    v = float(a[0])
    if not math.isfinite(v) or abs(v) >= 2.0**53 or (whole and v != round(v)):
        raise RunFormatError(path, f"{owner} attribute {key}",
                             f"expected a finite {'whole ' if whole else ''}bin number, found {a[0]!r}")
    return v


def _time_us(value: Any, attrs: dict, name: str, default_unit: str, path) -> np.ndarray | None:
    """A time dataset in μs, converted by its ``units`` attribute; refused when the unit is unknown."""
    if value is None:
        return None
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise RunFormatError(path, name, f"expected numbers, found values of type {a.dtype}")
    factor, note = convert_unit(1.0, _text(attrs.get("units")) if attrs else "", "time", default_unit)
    if not np.isfinite(factor):
        raise RunFormatError(path, name, note)
    return a.astype(np.float64) * factor


def _usable_frames(frames: np.ndarray | None, dead: np.ndarray | None, notes: list[str]) -> np.ndarray | None:
    """Good frames with non-finite values as unknown (NaN), noting when they forbid the dead-time correction."""
    if note := good_frames_note(frames, dead):
        notes.append(note)
    if frames is None:
        return None
    return np.where(np.isfinite(frames), frames, np.nan)  # F = inf would make the correction a silent no-op


def _grouping(values: np.ndarray | None) -> np.ndarray | None:
    """A file's grouping as int64, or None when it has no forward (1) and backward (2) detectors or is not whole."""
    if values is None or not np.all(np.abs(values) < 2**31) or np.any(values != np.round(values)):  # NaN fails too
        return None
    g = values.astype(np.int64)
    return g if np.any(g == 1) and np.any(g == 2) else None


def _frames(candidates: list[tuple[str, Any]], n_per: int) -> tuple[np.ndarray | None, str]:
    """The first candidate holding one good-frame count (a number) per period (name, values)."""
    for name, value in candidates:
        if value is None or np.asarray(value).dtype.kind not in "fiu":
            continue
        f = np.asarray(value, np.float64).ravel()
        if f.size == n_per:
            return f, name
    return None, ""


# ----------------------------------------------------------------------- v1
def v1_period_layout(
    n_rows: int, switching_states: int | None, detector_number: int | None, path: str | pathlib.Path | None = None
) -> tuple[int, int, str]:
    """Periods and spectra per period of a NeXus v1 ``counts`` array of ``n_rows`` rows.

    v1 files store (period·spectrum, bin): the rows of period p are
    ``p·n_spectra .. (p+1)·n_spectra − 1``. The number of periods is
    ``|run/switching_states|`` (Mantid ``MuonNexusReader``); files without it are
    split by ``instrument/detector/number`` (spectra per period).

    Parameters
    ----------
    n_rows : int
        First dimension of ``histogram_data_1/counts``.
    switching_states : int or None
        ``run/switching_states`` (None when absent).
    detector_number : int or None
        ``instrument/detector/number`` (None when absent).
    path : path, optional
        The file, for error messages.

    Returns
    -------
    n_periods, n_spectra : int
        With ``n_periods · n_spectra == n_rows``.
    source : str
        Which field decided.

    Raises
    ------
    RunFormatError
        ``switching_states`` (or, without it, the detector number) does not divide the rows.
    """
    if switching_states is not None and abs(int(switching_states)) >= 1:
        n_per = abs(int(switching_states))
        if n_rows % n_per:
            raise RunFormatError(
                path, "run/switching_states",
                f"expected a number of periods dividing the {n_rows} spectra of histogram_data_1/counts, found {n_per}",
            )
        return n_per, n_rows // n_per, f"run/switching_states = {int(switching_states)}"
    if detector_number is None:
        return 1, n_rows, "one period (no switching_states)"
    n_det = int(detector_number)
    if not 0 < n_det <= n_rows or n_rows % n_det:
        raise RunFormatError(path, "instrument/detector/number",
                             f"expected a divisor of the {n_rows} spectra of histogram_data_1/counts, found {n_det}")
    return n_rows // n_det, n_det, f"instrument/detector/number = {n_det} (no switching_states)"


class _Hdf4Tree:
    """Walks an HDF4 NeXus file from its entry Vgroup (pyhdf)."""

    def __init__(self, path: pathlib.Path):
        import pyhdf.V  # noqa: F401  (registers the Vgroup interface; needed before vgstart)
        from pyhdf.HDF import HC, HDF, HDF4Error
        from pyhdf.SD import SD, SDC

        self.HC, self.Error = HC, HDF4Error
        self.path = path
        self.hdf = HDF(str(path), HC.READ)
        self.v = self.hdf.vgstart()
        self.sd = SD(str(path), SDC.READ)

    def close(self) -> None:
        for closer in (lambda: self.v.end(), lambda: self.sd.end(), lambda: self.hdf.close()):
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing a damaged file must not mask the real error
                pass

    def find_entry(self) -> int:
        ref = -1
        while True:
            try:
                ref = self.v.getid(ref)
            except self.Error:
                break
            vg = self.v.attach(ref)
            try:
                if vg._class == "NXentry":
                    return ref
            finally:
                vg.detach()
        raise RunFormatError(self.path, "NXentry", "expected a NeXus entry group ('run'), found none")

    def children(self, ref: int) -> dict[str, tuple[str, int]]:
        vg = self.v.attach(ref)
        out: dict[str, tuple[str, int]] = {}
        try:
            for tag, r in vg.tagrefs():
                if tag == self.HC.DFTAG_VG:
                    sub = self.v.attach(r)
                    out[sub._name] = ("group", r)
                    out.setdefault("__class__:" + sub._name, (sub._class, r))
                    sub.detach()
                elif tag == self.HC.DFTAG_NDG:
                    sds = self.sd.select(self.sd.reftoindex(r))
                    out[sds.info()[0]] = ("data", r)
                    sds.endaccess()
        finally:
            vg.detach()
        return out

    def data(self, ref: int) -> tuple[Any, dict]:
        sds = self.sd.select(self.sd.reftoindex(ref))
        try:
            return sds.get(), sds.attributes()
        finally:
            sds.endaccess()

    def get(self, group: dict, name: str, required: str | None = None) -> tuple[Any, dict]:
        """Dataset ``name`` of a group listing: (values, attributes), or (None, {})."""
        item = group.get(name)
        if item is None or item[0] != "data":
            if required:
                raise RunFormatError(self.path, required, "missing from the file")
            return None, {}
        return self.data(item[1])

    def number(self, group: dict, name: str) -> float:
        """First value of a numeric dataset, NaN when absent."""
        v = self.get(group, name)[0]
        return float(np.ravel(v)[0]) if v is not None and np.size(v) else math.nan

    def sub(self, group: dict, name: str, required: str | None = None) -> dict:
        """Listing of the sub-group ``name`` ({} when absent)."""
        item = group.get(name)
        if item is None or item[0] != "group":
            if required:
                raise RunFormatError(self.path, required, "group missing from the file")
            return {}
        return self.children(item[1])


def read_nexus_v1(path: str | pathlib.Path):
    """Read an ISIS muon NeXus v1 (HDF4) run.

    Parameters
    ----------
    path : path
        The ``.nxs`` file.

    Returns
    -------
    bayesmusr.io.run.MuonRun

    Raises
    ------
    RunFormatError
        The file is damaged, truncated or lacks the counts, bin width or t0.
    """
    path = pathlib.Path(path)
    return call_isolated(path, "HDF4 (pyhdf)", _read_v1_here, path)


def _read_v1_here(path: pathlib.Path):
    try:
        from pyhdf.HDF import HDF4Error
    except ImportError as exc:  # pragma: no cover - pyhdf is a dependency
        raise RunFormatError(path, "HDF4", f"reading NeXus v1 needs pyhdf ({exc})") from None
    tree = None
    try:
        tree = _Hdf4Tree(path)
        return _read_v1(tree, path)
    except HDF4Error as exc:
        raise RunFormatError(path, "HDF4 structure", f"damaged or truncated HDF4 file ({exc})") from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, MemoryError) as exc:
        if isinstance(exc, RunFormatError):
            raise
        raise RunFormatError(path, "HDF4 content", f"unexpected content ({type(exc).__name__}: {exc})") from None
    finally:
        if tree is not None:
            tree.close()


def _v1_histograms(tree: _Hdf4Tree, hist: dict) -> dict[str, Any]:
    """Counts (rows, bin), bin width, t0 and good bins of ``histogram_data_1``."""
    counts, cattrs = tree.get(hist, "counts", "histogram_data_1/counts")
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.size == 0:
        raise RunFormatError(tree.path, "histogram_data_1/counts",
                             f"expected a (period·spectrum, bin) array, found shape {counts.shape}")
    resolution = _time_us(*tree.get(hist, "resolution"), "histogram_data_1/resolution", "ps", tree.path)
    bw = float(resolution.ravel()[0]) if resolution is not None and resolution.size else math.nan
    if not (np.isfinite(bw) and bw > 0):
        raw_time = _time_us(*tree.get(hist, "raw_time"), "histogram_data_1/raw_time", "us", tree.path)
        if raw_time is not None and np.size(raw_time) > 1:
            bw = float(np.median(np.diff(raw_time.ravel())))
    tz, tz_attrs = tree.get(hist, "time_zero")
    t0_bin = _attr_number(cattrs, "t0_bin", None, tree.path, "histogram_data_1/counts")
    if tz is not None and np.size(tz) and int(tz_attrs.get("available", 1)) != 0:
        tz_us = _time_us(tz, tz_attrs, "histogram_data_1/time_zero", "us", tree.path)
        t0, t0_source = float(tz_us.ravel()[0]), "file:time_zero"
    elif t0_bin is not None:
        t0, t0_source = t0_bin * bw, "file:t0_bin (left edge)"
    else:
        t0, t0_source = math.nan, ""
    n_bins = counts.shape[1]
    return {"counts": counts, "bw": bw, "t0": t0, "t0_source": t0_source,
            "t0_bin": math.nan if t0_bin is None else t0_bin,
            "fgb": int(_attr_number(cattrs, "first_good_bin", 0, tree.path, "histogram_data_1/counts", whole=True)),
            "lgb": min(int(_attr_number(cattrs, "last_good_bin", n_bins, tree.path, "histogram_data_1/counts",
                                        whole=True)), n_bins)}


def _v1_logs(tree: _Hdf4Tree, top: dict) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """Mean and spread of every numeric NXlog of the entry, keyed by lower-case log name."""
    logs: dict[str, tuple[float, float]] = {}
    log_names: dict[str, str] = {}
    for key, (kind, ref) in top.items():
        if key.startswith("__class__:") and kind == "NXlog":
            g = tree.children(ref)
            name = _text(tree.get(g, "name")[0]) or key.split(":", 1)[1]
            vals, _ = tree.get(g, "values")
            times, _ = tree.get(g, "time")
            if vals is None or np.asarray(vals).dtype.kind not in "fiu":
                continue
            m = _log_mean(times, vals)
            if m is not None:
                logs[name.lower()] = m
                log_names[name.lower()] = name
    return logs, log_names


def _v1_detectors(tree: _Hdf4Tree, top: dict, hist: dict, n_rows: int, notes: list[str]) -> dict[str, Any]:
    """Periods, spectra, dead times, grouping and good frames per period."""
    inst = tree.sub(top, "instrument")
    det = tree.sub(inst, "detector")
    ss = tree.number(top, "switching_states")
    number = tree.number(det, "number")
    n_per, n_det, layout = v1_period_layout(
        n_rows, None if not np.isfinite(ss) else int(ss), None if not np.isfinite(number) else int(number), tree.path)
    dts, dt_attrs = tree.get(det, "deadtimes")
    available = dts is not None and int(dt_attrs.get("available", 1)) != 0
    dead = per_detector_values(dts if available else None, n_det, n_per, tree.path,
                               "instrument/detector/deadtimes", "dead times", notes)
    if dead is not None:
        dead = dead * _time_us(1.0, dt_attrs, "instrument/detector/deadtimes", "us", tree.path)
    grouping = _grouping(per_detector_values(tree.get(hist, "grouping")[0], n_det, n_per, tree.path,
                                             "histogram_data_1/grouping", "grouping", notes, strict=False))
    beam = tree.sub(inst, "beam")
    names = ("frames_period_daq", "frames_period") if n_per > 1 else ("frames_good", "frames_period", "frames")
    frames, frames_from = _frames([(n, tree.get(beam, n)[0]) for n in names], n_per)
    if frames is None and n_per > 1:
        notes.append(f"no good frames per period (beam/frames_period_daq with {n_per} values)")
    frames = _usable_frames(frames, dead, notes)
    return {"inst": inst, "n_per": n_per, "n_det": n_det, "layout": layout, "dead": dead,
            "grouping": grouping, "frames": frames, "frames_from": frames_from}


def _read_v1(tree: _Hdf4Tree, path: pathlib.Path):
    top = tree.children(tree.find_entry())
    hist = tree.sub(top, "histogram_data_1", "run/histogram_data_1")
    h = _v1_histograms(tree, hist)
    notes: list[str] = []
    d = _v1_detectors(tree, top, hist, h["counts"].shape[0], notes)
    counts = integer_counts(h["counts"].reshape(d["n_per"], d["n_det"], h["counts"].shape[1]), path,
                            "histogram_data_1/counts")
    sample = tree.sub(top, "sample")
    title = _text(tree.get(top, "title")[0])
    field_mT, field_src = _header_quantity(*tree.get(sample, "magnetic_field"), "sample/magnetic_field", "field", "G")
    logs, log_names = _v1_logs(tree, top)
    header_T = _header_quantity(*tree.get(sample, "temperature"), "sample/temperature", "temperature", "K")
    T, T_std, T_src = _temperature(logs, log_names, header_T, title)
    instrument = _text(tree.get(d["inst"], "name")[0]) or _text(tree.get(top, "beamline")[0])
    state = _text(tree.get(sample, "magnetic_field_state")[0])
    geometry, geo_src = _geometry_from_logs(logs, state, field_mT, instrument)
    number = tree.number(top, "number")
    attrs = {
        "format": "ISIS NeXus v1 (HDF4)",
        "facility": _text(tree.get(top, "lab")[0]) or "ISIS",
        "instrument": instrument,
        "run_number": run_number(number, "run/number", notes),
        "sample": _text(tree.get(sample, "name")[0]),
        "title": title,
        "comment": _text(tree.get(top, "notes")[0]),
        "start_time": _text(tree.get(top, "start_time")[0]),
        "temperature_K": T, "temperature_std_K": T_std, "temperature_source": T_src,
        "field_mT": field_mT,
        "field_source": field_src,
        "geometry": geometry, "geometry_source": geo_src,
        "source_file": str(path),
        "t0_source": h["t0_source"],
        "grouping_source": "file" if d["grouping"] is not None else "",
        "periods_source": d["layout"], "good_frames_source": d["frames_from"],
        "notes": "; ".join(notes),
    }
    ds = make_histogram_dataset(
        counts, bin_width_us=h["bw"], t0_us=h["t0"], t0_bin=h["t0_bin"], first_good_bin=h["fgb"],
        last_good_bin=h["lgb"], dead_time_us=d["dead"], grouping=d["grouping"], good_frames=d["frames"],
        attrs=complete_geometry(attrs),
    )
    return MuonRun(ds)


# ----------------------------------------------------------------------- v2
def read_nexus_v2(path: str | pathlib.Path):
    """Read an ISIS muon NeXus v2 (HDF5) run.

    Parameters
    ----------
    path : path
        The ``.nxs`` file.

    Returns
    -------
    bayesmusr.io.run.MuonRun

    Raises
    ------
    RunFormatError
        The file is damaged or lacks the counts, bin edges or t0, or its period
        count disagrees with the counts.
    """
    path = pathlib.Path(path)
    try:
        with h5py.File(path, "r") as fh:
            return _read_v2(fh, path)
    except RunFormatError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise RunFormatError(path, "HDF5 content", f"damaged or unexpected NeXus v2 content ({type(exc).__name__}: {exc})") from None


class _V2Entry:
    """Read access to ``raw_data_1`` datasets with defaults."""

    def __init__(self, entry: h5py.Group, path: pathlib.Path):
        self.e, self.path = entry, path

    def val(self, p: str, default=None):
        obj = self.e.get(p)
        if obj is None or not isinstance(obj, h5py.Dataset):
            return default
        return obj[()]

    def num(self, p: str, default: float = math.nan) -> float:
        v = self.val(p)
        if v is None:
            return default
        a = np.asarray(v).ravel()
        return float(a[0]) if a.size and a.dtype.kind in "fiu" else default

    def det_array(self, name: str) -> tuple[np.ndarray | None, dict, str]:
        """``detector_1/<name>`` or ``instrument/detector_1/<name>`` as stored, its attributes and
        its path; (None, {}, path) when absent or not available."""
        for p in (f"detector_1/{name}", f"instrument/detector_1/{name}"):
            obj = self.e.get(p)
            if isinstance(obj, h5py.Dataset):
                if int(np.ravel(obj.attrs.get("available", 1))[0]) == 0:
                    return None, {}, p
                return np.asarray(obj[()]).ravel(), dict(obj.attrs), p
        return None, {}, f"detector_1/{name}"

    def with_attrs(self, p: str) -> tuple[Any, dict]:
        """A dataset's value and attributes; (None, {}) when absent."""
        obj = self.e.get(p)
        if obj is None or not isinstance(obj, h5py.Dataset):
            return None, {}
        return obj[()], dict(obj.attrs)


def _v2_counts(e: _V2Entry) -> tuple[np.ndarray, h5py.AttributeManager, str]:
    """Counts as (period, spectrum, bin), checked against ``periods/number``."""
    cds = e.e.get("detector_1/counts")
    if not isinstance(cds, h5py.Dataset):
        raise RunFormatError(e.path, "raw_data_1/detector_1/counts", "missing from the file")
    counts = np.asarray(cds[()])
    declared = e.num("periods/number")
    if counts.ndim == 2:
        # a 2-D array holds one period, unless periods/number splits it like a v1 file
        p = int(declared) if np.isfinite(declared) and declared > 1 and counts.shape[0] % int(declared) == 0 else 1
        counts = counts.reshape(p, counts.shape[0] // p, counts.shape[1])
    if counts.ndim != 3:
        raise RunFormatError(e.path, "detector_1/counts", f"expected (period, spectrum, bin), found shape {counts.shape}")
    if counts.size == 0:
        raise RunFormatError(e.path, "detector_1/counts", f"expected non-empty histograms, found shape {counts.shape}")
    if np.isfinite(declared) and int(declared) != counts.shape[0]:
        raise RunFormatError(e.path, "raw_data_1/periods/number",
                             f"expected {counts.shape[0]} periods like detector_1/counts {counts.shape}, found {int(declared)}")
    source = "periods/number" if np.isfinite(declared) else "detector_1/counts shape"
    return integer_counts(counts, e.path, "raw_data_1/detector_1/counts"), cds.attrs, source


def _v2_time(e: _V2Entry, ca, n_bins: int) -> dict[str, Any]:
    """Bin width from the bin edges; t0 (μs after the first edge) and good bins."""
    edges, attrs = e.with_attrs("detector_1/raw_time")
    if edges is None:
        edges, attrs = e.with_attrs("instrument/dae/time_channels_1/raw_time")
    edges = _time_us(edges, attrs, "raw_data_1/detector_1/raw_time", "us", e.path)
    if edges is not None and np.size(edges) == n_bins and n_bins > 1:
        # early v2 files (e.g. EMU00005989_v2, 2000 values from 0 for 2000 bins) store the bins' left edges
        start = np.asarray(edges, np.float64).ravel()
        edges = np.append(start, start[-1] + (start[-1] - start[0]) / (n_bins - 1))
    if edges is None or np.size(edges) != n_bins + 1:
        raise RunFormatError(e.path, "detector_1/raw_time",
                             f"expected {n_bins + 1} bin edges (or {n_bins} left edges), found "
                             f"{None if edges is None else np.size(edges)}")
    edges = np.asarray(edges, np.float64)
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise RunFormatError(e.path, "detector_1/raw_time", "expected finite, increasing bin edges")
    bw = float(np.median(np.diff(edges)))
    # counts attributes (EMU 126645); early v2 files keep per-spectrum datasets beside the counts (EMU 5989)
    extra = {k: e.val(f"instrument/detector_1/{name}") for k, name in
             (("t0_bin", "time_zero_bin"), ("first_good_bin", "first_good_bin"), ("last_good_bin", "last_good_bin"))}
    ca = {**{k: v for k, v in extra.items() if v is not None}, **dict(ca)}
    t0_bin = _attr_number(ca, "t0_bin", None, e.path, "raw_data_1/detector_1/counts")
    tz = e.e.get("detector_1/time_zero")
    if isinstance(tz, h5py.Dataset) and tz.size and int(np.ravel(tz.attrs.get("available", 1))[0]) != 0:
        tz_us = _time_us(tz[()], dict(tz.attrs), "raw_data_1/detector_1/time_zero", "us", e.path)
        t0, t0_source = float(tz_us.ravel()[0]) - float(edges[0]), "file:time_zero"
    elif t0_bin is not None:
        t0, t0_source = t0_bin * bw, "file:t0_bin (left edge)"
    else:
        t0, t0_source = math.nan, ""
    return {"bw": bw, "t0": t0, "t0_source": t0_source,
            "t0_bin": math.nan if t0_bin is None else t0_bin,
            "fgb": int(_attr_number(ca, "first_good_bin", 0, e.path, "raw_data_1/detector_1/counts", whole=True)),
            "lgb": min(int(_attr_number(ca, "last_good_bin", n_bins, e.path, "raw_data_1/detector_1/counts",
                                        whole=True)), n_bins)}


def _v2_logs(e: _V2Entry) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    """Mean and spread of every numeric ``selog`` log, keyed by lower-case name."""
    logs: dict[str, tuple[float, float]] = {}
    log_names: dict[str, str] = {}
    selog = e.e.get("selog")
    if not isinstance(selog, h5py.Group):
        return logs, log_names
    for name, grp in selog.items():
        if not isinstance(grp, h5py.Group):
            continue
        vl = grp.get("value_log")
        if isinstance(vl, h5py.Group) and isinstance(vl.get("value"), h5py.Dataset):
            v = vl["value"][()]
            if np.asarray(v).dtype.kind not in "fiu":
                continue
            t = vl["time"][()] if isinstance(vl.get("time"), h5py.Dataset) else None
            m = _log_mean(t, v)
        elif isinstance(grp.get("value"), h5py.Dataset) and grp["value"].dtype.kind in "fiu":
            m = _log_mean(None, grp["value"][()])
        else:
            continue
        if m is not None:
            logs[name.lower()] = m
            log_names[name.lower()] = name
    return logs, log_names


def _v2_detectors(e: _V2Entry, n_per: int, n_det: int, notes: list[str]) -> dict[str, Any]:
    """Dead times, grouping, spectrum numbers and good frames per period."""
    values, attrs, where = e.det_array("dead_time")
    dead = per_detector_values(values, n_det, n_per, e.path, f"raw_data_1/{where}", "dead times", notes)
    if dead is not None:
        dead = dead * _time_us(1.0, attrs, f"raw_data_1/{where}", "us", e.path)
    values, _, where = e.det_array("grouping")
    grouping = _grouping(per_detector_values(values, n_det, n_per, e.path, f"raw_data_1/{where}", "grouping",
                                             notes, strict=False))
    spec = e.det_array("spectrum_index")[0]
    spec = (spec[:n_det].astype(np.int64) if spec is not None and spec.dtype.kind in "iu" and spec.size >= n_det
            and np.unique(spec[:n_det]).size == n_det else None)
    candidates = [("periods/good_frames", e.val("periods/good_frames"))]
    if n_per == 1:
        candidates.append(("good_frames", e.val("good_frames")))
    frames, frames_from = _frames(candidates, n_per)
    if frames is None and n_per > 1:
        notes.append(f"no good frames per period (periods/good_frames with {n_per} values)")
    frames = _usable_frames(frames, dead, notes)
    return {"dead": dead, "grouping": grouping, "spec": spec, "frames": frames, "frames_from": frames_from}


def _read_v2(fh, path: pathlib.Path):
    if "raw_data_1" not in fh:
        raise RunFormatError(path, "raw_data_1", "expected the NeXus v2 entry group")
    e = _V2Entry(fh["raw_data_1"], path)
    counts, ca, periods_source = _v2_counts(e)
    n_per, n_det, n_bins = counts.shape
    tm = _v2_time(e, ca, n_bins)
    notes: list[str] = []
    d = _v2_detectors(e, n_per, n_det, notes)
    logs, log_names = _v2_logs(e)
    title = _text(e.val("title"))
    field_mT, field_src = _header_quantity(*e.with_attrs("sample/magnetic_field"), "sample/magnetic_field", "field", "G")
    header_T = _header_quantity(*e.with_attrs("sample/temperature"), "sample/temperature", "temperature", "K")
    T, T_std, T_src = _temperature(logs, log_names, header_T, title)
    instrument = _text(e.val("instrument/name")) or _text(e.val("beamline"))
    geometry, geo_src = _geometry_from_logs(logs, _text(e.val("sample/magnetic_field_state")), field_mT, instrument)
    attrs = {
        "format": "ISIS NeXus v2 (HDF5)",
        "facility": _text(e.val("instrument/source/name")) or "ISIS",
        "instrument": instrument,
        "run_number": run_number(e.num("run_number"), "raw_data_1/run_number", notes),
        "sample": _text(e.val("sample/name")),
        "title": title,
        "comment": _text(e.val("notes")),
        "start_time": _text(e.val("start_time")),
        "temperature_K": T, "temperature_std_K": T_std, "temperature_source": T_src,
        "field_mT": field_mT,
        "field_source": field_src,
        "geometry": geometry, "geometry_source": geo_src,
        "source_file": str(path),
        "t0_source": tm["t0_source"],
        "grouping_source": "file" if d["grouping"] is not None else "",
        "periods_source": periods_source, "good_frames_source": d["frames_from"],
        "notes": "; ".join(notes),
    }
    ds = make_histogram_dataset(
        counts, bin_width_us=tm["bw"], t0_us=tm["t0"], t0_bin=tm["t0_bin"], first_good_bin=tm["fgb"],
        last_good_bin=tm["lgb"], dead_time_us=d["dead"], grouping=d["grouping"], good_frames=d["frames"],
        detector_numbers=d["spec"], attrs=complete_geometry(attrs),
    )
    return MuonRun(ds)
