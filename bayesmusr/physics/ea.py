"""The ion+muon jump relaxation function G^EA (Ito & Kadono 2024; Kadono Eq. 1).

Definition
----------
Local field B = B_s + B_q + B_LF ẑ, B_s ~ N(0, (1−Q)Δ² I₃), B_q ~ N(0, QΔ² I₃)
(μs⁻¹ per component).  An ion jump (rate ν_i) redraws B_q; a muon jump (rate
ν_μ) redraws both.  The field autocorrelation is
C(t) = [(1−Q) + Q e^{−ν_i t}] e^{−ν_μ t}.

Deterministic construction (docs/ea-tables.md, "How G^EA is computed"), in units Δ = 1 (x = Δt,
v = ν/Δ, w = ω_L/Δ):

1. Muon jumps are a scalar renewal of g₀ = G^EA(ν_μ = 0): every field is
   redrawn from a distribution axially symmetric about ẑ.
2. Conditional on b = B_s + w ẑ (|b| = r), the average spin propagator
   obeys M = e^{−v t} K + v ∫ e^{−v τ} M(t−τ) K(τ) dτ, K(τ) = E_q[R_{b+q}(τ)].
3. K and M are axial about b̂: a b̂b̂ᵀ + c P_⊥ + d [b̂]ₓ, multiplying like
   (real a) × (complex c + i d).  Closed-form kernels, s = √Q:
   k_∥ = static LF KT of width s in field r;
   C(τ, r) = e^{−s²τ²/2}[cos rτ − (s²τ/r) sin rτ];
   Re k_c = ½ + C − ½ k_∥;  Im k_c = e^{−s²τ²/2}[(1 − s²/r²) sin rτ + (s²τ/r) cos rτ].
   The complex renewal is solved in the frame rotating at r (k_c e^{−irτ}),
   where what is left oscillates only with small amplitude.
4. P_z = E_r[cos²β m_∥ + sin²β Re m_c]: r has the non-central χ₃ density of
   |N(w ẑ, σ² I)|, σ² = 1 − Q, and E[cos²β | r] = 1 − 2L(a)/a, a = r w/σ²
   (1/3 in zero field).  Gauss-Legendre in r over w ± 9σ (clipped at 0).

Each renewal uses the product-trapezoid solver of `_kernels.renewal`
with Richardson extrapolation (h, h/2); per radial node the step is the
largest h = dx/m with v h ≤ MAX_VH = 0.5 and r h ≤ MAX_RH = 2.

Exact limits (used directly, and tested): Q = 0 or v = 0 → static KT (w);
Q = 1 → dynamic KT(v); v → ∞ → static KT of width √(1−Q).

Domain, asymptotic forms and limits of `ea_direct` (tests/test_physics_domains.py)
---------------------------------------------------------------------------------
Arguments as `bayesmusr.physics.domain.DOMAIN`.  Inside it:

* Δ·t_max ≤ `TINY_X` = 1e−6: G = 1.  For any field history with ⟨|B_⊥|²⟩ = 2Δ²,
  d√(1 − S_z)/dt ≤ |B_⊥|/√2, so 1 − G(t) ≤ (Δt)² ≤ 1e−12 (this also keeps ν/Δ and
  ω_L/Δ finite below).
* ν_μ/Δ > `KEREN_ABOVE` = 1000 or ω_L/Δ ≥ `KEREN_FIELD_ABOVE_EA` = 100: Keren's form for the
  EA correlation function (`fast_muon_limit`); at high field Q = 0, ν_i = 0 and Q = 1 give
  the exact dynamic KT instead, as in `bayesmusr.ea`.  Against the construction at ω_L/Δ = 10–100
  (ν_i/Δ 0–100, Q 0.05–0.95, ν_μ/Δ 0–2) the difference is ≤ 1.96/w², as for dynamic KT
  (2/w², the static limit's undamped oscillation): ≤ 2e−4 from w = 100, the table's
  accuracy goal.  The construction's own error grows above w ≈ 100 (7e−5 at 200).
* ν_i/Δ > 1000: `fast_ion_limit` (as before).
* otherwise the construction, whose cost (`construction_cost`) is estimated first: a call
  above `bayesmusr.physics.domain.MAX_RENEWAL_OPS` is refused with the longest Δ·t the
  same parameters reach (Δt ≈ 64 in zero field, ≈ 51 at ω_L/Δ = 20; the table stops at 20).
"""
from __future__ import annotations

import math

import numpy as np

