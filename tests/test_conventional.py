"""Conventional KT reading: the fits recover known truths (KT-generated spectra, exact Arrhenius, Eq. 4)."""
import numpy as np
import pytest

import bayesmusr as bm
from bayesmusr.inference.conventional import KADONO, arrhenius, fit_arrhenius, fit_kt_global, fit_two_state, two_state_delta


def test_global_kt_fit_recovers_kt_truth_with_noise():
    rng = np.random.default_rng(2024)
    t = np.linspace(0.05, 16, 400)
    err = 0.004 * np.exp(t / (2 * 2.1969811))
    for delta, nu in [(0.3, 0.05), (0.3, 0.6), (0.5, 3.0)]:
        spectra = [bm.dynamic_kt(t, delta, nu, b) + err * rng.standard_normal(t.size) for b in (0.0, 1.0)]
        f = fit_kt_global(t, spectra, [0.0, 1.0], errors=[err, err])
        assert abs(f.delta - delta) < 4 * f.delta_err + 1e-9
        assert abs(f.nu - nu) < 4 * f.nu_err + 1e-9
        assert 0.7 < f.reduced_chi2 < 1.3


def test_arrhenius_fit_is_exact_on_arrhenius_data():
    temps = np.linspace(150, 300, 8)
    nu = arrhenius(temps, 2e6, 0.02)
    f = fit_arrhenius(temps, nu)
    assert f.energy_eV == pytest.approx(0.02, rel=1e-10)
    assert f.nu0_per_s == pytest.approx(2e6, rel=1e-9)
    with pytest.raises(ValueError):
        fit_arrhenius([200.0], [1.0])


def test_two_state_fit_recovers_parameters():
    temps = np.linspace(150, 400, 26)
    truth = dict(delta=0.3, q=0.82, n_states=1.2e8, e_delta_eV=0.4)
    y = two_state_delta(temps, **truth)
    f = fit_two_state(temps, y, delta_err=np.full(temps.size, 1e-4))
    assert f.q == pytest.approx(0.82, abs=1e-4)
    assert f.e_delta_eV == pytest.approx(0.4, abs=1e-3)
    assert np.log10(f.n_states) == pytest.approx(np.log10(1.2e8), abs=0.05)
    assert f.delta == pytest.approx(0.3, abs=1e-5)


def test_kadono_rates_at_reference_temperatures():
    # ν_i = 5e12 exp(−0.35 eV / k_B T): 2.1e-3 μs⁻¹ at 150 K? check against a hand computation
    kb = 8.617333262e-5
    for T in (150.0, 250.0, 400.0):
        assert arrhenius(T, KADONO["nu_i0_per_s"], KADONO["e_i_eV"]) == pytest.approx(
            5e12 * np.exp(-0.35 / (kb * T)) / 1e6, rel=1e-12)


def test_two_state_errors_scale_with_residuals_when_no_errors_given():
    rng = np.random.default_rng(9)
    temps = np.linspace(150, 400, 26)
    y = two_state_delta(temps, 0.3, 0.8, 1e8, 0.4) + 1e-3 * rng.standard_normal(temps.size)
    f = fit_two_state(temps, y)
    # with 1e-3 scatter the energy is known to ~0.01–0.05 eV, not to eV (unit-weight errors)
    assert 1e-3 < f.errors["e_delta_eV"] < 0.1
