"""G^EA: deterministic construction vs independent Monte Carlo, exact limits, tables, interpolation.

Tolerances: Monte Carlo within 4 standard errors per time point; exact limits
within 2e-5 (construction) or 2e-4 (table path); table interpolation within
2e-4 of direct evaluation (the issue's accuracy claim).
"""
import math
import pathlib
import shutil

import numpy as np
import pytest

import bayesmusr as bm
from bayesmusr.physics import _kernels, tables
from bayesmusr.physics.ea import (ea_static_scaled, fast_ion_limit, fast_ion_limit_uniform, kernels, muon_renewal,
                                  radial_quadrature)
from bayesmusr.physics.kt import OMEGA_PER_MT, _dynamic_kt_scaled, _static_kt_scaled
from bayesmusr.physics.kt import _phi2 as kt_phi2
from mc_reference import simulate_ea

HAVE_TABLE = tables.DEFAULT_TABLE.exists()
needs_table = pytest.mark.skipif(not HAVE_TABLE, reason="shipped EA table not present (build: bayesmusr tables build)")


# ------------------------------------------------ construction vs Monte Carlo
MC_POINTS = [
    # (delta, nu_i, nu_mu, q, b_lf mT)
    (1.0, 1.0, 0.0, 0.5, 0.0),
    (1.0, 3.0, 0.0, 0.8, 0.0),
    (0.3, 0.1, 0.0, 0.8, 1.0),  # Kadono's Δ and LF
    (0.5, 5.0, 0.0, 0.6, 3.0),
    (1.0, 1.0, 0.2, 0.8, 0.0),  # muon jumps
    (0.3, 1.0, 0.05, 0.5, 1.0),  # LF and muon jumps
    (1.0, 30.0, 0.1, 0.3, 0.5),  # fast ion jumps
    (0.1, 0.05, 0.0, 0.5, 1.0),  # high field, ω_L/Δ = 8.5, slow ions (the table's upper ω segment)
    (0.2, 0.5, 0.02, 0.8, 3.0),  # ω_L/Δ = 12.8 with muon jumps
]


@pytest.mark.parametrize("delta,nu_i,nu_mu,q,b", MC_POINTS)
def test_ea_direct_matches_monte_carlo(delta, nu_i, nu_mu, q, b):
    t = np.array([0.3, 1.0, 2.0, 3.5, 5.0, 8.0, 12.0, 19.0]) / delta * 0.999
    t = t[t * delta <= 20]
    mean, se = simulate_ea(t, delta, nu_i, nu_mu, q, omega_l=OMEGA_PER_MT * b, n_muons=300_000, seed=11)
    g = bm.ea_direct(t, delta, nu_i, nu_mu, q, b)
    z = np.abs(g - mean) / se
    assert np.all(z < 4.0), (z, g, mean)


def test_radial_average_has_no_aliasing_revival_at_large_field_and_time():
    """High field, small Q: a fixed 96-node radial rule aliased the precession into a spurious 1e-3 wiggle
    at Δt ≈ 20 (ω_L/Δ = 16); `radial_nodes` adds nodes there.  Checked against the event-driven MC."""
    from bayesmusr.physics.ea import radial_nodes

    delta, nu_i, q, w = 1.0, 1.987, 0.0127, 16.12
    b = w / OMEGA_PER_MT
    t = np.array([15.0, 19.0, 19.5, 19.9, 19.98])
    mean, se = simulate_ea(t, delta, nu_i, 0.0, q, omega_l=w, n_muons=300_000, seed=13)
    g = bm.ea_direct(t, delta, nu_i, 0.0, q, b)
    assert np.all(np.abs(g - mean) / se < 4.0), (g, mean, se)
    assert radial_nodes(q, w, 20.0) > 96
    # the rule changes nothing in the table's lower ω segment (ω_L/Δ ≤ 3): those rows stay bit-identical
    _, qs, segments, _ = tables._grid_parts("standard")
    assert all(radial_nodes(float(qq), float(ww), 20.0) == 96 for qq in qs[1:-1] for ww in segments[0])


