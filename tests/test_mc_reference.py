"""Checks of the independent Monte Carlo reference (``tests/mc_reference.py``)
against closed forms and exact numerical results written here.

Nothing from ``bayesmusr`` is used.  Statistical checks require agreement
within ``Z_MAX = 4`` standard errors at every time point; all generators are
seeded, so the outcomes are deterministic.
"""

import math

import numba
import numpy as np
import pytest
from scipy import integrate

try:  # works whether or not tests/ is a package
    from . import mc_reference as mc
except ImportError:
    import mc_reference as mc

Z_MAX = 4.0
DELTA = 1.0
N = 500_000  # muons per run: stderr <~ 1e-3


# --------------------------------------------------------------------------
# closed forms / exact numerics written independently here
# --------------------------------------------------------------------------
def static_kt_zf(t, delta):
    """Static Gaussian Kubo-Toyabe function in zero field."""
    x = (delta * np.asarray(t, dtype=float)) ** 2
    return 1.0 / 3.0 + 2.0 / 3.0 * (1.0 - x) * np.exp(-x / 2.0)


def _lf_integrand(bp, bz, t, delta, omega_l):
    """Density x [cos^2 theta + sin^2 theta cos(|omega| t)] in (b_perp, b_z)."""
    wz = bz + omega_l
    w2 = wz * wz + bp * bp
    pz = math.exp(-bz * bz / (2.0 * delta**2)) / math.sqrt(2.0 * math.pi * delta**2)
    pp = bp / delta**2 * math.exp(-bp * bp / (2.0 * delta**2))
    if w2 == 0.0:
        return pz * pp
    return pz * pp * (wz * wz + bp * bp * math.cos(math.sqrt(w2) * t)) / w2


def static_lf_quadrature(t, delta, omega_l):
    """Exact static LF average by 2-D quadrature.

    ``G(t) = E_B[cos^2(theta) + sin^2(theta) cos(|omega| t)]`` with
    ``omega = B + omega_L z``, ``B ~ N(0, delta^2 I_3)``, written in
    cylindrical coordinates (``b_z`` Gaussian, ``b_perp`` Rayleigh) and
    integrated with :func:`scipy.integrate.dblquad` over +-9 delta.
    """
    lim = 9.0 * delta
    out = []
    for ti in np.atleast_1d(t):
        val, _ = integrate.dblquad(
            _lf_integrand, -lim, lim, 0.0, lim,
            args=(float(ti), delta, omega_l), epsabs=1e-8, epsrel=1e-8,
        )
        out.append(val)
    return np.array(out)


def abragam(t, delta, nu):
    """Fast-fluctuation (motional narrowing) approximation in zero field."""
    t = np.asarray(t, dtype=float)
    return np.exp(-2.0 * delta**2 / nu**2 * (np.expm1(-nu * t) + nu * t))


def dynamic_kt_volterra(t_max, delta, nu, h):
    """Strong-collision dynamic KT (ZF) from its renewal equation.

    ``G(t) = g(t) e^{-nu t} + nu * int_0^t g(s) e^{-nu s} G(t - s) ds`` with
    ``g`` the static ZF KT function, solved by the trapezoidal rule on a grid
    of step ``h`` (error O(h^2)).
    """
    n = int(round(t_max / h))
    t = np.arange(n + 1) * h
    k = static_kt_zf(t, delta) * np.exp(-nu * t)
    g = np.empty(n + 1)
    g[0] = 1.0
    for m in range(1, n + 1):
        s = np.dot(k[1:m], g[m - 1:0:-1]) + 0.5 * k[m] * g[0]
        g[m] = (k[m] + nu * h * s) / (1.0 - 0.5 * nu * h * k[0])
    return t, g


def max_z(dev, err):
    """Largest |dev| / err; points with err == 0 must have dev == 0."""
    dev = np.abs(np.asarray(dev))
    err = np.asarray(err)
    zero = err == 0.0
    assert np.all(dev[zero] < 1e-12)
    return float(np.max(dev[~zero] / err[~zero])) if np.any(~zero) else 0.0


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------
def test_static_zf_kubo_toyabe():
    t = np.linspace(0.0, 6.0, 31) / DELTA
    g, e = mc.simulate_ea(t, DELTA, 0.0, 0.0, 0.3, n_muons=N, seed=1)
    assert g[0] == 1.0 and e[0] == 0.0
    assert max_z(g - static_kt_zf(t, DELTA), e) < Z_MAX


