"""Tests of the one-temperature fit: likelihoods, models, priors, MAP, sampler, outputs, comparison.

Long statistical validations (coverage, LOO power) are marked ``slow``; the
script benchmarks/validate_fit.py runs the same checks and prints figures.
"""
from __future__ import annotations

import math
import os
import pathlib
import warnings

import numpy as np
import pytest
from scipy.optimize import least_squares
from scipy.special import gammaln

import bayesmusr as bm
from bayesmusr.inference import compare
from bayesmusr.model import likelihood as lk
from bayesmusr.cli import main as cli_main
from bayesmusr.physics.kt import MUON_LIFETIME
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, RUN_PARAMETERS, Prior, parse_prior
from bayesmusr.model.rundata import RunData
from bayesmusr.model.temperature import TemperatureProblem
from bayesmusr.inference.sampling import ConvergenceWarning, find_map, laplace_covariance, run_chain, sample
from bayesmusr.inference.adapters import MarginalAdapter, TemperatureAdapter
from bayesmusr.workflows.temperature import fit_temperature
from bayesmusr.model.scan import ScanPointData, TemperaturePointProblem
from bayesmusr.model.simulate import simulate_run, simulate_spectrum

DATA = pathlib.Path(__file__).parent / "data"
FAST = {"progress": False, "check_every": 50, "min_steps": 100}


def _kt_runs(seed=3, n_bins=400, n_events=4e6, model="kt", phys=None, **kw):
    rng = np.random.default_rng(seed)
    phys = phys or {"delta": 0.35, "nu": 0.2}
    return [simulate_spectrum(model, phys, b, rng=rng, n_bins=n_bins, bin_width=0.04, n_events=n_events,
                              fbg=0.1, **kw) for b in (0.0, 1.0)]


# ------------------------------------------------------------------ likelihoods
def test_poisson_against_hand_formula():
    rng = np.random.default_rng(0)
    mu = rng.uniform(0.5, 50.0, 200)
    n = rng.poisson(mu).astype(float)
    hand = sum(k * math.log(m) - m - math.lgamma(k + 1) for k, m in zip(n, mu))
    assert lk.poisson_loglike(n, mu) == pytest.approx(hand, rel=1e-12)
    pw = lk.poisson_pointwise(n, mu)
    assert pw.sum() == pytest.approx(hand, rel=1e-12)
    assert pw[0] == pytest.approx(n[0] * math.log(mu[0]) - mu[0] - math.lgamma(n[0] + 1))
    # n = 0 bins and μ = 0 with n = 0 are allowed; μ = 0 with n > 0 is impossible
    assert lk.poisson_pointwise([0.0], [0.0])[0] == 0.0
    assert lk.poisson_pointwise([1.0], [0.0])[0] == -np.inf
    with pytest.raises(ValueError, match="same shape"):
        lk.poisson_loglike([1, 2], [1.0])


def test_gaussian_against_hand_formula():
    rng = np.random.default_rng(1)
    y, a, s = rng.normal(size=50), rng.normal(size=50), rng.uniform(0.1, 2, 50)
    hand = sum(-0.5 * ((yi - ai) / si) ** 2 - math.log(si) - 0.5 * math.log(2 * math.pi) for yi, ai, si in zip(y, a, s))
    assert lk.gaussian_loglike(y, a, s) == pytest.approx(hand, rel=1e-12)
    assert lk.gaussian_pointwise(y, a, s).sum() == pytest.approx(hand, rel=1e-12)
    with pytest.raises(ValueError, match="sigma"):
        lk.gaussian_pointwise(y, a, -s)


def test_scale_marginal_equals_numerical_integral():
    from scipy.integrate import quad

    rng = np.random.default_rng(2)
    m = rng.uniform(0.5, 2.0, 6)
    n = rng.poisson(3.0 * m).astype(float)
    ref = lk.poisson_scale_marginal(n, m)
    # ∫ Π Pois(n|N0 m) dN0/N0, integrand scaled by its maximum for accuracy
    n0_hat = n.sum() / m.sum()
    top = lk.poisson_loglike(n, n0_hat * m) - math.log(n0_hat)
    val, _ = quad(lambda s: math.exp(lk.poisson_loglike(n, s * m) - math.log(s) - top), 0, 50 * n0_hat, limit=200,
                  points=[n0_hat])
    assert math.log(val) + top == pytest.approx(ref, abs=1e-7)


def test_problem_pointwise_sums_to_full_likelihood():
    runs = _kt_runs()
    runs.append(simulate_spectrum("kt", {"delta": 0.35, "nu": 0.2}, 2.0, rng=np.random.default_rng(9), n_bins=300,
                                  bin_width=0.04, n_events=2e6, kind="asymmetry"))
    p = TemperatureProblem(runs, "kt")
    y = p.initial_guesses()[0]
    n0 = p.draw_n0(y, np.random.default_rng(0))
    pw = p.pointwise_log_likelihood(y, n0)
    assert [a.size for a in pw] == [r.n_obs for r in runs]
    mus = p.expected(y, n0)
    total = sum(lk.poisson_loglike(np.concatenate([r.forward, r.backward]), mu) for r, mu in zip(runs[:2], mus[:2]))
    total += lk.gaussian_loglike(runs[2].asymmetry, mus[2], runs[2].error)
    assert sum(a.sum() for a in pw) == pytest.approx(total, rel=1e-12)


