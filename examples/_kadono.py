"""Shared set-up for the examples that reproduce Kadono's paper.

Not an example itself: the ``kadono_*.py`` scripts import it (they run from any
working directory, since Python puts the script's folder on ``sys.path``).

What is defined here, once for every figure
-------------------------------------------
The "spectrum" the KT fits see.  Kadono says only that G^EA was computed "up to
20 μs" and fitted by χ²; he does not give the time grid or the weights.  We use

* t = bin centres of 500 bins of 0.04 μs in [0, 20] μs (t = 0.02 … 19.98 μs);
* noiseless spectra A(t) = G^EA(t) (normalised asymmetry, amplitude fixed to 1);
* χ² weights σ(t) = σ₀ e^{t/2τ_μ} with σ₀ = 0.01: the statistical error of a
  count-based asymmetry, whose variance grows as 1/N(t) ∝ e^{t/τ_μ}.  With
  σ₀ = 1/(A₀ √(N_tot Δt_bin/τ_μ)), σ₀ = 0.01 is a run of N_tot ≈ 1.4×10⁷
  events with initial asymmetry A₀ = 0.2 in 0.04 μs bins — a typical good
  ZF/LF run.  χ² scales as 1/σ₀², so only its shape against ν_i is meaningful.

Because the spectra carry no noise, χ² is pure model misfit (a noisy spectrum
would add ≈ ndof to it) and the fitted Δ_KT, ν_KT are what a KT fit converges
to on average.

Environment
-----------
BAYESMUSR_FAST=1
    coarser grids (CI); the same code path.
BAYESMUSR_EXAMPLES_OUT
    output folder for PNG and JSON files (default ``examples/output``).
BAYESMUSR_EA_BACKEND = auto | table | direct
    ``table``: `bayesmusr.ea` (interpolated EA table, ~60 μs per call);
    ``direct``: `bayesmusr.ea_direct` (exact construction, 0.2–2 s per call);
    ``auto`` (default): the table when it can be loaded.
BAYESMUSR_EA_TABLE
    table file for the ``table`` backend (default: the shipped ``bayesmusr/physics/data/ea_g0_v2.nc``).
"""
from __future__ import annotations

import functools
import itertools
import json
import math
import os
import pathlib
import time

import numpy as np

import bayesmusr
from bayesmusr.inference.conventional import KADONO, fit_kt_global
from bayesmusr.physics.kt import MUON_LIFETIME

#: Δ (μs⁻¹), Q and LF (mT) of Kadono's simulation
DELTA = KADONO["delta"]
Q = KADONO["q"]
B_LF = KADONO["b_lf_mT"]
FIELDS_MT = (0.0, B_LF)

#: spectrum definition (see module docstring)
T_MAX_US = 20.0
N_BINS = 500
SIGMA0 = 0.01


def fast_mode() -> bool:
    """True when ``BAYESMUSR_FAST`` is set to a non-empty value other than 0."""
    return os.environ.get("BAYESMUSR_FAST", "0") not in ("", "0")


def output_dir() -> pathlib.Path:
    """Folder for figures and JSON results (created if missing)."""
    default = pathlib.Path(__file__).resolve().parent / "output"
    out = pathlib.Path(os.environ.get("BAYESMUSR_EXAMPLES_OUT", default))
    out.mkdir(parents=True, exist_ok=True)
    return out


def time_grid() -> np.ndarray:
    """Bin centres in μs: 500 bins of 0.04 μs covering [0, 20] μs."""
    width = T_MAX_US / N_BINS
    return (np.arange(N_BINS) + 0.5) * width


def sigma(t: np.ndarray) -> np.ndarray:
    """χ² weights σ(t) = σ₀ exp(t / 2τ_μ) (statistical error of a count asymmetry)."""
    return SIGMA0 * np.exp(np.asarray(t) / (2.0 * MUON_LIFETIME))


def table_path():
    """The EA table file given by ``BAYESMUSR_EA_TABLE``, or None for the shipped one."""
    return os.environ.get("BAYESMUSR_EA_TABLE") or None


def _table_available() -> bool:
    try:
        from bayesmusr.physics.tables import load_table

        load_table(table_path())
        return True
    except (FileNotFoundError, ValueError):
        return False


def ea_backend() -> str:
    """Which EA implementation the examples use: ``"table"`` or ``"direct"``."""
    choice = os.environ.get("BAYESMUSR_EA_BACKEND", "auto")
    if choice not in ("auto", "table", "direct"):
        raise ValueError(f"BAYESMUSR_EA_BACKEND must be auto, table or direct, got {choice!r}")
    if choice == "auto":
        return "table" if _table_available() else "direct"
    return choice