import bayesmusr.physics._kernels as _kernels  # the submodule itself: no edge to the package, which imports this module
from bayesmusr.physics.constants import OMEGA_PER_MT
from bayesmusr.physics.domain import check_number, check_ratio, check_times, check_work, reach, within_limits
from bayesmusr.physics.kt import (
    KEREN_ABOVE,
    _dynamic,
    _dynamic_kt_cost,
    _dynamic_kt_scaled,
    _keren,
    _kt_step,
    _static_kt_scaled,
)

#: default number of Gauss-Legendre radial nodes (convergence: tests/test_ea.py)
N_RADIAL = 96
_RADIAL_HALF_WIDTH = 9.0  # in units of σ
#: step limits per radial node: ν h ≤ MAX_VH and r h ≤ MAX_RH (convergence: tests/test_ea.py)
MAX_VH = 0.5
MAX_RH = 2.0
#: ω_L/Δ from which `ea_direct` returns Keren's form of the EA correlation (≤ 2/w² ≤ 2e-4, module docstring)
KEREN_FIELD_ABOVE_EA = 100.0
#: Δ·t_max up to which `ea_direct` and `bayesmusr.ea` return G = 1 (1 − G ≤ (Δt)² ≤ 1e-12, module docstring)
TINY_X = 1e-6
#: most Gauss-Legendre radial nodes accepted (numpy's leggauss costs ~n³: 3.5 s at 2048, measured)
MAX_RADIAL_NODES = 2048


def radial_nodes(q: float, w: float, x_max: float) -> int:
    """Gauss-Legendre nodes the radial average needs up to Δt = x_max (N_RADIAL unless aliasing threatens).

    The average over r = |b| of terms oscillating as e^{irx} is, on nodes of
    spacing h, aliased into a spurious revival near x = 2π/h; Gauss-Legendre on
    [lo, hi] has its widest spacing π(hi − lo)/(2n) in the middle.  The revival
    rises over ~1/σ (σ = √(1−Q), the width of the static-field distribution), so
    n ≥ (hi − lo)(x_max + 5/σ)/4 keeps it beyond x_max.  Measured at
    ω_L/Δ = 16, Q = 0.013, Δt ≤ 20: 96 nodes (the rule asks 112) left a 1.6e-3
    artefact at Δt ≈ 20, 112 nodes 1.9e-7, 128 nodes 6e-14 (against 256 nodes
    and the event-driven Monte Carlo).  Below ω_L/Δ = 3 the rule never asks for
    more than 96 nodes, so those results are unchanged bit for bit.

    Parameters
    ----------
    q : float
        Edwards-Anderson fraction Q, 0 ≤ q < 1.
    w : float
        ω_L/Δ ≥ 0 (dimensionless).
    x_max : float
        Largest Δt needed (dimensionless).

    Returns
    -------
    int
        Number of Gauss-Legendre nodes (``N_RADIAL`` or more, a multiple of 8).
    """
    q = check_ratio(q, "q", "radial_nodes", 0.0, 1.0, high_open=True)  # Q = 1 has no static part to average
    w = check_ratio(w, "w", "radial_nodes")
    x_max = check_ratio(x_max, "x_max", "radial_nodes")
    sigma = math.sqrt(1.0 - q)
    lo = max(0.0, w - _RADIAL_HALF_WIDTH * sigma)
    hi = w + _RADIAL_HALF_WIDTH * sigma
    need = (hi - lo) * (x_max + 5.0 / sigma) / 4.0
    if need <= N_RADIAL:
        return N_RADIAL
    return 8 * int(math.ceil(1.08 * need / 8.0))  # 8 % margin, a multiple of 8


