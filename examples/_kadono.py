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
    table file for the ``table`` backend (default: the shipped ``tables/ea_g0_v2.nc``).
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import time

import numpy as np

import bayesmusr
from bayesmusr.conventional import KADONO, fit_kt_global
from bayesmusr.functions import MUON_LIFETIME

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
        from bayesmusr.tables import load_table

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


#: the peer library's switch to its narrowing-limit form (musrfit user function dynGssEALF2, NARROW_LIM)
PEER_NARROW_LIM = 10.0


def peer_uses_narrowing_limit(delta, nu_i, nu_mu, q) -> bool:
    """Whether musrfit's dynGssEALF2 (the table Kadono used) leaves its table for the narrowing-limit form.

    Read from its source (github.com/tuito0/musrfit-dynGssEALF, dual_diffusion_model/
    dynGssEALF2.cpp, ``operator()``): ν_i + ν_μ ≥ 10 √Q Δ or ν_μ ≥ 10 √(1−Q) Δ.
    """
    return (nu_i + nu_mu >= PEER_NARROW_LIM * delta * math.sqrt(q)
            or nu_mu >= PEER_NARROW_LIM * delta * math.sqrt(1.0 - q))


def _modified_keren(t, width2, nu, w):
    """The peer's "modified Abragam/Keren" factor for a field part of width² ``width2`` and rate ν (as coded there)."""
    d = w * w + nu * nu
    damp = np.exp(-nu * t - 0.5 * width2 * t * t)
    return np.exp(-2.0 * width2 / d / d * (d * nu * t + (w * w - nu * nu) * (1.0 - damp * np.cos(w * t))
                                            - 2.0 * nu * w * damp * np.sin(w * t)))


def peer_narrowing_limit(t, delta, nu_i, nu_mu, q, b_lf):
    """The narrowing-limit form of dynGssEALF2 (``glf_narrowlim``), re-implemented for comparison.

    G ≈ K_Q(t; √QΔ, ν_i + ν_μ) · G_{1−Q}(t), with K_Q the library's modified Keren
    factor and G_{1−Q} the dynamic KT of width √(1−Q)Δ and rate ν_μ (its own table at
    Q = 1), or the same Keren factor when ν_μ or ω_L exceeds 10 √(1−Q)Δ.  Valid for
    0 < Q < 1.  Units as everywhere: t in μs, rates in μs⁻¹, b_lf in mT.
    """
    from bayesmusr.functions import OMEGA_PER_MT

    t = np.asarray(t, dtype=float)
    w = OMEGA_PER_MT * b_lf
    g_q = _modified_keren(t, q * delta**2, nu_i + nu_mu, w)
    width_s = math.sqrt(1.0 - q) * delta
    if nu_mu >= PEER_NARROW_LIM * width_s or w >= PEER_NARROW_LIM * width_s:
        g_s = _modified_keren(t, width_s**2, nu_mu, w)
    else:
        g_s = bayesmusr.dynamic_kt(t, width_s, nu_mu, b_lf)
    return g_q * g_s


def kt_fit(t, spectra, fields_mT=FIELDS_MT):
    """Global ZF+LF dynamic-KT χ² fit with the weights of `sigma` (amplitude fixed to 1)."""
    err = sigma(t)
    return fit_kt_global(t, spectra, list(fields_mT), errors=[err] * len(spectra))


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