def test_monte_carlo_comparison_can_fail():
    """The same comparison rejects a 5 % wrong Q (the MC test has power)."""
    t = np.array([1.0, 2.0, 3.5, 5.0, 8.0])
    mean, se = simulate_ea(t, 1.0, 1.0, 0.0, 0.5, n_muons=300_000, seed=12)
    g = bm.ea_direct(t, 1.0, 1.0, 0.0, 0.525)
    assert np.max(np.abs(g - mean) / se) > 4.0


# -------------------------------------------------------------- exact limits
@pytest.mark.parametrize("w", [0.0, 1.7])
def test_construction_near_q0_and_q1_is_dynamic_kt(w):
    dx, n = 0.04, 401
    x = np.arange(n) * dx
    for v in [0.3, 4.0]:
        # Q → 1: only the ion-modulated part remains, dynamic KT with ν_i
        g = ea_static_scaled(dx, n, v, 1.0 - 1e-9, w)
        assert np.max(np.abs(g - _dynamic_kt_scaled(x, w, v))) < 2e-5
        # Q → 0: static KT (ion jumps modulate nothing)
        g = ea_static_scaled(dx, n, v, 1e-9, w)
        assert np.max(np.abs(g - _static_kt_scaled(x, w))) < 2e-5


def test_construction_nu_i_zero_is_static_kt_of_full_width():
    dx, n = 0.04, 301
    x = np.arange(n) * dx
    g = ea_static_scaled(dx, n, 1e-12, 0.6, 1.2)
    assert np.max(np.abs(g - _static_kt_scaled(x, 1.2))) < 2e-5


def test_fast_ion_limit_tends_to_static_kt_of_reduced_width():
    """ν_i → ∞ narrows the Q part away: G → static KT of width √(1−Q)Δ (Kadono Fig. 2a plateau).

    At finite ν_i the Q part still relaxes at ≈ 2QΔ²/ν_i (Abragam), so compare with the
    product static_KT(√(1−Q)) · exp(−2Q x/v) and require the distance to shrink with ν_i.
    """
    dx, n, q = 0.04, 301, 0.8
    x = np.arange(n) * dx
    s = math.sqrt(1 - q)
    ref = 1 / 3 + 2 / 3 * (1 - (s * x) ** 2) * np.exp(-((s * x) ** 2) / 2)
    d = []
    for v in [10.0, 40.0]:
        g = ea_static_scaled(dx, n, v, q, 0.0)
        d.append(np.max(np.abs(g - ref * np.exp(-2 * q * x / v))))
    assert d[1] < 0.5 * d[0] and d[1] < 5e-3


def test_muon_renewal_reproduces_dynamic_kt():
    """A renewal of the static KT at rate ν_μ is the dynamic KT — the ν_μ machinery of `ea`."""
    dx, n = 0.04, 501
    x = np.arange(n) * dx
    for w in [0.0, 2.0]:
        g0 = _static_kt_scaled(x, w)
        for v in [0.05, 0.7, 3.0, 40.0]:
            assert np.max(np.abs(muon_renewal(g0, v, dx) - _dynamic_kt_scaled(x, w, v))) < 3e-5


def test_muon_renewal_resolves_the_precession_in_high_fields():
    """Fast muon jumps in a high field: the table's Δt step (0.04) under-resolves the precession in the
    renewal unless g₀ is refined first; against the renewal on an 8× finer grid."""
    from bayesmusr.physics.ea import muon_renewal

    v, q, w, v_mu = 0.01065, 0.9444, 16.31, 3.98
    fine = ea_static_scaled(0.005, 2001, v, q, w)  # Δt ≤ 10
    x = np.linspace(0.3, 9.9, 120)
    ref = _kernels.hermite_uniform5(muon_renewal(fine, v_mu, 0.005, w), 0.005, x)
    coarse = fine[::8].copy()
    got = _kernels.hermite_uniform5(muon_renewal(coarse, v_mu, 0.04, w), 0.04, x)
    plain = _kernels.hermite_uniform5(muon_renewal(coarse, v_mu, 0.04), 0.04, x)  # no field given: no refinement
    assert np.max(np.abs(got - ref)) < 1e-5 < np.max(np.abs(plain - ref)), (
        np.max(np.abs(got - ref)), np.max(np.abs(plain - ref)))


