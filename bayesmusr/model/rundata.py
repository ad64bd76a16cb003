"""The arrays of one run ready for a likelihood (:class:`RunData`), and the EA table's support for them."""
from __future__ import annotations

import dataclasses
import math
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from bayesmusr.io.readers import read_run
from bayesmusr.io.run import MuonRun
from bayesmusr.io.setup import RunSetup
from bayesmusr.model.forward import bin_decay
from bayesmusr.physics.constants import OMEGA_PER_MT
from bayesmusr.physics.tables import load_table

__all__ = ["RunData", "ea_delta_support", "ea_support_note"]


@dataclasses.dataclass
class RunData:
    """Arrays of one run, ready for a likelihood (no xarray below this point).

    Attributes
    ----------
    kind : str
        ``"histograms"`` (forward/backward counts) or ``"asymmetry"``.
    t : ndarray
        Bin centres in μs after t0.
    b_lf : float
        Longitudinal field in mT (0 for ZF).
    label : str
        Run label for outputs (e.g. ``"ZF"`` or a run number).
    width : ndarray, optional
        Bin widths in μs (histograms).
    forward, backward : ndarray, optional
        Counts (histograms).
    asymmetry, error : ndarray, optional
        Asymmetry and its standard error (asymmetry runs).
    """

    kind: str
    t: np.ndarray
    b_lf: float
    label: str = ""
    width: np.ndarray | None = None
    forward: np.ndarray | None = None
    backward: np.ndarray | None = None
    asymmetry: np.ndarray | None = None
    error: np.ndarray | None = None
    #: detector balance α (bayesmusr's convention) when the set-up fixes it, else None (α is fitted)
    alpha: float | None = None
    #: whether flat count backgrounds are fitted (the set-up's ``background = "none"`` turns them off)
    count_background: bool = True
    #: how the run was read and reduced (file, grouping, t0, good bins, window, …): the result's specification
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.t = np.asarray(self.t, dtype=float)
        if self.t.ndim != 1 or self.t.size == 0:
            raise ValueError(f"run {self.label!r}: t must be a non-empty 1-D array of times in μs")
        if not np.all(np.isfinite(self.t)) or self.t.min() < 0:
            raise ValueError(f"run {self.label!r}: t must be finite and >= 0 μs")
        if not (math.isfinite(self.b_lf) and self.b_lf >= 0):
            raise ValueError(f"run {self.label!r}: b_lf must be a finite field >= 0 mT, got {self.b_lf!r}")
        n = self.t.size
        if self.kind == "histograms":
            for name in ("forward", "backward"):
                v = getattr(self, name)
                if v is None:
                    raise ValueError(f"run {self.label!r}: histogram runs need {name} counts")
                v = np.asarray(v, dtype=float)
                if v.shape != (n,):
                    raise ValueError(f"run {self.label!r}: {name} must have one count per time ({n}), got shape {v.shape}")
                if not np.all(np.isfinite(v)) or v.min() < 0:
                    raise ValueError(f"run {self.label!r}: {name} counts must be finite and >= 0")
                setattr(self, name, v)
            if self.forward.sum() + self.backward.sum() <= 0:
                raise ValueError(f"run {self.label!r}: no counts")
            if self.width is None:
                if n < 2:
                    raise ValueError(f"run {self.label!r}: give width= for a single-bin run")
                self.width = np.full(n, float(np.median(np.diff(self.t))))
            self.width = np.broadcast_to(np.asarray(self.width, dtype=float), (n,)).copy()
            if np.any(self.width <= 0):
                raise ValueError(f"run {self.label!r}: bin widths must be > 0 μs")
        elif self.kind == "asymmetry":
            if self.asymmetry is None or self.error is None:
                raise ValueError(f"run {self.label!r}: asymmetry runs need asymmetry and error arrays")
            self.asymmetry = np.asarray(self.asymmetry, dtype=float)
            self.error = np.asarray(self.error, dtype=float)
            if self.asymmetry.shape != (n,) or self.error.shape != (n,):
                raise ValueError(f"run {self.label!r}: asymmetry and error must have one value per time ({n})")
            if not (np.all(np.isfinite(self.asymmetry)) and np.all(np.isfinite(self.error)) and np.all(self.error > 0)):
                raise ValueError(f"run {self.label!r}: asymmetry must be finite and its errors finite and > 0")
        else:
            raise ValueError(f"run kind must be 'histograms' or 'asymmetry', got {self.kind!r}")

    @property
    def n_obs(self) -> int:
        """Number of time bins (the pointwise log-likelihood has one term per bin)."""
        return int(self.t.size)

    def decay(self) -> np.ndarray:
        """Bin-averaged muon decay d_i = e^{−t_i/τ} (2τ/w_i) sinh(w_i/2τ).

        Returns
        -------
        ndarray
            Shape (n_obs,); histogram runs only (needs ``width``).
        """
        return bin_decay(self.t, self.width)

    def early_asymmetry(self, alpha: float = 1.0, n: int = 10) -> float:
        """Mean asymmetry of the first ``n`` bins (starting guess for A0).

        Parameters
        ----------
        alpha : float
            Detector balance α of A = (F − αB)/(F + αB) (histogram runs).
        n : int
            Number of leading bins.

        Returns
        -------
        float
            (F − αB)/(F + αB) of the summed counts (0 without counts), or the mean stored asymmetry.
        """
        if self.kind == "asymmetry":
            return float(np.mean(self.asymmetry[:n]))
        f, b = self.forward[:n].sum(), self.backward[:n].sum()
        return float((f - alpha * b) / (f + alpha * b)) if f + alpha * b > 0 else 0.0

    @classmethod
    def from_run(cls, run, setup: RunSetup | None = None, *, label: str | None = None, b_lf: float | None = None,
                 groups=None, **options) -> "RunData":
        """Build from a :class:`bayesmusr.io.run.MuonRun` (or a file path) and its set-up.

        Parameters
        ----------
        run : MuonRun or path
            Histogram runs are grouped with :meth:`MuonRun.grouped` (good bins
            only); asymmetry runs are used as stored.
        setup : RunSetup, optional
            Grouping, t0, good bins, period, dead time, background, field, α, window and
            packing (:class:`bayesmusr.io.setup.RunSetup`); unset options follow the file.
        label : str, optional
            Label (default: geometry and run number).
        b_lf : float, optional
            Longitudinal field in mT (the same as ``field_mT``); default from the run: 0 if
            its geometry is ZF, its ``field_mT`` otherwise.
        groups : (forward, backward), optional
            Detector numbers (the same as ``forward=``, ``backward=``).
        **options
            Any option of :data:`bayesmusr.io.setup.SETUP_OPTIONS` (``bunch``, ``t_min``,
            ``t_max``, ``period``, ``dead_time`` — also True/False —, ``alpha``, …), applied
            over ``setup``.

        Returns
        -------
        RunData
            With ``meta`` holding the file, the set-up and the reduction it gave.
        """
        if groups is not None:
            options.update(forward=list(groups[0]) if not isinstance(groups, Mapping) else groups["forward"],
                           backward=list(groups[1]) if not isinstance(groups, Mapping) else groups["backward"])
        if isinstance(options.get("dead_time"), bool):  # the older True/False spelling
            options["dead_time"] = "file" if options["dead_time"] else "none"
        options["field_mT"] = b_lf if b_lf is not None else options.get("field_mT")
        if not isinstance(run, MuonRun):
            run = read_run(run)
        setup = RunSetup.of(run).updated(setup).updated(options, "RunData.from_run")
        run = setup.apply(run)
        b_lf, field_source = _field(run, setup)
        if label is None:
            rn = run.attrs.get("run_number", -1)
            geom = run.geometry or "run"
            label = f"{geom}{'' if geom == 'ZF' else f' {b_lf:g} mT'}" + (f" #{rn}" if rn not in (-1, None) else "")
        meta = _run_meta(run, field_source, setup.to_dict())
        if run.kind == "asymmetry":
            ds = run.asymmetry()
            t = ds["time"].values
            sel = _time_window(t, setup.t_min, setup.t_max, run.source)
            return cls("asymmetry", t[sel], float(b_lf), label, asymmetry=ds["asymmetry"].values[sel],
                       error=ds["asymmetry_error"].values[sel], meta=meta)
        if setup.period is not None and "-" in setup.period:
            raise ValueError(f"{run.source}: period {setup.period!r} is a difference of periods, which is not "
                             "Poisson data; fit the periods separately (or their sum '1+2')")
        g = run.grouped(setup.groups, dead_time=setup.dead_time_mode, period=setup.period, bunch=setup.bunch or 1)
        meta["reduction"] = {k: g.attrs[k] for k in ("t0_us", "first_good_time_us", "last_good_time_us",
                                                     "dead_time_corrected", "period", "forward_detectors",
                                                     "backward_detectors", "bin_width_us") if k in g.attrs}
        t = g["time"].values
        sel = _time_window(t, setup.t_min, setup.t_max, run.source)
        return cls("histograms", t[sel], float(b_lf), label, width=np.full(int(sel.sum()), g.attrs["bin_width_us"]),
                   forward=g["forward"].values[sel], backward=g["backward"].values[sel],
                   alpha=setup.alpha_bayesmusr, count_background=setup.fit_background, meta=meta)


