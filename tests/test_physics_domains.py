"""Physical domains and integrity of bayesmusr.physics (issue 16).

* bad inputs: every public relaxation function refuses each class of bad argument (type,
  finiteness, range) with a ValueError whose message names the function, the argument and
  the value;
* asymptotic forms: each is compared with an independent reference — the exact function
  just inside the edge where it takes over, or an analytic limit — with the tolerance stated;
* the survey's extreme values (b_lf = 1e6 and 1e300 mT, Δ = 1e300, ν = 1e300, t up to
  1e6 μs) run under a SIGALRM time limit and with floating-point overflow, invalid
  operations and division by zero turned into errors;
* work limits: refused before any work, and the reach the message states is honest;
* EA table integrity: the checksum covers values, scale, offset, axes and attributes.
"""
from __future__ import annotations

import contextlib
import importlib
import math
import re
import shutil
import signal
import warnings

import netCDF4
import numpy as np
import pytest
import xarray as xr
from scipy.integrate import quad
from scipy.special import dawsn

import bayesmusr as bm
from bayesmusr.physics import _kernels, constants, domain, kt, tables
from bayesmusr.physics.kt import OMEGA_PER_MT

# the package namespace's `ea` is the table function, so the module comes from the import system
ea_mod = importlib.import_module("bayesmusr.physics.ea")
T = np.linspace(0.0, 10.0, 21)


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail (TimeoutError) instead of hanging: the survey's calls used to run for hours."""
    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def strict_float():
    """Overflow, invalid operations (NaN) and division by zero raise; underflow to 0 is fine."""
    with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


# ------------------------------------------------------------------------------ bad inputs
FUNCS = {
    "static_kt": (bm.static_kt, {"delta": 0.3, "b_lf": 1.0}),
    "dynamic_kt": (bm.dynamic_kt, {"delta": 0.3, "nu": 0.5, "b_lf": 1.0}),
    "keren": (bm.keren, {"delta": 0.3, "nu": 0.5, "b_lf": 1.0}),
    "ea": (bm.ea, {"delta": 0.3, "nu_i": 0.5, "nu_mu": 0.02, "q": 0.8, "b_lf": 1.0}),
    "ea_direct": (bm.ea_direct, {"delta": 0.3, "nu_i": 0.5, "nu_mu": 0.02, "q": 0.8, "b_lf": 1.0}),
}
BAD_SCALARS = [("string", "abc"), ("numeric string", "0.3"), ("bool", True), ("complex", 1 + 2j),
               ("list", [0.3]), ("array", np.array([0.3, 0.4])), ("None", None), ("nan", math.nan),
               ("inf", math.inf), ("-inf", -math.inf), ("negative", -0.1)]
ABOVE = {"delta": 1e300, "nu": 1e300, "nu_i": 1e300, "nu_mu": 1e300, "b_lf": 1e300, "q": 1.5}
LIMIT_TEXT = {"delta": "1e+06", "nu": "1e+12", "nu_i": "1e+12", "nu_mu": "1e+12", "b_lf": "1e+09", "q": "[0, 1]"}


def _scalar_cases():
    for fname, (_, kwargs) in FUNCS.items():
        for arg in kwargs:
            for label, bad in BAD_SCALARS + [("above the domain", ABOVE[arg])]:
                yield pytest.param(fname, arg, bad, id=f"{fname}-{arg}-{label}")


@pytest.mark.parametrize("fname, arg, bad", list(_scalar_cases()))
def test_bad_scalar_argument_is_refused_naming_function_argument_and_value(fname, arg, bad):
    func, kwargs = FUNCS[fname]
    with pytest.raises(ValueError) as err:
        func(T, **{**kwargs, arg: bad})
    msg = str(err.value)
    assert msg.startswith(f"{fname}: {arg} must"), msg
    assert repr(bad)[:40] in msg, msg  # the value as given
    if bad is ABOVE[arg]:
        assert LIMIT_TEXT[arg] in msg  # the limit it crossed


BAD_TIMES = [("strings", ["a"], "t must be a number"), ("numeric strings", ["1.5"], "t must be a number"),
             ("None", None, "t must be a number"), ("ragged", [[0.0, 1.0], [2.0]], "t must be a number"),
             ("complex", [1 + 1j], "t must be a number"), ("bools", [True, False], "t must be a number"),
             ("nan", [0.0, math.nan], "t must be finite"), ("inf", [0.0, math.inf], "t must be finite"),
             ("negative", [-1.0, 1.0], "t must be >= 0"), ("beyond 1e6 us", [0.0, 2e6], "t must be <= 1e+06")]