def ea_spectra(t, delta, nu_i, nu_mu, q, fields_mT=FIELDS_MT, backend=None):
    """G^EA(t) for each field (list of arrays); t in μs, rates in μs⁻¹, fields in mT."""
    backend = backend or ea_backend()
    if backend == "table":
        path = table_path()

        def func(*args):
            return bayesmusr.ea(*args, table=path)
    else:
        func = bayesmusr.ea_direct
    # Rates below 1e-15 μs⁻¹ (ν_i at 10 K is ~1e-170) change G by < 1e-13 over 20 μs; they are passed
    # as 0 because the renewal solver fails for ν·h ≲ 1e-19 (its lag cut-off int(42/(ν h)) overflows;
    # reported with issue 7: `bayesmusr.dynamic_kt(t, 0.3, 1e-20)` raises "negative dimensions").
    nu_i = 0.0 if nu_i < 1e-15 else nu_i
    nu_mu = 0.0 if nu_mu < 1e-15 else nu_mu
    return [func(t, delta, nu_i, nu_mu, q, b) for b in fields_mT]


# ------------------------------------------------------------------ the paper's own tools
# Kadono made his spectra with musrfit's user function dynGssEALF2 (his ref. [24]) and, as a
# musrfit user, presumably fitted them with musrfit's dynamic KT.  Both differ from the exact
# functions used above in ways that could move T* and Eq. 4, so both are emulated here from
# the facts of their sources (github.com/tuito0/musrfit-dynGssEALF, dual_diffusion_model/
# dynGssEALF2.{h,cpp}; musrfit src/classes/PTheory.cpp, DynamicGaussKTLF).  The node values
# of the peer's table come from `bayesmusr.ea` (accurate to 1.5e-4; the peer's Monte Carlo
# carries ~1e-3 noise, which is not emulated): what is emulated is its grid, its
# interpolation and its switches to approximate forms.  (The 2025 version Kadono used weights
# the 32 corners of a cell by inverse products of distances; normalised, that is the same
# multilinear rule the current version writes out.)

#: the peer's switches to its narrowing-limit and high-field forms (NARROW_LIM, HLF_LIM)
PEER_NARROW_LIM = 10.0
PEER_HLF_LIM = 10.0
#: the peer's table axes: Q, ν_i/Δ and ν_μ/Δ (same nodes), ω_L/Δ, and Δt (0.1 μs at Δ = 0.6022)
PEER_Q_NODES = np.round(0.02 * np.arange(51), 2)
PEER_NU_NODES = np.array([0, 0.1, 0.2, 0.333, 0.5, 0.667, 1, 1.429, 2, 2.5, 3.333, 5, 6.667, 10.0])
PEER_LF_NODES = np.array([0, 0.333, 0.666, 1, 1.333, 1.666, 2, 2.333, 2.666, 3, 3.5, 4, 5, 6, 7, 8, 9, 10])
PEER_DT_NODES = 0.06022 * np.arange(101)
#: musrfit's dynamic KT uses Keren's formula (without the Gaussian factor) above this ν/Δ
MUSRFIT_KEREN_SWITCH = 5.0


def peer_uses_narrowing_limit(delta, nu_i, nu_mu, q) -> bool:
    """Whether dynGssEALF2 leaves its table for the narrowing-limit form: ν_i + ν_μ ≥ 10√QΔ or ν_μ ≥ 10√(1−Q)Δ."""
    return (nu_i + nu_mu >= PEER_NARROW_LIM * delta * math.sqrt(q)
            or nu_mu >= PEER_NARROW_LIM * delta * math.sqrt(1.0 - q))


def _keren(t, width2, nu, w):
    """dynGssEALF2's "modified" Keren factor for a field part of width² ``width2`` and rate ν.

    Keren's LF formula with its e^{−νt} terms multiplied by e^{−width² t²/2}; the plain
    formula (musrfit's dynamic KT above ν/Δ = 5) is :func:`bayesmusr.keren`.
    """
    d = w * w + nu * nu
    damp = np.exp(-nu * t - 0.5 * width2 * t * t)
    return np.exp(-2.0 * width2 / d / d * (d * nu * t + (w * w - nu * nu) * (1.0 - damp * np.cos(w * t))
                                            - 2.0 * nu * w * damp * np.sin(w * t)))


def _peer_index(x, nodes):
    """The peer's fractional node index of x (its find_* functions): linear, clamped just below the last node."""
    if x >= nodes[-1]:
        return len(nodes) - 1 - 1e-4
    i = int(np.searchsorted(nodes, x, side="right")) - 1
    return i + (x - nodes[i]) / (nodes[i + 1] - nodes[i])


@functools.lru_cache(maxsize=None)
def _peer_node(iq, inu1, ilf, inu2):
    """One table entry of the peer (a G(Δt) column), here computed accurately at Δ = 1."""
    from bayesmusr.physics.kt import OMEGA_PER_MT

    return bayesmusr.ea(PEER_DT_NODES, 1.0, PEER_NU_NODES[inu1], PEER_NU_NODES[inu2], PEER_Q_NODES[iq],
                        PEER_LF_NODES[ilf] / OMEGA_PER_MT)