def _field(run: MuonRun, setup: RunSetup) -> tuple[float, str]:
    """The run's longitudinal field in mT and where it came from (user, ZF geometry, the file)."""
    if setup.field_mT is not None:
        return float(setup.field_mT), "user"
    if run.geometry == "ZF":
        return 0.0, "geometry ZF"
    if run.geometry == "TF":
        raise ValueError(f"{run.source}: a transverse-field run cannot be fitted with a ZF/LF relaxation model")
    if math.isfinite(run.field_mT):
        return float(run.field_mT), run.attrs.get("field_source") or "file"
    raise ValueError(f"{run.source}: the field is unknown; give field_mT= (--field, mT; 0 for zero field)")


def _run_meta(run: MuonRun, field_source: str, setup: dict) -> dict:
    """The part of a run's specification that comes from its file and reader settings."""
    a = run.attrs
    src = a.get("source_file") or ""
    return {"source_file": str(pathlib.Path(src).resolve()) if src and pathlib.Path(src).is_file() else "",
            "format": a.get("format", ""), "temperature_K": a.get("temperature_K", math.nan),
            "temperature_source": a.get("temperature_source", ""), "field_source": field_source,
            "run_number": a.get("run_number", -1), "setup": setup}


def _time_window(t, t_min, t_max, source):
    sel = np.ones(t.size, bool)
    if t_min is not None:
        sel &= t >= t_min
    if t_max is not None:
        sel &= t <= t_max
    if not np.any(sel):
        raise ValueError(f"{source}: no bins left in the time window [{t_min}, {t_max}] μs")
    return sel