@pytest.mark.parametrize("fname", FUNCS)
@pytest.mark.parametrize("label, bad, phrase", BAD_TIMES, ids=[c[0] for c in BAD_TIMES])
def test_bad_times_are_refused_naming_t(fname, label, bad, phrase):
    func, kwargs = FUNCS[fname]
    with pytest.raises(ValueError, match=re.escape(f"{fname}: {phrase}")):
        func(bad, **kwargs)


def test_good_argument_types_still_work():
    """ints, numpy scalars, 0-d arrays and lists of ints are numbers; scalars give 0-d results as before."""
    ref = bm.static_kt(np.array([0.0, 1.0, 2.0]), 0.3, 1.0)
    for t, delta, b in [([0, 1, 2], np.float64(0.3), np.int64(1)), ((0, 1.0, 2), np.array(0.3), 1),
                        (np.array([0, 1, 2], dtype=np.int32), np.array([0.3])[0], np.uint8(1))]:
        assert np.array_equal(bm.static_kt(t, delta, b), ref)
    assert bm.dynamic_kt(1.0, 0.3, 0.5).shape == ()
    assert bm.ea(np.array([], dtype=float), 0.3, 0.5, 0.02, 0.8).shape == (0,)


@pytest.mark.parametrize("kwargs, arg", [
    ({"temperature": "300"}, "temperature"), ({"temperature": 0.0}, "temperature"),
    ({"temperature": -5.0}, "temperature"), ({"temperature": [300.0, math.nan]}, "temperature"),
    ({"log10_nu0_per_s": math.nan}, "log10_nu0_per_s"), ({"log10_nu0_per_s": "12"}, "log10_nu0_per_s"),
    ({"energy_eV": math.inf}, "energy_eV"), ({"energy_eV": None}, "energy_eV"),
])
def test_arrhenius_bad_inputs_name_the_argument(kwargs, arg):
    args = {"temperature": 300.0, "log10_nu0_per_s": 12.0, "energy_eV": 0.35, **kwargs}
    with pytest.raises(ValueError, match=f"arrhenius: {arg} must"):
        constants.arrhenius(**args)


def test_arrhenius_refuses_overflow_and_is_unchanged_inside():
    with strict_float():
        for args in [(1.0, 12.0, -1.0), (300.0, 400.0, 0.0), (1e-3, -300.0, -0.1)]:  # e^{11604}, 10^394, e^{1160}
            with pytest.raises(ValueError, match="energy_eV and temperature give a rate that overflows"):
                constants.arrhenius(*args)
        temps = np.array([10.0, 100.0, 300.0])
        got = constants.arrhenius(temps, 12.0, 0.35)
        assert np.array_equal(got, 10.0 ** (12.0 - 6.0) * np.exp(-0.35 / (constants.K_B_EV * temps)))
        assert constants.arrhenius(5.0, 13.0, 0.4) == 0.0  # underflow to 0 is the right answer, not an error


@pytest.mark.parametrize("call, arg", [
    (lambda: tables.check_table(n_points=0), "n_points"),
    (lambda: tables.check_table(n_points=2, seed=-1), "seed"),
    (lambda: tables.check_table(n_points=2, workers=0), "workers"),
    (lambda: tables.build_table("unused.nc", grid="small", workers=True), "workers"),
    (lambda: bm.ea(T, 0.3, 0.5, 0.02, 0.8, table=123), "table"),
    (lambda: tables.load_table(3.5), "path"),
    (lambda: ea_mod.radial_quadrature(1.0, 0.0), "q"),
    (lambda: ea_mod.radial_quadrature(0.5, 0.0, n_r=10**6), "n_r"),
    (lambda: ea_mod.radial_nodes(0.5, math.nan, 20.0), "w"),
    (lambda: ea_mod.kernels(np.arange(3.0), -1.0, 0.5), "r"),
    (lambda: ea_mod.ea_static_scaled(0.0, 10, 1.0, 0.5, 0.0), "dx"),
    (lambda: ea_mod.ea_static_scaled(0.02, 0, 1.0, 0.5, 0.0), "n_out"),
    (lambda: ea_mod.ea_static_scaled(0.02, 10, 1.0, 1.5, 0.0), "q"),
    (lambda: ea_mod.muon_renewal(np.ones(10), math.nan, 0.02), "v_mu"),
    (lambda: ea_mod.fast_ion_limit(np.arange(3.0), 1.0, 2.0, 0.0), "q"),
    (lambda: bm.ea_direct(T, 0.3, 0.5, 0.02, 0.8, dx=-0.01), "dx"),
    (lambda: bm.ea_direct(T, 0.3, 0.5, 0.02, 0.8, n_r=5000), "n_r"),
    (lambda: tables.reference_factor(0.04, 10, 1.0, math.nan, 0.0), "q"),
])
def test_other_public_physics_functions_validate(call, arg):
    with pytest.raises(ValueError, match=rf"\b{arg} must"):
        call()


