"""The run object and its reduction: :class:`MuonRun` and :func:`estimate_alpha`.

A :class:`MuonRun` wraps one ``xarray.Dataset`` in one of two layouts.

Histogram runs (``attrs["kind"] == "histograms"``)
    ``counts`` (period, detector, bin), raw integer counts;
    ``t0`` (detector) in μs from the start of the histogram (left edge of bin 0);
    ``first_good_bin`` / ``last_good_bin`` (detector): good bins are
    ``first_good_bin <= i < last_good_bin`` (0-based, as the ISIS and PSI files
    store them); ``dead_time`` (detector) in μs, NaN when unknown;
    ``grouping`` (detector): 1 = forward, 2 = backward, 0 = unused;
    ``good_frames`` (period), NaN when unknown (continuous sources).
    ``attrs["bin_width_us"]`` is the bin width in μs.

Asymmetry runs (``attrs["kind"] == "asymmetry"``)
    ``asymmetry`` and ``asymmetry_error`` on a ``time`` coordinate (μs after t0),
    for data that exist only as an exported asymmetry.

Metadata live in ``attrs``: ``format``, ``facility``, ``instrument``,
``run_number``, ``sample``, ``title``, ``start_time`` (ISO 8601),
``temperature_K`` with ``temperature_source`` (e.g. ``"log:Temp_Sample mean"``,
``"title"``, ``"user"``), ``field_mT`` with ``field_source``, ``geometry``
("ZF", "LF", "TF" or "") with ``geometry_source``, ``source_file``. Unknown
numbers are NaN, unknown strings empty.

Units: time μs, field mT, temperature K, dead time μs.

Reduction follows Mantid/musrfit conventions (docs/data-formats.md):
dead time N_true = N / (1 − N τ / (Δt F)) with Δt the bin width and F the good
frames (Mantid ``ApplyDeadTimeCorr``); asymmetry A = (F − αB)/(F + αB) with
first-order Poisson error propagation; α from a transverse-field run as
ΣF/ΣB over the good range (Mantid ``AlphaCalc``).  This α is Mantid's and the
fits' (:mod:`bayesmusr.model.parameters`); musrfit's alpha is its inverse, 1/α.
"""
from __future__ import annotations

import math
import os
import pathlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from bayesmusr.io.errors import RunFormatError

__all__ = ["MuonRun", "estimate_alpha", "make_histogram_dataset", "make_asymmetry_dataset",
           "INSTRUMENT_DEFAULT_GROUPS"]

#: Global attribute that marks bayesmusr's own netCDF run files.
RUN_FORMAT_ATTR = "bayesmusr_run_format"
RUN_FORMAT_VERSION = "1"

#: Forward/backward detector numbers (1-based spectrum numbers) used when a file carries no
#: grouping, from the facility software: EMU 96 — the grouping stored in the NeXus v2 run
#: EMU00126645; EMU 32 — musrfit's example msr for EMU00005989 (forward 1-16); MUSR 64, HIFI 64,
#: ARGUS 192, CHRONUS 608 — Mantid's instrument/Grouping/<INST>_Detector_Grouping_LF_<N>.xml
#: ("long" pair; CHRONUS leaves out detectors 398 and 518).
INSTRUMENT_DEFAULT_GROUPS: dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]] = {
    ("EMU", 96): (tuple(range(1, 49)), tuple(range(49, 97))),
    ("EMU", 32): (tuple(range(1, 17)), tuple(range(17, 33))),
    ("MUSR", 64): (tuple(range(33, 65)), tuple(range(1, 33))),
    ("HIFI", 64): (tuple(range(1, 33)), tuple(range(33, 65))),
    ("ARGUS", 192): (tuple(range(1, 97)), tuple(range(97, 193))),
    ("CHRONUS", 608): (tuple(range(1, 609, 2)), tuple(d for d in range(2, 609, 2) if d not in (398, 518))),
}

#: Histogram labels of detectors downstream / upstream of the sample (PSI "Forw"/"Back", TRIUMF "F"/"B").
_FORWARD_NAMES = {"forward", "forw", "fwd", "f", "front"}
_BACKWARD_NAMES = {"backward", "back", "bkwd", "bwd", "b"}

_STR_ATTRS = (
    "format", "facility", "instrument", "sample", "title", "comment", "start_time",
    "temperature_source", "field_source", "geometry", "geometry_source", "source_file",
    "t0_source", "grouping_source", "notes",
)


def _full_attrs(attrs: Mapping[str, Any] | None, kind: str, bin_width_us: float) -> dict[str, Any]:
    """Every metadata key (empty string / NaN / −1 where unknown), then ``attrs`` (None values skipped)."""
    out: dict[str, Any] = {k: "" for k in _STR_ATTRS}
    out.update({"run_number": -1, "temperature_K": math.nan, "temperature_std_K": math.nan, "field_mT": math.nan})
    out.update({k: v for k, v in (attrs or {}).items() if v is not None})
    out["kind"] = kind
    out["bin_width_us"] = float(bin_width_us)
    return out


def _per_detector(value, n_det: int, dtype, fill) -> np.ndarray:
    """One value per detector: ``fill`` when None, a scalar broadcast, or the array as given."""
    if value is None:
        return np.full(n_det, fill, dtype=dtype)
    arr = np.asarray(value, dtype=dtype)
    return np.full(n_det, arr, dtype=dtype) if arr.ndim == 0 else arr