def radial_quadrature(q: float, w: float, n_r: int = N_RADIAL):
    """Nodes r, weights (density × GL weight) and E[cos²β | r] for b = B_s + w ẑ.

    Parameters
    ----------
    q : float
        Edwards-Anderson fraction, 0 ≤ q < 1.
    w : float
        ω_L/Δ ≥ 0.
    n_r : int
        Number of Gauss-Legendre nodes.

    Returns
    -------
    r, weight, cos2 : ndarray
        Nodes r = |b| (units of Δ), quadrature weights (χ₃ density × Gauss-Legendre weight,
        summing to ≈ 1) and E[cos²β | r] at each node.
    """
    q = check_ratio(q, "q", "radial_quadrature", 0.0, 1.0, high_open=True)
    w = check_ratio(w, "w", "radial_quadrature")
    _check_n_r(n_r, "radial_quadrature")
    sigma = math.sqrt(1.0 - q)
    lo = max(0.0, w - _RADIAL_HALF_WIDTH * sigma)
    hi = w + _RADIAL_HALF_WIDTH * sigma
    u, gw = np.polynomial.legendre.leggauss(n_r)
    r = 0.5 * (hi - lo) * u + 0.5 * (hi + lo)
    gw = 0.5 * (hi - lo) * gw
    if w == 0.0:
        dens = math.sqrt(2.0 / math.pi) * r**2 / sigma**3 * np.exp(-0.5 * (r / sigma) ** 2)
        cos2 = np.full_like(r, 1.0 / 3.0)
    else:
        # non-central chi (3 dof): p(r) = r/(w σ √2π) [e^{−(r−w)²/2σ²} − e^{−(r+w)²/2σ²}]
        dens = r / (w * sigma * math.sqrt(2.0 * math.pi)) * (
            np.exp(-0.5 * ((r - w) / sigma) ** 2) * -np.expm1(-2.0 * r * w / sigma**2)
        )
        a = r * w / sigma**2
        cos2 = np.empty_like(r)
        small = a < 1e-3
        a_s = a[small]
        cos2[small] = 1.0 / 3.0 + 2.0 * a_s**2 / 45.0
        a_b = a[~small]
        langevin = 1.0 / np.tanh(a_b) - 1.0 / a_b
        cos2[~small] = 1.0 - 2.0 * langevin / a_b
    return r, gw * dens, cos2


def _check_n_r(n_r, func: str):
    """n_r must be an integer in [1, MAX_RADIAL_NODES] (leggauss costs ~n_r³)."""
    if isinstance(n_r, (bool, np.bool_)) or not isinstance(n_r, (int, np.integer)) or not 1 <= n_r <= MAX_RADIAL_NODES:
        raise ValueError(f"{func}: n_r must be an integer in [1, {MAX_RADIAL_NODES}], got {n_r!r}")


def kernels(tau: np.ndarray, r: float, q: float):
    """EA kernels k_∥(τ; r) (real) and k_c(τ; r) (complex) for width s = √q (module docstring, step 3).

    Parameters
    ----------
    tau : ndarray
        Times Δτ (dimensionless).
    r : float
        Magnitude of the static field b, units of Δ.
    q : float
        Edwards-Anderson fraction Q.

    Returns
    -------
    k_par : ndarray
        k_∥(τ), real.
    k_c : ndarray
        k_c(τ), complex.
    """
    r = check_ratio(r, "r", "kernels")
    s2 = check_ratio(q, "q", "kernels", 0.0, 1.0)
    if s2 == 0.0:
        return np.ones_like(tau), np.exp(1j * r * tau)
    s = math.sqrt(s2)
    k_par = _static_kt_scaled(s * tau, r / s)
    damp = np.exp(-0.5 * s2 * tau * tau)
    if r < 1e-8:  # zero static field: C = (1 − s²τ²) e^{−s²τ²/2}, Im k_c → 0
        c = (1.0 - s2 * tau * tau) * damp
        return k_par, (0.5 + c - 0.5 * k_par) + 0j
    sin_rt = np.sin(r * tau)
    cos_rt = np.cos(r * tau)
    c = damp * (cos_rt - (s2 * tau / r) * sin_rt)
    im = damp * ((1.0 - s2 / r**2) * sin_rt + (s2 * tau / r) * cos_rt)
    return k_par, (0.5 + c - 0.5 * k_par) + 1j * im


def _steps_per_interval(dx: float, v: float, r: float) -> int:
    """Smallest m ≥ 1 with v·dx/m ≤ MAX_VH and r·dx/m ≤ MAX_RH, as floating-point tests (no open loop)."""
    m = max(1, math.ceil(max(v * dx / MAX_VH, r * dx / MAX_RH)))
    # the ceiling can be one off where the quotients round across an integer: settle on the tests themselves
    if m > 1 and v * dx / (m - 1) <= MAX_VH and r * dx / (m - 1) <= MAX_RH:
        m -= 1
    if v * dx / m > MAX_VH or r * dx / m > MAX_RH:
        m += 1
    return m