def test_interpolate_g0_refuses_to_extrapolate():
    tab = tables.load_table()
    with pytest.raises(ValueError, match="v must"):
        tables.interpolate_g0(tab, tab.nu_max * 1.5, 0.5, 1.0, 10)
    with pytest.raises(ValueError, match="w must"):
        tables.interpolate_g0(tab, 1.0, 0.5, tab.omega_max * 2, 10)


# ------------------------------------------------------------- the survey's extreme values
def test_survey_values_answer_at_once_without_overflow_or_nan():
    with time_limit(20), strict_float():
        for call, arg, limit in [(lambda: bm.static_kt(T, 0.3, b_lf=1e300), "b_lf", "1e+09"),
                                 (lambda: bm.static_kt(T, delta=1e300), "delta", "1e+06"),
                                 (lambda: bm.dynamic_kt(T, 0.3, 1e300), "nu", "1e+12"),
                                 (lambda: bm.ea(["a"], 0.3, 0.5, 0.02, 0.8), "t", "number")]:
            with pytest.raises(ValueError) as err:
                call()
            assert f" {arg} must" in str(err.value) and limit in str(err.value)
        # b_lf = 1e6 mT: ω_L/Δ = 2.8e6, every function computes (it used to hang in dynamic_kt and ea_direct)
        d, omega = 0.3, OMEGA_PER_MT * 1e6
        assert np.array_equal(bm.static_kt(T, d, 1e6), np.ones_like(T))  # |1 − G| ≤ 4Δ²/ω² + … < 1e-12

        def secular(parts):  # the high-field decay exp[−2Δ² Σ c ν t/(ω² + ν²)]; the rest is ≤ 4Δ²/ω² = 5e-13
            return np.exp(-2 * d**2 * sum(c * nu * T / (omega**2 + nu**2) for c, nu in parts))

        for g, parts in [(bm.dynamic_kt(T, d, 0.5, 1e6), [(1.0, 0.5)]), (bm.keren(T, d, 0.5, 1e6), [(1.0, 0.5)]),
                         (bm.ea_direct(T, d, 0.5, 0.02, 0.8, 1e6), [(0.2, 0.02), (0.8, 0.52)])]:
            assert np.max(np.abs(g - secular(parts))) <= 4 * d**2 / omega**2
        # the table does not reach it and says so
        with pytest.raises(ValueError, match="omega_L/delta = 2.839e\\+06"):
            bm.ea(T, 0.3, 0.5, 0.02, 0.8, 1e6)


def test_survey_times_up_to_a_second():
    t = np.array([0.0, 1.0, 1e3, 1e6])
    with time_limit(20), strict_float():
        assert np.array_equal(bm.static_kt(t, 0.3), [1.0, bm.static_kt(1.0, 0.3), 1 / 3, 1 / 3])
        # Abragam in ZF, computed independently: Γt = 2Δ²/ν² (e^{−νt} − 1 + νt)
        d, nu = 0.3, 0.5
        ref = np.exp(-2 * d**2 / nu**2 * (np.exp(-nu * t) - 1 + nu * t))
        assert np.allclose(bm.keren(t, d, nu), ref, rtol=1e-13, atol=1e-300)
        for call, phrase in [(lambda: bm.dynamic_kt(t, d, nu), "dynamic_kt: delta \\* t_max = 3e\\+05"),
                             (lambda: bm.ea(t, d, nu, 0.02, 0.8), "ea: delta \\* t_max = 3e\\+05"),
                             (lambda: bm.ea_direct(t, d, nu, 0.02, 0.8), "ea_direct: delta \\* t_max = 3e\\+05")]:
            with pytest.raises(ValueError, match=phrase):
                call()