def test_kernel_closed_forms_against_gaussian_average():
    """k_∥ and k_c against a direct 3-D Gauss-Hermite average over q (independent of the closed forms)."""
    q, r = 0.6, 1.3
    s = math.sqrt(q)
    tau = np.array([0.0, 0.4, 1.1, 2.5, 4.0])
    k_par, k_c = kernels(tau, r, q)
    nodes, wts = np.polynomial.hermite_e.hermegauss(40)
    wts = wts / wts.sum()
    qx, qy, qz = np.meshgrid(nodes * s, nodes * s, nodes * s, indexing="ij")
    wt = wts[:, None, None] * wts[None, :, None] * wts[None, None, :]
    om = np.sqrt(qx**2 + qy**2 + (qz + r) ** 2)
    nz = (qz + r) / om
    for i, tt in enumerate(tau):
        par = np.sum(wt * (nz**2 + (1 - nz**2) * np.cos(om * tt)))
        re = np.sum(wt * (0.5 * (1 - nz**2) + 0.5 * (1 + nz**2) * np.cos(om * tt)))
        im = np.sum(wt * nz * np.sin(om * tt))
        assert abs(k_par[i] - par) < 1e-9 and abs(k_c[i].real - re) < 1e-9 and abs(k_c[i].imag - im) < 1e-9


def test_radial_density_normalised_and_cos2_limits():
    for q, w in [(0.3, 0.0), (0.5, 0.7), (0.9, 2.5), (0.2, 15.0)]:
        r, weight, cos2 = radial_quadrature(q, w)
        assert abs(weight.sum() - 1.0) < 1e-10
        sigma2 = 1 - q
        # E[r²] = 3σ² + w² for |N(w ẑ, σ²I)|
        assert abs(np.sum(weight * r**2) - (3 * sigma2 + w**2)) < 1e-8
        assert np.all((cos2 >= 1 / 3 - 1e-12) & (cos2 <= 1))


def test_ea_direct_bad_parameters():
    with pytest.raises(ValueError, match="q must be in"):
        bm.ea_direct([1.0], 0.3, 1.0, 0.0, 1.5)
    with pytest.raises(ValueError, match="nu_mu"):
        bm.ea_direct([1.0], 0.3, 1.0, -1.0, 0.5)


def test_fast_ion_limit_against_construction_beyond_table():
    """The approximation `ea` uses above ν_i/Δ = 100: measured error ≤ 1.5e-4 there, shrinking with ν_i."""
    from bayesmusr.physics.ea import fast_ion_limit

    dx, n = 0.04, 501
    x = np.arange(n) * dx
    for q, w in [(0.8, 0.0), (0.95, 2.0), (0.2, 3.0), (0.8, 20.0)]:  # ω_L/Δ = 20: the field slows the relaxation
        e100 = np.max(np.abs(fast_ion_limit(x, 100.0, q, w) - ea_static_scaled(dx, n, 100.0, q, w)))
        e250 = np.max(np.abs(fast_ion_limit(x, 250.0, q, w) - ea_static_scaled(dx, n, 250.0, q, w)))
        assert e100 < 1.5e-4 and e250 < 0.3 * e100 + 1e-6, (q, w, e100, e250)


# ---------------------------------------------------------- the shipped table
@needs_table
def test_ea_beyond_nu_table_is_continuous_and_accurate():
    t = np.linspace(0, 20, 300)
    delta = 0.3
    # across the table end (ν_i/Δ = 100) and inside the blend region
    a = bm.ea(t, delta, 100 * delta * (1 - 1e-7), 0.0, 0.8, 1.0)
    b = bm.ea(t, delta, 100 * delta * (1 + 1e-7), 0.0, 0.8, 1.0)
    assert np.max(np.abs(a - b)) < 1e-6
    for v in [85.0, 130.0]:
        g = bm.ea(t, delta, v * delta, 0.02, 0.8, 1.0)
        assert np.max(np.abs(g - bm.ea_direct(t, delta, v * delta, 0.02, 0.8, 1.0))) < 2e-4

