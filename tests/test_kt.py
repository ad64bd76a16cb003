"""Kubo-Toyabe family: analytic facts, independent quadrature, convergence, limits.

Tolerances are stated next to each check.  The independent Monte Carlo
comparison lives in tests/test_kt_mc.py.
"""
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

import bayesmusr as bm
from bayesmusr.physics import _kernels
from bayesmusr.physics.kt import OMEGA_PER_MT, _dynamic_kt_scaled, _kt_step, _static_kt_grid, _static_kt_scaled


# ---------------------------------------------------------------- static KT
def test_static_zf_closed_form_and_limits():
    t = np.linspace(0, 40, 4001)
    g = bm.static_kt(t, 0.5)
    x = 0.5 * t
    assert np.allclose(g, 1 / 3 + 2 / 3 * (1 - x**2) * np.exp(-(x**2) / 2), atol=1e-15, rtol=0)
    assert g[0] == 1.0
    assert abs(g[-1] - 1 / 3) < 1e-12  # Δt = 20: tail at 1/3


def test_static_zf_minimum_at_sqrt3():
    res = minimize_scalar(lambda x: float(bm.static_kt([x], 1.0)[0]), bounds=(1, 3), method="bounded",
                          options={"xatol": 1e-10})
    assert abs(res.x - math.sqrt(3)) < 1e-5
    assert abs(res.fun - (1 / 3 - 4 / 3 * math.exp(-1.5))) < 1e-12


@pytest.mark.parametrize("w", [0.02, 0.3, 0.49, 0.51, 1.0, 3.0, 17.0, 100.0])
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_static_lf_against_quadrature(w):
    """Hayano LF formula with the integral done by adaptive quadrature (independent of wofz/series)."""
    for x in [0.3, 1.0, 2.5, 6.0, 15.0]:
        # the quadrature reference loses digits as 1/w³: compare at 1e-9 absolute for w ≥ 0.3,
        # and against the E_B average form (no cancellation) for the small field
        if w < 0.1:
            ref = _lf_static_by_field_average(x, w)
        else:
            j = quad(lambda u: math.exp(-u * u / 2) * math.sin(w * u), 0, x, limit=500,
                     epsabs=1e-14, epsrel=1e-13)[0]
            ref = 1 - (2 / w**2) * (1 - math.exp(-x * x / 2) * math.cos(w * x)) + (2 / w**3) * j
        got = float(_static_kt_scaled(np.array([x]), w)[0])
        assert abs(got - ref) < 1e-9, (x, w, got, ref)


def _lf_static_by_field_average(x, w):
    """E_B[cos²θ + sin²θ cos(|ω|x)] over B ~ N(0, I₃) + w ẑ, by 2-D quadrature in (B_z, B_⊥)."""

    def inner(bz):
        def f(bp):
            omega = math.hypot(bz + w, bp)
            c2 = (bz + w) ** 2 / omega**2 if omega > 0 else 1.0
            dens = bp * math.exp(-bp * bp / 2)  # 2-D radial density of B_⊥ (normalised)
            return dens * (c2 + (1 - c2) * math.cos(omega * x))

        return quad(f, 0, 12, limit=400, epsabs=1e-13)[0] * math.exp(-bz * bz / 2) / math.sqrt(2 * math.pi)

    return quad(inner, -12, 12, limit=400, epsabs=1e-12)[0]


def test_static_lf_smooth_zero_field_limit():
    x = np.linspace(0, 25, 501)
    zf = _static_kt_scaled(x, 0.0)
    for w in [1e-8, 1e-5, 1e-3]:
        # G(w) − G(0) = O(w²): the difference must shrink quadratically
        assert np.max(np.abs(_static_kt_scaled(x, w) - zf)) < 2 * w**2 + 1e-15
    # continuity across the series/Faddeeva switch at w = 0.5
    below = _static_kt_scaled(x, 0.5 - 1e-12)
    above = _static_kt_scaled(x, 0.5)
    assert np.max(np.abs(below - above)) < 1e-12


def test_high_lf_decouples_to_one():
    t = np.linspace(0, 20, 201)
    for b in [50.0, 500.0]:  # ω/Δ = 142, 1420 for Δ = 0.3
        g = bm.static_kt(t, 0.3, b_lf=b)
        w = OMEGA_PER_MT * b / 0.3
        assert np.min(g) > 1 - 4 / w**2  # the 2Δ²/ω² bound
    # dynamic: relaxation rate 2Δ²ν/(ω²+ν²) ≈ 5e-7 μs⁻¹, so G stays within 1e-4 of 1 up to 20 μs,
    # and Keren's formula is accurate when ω ≫ Δ
    g = bm.dynamic_kt(t, 0.3, 0.5, b_lf=500.0)
    assert np.min(g) > 1 - 1e-4
    assert np.max(np.abs(g - bm.keren(t, 0.3, 0.5, b_lf=500.0))) < 3e-6


