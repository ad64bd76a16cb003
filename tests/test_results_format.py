"""Results users can read: one interval convention, qualified verdicts, small files, honest progress, the API.

* every summary reports the central 68 % and 95 % intervals of ``compare.INTERVALS`` under
  columns that name their level;
* a comparison is "not firm" when a compared fit did not converge (sampler record, R-hat, ESS)
  or when more than 1 % of its bins have Pareto k̂ > 0.7, and the verdict says which fit and why;
* results store their pointwise log-likelihood rounded to a binary grid (≤ 2⁻¹⁶ nats, and
  ≤ 2⁻¹⁰ of each bin's spread): LOO moves by < 1e-3 of its SE and the file ``save`` writes is
  less than 30 % of ArviZ's;
* the sampler's progress is the chain length in τ against its target, a plain line at most every
  ``PROGRESS_EVERY`` seconds when stderr is not a terminal, nothing with ``progress=False``.

All randomness is seeded.
"""
from __future__ import annotations

import io
import os
import sys
import warnings

import numpy as np
import pytest
from scipy.stats import poisson

import bayesmusr as bm
from bayesmusr.inference import compare, sampling
from bayesmusr.inference.adapters import TemperatureAdapter
from bayesmusr.inference.sampling import ConvergenceWarning
from bayesmusr.model.simulate import simulate_spectrum
from bayesmusr.model.temperature import TemperatureProblem
from bayesmusr.workflows import scan


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def _poisson_result(seed: int, slope: float, n_chain: int = 8, n_draw: int = 125, n_bins: int = 300,
                    attrs: dict | None = None, chain_shift: float = 0.0):
    """A result of an exponential-decay Poisson model fitted to fixed counts (posterior drawn, not sampled).

    The counts are Poisson(1000 e^{−t}); the model's rate is 1000 e^{−slope·t} × a, with a drawn
    from its (Gaussian) posterior: slope ≠ 1 is a worse model of the same data.  ``chain_shift``
    moves chain 0 away from the others (a chain that did not mix).
    """
    t = np.linspace(0.0, 3.0, n_bins)
    counts = np.random.default_rng(0).poisson(1000.0 * np.exp(-t)).astype(float)
    rng = np.random.default_rng(seed)
    a = 1.0 + rng.normal(0.0, 0.005, (n_chain, n_draw))
    a[0] += chain_shift
    mu = 1000.0 * np.exp(-slope * t) * a[..., None]
    pointwise = poisson.logpmf(counts, mu)
    replicas = rng.poisson(mu[:, :5]).astype(float)
    return compare.make_inference_data(
        {"a": a}, pointwise, {"forward_0": replicas}, {"forward_0": counts, "time_0": t},
        {"forward_0": ["time_0"], "time_0": ["time_0"]}, {"time_0": t}, {"lp": pointwise.sum(-1)},
        {"model": f"decay{slope:g}", "converged": 1, "chain_length_in_tau": 60.0, "tau_multiple_required": 50.0,
         **(attrs or {})}, pp_dims={"forward_0": ["time_0"]})


# ------------------------------------------------------------------------------ intervals
def test_one_interval_convention_central_68_and_95():
    assert compare.INTERVALS == (0.68, 0.95)
    assert compare.interval_percentiles() == (2.5, 16.0, 50.0, 84.0, 97.5)
    assert compare.interval_columns() == [("q16", "q84"), ("q2.5", "q97.5")]
    assert [compare.interval_label(m) for m in compare.INTERVALS] == ["68 %", "95 %"]
    from bayesmusr.report import bands

    assert bands.PERCENTILES == compare.interval_percentiles() and bands.LEVELS == "68/95 %"


def test_summary_columns_name_their_level_and_match_the_draws():
    idata = _poisson_result(seed=1, slope=1.0)
    s = compare.summary(idata)
    assert list(s.columns) == ["mean", "sd", "q2.5", "q16", "median", "q84", "q97.5", "mcse_mean", "mcse_sd",
                               "ess_bulk", "ess_tail", "r_hat"]
    assert not any(c.startswith("hdi") for c in s.columns)
    x = np.asarray(idata.posterior["a"]).ravel()
    want = np.percentile(x, [2.5, 16, 50, 84, 97.5])
    np.testing.assert_allclose(s.loc["a", ["q2.5", "q16", "median", "q84", "q97.5"]].to_numpy(float), want,
                               rtol=1e-12)
    assert s.loc["a", "sd"] == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    ref = _az().summary(idata, kind="diagnostics", round_to="none")  # ESS, R-hat as ArviZ gives them
    for col in ("ess_bulk", "ess_tail", "r_hat", "mcse_mean"):
        assert s.loc["a", col] == pytest.approx(ref.loc["a", col], rel=1e-12)
    # other levels are possible, and named accordingly
    assert list(compare.summary(idata, intervals=(0.9,)).columns[2:5]) == ["q5", "median", "q95"]