@needs_table
def test_table_exact_limits_agree_with_dynamic_kt():
    t = np.linspace(0, 20, 400)
    for b in [0.0, 1.0, 5.0]:  # 5 mT: ω_L/Δ = 14.2
        for nu_mu in [0.0, 0.05]:
            assert np.allclose(bm.ea(t, 0.3, 1.0, nu_mu, 0.0, b), bm.dynamic_kt(t, 0.3, nu_mu, b), atol=2e-4)
            assert np.allclose(bm.ea(t, 0.3, 0.0, nu_mu, 0.7, b), bm.dynamic_kt(t, 0.3, nu_mu, b), atol=2e-4)
            assert np.allclose(bm.ea(t, 0.3, 1.0, nu_mu, 1.0, b), bm.dynamic_kt(t, 0.3, 1.0 + nu_mu, b), atol=2e-4)
    # the interpolated interior next to the limits is continuous with them
    assert np.allclose(bm.ea(t, 0.3, 1.0, 0.0, 1 - 1e-6, 1.0), bm.dynamic_kt(t, 0.3, 1.0, 1.0), atol=2e-4)
    assert np.allclose(bm.ea(t, 0.3, 1.0, 0.0, 1e-6, 1.0), bm.static_kt(t, 0.3, 1.0), atol=2e-4)


@needs_table
def test_table_interpolation_against_direct_at_random_points():
    """A quick version of `bayesmusr tables check` (the full 200-point run: tests marked slow)."""
    report = tables.check_table(n_points=8, seed=5, progress=False, workers=1)
    assert report.passed, report.summary()


@pytest.mark.slow
@needs_table
def test_table_check_200_points():
    report = tables.check_table(n_points=200, seed=20261124, progress=False)
    assert report.passed, report.summary()


@needs_table
def test_ea_is_c1_in_parameters_across_grid_nodes():
    """One-sided derivatives of ea at a table node agree (no kinks for a sampler to find)."""
    tab = tables.load_table()
    t = np.array([2.0, 6.0, 12.0])
    delta = 0.3
    v_node = float(tables.NU_SCALE * math.sinh(tab.u_nu[30]))
    nu_node = v_node * delta
    eps = 1e-4 * nu_node
    g0 = bm.ea(t, delta, nu_node, 0.0, 0.5)
    right = (bm.ea(t, delta, nu_node + eps, 0.0, 0.5) - g0) / eps
    left = (g0 - bm.ea(t, delta, nu_node - eps, 0.0, 0.5)) / eps
    assert np.allclose(left, right, atol=2e-3 * np.max(np.abs(right)) + 1e-7)
    # ω: at the junction of the two ω segments (ω_L/Δ = 3, where the step halves) and inside the upper one
    for j in (20, 40):
        w_node = float(tables.OMEGA_SCALE * math.sinh(tab.u_omega[j]))
        b_node = w_node * delta / bm.physics.OMEGA_PER_MT
        e = 1e-4 * b_node
        g0 = bm.ea(t, delta, 0.2, 0.0, 0.5, b_node)
        right = (bm.ea(t, delta, 0.2, 0.0, 0.5, b_node + e) - g0) / e
        left = (g0 - bm.ea(t, delta, 0.2, 0.0, 0.5, b_node - e)) / e
        assert np.allclose(left, right, atol=2e-3 * np.max(np.abs(right)) + 1e-7), j
    q_node = float(math.sin(tab.u_q[9]) ** 2)
    e = 1e-5
    g0 = bm.ea(t, delta, 1.0, 0.0, q_node)
    right = (bm.ea(t, delta, 1.0, 0.0, q_node + e) - g0) / e
    left = (g0 - bm.ea(t, delta, 1.0, 0.0, q_node - e)) / e
    assert np.allclose(left, right, atol=2e-3 * np.max(np.abs(right)) + 1e-7)


@needs_table
def test_ea_outside_table_raises_clear_errors():
    t = np.linspace(0, 10, 50)
    with pytest.raises(ValueError, match="omega_L/delta"):
        bm.ea(t, 0.3, 1.0, 0.0, 0.5, b_lf=10.0)  # ω_L/Δ = 28 > 20.8
    with pytest.raises(ValueError, match="delta \\* t_max"):
        bm.ea(np.linspace(0, 30, 10), 1.0, 1.0, 0.0, 0.5)
    with pytest.raises(ValueError, match="q must be in"):
        bm.ea(t, 0.3, 1.0, 0.0, -0.1)


