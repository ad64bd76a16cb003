"""ISIS muon NeXus readers: v1 (HDF4, via ``pyhdf``) and v2 (HDF5, via ``h5py``).

Layout facts used (checked on EMU00020882/3.nxs and EMU00126645.nxs):

v1 (HDF4; entry ``run``, class NXentry)
    ``histogram_data_1/counts`` (detector, bin) or (period·detector, bin), with
    attributes ``t0_bin``, ``first_good_bin``, ``last_good_bin``;
    ``histogram_data_1/time_zero`` (μs), ``resolution`` (ps = bin width),
    ``grouping`` (all zero when the file has none); ``instrument/detector/deadtimes``
    (μs, attribute ``available``); ``beam/frames_good`` and ``frames_period``;
    ``sample/temperature``, ``magnetic_field`` (G), ``magnetic_field_state``;
    logs are NXlog groups holding ``name``, ``values``, ``time`` (s after the
    start; negative times are pre-run and dropped). Dataset names repeat in every
    log, so groups are walked from ``run`` rather than looked up by name.
v2 (HDF5; entry ``raw_data_1``)
    ``detector_1/counts`` (period, spectrum, bin) with the same attributes,
    ``detector_1/raw_time`` bin edges (μs), ``time_zero``, ``grouping``,
    ``dead_time`` (μs); ``periods/good_frames``; ``selog/<name>/value_log`` logs.

In both versions ``time_zero ≈ t0_bin × bin width``: t0 lies at the left edge of
bin ``t0_bin`` (0-based). The file's ``time_zero`` is used as t0.

Temperature: the mean of the ``Temp_Sample`` log over the run (source
``"log:Temp_Sample mean"``), else the header ``sample/temperature``, else the title.
Field: header ``sample/magnetic_field`` (G → mT). Geometry: from the field logs
(EMU ``Field_T20`` transverse, ``Field_Danfysik`` longitudinal, in G), falling
back on the header state only when no log exists — headers say "TF" on
zero-field runs.
"""
from __future__ import annotations

import math
import pathlib
import re
from typing import Any

import h5py
import numpy as np

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers._isolate import call_isolated
from bayesmusr.io.run import MuonRun, make_histogram_dataset

__all__ = ["read_nexus_v1", "read_nexus_v2"]

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

_TITLE_T = re.compile(r"T\s*=\s*([-+]?\d+(?:\.\d*)?)", re.IGNORECASE)


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
    logs: dict[str, tuple[float, float]], header_state: str, field_G: float, instrument: str = ""
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
    if np.isfinite(field_G) and abs(field_G) < _FIELD_ZERO_G:
        return "ZF", f"header magnetic_field={field_G:g} G"
    if state in ("ZF", "LF", "TF"):
        return state, "header magnetic_field_state"
    return "", "unknown"


def _temperature(logs: dict[str, tuple[float, float]], log_names: dict[str, str], header_T: float, title: str):
    for key in _TEMP_LOGS:
        if key in logs:
            mean, std = logs[key]
            return mean, std, f"log:{log_names.get(key, key)} mean"
    if np.isfinite(header_T) and header_T > 0:
        return header_T, math.nan, "header:sample/temperature"
    m = _TITLE_T.search(title or "")
    if m:
        return float(m.group(1)), math.nan, "title"
    return math.nan, math.nan, ""


# ----------------------------------------------------------------------- v1
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


