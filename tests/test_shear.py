"""Sheared sampling coordinates (bayesmusr.inference.shear): algebra, slopes, and sampling through them.

The reference posterior of the sampling tests is a "hockey stick" like the EA fit's (a rate r with a
log-uniform prior that the data cannot tell from zero below ~0.05, and a second parameter that moves
linearly in r); its moments come from one-dimensional quadrature (scipy), independent of the sampler.
"""
import math
import warnings

import emcee
import numpy as np
import pytest
from scipy import integrate

from bayesmusr.inference.sampling import ConvergenceWarning, _fit_shear, laplace_covariance, run_chain
from bayesmusr.inference.shear import LinearRate, Shear, ShearedProblem, shear_from_hessian
from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem
from bayesmusr.model.simulate import simulate_spectrum


def test_shear_maps_back_and_forth_and_leaves_the_rate_alone():
    shear = Shear(1, np.array([0.3, 0.0, -2.0]))
    y = np.random.default_rng(0).normal(size=(7, 5, 3))
    yp = shear.to_sampled(y)
    np.testing.assert_allclose(shear.to_problem(yp), y, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(yp[..., 1], y[..., 1])
    np.testing.assert_allclose(yp[..., 2], y[..., 2] + 2.0 * np.exp(y[..., 1]), rtol=1e-14)
    assert "nu_mu" in shear.describe(["a", "nu_mu", "q"]) and "-2" in shear.describe(["a", "nu_mu", "q"])


def test_slopes_are_the_gaussian_regression_of_the_others_on_the_rate():
    """For a Gaussian of covariance Σ (Hessian −Σ⁻¹), −H_oo⁻¹ H_om = Σ_om / Σ_mm: the conditional mean's slope."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 4 * np.eye(4)
    for m in range(4):
        shear = shear_from_hessian(-np.linalg.inv(cov), m)
        others = [j for j in range(4) if j != m]
        np.testing.assert_allclose(shear.b[others], cov[others, m] / cov[m, m], rtol=1e-10)
        assert shear.b[m] == 0.0
    assert shear_from_hessian(np.linalg.inv(cov), 0) is None  # not a maximum: no shear
    bad = -np.linalg.inv(cov)
    bad[1, 2] = bad[2, 1] = np.nan
    assert shear_from_hessian(bad, 0) is None


class HockeyStick:
    """y = (log r, q): r log-uniform on [1e-3, 10], data ∝ exp(−r²/(2 s_r²)); q uniform on [−1, 2] with
    q | r ~ N(q0 − k r, s_q²) (a line in r, a bend in log r)."""

    names = ["r", "q"]
    ndim = 2
    log_coordinates = np.array([True, False])
    shear_rate = 0
    s_r, q0, k, s_q = 0.08, 0.5, 0.6, 0.01
    bounds = (np.array([math.log(1e-3), -1.0]), np.array([math.log(10.0), 2.0]))

    def log_posterior(self, y):
        lo, hi = self.bounds
        if not (np.all(y > lo) and np.all(y < hi)):
            return -math.inf
        r = math.exp(y[0])
        return -0.5 * (r / self.s_r) ** 2 - 0.5 * ((y[1] - self.q0 + self.k * r) / self.s_q) ** 2

    def initial_guesses(self):
        return [np.array([math.log(0.02), 0.49]), np.array([math.log(0.2), 0.4])]

    def moments(self):
        """E[r], E[q] and SD[q] by quadrature over log r (q's Gaussian integrates to one inside its wide box)."""
        w = lambda u, f: f(math.exp(u)) * math.exp(-0.5 * (math.exp(u) / self.s_r) ** 2)  # noqa: E731
        lo, hi = self.bounds[0][0], self.bounds[1][0]
        z = integrate.quad(lambda u: w(u, lambda r: 1.0), lo, hi, limit=200)[0]
        er = integrate.quad(lambda u: w(u, lambda r: r), lo, hi, limit=200)[0] / z
        er2 = integrate.quad(lambda u: w(u, lambda r: r * r), lo, hi, limit=200)[0] / z
        eq = self.q0 - self.k * er
        sdq = math.sqrt(self.s_q**2 + self.k**2 * (er2 - er**2))
        return er, eq, sdq


def _quiet(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return run_chain(HockeyStick(), progress=False, **kw)


def test_fit_shear_recovers_the_line_of_a_hockey_stick():
    p = HockeyStick()
    y = np.array([math.log(0.03), p.q0 - p.k * 0.03])
    lp = p.log_posterior(y)
    _, cov = laplace_covariance(p, y, lp)
    shear = _fit_shear(p, y, lp, cov)
    # exactly quadratic in (r, q) apart from nothing: the FD Hessian gives the slope dq/dr = −k to rounding
    assert shear.m == 0 and shear.b[1] == pytest.approx(-p.k, rel=1e-6)
    view = LinearRate(p, 0)
    assert view.log_posterior(view.point(y)) == pytest.approx(lp, abs=1e-12)


def test_sampling_in_sheared_coordinates_keeps_the_posterior():
    """The chain comes back in the problem's coordinates and its moments match quadrature within 5 MCSE."""
    res = _quiet(seed=3, min_steps=3000, max_steps=3000, rhat_goal=None, ess_goal=None)
    assert res["shear"] is not None and res["shear"].b[1] == pytest.approx(-HockeyStick.k, rel=1e-3)
    tau = float(np.max(res["tau"]))
    burn = int(5 * tau)
    chain = res["chain"][burn:]
    r, q = np.exp(chain[..., 0]).ravel(), chain[..., 1].ravel()
    n_eff = chain.shape[0] * chain.shape[1] / tau
    er, eq, sdq = HockeyStick().moments()
    assert abs(q.mean() - eq) < 5 * sdq / math.sqrt(n_eff), (q.mean(), eq)
    assert abs(r.mean() - er) < 5 * r.std() / math.sqrt(n_eff), (r.mean(), er)
    assert q.std() == pytest.approx(sdq, rel=0.15)
    # what emcee evaluated is the problem's own log-posterior at the mapped point (no Jacobian: it is 1)
    lp = res["log_prob"][burn:].ravel()
    p = HockeyStick()
    k = np.random.default_rng(0).choice(lp.size, 20, replace=False)
    flat = chain.reshape(-1, 2)
    np.testing.assert_allclose(lp[k], [p.log_posterior(flat[i]) for i in k], rtol=0, atol=1e-9)


def test_sheared_chain_mixes_faster_than_the_plain_one():
    """The point of the shear: on the hockey stick, τ in steps falls (measured here, same seed and length)."""
    sheared = _quiet(seed=4, min_steps=2000, max_steps=2000, rhat_goal=None, ess_goal=None)

    class Plain(HockeyStick):
        shear_rate = None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = run_chain(Plain(), progress=False, seed=4, min_steps=2000, max_steps=2000, rhat_goal=None,
                          ess_goal=None)
    assert plain["shear"] is None
    assert np.max(sheared["tau"]) < 0.8 * np.max(plain["tau"]), (sheared["tau"], plain["tau"])


def test_a_resumed_sheared_chain_continues_the_same_chain(tmp_path):
    kw = dict(check_every=40, min_steps=10**6, tau_multiple=1e6, rhat_goal=None, ess_goal=None)
    first = _quiet(seed=7, backend=tmp_path / "chain.h5", max_steps=80, **kw)
    resumed = _quiet(seed=7, backend=tmp_path / "chain.h5", max_steps=160, **kw)
    straight = _quiet(seed=7, backend=tmp_path / "straight.h5", max_steps=160, **kw)
    assert resumed["resumed"] and resumed["shear"].b.tolist() == first["shear"].b.tolist()
    np.testing.assert_array_equal(resumed["chain"], straight["chain"])
    stored = emcee.backends.HDFBackend(str(tmp_path / "chain.h5"), name="mcmc", read_only=True).get_chain()
    np.testing.assert_allclose(first["shear"].to_problem(stored), resumed["chain"], rtol=0, atol=1e-12)


def test_sheared_problem_rejects_rates_beyond_the_prior_without_overflow():
    p = ShearedProblem(HockeyStick(), Shear(0, np.array([0.0, -0.6])))
    assert p.log_posterior(np.array([1e6, 0.5])) == -math.inf
    assert math.isfinite(p.log_posterior(np.array([math.log(0.05), 0.5])))


def test_the_ea_fit_declares_nu_mu_and_only_when_it_is_sampled_as_a_logarithm():
    rng = np.random.default_rng(2)
    runs = [simulate_spectrum("ea", {"delta": 0.4, "nu_i": 1.0, "nu_mu": 0.05, "q": 0.8}, 0.0, rng=rng, n_bins=60,
                              bin_width=0.1, n_events=1e5, a0=0.22, alpha=1.0, fbg=0.05, bgf=1e-3, bgb=1e-3)]
    point = ScanPointData(math.nan, runs)
    ea = TemperaturePointProblem(point, "ea")
    assert ea.names[ea.shear_rate] == "nu_mu"
    assert TemperaturePointProblem(point, "dynamic_kt").shear_rate is None
    assert TemperaturePointProblem(point, "ea", {"nu_mu": ("uniform", 0.0, 1.0)}).shear_rate is None
    assert TemperaturePointProblem(point, "ea", {"nu_mu": 0.05}).shear_rate is None  # fixed: not sampled


def test_a_sheared_chain_starts_inside_the_typical_set():
    """The starting walkers of a sheared chain have log p ≥ log p(MAP) − ½ χ²_ndim(0.999); without the floor the
    Laplace ball of the plateau direction puts some far up the rate, where the shear makes them stragglers."""
    from scipy.stats import chi2

    from bayesmusr.inference.sampling import TYPICAL_SET, _initial_walkers

    p = HockeyStick()
    y = np.array([math.log(0.03), p.q0 - p.k * 0.03])
    lp = p.log_posterior(y)
    _, cov = laplace_covariance(p, y, lp)
    floor = lp - 0.5 * chi2.ppf(TYPICAL_SET, 2)
    free = _initial_walkers(p, y, cov, 64, np.random.default_rng(5))
    kept = _initial_walkers(p, y, cov, 64, np.random.default_rng(5), floor)
    assert min(p.log_posterior(w) for w in kept) >= floor
    assert min(p.log_posterior(w) for w in free) < floor  # the floor is what keeps them out