def make_histogram_dataset(
    counts: np.ndarray,
    *,
    bin_width_us: float,
    t0_us: float | Sequence[float] | np.ndarray,
    first_good_bin: int | Sequence[int] | np.ndarray,
    last_good_bin: int | Sequence[int] | np.ndarray,
    dead_time_us: Sequence[float] | np.ndarray | None = None,
    grouping: Sequence[int] | np.ndarray | None = None,
    good_frames: Sequence[float] | np.ndarray | None = None,
    detector_numbers: Sequence[int] | np.ndarray | None = None,
    detector_names: Sequence[str] | None = None,
    t0_bin: Sequence[float] | np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Build the histogram-run ``Dataset`` layout described in the module docstring.

    Parameters
    ----------
    counts : ndarray
        Raw counts, shape (period, detector, bin) or (detector, bin).
    bin_width_us : float
        Bin width in μs.
    t0_us : float or array
        Time zero in μs from the start of the histogram, scalar or per detector
        (NaN when unknown).
    first_good_bin, last_good_bin : int or array
        Good-bin range, ``first <= i < last`` (0-based).
    dead_time_us : array, optional
        Dead time per detector in μs (NaN = unknown).
    grouping : array, optional
        1 = forward, 2 = backward, 0 = unused, per detector.
    good_frames : array, optional
        Good frames per period (NaN = unknown).
    detector_numbers : array, optional
        Spectrum numbers (default 1..N).
    detector_names : sequence of str, optional
        Histogram labels (PSI files name them).
    t0_bin : array, optional
        The t0 bin index as stored in the file, per detector (kept for reference).
    attrs : mapping, optional
        Metadata (see module docstring).

    Returns
    -------
    xarray.Dataset
    """
    c = np.asarray(counts)
    c = c[np.newaxis] if c.ndim == 2 else c
    n_per, n_det, n_bin = c.shape
    det = np.arange(1, n_det + 1) if detector_numbers is None else np.asarray(detector_numbers, dtype=np.int64)
    data_vars = {
        "counts": (("period", "detector", "bin"), c),
        "t0": ("detector", _per_detector(t0_us, n_det, np.float64, np.nan), {"units": "microsecond"}),
        "first_good_bin": ("detector", _per_detector(first_good_bin, n_det, np.int64, 0)),
        "last_good_bin": ("detector", _per_detector(last_good_bin, n_det, np.int64, n_bin)),
        "dead_time": ("detector", _per_detector(dead_time_us, n_det, np.float64, np.nan), {"units": "microsecond"}),
        "grouping": ("detector", _per_detector(grouping, n_det, np.int64, 0)),
        "good_frames": ("period", np.full(n_per, np.nan) if good_frames is None else np.asarray(good_frames, np.float64)),
    }
    if t0_bin is not None:
        data_vars["t0_bin"] = ("detector", _per_detector(t0_bin, n_det, np.float64, np.nan))
    if detector_names is not None:
        data_vars["detector_name"] = ("detector", np.asarray([str(s) for s in detector_names], dtype=object))
    coords = {"period": np.arange(1, n_per + 1), "detector": det, "bin": np.arange(n_bin)}
    return xr.Dataset(data_vars, coords=coords, attrs=_full_attrs(attrs, "histograms", bin_width_us))


def make_asymmetry_dataset(
    time_us: np.ndarray, asymmetry: np.ndarray, error: np.ndarray, attrs: Mapping[str, Any] | None = None
) -> xr.Dataset:
    """Build the asymmetry-run ``Dataset`` (layout in the module docstring).

    Parameters
    ----------
    time_us : array_like
        Times in μs after t0.
    asymmetry, error : array_like
        Asymmetry and its standard error (dimensionless), one per time.
    attrs : mapping, optional
        Metadata (see module docstring).

    Returns
    -------
    xarray.Dataset
        ``attrs["bin_width_us"]`` is the median time step in μs (NaN for one point).
    """
    time_us = np.asarray(time_us, dtype=np.float64)
    steps = np.diff(time_us)
    return xr.Dataset(
        {
            "asymmetry": ("time", np.asarray(asymmetry, dtype=np.float64)),
            "asymmetry_error": ("time", np.asarray(error, dtype=np.float64)),
        },
        coords={"time": ("time", time_us, {"units": "microsecond"})},
        attrs=_full_attrs(attrs, "asymmetry", float(np.median(steps)) if steps.size else math.nan),
    )


def _parse_groups(groups: Any, detectors: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(groups, Mapping):
        try:
            fwd, bwd = groups["forward"], groups["backward"]
        except KeyError:
            raise ValueError("groups mapping needs keys 'forward' and 'backward'") from None
    else:
        try:
            fwd, bwd = groups
        except (TypeError, ValueError):
            raise ValueError("groups must be (forward, backward) lists of detector numbers") from None
    fwd = np.atleast_1d(np.asarray(fwd, dtype=np.int64))
    bwd = np.atleast_1d(np.asarray(bwd, dtype=np.int64))
    known = set(int(d) for d in detectors)
    for name, g in (("forward", fwd), ("backward", bwd)):
        if g.size == 0:
            raise RunFormatError(source, f"grouping ({name})", "expected at least one detector")
        bad = [int(d) for d in g if int(d) not in known]
        if bad:
            raise RunFormatError(
                source, f"grouping ({name})", f"detectors {bad} do not exist (file has {min(known)}..{max(known)})"
            )
    if set(fwd.tolist()) & set(bwd.tolist()):
        raise RunFormatError(source, "grouping", "forward and backward groups overlap")
    return fwd, bwd



def _detector_index(detectors: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Positions of detector ``numbers`` in the run's ``detectors`` coordinate."""
    if np.all(np.diff(detectors) > 0):
        return np.searchsorted(detectors, numbers)
    return np.array([np.flatnonzero(detectors == d)[0] for d in numbers])


def _shifted_sum(arr: np.ndarray, idx: np.ndarray, shifts: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Sum over detectors ``idx`` of arr[i, lo + shift_i : hi + shift_i] (histograms aligned on one t0)."""
    return np.sum([arr[i, lo + shifts[i]: hi + shifts[i]] for i in idx], axis=0)


def _pack_bins(cols: dict[str, np.ndarray], bunch: int) -> dict[str, np.ndarray]:
    """Pack ``bunch`` consecutive bins: counts and variances summed, ``time`` averaged, the tail dropped."""
    n = (cols["forward"].size // bunch) * bunch
    if n == 0:
        raise ValueError(f"bunch={bunch} is longer than the {cols['forward'].size} bins available")
    out = {k: v[:n].reshape(-1, bunch).sum(axis=1) for k, v in cols.items() if k not in ("time", "first_bin")}
    out["first_bin"] = cols["first_bin"][:n:bunch]
    out["time"] = cols["time"][:n].reshape(-1, bunch).mean(axis=1)
    return out


class MuonRun:
    """One μSR run: counts (or an exported asymmetry) plus metadata.

    Parameters
    ----------
    dataset : xarray.Dataset
        A dataset in one of the two layouts of the module docstring (readers build
        it; users normally call :func:`bayesmusr.io.readers.read_run`).

    Attributes
    ----------
    ds : xarray.Dataset
        The wrapped dataset.
    """

    def __init__(self, dataset: xr.Dataset):
        self.ds = dataset

    # ------------------------------------------------------------------ basics
    def __repr__(self) -> str:
        a = self.ds.attrs
        return (
            f"MuonRun({a.get('format')} run {a.get('run_number')} {a.get('instrument')!s}, "
            f"T={a.get('temperature_K')} K, {a.get('geometry')} {a.get('field_mT')} mT)"
        )

    @property
    def attrs(self) -> dict[str, Any]:
        """Metadata dictionary (the dataset's attrs)."""
        return self.ds.attrs

    @property
    def kind(self) -> str:
        """``"histograms"`` or ``"asymmetry"``."""
        return self.ds.attrs["kind"]

    @property
    def source(self) -> str:
        """The file the run was read from (or ``"<memory>"``)."""
        return self.ds.attrs.get("source_file") or "<memory>"

    @property
    def temperature_K(self) -> float:
        """Sample temperature in K (NaN if unknown); see ``attrs['temperature_source']``."""
        return float(self.ds.attrs.get("temperature_K", math.nan))

    @property
    def field_mT(self) -> float:
        """Applied field in mT (NaN if unknown)."""
        return float(self.ds.attrs.get("field_mT", math.nan))

    @property
    def geometry(self) -> str:
        """Field geometry: ``"ZF"``, ``"LF"``, ``"TF"`` or ``""`` if unknown."""
        return str(self.ds.attrs.get("geometry", ""))

    @property
    def bin_width_us(self) -> float:
        """Histogram bin width in μs."""
        return float(self.ds.attrs["bin_width_us"])

    @property
    def n_detectors(self) -> int:
        """Number of detectors (0 for asymmetry-only runs)."""
        return int(self.ds.sizes.get("detector", 0))

    @property
    def n_periods(self) -> int:
        """Number of periods (0 for asymmetry-only runs)."""
        return int(self.ds.sizes.get("period", 0))

    @property
    def n_bins(self) -> int:
        """Bins per histogram (points for asymmetry-only runs)."""
        return int(self.ds.sizes.get("bin", self.ds.sizes.get("time", 0)))

    @property
    def total_counts(self) -> int:
        """Sum of all raw counts (0 for asymmetry-only runs)."""
        if self.kind != "histograms":
            return 0
        return int(self.ds["counts"].values.sum(dtype=np.int64))

    # -------------------------------------------------------------- validation
    def validate(self) -> "MuonRun":
        """Check the run is usable; raise :class:`RunFormatError` naming the field if not.

        Returns
        -------
        MuonRun
            ``self``, for chaining.
        """
        src, ds = self.source, self.ds
        bw = float(ds.attrs.get("bin_width_us", math.nan))
        if self.kind == "asymmetry":
            t = ds["time"].values
            if t.size == 0:
                raise RunFormatError(src, "data", "expected at least one (time, asymmetry, error) row, found none")
            for name in ("time", "asymmetry", "asymmetry_error"):
                v = ds[name].values
                if not np.all(np.isfinite(v)):
                    i = int(np.flatnonzero(~np.isfinite(v))[0])
                    raise RunFormatError(src, name, f"expected finite numbers, found {v[i]} at row {i + 1}")
            if np.any(ds["asymmetry_error"].values <= 0):
                i = int(np.flatnonzero(ds["asymmetry_error"].values <= 0)[0])
                raise RunFormatError(src, "asymmetry_error", f"expected errors > 0, found {ds['asymmetry_error'].values[i]} at row {i + 1}")
            if t.size > 1 and np.any(np.diff(t) <= 0):
                raise RunFormatError(src, "time", "expected strictly increasing times")
            return self
        counts = ds["counts"].values
        if counts.dtype.kind not in "iuf":
            raise RunFormatError(src, "counts", f"expected integer counts, found values of type {counts.dtype}")
        if counts.size == 0 or ds.sizes["bin"] == 0:
            raise RunFormatError(src, "counts", f"expected non-empty histograms, found shape {counts.shape}")
        if counts.dtype.kind == "f":
            if not np.all(np.isfinite(counts)):
                raise RunFormatError(src, "counts", "expected finite counts, found NaN or infinity")
            if np.any(counts != np.round(counts)):
                raise RunFormatError(src, "counts", "expected integer counts, found fractional values")
        if np.any(counts < 0):
            idx = np.argwhere(counts < 0)[0]
            raise RunFormatError(
                src, "counts", f"expected counts >= 0, found {counts[tuple(idx)]} (period {idx[0] + 1}, "
                f"detector {int(ds['detector'].values[idx[1]])}, bin {idx[2]})"
            )
        if counts.sum(dtype=np.float64) == 0:
            raise RunFormatError(src, "counts", "expected recorded events, every histogram is empty")
        if not (np.isfinite(bw) and bw > 0):
            raise RunFormatError(src, "bin_width", f"expected a positive bin width in μs, found {bw}")
        t0 = ds["t0"].values
        if not np.all(np.isfinite(t0)):
            raise RunFormatError(src, "t0", "missing: the file gives no time zero; pass t0_us=... (μs) or t0=... (bin, its centre)")
        span = ds.sizes["bin"] * bw
        if np.any(t0 < 0) or np.any(t0 >= span):
            raise RunFormatError(src, "t0", f"expected 0 <= t0 < {span:g} μs (histogram length), found {t0.min():g}..{t0.max():g}")
        fg, lg = ds["first_good_bin"].values, ds["last_good_bin"].values
        if np.any(fg < 0) or np.any(lg <= fg) or np.any(fg >= ds.sizes["bin"]):
            raise RunFormatError(
                src, "first_good_bin/last_good_bin",
                f"expected 0 <= first_good_bin < last_good_bin and first_good_bin < {ds.sizes['bin']} bins, "
                f"found {fg.min()}..{lg.max()}",
            )
        return self

    # --------------------------------------------------------------- overrides
    def with_overrides(self, **overrides: Any) -> "MuonRun":
        """Return a copy with user values replacing the file's, recorded as ``"user"``.

        Parameters
        ----------
        **overrides
            ``temperature_K``, ``field_mT``, ``geometry``, ``t0`` (bin index, scalar or per
            detector; the bin's centre is time zero, as musrfit), ``t0_us`` (μs from the start
            of bin 0),
            ``first_good_bin``, ``last_good_bin``, ``dead_time`` (μs per detector),
            ``grouping`` / ``groups`` ((forward, backward) detector numbers or a
            mapping with those keys), ``alpha`` (stored for later use), ``sample``,
            ``title``, ``run_number``.

        Returns
        -------
        MuonRun
        """
        ds = self.ds.copy(deep=True)
        a = ds.attrs
        for key in list(overrides):
            value = overrides.pop(key)
            if value is None:
                continue
            if key == "temperature_K":
                a["temperature_K"], a["temperature_source"], a["temperature_std_K"] = float(value), "user", math.nan
            elif key == "field_mT":
                a["field_mT"], a["field_source"] = float(value), "user"
            elif key == "geometry":
                g = str(value).upper()
                if g not in ("ZF", "LF", "TF"):
                    raise ValueError(f"geometry must be ZF, LF or TF, not {value!r}")
                a["geometry"], a["geometry_source"] = g, "user"
            elif key in ("sample", "title"):
                a[key] = str(value)
            elif key == "run_number":
                a[key] = int(value)
            elif key == "alpha":
                a["alpha"] = float(value)
            elif self.kind != "histograms":
                raise ValueError(f"override {key!r} applies to histogram runs only")
            elif key == "t0_us":
                ds["t0"].values[:] = np.broadcast_to(np.asarray(value, np.float64), ds["t0"].shape)
                a["t0_source"] = "user"
            elif key in ("t0", "t0_bin"):  # a bin index: the bin's centre is time zero (musrfit, PSI)
                tb = np.broadcast_to(np.asarray(value, np.float64), ds["t0"].shape)
                ds["t0"].values[:] = (tb + 0.5) * float(a["bin_width_us"])
                a["t0_source"] = "user (bin centre)"
            elif key in ("first_good_bin", "last_good_bin"):
                ds[key].values[:] = np.broadcast_to(np.asarray(value, np.int64), ds[key].shape)
            elif key == "dead_time":
                ds["dead_time"].values[:] = np.broadcast_to(np.asarray(value, np.float64), ds["dead_time"].shape)
            elif key in ("grouping", "groups"):
                fwd, bwd = _parse_groups(value, ds["detector"].values, self.source)
                g = np.zeros(ds.sizes["detector"], dtype=np.int64)
                det = ds["detector"].values
                g[np.isin(det, fwd)] = 1
                g[np.isin(det, bwd)] = 2
                ds["grouping"].values[:] = g
                a["grouping_source"] = "user"
            else:
                raise ValueError(f"unknown override {key!r}")
        return MuonRun(ds)

    # --------------------------------------------------------------- grouping
    def default_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Forward and backward detector numbers used when none are given.

        Order of precedence: the file's (or user's) grouping (1 = forward,
        2 = backward); PSI/TRIUMF histogram labels, the ``Back`` histogram(s) forming the
        forward group (musrfit's choice for these instruments, positive asymmetry); the
        instrument defaults in :data:`INSTRUMENT_DEFAULT_GROUPS`.

        Returns
        -------
        forward, backward : ndarray of int
            Detector (spectrum) numbers.

        Raises
        ------
        RunFormatError
            No grouping can be found for this instrument.
        """
        ds = self.ds
        det = ds["detector"].values
        g = ds["grouping"].values
        if np.any(g == 1) and np.any(g == 2):
            return det[g == 1], det[g == 2]
        if "detector_name" in ds:
            # PSI and TRIUMF name histograms by detector position along the beam.  A surface muon's spin
            # points back up the beam and positrons go preferentially along it, so the detector named
            # "Back" sees 1 + A P: it is the forward group of A = (F − αB)/(F + αB), as in musrfit's
            # msr files for these instruments (Dolly, GPS: forward 2 = "Back"; TRIUMF M20: forward 1 = "Back").
            names = [str(n).strip().lower() for n in ds["detector_name"].values]
            fw = [d for d, n in zip(det, names) if n in _BACKWARD_NAMES]
            bw = [d for d, n in zip(det, names) if n in _FORWARD_NAMES]
            if fw and bw:
                return np.asarray(fw), np.asarray(bw)
        key = (str(ds.attrs.get("instrument", "")).upper(), int(det.size))
        if key in INSTRUMENT_DEFAULT_GROUPS:
            f, b = INSTRUMENT_DEFAULT_GROUPS[key]
            return np.asarray(f), np.asarray(b)
        raise RunFormatError(
            self.source, "grouping",
            f"the file has no forward/backward grouping and there is no default for instrument "
            f"{key[0] or '?'} with {key[1]} detectors; give the groups (--forward 1-16 --backward 17-32, or forward = / backward = in TOML)",
        )

    def _select_period(self, period: int | str | None) -> tuple[np.ndarray, np.ndarray, str]:
        """Counts (detector, bin) and good frames of a period, a sum of periods ("sum", "1+3") or a
        difference ("1-2": for viewing only, it is not Poisson data); periods are numbered from 1."""
        counts = self.ds["counts"].values.astype(np.float64)
        frames = self.ds["good_frames"].values
        n = counts.shape[0]
        text = "" if period is None else str(period).replace(" ", "").lower()
        if not text:
            if n != 1:
                raise ValueError(f"{self.source}: {n} periods; choose period=<1..{n}>, 'sum', '1+2' or '1-2'")
            text = "1"
        if text == "sum":
            text = "+".join(str(p) for p in range(1, n + 1))
        sign = -1.0 if "-" in text else 1.0
        try:
            picks = [int(p) for p in text.replace("-", "+").split("+")]
        except ValueError:
            raise ValueError(f"{self.source}: period {period!r}: expected a number, 'sum', '1+2' or '1-2'") from None
        if any(not 1 <= p <= n for p in picks) or (sign < 0 and len(picks) != 2):
            raise ValueError(f"{self.source}: period {period!r} does not exist (the file has periods 1..{n})")
        weights = np.array([1.0] + [sign] * (len(picks) - 1))
        sel = np.asarray(picks) - 1
        c = np.tensordot(weights, counts[sel], axes=1)
        fr = frames[sel]
        good = np.array(np.sum(fr) if sign > 0 and np.all(np.isfinite(fr)) else (fr[0] if sign < 0 else np.nan))
        return c, good, text

    def grouped(
        self,
        groups: Any = None,
        dead_time: bool | None = None,
        period: int | str | None = None,
        bunch: int = 1,
        good_only: bool = True,
    ) -> xr.Dataset:
        """Forward and backward group histograms for a Poisson likelihood.

        Parameters
        ----------
        groups : (forward, backward) or mapping, optional
            Detector (spectrum) numbers of each group; default
            :meth:`default_groups`.
        dead_time : bool, optional
            ``None`` (default): correct for dead time when the file gives dead
            times and good frames; ``True``: require it; ``False``: never.
            N_true = N / (1 − N τ / (Δt F)) per detector and bin (Mantid
            ``ApplyDeadTimeCorr``), τ in μs, Δt the bin width in μs, F good frames.
        period : int or "sum", optional
            Period to use (1-based) or ``"sum"``; needed for multi-period runs.
        bunch : int
            Pack this many consecutive bins into one (counts summed), starting
            at the first good bin.
        good_only : bool
            Keep only bins inside the good range and after t0 (default).

        Returns
        -------
        xarray.Dataset
            ``forward``, ``backward``: counts per bin (float; integers unless dead
            time was corrected); ``forward_variance``, ``backward_variance``:
            Poisson variances propagated through the dead-time factor
            (N_true²/N); ``first_bin``: index of each (first packed) raw bin;
            coordinate ``time``: bin centres in μs after t0. Attrs:
            ``bin_width_us`` (after packing), ``t0_us``, ``first_good_time_us``,
            ``last_good_time_us`` (μs after t0), ``dead_time_corrected`` (0/1), ``period``,
            ``good_frames``, ``forward_detectors``, ``backward_detectors``, and
            the run metadata (temperature, field, geometry, run number, source).

        Notes
        -----
        Detectors whose t0 differs from the first forward detector's by half a bin
        or more are shifted by whole bins before summing (as musrfit does when it
        groups histograms); the time axis is that of the first forward detector.
        """
        if self.kind != "histograms":
            raise ValueError(f"{self.source}: an asymmetry-only run has no histograms to group")
        if bunch < 1:
            raise ValueError("bunch must be >= 1")
        ds, bw = self.ds, self.bin_width_us
        det = ds["detector"].values
        fwd, bwd = self.default_groups() if groups is None else _parse_groups(groups, det, self.source)
        idx_f, idx_b = _detector_index(det, fwd), _detector_index(det, bwd)
        used = np.concatenate([idx_f, idx_b])
        counts, frames, period_label = self._select_period(period)
        corr, var, corrected, dt_note = self._dead_time_corrected(counts, frames, used, dead_time)
        shifts, lo, hi = self._t0_shifts(idx_f[0], used, counts.shape[1])
        t0 = float(ds["t0"].values[idx_f[0]])
        bins = np.arange(lo, hi)
        cols = {"forward": _shifted_sum(corr, idx_f, shifts, lo, hi), "backward": _shifted_sum(corr, idx_b, shifts, lo, hi),
                "forward_variance": _shifted_sum(var, idx_f, shifts, lo, hi),
                "backward_variance": _shifted_sum(var, idx_b, shifts, lo, hi),
                "first_bin": bins, "time": (bins + 0.5) * bw - t0}
        fg = int(np.max(ds["first_good_bin"].values[used] - shifts[used]))
        lg = int(np.min(ds["last_good_bin"].values[used] - shifts[used]))
        if good_only:
            keep = (bins >= fg) & (bins < lg) & (cols["time"] > 0)
            if not np.any(keep):
                raise RunFormatError(self.source, "first_good_bin/last_good_bin", "no good bins left after t0")
            cols = {k: v[keep] for k, v in cols.items()}
        if bunch > 1:
            cols = _pack_bins(cols, bunch)
        attrs = {"bin_width_us": bw * bunch, "t0_us": t0, "first_good_time_us": float((fg + 0.5) * bw - t0),
                 "last_good_time_us": float((lg - 0.5) * bw - t0), "dead_time_corrected": int(corrected),
                 "dead_time_note": dt_note,
                 "period": period_label, "good_frames": float(frames),
                 "forward_detectors": np.asarray(fwd, dtype=np.int64),
                 "backward_detectors": np.asarray(bwd, dtype=np.int64),
                 **{k: ds.attrs.get(k) for k in ("run_number", "temperature_K", "field_mT", "geometry", "source_file",
                                                 "instrument")}}
        time = cols.pop("time")
        return xr.Dataset({k: ("time", v.astype(np.float64) if k in ("forward", "backward") else v)
                           for k, v in cols.items()},
                          coords={"time": ("time", time, {"units": "microsecond", "long_name": "time after t0"})},
                          attrs=attrs)

    def _dead_time_corrected(self, counts, frames, used, dead_time):
        """(counts corrected for dead time, their variances N_true²/N, whether corrected, why not); see :meth:`grouped`."""
        dt = self.ds["dead_time"].values
        have_dt = bool(np.all(np.isfinite(dt[used])))
        have_frames = bool(np.isfinite(frames) and float(frames) > 0)
        # dead times without usable good frames cannot be applied: say so rather than skip silently
        why = "" if have_frames or not have_dt else f"dead time not corrected: good frames = {float(frames):g}"
        if dead_time is True and not (have_dt and have_frames):
            raise RunFormatError(self.source, "dead_time",
                                 "dead-time correction asked for, but " + (why or "the file gives no dead times"))
        corrected = (have_dt and have_frames) if dead_time is None else bool(dead_time)
        corr = counts
        if corrected:
            denom = 1.0 - counts * dt[:, None] / (self.bin_width_us * float(frames))
            if np.any(denom[used] <= 0):
                raise RunFormatError(self.source, "dead_time", "dead-time correction diverges (1 − Nτ/(ΔtF) <= 0)")
            corr = counts / denom
        if why and dead_time is None:
            warnings.warn(f"{self.source}: {why}", RuntimeWarning, stacklevel=3)
        var = np.where(counts > 0, corr**2 / np.where(counts > 0, counts, 1.0), 0.0)
        return corr, var, corrected, (why if dead_time is None else "")

    def _t0_shifts(self, ref: int, used: np.ndarray, n_bin: int):
        """Whole-bin shift of every detector onto detector ``ref``'s t0, and the bin range [lo, hi) all cover."""
        t0 = self.ds["t0"].values
        shifts = np.rint((t0 - t0[ref]) / self.bin_width_us).astype(np.int64)
        lo = max(0, -int(shifts[used].min()))
        hi = n_bin - max(0, int(shifts[used].max()))
        if hi <= lo:
            raise RunFormatError(self.source, "t0", "detector t0 values are too far apart to group")
        return shifts, lo, hi

    def background(
        self,
        groups: Any = None,
        dead_time: bool | None = None,
        period: int | str | None = None,
        time_range: tuple[float, float] | None = None,
        bins: Sequence[int] | None = None,
    ) -> tuple[float, float, float, float]:
        """Mean pre-t0 counts per bin of the forward and backward groups.

        For continuous sources (PSI, TRIUMF) the bins before t0 hold only
        uncorrelated background. Default range: from 10 % of the t0 bin to
        10 bins before t0 (fewer if t0 is early), which keeps clear of the prompt peak.

        Parameters
        ----------
        groups, dead_time, period
            As in :meth:`grouped`.
        time_range : (start, stop), optional
            Range in μs relative to t0 (both negative).
        bins : (f_first, f_last, b_first, b_last), optional
            Raw bin ranges of each group, both ends included (musrfit's ``background`` line);
            replaces ``time_range``.

        Returns
        -------
        b_forward, b_backward, var_forward, var_backward : float
            Background counts per bin and the variances of these means.
        """
        if bins is not None:
            return self._background_bins(groups, period, bins)
        g = self.grouped(groups, dead_time=dead_time, period=period, good_only=False)
        t = g["time"].values
        if time_range is None:
            t0 = g.attrs["t0_us"]
            bw = g.attrs["bin_width_us"]
            start = -0.9 * t0
            stop = -10 * bw if t0 > 20 * bw else -0.4 * t0
            time_range = (start, stop)
        sel = (t >= time_range[0]) & (t < time_range[1])
        if sel.sum() < 1:
            raise RunFormatError(self.source, "background range", f"no bins in {time_range} μs before t0")
        n = int(sel.sum())
        bF, bB = float(g["forward"].values[sel].mean()), float(g["backward"].values[sel].mean())
        return bF, bB, float(g["forward_variance"].values[sel].sum() / n**2), float(g["backward_variance"].values[sel].sum() / n**2)

    def _background_bins(self, groups, period, bins) -> tuple[float, float, float, float]:
        """Background per raw bin of each group over inclusive bin ranges (musrfit's ``background``)."""
        det = self.ds["detector"].values
        fwd, bwd = self.default_groups() if groups is None else _parse_groups(groups, det, self.source)
        counts, _, _ = self._select_period(period)
        out = []
        for group, (a, b) in ((fwd, bins[:2]), (bwd, bins[2:])):
            a, b = int(a), int(b)
            if not 0 <= a <= b < counts.shape[1]:
                raise ValueError(f"{self.source}: background bins {a}..{b}: expected 0 <= first <= last < "
                                 f"{counts.shape[1]}")
            total = float(counts[_detector_index(det, np.asarray(group)), a:b + 1].sum())
            out.append((total / (b - a + 1), total / (b - a + 1) ** 2))
        return out[0][0], out[1][0], out[0][1], out[1][1]

    def asymmetry(
        self,
        groups: Any = None,
        alpha: float | None = None,
        dead_time: bool | None = None,
        background: str | tuple[float, float] | None = None,
        period: int | str | None = None,
        bunch: int = 1,
    ) -> xr.Dataset:
        """Asymmetry A = (F − αB)/(F + αB) with propagated Poisson errors.

        Parameters
        ----------
        groups, dead_time, period, bunch
            As in :meth:`grouped`.
        alpha : float, optional
            Detector balance α of A = (F − αB)/(F + αB), dimensionless (Mantid's α and the
            fits'; musrfit's alpha is 1/α); default ``attrs['alpha']`` if set (e.g. by an
            override), else 1.
        background : None, "pre_t0", (b_forward, b_backward) or (f_first, f_last, b_first, b_last)
            Counts per (unpacked) bin subtracted from each group before forming A:
            nothing (default), the pre-t0 mean (:meth:`background`), constants, or the mean
            over raw bin ranges (musrfit's ``background`` line, ends included).

        Returns
        -------
        xarray.Dataset
            ``asymmetry`` and ``asymmetry_error`` on ``time`` (μs after t0). Bins
            where F + αB <= 0 or where a group recorded no count are dropped. For asymmetry-only runs the stored
            asymmetry is returned.

        Notes
        -----
        σ_A = 2α √(B² σ_F² + F² σ_B²) / (F + αB)², with σ² the Poisson variances
        (after dead-time scaling) plus the variance of a subtracted background.
        """
        if self.kind == "asymmetry":
            return self.ds[["asymmetry", "asymmetry_error"]].copy()
        if alpha is None:
            alpha = float(self.ds.attrs.get("alpha", 1.0))
        if not (isinstance(alpha, (int, float, np.number)) and math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"{self.source}: alpha = {alpha!r}: expected a finite detector balance > 0")
        g = self.grouped(groups, dead_time=dead_time, period=period, bunch=bunch)
        F, B = g["forward"].values.copy(), g["backward"].values.copy()
        vF, vB = g["forward_variance"].values.copy(), g["backward_variance"].values.copy()
        if background is not None:
            if isinstance(background, str):
                if background != "pre_t0":
                    raise ValueError("background must be None, 'pre_t0' or (b_forward, b_backward)")
                bF, bB, vbF, vbB = self.background(groups, dead_time=dead_time, period=period)
            elif len(background) == 4:
                bF, bB, vbF, vbB = self.background(groups, period=period, bins=background)
            else:
                bF, bB = map(float, background)
                vbF = vbB = 0.0
            F -= bF * bunch
            B -= bB * bunch
            vF += vbF * bunch**2
            vB += vbB * bunch**2
        den = F + alpha * B
        # A bin where a group recorded nothing has no Poisson error estimate (σ² = N = 0): drop it.
        ok = (den > 0) & (g["forward_variance"].values > 0) & (g["backward_variance"].values > 0)
        A = (F[ok] - alpha * B[ok]) / den[ok]
        err = 2 * alpha * np.sqrt(B[ok] ** 2 * vF[ok] + F[ok] ** 2 * vB[ok]) / den[ok] ** 2
        out = xr.Dataset(
            {"asymmetry": ("time", A), "asymmetry_error": ("time", err)},
            coords={"time": ("time", g["time"].values[ok], {"units": "microsecond"})},
            attrs={**{k: v for k, v in g.attrs.items()}, "alpha": float(alpha), "background": str(background)},
        )
        return out

    def rebin(self, factor: int) -> "MuonRun":
        """Pack ``factor`` consecutive bins into one (counts summed, tail dropped).

        t0 stays the same in μs; the good-bin range is converted to the new bins
        (first rounded up, last rounded down).

        Parameters
        ----------
        factor : int
            Raw bins per new bin (≥ 1).

        Returns
        -------
        MuonRun
            A new run with bins ``factor`` times wider (``bin_width_us`` in μs).
        """
        if self.kind != "histograms":
            raise ValueError("rebin applies to histogram runs")
        factor = int(factor)
        if factor < 1:
            raise ValueError("factor must be >= 1")
        ds = self.ds
        n = ds.sizes["bin"] // factor
        c = ds["counts"].values[:, :, : n * factor]
        packed = c.reshape(c.shape[0], c.shape[1], n, factor).sum(axis=3)
        new = ds.drop_dims("bin").copy()
        new["counts"] = (("period", "detector", "bin"), packed)
        new = new.assign_coords(bin=np.arange(n))
        new["first_good_bin"] = ("detector", -(-ds["first_good_bin"].values // factor))
        new["last_good_bin"] = ("detector", np.minimum(ds["last_good_bin"].values // factor, n))
        new = new[list(ds.data_vars)]
        new.attrs = dict(ds.attrs)
        new.attrs["bin_width_us"] = self.bin_width_us * factor
        return MuonRun(new)

    # ----------------------------------------------------------------- netCDF
    def to_netcdf(self, path: str | os.PathLike) -> pathlib.Path:
        """Write the run to bayesmusr's netCDF-4 run format (lossless).

        :func:`bayesmusr.io.readers.read_run` recognises these files by content.

        Parameters
        ----------
        path : str or os.PathLike
            File to write (overwritten).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        path = pathlib.Path(path)
        ds = self.ds.copy()
        ds.attrs = {**ds.attrs, RUN_FORMAT_ATTR: RUN_FORMAT_VERSION}
        encoding = {}
        if "detector_name" in ds:
            encoding["detector_name"] = {"dtype": str}
        ds.to_netcdf(path, engine="netcdf4", encoding=encoding)
        return path

    @classmethod
    def from_netcdf(cls, path: str | os.PathLike) -> "MuonRun":
        """Read a run written by :meth:`to_netcdf`.

        Parameters
        ----------
        path : str or os.PathLike
            A bayesmusr netCDF run file.

        Returns
        -------
        MuonRun

        Raises
        ------
        RunFormatError
            The file cannot be read or is not a bayesmusr run.
        """
        try:
            with xr.open_dataset(path, engine="netcdf4") as f:
                ds = f.load()
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise RunFormatError(path, "netCDF run", f"could not be read ({exc})") from None
        if ds.attrs.get(RUN_FORMAT_ATTR) is None or "kind" not in ds.attrs:
            raise RunFormatError(path, RUN_FORMAT_ATTR, "expected a bayesmusr netCDF run file")
        ds.attrs.pop(RUN_FORMAT_ATTR)
        for v in ds.variables.values():
            v.encoding = {}
        if "detector_name" in ds:
            ds["detector_name"] = ("detector", np.asarray([str(s) for s in ds["detector_name"].values], dtype=object))
        ds.attrs["source_file"] = ds.attrs.get("source_file") or str(path)
        return cls(ds)

    # ------------------------------------------------------------------ info
    def info_line(self) -> str:
        """One line: format, run, instrument, sample, T, field and geometry, sizes, counts.

        Returns
        -------
        str
            The ``bayesmusr info`` line of the run (T in K, B in mT, bin width in ns).
        """
        a = self.ds.attrs
        T = a.get("temperature_K", math.nan)
        t_txt = f"T={T:.2f} K ({a.get('temperature_source') or '?'})" if np.isfinite(T) else "T=? K"
        B = a.get("field_mT", math.nan)
        b_txt = f"B={B:g} mT" if np.isfinite(B) else "B=? mT" + (f" ({a['field_source']})" if a.get("field_source") else "")
        geo = a.get("geometry") or "?"
        name = pathlib.Path(self.source).name
        if self.kind == "histograms":
            size = (
                f"{self.n_detectors} det, {self.n_periods} period{'s' if self.n_periods != 1 else ''}, "
                f"{self.n_bins} bins x {self.bin_width_us * 1e3:g} ns, {self.total_counts} counts"
            )
        else:
            t = self.ds["time"].values
            size = f"asymmetry only, {t.size} points {t[0]:g}-{t[-1]:g} μs, step {self.bin_width_us * 1e3:g} ns"
        return (
            f"{name}: {a.get('format')} | run {a.get('run_number')} | {a.get('instrument') or '?'} | "
            f"{a.get('sample') or '?'} | {t_txt} | {b_txt} {geo} | {size}"
        )


def estimate_alpha(
    run: MuonRun,
    groups: Any = None,
    dead_time: bool | None = None,
    background: str | tuple[float, float] | None = None,
    period: int | str | None = None,
    time_range: tuple[float, float] | None = None,
) -> float:
    """α = ΣF/ΣB over the good range of a transverse-field calibration run.

    In a TF run the precessing asymmetry averages to zero over many periods, so
    the ratio of the integrated group counts is the detector balance α of
    A = (F − αB)/(F + αB) (Mantid ``AlphaCalc``; the α of the fits, whose backward
    counts are d(1 − A P)/α).  musrfit's alpha is 1/α.

    Parameters
    ----------
    run : MuonRun
        A transverse-field run (a warning is not raised for other geometries; the
        caller decides).
    groups, dead_time, period
        As in :meth:`MuonRun.grouped`.
    background : None, "pre_t0" or (b_forward, b_backward)
        Background per bin subtracted before summing.
    time_range : (start, stop), optional
        Range in μs after t0 (default: the whole good range).

    Returns
    -------
    float
        α, dimensionless.
    """
    g = run.grouped(groups, dead_time=dead_time, period=period)
    F, B, t = g["forward"].values, g["backward"].values, g["time"].values
    if background == "pre_t0":
        bF, bB, _, _ = run.background(groups, dead_time=dead_time, period=period)
    elif background is None:
        bF = bB = 0.0
    else:
        bF, bB = map(float, background)
    sel = np.ones(t.size, bool) if time_range is None else (t >= time_range[0]) & (t < time_range[1])
    sb = float(np.sum(B[sel] - bB))
    if sb <= 0:
        raise RunFormatError(run.source, "backward counts", "expected positive backward counts in the range")
    return float(np.sum(F[sel] - bF)) / sb