def _node_renewals(dx: float, n_out: int, r: float, q: float, v: float):
    """m_∥ and Re m_c on x_k = k dx (k < n_out) for one radial node, Richardson h, h/2."""
    m = _steps_per_interval(dx, v, r)
    h = dx / m
    n_fine = 2 * m * (n_out - 1) + 1  # step h/2
    tau = np.arange(n_fine) * (0.5 * h)
    k_par, k_c = kernels(tau, r, q)
    rot = np.exp(-1j * r * tau)
    k_c_rot = k_c * rot
    par_f = _kernels.renewal(k_par, v, 0.5 * h)
    par_c = _kernels.renewal(k_par[::2].copy(), v, h)
    cr_f = _kernels.renewal(k_c_rot, v, 0.5 * h)
    cr_c = _kernels.renewal(k_c_rot[::2].copy(), v, h)
    par = (4.0 * par_f[::2] - par_c) / 3.0
    crot = (4.0 * cr_f[::2] - cr_c) / 3.0
    back = np.conj(rot[::2])  # e^{+i r t} on the step-h grid
    mc = (crot * back).real
    return par[::m], mc[::m]


def ea_static_scaled(dx: float, n_out: int, v: float, q: float, w: float, n_r: int | None = None) -> np.ndarray:
    """g₀(x) = G^EA(x; ν_i/Δ = v, Q = q, ω_L/Δ = w, ν_μ = 0) on x_k = k dx, k = 0..n_out−1.

    Exact limits are returned directly: q = 0 or v = 0 → static KT; q = 1 → dynamic KT.

    Parameters
    ----------
    dx : float
        Grid step in Δt (dimensionless).
    n_out : int
        Number of grid points.
    v, q, w : float
        ν_i/Δ, Q and ω_L/Δ.
    n_r : int, optional
        Radial nodes (default `radial_nodes` for this x range).

    Returns
    -------
    ndarray
        g₀ at x_k, shape (n_out,).

    Raises
    ------
    ValueError
        For arguments out of range, or when the construction would exceed the work limits
        (`construction_cost`, `bayesmusr.physics.domain.check_work`).
    """
    dx, v, q, w = _check_grid_args(dx, n_out, v, q, w, "ea_static_scaled")
    if n_r is not None:
        _check_n_r(n_r, "ea_static_scaled")
    ops, points = construction_cost(dx, n_out, v, q, w, n_r)
    check_work(ops, points, "ea_static_scaled", f"Delta*t_max = {(n_out - 1) * dx:.4g} with nu_i/Delta = {v:.4g}, "
               f"Q = {q:.4g}, omega_L/Delta = {w:.4g}", "shorten the time range")
    x = np.arange(n_out) * dx
    if q == 0.0 or v == 0.0:
        return _static_kt_scaled(x, w)
    if q == 1.0:
        return _dynamic_kt_scaled(x, w, v)
    if n_r is None:
        n_r = radial_nodes(q, w, (n_out - 1) * dx)
    r, weight, cos2 = radial_quadrature(q, w, n_r)
    total = np.zeros(n_out)
    for rk, wk, ck in zip(r, weight, cos2):
        par, mc = _node_renewals(dx, n_out, float(rk), q, v)
        total += wk * (ck * par + (1.0 - ck) * mc)
    return total / weight.sum() if abs(weight.sum() - 1.0) < 1e-6 else total / weight.sum()


def _check_grid_args(dx, n_out, v, q, w, func):
    """Validate the dimensionless arguments of the construction (ValueError naming the argument)."""
    if isinstance(n_out, (bool, np.bool_)) or not isinstance(n_out, (int, np.integer)) or n_out < 1:
        raise ValueError(f"{func}: n_out must be a positive integer, got {n_out!r}")
    dx = check_ratio(dx, "dx", func)
    if dx <= 0.0:
        raise ValueError(f"{func}: dx must be > 0, got {dx!r}")
    return dx, check_ratio(v, "v", func), check_ratio(q, "q", func, 0.0, 1.0), check_ratio(w, "w", func)