# ------------------------------------------------- build machinery (small grid)
def test_build_is_resumable_and_bit_reproducible(tmp_path):
    out = tmp_path / "small.nc"
    tables.build_table(out, grid="small", workers=1, progress=False)
    first = tables.load_table(out).data.copy()
    build_dir = out.with_suffix(".build")
    slices = sorted(build_dir.glob("omega_*/slice_*.npz"))
    nu, _, w, _ = tables.grid_axes("small")
    assert len(slices) == 2 * len(nu)  # two ω segments, each cached per ν_i slice
    assert tables.load_table(out).data.shape[2] == len(w) == 6
    # an interrupted build: two slices missing, one slice with only some Q rows, output gone
    # -> rebuild computes only what is missing, and the bytes are the same
    slices[1].unlink()
    slices[3].unlink()
    known = tables._read_slice_cache(slices[2], 4, 201)
    tables._write_slice_cache(slices[2], dict(list(known.items())[:2]))
    out.unlink()
    tables._load_cached.cache_clear()
    tables.build_table(out, grid="small", workers=1, progress=False)
    assert np.array_equal(tables.load_table(out).data, first)


def test_table_checksum_and_missing_file_errors(tmp_path):
    out = tmp_path / "small.nc"
    tables.build_table(out, grid="small", workers=1, progress=False)
    import xarray as xr

    ds = xr.load_dataset(out)
    ds["g0_steps"].values[0, 1, 1, 5] += 1
    bad = tmp_path / "tampered.nc"
    ds.to_netcdf(bad)
    with pytest.raises(ValueError, match="checksum mismatch"):
        tables.load_table(bad)
    with pytest.raises(FileNotFoundError, match="tables build"):
        tables.load_table(tmp_path / "nope.nc")
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"not a netcdf file at all")
    with pytest.raises(ValueError, match="cannot be read as netCDF"):
        tables.load_table(junk)


def test_interpolation_kernels_numba_equals_python_and_are_exact_for_quadratics():
    rng = np.random.default_rng(3)
    u = np.cumsum(rng.uniform(0.2, 1.0, 12))
    y = 0.3 * u**2 - u + 2
    for x in rng.uniform(u[0], u[-1], 25):
        s, w = _kernels.hermite_weights(u, x)
        s2, w2 = _kernels.hermite_weights.py_func(u, x)
        assert s == s2 and np.allclose(w, w2)
        assert abs(np.dot(w, y[s:s + 4]) - (0.3 * x * x - x + 2)) < 1e-12  # 3-point slopes exact for quadratics
    # even_ends: zero slope at both ends reproduces cos(θ)² -like even functions better than one-sided slopes
    th = np.linspace(0, np.pi / 2, 9)
    f = np.cos(4 * th)  # even about 0 and π/2
    for x in [0.01, 0.05, np.pi / 2 - 0.03]:
        s, w = _kernels.hermite_weights(th, x, True)
        s0, w0 = _kernels.hermite_weights(th, x)
        assert abs(np.dot(w, f[s:s + 4]) - np.cos(4 * x)) < abs(np.dot(w0, f[s0:s0 + 4]) - np.cos(4 * x))


def test_fourth_order_hermite_weights_are_exact_for_cubics_and_converge_as_h4():
    rng = np.random.default_rng(4)
    u = np.cumsum(rng.uniform(0.2, 1.0, 14))
    y = 0.05 * u**3 - 0.3 * u**2 + u - 2
    for x in np.r_[u[0], rng.uniform(u[0], u[-1], 30), u[-1]]:
        s, w = _kernels.hermite_weights5(u, x)
        s2, w2 = _kernels.hermite_weights5.py_func(u, x)
        assert s == s2 and np.allclose(w, w2, rtol=1e-13, atol=1e-14)
        # quartic-stencil slopes are exact for cubics, so the cubic Hermite interpolant is
        assert abs(np.dot(w, y[s:s + 6]) - (0.05 * x**3 - 0.3 * x**2 + x - 2)) < 1e-11
    # error ratio on halving a uniform step: ~2⁴ = 16 (the 3-point slopes give ~2³ = 8)
    errs = []
    for n in (21, 41, 81):
        th = np.linspace(0, np.pi / 2, n)
        xs = np.linspace(0.0, np.pi / 2, 997)
        vals = [np.dot(w, np.cos(6 * th[s:s + 6])) for s, w in (_kernels.hermite_weights5(th, x, True) for x in xs)]
        errs.append(np.max(np.abs(np.array(vals) - np.cos(6 * xs))))  # cos 6θ: even about 0 and π/2
    assert errs[0] / errs[1] > 12 and errs[1] / errs[2] > 12, errs