def test_fastest_allowed_rate_is_the_abragam_limit():
    """ν = 1e12 μs⁻¹ (the domain's end): dynamic KT = Keren = exp[−2Δ²(νt − 1)/ν²] for νt ≫ 1, to 1e-15."""
    t = np.array([1e-3, 1.0, 1e3, 1e6])
    d, nu = 0.3, 1e12
    ref = np.exp(-2 * d**2 * (t / nu - 1 / nu**2))  # e^{−νt} = 0 for these t
    with strict_float():
        for func in (bm.dynamic_kt, bm.keren):
            assert np.max(np.abs(func(t, d, nu) - ref)) < 1e-15
        assert np.max(np.abs(bm.ea(t[:2], d, 0.5, nu, 0.8) - ref[:2])) < 1e-15  # ν_μ ≫: both parts narrowed


# ------------------------------------------------------------------------ asymptotic forms
def _static_limit(w: float) -> float:
    """G(t → ∞) of the static LF KT: 1 − 2/w² + (2/w³) J(∞), J(∞) = √2 D(w/√2) (Dawson), w = ω_L/Δ."""
    if w == 0.0:
        return 1.0 / 3.0
    return 1.0 - 2.0 / w**2 + (2.0 / w**3) * math.sqrt(2.0) * dawsn(w / math.sqrt(2.0))


@pytest.mark.parametrize("w, tol", [(0.0, 1e-15), (0.3, 1e-12), (2.0, 1e-14), (40.0, 1e-15)])
def test_static_beyond_x_flat_is_the_analytic_t_to_infinity_limit(w, tol):
    """Beyond Δt = 40 the static KT is its t → ∞ value (Dawson-function reference).

    The series branch (w < 0.5) cancels 2/w² ≈ 22 against 1, hence 1e-12 at w = 0.3.
    """
    x = np.array([39.0, kt.X_FLAT, 1e3, 1e12])
    with strict_float():
        got = kt._static_kt_scaled(x, w)
        ref = _static_limit(w)
        assert np.max(np.abs(got - ref)) < tol
        assert got[0] == got[1] == got[3]  # just inside the edge: already the limit to the last bit
        b = w * 1e6 / OMEGA_PER_MT  # Δ = 1e6 μs⁻¹, t = 1e6 μs: Δt = 1e12, no overflow
        assert abs(float(bm.static_kt(1e6, 1e6, b)) - ref) < tol


def _hayano_by_quadrature(x: float, w: float) -> float:
    """Static LF KT with J = ∫₀ˣ e^{−u²/2} sin(wu) du by QUADPACK's oscillatory rule (independent of wofz)."""
    j = quad(lambda u: math.exp(-u * u / 2), 0.0, x, weight="sin", wvar=w, epsabs=1e-30, epsrel=1e-12)[0]
    return 1 - (2 / w**2) * (1 - math.exp(-x * x / 2) * math.cos(w * x)) + (2 / w**3) * j


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")  # QAWO at w = 2e6: J ~ 1/w is
# irrelevant here (it enters as 2J/w³ ~ 1e-25), the warning is about its last digits
def test_static_high_field_bound_and_fallback_at_the_edge():
    """|1 − G| ≤ 4/w² + 6/w⁴ (derived in kt's docstring); from w = 2e6 G = 1, within 1.0000015e-12."""
    for w in [10.0, 100.0, 1e3, 1e4]:
        x = np.linspace(0, 60, 3001)
        assert np.max(np.abs(1 - kt._static_kt_scaled(x, w))) <= 4 / w**2 + 6 / w**4
    edge = kt.W_STATIC_ONE
    bound = 4 / edge**2 + 6 / edge**4
    assert bound <= 1.0000015e-12
    for x in [0.5, 1.7, 6.0, 25.0]:
        ref = _hayano_by_quadrature(x, edge)
        assert abs(ref - 1.0) <= bound
        just_inside = float(kt._static_kt_scaled(np.array([x]), edge * (1 - 1e-9))[0])
        assert abs(just_inside - ref) < 1e-15
    delta = 0.3
    b_edge = edge * delta / OMEGA_PER_MT
    assert np.all(bm.static_kt(T, delta, b_edge * (1 + 1e-12)) == 1.0)
    assert np.max(np.abs(bm.static_kt(T, delta, b_edge * (1 - 1e-9)) - 1.0)) <= bound