def _peer_table(t, delta, q, nu1, nu2, w):
    """dynGssEALF2's table lookup: multilinear in (Q, ν1/Δ, ω/Δ, ν2/Δ) over the cell's corners, linear in Δt."""
    x = [_peer_index(q, PEER_Q_NODES), _peer_index(nu1 / delta, PEER_NU_NODES),
         _peer_index(w / delta, PEER_LF_NODES), _peer_index(nu2 / delta, PEER_NU_NODES)]
    base = [int(math.floor(v)) for v in x]
    frac = [v - b for v, b in zip(x, base)]
    column = np.zeros(PEER_DT_NODES.size)
    for corner in itertools.product((0, 1), repeat=4):
        weight = math.prod(f if c else 1.0 - f for f, c in zip(frac, corner))
        if weight > 0.0:
            column += weight * _peer_node(*(b + c for b, c in zip(base, corner)))
    dt = np.asarray(t, dtype=float) * delta
    return np.where(dt > PEER_DT_NODES[-1], 0.0, np.interp(dt, PEER_DT_NODES, column))


def peer_ea(t, delta, nu_i, nu_mu, q, b_lf):
    """G^EA as musrfit's dynGssEALF2 returns it (grid, interpolation and switches emulated).

    Units as everywhere here: t in μs, rates in μs⁻¹, b_lf in mT; 0 < Q < 1.  Beyond its
    grid the peer multiplies a modified Keren factor of the Q part (rate ν_i + ν_μ) by the
    (1−Q) part from its own table at Q = 1 (rate ν_μ), or by a Keren factor when ν_μ or ω_L
    exceed 10√(1−Q)Δ; above ω_L = 10Δ both parts are Keren factors.
    """
    from bayesmusr.physics.kt import OMEGA_PER_MT

    t = np.asarray(t, dtype=float)
    w = OMEGA_PER_MT * b_lf
    if peer_uses_narrowing_limit(delta, nu_i, nu_mu, q):
        nu = nu_i + nu_mu
        width_q, width_s = delta * math.sqrt(q), delta * math.sqrt(1.0 - q)
        if nu >= PEER_NARROW_LIM * width_q or w >= PEER_HLF_LIM * width_q:
            g_q = _keren(t, width_q**2, nu, w)
        else:
            g_q = _peer_table(t, width_q, 1.0, nu, 0.0, w)
        if nu_mu >= PEER_NARROW_LIM * width_s or w >= PEER_HLF_LIM * width_s:
            g_s = _keren(t, width_s**2, nu_mu, w)
        else:
            g_s = _peer_table(t, width_s, 1.0, nu_mu, 0.0, w)
        return g_q * g_s
    if w >= PEER_HLF_LIM * delta:
        return _keren(t, q * delta**2, nu_i + nu_mu, w) * _keren(t, (1.0 - q) * delta**2, nu_mu, w)
    return _peer_table(t, delta, q, nu_i, nu_mu, w)


def musrfit_kt(t, delta, nu, b_lf):
    """musrfit's dynamic Gaussian KT: Keren's plain formula for ν/Δ > 5, the exact function below.

    (musrfit solves the Volterra equation by trapezoid on ≥ 300 points below the switch; that
    error, ~1e-3, is not emulated.)
    """
    if nu / delta > MUSRFIT_KEREN_SWITCH:
        return bayesmusr.keren(t, delta, nu, b_lf)
    return bayesmusr.dynamic_kt(t, delta, nu, b_lf)


def kt_fit(t, spectra, fields_mT=FIELDS_MT, kt_function=bayesmusr.dynamic_kt):
    """Global ZF+LF dynamic-KT χ² fit with the weights of `sigma` (amplitude fixed to 1)."""
    err = sigma(t)
    return fit_kt_global(t, spectra, list(fields_mT), errors=[err] * len(spectra), kt_function=kt_function)


def peak_log_parabola(x, y):
    """Location and height of the maximum of y(x), refined by a parabola in ln x.

    The three points around the largest sample are fitted by a parabola in
    ln x; if the maximum sits on the grid's edge, the edge value is returned.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    i = int(np.argmax(y))
    if i == 0 or i == len(x) - 1:
        return float(x[i]), float(y[i])
    lx = np.log(x[i - 1:i + 2])
    c = np.polyfit(lx, y[i - 1:i + 2], 2)
    if c[0] >= 0:
        return float(x[i]), float(y[i])
    lpk = -c[1] / (2 * c[0])
    return float(math.exp(lpk)), float(np.polyval(c, lpk))


def peak_parabola(x, y):
    """Location and height of the maximum of y(x), refined by a parabola in x."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    i = int(np.argmax(y))
    if i == 0 or i == len(x) - 1:
        return float(x[i]), float(y[i])
    c = np.polyfit(x[i - 1:i + 2], y[i - 1:i + 2], 2)
    if c[0] >= 0:
        return float(x[i]), float(y[i])
    xp = -c[1] / (2 * c[0])
    return float(xp), float(np.polyval(c, xp))


def write_results(name: str, results: dict) -> pathlib.Path:
    """Write ``<out>/<name>.json`` with the numbers a script computed (plus run metadata)."""
    results = dict(results)
    results.setdefault("meta", {})
    results["meta"].update({"fast_mode": fast_mode(), "bayesmusr_version": bayesmusr.__version__})
    path = output_dir() / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    return path


class Timer:
    """Wall-clock timer for the printed run times."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