def test_reference_factor_is_one_where_switched_off_and_divides_out_the_static_precession():
    x = np.arange(501) * 0.04
    assert np.all(tables.reference_factor(0.04, 501, 0.0, 0.99, 1.0) == 1.0)  # no ions: λ = 0
    assert np.all(tables.reference_factor(0.04, 501, 50.0, 0.0, 1.0) == 1.0)  # Q = 0: λ = 0
    assert np.all(tables.reference_factor(0.04, 501, 50.0, 1.0, 1.0) == 1.0)  # Q = 1: no static part
    # fast ions, Q → 1: λ → 1 and the factor is the static LF KT of width √(1−Q)
    v, q, w = 1e4, 0.999, 1.5
    sig = np.sqrt(1 - q)
    lam = q**tables.REF_Q_POWER * v * v / (v * v + tables.REF_NU**2)
    for w in (0.0, 0.01, 1.5, 3.0):  # ZF, series (w/σ < 0.5) and recurrence branches
        ref = tables.reference_factor(0.04, 501, v, q, w)
        exact = bm.static_kt(x, sig, w / bm.physics.OMEGA_PER_MT) ** lam  # Δ = 1 μs⁻¹: times are Δt, ω_L = w
        assert np.allclose(ref, exact, atol=1e-7, rtol=0)
        assert ref.min() > 0.03


def test_uniform_grid_static_kt_matches_faddeeva_form():
    from bayesmusr.physics.kt import _static_kt_scaled

    x = np.arange(501) * 0.04
    for sig in (1.0, 0.5, 0.2, 0.05, 0.01):
        for w in (0.5, 1.0, 2.0, 3.0):
            if w / sig < 0.5:
                continue
            a = _kernels.static_kt_uniform(sig * 0.04, 501, w / sig)
            assert np.allclose(a, _static_kt_scaled(sig * x, w / sig), atol=1e-7, rtol=0)
            assert np.allclose(a, _kernels.static_kt_uniform.py_func(sig * 0.04, 501, w / sig), atol=1e-13)


def test_uniform_hermite_with_five_point_slopes():
    rng = np.random.default_rng(6)
    xs = np.r_[0.0, rng.uniform(0, 9.9, 50), 9.9]
    y = 0.02 * (0.1 * np.arange(100)) ** 3 - 0.1 * np.arange(100)
    exact = 0.02 * xs**3 - xs
    got = _kernels.hermite_uniform5(y, 0.1, xs)
    assert np.allclose(got, exact, atol=1e-11)  # exact for cubics, ends included
    assert np.allclose(got, _kernels.hermite_uniform5.py_func(y, 0.1, xs), atol=1e-14)
    # h⁴ convergence on an oscillation (3-point slopes: h³)
    errs = [np.max(np.abs(_kernels.hermite_uniform5(np.cos(3 * h * np.arange(int(10 / h) + 1)), h, xs)
                          - np.cos(3 * xs))) for h in (0.08, 0.04)]
    assert errs[0] / errs[1] > 12, errs