@pytest.mark.parametrize("v", [0.05, 2.0])
def test_dynamic_keren_above_w500_against_volterra_just_inside(v):
    """From ω_L/Δ = 500 dynamic_kt is Keren's form: within 2/w² (+2e-6 Volterra error) of the exact solution."""
    x = np.linspace(0, 6, 61)
    w_in = kt.KEREN_FIELD_ABOVE * (1 - 1e-4)
    exact = kt._dynamic_kt_scaled(x, w_in, v)
    delta = 1.0
    keren_in = bm.keren(x, delta, v, w_in / OMEGA_PER_MT)
    assert np.max(np.abs(exact - keren_in)) <= 2 / w_in**2 + 2e-6
    b_edge = kt.KEREN_FIELD_ABOVE * (1 + 1e-12) / OMEGA_PER_MT  # ω_L/Δ = 500 after rounding
    at_edge = bm.dynamic_kt(x, delta, v, b_edge)
    assert np.array_equal(at_edge, bm.keren(x, delta, v, b_edge))
    assert np.max(np.abs(at_edge - exact)) <= 2 / w_in**2 + 2e-6  # no jump across the edge


@pytest.mark.parametrize("v, q, v_mu", [(0.3, 0.8, 0.02), (3.0, 0.3, 0.1)])
def test_ea_direct_high_field_form_against_the_construction_just_inside(v, q, v_mu):
    """From ω_L/Δ = 100 ea_direct is Keren's form of the EA correlation: within 2/w² of the construction."""
    x = np.linspace(0, 10, 101)
    w_in = ea_mod.KEREN_FIELD_ABOVE_EA * (1 - 1e-4)
    b_in = w_in / OMEGA_PER_MT
    construction = bm.ea_direct(x, 1.0, v, v_mu, q, b_in)
    form = ea_mod.fast_muon_limit(x, 1.0, v, v_mu, q, b_in)
    assert np.max(np.abs(construction - form)) <= 2 / w_in**2
    b_edge = ea_mod.KEREN_FIELD_ABOVE_EA * (1 + 1e-12) / OMEGA_PER_MT  # ω_L/Δ = 100 after rounding
    assert np.array_equal(bm.ea_direct(x, 1.0, v, v_mu, q, b_edge), ea_mod.fast_muon_limit(x, 1.0, v, v_mu, q, b_edge))


def test_tiny_delta_t_is_one_within_the_proven_bound():
    """Δ·t_max ≤ 1e-6: ea and ea_direct return 1; the bound 1 − G ≤ (Δt)² holds for the construction."""
    args = (0.5, 0.02, 0.8, 1.0)  # ν_i, ν_μ, Q, b_lf
    with strict_float():
        for func in (bm.ea, bm.ea_direct):
            assert np.array_equal(func(np.array([0.0, 1e-6]), 1.0, *args), [1.0, 1.0])
            assert np.array_equal(func(np.array([0.0, 1.0, 1e6]), 1e-300, *args), [1.0, 1.0, 1.0])  # Δ → 0
        for x_max in [2e-6, 1e-3, 0.1]:  # just inside the edge, and further: the construction obeys the bound
            x = np.linspace(0, x_max, 5)
            g = bm.ea_direct(x, 1.0, *args)
            assert np.all(1.0 - g <= x**2 + 1e-15)


def test_dynamic_and_static_with_vanishing_delta_stay_finite():
    with strict_float():
        for delta in [1e-300, 5e-324]:
            assert np.array_equal(bm.static_kt(T, delta, 1.0), np.ones_like(T))
            assert np.array_equal(bm.dynamic_kt(T, delta, 0.5, 1.0), np.ones_like(T))
            assert np.array_equal(bm.keren(T, delta, 0.5, 1.0), np.ones_like(T))


# ------------------------------------------------------------------------------ work limits
def test_renewal_cost_estimate_counts_the_kernel_loop_exactly():
    for n, nu_h in [(2, 0.1), (50, 0.0), (50, 1e-4), (50, 0.9), (300, 0.5), (1000, 20.0), (1000, 0.041)]:
        kmax = n if nu_h * n <= 42.0 else min(n, int(42.0 / nu_h) + 2)  # as in _kernels._renewal
        brute = 0 if nu_h == 0 else sum(min(m - 1, kmax) for m in range(1, n))
        assert _kernels.renewal_ops(n, nu_h) == brute


