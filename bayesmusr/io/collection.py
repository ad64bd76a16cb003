"""Collections of runs: the runs of a temperature scan, grouped by temperature, and ``info`` lines."""
from __future__ import annotations

import dataclasses
import glob as _glob
import os
import pathlib
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers import read_run
from bayesmusr.io.run import MuonRun
from bayesmusr.io.setup import SETUP_OPTIONS, RunSetup, check_keys

__all__ = ["RunCollection", "ScanPoint", "format_info_lines", "set_up", "META_KEYS",
           "DEFAULT_TEMPERATURE_TOLERANCE_K"]


def _ranges(numbers: Iterable[int]) -> str:
    """Detector numbers compressed as ranges: ``1-48, 50, 52-53``."""
    out: list[str] = []
    for n in sorted(int(x) for x in numbers):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in out) or "none"


def _span(values: np.ndarray, fmt: str = "{:g}") -> str:
    """One value, or min–max when the detectors differ."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "?"
    lo, hi = v.min(), v.max()
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def _grouping_line(run: MuonRun) -> str:
    """Forward/backward detectors of :meth:`MuonRun.default_groups` and where they come from."""
    ds = run.ds
    try:
        fwd, bwd = run.default_groups()
    except RunFormatError:
        return "  grouping: none in the file and no instrument default (give --forward and --backward, or forward = / backward = in TOML)"
    g = ds["grouping"].values
    if np.any(g == 1) and np.any(g == 2):
        origin = f"grouping array ({run.attrs.get('grouping_source') or 'file'})"
    elif "detector_name" in ds:
        origin = "histogram labels " + ", ".join(f"{d}={str(n).strip()!r}" for d, n in
                                                 zip(ds["detector"].values, ds["detector_name"].values))
    else:
        origin = f"default for {run.attrs.get('instrument') or '?'} with {run.n_detectors} detectors"
    return f"  grouping: forward {_ranges(fwd)}, backward {_ranges(bwd)} ({origin})"


def _info_details(run: MuonRun) -> list[str]:
    """The indented lines of ``bayesmusr info -v``."""
    a, ds = run.attrs, run.ds
    if run.kind != "histograms":
        t = ds["time"].values
        return [f"  format: {a.get('format')}; asymmetry only, {t.size} points, {t[0]:g}-{t[-1]:g} μs after t0"]
    bw = run.bin_width_us
    t0 = ds["t0"].values
    t0_bin = ds["t0_bin"].values if "t0_bin" in ds else t0 / bw
    dt = ds["dead_time"].values
    frames = ds["good_frames"].values
    periods = f"{run.n_periods}" + (f" ({a['periods_source']})" if a.get("periods_source") else "")
    dead = "absent" if not np.any(np.isfinite(dt)) else (
        f"present for {int(np.isfinite(dt).sum())}/{dt.size} detectors, {_span(dt)} μs, {int((dt < 0).sum())} negative")
    good = "unknown" if not np.any(np.isfinite(frames)) else "; ".join(
        f"period {i + 1}: {f:g}" for i, f in enumerate(frames))
    bad = [f"{f:g}" for f in frames if not (np.isfinite(f) and f > 0)]
    if np.any(np.isfinite(dt)) and bad:
        dead += f"; dead time not corrected: good frames = {', '.join(bad)}"
    notes = [f"  notes: {a['notes']}"] if a.get("notes") else []
    return [
        f"  format: {a.get('format')}; periods: {periods}",
        f"  detectors: {run.n_detectors}; bins: {run.n_bins} x {bw * 1e3:g} ns",
        f"  t0: bin {_span(t0_bin)} ({_span(t0, '{:.4g}')} μs) [{a.get('t0_source') or '?'}]",
        f"  good bins: {_span(ds['first_good_bin'].values)} <= i < {_span(ds['last_good_bin'].values)}",
        _grouping_line(run),
        f"  dead times: {dead}",
        f"  good frames: {good}" + (f" ({a['good_frames_source']})" if a.get("good_frames_source") else ""),
        *notes,
    ]


def _not_a_run_file(path: pathlib.Path) -> str:
    """Why ``path`` cannot be a run file, without opening it (a FIFO would block the reader); "" if it may be."""
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "a directory, not a run file"
    if not path.is_file():
        return "not a regular file (FIFO, socket or device): not opened"
    return ""


def format_info_lines(files: Iterable[str | os.PathLike], verbose: bool = False) -> tuple[list[str], int]:
    """``bayesmusr info`` lines: one per run file, good or bad.

    Parameters
    ----------
    files : iterable of path
        Run files of any supported format.
    verbose : bool
        Add indented lines per run: format and periods, detectors and bin width,
        t0 (bins and μs, min–max over detectors), good bins, grouping (detector
        ranges and their origin), dead times, good frames per period.

    Returns
    -------
    lines : list of str
        A file that cannot be read gets one line ``"ERROR <file>: <field>: <what>"``;
        every file is tried (a directory, FIFO or missing path is reported, never opened).
    n_bad : int
        Number of files that could not be read.
    """
    lines: list[str] = []
    n_bad = 0
    for f in files:
        reason = _not_a_run_file(pathlib.Path(f))
        if not reason:
            try:
                run = read_run(f)
            except RunFormatError as exc:
                reason = f"{exc.field}: {exc.expected}"
            except Exception as exc:  # noqa: BLE001 - one unreadable file must not hide the others
                reason = f"{type(exc).__name__}: {exc}"
        if reason:
            n_bad += 1
            lines.append(f"ERROR {f}: {reason}")
            continue
        lines.append(run.info_line())
        if verbose:
            lines.extend(_info_details(run))
    return lines, n_bad


# --------------------------------------------------------------------- scans
#: largest spread of the runs' temperatures (K) read as one temperature (scan points, one-temperature fits)
DEFAULT_TEMPERATURE_TOLERANCE_K = 0.5

#: run keys of a collection that are metadata, not set-up (MuonRun.with_overrides)
META_KEYS = ("geometry", "sample", "title", "run_number")


def set_up(run: MuonRun, values: Mapping[str, Any], where: str) -> MuonRun:
    """A run with per-file keys applied: metadata (:data:`META_KEYS`) and run set-up options.

    Parameters
    ----------
    run : MuonRun
        As read.
    values : mapping
        Keys of :data:`bayesmusr.io.setup.SETUP_OPTIONS` and :data:`META_KEYS`; any other key is
        refused with the nearest valid name.
    where : str
        Where the keys came from (file, table), for messages.

    Returns
    -------
    MuonRun
        A validated copy carrying its set-up (:meth:`RunSetup.attach`).
    """
    check_keys(values, [*META_KEYS, *(o.name for o in SETUP_OPTIONS)], where)
    meta = {k: v for k, v in values.items() if k in META_KEYS}
    setup = RunSetup.from_mapping({k: v for k, v in values.items() if k not in META_KEYS}, where)
    return setup.attach(run.with_overrides(**meta) if meta else run).validate()


@dataclasses.dataclass
class ScanPoint:
    """Runs of one temperature in a scan.

    Attributes
    ----------
    temperature_K : float
        Mean temperature of the runs in the point.
    zf, lf, tf, other : list of MuonRun
        Runs by geometry (``other``: geometry unknown).
    """

    temperature_K: float
    zf: list[MuonRun] = dataclasses.field(default_factory=list)
    lf: list[MuonRun] = dataclasses.field(default_factory=list)
    tf: list[MuonRun] = dataclasses.field(default_factory=list)
    other: list[MuonRun] = dataclasses.field(default_factory=list)


class RunCollection:
    """Runs of a temperature scan, sorted by temperature.

    Parameters
    ----------
    runs : iterable of MuonRun
        Every run must know its temperature (from the file or an override).

    Raises
    ------
    RunFormatError
        A run has no temperature.
    """

    def __init__(self, runs: Iterable[MuonRun]):
        runs = list(runs)
        for r in runs:
            if not np.isfinite(r.temperature_K):
                raise RunFormatError(
                    r.source, "temperature", "missing: needed to place the run in a scan; give temperature_K in the overrides"
                )
        self.runs: list[MuonRun] = sorted(runs, key=lambda r: (r.temperature_K, r.attrs.get("run_number", -1)))

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, i: int) -> MuonRun:
        return self.runs[i]

    @property
    def temperatures(self) -> np.ndarray:
        """Temperatures in K, ascending."""
        return np.array([r.temperature_K for r in self.runs])

    @classmethod
    def from_files(
        cls,
        files: str | os.PathLike | Iterable[str | os.PathLike],
        overrides: Mapping[Any, Mapping[str, Any]] | None = None,
        **common: Any,
    ) -> "RunCollection":
        """Read runs from a list of files or a glob pattern.

        Parameters
        ----------
        files : str, path or iterable of paths
            A glob pattern (``"data/EMU*.nxs"``) or explicit files.
        overrides : mapping, optional
            Per-run overrides keyed by file name, path or run number, e.g.
            ``{"EMU00020882.nxs": {"t0": 0.24}, 20883: {"temperature_K": 288}}``.
        **common
            Overrides applied to every run (per-run ones win).

        Returns
        -------
        RunCollection

        Raises
        ------
        FileNotFoundError
            A glob pattern matches no file.
        """
        if isinstance(files, (str, os.PathLike)):
            pattern = str(files)
            paths = sorted(_glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
            if not paths:
                raise FileNotFoundError(f"no run files match {pattern!r}")
        else:
            paths = [str(p) for p in files]
        overrides = dict(overrides or {})
        runs = []
        for p in paths:
            per = dict(common)
            for key in (p, pathlib.Path(p).name, str(pathlib.Path(p).resolve())):
                if key in overrides:
                    per.update(overrides[key])
            run = read_run(p)
            rn = run.attrs.get("run_number")
            if rn in overrides:
                per.update(overrides[rn])
            runs.append(set_up(run, per, str(p)) if per else run)
        return cls(runs)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "RunCollection":
        """Read a scan described in a TOML file.

        Parameters
        ----------
        path : str or os.PathLike
            The TOML file; run files are relative to its folder.  Layout::

                [defaults]                 # optional, applied to every run
                groups = { forward = [1, 2], backward = [3, 4] }

                [[run]]
                file = "EMU00020882.nxs"   # relative to the TOML file's folder
                temperature_K = 300.0      # any override of MuonRun.with_overrides

                [[run]]
                glob = "more/EMU*.nxs"     # or a pattern

        Returns
        -------
        RunCollection

        Raises
        ------
        RunFormatError
            The TOML is malformed or a run entry names no file.
        """
        path = pathlib.Path(path)
        try:
            spec = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise RunFormatError(path, "TOML", f"invalid TOML ({exc})") from None
        base = path.parent
        check_keys(spec, ("defaults", "run"), str(path))
        defaults = dict(spec.get("defaults", {}))
        entries = spec.get("run", [])
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            raise RunFormatError(path, "run", "expected one or more [[run]] tables")
        runs = []
        for k, entry in enumerate(entries, start=1):
            entry = dict(entry)
            if "file" in entry:
                files = [base / entry.pop("file")]
            elif "glob" in entry:
                files = sorted(pathlib.Path(p) for p in _glob.glob(str(base / entry.pop("glob"))))
                if not files:
                    raise RunFormatError(path, f"run[{k}].glob", "matched no files")
            else:
                raise RunFormatError(path, f"run[{k}]", "expected a 'file' or 'glob' key")
            for f in files:
                runs.append(set_up(read_run(f), {**defaults, **entry}, f"{path} [[run]] {k}"))
        return cls(runs)

    def paired(self, tolerance_K: float = DEFAULT_TEMPERATURE_TOLERANCE_K) -> list[ScanPoint]:
        """Group runs measured at one temperature (within ``tolerance_K``) by geometry.

        Runs are taken in ascending temperature; a run joins the current point if
        it lies within ``tolerance_K`` of the point's first run, else it starts a
        new point.

        Parameters
        ----------
        tolerance_K : float
            Largest temperature difference (K) from the point's first run.

        Returns
        -------
        list of ScanPoint
            Ascending temperature; each holds the ZF, LF, TF and other runs.
        """
        points: list[tuple[float, list[MuonRun]]] = []
        for r in self.runs:
            if points and abs(r.temperature_K - points[-1][0]) <= tolerance_K:
                points[-1][1].append(r)
            else:
                points.append((r.temperature_K, [r]))
        out = []
        for _, members in points:
            sp = ScanPoint(float(np.mean([m.temperature_K for m in members])))
            for m in members:
                {"ZF": sp.zf, "LF": sp.lf, "TF": sp.tf}.get(m.geometry, sp.other).append(m)
            out.append(sp)
        return out