def test_static_lf_against_quadrature():
    omega_l = 1.5 * DELTA
    t = np.array([0.25, 0.7, 1.2, 1.8, 2.5, 3.5, 5.0]) / DELTA
    g, e = mc.simulate_ea(t, DELTA, 0.0, 0.0, 0.6, omega_l=omega_l,
                          n_muons=N, seed=2)
    exact = static_lf_quadrature(t, DELTA, omega_l)
    # sanity of the quadrature itself: omega_L = 0 reproduces the ZF formula
    zf = static_lf_quadrature(t[:3], DELTA, 0.0)
    np.testing.assert_allclose(zf, static_kt_zf(t[:3], DELTA), atol=1e-7)
    assert max_z(g - exact, e) < Z_MAX


def test_fast_fluctuation_limit():
    # nu / Delta = 20.  The Abragam form is an approximation to the strong-
    # collision process: solving the exact renewal equation (trapezoid with
    # h = 5e-4 and 2.5e-4, Richardson-extrapolated) gives
    # max_t<=10/Delta |G_exact - G_Abragam| = 9.0e-4 at nu/Delta = 20,
    # growing with t (an O((Delta/nu)^2) relative correction to the rate).
    # Tolerance: Z_MAX * stderr + 2e-3 (over twice that systematic).
    nu = 20.0 * DELTA
    t = np.linspace(0.0, 8.0, 17) / DELTA
    g, e = mc.simulate_dynamic_kt(t, DELTA, nu, n_muons=N, seed=3)
    dev = np.abs(g - abragam(t, DELTA, nu))
    assert np.all(dev <= Z_MAX * e + 2e-3), np.max(dev - Z_MAX * e)


def test_dynamic_kt_against_renewal_equation():
    # intermediate rate, where no approximation holds: exact renewal equation
    nu = 1.0 * DELTA
    tg, gv = dynamic_kt_volterra(6.0 / DELTA, DELTA, nu, 0.01 / DELTA)
    idx = np.arange(0, tg.size, 30)
    g, e = mc.simulate_dynamic_kt(tg[idx], DELTA, nu, n_muons=N, seed=4)
    assert max_z(g - gv[idx], e) < Z_MAX


def test_q0_equals_q1_with_rates_swapped():
    t = np.linspace(0.0, 6.0, 25) / DELTA
    nu = 0.8 * DELTA
    # Q = 0, (nu_i, nu_mu) = (0, nu)  vs  Q = 1, (nu_i, nu_mu) = (nu, 0)
    g0, e0 = mc.simulate_ea(t, DELTA, 0.0, nu, 0.0, n_muons=N, seed=5)
    g1, e1 = mc.simulate_ea(t, DELTA, nu, 0.0, 1.0, n_muons=N, seed=6)
    assert max_z(g0 - g1, np.hypot(e0, e1)) < Z_MAX
    # Q = 0 ignores ion jumps; Q = 1 depends only on nu_i + nu_mu
    g2, e2 = mc.simulate_ea(t, DELTA, 3.0, nu, 0.0, n_muons=N, seed=7)
    g3, e3 = mc.simulate_ea(t, DELTA, 0.3 * nu, 0.7 * nu, 1.0,
                            n_muons=N, seed=8)
    assert max_z(g2 - g1, np.hypot(e2, e1)) < Z_MAX
    assert max_z(g3 - g1, np.hypot(e3, e1)) < Z_MAX


def test_determinism_and_bookkeeping():
    t = np.array([3.0, 0.0, 1.5, 0.4, 2.2, 5.0])
    args = (DELTA, 0.7, 0.4, 0.5)
    kw = dict(omega_l=0.5, n_muons=3 * mc.CHUNK + 17)
    a = mc.simulate_ea(t, *args, seed=11, **kw)
    b = mc.simulate_ea(t, *args, seed=11, **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # different seed -> different sample
    c = mc.simulate_ea(t, *args, seed=12, **kw)
    assert not np.array_equal(a[0], c[0])
    # independent of thread count
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        d = mc.simulate_ea(t, *args, seed=11, **kw)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a[0], d[0])
    # caller's order and shape are kept
    order = np.argsort(t)
    s = mc.simulate_ea(t[order], *args, seed=11, **kw)
    np.testing.assert_array_equal(s[0], a[0][order])
    m = mc.simulate_ea(t.reshape(2, 3), *args, seed=11, **kw)
    assert m[0].shape == (2, 3)
    np.testing.assert_array_equal(m[0].ravel(), a[0])
    assert a[0][1] == 1.0 and a[1][1] == 0.0  # t = 0
    assert np.all(np.abs(a[0]) <= 1.0) and np.all(a[1] >= 0.0)


def test_input_validation():
    for bad in (
        dict(t=[-1.0]),
        dict(q=1.5),
        dict(nu_i=-1.0),
        dict(delta=-1.0),
        dict(n_muons=1),
    ):
        kw = dict(t=[1.0], delta=1.0, nu_i=0.0, nu_mu=0.0, q=0.0, n_muons=10)
        kw.update(bad)
        with pytest.raises(ValueError):
            mc.simulate_ea(**kw)