def test_expected_counts_follow_documented_convention():
    """μ_F = N0[d(1 + A P) + β_F], μ_B = N0[d(1 − A P)/α + β_B], d the bin-averaged decay."""
    t = np.array([0.5, 1.0, 3.0])
    w = 0.2
    rd = RunData("histograms", t, 0.0, width=np.full(3, w), forward=np.ones(3), backward=np.ones(3))
    p = TemperatureProblem([rd], "static_kt", extra_relaxation=True)
    vals = {"delta": 0.4, "a0_0": 0.2, "alpha_0": 1.3, "fbg_0": 0.1, "lam_0": 0.05, "bgf_0": 0.01, "bgb_0": 0.02}
    y = p.to_sampled(vals)
    mu = p.expected(y, np.array([1000.0]))[0]
    tau = MUON_LIFETIME
    d = np.array([quad_decay(ti, w, tau) for ti in t])
    pol = 0.9 * bm.static_kt(t, 0.4) * np.exp(-0.05 * t) + 0.1
    np.testing.assert_allclose(mu[:3], 1000 * (d * (1 + 0.2 * pol) + 0.01), rtol=1e-12)
    np.testing.assert_allclose(mu[3:], 1000 * (d * (1 - 0.2 * pol) / 1.3 + 0.02), rtol=1e-12)
    # the Mantid α-corrected asymmetry of the (background-free) model is A0 P
    mu0 = p.expected(p.to_sampled({**vals, "bgf_0": 0.0, "bgb_0": 0.0}), np.array([1000.0]))[0]
    np.testing.assert_allclose((mu0[:3] - 1.3 * mu0[3:]) / (mu0[:3] + 1.3 * mu0[3:]), 0.2 * pol, rtol=1e-12)


def quad_decay(t, w, tau):
    from scipy.integrate import quad

    return quad(lambda s: math.exp(-s / tau), t - w / 2, t + w / 2)[0] / w


# ----------------------------------------------------------------------- priors
def test_priors_come_from_declarations_and_overrides():
    runs = _kt_runs(n_bins=100)
    p = TemperatureProblem(runs, "ea", table=None)
    decl = {q.name: q for q in PHYSICS_PARAMETERS["ea"]}
    for e in p.entries[:4]:
        assert e.prior == decl[e.name].default_prior()
        assert e.unit == decl[e.name].unit
    assert decl["q"].prior == "uniform" and decl["q"].bounds == (0.0, 1.0)
    assert all(decl[n].prior == "loguniform" for n in ("delta", "nu_i", "nu_mu"))
    run_decl = {q.name: q for q, _, _ in RUN_PARAMETERS}
    assert p.entries[p.all_names.index("a0_1")].prior == run_decl["a0"].default_prior()
    assert p.entries[p.all_names.index("lam_0")].prior.kind == "fixed"  # extra relaxation off by default
    # overrides: all runs, one run, fixed
    p2 = TemperatureProblem(runs, "kt", {"delta": ("uniform", 0.1, 1.0), "a0_1": ("normal", 0.2, 0.01), "nu": 0.3})
    assert p2.entries[0].prior == Prior("uniform", 0.1, 1.0)
    assert "nu" not in p2.names and p2.ndim == len(p2.names)
    assert p2.to_physical(p2.initial_guesses()[0])[p2.all_names.index("nu")] == 0.3
    assert p2.entries[p2.all_names.index("a0_1")].prior.kind == "normal"
    # log-uniform priors are flat in log x: equal prior density across decades
    y = p2.initial_guesses()[0]
    assert p.log_prior(p.initial_guesses()[0]) == 0.0
    assert p2.log_prior(y) == pytest.approx(-0.5 * ((y[p2.names.index("a0_1")] - 0.2) / 0.01) ** 2)
    rng = np.random.default_rng(0)
    draws = Prior("loguniform", 1e-3, 1e2).sample(rng, 20000)
    assert np.mean(draws < 1e-1) == pytest.approx(0.4, abs=0.02)


@pytest.mark.parametrize("spec, msg", [
    (("uniform", 1, 0), "lo < hi"),
    (("loguniform", 0, 1), "lo > 0"),
    (("banana", 0, 1), "expected a number"),
    ("x", "expected a number"),
])
def test_bad_priors_raise(spec, msg):
    with pytest.raises(ValueError, match=msg):
        parse_prior(spec, "delta")


