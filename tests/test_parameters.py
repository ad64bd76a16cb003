"""Every declared parameter, walked through every path that uses it: all must agree with the declaration.

model/parameters.py declares each parameter once (unit, support, default prior).  The sampler's
bounds, the Laplace nuisance box, prior parsing, the CLI help and the results are derived from it;
this test fails the day one of them keeps a range of its own.
"""
import math

import numpy as np
import pytest

from bayesmusr import cli
from bayesmusr.model import parameters as P
from bayesmusr.model.nuisances import HI, LO, LOGK, HistogramNuisances
from bayesmusr.model.rundata import RunData
from bayesmusr.model.scan import KTTemperatureProblem, ScanPointData, ScanProblem, TemperaturePointProblem
from bayesmusr.model.simulate import simulate_spectrum
from bayesmusr.model.temperature import TemperatureProblem

ALL = sorted({p.name: p for p in (*[q for ps in P.PHYSICS_PARAMETERS.values() for q in ps],
                                   *[q for q, _, _ in P.RUN_PARAMETERS], *P.SCAN_PARAMETERS,
                                   P.HOLDER_PARAMETER, P.POOL_PARAMETER, P.N0_PARAMETER)}.values(),
             key=lambda p: p.name)


def _sampling_bounds(prior):
    return (math.log(prior.lo), math.log(prior.hi)) if prior.log_scale else (prior.lo, prior.hi)


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.name)
def test_declaration_is_consistent(p):
    lo, hi = p.domain
    assert lo <= p.bounds[0] < p.bounds[1] <= hi, "the default prior must lie inside the support"
    assert p.prior in ("uniform", "loguniform")
    assert p.unit and p.description
    assert p.check(p.default_prior()) == p.default_prior()
    assert P.declared(p.name) is not None


@pytest.mark.parametrize("p", [q for q in ALL if math.isfinite(q.domain[0]) or math.isfinite(q.domain[1])],
                         ids=lambda p: p.name)
def test_priors_outside_the_support_are_refused(p):
    lo, hi = p.domain
    bad = ("uniform", lo - 1.0, p.bounds[1]) if math.isfinite(lo) else ("uniform", p.bounds[0], hi + 1.0)
    with pytest.raises(ValueError, match=p.name):
        P.parse_prior(bad, p.name, p)
    edge = lo - 0.5 if math.isfinite(lo) else hi + 0.5
    with pytest.raises(ValueError, match="outside the support"):
        P.parse_prior(edge, p.name, p)


def _runs(rng):
    return [simulate_spectrum("dynamic_kt", {"delta": 0.3, "nu": 0.2}, b, rng=rng, n_events=2e5, n_bins=200,
                              bin_width=0.05) for b in (0.0, 1.0)]


def test_sampler_bounds_come_from_the_declarations():
    rng = np.random.default_rng(5)
    runs = _runs(rng)
    for model, rows in P.PHYSICS_PARAMETERS.items():
        tp = TemperatureProblem(runs, model)
        for name, lo, hi in zip(tp.names, *tp.bounds):
            row = P.declared(name)
            assert (lo, hi) == pytest.approx(_sampling_bounds(row.default_prior())), name
        pp = TemperaturePointProblem(ScanPointData(200.0, runs), model)
        assert pp.names == [r.name for r in rows]
        assert np.allclose(np.column_stack(pp.bounds), [_sampling_bounds(r.default_prior()) for r in rows])
    kt = KTTemperatureProblem(ScanPointData(200.0, runs))
    assert np.allclose(np.column_stack(kt.bounds), [_sampling_bounds(r.default_prior()) for r in P.KT_SCAN_PARAMETERS])


def test_scan_bounds_come_from_the_declarations():
    rng = np.random.default_rng(6)
    points = [ScanPointData(t, _runs(rng)) for t in (200.0, 250.0, 300.0)]
    sp = ScanProblem(points, holder_fraction="shared", pooled_delta=True)
    for name, lo, hi in zip(sp.names, *sp.bounds):
        row = P.declared(name)
        assert (lo, hi) == pytest.approx(_sampling_bounds(row.default_prior())), name


def test_laplace_box_is_the_declared_prior_of_each_nuisance():
    a0, alpha, fbg, bgf, bgb = (P.declared(n) for n in ("a0", "alpha", "fbg", "bgf", "bgb"))
    assert (LO[0], HI[0]) == a0.bounds and (LO[2], HI[2]) == fbg.bounds
    assert (LO[3], HI[3]) == bgf.bounds and (LO[4], HI[4]) == bgb.bounds
    # ρ = 1/α: its log-uniform range is the inverse of α's
    assert (LO[1], HI[1]) == pytest.approx((1 / alpha.bounds[1], 1 / alpha.bounds[0])) and LOGK[1]
    assert list(LOGK) == [p.prior == "loguniform" for p in (a0, alpha, fbg, bgf, bgb)]


def test_laplace_conditional_draws_stay_inside_the_support():
    """A run whose nuisances are weakly fixed (hardly any relaxation, few events): every draw inside."""
    rng = np.random.default_rng(7)
    run = simulate_spectrum("dynamic_kt", {"delta": 0.05, "nu": 5.0}, 0.0, rng=rng, n_events=5e4, n_bins=100,
                            bin_width=0.1, fbg=0.0, bgf=0.0, bgb=0.0)
    nu = HistogramNuisances(RunData("histograms", run.t, 0.0, width=run.width, forward=run.forward,
                                    backward=run.backward))
    g = np.exp(-0.02 * run.t)
    draws = np.array([nu.conditional_draw(g, rng) for _ in range(400)])
    assert np.all(draws >= LO) and np.all(draws <= HI)
    alpha = 1 / draws[:, 1]
    assert np.all((alpha >= 0.25) & (alpha <= 4.0))


def test_cli_help_shows_the_declared_default_priors(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fit-temperature", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for model, rows in P.PHYSICS_PARAMETERS.items():
        for p in rows:
            assert f"{p.name} [{p.unit}] {p.default_prior().short()}" in text, (model, p.name)
    for p, _, _ in P.RUN_PARAMETERS:
        assert f"{p.name} {p.default_prior().short()}" in text, p.name


def test_unbounded_transform_round_trips_inside_the_bounds():
    rng = np.random.default_rng(8)
    lo, hi, log = np.array([-0.5, 0.25, 0.0]), np.array([0.5, 4.0, 1.0]), np.array([False, True, False])
    x = lo + (hi - lo) * rng.uniform(0.001, 0.999, (50, 3))
    z = P.to_unbounded(x, lo, hi, log)
    assert np.allclose(P.from_unbounded(z, lo, hi, log), x, rtol=1e-12)
    far = P.from_unbounded(np.array([[-40.0, -40.0, -40.0], [40.0, 40.0, 40.0]]), lo, hi, log)
    assert np.all(far >= lo) and np.all(far <= hi)


def test_problems_refuse_a_prior_outside_the_support():
    rng = np.random.default_rng(9)
    runs = _runs(rng)
    with pytest.raises(ValueError, match="outside the support"):
        TemperatureProblem(runs, "dynamic_kt", {"fbg": ("uniform", -0.5, 1.0)})
    with pytest.raises(ValueError, match="outside the support"):
        TemperaturePointProblem(ScanPointData(200.0, runs), "ea", {"q": ("uniform", 0.0, 1.5)})
    with pytest.raises(ValueError, match="outside the support"):
        ScanProblem([ScanPointData(t, runs) for t in (200.0, 250.0, 300.0)], {"e_mu": ("uniform", -0.1, 0.4)})