def construction_cost(dx: float, n_out: int, v: float, q: float, w: float, n_r: int | None = None):
    """Work of `ea_static_scaled`: (renewal multiply-adds, largest grid), estimated from its loop bounds.

    Every radial node is charged the refinement m of the outermost node (r = w + 9σ), an
    upper bound; a complex renewal costs twice a real one (measured 0.8e9 against 1.6e9
    multiply-adds per second), and the Gauss-Legendre rule n_r³.

    Parameters
    ----------
    dx : float
        Grid step in Δt.
    n_out : int
        Number of output nodes.
    v, q, w : float
        ν_i/Δ, Q and ω_L/Δ.
    n_r : int, optional
        Radial nodes (default `radial_nodes`).

    Returns
    -------
    ops, points : float
        Estimated multiply-adds and the largest grid.
    """
    x_max = (n_out - 1) * dx
    if q == 0.0 or v == 0.0:
        return 0.0, float(n_out)
    if q == 1.0:
        return _dynamic_kt_cost(x_max, w, v, _kt_step(w, v))
    if n_r is None:
        n_r = radial_nodes(q, w, x_max)
    m = _steps_per_interval(dx, v, w + _RADIAL_HALF_WIDTH * math.sqrt(1.0 - q))
    h = dx / m
    n_fine = 2 * m * (n_out - 1) + 1
    per_node = 3.0 * (_kernels.renewal_ops(n_fine, 0.5 * v * h) + _kernels.renewal_ops(m * (n_out - 1) + 1, v * h))
    return n_r * per_node + float(n_r) ** 3, float(n_fine)


def muon_renewal_cost(n: int, v_mu: float, dx: float, w: float = 0.0):
    """Work of `muon_renewal` on n nodes: (renewal multiply-adds, largest grid), from its branches.

    Parameters
    ----------
    n : int
        Number of nodes of g₀.
    v_mu : float
        ν_μ/Δ.
    dx : float
        Grid step in Δt.
    w : float, optional
        ω_L/Δ.

    Returns
    -------
    ops, points : float
    """
    if v_mu == 0.0:
        return 0.0, float(n)
    if w * dx > 0.3 and v_mu * dx > 0.05:
        m = 2 * math.ceil(max(v_mu * dx / 0.25, w * dx / 0.45) / 2.0)
        return muon_renewal_cost((n - 1) * m + 1, v_mu, dx / m)
    if v_mu * dx <= 0.25:
        return _kernels.renewal_ops(n, v_mu * dx) + _kernels.renewal_ops(n / 2.0, 2.0 * v_mu * dx), float(n)
    m = 2 * math.ceil(v_mu * dx / 0.25)
    n_f = (n - 1) * m + 1
    return _kernels.renewal_ops(n_f, v_mu * dx / m) + _kernels.renewal_ops(n_f / 2.0, 2.0 * v_mu * dx / m), float(n_f)


def muon_renewal(g0: np.ndarray, v_mu: float, dx: float, w: float = 0.0) -> np.ndarray:
    """Apply muon jumps (rate v_mu = ν_μ/Δ) to g₀ on a uniform grid of step dx.

    Muon jumps redraw every field from an axially symmetric distribution, so
    G = renewal of g₀ at rate ν_μ (module docstring, step 1).  Richardson on steps
    (h, 2h) with 2h ν_μ ≤ 0.5.  When ν_μ dx > 0.25, g₀ is first refined to
    step dx/m by six-point Lagrange interpolation.  The Richardson correction,
    smooth and small, is carried to odd nodes by cubic interpolation.

    ``w`` = ω_L/Δ: in high fields g₀ carries the precession at ω_L, which the
    product integration (linear in g₀ between nodes) resolves badly once
    ω_L dx ≳ 0.3 rad; with fast muon jumps (ν_μ dx > 0.05) that error adds up over
    many renewals (measured 6.3e-5 at ω_L/Δ = 16.3, ν_μ/Δ = 4, dx = 0.04, and 1.3e-4
    at 16.8 and 5.3), so there g₀ is refined to ω_L h ≤ 0.45 first (3.7e-6 at the first point).

    Parameters
    ----------
    g0 : ndarray
        g₀ = G^EA(ν_μ = 0) on x_k = k dx.
    v_mu : float
        ν_μ/Δ.
    dx : float
        Grid step in Δt (dimensionless).
    w : float, optional
        ω_L/Δ.

    Returns
    -------
    ndarray
        G^EA at ν_μ on the same grid.

    Raises
    ------
    ValueError
        For arguments out of range, or above the work limits (`muon_renewal_cost`).
    """
    v_mu = check_ratio(v_mu, "v_mu", "muon_renewal")
    dx = check_ratio(dx, "dx", "muon_renewal")
    w = check_ratio(w, "w", "muon_renewal")
    if v_mu == 0.0:
        return g0.copy()
    n = g0.shape[0]
    check_work(*muon_renewal_cost(n, v_mu, dx, w), "muon_renewal",
               f"Delta*t_max = {(n - 1) * dx:.4g} with nu_mu/Delta = {v_mu:.4g}", "shorten the time range")
    return renewal_unchecked(g0, v_mu, dx, w)