# ------------------------------------------------------------------------------ verdicts
def test_verdict_is_firm_only_when_both_fits_converged():
    good, worse = _poisson_result(1, 1.0), _poisson_result(2, 1.03)
    res = compare.compare_results({"good": good, "worse": worse})
    assert res["loo"].index[0] == "good"
    assert res["verdict"].startswith("The data clearly prefer good over worse")
    assert all(r["reasons"] == [] and r["converged"] for r in res["reliability"].values())

    stopped = _poisson_result(2, 1.03, attrs={"converged": 0, "chain_length_in_tau": 12.0})
    res = compare.compare_results({"good": good, "worse": stopped})
    first = res["verdict"].splitlines()[0]
    assert first.startswith("Not a firm verdict — worse: did not converge (chain 12.0 autocorrelation times "
                            "long, 50 required)")
    assert "Taken at face value, the data clearly prefer good over worse" in first
    table = compare.format_comparison(res)
    assert [line.split()[-1] for line in table.splitlines()[1:3]] == ["yes", "no"]


def test_verdict_names_unmixed_chains_and_missing_records():
    good = _poisson_result(1, 1.0)
    unmixed = _poisson_result(2, 1.03, chain_shift=0.05)  # chain 0 ten posterior SDs away
    rel = compare.fit_reliability(unmixed)
    assert rel["r_hat"][0] == "a" and rel["r_hat"][1] > compare.RHAT_LIMIT
    res = compare.compare_results({"good": good, "unmixed": unmixed})
    assert f"unmixed: R-hat {rel['r_hat'][1]:.3f} for a (limit 1.05)" in res["verdict"].splitlines()[0]
    # a result without a sampler record (a combination of per-temperature fits) is judged by R-hat and ESS
    bare = _poisson_result(3, 1.03)
    for g in bare.groups():
        for k in ("converged", "chain_length_in_tau", "tau_multiple_required"):
            getattr(bare, g).attrs.pop(k)
    res = compare.compare_results({"good": good, "bare": bare})
    assert res["reliability"]["bare"]["converged"] is None
    assert res["verdict"].startswith("The data clearly prefer good over bare")
    assert "bare: no sampler convergence record in the file; judged by R-hat and ESS only." in res["verdict"]
    assert "no record" in compare.format_comparison(res)


def test_verdict_is_not_firm_when_pareto_k_is_bad_in_more_than_1_percent_of_bins():
    good = _poisson_result(1, 1.0)
    heavy = _poisson_result(2, 1.03)
    ll = heavy.log_likelihood["y"].values.copy()
    # 10 % of the bins: one draw of each fits that bin terribly, so its importance weight dominates
    rng = np.random.default_rng(5)
    bins = rng.choice(ll.shape[-1], 30, replace=False)
    ll[rng.integers(0, 8, 30), rng.integers(0, 125, 30), bins] -= 40.0
    heavy.log_likelihood["y"].values[...] = ll
    res = compare.compare_results({"good": good, "heavy": heavy})
    k = res["pareto_k"]["heavy"]
    assert k["bad"] + k["very_bad"] >= 0.05 * k["n"]
    first = res["verdict"].splitlines()[0]
    assert first.startswith("Not a firm verdict — heavy: ")
    assert f"{k['bad'] + k['very_bad']} of 300 bins" in first and "Pareto k̂ > 0.7" in first
    assert "good" not in first.split("Taken at face value")[0]  # the clean fit is not blamed


# ------------------------------------------------------------------------------ result files
def test_saved_result_is_small_and_keeps_loo_within_1e3_of_its_se(tmp_path):
    az = _az()
    idata = _poisson_result(4, 1.0, n_chain=16, n_draw=125, n_bins=1000)
    exact = idata.log_likelihood["y"].values.copy()
    # ArviZ's own writer (float64, zlib) with the unrounded log-likelihood, for reference
    raw = idata.copy()
    raw.log_likelihood["y"].values[...] = poisson.logpmf(
        np.asarray(raw.observed_data["forward_0"]),
        1000.0 * np.exp(-np.asarray(raw.observed_data["time_0"])) * np.asarray(raw.posterior["a"])[..., None])
    raw.to_netcdf(str(tmp_path / "arviz.nc"))
    path = compare.save(idata, tmp_path / "small.nc")
    assert os.path.getsize(path) < 0.3 * os.path.getsize(tmp_path / "arviz.nc")  # measured 0.22
    back = compare.load(path)
    assert back.log_likelihood["y"].dtype == np.float64
    np.testing.assert_array_equal(back.log_likelihood["y"].values, exact)  # in memory = on disk
    assert np.max(np.abs(exact - raw.log_likelihood["y"].values)) <= compare.LOG_LIKELIHOOD_QUANTUM / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, got = az.loo(raw, pointwise=True), az.loo(back, pointwise=True)
    assert abs(got.elpd_loo - ref.elpd_loo) < 1e-3 * ref.se
    assert abs(got.p_loo - ref.p_loo) < 1e-3 * ref.se
    # counts and replicas are stored as integers, read back exactly and as float64
    for group, name in (("posterior_predictive", "forward_0"), ("observed_data", "forward_0")):
        a, b = getattr(back, group)[name], getattr(idata, group)[name]
        assert a.dtype == np.float64
        np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(back.posterior["a"].values, idata.posterior["a"].values)
    assert not list(tmp_path.glob(".*.tmp"))  # written next to the target, then moved over it