# --------------------------------------------------------------- dynamic KT
def test_dynamic_g0_is_one_and_nu0_is_static():
    t = np.array([0.0, 0.7, 3.0, 9.0])
    for b in [0.0, 1.0]:
        assert bm.dynamic_kt(t, 0.4, 1.3, b)[0] == pytest.approx(1.0, abs=1e-14)
        assert np.allclose(bm.dynamic_kt(t, 0.4, 0.0, b), bm.static_kt(t, 0.4, b), atol=0, rtol=0)


def test_dynamic_any_order_and_shape():
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 20, size=(7, 5))
    g = bm.dynamic_kt(t, 0.35, 0.8, 1.0)
    assert g.shape == t.shape
    order = np.argsort(t.ravel())
    g_sorted = bm.dynamic_kt(t.ravel()[order], 0.35, 0.8, 1.0)
    assert np.array_equal(g.ravel()[order], g_sorted)


# grid of points, including the hard corners: large ν/Δ, large ω/Δ, long times
CORNERS = [(0.0, 0.05), (0.0, 1.0), (0.0, 7.0), (0.0, 60.0), (0.0, 1000.0), (2.0, 0.5),
           (10.0, 3.0), (100.0, 0.2), (100.0, 100.0), (100.0, 1000.0), (30.0, 300.0), (0.7, 0.7)]


@pytest.mark.parametrize("w,v", CORNERS)
def test_dynamic_step_halving_shows_1e5_accuracy(w, v):
    """Richardson-extrapolated result at h vs h/4: the difference bounds the error (O(h⁴) scheme).

    If the scheme converges as h⁴, err(h) ≈ |G_h − G_{h/4}| · 256/255; we require ≤ 1e-5 and
    check the ratio of successive differences shows the convergence is real (≥ 6, ideal 16)
    whenever the differences are above round-off.
    """
    x = np.linspace(0, 30, 241)
    h = _kt_step(w, v)
    a = _dynamic_kt_scaled(x, w, v)
    b = _dynamic_kt_scaled(x, w, v, step=h / 2)
    c = _dynamic_kt_scaled(x, w, v, step=h / 4)
    d_ab = np.max(np.abs(a - b))
    d_bc = np.max(np.abs(b - c))
    assert np.max(np.abs(a - c)) < 1e-5
    if d_bc > 1e-12:
        assert d_ab / d_bc > 6.0


def test_dynamic_against_scipy_ode_reference_zf():
    """Independent solution of the same equation: the strong-collision model as a linear ODE system
    on a discretised field distribution is not exact, so instead compare with a brute-force
    trapezoid Volterra solve at a very fine step, written here in plain numpy (h = 1e-3/Δ).
    """
    delta, nu = 1.0, 2.0
    h = 1e-3
    n = 6001
    s = np.arange(n) * h
    g = 1 / 3 + 2 / 3 * (1 - s**2) * np.exp(-(s**2) / 2)
    f = g * np.exp(-nu * s)
    G = np.empty(n)
    G[0] = 1.0
    for i in range(1, n):
        conv = np.dot(f[1:i], G[i - 1:0:-1]) + 0.5 * f[i] * G[0]
        G[i] = (f[i] + nu * h * conv) / (1 - 0.5 * nu * h * f[0])
    # trapezoid error ~ h² → ≲ 1e-6 here
    got = bm.dynamic_kt(s[::500], delta, nu)
    assert np.max(np.abs(got - G[::500])) < 3e-6


def test_fast_fluctuation_approaches_keren():
    t = np.linspace(0, 20, 201)
    for nu, tol in [(10.0, 2e-3), (50.0, 4e-4), (300.0, 6e-5)]:
        assert np.max(np.abs(bm.dynamic_kt(t, 0.5, nu) - bm.keren(t, 0.5, nu))) < tol
        assert np.max(np.abs(bm.dynamic_kt(t, 0.5, nu, 2.0) - bm.keren(t, 0.5, nu, 2.0))) < tol


def test_keren_zf_is_abragam_and_matches_real_form():
    t = np.linspace(0, 10, 101)
    delta, nu = 0.4, 3.0
    abragam = np.exp(-(2 * delta**2 / nu**2) * (np.exp(-nu * t) - 1 + nu * t))
    assert np.allclose(bm.keren(t, delta, nu), abragam, atol=1e-14)
    w = OMEGA_PER_MT * 2.0
    v = nu
    real_form = (2 * delta**2 / (w**2 + v**2) ** 2) * (
        (w**2 + v**2) * v * t + (w**2 - v**2) * (1 - np.exp(-v * t) * np.cos(w * t))
        - 2 * v * w * np.exp(-v * t) * np.sin(w * t))
    assert np.allclose(bm.keren(t, delta, nu, 2.0), np.exp(-real_form), atol=1e-13)
    # small-argument branch agrees with the direct form where both are accurate
    assert np.allclose(bm.keren([1e-4, 3e-3], 1.0, 1.0), np.exp(-(2 / 1) * (np.exp(-np.array([1e-4, 3e-3])) - 1
                                                                              + np.array([1e-4, 3e-3]))), rtol=1e-9)