def test_fused_ea_kernels_match_their_step_by_step_forms():
    """The compiled one-call kernels of `ea` equal the numpy sequences they replaced (issue 19)."""
    rng = np.random.default_rng(19)
    g0 = np.cos(0.7 * np.arange(157) * 0.04) * np.exp(-0.1 * np.arange(157) * 0.04)
    for v, dx in ((0.02, 0.04), (1.5, 0.04), (6.0, 0.04)):  # ν_μ dx ≤ 0.25: Richardson on dx, 2 dx
        fine = _kernels.renewal(g0, v, dx)
        coarse = _kernels.renewal(g0[::2].copy(), v, 2.0 * dx)
        corr = (fine[::2] - coarse) / 3.0
        corr_all = _kernels.cubic_uniform(corr, 2.0 * dx, np.arange(g0.size) * dx)
        corr_all[::2] = corr
        assert np.allclose(_kernels.richardson_renewal(g0, v, dx), fine + corr_all, rtol=0, atol=1e-15)
    tab = tables.load_table()
    for _ in range(5):
        a, b, c = (rng.uniform(u[0], u[-1]) for u in (tab.u_nu, tab.u_q, tab.u_omega))
        s0, w0 = _kernels.hermite_weights5(tab.u_nu, a, False)
        s1, w1 = _kernels.hermite_weights5(tab.u_q, b, True)
        s2, w2 = _kernels.hermite_weights5(tab.u_omega, c, False)
        block = tab.data[s0:s0 + 6, s1:s1 + 6, s2:s2 + 6, :80].astype(float)
        want = np.einsum("i,j,k,ijkx->x", w0, w1, w2, block)
        got = _kernels.table_combination(tab.data, tab.u_nu, tab.u_q, tab.u_omega, a, b, c, 80)
        assert np.allclose(got, want, rtol=0, atol=1e-12)
    x = np.arange(200) * 0.04
    for v, q, w in ((80.0, 0.8, 0.0), (80.0, 0.8, 0.1), (95.0, 0.5, 2.84), (75.0, 0.9, 15.0)):
        narrowed = np.exp(-2.0 * q * x**2 * kt_phi2(((v + 1j * w) * x).astype(complex)).real)
        assert np.allclose(_kernels.narrowed_decay(x, v, w, 2.0 * q), narrowed, rtol=1e-13, atol=0)
        # the uniform-grid form (recurrence for the static factor in a field): within 1e-9 of the general one
        assert np.max(np.abs(fast_ion_limit_uniform(0.04, 200, v, q, w) - fast_ion_limit(x, v, q, w))) < 1e-9


def test_standard_omega_axis_halves_its_step_above_three():
    _, _, segments, _ = tables._grid_parts("standard")
    low, high = np.arcsinh(segments[0]), np.arcsinh(segments[1])
    step = low[1] - low[0]
    assert np.allclose(np.diff(low), step) and segments[0][-1] == 3.0
    assert np.allclose(np.diff(np.r_[low[-1], high]), step / 2)  # half the step above ω_L/Δ = 3
    assert high[-1] > np.arcsinh(20.0)
    assert np.array_equal(tables.grid_axes("standard")[2], np.r_[segments[0], segments[1]])


def test_ea_one_compiled_call_equals_its_steps_one_by_one(monkeypatch):
    """`ea`'s common path (one compiled call, issue 19) against the same steps in turn: table slices × reference
    factor, renewal, Δt interpolation; at random points in ZF and LF, with and without muon jumps."""
    rng = np.random.default_rng(11)
    t = np.arange(1500) * 0.012 + 0.006
    common, worst = 0, 0.0
    for k in range(400):
        delta, nu_i = math.exp(rng.uniform(math.log(0.05), math.log(2.0))), math.exp(rng.uniform(-5.0, 4.0))
        nu_mu, q, b = (0.0 if k % 2 else math.exp(rng.uniform(-7.0, 1.0))), rng.uniform(0.0, 1.0), [0.0, 0.5, 2.0][k % 3]
        tab = tables.load_table(None)
        w = OMEGA_PER_MT * b / delta
        if w > tab.omega_max or delta * t.max() > tab.x_max or not tables._common_path(tab, nu_i / delta, q, w,
                                                                 tables._reference_lambda(nu_i / delta, q), nu_mu / delta):
            continue
        common += 1
        fused = tables.ea(t, delta, nu_i, nu_mu, q, b)
        monkeypatch.setattr(tables, "_common_path", lambda *a: False)
        stepwise = tables.ea(t, delta, nu_i, nu_mu, q, b)
        monkeypatch.undo()
        worst = max(worst, float(np.max(np.abs(fused - stepwise))))
    assert common > 150 and worst < 1e-13, (common, worst)