def test_bad_input_raises_clear_errors():
    runs = _kt_runs(n_bins=50)
    with pytest.raises(ValueError, match="unknown parameters"):
        TemperatureProblem(runs, "kt", {"dleta": 0.3})
    with pytest.raises(ValueError, match="model must be one of"):
        TemperatureProblem(runs, "gauss")
    with pytest.raises(ValueError, match="one count per time"):
        RunData("histograms", np.arange(3.0), 0.0, forward=np.ones(2), backward=np.ones(3))
    with pytest.raises(ValueError, match="b_lf"):
        RunData("histograms", np.arange(3.0), -1.0, forward=np.ones(3), backward=np.ones(3))
    with pytest.raises(ValueError, match="errors"):
        RunData("asymmetry", np.arange(3.0), 0.0, asymmetry=np.zeros(3), error=np.zeros(3))
    with pytest.raises(ValueError, match="rng must be"):
        simulate_spectrum("kt", {"delta": 0.3, "nu": 0.1}, rng=1)
    with pytest.raises(ValueError, match="missing"):
        simulate_spectrum("kt", {"delta": 0.3}, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown sampler settings"):
        sample(TemperatureAdapter(TemperatureProblem(runs, "static_kt")), max_stpes=10)


def test_simulation_is_seeded():
    a = simulate_spectrum("kt", {"delta": 0.3, "nu": 0.1}, 1.0, rng=np.random.default_rng(5), n_bins=100)
    b = simulate_spectrum("kt", {"delta": 0.3, "nu": 0.1}, 1.0, rng=np.random.default_rng(5), n_bins=100)
    np.testing.assert_array_equal(a.forward, b.forward)
    assert a.forward.sum() + a.backward.sum() == pytest.approx(15e6, rel=1e-3)
    run = simulate_run("kt", {"delta": 0.3, "nu": 0.1}, 1.0, rng=np.random.default_rng(5), n_bins=100,
                       temperature_K=200.0, bgf=0.01, bgb=0.01)
    rd = RunData.from_run(run)
    assert rd.b_lf == 1.0 and rd.n_obs == 100
    np.testing.assert_allclose(rd.t, a.t)


# -------------------------------------------------------------------------- MAP
def _independent_least_squares(runs):
    """Poisson ML of dynamic KT + (N0, A0, α, f) per run, coded separately (deviance residuals, scipy)."""
    tau = MUON_LIFETIME

    def resid(v):  # v = delta, nu, then per run (N0, A0, alpha, f); deviance residuals
        out = []
        for i, r in enumerate(runs):
            n0, a0, alpha, f = v[2 + 4 * i: 6 + 4 * i]
            g = bm.dynamic_kt(r.t, v[0], v[1], r.b_lf)
            pol = (1 - f) * g + f
            d = np.array([quad_decay(ti, wi, tau) for ti, wi in zip(r.t[:1], r.width[:1])])[0] * np.exp(-(r.t - r.t[0]) / tau)
            for n, mu in ((r.forward, n0 * d * (1 + a0 * pol)), (r.backward, n0 * d * (1 - a0 * pol) / alpha)):
                dev = 2 * (np.where(n > 0, n * np.log(np.where(n > 0, n, 1) / mu), 0) - (n - mu))
                out.append(np.sign(n - mu) * np.sqrt(np.maximum(dev, 0)))
        return np.concatenate(out)

    v0 = [0.3, 0.1]
    for r in runs:
        v0 += [r.forward[0], 0.2, 1.0, 0.05]
    lo = [0.01, 1e-3] + [0, -0.5, 0.25, 0.0] * 2
    hi = [5, 100] + [np.inf, 0.5, 4, 1] * 2
    return least_squares(resid, v0, bounds=(lo, hi), x_scale="jac", ftol=1e-12, xtol=1e-12, gtol=1e-12)


def test_map_agrees_with_independent_least_squares():
    """MAP (N0 integrated out, flat priors in sampling coordinates) = Poisson ML of a separately coded model."""
    runs = _kt_runs(seed=11)
    p = TemperatureProblem(runs, "kt", count_background=False)
    y_map, _ = find_map(TemperatureAdapter(p))
    _, cov = laplace_covariance(TemperatureAdapter(p), y_map)
    sd = np.sqrt(np.diag(cov))
    ls = _independent_least_squares(runs)
    x = p.to_physical(y_map)
    for name, k in (("delta", 0), ("nu", 1)):
        sd_phys = sd[p.names.index(name)] * x[p.all_names.index(name)]  # log coordinate → physical
        assert abs(x[p.all_names.index(name)] - ls.x[k]) < 0.02 * sd_phys, name
    for i in range(2):
        for name, k in (("a0", 3), ("alpha", 4), ("fbg", 5)):
            j = p.all_names.index(f"{name}_{i}")
            s = sd[p.names.index(f"{name}_{i}")] * (x[j] if name == "alpha" else 1.0)
            assert abs(x[j] - ls.x[2 + 4 * i + k - 2]) < 0.02 * s, f"{name}_{i}"
    n0 = p.profile_n0(y_map)
    np.testing.assert_allclose(n0, [ls.x[2], ls.x[6]], rtol=1e-5)


# ---------------------------------------------------------------------- sampler
@pytest.fixture(scope="module")
def small_fits(tmp_path_factory):
    """Static and dynamic KT fits of one small simulated ZF + LF dataset (short chains)."""
    d = tmp_path_factory.mktemp("fits")
    runs = _kt_runs(seed=21, n_bins=300, phys={"delta": 0.35, "nu": 0.6})
    out = {}
    for model in ("static_kt", "kt"):
        p = TemperatureProblem(runs, model, count_background=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            out[model] = sample(TemperatureAdapter(p), seed=4, out=d / f"{model}.nc", max_steps=400, **FAST)
    return d, out, runs


def test_inference_data_groups_and_netcdf_round_trip(small_fits):
    d, fits, runs = small_fits
    idata = fits["kt"]
    for g in ("posterior", "log_likelihood", "posterior_predictive", "observed_data", "sample_stats"):
        assert g in idata.groups(), g
    post = idata.posterior
    for name in ("delta", "nu", "a0_0", "alpha_1", "n0_0", "n0_1"):
        assert name in post, name
    assert idata.log_likelihood["y"].shape[-1] == sum(r.n_obs for r in runs)
    assert idata.log_likelihood["y"].shape[:2] == post["delta"].shape
    np.testing.assert_array_equal(idata.observed_data["forward_1"].values, runs[1].forward)
    assert "forward_0" in idata.posterior_predictive
    assert "lp" in idata.sample_stats
    back = compare.load(d / "kt.nc")
    np.testing.assert_array_equal(back.posterior["delta"].values, post["delta"].values)
    np.testing.assert_array_equal(back.log_likelihood["y"].values, idata.log_likelihood["y"].values)
    assert back.posterior.attrs["model"] == "dynamic_kt"
    s = compare.summary(back, var_names=["delta", "nu"])
    for col in ("r_hat", "ess_bulk", "ess_tail", "mcse_mean"):
        assert col in s.columns
    # unrounded (ArviZ's default two decimals printed E_μ = 0.0186 as 0.02 and R-hat 1.0049 as 1.01)
    assert s.loc["delta", "mean"] == float(back.posterior["delta"].mean())
    # the posterior sits near the truth (loose: short chain)
    assert abs(post["delta"].mean() - 0.35) < 5 * post["delta"].std() + 0.01


def test_pointwise_log_likelihood_in_result_matches_problem(small_fits):
    _, fits, runs = small_fits
    idata = fits["kt"]
    p = TemperatureProblem(runs, "kt", count_background=False)
    post = idata.posterior
    vals = {n: float(post[n].values[0, -1]) for n in p.names}
    y = p.to_sampled(vals)
    n0 = np.array([float(post["n0_0"].values[0, -1]), float(post["n0_1"].values[0, -1])])
    ref = np.concatenate(p.pointwise_log_likelihood(y, n0))
    # stored on the LOG_LIKELIHOOD_QUANTUM grid (2^-16 nats): equal to within half a step
    np.testing.assert_allclose(idata.log_likelihood["y"].values[0, -1], ref, rtol=0,
                               atol=0.5 * compare.LOG_LIKELIHOOD_QUANTUM + 1e-10 * np.max(np.abs(ref)))


def test_short_chain_warns_clearly():
    runs = _kt_runs(n_bins=100)
    p = TemperatureProblem(runs, "static_kt", count_background=False)
    with pytest.warns(ConvergenceWarning, match="autocorrelation times"):
        idata = sample(TemperatureAdapter(p), seed=0, max_steps=60, progress=False, check_every=30, min_steps=10,
                       max_draws=200)
    assert idata.posterior.attrs["converged"] == 0


def test_resume_from_hdf5_backend_continues_the_same_chain(tmp_path):
    runs = _kt_runs(n_bins=120)
    p = TemperatureAdapter(TemperatureProblem(runs, "static_kt", count_background=False))
    kw = dict(progress=False, check_every=40, min_steps=10**6, max_draws=200, tau_multiple=1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = sample(p, seed=7, backend=tmp_path / "chain.h5", max_steps=80, **kw)
        resumed = sample(p, seed=7, backend=tmp_path / "chain.h5", max_steps=160, **kw)
        straight = sample(p, seed=7, backend=tmp_path / "straight.h5", max_steps=160, **kw)
    assert first.posterior.attrs["n_steps"] == 80 and first.posterior.attrs["resumed"] == 0
    assert resumed.posterior.attrs["n_steps"] == 160 and resumed.posterior.attrs["resumed"] == 1
    import emcee

    a = emcee.backends.HDFBackend(str(tmp_path / "chain.h5"), name="mcmc", read_only=True).get_chain()
    b = emcee.backends.HDFBackend(str(tmp_path / "straight.h5"), name="mcmc", read_only=True).get_chain()
    np.testing.assert_array_equal(a, b)  # interrupted + resumed == uninterrupted
    np.testing.assert_allclose(resumed.posterior.attrs["map_sampling_coordinates"],
                               first.posterior.attrs["map_sampling_coordinates"])
    # a backend of another problem is refused
    q = TemperatureAdapter(TemperatureProblem(runs, "kt", count_background=False))
    with pytest.raises(ValueError, match="backend"):
        sample(q, seed=7, backend=tmp_path / "chain.h5", max_steps=10, **kw)


# ------------------------------------------- Laplace-marginalised nuisances (the default)
def _marginal(runs, model, **kw):
    return MarginalAdapter(TemperaturePointProblem(ScanPointData(math.nan, runs), model, **kw))


@pytest.fixture(scope="module")
def marginal_fit(tmp_path_factory):
    """fit_temperature with its default (Laplace) nuisances on a small ZF + LF dynamic-KT dataset."""
    d = tmp_path_factory.mktemp("marginal")
    runs = _kt_runs(seed=21, n_bins=300, phys={"delta": 0.35, "nu": 0.6})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        idata = fit_temperature(runs, "kt", seed=3, out=d / "kt.nc", max_steps=600, count_background=False,
                                **FAST)
    return d, idata, runs


def test_marginal_fit_samples_only_physics_and_keeps_all_outputs(marginal_fit):
    d, idata, runs = marginal_fit
    post = idata.posterior
    assert post.attrs["nuisances"] == "laplace"
    assert post.attrs["tau_names"] == "delta; nu"  # only the physics is sampled
    for g in ("posterior", "log_likelihood", "posterior_predictive", "observed_data", "sample_stats"):
        assert g in idata.groups(), g
    for name in ("delta", "nu", "a0_0", "alpha_0", "fbg_0", "n0_0", "a0_1", "alpha_1", "fbg_1", "n0_1"):
        assert name in post, name
    assert "bgf_0" not in post  # count_background=False: fixed at 0, not reported
    assert idata.log_likelihood["y"].shape[-1] == sum(r.n_obs for r in runs)
    assert idata.posterior_predictive["forward_1"].shape[-1] == runs[1].n_obs
    back = compare.load(d / "kt.nc")
    np.testing.assert_array_equal(back.posterior["nu"].values, post["nu"].values)
    # truth: Δ = 0.35, ν = 0.6, A0 = 0.2, α = 1, f = 0.1 — within 4 posterior SD
    for name, truth in (("delta", 0.35), ("nu", 0.6), ("a0_0", 0.2), ("alpha_1", 1.0), ("fbg_0", 0.1)):
        v = post[name].values.ravel()
        assert abs(v.mean() - truth) < 4 * v.std(), (name, v.mean(), v.std())


def test_marginal_pointwise_terms_follow_the_model_conventions(marginal_fit):
    """The stored per-bin log-likelihood of a draw = models.TemperatureProblem's at that draw's values.

    Checks that the nuisance draws of the Laplace path are reported in the conventions of
    :mod:`bayesmusr.model.temperature` (α = 1/ρ, f, N0): an independent implementation of the same bins.
    """
    _, idata, runs = marginal_fit
    p = TemperatureProblem(runs, "kt", count_background=False)
    post = idata.posterior
    for c, dr in ((0, 0), (5, -1), (13, 3)):
        y = p.to_sampled({n: float(post[n].values[c, dr]) for n in p.names})
        n0 = np.array([float(post[f"n0_{i}"].values[c, dr]) for i in range(2)])
        ref = np.concatenate(p.pointwise_log_likelihood(y, n0))
        np.testing.assert_allclose(idata.log_likelihood["y"].values[c, dr], ref, rtol=0,  # stored on its grid
                                   atol=0.5 * compare.LOG_LIKELIHOOD_QUANTUM + 1e-10 * np.max(np.abs(ref)))


def test_marginal_map_and_curvature_agree_with_sampled_nuisances_and_least_squares():
    """Laplace-marginal MAP vs the joint MAP (all nuisances free) and an independent scipy least-squares fit.

    They differ only by O(1/N) terms of the Laplace marginal: its ½ log det, and the prior's Jacobian in
    the logit coordinates of the nuisances (the marginal integrates over their declared prior bounds,
    the joint MAP maximises the likelihood): measured 0.12 and 0.10 posterior SD (Δ, ν) here (0.026
    and 0.018 before the nuisances were bounded to their priors).  The physics SDs agree within 5 %.
    """
    runs = _kt_runs(seed=11)
    full = TemperatureAdapter(TemperatureProblem(runs, "kt", count_background=False))
    marg = _marginal(runs, "kt", count_background=False)
    yf, _ = find_map(full)
    ym, lpm = find_map(marg)
    _, covf = laplace_covariance(full, yf)
    _, covm = laplace_covariance(marg, ym, lpm)
    sdf, sdm = np.sqrt(np.diag(covf))[:2], np.sqrt(np.diag(covm))
    np.testing.assert_allclose(sdm, sdf, rtol=0.05)
    assert np.all(np.abs(ym - yf[:2]) < 0.2 * sdf), (ym, yf[:2], sdf)
    ls = _independent_least_squares(runs)
    assert np.all(np.abs(np.exp(ym) - ls.x[:2]) < 0.2 * sdf * ls.x[:2]), (np.exp(ym), ls.x[:2])


def test_process_pool_gives_the_same_chain():
    """workers=2 evaluates in forked processes; proposals stay in the parent, so the chain is identical."""
    runs = _kt_runs(n_bins=150)
    kw = dict(seed=5, max_steps=40, check_every=20, min_steps=10**6, tau_multiple=1e9, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = run_chain(_marginal(runs, "kt"), workers=1, **kw)
        b = run_chain(_marginal(runs, "kt"), workers=2, **kw)
    np.testing.assert_array_equal(a["chain"], b["chain"])
    with pytest.raises(ValueError, match="workers"):
        run_chain(_marginal(runs, "kt"), workers=0, **kw)


def test_marginal_resume_continues_the_same_chain(tmp_path):
    """The Newton reference is re-anchored at the stored MAP, so a resumed chain equals an uninterrupted one."""
    runs = _kt_runs(n_bins=120)
    kw = dict(progress=False, check_every=40, min_steps=10**6, max_draws=200, tau_multiple=1e6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sample(_marginal(runs, "kt"), seed=7, backend=tmp_path / "chain.h5", max_steps=80, **kw)
        resumed = sample(_marginal(runs, "kt"), seed=7, backend=tmp_path / "chain.h5", max_steps=160, **kw)
        sample(_marginal(runs, "kt"), seed=7, backend=tmp_path / "straight.h5", max_steps=160, **kw)
    import emcee

    a = emcee.backends.HDFBackend(str(tmp_path / "chain.h5"), name="mcmc", read_only=True).get_chain()
    b = emcee.backends.HDFBackend(str(tmp_path / "straight.h5"), name="mcmc", read_only=True).get_chain()
    assert resumed.posterior.attrs["resumed"] == 1
    np.testing.assert_array_equal(a, b)


def test_nuisance_treatment_is_chosen_and_checked():
    runs = _kt_runs(n_bins=80)
    with pytest.raises(ValueError, match="nuisances must be one of"):
        fit_temperature(runs, "kt", nuisances="profile")
    with pytest.raises(ValueError, match="cannot handle extra_relaxation"):
        fit_temperature(runs, "kt", nuisances="laplace", extra_relaxation=True)
    with pytest.raises(ValueError, match="priors on nuisances"):
        fit_temperature(runs, "kt", nuisances="laplace", priors={"a0": ("uniform", 0.1, 0.3)})
    with pytest.raises(ValueError, match="unknown prior name"):
        fit_temperature(runs, "kt", nuisances="laplace", priors={"nu_i": 0.3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        shared = fit_temperature(runs, "static_kt", shared=("a0",), count_background=False, max_steps=20,
                                 check_every=10, min_steps=10, max_draws=40, progress=False)
    assert shared.posterior.attrs["nuisances"] == "sampled" and "a0" in shared.posterior


def test_degenerate_real_run_has_a_laplace_marginal_inside_the_priors():
    """EMU 20882 hardly relaxes: A0, α and f are nearly degenerate.

    With the nuisances unbounded, their conditional optimum ran to the box edge (f → −1) and
    ``auto`` had to sample every nuisance.  In the logit coordinates of their declared priors the
    optimum is always interior: the Laplace marginal exists at every starting point, and its
    nuisances lie inside the prior bounds.
    """
    from bayesmusr.model.nuisances import HI, LO

    runs = [RunData.from_run(DATA / "EMU00020882.nxs", bunch=5, t_max=10.0)]
    p = _marginal(runs, "kt")
    values = [p.log_posterior(y) for y in p.initial_guesses()]
    assert all(math.isfinite(v) for v in values)
    eta = p.blocks[0].eta
    assert np.all((eta >= LO) & (eta <= HI)), eta


def test_marginal_ea_problem_respects_the_table_support():
    from bayesmusr.physics.tables import DEFAULT_TABLE

    if not DEFAULT_TABLE.exists():
        pytest.skip("shipped EA table not present")
    phys = {"delta": 0.4, "nu_i": 1.0, "nu_mu": 0.05, "q": 0.8}
    runs = _kt_runs(model="ea", phys=phys, n_bins=300)
    p = _marginal(runs, "ea")
    assert p.names == ["delta", "nu_i", "nu_mu", "q"]
    y = np.array([math.log(0.4), math.log(1.0), math.log(0.05), 0.8])
    assert math.isfinite(p.log_posterior(y))
    y_low = y.copy()
    y_low[0] = math.log(0.03)  # ω_L/Δ = 28 > 20.8 at 1 mT: outside the table
    assert p.log_posterior(y_low) == -np.inf
    assert "Δ ≥ 0.041" in p.describe()["ea_support"]


# --------------------------------------------------------------------- compare
def test_compare_table_verdict_and_cli(small_fits, capsys):
    d, fits, _ = small_fits
    res = compare.compare_results({"static_kt": fits["static_kt"], "kt": fits["kt"]})
    table = res["loo"]
    assert set(table.index) == {"static_kt", "kt"}
    for col in ("elpd_loo", "p_loo", "elpd_diff", "dse", "weight"):
        assert col in table.columns
    assert set(res["pareto_k"]["kt"]) == {"good", "ok", "bad", "very_bad", "n"}
    # truth is dynamic (ν = 0.6 ≈ 1.7 Δ): the data must prefer dynamic KT clearly
    assert table.index[0] == "kt"
    assert "clearly prefer kt over static_kt" in res["verdict"]
    text = compare.format_comparison(res)
    assert "elpd_loo" in text and "Pareto" in text
    assert cli_main(["compare", str(d / "static_kt.nc"), str(d / "kt.nc")]) == 0
    out = capsys.readouterr().out
    assert "elpd_diff" in out and "kt" in out and "Pareto" in out
    assert cli_main(["compare", str(d / "kt.nc")]) == 2  # needs two


def test_compare_refuses_different_data(small_fits, tmp_path):
    _, fits, _ = small_fits
    runs = _kt_runs(seed=99, n_bins=300)
    p = TemperatureProblem(runs, "static_kt", count_background=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        other = sample(TemperatureAdapter(p), seed=1, max_steps=100, **FAST)
    with pytest.raises(ValueError, match="different data"):
        compare.compare_results({"a": fits["kt"], "b": other})


# ------------------------------------------------------------ real files / CLI
def test_fit_temperature_cli_on_hifi_asymmetry_file(tmp_path, capsys):
    out = tmp_path / "hifi.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rc = cli_main(["fit-temperature", str(DATA / "HIFIgrouped_116891.txt"), "--model", "static_kt",
                       "--field", "0", "--out", str(out), "--max-steps", "300", "--quiet", "--t-max", "10"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "delta" in text and "result written" in text
    idata = compare.load(out)
    # HIFI 116891: a static KT (asymmetry −0.10 at t = 0, deepest ≈ −0.21 near 5 μs, i.e. Δ ≈ √3/5 μs⁻¹)
    # on a negative baseline: A(t) = A0 G(t) + c with A0 > 0 and c < 0
    post = idata.posterior
    assert float(post["a0_0"].mean()) > 0.05 and float(post["base_0"].mean()) < -0.1
    assert 0.25 < float(post["delta"].mean()) < 0.45
    assert float(post["a0_0"].mean() + post["base_0"].mean()) == pytest.approx(-0.10, abs=0.01)
    assert "asymmetry_0" in idata.observed_data


def test_rundata_from_emu_file():
    rd = RunData.from_run(DATA / "EMU00020882.nxs")
    assert rd.kind == "histograms" and rd.b_lf == 0.0 and rd.n_obs > 100
    assert rd.forward.sum() > 1e5
    p = TemperatureProblem([rd], "kt")
    assert math.isfinite(p.log_posterior(p.initial_guesses()[0]))


def test_ea_model_with_small_table(tmp_path):
    from bayesmusr.physics.tables import build_table

    table = tmp_path / "ea_small.nc"
    build_table(table, grid="small", progress=False, workers=1)
    phys = {"delta": 0.3, "nu_i": 0.8, "nu_mu": 0.01, "q": 0.8}
    runs = _kt_runs(model="ea", phys=phys, n_bins=300, table=table)
    p = TemperatureProblem(runs, "ea", table=table)
    assert "Δ ≥ 0.152" in p.support_note()  # 1 mT over the small grid's ω_L/Δ ≤ 5.6
    y = p.to_sampled({**phys, "a0_0": 0.2, "a0_1": 0.2})
    assert math.isfinite(p.log_posterior(y))
    y_low = p.to_sampled({**phys, "delta": 0.12, "a0_0": 0.2, "a0_1": 0.2})  # ω_L/Δ = 7.1 at 1 mT: outside the table
    assert p.log_posterior(y_low) == -np.inf
    # Q = 1 and Q = 0 limits go through dynamic KT exactly
    g1 = bm.ea(runs[0].t, 0.3, 0.5, 0.1, 1.0, table=table)
    np.testing.assert_allclose(g1, bm.dynamic_kt(runs[0].t, 0.3, 0.6), atol=1e-12)


# ------------------------------------------------------------- slow validation
def _validation_module():
    import importlib.util

    path = pathlib.Path(__file__).parent.parent / "benchmarks" / "validate_fit.py"
    spec = importlib.util.spec_from_file_location("validate_fit", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _needs_table():
    from bayesmusr.physics.tables import DEFAULT_TABLE

    if not DEFAULT_TABLE.exists():
        pytest.skip("shipped EA table not present")


@pytest.mark.slow
def test_coverage_of_ea_intervals(tmp_path):
    """50 EA datasets, truth drawn from the fit prior, 15 M events per spectrum (calibration).

    The 68 % and 95 % intervals of Δ, ν_i, ν_μ and Q must contain the truth at the nominal
    rate within 3 binomial SE (benchmarks/validate_fit.py coverage; ~1 min per dataset).
    """
    import argparse

    _needs_table()
    v = _validation_module()
    path = tmp_path / "coverage.json"
    v.run_coverage(argparse.Namespace(n=50, events=15e6, tau=50.0, budget=None, json=path))
    out = v.summarise_coverage(path)
    assert out["n"] == 50
    for name in v.COVERAGE_PRIOR:
        for lvl in (68, 95):
            assert abs(out[f"{name}_{lvl}"]["z"]) < 3, (name, lvl, out[f"{name}_{lvl}"])


@pytest.mark.slow
def test_ea_map_agrees_with_least_squares_of_the_full_model(tmp_path):
    """Laplace-marginal EA MAP vs scipy least_squares with every nuisance explicit: within 0.1 posterior SD."""
    import argparse

    _needs_table()
    v = _validation_module()
    path = tmp_path / "map.json"
    v.run_map(argparse.Namespace(n=2, events=15e6, json=path))
    import json

    for rec in json.loads(path.read_text())["records"]:
        assert np.all(np.abs(rec["shift_in_sd"]) < 0.1), rec["shift_in_sd"]
        assert rec["log_post_laplace_at_map"] >= rec["log_post_laplace_at_ls"] - 1e-3


@pytest.mark.slow
def test_loo_prefers_ea_above_t_star_and_not_on_kt_data():
    """LOO, 20 M events per spectrum, ZF + LF 1 mT, 0–20 μs (benchmarks/validate_fit.py loo; ~15 min).

    EA spectra 5 K above T* (Δ = 0.5, Q = 0.8, ν_i = 4√QΔ, ν_μ = 0.05): EA over KT by > 4 SE
    (measured +5.5 SE).  KT spectra (Δ = 0.43, ν = 0.52): EA not over KT by > 2 SE (measured
    −1.1 SE).  At T* itself (ν_i = 3√QΔ) 20 M events gave +3.6 SE, and the noise-free scaling
    puts the expected 4 SE at ~24 M events; with 30 M events at T* EA is preferred by > 4 SE
    (measured +5.1 SE, seed 5006).
    """
    _needs_table()
    v = _validation_module()
    cases = {c["name"]: c for c in v.LOO_CASES}
    above = v._loo_record(cases["ea_T*+5K_20M"])
    assert above["ratio"] > 4, above
    at_t_star = v._loo_record(cases["ea_T*_30M"])
    assert at_t_star["ratio"] > 4, at_t_star
    kt = v._loo_record(cases["kt_20M"])
    assert kt["ratio"] < 2, kt


def test_shared_nuisances_are_one_parameter():
    runs = _kt_runs(n_bins=100)
    p = TemperatureProblem(runs, "kt", shared=("a0", "fbg"), count_background=False)
    assert "a0" in p.names and "fbg" in p.names and "a0_0" not in p.names and "alpha_1" in p.names
    y = p.to_sampled({"delta": 0.35, "nu": 0.2, "a0": 0.2, "fbg": 0.1, "alpha_0": 1.0, "alpha_1": 1.0})
    q = TemperatureProblem(runs, "kt", count_background=False)
    yq = q.to_sampled({"delta": 0.35, "nu": 0.2, "a0_0": 0.2, "a0_1": 0.2, "fbg_0": 0.1, "fbg_1": 0.1,
                       "alpha_0": 1.0, "alpha_1": 1.0})
    assert p.log_likelihood(y) == pytest.approx(q.log_likelihood(yq), rel=1e-12)
    with pytest.raises(ValueError, match="not per-run parameters"):
        TemperatureProblem(runs, "kt", shared=("delta",))


@pytest.mark.parametrize("prior", [Prior("uniform", -0.5, 0.5), Prior("loguniform", 0.001, 100.0),
                                   Prior("normal", 0.0, 2.0, mu=0.3, sigma=0.05), Prior("fixed", value=0.25)])
def test_prior_description_round_trip(prior):
    back = Prior.from_description(prior.describe())
    assert back.describe() == prior.describe()
    with pytest.raises(ValueError, match="not a prior description"):
        Prior.from_description("gaussian(0.3)")


def _posterior_result(draws: dict, priors: dict):
    """A minimal result holding the given (chain, draw) arrays and their prior texts."""
    n = next(iter(draws.values())).shape
    return compare.make_inference_data(
        draws, np.zeros(n + (3,)), {}, {"y": np.zeros(3)}, {"y": ["obs"]}, {}, {"lp": np.zeros(n)},
        {"priors": [f"{k}: {p.describe()}" for k, p in priors.items()]})


def test_prior_edge_notes_flag_user_bounds_only():
    """A posterior piled against a chosen bound is flagged (one-sided limit quoted); a well-bounded one,
    a flat one (2 % of mass per 2 % of range) and one piled at a physical limit (Q = 1) are not."""
    rng = np.random.default_rng(7)
    shape = (4, 500)
    piled_hi = 16.0 - rng.exponential(0.5, shape)          # log10 ν_i0 against its upper bound 16
    piled_lo = np.exp(np.log(1e-3) + rng.exponential(0.6, shape))  # ν_μ against loguniform lower bound
    priors = {"log10_nu_i0": Prior("uniform", 8.0, 16.0), "nu_mu": Prior("loguniform", 1e-3, 100.0),
              "delta": Prior("loguniform", 0.02, 3.0), "e_i": Prior("uniform", 0.05, 1.2),
              "q": Prior("uniform", 0.0, 1.0)}
    draws = {"log10_nu_i0": piled_hi, "nu_mu": piled_lo, "delta": rng.normal(0.3, 0.003, shape),
             "e_i": rng.uniform(0.05, 1.2, shape), "q": 1.0 - rng.exponential(0.01, shape)}
    notes = compare.prior_edge_notes(_posterior_result(draws, priors))
    assert len(notes) == 2, notes
    hi, lo = notes
    assert hi.startswith("log10_nu_i0:") and "upper bound 16" in hi and "a lower limit (log10_nu_i0 >" in hi
    assert lo.startswith("nu_mu:") and "lower bound 0.001" in lo and "an upper limit (nu_mu <" in lo
    # the quoted limit is the posterior's quantile
    assert f"{np.percentile(piled_hi, 2.5):.4g}" in hi
    # a per-run name takes its base name's physical limit (fbg_2 = 0 is physics)
    fbg = {"fbg_2": Prior("uniform", 0.0, 1.0)}
    assert compare.prior_edge_notes(_posterior_result({"fbg_2": rng.exponential(0.002, shape)}, fbg)) == []