def test_rounding_never_ties_a_bin_and_leaves_infinite_terms_alone():
    """A bin whose terms hardly vary (late bins, few counts) keeps distinct values: ArviZ's
    Pareto fit returned NaN for a bin whose tail draws tied (seen with a plain 2⁻¹⁶ grid)."""
    az = _az()
    idata = _poisson_result(5, 1.0, n_draw=125, n_bins=50)
    values = idata.log_likelihood["y"].values
    rng = np.random.default_rng(8)
    values[..., 3] = -3.877 + rng.normal(0.0, 6.5e-7, values.shape[:2])  # spread 0.01 of the coarse grid
    values[0, 0, 7] = -np.inf  # e.g. a zero expected count under a non-zero one
    values[1, 1, 9] = -1.2345678901234e6
    q = compare.quantize_log_likelihood(values)
    assert np.unique(q[..., 3]).size > 500
    assert np.max(np.abs(q[..., 3] - values[..., 3])) <= 6.5e-7 / 2**10
    np.testing.assert_array_equal(q[..., 7], values[..., 7])
    cols = [0, 1, 2, 9]
    assert np.max(np.abs(q[..., cols] - values[..., cols])) <= compare.LOG_LIKELIHOOD_QUANTUM / 2
    np.testing.assert_array_equal(compare.quantize_log_likelihood(q), q)  # already on its grid
    idata.log_likelihood["y"].values[...] = q
    idata.log_likelihood["y"].values[0, 0, 7] = -5.0  # LOO needs finite terms
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(idata, pointwise=True)
    assert np.all(np.isfinite(np.asarray(loo.loo_i))) and np.isfinite(loo.elpd_loo)


def test_a_result_can_be_saved_over_the_file_it_was_loaded_from(tmp_path):
    path = compare.save(_poisson_result(6, 1.0, n_draw=20, n_bins=50), tmp_path / "r.nc")
    lazy = compare.load(path)
    lazy.posterior.attrs["note"] = "resaved"
    compare.save(lazy, path)
    assert compare.load(path).posterior.attrs["note"] == "resaved"


# ------------------------------------------------------------------------------ progress
@pytest.fixture(scope="module")
def tiny_problem():
    rng = np.random.default_rng(3)
    runs = [simulate_spectrum("static_kt", {"delta": 0.35}, 0.0, rng=rng, n_bins=100, bin_width=0.04,
                              n_events=1e6, fbg=0.1)]
    return TemperatureAdapter(TemperatureProblem(runs, "static_kt", count_background=False))


def _run(problem, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sampling.sample(problem, seed=1, max_steps=300, check_every=50, min_steps=100, max_draws=100,
                               n_predictive=10, **kw)


def test_progress_off_is_silent(tiny_problem, capsys):
    _run(tiny_problem, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_in_a_log_is_plain_lines_at_most_every_progress_every_seconds(tiny_problem, capsys, monkeypatch):
    _run(tiny_problem)  # a sub-second run: the opening line and the closing line, nothing in between
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "\r" not in "".join(lines)
    assert lines[0] == ("emcee 16 walkers: sampling until the chain is 50 autocorrelation times long and its "
                        "kept draws have split R-hat < 1.01 and bulk ESS ≥ 400 (at least 100 steps, at most 300)")
    assert lines[1].startswith("emcee 16 walkers: stopped at step 300: chain ") and "50 τ needed" in lines[1]
    monkeypatch.setattr(sampling, "PROGRESS_EVERY", 0.0)  # every step would be due: one line per step
    _run(tiny_problem)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 300 + 2
    assert lines[1] == "emcee 16 walkers: step 1; τ not estimated yet (first estimate at step 100)"
    assert "step 150: chain " in lines[150] and " τ of 50 needed (τ_max " in lines[150]
    assert "20000" not in "".join(lines) and "/300" not in "".join(lines)


def test_progress_on_a_terminal_is_a_bar_to_the_tau_target(tiny_problem, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    _run(tiny_problem)
    text = term.getvalue()
    assert "\r" in text and "emcee 16 walkers:" in text
    assert " τ of 50 needed (τ_max " in text and "% |" in text
    assert "/300" not in text  # no step counter towards max_steps, no ETA to it


# ------------------------------------------------------------------------------ API
def test_top_level_api():
    assert set(bm.__all__) >= {"read_run", "fit_temperature", "fit_scan", "load", "save", "summary", "compare",
                               "compare_results", "estimate_alpha", "MuonRun", "RunCollection", "__version__"}
    assert all(hasattr(bm, n) for n in bm.__all__)
    assert bm.fit_scan is scan.fit_scan and bm.compare is compare.compare_results is bm.compare_results
    assert bm.summary is compare.summary and bm.save is compare.save and bm.load is compare.load
    from bayesmusr.io.collection import RunCollection

    assert bm.RunCollection is RunCollection and isinstance(bm.__version__, str)