def test_steps_per_interval_equals_the_loop_it_replaced():
    rng = np.random.default_rng(16)
    cases = [(0.02, 25.0, 0.0), (0.02, 0.0, 100.0), (0.04, 12.5, 50.0), (0.1, 5.0, 20.0)]
    cases += [(float(dx), float(v), float(r)) for dx, v, r in
              zip(rng.uniform(1e-3, 0.1, 300), rng.exponential(50, 300), rng.exponential(100, 300))]
    for dx, v, r in cases:
        m = 1
        while (v * dx / m > ea_mod.MAX_VH) or (r * dx / m > ea_mod.MAX_RH):
            m += 1
        assert ea_mod._steps_per_interval(dx, v, r) == m, (dx, v, r)


def _stated_reach(message: str) -> float:
    return float(re.search(r"reaches delta \* t <= ([0-9.e+-]+)", message).group(1))


def test_dynamic_kt_work_limit_refuses_at_once_and_states_an_honest_reach(monkeypatch):
    with time_limit(5), pytest.raises(ValueError) as err:
        bm.dynamic_kt([0.0, 1e6], 0.3, 0.01)
    assert "shorten the time range" in str(err.value) and "t <= " in str(err.value)
    monkeypatch.setattr(domain, "MAX_RENEWAL_OPS", 1e8)  # a small limit, so the reach is cheap to test
    with pytest.raises(ValueError) as err:
        bm.dynamic_kt([0.0, 1e3], 1.0, 0.01)
    x_ok = _stated_reach(str(err.value))
    assert 10 < x_ok < 1e3
    assert np.isfinite(bm.dynamic_kt([0.0, 0.999 * x_ok], 1.0, 0.01)).all()
    with pytest.raises(ValueError, match="renewal operations"):
        bm.dynamic_kt([0.0, 1.01 * x_ok], 1.0, 0.01)


def test_ea_direct_work_limit_refuses_at_once_and_states_an_honest_reach(monkeypatch):
    with time_limit(5), pytest.raises(ValueError, match="ea_direct: delta \\* t_max = 1000"):
        bm.ea_direct([0.0, 1e3], 1.0, 0.5, 0.02, 0.5)
    monkeypatch.setattr(domain, "MAX_RENEWAL_OPS", 3e7)
    with pytest.raises(ValueError) as err:
        bm.ea_direct([0.0, 40.0], 1.0, 0.5, 0.02, 0.5)
    x_ok = _stated_reach(str(err.value))
    assert 0.5 < x_ok < 40
    assert np.isfinite(bm.ea_direct([0.0, 0.99 * x_ok], 1.0, 0.5, 0.02, 0.5)).all()
    with pytest.raises(ValueError, match="renewal operations"):
        bm.ea_direct([0.0, 1.02 * x_ok], 1.0, 0.5, 0.02, 0.5)


# ------------------------------------------------------------------------- table integrity
def _small_table(path):
    """A tiny, valid table written by the real writer (synthetic smooth counts: the checksum is what is tested)."""
    nu, q, w, x = tables.grid_axes("small")
    grid = np.meshgrid(np.arange(len(nu)), np.arange(len(q)), np.arange(len(w)), x, indexing="ij")
    counts = np.rint(30000 + 20000 * np.exp(-0.1 * grid[3]) * np.cos(0.3 * grid[0] + 0.2 * grid[1] + 0.1 * grid[2]))
    tables._write_table(path, counts.astype(np.uint16), nu, q, w, x, "small", -0.5, 3.0 / 65534)
    return path


def _edited(src, dst, edit):
    shutil.copy(src, dst)
    with netCDF4.Dataset(dst, "a") as nc:
        edit(nc)
    return dst


def _scale_up(nc):
    nc.setncattr("g0_scale", nc.getncattr("g0_scale") * 1.1)


