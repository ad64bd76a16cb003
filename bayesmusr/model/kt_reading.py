"""The KT reading of G^EA: what a conventional dynamic-KT χ² fit returns for EA physics.

Definition
----------
For EA physics (Δ, Q, ν_i, ν_μ) and measurement conditions (`ReadingConditions`), the
KT reading is the pair (Δ_KT, ν_KT) that minimises

    χ²(Δ_KT, ν_KT) = Σ_fields Σ_bins [G_KT(t; Δ_KT, ν_KT, B) − G^EA(t; Δ, ν_i, ν_μ, Q, B)]² / σ(t)²

over all fields at once (shared Δ_KT, ν_KT; amplitude fixed to 1 unless
``fit_amplitude``), on the noise-free spectra G^EA (`bayesmusr.physics.tables.ea`) at the
bin centres of the time window, with counting-statistics weights σ(t) (pulsed or
continuous source).  G_KT is the exact dynamic Gaussian KT
(`bayesmusr.physics.kt.dynamic_kt`).  This is the literature's analysis applied to the
curve it would have averaged to; only the shape of σ(t) matters, not its scale.

χ²(ν_KT) can have a static-like and a dynamic-like minimum; the reading is the lower one,
found by local fits from several starts.  Where the two minima exchange rank the reading
jumps: that is real physics of the reading, not noise.  The emulator's build records, per
node, how close a rival minimum is (`rival_margin`); the measured errors, build times and
jump counts are in docs/reanalysis.md ("The KT reading and its emulator").

`kt_reading` computes a reading directly (tens of ms); `KTReadingEmulator` interpolates a
precomputed table of readings (tens of μs for a whole temperature scan).

Units: t in μs, Δ and rates in μs⁻¹, fields in mT.

Reference values (tests/test_kt_reading.py)
-------------------------------------------
Q = 0 or ν_i = 0: G^EA is the dynamic KT with (Δ, ν_μ), so the reading is (Δ, ν_μ).
ν_i → ∞: G^EA → dynamic KT with (√(1−Q) Δ, ν_μ), so the reading → (√(1−Q) Δ, ν_μ).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import math
import os
import pathlib
import time
from dataclasses import dataclass

import numba
import numpy as np
from scipy.optimize import least_squares
from tqdm import tqdm

from bayesmusr.physics.constants import MUON_LIFETIME, OMEGA_PER_MT
from bayesmusr.physics.kt import dynamic_kt
from bayesmusr.physics.tables import ea, load_table

#: bump when the definition or the numerics of the reading change: cached emulator tables are keyed by it
READING_VERSION = "1"
SOURCES = ("pulsed", "continuous")


@dataclass
class KTFit:
    """Result of a global KT fit of one temperature (ZF + LF spectra)."""

    delta: float  # Δ_KT, μs⁻¹
    nu: float  # ν_KT, μs⁻¹
    amplitude: float
    delta_err: float
    nu_err: float
    chi2: float
    ndof: int
    #: (Δ, ν, χ²) of every local fit, one per ν start (the reading is the lowest χ²)
    local_fits: tuple = ()

    @property
    def reduced_chi2(self) -> float:
        """χ² per degree of freedom."""
        return self.chi2 / max(self.ndof, 1)


def fit_kt_global(t, spectra, fields_mT, errors=None, fit_amplitude=False, nu_starts=(0.01, 0.1, 1.0, 10.0),
                  kt_function=dynamic_kt, delta_start=None, tol=1e-12):
    """χ² fit of the dynamic KT with (Δ, ν) shared by all spectra of one temperature.

    Parameters
    ----------
    t : array_like
        Times in μs (common to all spectra).
    spectra : sequence of array_like
        Polarisation (or normalised asymmetry) per field.
    fields_mT : sequence of float
        Longitudinal field of each spectrum (0 for ZF).
    errors : sequence of array_like, optional
        1σ error per point (default 1: plain least squares).
    fit_amplitude : bool
        Fit a common amplitude (default: fixed to 1, as for normalised G(t)).
    nu_starts : sequence of float
        Starting values for ν (μs⁻¹); the best of the local fits is kept,
        since χ²(ν) can have a static and a dynamic minimum.
    kt_function : callable, optional
        G(t, Δ, ν, b_lf) to fit; default the exact :func:`bayesmusr.dynamic_kt`.  Another
        program's approximation of it (e.g. musrfit's switch to Keren's formula) can be
        passed to see what a fit made with that program would have given.
    delta_start : float, optional
        Starting Δ in μs⁻¹ (default: from the position of the first spectrum's minimum).
    tol : float, optional
        ``xtol``, ``ftol`` and ``gtol`` of each local fit (`scipy.optimize.least_squares`).

    Returns
    -------
    KTFit
    """
    t = np.asarray(t, dtype=float)
    ys = [np.asarray(s, dtype=float) for s in spectra]
    if len(ys) != len(fields_mT):
        raise ValueError(f"spectra ({len(ys)}) and fields_mT ({len(fields_mT)}) must have the same length")
    errs = [np.ones_like(y) for y in ys] if errors is None else [np.asarray(e, dtype=float) for e in errors]
    for y, e in zip(ys, errs):
        if y.shape != t.shape or e.shape != t.shape:
            raise ValueError("every spectrum and error array must have the shape of t")
        if np.any(e <= 0):
            raise ValueError("errors must be > 0")

    def resid(p):
        delta, nu = math.exp(p[0]), math.exp(p[1])
        amp = p[2] if fit_amplitude else 1.0
        return np.concatenate([(amp * kt_function(t, delta, nu, b) - y) / e for y, e, b in zip(ys, errs, fields_mT)])

    # Δ start from the ZF minimum position when available (static KT minimum at Δt = √3)
    delta0 = _delta_start(t, ys[0]) if delta_start is None else float(delta_start)
    best = None
    local = []
    for nu0 in nu_starts:
        p0 = [math.log(delta0), math.log(nu0)] + ([1.0] if fit_amplitude else [])
        lo = [math.log(1e-4), math.log(1e-5)] + ([0.0] if fit_amplitude else [])
        hi = [math.log(1e2), math.log(1e4)] + ([2.0] if fit_amplitude else [])
        p0 = np.clip(p0, lo, hi)
        res = least_squares(resid, p0, bounds=(lo, hi), x_scale="jac", xtol=tol, ftol=tol, gtol=tol)
        local.append((math.exp(res.x[0]), math.exp(res.x[1]), 2.0 * res.cost))
        if best is None or res.cost < best.cost:
            best = res
    chi2 = 2.0 * best.cost
    ndof = sum(y.size for y in ys) - len(best.x)
    try:
        cov = np.linalg.inv(best.jac.T @ best.jac)
        perr = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        perr = np.full(len(best.x), np.nan)
    delta, nu = math.exp(best.x[0]), math.exp(best.x[1])
    return KTFit(delta=delta, nu=nu, amplitude=best.x[2] if fit_amplitude else 1.0,
                 delta_err=delta * perr[0], nu_err=nu * perr[1], chi2=chi2, ndof=ndof, local_fits=tuple(local))


def _delta_start(t, y):
    """Rough Δ from the ZF curve: the static minimum sits at Δt = √3."""
    i = int(np.argmin(y))
    if 0 < i < len(t) - 1 and t[i] > 0:
        return float(np.clip(math.sqrt(3.0) / t[i], 1e-3, 50.0))
    return 0.3


def _fail(field: str, value, expected: str):
    raise ValueError(f"ReadingConditions: {field} = {value!r}; expected {expected}")


def _finite(field: str, value, expected: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        _fail(field, value, expected)
    if not math.isfinite(float(value)):
        _fail(field, value, expected)
    return float(value)


@dataclass(frozen=True)
class ReadingConditions:
    """Measurement conditions of a KT reading: fields, time window, weights, amplitude.

    The defaults are Kadono's reading (``examples/_kadono.py``) except the fields
    (ZF only by default; his Fig. 3 uses ``fields_mT=(0.0, 1.0)``).

    Parameters
    ----------
    fields_mT : tuple of float
        Longitudinal fields in mT of the spectra fitted together (0 is ZF); distinct, ≥ 0.
    t_min_us, t_max_us : float
        Time window in μs; the spectra are evaluated at the centres of the bins that tile it.
    bin_us : float
        Bin width in μs; (t_max_us − t_min_us)/bin_us must be a whole number (10 … 100000).
    source : {"pulsed", "continuous"}
        Counting statistics of the asymmetry.  Pulsed: σ(t) ∝ exp(t/2τ_μ).  Continuous:
        σ(t)² ∝ (e^{−t/τ_μ} + b) e^{2t/τ_μ}, the variance of an asymmetry whose counts per bin
        are the decaying muon signal plus a flat background b (relative to the signal rate
        at t = 0).  τ_μ is the muon lifetime (`MUON_LIFETIME`).
    background : float
        The flat background fraction b of a continuous source (≥ 0); must be 0 for pulsed.
    fit_amplitude : bool
        Fit a common amplitude as well (default False: fixed to 1, as in the paper).
    """

    fields_mT: tuple = (0.0,)
    t_min_us: float = 0.0
    t_max_us: float = 20.0
    bin_us: float = 0.04
    source: str = "pulsed"
    background: float = 0.0
    fit_amplitude: bool = False

    def __post_init__(self):
        fields = self.fields_mT
        if isinstance(fields, (int, float)) or not hasattr(fields, "__len__") or len(fields) == 0:
            _fail("fields_mT", fields, "a non-empty sequence of fields in mT, e.g. (0.0,) or (0.0, 1.0)")
        fields = tuple(_finite("fields_mT", b, "finite fields ≥ 0 in mT") for b in fields)
        if min(fields) < 0 or len(set(fields)) != len(fields):
            _fail("fields_mT", fields, "distinct fields ≥ 0 in mT")
        object.__setattr__(self, "fields_mT", fields)
        for name in ("t_min_us", "t_max_us", "bin_us", "background"):
            object.__setattr__(self, name, _finite(name, getattr(self, name), "a finite number"))
        if self.t_min_us < 0:
            _fail("t_min_us", self.t_min_us, "a start time ≥ 0 μs")
        if self.t_max_us <= self.t_min_us:
            _fail("t_max_us", self.t_max_us, f"an end time > t_min_us = {self.t_min_us:g} μs")
        if self.bin_us <= 0:
            _fail("bin_us", self.bin_us, "a bin width > 0 μs")
        n = (self.t_max_us - self.t_min_us) / self.bin_us
        if abs(n - round(n)) > 1e-6 * max(n, 1.0) or not 10 <= round(n) <= 100000:
            _fail("bin_us", self.bin_us, f"a width that tiles [{self.t_min_us:g}, {self.t_max_us:g}] μs into a "
                                         f"whole number of 10 … 100000 bins (got {n:.6g})")
        if self.source not in SOURCES:
            _fail("source", self.source, f"one of {SOURCES}")
        if self.background < 0 or (self.source == "pulsed" and self.background != 0):
            _fail("background", self.background, "≥ 0, and 0 for source='pulsed' (it is the flat background of "
                                                 "a continuous source)")
        if not isinstance(self.fit_amplitude, (bool, np.bool_)):
            _fail("fit_amplitude", self.fit_amplitude, "True or False")
        object.__setattr__(self, "fit_amplitude", bool(self.fit_amplitude))

    def times(self) -> np.ndarray:
        """Bin centres of the window.

        Returns
        -------
        ndarray
            Times in μs.
        """
        n = round((self.t_max_us - self.t_min_us) / self.bin_us)
        return self.t_min_us + (np.arange(n) + 0.5) * self.bin_us

    def sigma(self, t=None) -> np.ndarray:
        """Relative 1σ error σ(t) of the asymmetry (class docstring: the formulas), 1 at t = 0 for pulsed.

        Parameters
        ----------
        t : array_like, optional
            Times in μs (default: the bin centres).

        Returns
        -------
        ndarray
            σ(t), same shape as ``t``; only its shape matters to the reading.
        """
        t = self.times() if t is None else np.asarray(t, dtype=float)
        if self.source == "pulsed":
            return np.exp(t / (2.0 * MUON_LIFETIME))
        return np.sqrt((np.exp(-t / MUON_LIFETIME) + self.background) * np.exp(2.0 * t / MUON_LIFETIME))

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready) of the conditions; `from_dict` reads it back.

        Returns
        -------
        dict
        """
        d = dataclasses.asdict(self)
        d["fields_mT"] = list(self.fields_mT)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ReadingConditions:
        """Conditions from a dict as written by `to_dict` (unknown keys are an error).

        Parameters
        ----------
        d : dict
            Some or all of the fields (missing ones take their defaults).

        Returns
        -------
        ReadingConditions
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"ReadingConditions: unknown keys {unknown}; expected some of {sorted(known)}")
        d = dict(d)
        if "fields_mT" in d and isinstance(d["fields_mT"], (list, tuple, np.ndarray)):
            d["fields_mT"] = tuple(d["fields_mT"])
        return cls(**d)

    def key(self) -> str:
        """Stable key of the conditions and `READING_VERSION` (cache file names).

        Returns
        -------
        str
            12 hex digits of a SHA-256 over the canonical JSON of `to_dict` and the version.
        """
        text = json.dumps({"version": READING_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _check_physics(delta, q, nu_i, nu_mu, func: str):
    """Scalars (Δ, Q, ν_i, ν_μ) as floats, or a ValueError naming the argument."""
    out = []
    for name, value, ok, expected in (("delta", delta, lambda v: v > 0, "> 0 μs⁻¹"),
                                      ("q", q, lambda v: 0 <= v <= 1, "in [0, 1]"),
                                      ("nu_i", nu_i, lambda v: v >= 0, "≥ 0 μs⁻¹"),
                                      ("nu_mu", nu_mu, lambda v: v >= 0, "≥ 0 μs⁻¹")):
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{func}: {name} = {value!r}; expected a finite number {expected}") from None
        if not (math.isfinite(v) and ok(v)):
            raise ValueError(f"{func}: {name} = {value!r}; expected a finite number {expected}")
        out.append(v)
    return out


#: generic ν starts of the local fits, in units of Δ: one static-like, one in the narrowing regime
NU_START_RATIOS = (0.03, 3.0)
#: starts closer than this factor in ν are merged; tolerance of each local fit (ln Δ, ln ν to ~1e-9)
START_MERGE = 3.0
START_TOL = 1e-9


def kt_reading_fit(delta, q, nu_i, nu_mu, conditions=ReadingConditions()) -> KTFit:
    """The KT fit behind `kt_reading`, with its χ² (module docstring: definition).

    Parameters
    ----------
    delta : float
        Static width Δ in μs⁻¹ (> 0).
    q : float
        Edwards-Anderson fraction Q ∈ [0, 1].
    nu_i, nu_mu : float
        Ion and muon jump rates in μs⁻¹ (≥ 0).
    conditions : ReadingConditions
        Fields, time window, weights and amplitude of the reading.

    Returns
    -------
    KTFit
        The best of the local fits (its χ² is in units of the relative σ of `ReadingConditions.sigma`).
    """
    delta, q, nu_i, nu_mu = _check_physics(delta, q, nu_i, nu_mu, "kt_reading")
    if not isinstance(conditions, ReadingConditions):
        raise TypeError(f"kt_reading: conditions must be a ReadingConditions, got {type(conditions).__name__}")
    t = conditions.times()
    sig = conditions.sigma(t)
    spectra = [ea(t, delta, nu_i, nu_mu, q, b) for b in conditions.fields_mT]
    # starts: Δ_KT lies between √(1−Q)Δ (fast ions) and Δ; ν starts spread over the regimes plus
    # the physical guesses ν_μ and ν_μ + Qν_i, so both minima of χ²(ν) are reached
    d0 = delta * math.sqrt(1.0 - 0.5 * q)
    return fit_kt_global(t, spectra, list(conditions.fields_mT), errors=[sig] * len(spectra),
                         fit_amplitude=conditions.fit_amplitude, nu_starts=_nu_starts(delta, q, nu_i, nu_mu),
                         delta_start=d0, tol=START_TOL)


def _nu_starts(delta, q, nu_i, nu_mu):
    """ν starts: the physical guesses ν_μ + Qν_i and ν_μ, then `NU_START_RATIOS`·Δ, dropping any within a
    factor `START_MERGE` of one already kept (local fits from so close converge to the same minimum)."""
    kept = []
    for v in (nu_mu + q * nu_i, nu_mu, *(r * delta for r in NU_START_RATIOS)):
        v = min(max(v, 1e-4 * delta), 1e2 * delta)
        if all(abs(math.log(v / k)) > math.log(START_MERGE) for k in kept):
            kept.append(v)
    return kept


def kt_reading(delta, q, nu_i, nu_mu, conditions=ReadingConditions()):
    """(Δ_KT, ν_KT) that a global dynamic-KT χ² fit returns on noise-free G^EA spectra.

    Parameters
    ----------
    delta : float
        Static width Δ in μs⁻¹ (> 0).
    q : float
        Edwards-Anderson fraction Q ∈ [0, 1].
    nu_i, nu_mu : float
        Ion and muon jump rates in μs⁻¹ (≥ 0).
    conditions : ReadingConditions
        Fields, time window, weights and amplitude of the reading (default: ZF, Kadono's window).

    Returns
    -------
    tuple of float
        (Δ_KT, ν_KT) in μs⁻¹, within the bounds of `fit_kt_global`: a ν_KT below its floor of
        1e-5 μs⁻¹ (far below what any window resolves: ν·t_max ≤ 2e-4 at 20 μs) is returned as 1e-5.

    Raises
    ------
    ValueError
        For an argument outside its range (named), or a Δ·t_max beyond the EA table (from `ea`).
    """
    fit = kt_reading_fit(delta, q, nu_i, nu_mu, conditions)
    return fit.delta, fit.nu


# ---------------------------------------------------------------------------------------------
# The emulator: a table of readings in dimensionless variables, interpolated
# ---------------------------------------------------------------------------------------------

#: scale of the asinh axes of ν_i/Δ, ν_μ/Δ and of the ν_KT/Δ output (linear below, logarithmic above)
RATE_SCALE = 1e-3
#: the table's reach: Q ≤ Q_MAX, ν_i/Δ ≤ NU_I_MAX (exact limit beyond), ν_μ/Δ ≤ NU_MU_MAX
Q_MAX = 0.95
NU_I_MAX = 1e3
NU_MU_MAX = 10.0
#: grids: nodes in (θ = arcsin √Q, asinh(ν_i/Δ/RATE_SCALE), asinh(ν_μ/Δ/RATE_SCALE)) and the
#: largest step of the ln Δ axis; "test" is for the tests of the machinery only
GRIDS = {"standard": (10, 24, 15, 0.45), "coarse": (6, 12, 9, 0.9), "test": (2, 3, 2, 1.0)}
EMULATOR_FORMAT = "2"
#: 95th percentiles of |emulated/direct − 1| of Δ_KT and ν_KT on the standard grid, the larger of the ZF and
#: ZF + LF 1 mT validations (benchmarks/validate_kt_emulator.py, 400 held-out points each)
STANDARD_RELATIVE_ERROR = (1.3e-3, 1.4e-2)


def _axes(grid: str, delta_range):
    """Uniform node axes (ln Δ, θ, u_i, u_μ) of a grid over a Δ range.

    The θ axis has one node beyond Q_MAX (when that stays below Q = 1): the cells next to
    Q_MAX, where Δ_KT varies fastest, then interpolate with real neighbours on both sides.
    """
    n_q, n_i, n_m, dl = GRIDS[grid]
    lo, hi = math.log(delta_range[0]), math.log(delta_range[1])
    n_d = max(2, math.ceil((hi - lo) / dl - 1e-9) + 1)
    theta = np.linspace(0.0, math.asin(math.sqrt(Q_MAX)), n_q)
    if theta[-1] + theta[1] < 0.5 * math.pi:
        theta = np.append(theta, theta[-1] + theta[1])
    return (np.linspace(lo, hi, n_d), theta, np.linspace(0.0, math.asinh(NU_I_MAX / RATE_SCALE), n_i),
            np.linspace(0.0, math.asinh(NU_MU_MAX / RATE_SCALE), n_m))


def _slice_task(conditions: dict, ln_delta: float, theta: float, u_i, u_m) -> np.ndarray:
    """Readings at one (Δ, Q) node over the (ν_i, ν_μ) nodes.

    Returns an array (n_i, n_m, 4): Δ_KT/Δ, asinh(ν_KT/Δ/RATE_SCALE), χ² and `rival_margin`.
    """
    cond = ReadingConditions.from_dict(conditions)
    delta, q = math.exp(ln_delta), math.sin(theta) ** 2
    out = np.empty((len(u_i), len(u_m), 4))
    for a, ui in enumerate(u_i):
        for b, um in enumerate(u_m):
            f = kt_reading_fit(delta, q, delta * RATE_SCALE * math.sinh(ui), delta * RATE_SCALE * math.sinh(um), cond)
            out[a, b] = (f.delta / delta, math.asinh(f.nu / delta / RATE_SCALE), f.chi2, rival_margin(f))
    return out


def rival_margin(fit: KTFit, distinct: float = 1.3) -> float:
    """How close the reading is to a jump: (χ²_rival − χ²_best)/χ²_best of the best local minimum whose ν
    differs from the reading's by more than the factor ``distinct`` (inf if the starts found none).

    Where this margin falls to 0 the two minima exchange rank and the reading jumps.

    Parameters
    ----------
    fit : KTFit
        A fit with its `KTFit.local_fits`.
    distinct : float
        Factor in ν beyond which a local minimum counts as a different one.

    Returns
    -------
    float
    """
    rivals = [c for d, n, c in fit.local_fits if abs(math.log(n / fit.nu)) > math.log(distinct)]
    if not rivals:
        return math.inf
    return (min(rivals) - fit.chi2) / max(fit.chi2, 1e-300)


def default_cache_dir() -> pathlib.Path:
    """The emulator tables' default folder.

    Returns
    -------
    pathlib.Path
        ``$BAYESMUSR_CACHE/kt_reading`` if that variable is set, else ``~/.cache/bayesmusr/kt_reading``.
    """
    root = os.environ.get("BAYESMUSR_CACHE")
    return pathlib.Path(root) / "kt_reading" if root else pathlib.Path.home() / ".cache" / "bayesmusr" / "kt_reading"


def _check_delta_range(delta_range, conditions: ReadingConditions):
    try:
        lo, hi = (float(v) for v in delta_range)
    except (TypeError, ValueError):
        raise ValueError(f"KTReadingEmulator: delta_range = {delta_range!r}; expected (lo, hi) in μs⁻¹") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"KTReadingEmulator: delta_range = {delta_range!r}; expected 0 < lo < hi (μs⁻¹)")
    if hi / lo > 10.0:
        raise ValueError(f"KTReadingEmulator: delta_range = {delta_range!r} spans hi/lo = {hi / lo:.3g}; expected "
                         "≤ 10 (the grid is designed for ≤ 6, e.g. 0.5–3 × the low-temperature Δ_KT)")
    table = load_table()
    if hi * conditions.t_max_us > table.x_max:
        raise ValueError(f"KTReadingEmulator: delta_range upper end {hi:g} μs⁻¹ × t_max_us {conditions.t_max_us:g} "
                         f"= {hi * conditions.t_max_us:g} exceeds the EA table's Δ·t ≤ {table.x_max:g}; "
                         "lower the Δ range or shorten the time window")
    w = OMEGA_PER_MT * max(conditions.fields_mT) / lo
    if w > table.omega_max:
        raise ValueError(f"KTReadingEmulator: fields_mT up to {max(conditions.fields_mT):g} mT with delta_range lower "
                         f"end {lo:g} μs⁻¹ give ω_L/Δ = {w:.3g}, beyond the EA table's {table.omega_max:g}; "
                         "raise the lower end of the Δ range or leave out the highest field")
    return lo, hi


def _digest(values: np.ndarray, meta: dict) -> str:
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
    return h.hexdigest()


def _save_npz(path: pathlib.Path, **arrays):
    """Write a compressed .npz atomically (a killed build never leaves a half-written file).

    The temporary name carries the process id: two processes building the same table at once
    (two jobs sharing a cache) each write their own file, and the last replace wins with
    identical content.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def shipped_table(name: str):
    """The table of that file name shipped in ``bayesmusr/model/data/``, or None.

    Parameters
    ----------
    name : str
        A `KTReadingEmulator.file_name`.

    Returns
    -------
    pathlib.Path or None
    """
    path = pathlib.Path(str(importlib.resources.files("bayesmusr.model").joinpath("data", name)))
    return path if path.is_file() else None


def _build_slices(conditions, axes, build_dir: pathlib.Path, executor, progress: bool) -> np.ndarray:
    """Compute (or read back) every (Δ, Q) slice; returns (n_d, n_q, n_i, n_m, 3)."""
    ld, th, ui, um = axes
    build_dir.mkdir(parents=True, exist_ok=True)
    out = np.full((len(ld), len(th), len(ui), len(um), 4), np.nan)
    todo = []
    for d in range(len(ld)):
        for k in range(len(th)):
            path = build_dir / f"slice_{d:02d}_{k:02d}.npz"
            if path.exists():
                out[d, k] = np.load(path)["values"]
            else:
                todo.append((d, k, path))
    bar = tqdm(total=out.shape[0] * out.shape[1], initial=out.shape[0] * out.shape[1] - len(todo),
               desc="KT reading table", disable=not progress)
    cond = conditions.to_dict()
    if executor is None:
        for d, k, path in todo:
            out[d, k] = _slice_task(cond, ld[d], th[k], ui, um)
            _save_npz(path, values=out[d, k])
            bar.update()
    else:
        pending = {executor.submit(_slice_task, cond, ld[d], th[k], ui, um): (d, k, path) for d, k, path in todo}
        while pending:  # poll: works for concurrent.futures and dask.distributed futures alike
            done = [f for f in pending if f.done()]
            if not done:
                time.sleep(0.05)
            failed = None
            for f in done:
                d, k, path = pending.pop(f)
                if f.exception() is not None:
                    failed = failed or f.exception()
                    continue
                out[d, k] = f.result()
                _save_npz(path, values=out[d, k])  # kept even if another slice failed: the rebuild resumes
                bar.update()
            if failed is not None:
                for f in pending:
                    f.cancel()
                bar.close()
                raise failed
    bar.close()
    return out


@numba.njit(cache=True)
def _cubic_window(x, start, step, n, idx, wt):
    """Catmull-Rom weights of a uniform axis at x: four node indices and weights (in place).

    Edge cells use a linearly extrapolated ghost node (the cubic then stays within the table);
    an axis of fewer than four nodes is interpolated linearly.
    """
    s = (x - start) / step
    i = min(max(int(math.floor(s)), 0), n - 2)  # noqa: RUF046 (an explicit int for numba)
    t = min(max(s - i, 0.0), 1.0)
    for k in range(4):
        wt[k] = 0.0
        idx[k] = 0
    if n < 4:
        idx[0], idx[1] = i, i + 1
        wt[0], wt[1] = 1.0 - t, t
        return
    t2, t3 = t * t, t * t * t
    wm = 0.5 * (-t3 + 2.0 * t2 - t)
    w0 = 0.5 * (3.0 * t3 - 5.0 * t2 + 2.0)
    w1 = 0.5 * (-3.0 * t3 + 4.0 * t2 + t)
    w2 = 0.5 * (t3 - t2)
    if i == 0:  # ghost f₋₁ = 2f₀ − f₁
        j0, a, b, c, d = 0, w0 + 2.0 * wm, w1 - wm, w2, 0.0
    elif i == n - 2:  # ghost f_n = 2f_{n−1} − f_{n−2}
        j0, a, b, c, d = n - 4, 0.0, wm, w0 - w2, w1 + 2.0 * w2
    else:
        j0, a, b, c, d = i - 1, wm, w0, w1, w2
    for k in range(4):
        idx[k] = j0 + k
    wt[0], wt[1], wt[2], wt[3] = a, b, c, d


@numba.njit(cache=True)
def _interp_point(values, starts, steps, coords, out):
    """Tensor-product cubic of the (n_d, n_q, n_i, n_m, 2) table at one point of the four axes."""
    idx = np.empty((4, 4), dtype=np.int64)
    wt = np.empty((4, 4))
    for ax in range(4):
        _cubic_window(coords[ax], starts[ax], steps[ax], values.shape[ax], idx[ax], wt[ax])
    out[0] = 0.0
    out[1] = 0.0
    for a in range(4):
        wa = wt[0, a]
        if wa == 0.0:
            continue
        for b in range(4):
            wb = wa * wt[1, b]
            if wb == 0.0:
                continue
            for c in range(4):
                wc = wb * wt[2, c]
                if wc == 0.0:
                    continue
                for d in range(4):
                    w = wc * wt[3, d]
                    out[0] += w * values[idx[0, a], idx[1, b], idx[2, c], idx[3, d], 0]
                    out[1] += w * values[idx[0, a], idx[1, b], idx[2, c], idx[3, d], 1]


@numba.njit(cache=True)
def _emulate(values, starts, steps, ends, delta, q, nu_i, nu_mu, delta_kt, nu_kt):
    """Readings at n points (arrays of equal length); NaN outside the domain (see KTReadingEmulator).

    ``ends`` are the domain's upper limits in the axis variables (ln Δ, θ(Q_MAX), u_i, u_μ).
    """
    coords = np.empty(4)
    f = np.empty(2)
    for j in range(delta.size):
        d, qq, vi, vm = delta[j], q[j], nu_i[j], nu_mu[j]
        if not (d > 0.0 and 0.0 <= qq and vi >= 0.0 and vm >= 0.0):
            delta_kt[j] = np.nan
            nu_kt[j] = np.nan
            continue
        coords[0] = math.log(d)
        coords[1] = math.asin(math.sqrt(qq)) if qq <= 1.0 else np.inf
        coords[2] = math.asinh(vi / d / RATE_SCALE)
        coords[3] = math.asinh(vm / d / RATE_SCALE)
        if (coords[0] < starts[0] - 1e-9 or coords[0] > ends[0] + 1e-9 or coords[1] > ends[1] + 1e-12
                or coords[3] > ends[3] + 1e-12):
            delta_kt[j] = np.nan
            nu_kt[j] = np.nan
            continue
        tail = coords[2] > ends[2]
        if tail:
            coords[2] = ends[2]
        _interp_point(values, starts, steps, coords, f)
        ratio_kt = RATE_SCALE * math.sinh(f[1])
        if tail:
            # beyond ν_i/Δ = NU_I_MAX: Δ_KT and ν_KT are linear in Δ/ν_i (the Q part's narrowed
            # relaxation rate 2QΔ²/ν_i is a small perturbation) up to the exact ν_i → ∞ reading (√(1−Q)Δ, ν_μ)
            s = NU_I_MAX * d / vi
            f[0] = math.sqrt(1.0 - qq) + (f[0] - math.sqrt(1.0 - qq)) * s
            ratio_kt = vm / d + (ratio_kt - vm / d) * s
        delta_kt[j] = f[0] * d
        nu_kt[j] = d * ratio_kt


def _flat(a: np.ndarray, shape) -> np.ndarray:
    """``a`` broadcast to ``shape``, as a writable contiguous 1-D float array (one compiled kernel type)."""
    if a.shape == shape and a.flags.c_contiguous and a.flags.writeable:
        return a.reshape(-1)
    out = np.empty(shape)
    out[...] = a
    return out.reshape(-1)


class KTReadingEmulator:
    """Interpolated table of KT readings (`kt_reading`) for one set of conditions and a Δ range.

    Axes (uniform nodes): ln Δ over the caller's Δ range; θ = arcsin √Q on [0, `Q_MAX`] (plus one node beyond);
    asinh(ν_i/Δ / `RATE_SCALE`) on [0, `NU_I_MAX`] and asinh(ν_μ/Δ / `RATE_SCALE`) on
    [0, `NU_MU_MAX`] (linear near 0, logarithmic above).  Outputs: Δ_KT/Δ and
    asinh(ν_KT/Δ / `RATE_SCALE`).  Interpolation: tensor-product Catmull-Rom cubic.  Beyond
    ν_i/Δ = `NU_I_MAX` the reading is continued linearly in Δ/ν_i to its exact ν_i → ∞ limit
    (√(1−Q) Δ, ν_μ), so every ν_i ≥ 0 is inside.

    Calling it outside the domain returns NaN (not an error), so that a log-posterior can
    return −inf; `check` raises a ValueError naming the argument instead.
    """

    def __init__(self, values, axes, conditions: ReadingConditions, delta_range, grid: str, path=None, meta=None):
        self.values = np.ascontiguousarray(values[..., :2], dtype=float)
        #: χ² of the reading and `rival_margin` at every node (diagnostics, not interpolated)
        self.chi2 = np.asarray(values[..., 2], dtype=float)
        self.margin = np.asarray(values[..., 3], dtype=float)
        self.axes = tuple(np.asarray(a, dtype=float) for a in axes)
        self.conditions = conditions
        self.delta_range = tuple(float(v) for v in delta_range)
        self.grid = grid
        self.path = path
        self.meta = dict(meta or {})  # as stored in the file: conditions, grid, build time, …
        self._starts = np.array([a[0] for a in self.axes])
        self._steps = np.array([a[1] - a[0] for a in self.axes])
        # the domain's upper limits in the axis variables (the θ axis may reach one node beyond Q_MAX)
        self._ends = np.array([a[-1] for a in self.axes])
        self._ends[1] = min(self._ends[1], math.asin(math.sqrt(Q_MAX)))

    @property
    def relative_error(self) -> tuple:
        """(ε_Δ, ε_ν): relative error of Δ_KT and ν_KT to allow for, from the standard grid's validation.

        The larger 95th percentile of the two validated conditions (ZF and ZF + LF 1 mT,
        `STANDARD_RELATIVE_ERROR`, docs/reanalysis.md).  Only the standard grid is validated: for
        another grid this raises AttributeError (so ``getattr(emu, "relative_error", default)`` works).
        """
        if self.grid != "standard":
            raise AttributeError(f"relative_error: only the standard grid is validated, not {self.grid!r}")
        return STANDARD_RELATIVE_ERROR

    @property
    def domain(self) -> dict:
        """Ranges (lo, hi) of the arguments: delta in μs⁻¹; q; nu_i/delta; nu_mu/delta."""
        return {"delta": self.delta_range, "q": (0.0, Q_MAX), "nu_i/delta": (0.0, math.inf),
                "nu_mu/delta": (0.0, NU_MU_MAX)}

    def __call__(self, delta, q, nu_i, nu_mu):
        """Emulated readings (Δ_KT, ν_KT) in μs⁻¹, NaN outside `domain`.

        Parameters
        ----------
        delta, q : float or array_like
            Static width Δ (μs⁻¹) and Q, broadcast against the rates.
        nu_i, nu_mu : float or array_like
            Ion and muon jump rates in μs⁻¹ (e.g. one per temperature).

        Returns
        -------
        tuple of ndarray
            (Δ_KT, ν_KT) with the broadcast shape of the arguments.
        """
        args = [np.asarray(a, dtype=float) for a in (delta, q, nu_i, nu_mu)]
        shape = np.broadcast_shapes(*(a.shape for a in args))
        d, qq, vi, vm = (_flat(a, shape) for a in args)
        delta_kt, nu_kt = np.empty(d.size), np.empty(d.size)
        _emulate(self.values, self._starts, self._steps, self._ends, d, qq, vi, vm, delta_kt, nu_kt)
        return delta_kt.reshape(shape), nu_kt.reshape(shape)

    def check(self, delta, q, nu_i, nu_mu):
        """Raise a ValueError naming the first argument outside `domain` (the call itself returns NaN).

        Parameters
        ----------
        delta, q, nu_i, nu_mu : float or array_like
            As for the call.

        Raises
        ------
        ValueError
            Naming the argument, its value and the domain.
        """
        d, qq, vi, vm = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (delta, q, nu_i, nu_mu)))
        lo, hi = self.delta_range
        tests = (("delta", d, (d >= lo * (1 - 1e-9)) & (d <= hi * (1 + 1e-9)), f"in [{lo:g}, {hi:g}] μs⁻¹"),
                 ("q", qq, (qq >= 0) & (qq <= Q_MAX), f"in [0, {Q_MAX}]"),
                 ("nu_i", vi, vi >= 0, "≥ 0 μs⁻¹"),
                 ("nu_mu", vm, (vm >= 0) & (vm <= NU_MU_MAX * d), f"in [0, {NU_MU_MAX:g}·delta]"))
        for name, v, ok, expected in tests:
            if not np.all(ok):
                raise ValueError(f"KTReadingEmulator: {name} = {v[~ok].ravel()[0]:g} is outside the emulator's "
                                 f"domain; expected {expected}")

    # -- files ---------------------------------------------------------------------------------

    @staticmethod
    def file_name(conditions: ReadingConditions, delta_range, grid: str = "standard") -> str:
        """Cache file name: the conditions' key, the Δ range and the grid.

        Parameters
        ----------
        conditions : ReadingConditions
            Conditions of the reading.
        delta_range : tuple of float
            (lo, hi) of Δ in μs⁻¹.
        grid : str
            Name in `GRIDS`.

        Returns
        -------
        str
        """
        lo, hi = (float(v) for v in delta_range)
        return f"kt_reading_{conditions.key()}_{lo:.6g}-{hi:.6g}_{grid}.npz"

    @classmethod
    def load_or_build(cls, conditions: ReadingConditions, delta_range, cache_dir=None, executor=None,
                      progress: bool = True, grid: str = "standard") -> KTReadingEmulator:
        """The emulator of these conditions and Δ range: from the cache, else built (resumably) and cached.

        Parameters
        ----------
        conditions : ReadingConditions
            Conditions of the reading.
        delta_range : tuple of float
            (lo, hi) of Δ in μs⁻¹, 0 < lo < hi ≤ 10 lo (designed for hi/lo ≤ 6), hi·t_max within the EA table.
        cache_dir : path, optional
            Folder of the table (default `default_cache_dir`).  A table of the same name
            shipped in ``bayesmusr/model/data/`` (`shipped_table`) is used when the folder has
            none.  A build keeps every finished (Δ, Q) slice in ``<file>.build/``, so an
            interrupted build continues where it stopped.
        executor : object with ``submit``, optional
            Where the slices run: a ``concurrent.futures`` pool or a ``dask.distributed.Client``;
            default: one after the other in this process.
        progress : bool
            Show a progress bar while building.
        grid : str
            Node counts, one of `GRIDS` ("standard"; "coarse" and "test" are for quick looks and tests).

        Returns
        -------
        KTReadingEmulator
        """
        if not isinstance(conditions, ReadingConditions):
            raise TypeError(f"KTReadingEmulator: conditions must be a ReadingConditions, "
                             f"got {type(conditions).__name__}")
        if grid not in GRIDS:
            raise ValueError(f"KTReadingEmulator: grid = {grid!r}; expected one of {sorted(GRIDS)}")
        delta_range = _check_delta_range(delta_range, conditions)
        folder = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = folder / cls.file_name(conditions, delta_range, grid)
        if path.exists():
            return cls.load(path)
        shipped = shipped_table(path.name)
        if shipped is not None:
            return cls.load(shipped)
        t_start = time.perf_counter()  # build time of this call (a resumed build counts only its own part)
        axes = _axes(grid, delta_range)
        build_dir = path.with_name(path.name[:-4] + ".build")
        values = _build_slices(conditions, axes, build_dir, executor, progress)
        meta = {"format": EMULATOR_FORMAT, "reading_version": READING_VERSION, "grid": grid,
                "conditions": conditions.to_dict(), "delta_range": list(delta_range),
                "axes": ["ln_delta", "theta=arcsin(sqrt(q))", "asinh(nu_i/delta/RATE_SCALE)",
                         "asinh(nu_mu/delta/RATE_SCALE)"], "rate_scale": RATE_SCALE,
                "outputs": ["delta_kt/delta", "asinh(nu_kt/delta/RATE_SCALE)", "chi2", "rival_margin"],
                "build_seconds": round(time.perf_counter() - t_start, 1),
                "build_executor": type(executor).__name__ if executor is not None else "serial"}
        meta_text = json.dumps(meta, sort_keys=True)
        arrays = {f"axis_{k}": a for k, a in enumerate(axes)}
        _save_npz(path, values=values, meta=np.array(meta_text),
                  sha256=np.array(_digest(values, {"meta": meta, **{k: a.tolist() for k, a in arrays.items()}})),
                  **arrays)
        for f in build_dir.glob("slice_*.npz"):
            f.unlink()
        build_dir.rmdir()
        return cls.load(path)

    @classmethod
    def load(cls, path) -> KTReadingEmulator:
        """Read and verify (checksum) a table written by `load_or_build`.

        Parameters
        ----------
        path : path
            The ``.npz`` file.

        Returns
        -------
        KTReadingEmulator
        """
        path = pathlib.Path(path)
        with np.load(path) as z:
            values = z["values"]
            meta = json.loads(str(z["meta"]))
            axes = [z[f"axis_{k}"] for k in range(4)]
            digest = str(z["sha256"])
        arrays = {f"axis_{k}": a.tolist() for k, a in enumerate(axes)}
        if _digest(values, {"meta": meta, **arrays}) != digest:
            raise ValueError(f"KT reading table {path} fails its checksum; delete it and it will be rebuilt")
        if meta.get("format") != EMULATOR_FORMAT or meta.get("reading_version") != READING_VERSION:
            raise ValueError(f"KT reading table {path} is of format {meta.get('format')}/reading version "
                             f"{meta.get('reading_version')}, expected {EMULATOR_FORMAT}/{READING_VERSION}; "
                             "delete it and it will be rebuilt")
        return cls(values, axes, ReadingConditions.from_dict(meta["conditions"]), meta["delta_range"], meta["grid"],
                   path=str(path), meta=meta)