# ------------------------------------------------------- numba equals numpy
def test_numba_and_python_paths_agree():
    rng = np.random.default_rng(7)
    f = rng.normal(size=300)
    fc = f + 1j * rng.normal(size=300)
    for nu, h in [(0.0, 0.05), (0.3, 0.05), (40.0, 0.01)]:
        assert np.allclose(_kernels.renewal(f, nu, h), _kernels.renewal.py_func(f, nu, h), rtol=1e-12, atol=1e-12)
        assert np.allclose(_kernels.renewal(fc, nu, h), _kernels.renewal.py_func(fc, nu, h), rtol=1e-12, atol=1e-12)
    x = rng.uniform(0, 14.9, 50)
    y = np.sin(np.arange(300) * 0.05)
    assert np.allclose(_kernels.cubic_uniform(y, 0.05, x), _kernels.cubic_uniform.py_func(y, 0.05, x))
    assert np.allclose(_kernels.cubic_uniform(y, 0.05, x), np.sin(x), atol=1e-7)


def test_simd_dot_and_reversed_renewal_sum_match_sequential_sums():
    """The renewal's convolution is a reassociated dot product: equal to the sequential sum to rounding."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=487), rng.normal(size=487)
    assert _kernels.dot(a, b) == pytest.approx(float(np.sum(a * b)), rel=1e-12, abs=1e-12)
    ac = a + 1j * rng.normal(size=487)
    assert abs(_kernels.dot(ac, b) - np.sum(ac * b)) < 1e-12
    # the renewal against its definition written out as a plain (unreversed) sum, in numpy
    f, nu, h = np.exp(-0.3 * np.arange(200) * 0.05), 0.8, 0.05
    w0, w1 = (h * w for w in _kernels.product_weights(nu * h))
    g = np.empty_like(f)
    g[0] = f[0]
    for n in range(1, f.size):
        k = np.arange(1, n)
        conv = np.sum(nu * f[k] * (np.exp(-nu * h * k) * w0 + np.exp(-nu * h * (k - 1)) * w1) * g[n - k])
        conv += nu * np.exp(-nu * h * (n - 1)) * w1 * f[n] * g[0]
        g[n] = (np.exp(-nu * h * n) * f[n] + conv) / (1.0 - nu * f[0] * w0)
    assert np.allclose(_kernels.renewal(f, nu, h), g, rtol=0, atol=1e-13)


def test_static_kt_on_the_solver_grid_matches_the_faddeeva_form():
    """`_static_kt_grid` (recurrence, Simpson substeps) against `_static_kt_scaled` (Faddeeva) to 1e-10."""
    for w in (0.5, 0.8, 2.84, 8.5, 19.9, 20.0, 60.0, 499.0):
        hy = 0.5 * _kt_step(w, 0.0)
        n = int(42.0 / hy) + 1
        err = np.max(np.abs(_static_kt_grid(hy, n, w) - _static_kt_scaled(np.arange(n) * hy, w)))
        assert err < 1e-10, (w, err)  # measured ≤ 3.8e-11 (w = 0.5)
    assert np.array_equal(_static_kt_grid(0.02, 50, 0.3), _static_kt_scaled(np.arange(50) * 0.02, 0.3))


# ----------------------------------------------------------- input checking
@pytest.mark.parametrize("func,args,name", [
    (bm.static_kt, (-0.1,), "delta"),
    (bm.static_kt, (float("nan"),), "delta"),
    (bm.static_kt, (0.3, -1.0), "b_lf"),
    (bm.dynamic_kt, (0.3, -2.0), "nu"),
    (bm.dynamic_kt, (0.3, float("nan")), "nu"),
    (bm.keren, (0.3, 1.0, float("inf")), "b_lf"),
    (bm.keren, ("abc", 1.0), "delta"),
])
def test_bad_parameters_name_the_argument(func, args, name):
    with pytest.raises(ValueError, match=name):
        func([0.0, 1.0], *args)


def test_bad_times():
    with pytest.raises(ValueError, match="t must be finite"):
        bm.dynamic_kt([0.0, float("nan")], 0.3, 1.0)
    with pytest.raises(ValueError, match="t must be >= 0"):
        bm.static_kt([-1.0, 1.0], 0.3)