TAMPERING = {
    "scale x 1.1": _scale_up,
    "offset + 1e-3": lambda nc: nc.setncattr("g0_offset", nc.getncattr("g0_offset") + 1e-3),
    "x axis shifted": lambda nc: nc.variables["x"].__setitem__(slice(None), nc.variables["x"][:] + 1e-3),
    "one omega node moved": lambda nc: nc.variables["omega"].__setitem__(2, nc.variables["omega"][2] * 1.01),
    "one q node moved": lambda nc: nc.variables["q"].__setitem__(1, nc.variables["q"][1] + 1e-9),
    "one nu_i node moved": lambda nc: nc.variables["nu_i"].__setitem__(3, nc.variables["nu_i"][3] * 1.001),
    "one count step": lambda nc: nc.variables["g0_steps"].__setitem__((1, 1, 1, 7),
                                                                      nc.variables["g0_steps"][1, 1, 1, 7] + 1),
    "grid attribute": lambda nc: nc.setncattr("grid", "standard"),
    "title attribute": lambda nc: nc.setncattr("title", "edited"),
    "new attribute": lambda nc: nc.setncattr("comment", "harmless?"),
    "variable attribute": lambda nc: nc.variables["x"].setncattr("units", "us"),
    "version": lambda nc: nc.setncattr("table_version", "2.1"),
    "checksum replaced": lambda nc: nc.setncattr("sha256", "0" * 64),
}


def test_small_table_round_trips_and_every_tampering_is_refused(tmp_path):
    good = _small_table(tmp_path / "good.nc")
    assert tables.load_table(good).data.shape == (6, 5, 6, 201)
    # a plain xarray round trip (what a user might do to inspect a table) keeps it valid
    copy = tmp_path / "copy.nc"
    xr.load_dataset(good).to_netcdf(copy)
    assert np.array_equal(tables.load_table(copy).data, tables.load_table(good).data)
    for i, (label, edit) in enumerate(TAMPERING.items()):
        bad = _edited(good, tmp_path / f"tampered_{i}.nc", edit)
        with pytest.raises(ValueError) as err:
            tables.load_table(bad)
        msg = str(err.value)
        assert str(bad) in msg, label
        assert "checksum mismatch" in msg, (label, msg)
        assert f"bayesmusr tables build --output {bad}" in msg, label


def test_table_without_the_whole_file_checksum_is_refused(tmp_path):
    good = _small_table(tmp_path / "good.nc")

    def counts_only(nc):  # what tables written before issue 16 carried
        nc.delncattr("sha256")
        nc.setncattr("sha256_g0_counts_uint16_le", "0" * 64)

    bad = _edited(good, tmp_path / "old_style.nc", counts_only)
    with pytest.raises(ValueError, match=r"no 'sha256' checksum attribute.*bayesmusr tables build --output"):
        tables.load_table(bad)


def test_shipped_table_verifies_and_a_tampered_copy_is_refused(tmp_path, monkeypatch):
    shipped = tables.DEFAULT_TABLE
    ds = xr.load_dataset(shipped)
    assert ds.attrs[tables.DIGEST_ATTR] == tables._digest(ds)
    assert ds.attrs["sha256_covers"] == tables.DIGEST_COVERS
    assert "checksum OK" in tables.describe_table()
    bad = _edited(shipped, tmp_path / "ea_g0_v2.nc", _scale_up)
    with pytest.raises(ValueError, match=re.escape(f"EA table {bad}: checksum mismatch")):
        tables.load_table(bad)
    # the same file in the shipped place: the message says how to restore it
    monkeypatch.setattr(tables, "DEFAULT_TABLE", bad)
    with pytest.raises(ValueError) as err:
        tables._load_cached.__wrapped__(str(bad))
    assert "git checkout -- bayesmusr/physics/data/ea_g0_v2.nc" in str(err.value)
    assert "reinstall bayesmusr" in str(err.value) and "bayesmusr tables build" in str(err.value)


def test_digest_depends_on_every_part_of_a_dataset():
    """The canonical serialisation tells apart what a naive one would merge (types, names, order of bytes)."""
    base = xr.Dataset({"a": ("x", np.array([1, 2], dtype=np.int16))}, coords={"x": ("x", [0.0, 1.0])},
                      attrs={"n": 1, "s": "1"})
    variants = [base.assign_attrs(n=1.0), base.assign_attrs(s=1), base.assign_attrs(n=2),
                base.assign(a=("x", np.array([1, 2], dtype=np.int32))),
                base.assign(a=("x", np.array([2, 1], dtype=np.int16))), base.rename({"a": "b"}),
                base.assign_coords(x=("x", [0.0, 1.0 + 1e-15]))]
    digests = {tables._digest(d) for d in [base] + variants}
    assert len(digests) == len(variants) + 1
    assert tables._digest(base.assign_attrs(sha256="anything")) == tables._digest(base)  # the digest itself is left out