def _read_v1(tree: _Hdf4Tree, path: pathlib.Path):
    entry = tree.find_entry()
    top = tree.children(entry)

    def get(group: dict, name: str, required: str | None = None):
        item = group.get(name)
        if item is None or item[0] != "data":
            if required:
                raise RunFormatError(path, required, "missing from the file")
            return None, {}
        return tree.data(item[1])

    def sub(group: dict, name: str, required: str | None = None) -> dict:
        item = group.get(name)
        if item is None or item[0] != "group":
            if required:
                raise RunFormatError(path, required, "group missing from the file")
            return {}
        return tree.children(item[1])

    hist = sub(top, "histogram_data_1", "run/histogram_data_1")
    counts, cattrs = get(hist, "counts", "histogram_data_1/counts")
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.size == 0:
        raise RunFormatError(path, "histogram_data_1/counts", f"expected a (detector, bin) array, found shape {counts.shape}")
    res, _ = get(hist, "resolution")
    bw = float(np.ravel(res)[0]) * 1e-6 if res is not None else math.nan  # ps -> μs
    if not (np.isfinite(bw) and bw > 0):
        raw_time, _ = get(hist, "raw_time")
        if raw_time is not None and np.size(raw_time) > 1:
            bw = float(np.median(np.diff(np.asarray(raw_time, np.float64))))
    tz, tz_attrs = get(hist, "time_zero")
    t0_bin = cattrs.get("t0_bin")
    if tz is not None and int(tz_attrs.get("available", 1)) != 0:
        t0 = float(np.ravel(tz)[0])
        t0_source = "file:time_zero"
    elif t0_bin is not None:
        t0 = float(t0_bin) * bw
        t0_source = "file:t0_bin (left edge)"
    else:
        t0, t0_source = math.nan, ""
    n_bins = counts.shape[1]
    fgb = int(cattrs.get("first_good_bin", 0))
    lgb = int(cattrs.get("last_good_bin", n_bins))

    inst = sub(top, "instrument")
    det = sub(inst, "detector")
    n_det_v, _ = get(det, "number")
    n_det = int(np.ravel(n_det_v)[0]) if n_det_v is not None else counts.shape[0]
    if n_det <= 0 or counts.shape[0] % n_det:
        raise RunFormatError(path, "instrument/detector/number", f"expected a divisor of {counts.shape[0]} spectra, found {n_det}")
    n_per = counts.shape[0] // n_det
    counts = counts.reshape(n_per, n_det, n_bins)
    dts, dt_attrs = get(det, "deadtimes")
    dead = None
    if dts is not None and int(dt_attrs.get("available", 1)) != 0:
        dead = np.asarray(dts, np.float64).ravel()[:n_det]
    grouping, _ = get(hist, "grouping")
    grouping = None if grouping is None else np.asarray(grouping, np.int64).ravel()[:n_det]
    if grouping is not None and not (np.any(grouping == 1) and np.any(grouping == 2)):
        grouping = None

    beam = sub(inst, "beam")
    frames = None
    for name in ("frames_period", "frames_good", "frames"):
        fv, _ = get(beam, name)
        if fv is not None:
            f = np.asarray(fv, np.float64).ravel()
            frames = np.resize(f, n_per) if f.size in (1, n_per) else None
            if frames is not None:
                break

    sample = sub(top, "sample")
    title = _text(get(top, "title")[0])
    header_T = get(sample, "temperature")[0]
    header_T = float(np.ravel(header_T)[0]) if header_T is not None else math.nan
    field_G = get(sample, "magnetic_field")[0]
    field_G = float(np.ravel(field_G)[0]) if field_G is not None else math.nan
    state = _text(get(sample, "magnetic_field_state")[0])

    logs: dict[str, tuple[float, float]] = {}
    log_names: dict[str, str] = {}
    for key, (kind, ref) in top.items():
        if key.startswith("__class__:") and kind == "NXlog":
            g = tree.children(ref)
            name = _text(get(g, "name")[0]) or key.split(":", 1)[1]
            vals, _ = get(g, "values")
            times, _ = get(g, "time")
            if vals is None or np.asarray(vals).dtype.kind not in "fiu":
                continue
            m = _log_mean(times, vals)
            if m is not None:
                logs[name.lower()] = m
                log_names[name.lower()] = name
    T, T_std, T_src = _temperature(logs, log_names, header_T, title)
    number = get(top, "number")[0]
    instrument = _text(get(inst, "name")[0]) or _text(get(top, "beamline")[0])
    geometry, geo_src = _geometry_from_logs(logs, state, field_G, instrument)
    attrs = {
        "format": "ISIS NeXus v1 (HDF4)",
        "facility": _text(get(top, "lab")[0]) or "ISIS",
        "instrument": instrument,
        "run_number": int(np.ravel(number)[0]) if number is not None else -1,
        "sample": _text(get(sample, "name")[0]),
        "title": title,
        "comment": _text(get(top, "notes")[0]),
        "start_time": _text(get(top, "start_time")[0]),
        "temperature_K": T,
        "temperature_std_K": T_std,
        "temperature_source": T_src,
        "field_mT": field_G / 10.0 if np.isfinite(field_G) else math.nan,
        "field_source": "header:sample/magnetic_field (G)" if np.isfinite(field_G) else "",
        "geometry": geometry,
        "geometry_source": geo_src,
        "source_file": str(path),
        "t0_source": t0_source,
        "grouping_source": "file" if grouping is not None else "",
    }
    ds = make_histogram_dataset(
        counts,
        bin_width_us=bw,
        t0_us=t0,
        t0_bin=np.nan if t0_bin is None else float(t0_bin),
        first_good_bin=fgb,
        last_good_bin=min(lgb, n_bins),
        dead_time_us=dead,
        grouping=grouping,
        good_frames=frames,
        attrs=attrs,
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
        The file is damaged or lacks the counts, bin edges or t0.
    """
    path = pathlib.Path(path)
    try:
        with h5py.File(path, "r") as fh:
            return _read_v2(fh, path)
    except RunFormatError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise RunFormatError(path, "HDF5 content", f"damaged or unexpected NeXus v2 content ({type(exc).__name__}: {exc})") from None


def _read_v2(fh, path: pathlib.Path):

    if "raw_data_1" not in fh:
        raise RunFormatError(path, "raw_data_1", "expected the NeXus v2 entry group")
    e = fh["raw_data_1"]

    def val(p: str, default=None):
        obj = e.get(p)
        if obj is None or not isinstance(obj, h5py.Dataset):
            return default
        return obj[()]

    def num(p: str, default=math.nan) -> float:
        v = val(p)
        if v is None:
            return default
        a = np.asarray(v).ravel()
        return float(a[0]) if a.size and a.dtype.kind in "fiu" else default

    cds = e.get("detector_1/counts")
    if not isinstance(cds, h5py.Dataset):
        raise RunFormatError(path, "raw_data_1/detector_1/counts", "missing from the file")
    counts = np.asarray(cds[()])
    if counts.ndim == 2:
        counts = counts[np.newaxis]
    if counts.ndim != 3:
        raise RunFormatError(path, "detector_1/counts", f"expected (period, spectrum, bin), found shape {counts.shape}")
    n_per, n_det, n_bins = counts.shape
    if counts.size == 0:
        raise RunFormatError(path, "detector_1/counts", f"expected non-empty histograms, found shape {counts.shape}")
    edges = val("detector_1/raw_time")
    if edges is None:
        edges = val("instrument/dae/time_channels_1/raw_time")
    if edges is None or np.size(edges) != n_bins + 1:
        raise RunFormatError(path, "detector_1/raw_time", f"expected {n_bins + 1} bin edges, found {None if edges is None else np.size(edges)}")
    edges = np.asarray(edges, np.float64)
    bw = float(np.median(np.diff(edges)))
    ca = cds.attrs
    t0_bin = ca.get("t0_bin")
    tz = e.get("detector_1/time_zero")
    if isinstance(tz, h5py.Dataset) and int(np.ravel(tz.attrs.get("available", 1))[0]) != 0:
        t0 = float(np.ravel(tz[()])[0]) - float(edges[0])
        t0_source = "file:time_zero"
    elif t0_bin is not None:
        t0 = float(np.ravel(t0_bin)[0]) * bw
        t0_source = "file:t0_bin (left edge)"
    else:
        t0, t0_source = math.nan, ""
    fgb = int(np.ravel(ca.get("first_good_bin", 0))[0])
    lgb = int(np.ravel(ca.get("last_good_bin", n_bins))[0])

    def det_array(name: str, dtype):
        for p in (f"detector_1/{name}", f"instrument/detector_1/{name}"):
            obj = e.get(p)
            if isinstance(obj, h5py.Dataset):
                if int(np.ravel(obj.attrs.get("available", 1))[0]) == 0:
                    return None
                a = np.asarray(obj[()], dtype).ravel()
                return a[:n_det] if a.size >= n_det else None
        return None

    dead = det_array("dead_time", np.float64)
    grouping = det_array("grouping", np.int64)
    if grouping is not None and not (np.any(grouping == 1) and np.any(grouping == 2)):
        grouping = None
    spec = det_array("spectrum_index", np.int64)
    if spec is not None and (np.unique(spec).size != n_det):
        spec = None
    frames = val("periods/good_frames")
    if frames is not None:
        frames = np.asarray(frames, np.float64).ravel()
        frames = frames[:n_per] if frames.size >= n_per else None
    if frames is None and n_per == 1:
        gf = num("good_frames")
        frames = None if not np.isfinite(gf) else np.array([gf])

    logs: dict[str, tuple[float, float]] = {}
    log_names: dict[str, str] = {}
    selog = e.get("selog")
    if isinstance(selog, h5py.Group):
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
    title = _text(val("title"))
    header_T = num("sample/temperature")
    field_G = num("sample/magnetic_field")
    T, T_std, T_src = _temperature(logs, log_names, header_T, title)
    instrument = _text(val("instrument/name")) or _text(val("beamline"))
    geometry, geo_src = _geometry_from_logs(logs, _text(val("sample/magnetic_field_state")), field_G, instrument)
    attrs = {
        "format": "ISIS NeXus v2 (HDF5)",
        "facility": _text(val("instrument/source/name")) or "ISIS",
        "instrument": instrument,
        "run_number": int(num("run_number", -1)),
        "sample": _text(val("sample/name")),
        "title": title,
        "comment": _text(val("notes")),
        "start_time": _text(val("start_time")),
        "temperature_K": T,
        "temperature_std_K": T_std,
        "temperature_source": T_src,
        "field_mT": field_G / 10.0 if np.isfinite(field_G) else math.nan,
        "field_source": "header:sample/magnetic_field (G)" if np.isfinite(field_G) else "",
        "geometry": geometry,
        "geometry_source": geo_src,
        "source_file": str(path),
        "t0_source": t0_source,
        "grouping_source": "file" if grouping is not None else "",
    }
    ds = make_histogram_dataset(
        counts,
        bin_width_us=bw,
        t0_us=t0,
        t0_bin=np.nan if t0_bin is None else float(np.ravel(t0_bin)[0]),
        first_good_bin=fgb,
        last_good_bin=min(lgb, n_bins),
        dead_time_us=dead,
        grouping=grouping,
        good_frames=frames,
        detector_numbers=spec,
        attrs=attrs,
    )
    return MuonRun(ds)