def ea_delta_support(runs: Sequence[RunData], table=None):
    """(Δ_min, Δ_max, table): the Δ the EA table allows for these runs' highest field and latest time.

    Δ_min = ω_L,max/ω_max (0 in zero field), Δ_max = x_max/t_max.

    Parameters
    ----------
    runs : sequence of RunData
        The runs sharing one Δ.
    table : path, optional
        EA table (default: the shipped one).

    Returns
    -------
    delta_min, delta_max : float
        In μs⁻¹.
    table : bayesmusr.physics.tables.EATable
        The loaded table.
    """

    tab = load_table(table)
    b = max(r.b_lf for r in runs)
    t_max = max(float(r.t.max()) for r in runs)
    return OMEGA_PER_MT * b / tab.omega_max, tab.x_max / t_max, tab


def ea_support_note(runs: Sequence[RunData], table=None) -> str:
    """Words on which Δ (and ν_i) the EA table allows for these runs.

    Raises FileNotFoundError (from :func:`bayesmusr.physics.tables.load_table`) if the
    table is missing, so a fit fails early with a clear message.

    Parameters
    ----------
    runs, table
        As in :func:`ea_delta_support`.

    Returns
    -------
    str
    """
    lo, hi, tab = ea_delta_support(runs, table)
    t_max = max(float(r.t.max()) for r in runs)
    notes = [f"Δ ≤ {hi:.3g} μs⁻¹ (table Δ·t ≤ {tab.x_max:g}, data to t = {t_max:.3g} μs)"]
    b = max(r.b_lf for r in runs)
    if b > 0:
        notes.append(f"Δ ≥ {lo:.3g} μs⁻¹ (table ω_L/Δ ≤ {tab.omega_max:g}, field {b:g} mT)")
    return ("EA table support: " + "; ".join(notes)
            + ". Outside it the posterior density is set to zero (log-likelihood −inf). "
            f"ν_i is not limited: above {tab.nu_max:g} Δ the fast-ion limit is used (its measured error is "
            "6.1e-5 at ν_i = 100 Δ and falls as (Δ/ν_i)²).")