def renewal_on_grid(v_mu: float, dx: float, w: float) -> bool:
    """Whether `renewal_unchecked` works on g₀'s own grid (Richardson on steps dx and 2 dx, or none at
    v_mu = 0) rather than on a finer one (fast muon jumps, or a high field with jumps).

    Parameters
    ----------
    v_mu, dx, w : float
        ν_μ/Δ, the grid step, ω_L/Δ.

    Returns
    -------
    bool
    """
    return v_mu == 0.0 or (v_mu * dx <= 0.25 and not (w * dx > 0.3 and v_mu * dx > 0.05))


def renewal_unchecked(g0: np.ndarray, v_mu: float, dx: float, w: float = 0.0) -> np.ndarray:
    """`muon_renewal` without its argument and work checks, for callers that bound them (``bayesmusr.ea``).

    Parameters
    ----------
    g0 : ndarray
        g₀ on x_k = k dx.
    v_mu, dx, w : float
        ν_μ/Δ ≥ 0, the step, ω_L/Δ ≥ 0 (not checked).

    Returns
    -------
    ndarray
        G^EA at ν_μ on the same grid.
    """
    if v_mu == 0.0:
        return g0.copy()
    if renewal_on_grid(v_mu, dx, w):
        return _kernels.richardson_renewal(np.ascontiguousarray(g0, dtype=float), v_mu, dx)
    n = g0.shape[0]
    if w * dx > 0.3 and v_mu * dx > 0.05:
        m = 2 * int(math.ceil(max(v_mu * dx / 0.25, w * dx / 0.45) / 2.0))
        h = dx / m
        xf = np.minimum(np.arange((n - 1) * m + 1) * h, (n - 1) * dx)
        g_f = _kernels.lagrange6_uniform(g0, dx, xf)
        return renewal_unchecked(g_f, v_mu, h)[::m].copy()
    m = 2 * int(math.ceil(v_mu * dx / 0.25))
    h = dx / m
    xf = np.minimum(np.arange((n - 1) * m + 1) * h, (n - 1) * dx)
    g_f = _kernels.lagrange6_uniform(g0, dx, xf)
    fine = _kernels.renewal(g_f, v_mu, h)
    coarse = _kernels.renewal(g_f[::2].copy(), v_mu, 2.0 * h)
    rich = fine[::2] + (fine[::2] - coarse) / 3.0
    return rich[:: m // 2]


def fast_ion_limit(x: np.ndarray, v: float, q: float, w: float) -> np.ndarray:
    """g₀ for ν_i ≫ Δ: static KT of width √(1−Q) in field w times the narrowed Q-part relaxation.

    When ν_i exceeds the precession frequencies of the Q part the ion-modulated
    field acts as Markovian noise: it relaxes the spin at Keren's LF rate for a
    width-√Q field, exp[−2Q x² Re φ₂((v + iw)x)] (the Abragam form
    exp[−(2Q/v²)(e^{−vx} − 1 + vx)] in zero field), on top of the static KT of the
    remaining width √(1−Q) in the same field (Kadono Fig. 2a plateau).
    Measured against the exact construction (`ea_static_scaled`), max |error|
    over Δt ≤ 20: 1.2e-4 at v = 70 and 6.1e-5 at v = 100 (Q = 0.5, 0.8;
    ω_L/Δ = 0, 3, 10, 20), falling as ~1/v².  (The zero-field Abragam factor
    used before in every field was off by 2.2e-4 at ω_L/Δ = 3 and 9e-3 at
    ω_L/Δ = 20, v = 100: the field slows the relaxation by ≈ v²/(v² + w²).)

    Parameters
    ----------
    x : ndarray
        Times Δt (dimensionless).
    v, q, w : float
        ν_i/Δ, Q and ω_L/Δ.

    Returns
    -------
    ndarray
        g₀(x) in the fast-ion limit.
    """
    v = check_ratio(v, "v", "fast_ion_limit")
    q = check_ratio(q, "q", "fast_ion_limit", 0.0, 1.0)
    w = check_ratio(w, "w", "fast_ion_limit")
    x = np.asarray(x, dtype=float)
    sigma = math.sqrt(1.0 - q)
    if sigma > 0.0:
        static = _static_kt_scaled(sigma * x, w / sigma)
    else:
        static = np.ones_like(x)
    return static * _kernels.narrowed_decay(x.ravel(), v, w, 2.0 * q).reshape(x.shape)


def fast_ion_limit_uniform(dx: float, n: int, v: float, q: float, w: float) -> np.ndarray:
    """`fast_ion_limit` on the uniform grid x_k = k dx, k < n, with compiled kernels throughout.

    In a field (ω_L/(Δ√(1−Q)) ≥ 0.5) the static factor comes from the recurrence kernel
    `_kernels.static_kt_uniform` (agrees with the Faddeeva form to 4e-8, against the limit's own
    error of ≥ 6e-5), as in `bayesmusr.physics.tables.reference_factor`: ~8 µs instead of ~60 µs
    for 156 nodes, which matters in the table's blend into this limit (ν_i/Δ ≥ 70: the hot
    temperatures of a scan).

    Parameters
    ----------
    dx : float
        Grid step in Δt.
    n : int
        Number of nodes.
    v, q, w : float
        ν_i/Δ, Q and ω_L/Δ.

    Returns
    -------
    ndarray, shape (n,)
    """
    v = check_ratio(v, "v", "fast_ion_limit_uniform")
    q = check_ratio(q, "q", "fast_ion_limit_uniform", 0.0, 1.0)
    w = check_ratio(w, "w", "fast_ion_limit_uniform")
    sigma = math.sqrt(1.0 - q)
    if sigma > 0.0 and w / sigma >= 0.5:
        x = np.arange(n) * dx
        return _kernels.static_kt_uniform(sigma * dx, n, w / sigma) * _kernels.narrowed_decay(x, v, w, 2.0 * q)
    return fast_ion_limit(np.arange(n) * dx, v, q, w)


def fast_muon_limit(t, delta, nu_i, nu_mu, q, b_lf):
    """G^EA when ν_μ ≫ Δ: Keren's form for C(t) = (1−Q) e^{−ν_μ t} + Q e^{−(ν_i+ν_μ) t}.

    Γt = 2Δ²∫(t−τ)C(τ)cos ωτ dτ splits into (1−Q)·Γ_K(ν_μ) + Q·Γ_K(ν_i+ν_μ).
    Used above ν_μ/Δ = 1000, where the same form reproduces the dynamic KT
    to ≤ 4e-8 (the Q = 0 and Q = 1 cases).

    Parameters
    ----------
    t : ndarray
        Times in μs.
    delta, nu_i, nu_mu : float
        Δ, ν_i, ν_μ in μs⁻¹.
    q : float
        Q.
    b_lf : float
        Longitudinal field in mT.

    Returns
    -------
    ndarray
        G^EA(t).
    """
    t, delta, nu_i, nu_mu, q, b_lf = check_ea_args(t, delta, nu_i, nu_mu, q, b_lf, "fast_muon_limit")
    g1 = _keren(t, delta, nu_mu, b_lf)
    g2 = _keren(t, delta, nu_i + nu_mu, b_lf)  # the sum may pass the 1e12 argument cap: no re-validation
    return g1 ** (1.0 - q) * g2**q


def check_ea_args(t, delta, nu_i, nu_mu, q, b_lf, func: str = "ea"):
    """Validate the arguments shared by `ea_direct` and `bayesmusr.ea` (ValueError naming the argument).

    Parameters
    ----------
    t : array_like
        Times in μs (finite, 0 ≤ t ≤ 1e6).
    delta, nu_i, nu_mu : float
        Δ, ν_i, ν_μ in μs⁻¹ (finite, ≥ 0, within `bayesmusr.physics.domain.DOMAIN`).
    q : float
        Q in [0, 1].
    b_lf : float
        Longitudinal field in mT (finite, ≥ 0).
    func : str, optional
        The public function being called (for the message).

    Returns
    -------
    tuple
        ``(t as a float ndarray, delta, nu_i, nu_mu, q, b_lf)`` as floats.
    """
    return (check_times(t, func), check_number(delta, "delta", func), check_number(nu_i, "nu_i", func),
            check_number(nu_mu, "nu_mu", func), check_number(q, "q", func), check_number(b_lf, "b_lf", func))


def ea_direct(t, delta, nu_i, nu_mu, q, b_lf=0.0, dx: float = 0.02, n_r: int | None = None):
    """G^EA computed directly by the deterministic construction (no table; slow, any parameters).

    Takes 0.1–2 s per call; use `bayesmusr.ea` (table interpolation) inside
    fits.  Units as everywhere: t in μs, Δ, ν_i, ν_μ in μs⁻¹, b_lf in mT.

    Parameters
    ----------
    t : array_like
        Times in μs (≥ 0).
    delta, nu_i, nu_mu : float
        Δ, ion jump rate ν_i and muon jump rate ν_μ (μs⁻¹).
    q : float
        Fraction Q ∈ [0, 1] of Δ² modulated by ion jumps.
    b_lf : float, optional
        Longitudinal field in mT.
    dx : float, optional
        Grid step in units of 1/Δ (Richardson-extrapolated).
    n_r : int, optional
        Radial Gauss-Legendre nodes (default: `radial_nodes` for the time range).

    Returns
    -------
    ndarray
        G_z^EA(t), same shape as ``t``.
    """
    t, delta, nu_i, nu_mu, q, b_lf = check_ea_args(t, delta, nu_i, nu_mu, q, b_lf, "ea_direct")
    if delta == 0.0 or t.size == 0 or float(t.max()) * delta <= TINY_X:
        return np.ones_like(t)  # 1 − G ≤ (Δt)² ≤ 1e-12 (module docstring)
    w = OMEGA_PER_MT * b_lf / delta  # finite: Δ > 1e-6 / t_max here
    if nu_mu / delta > KEREN_ABOVE:
        return fast_muon_limit(t, delta, nu_i, nu_mu, q, b_lf)
    if w >= KEREN_FIELD_ABOVE_EA:
        return _high_field(t, delta, nu_i, nu_mu, q, b_lf)
    if n_r is not None:
        _check_n_r(n_r, "ea_direct")
    dx = check_ratio(dx, "dx", "ea_direct")
    if not 0.0 < dx <= 1.0:
        raise ValueError(f"ea_direct: dx must be in (0, 1] (a step in units of 1/delta), got {dx!r}")
    x = t * delta
    n = int(math.ceil(x.max() / dx)) + 6  # ≥ 6 nodes for the five-point slopes
    v, v_mu = nu_i / delta, nu_mu / delta
    _check_direct_work(float(x.max()), dx, v, q, w, v_mu, delta, n_r)
    if v > KEREN_ABOVE:  # deep in the fast-ion limit (error ≲ 1e-6 there)
        g0 = fast_ion_limit(np.arange(n) * dx, v, q, w)
    else:
        g0 = ea_static_scaled(dx, n, v, q, w, n_r=n_r)
    g = muon_renewal(g0, v_mu, dx, w)
    return _kernels.hermite_uniform5(g, dx, x.ravel()).reshape(x.shape)


def _high_field(t, delta, nu_i, nu_mu, q, b_lf):
    """`ea_direct` from ω_L/Δ = 100: the exact dynamic-KT limits where they apply, else Keren's EA form."""
    if q == 0.0 or nu_i == 0.0:
        return _dynamic(t, delta, nu_mu, b_lf)
    if q == 1.0:
        return _dynamic(t, delta, nu_i + nu_mu, b_lf)
    return fast_muon_limit(t, delta, nu_i, nu_mu, q, b_lf)  # ≤ 2Δ²/ω_L² from the construction


def _direct_cost(x_max, dx, v, q, w, v_mu, n_r=None):
    """(ops, points) of `ea_direct` up to Δt = x_max: construction (unless fast ions) plus muon renewal."""
    n = math.ceil(x_max / dx) + 6
    ops, points = (0.0, float(n)) if v > KEREN_ABOVE else construction_cost(dx, n, v, q, w, n_r)
    mu_ops, mu_points = muon_renewal_cost(n, v_mu, dx, w)
    return ops + mu_ops, max(points, mu_points)


def _check_direct_work(x_max, dx, v, q, w, v_mu, delta, n_r):
    """Refuse an `ea_direct` call above the work limits, saying how far in time these parameters reach."""
    if within_limits(*_direct_cost(x_max, dx, v, q, w, v_mu, n_r)):
        return
    x_ok = reach(lambda xm: _direct_cost(xm, dx, v, q, w, v_mu, n_r), x_max)
    check_work(*_direct_cost(x_max, dx, v, q, w, v_mu, n_r), "ea_direct",
               f"delta * t_max = {x_max:.4g} with nu_i/delta = {v:.4g}, Q = {q:.4g}, omega_L/delta = {w:.4g}, "
               f"nu_mu/delta = {v_mu:.4g}",
               f"with these parameters the construction reaches delta * t <= {x_ok:.4g} "
               f"(t <= {x_ok / delta:.4g} μs): shorten the time range")
