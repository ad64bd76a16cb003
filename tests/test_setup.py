"""Run set-up (bayesmusr.io.setup) and musrfit msr import (bayesmusr.io.msr): conventions and equivalences."""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

from bayesmusr import cli
from bayesmusr.io.msr import read_msr
from bayesmusr.io.readers import read_run
from bayesmusr.io.run import MuonRun, make_histogram_dataset
from bayesmusr.io.setup import RunSetup, _musrfit_range, format_detectors, parse_detectors
from bayesmusr.model.nuisances import HistogramNuisances
from bayesmusr.model.rundata import RunData
from bayesmusr.model.simulate import simulate_run
from bayesmusr.model.temperature import TemperatureProblem
from bayesmusr.workflows.scan import check_config
from bayesmusr.workflows.temperature import fit_temperature

DATA = pathlib.Path(__file__).parent / "data"
MDU = DATA / "psi_convert_test_mdu_1.mdu"  # 5 histograms "Forward", "Backward", ...; header t0 259, 251


def test_detector_lists_as_facilities_number_them():
    assert parse_detectors("1-4 7,9") == (1, 2, 3, 4, 7, 9)
    assert parse_detectors([5, "6-7"]) == (5, 6, 7)
    assert format_detectors([1, 2, 3, 5, 7, 8]) == "1-3 5 7-8"
    for bad, why in (("0-3", "from 1"), ("4-2", "upwards"), ("1 1", "repeat"), ("a", "not a detector")):
        with pytest.raises(ValueError, match=why):
            parse_detectors(bad, "forward")


@pytest.mark.parametrize("values, message", [
    ({"bunhc": 4}, "did you mean 'bunch'"),
    ({"t_min": -1}, "t_min: expected a value >= 0"),
    ({"t_min": 2, "t_max": 1}, "t_max .* must be after t_min"),
    ({"t0": 10, "t0_us": 0.1}, "not both"),
    ({"alpha_convention": "musrfit"}, "without alpha"),
    ({"alpha": 0}, "alpha: expected a value > 0"),
    ({"period": "0"}, "numbered from 1"),
    ({"period": "1+2-3"}, "not both"),
    ({"good_bins": [10, 5]}, "end bin must come after"),
    ({"dead_time": "sometimes"}, "auto, file, none"),
    ({"background": [1, 2]}, "fit, none"),
    ({"bunch": 2.5}, "whole number"),
])
def test_bad_setup_values_are_named(values, message):
    with pytest.raises(ValueError, match=message):
        RunSetup.from_mapping(values, "test")


def test_alpha_conventions_match_musrfit_formulas():
    """bayesmusr/Mantid α = N_F/N_B; musrfit's α (PRunAsymmetry) is N_B/N_F.  Checked on exact counts."""
    t = np.linspace(0, 10, 200)
    p = 0.22 * np.exp(-0.3 * t)  # A·P(t)
    n_f, n_b = 1000.0, 700.0  # the forward group counts more: bayesmusr α = 1000/700
    f, b = n_f * (1 + p), n_b * (1 - p)
    alpha_bm = RunSetup(alpha=n_f / n_b).alpha_bayesmusr
    alpha_mf = n_b / n_f
    assert RunSetup(alpha=alpha_mf, alpha_convention="musrfit").alpha_bayesmusr == pytest.approx(alpha_bm)
    np.testing.assert_allclose((f - alpha_bm * b) / (f + alpha_bm * b), p, rtol=1e-12)  # Mantid AsymmetryCalc
    np.testing.assert_allclose((alpha_mf * f - b) / (alpha_mf * f + b), p, rtol=1e-12)  # musrfit's view asymmetry
    # musrfit's fit compares (f − b)/(f + b) with (P(α+1) − (α−1))/((α+1) − P(α−1)), α its own
    a = alpha_mf
    np.testing.assert_allclose((f - b) / (f + b), (p * (a + 1) - (a - 1)) / ((a + 1) - p * (a - 1)), rtol=1e-12)


def test_t0_in_bins_is_the_bin_centre():
    run = read_run(MDU)
    bw = run.bin_width_us
    base = RunData.from_run(run, forward=[1], backward=[2])  # header t0 bins 259, 251 (bin centres)
    as_bins = RunData.from_run(run, forward=[1], backward=[2], t0=[259, 251])
    as_us = RunData.from_run(run, forward=[1], backward=[2], t0_us=[259.5 * bw, 251.5 * bw])
    for other in (as_bins, as_us):
        np.testing.assert_allclose(other.t, base.t, atol=1e-12)
        np.testing.assert_array_equal(other.forward, base.forward)
        np.testing.assert_array_equal(other.backward, base.backward)
    shifted = RunData.from_run(run, forward=[1], backward=[2], t0=[258, 250])
    # t0 one bin earlier: the same raw bins (the file's first good bin) are one bin width later
    np.testing.assert_array_equal(shifted.forward, base.forward)
    np.testing.assert_allclose(shifted.t - base.t, bw, rtol=1e-9)


def test_musrfit_data_range_rule():
    # forward starts 10 bins after its t0, backward 7: backward's range is forward's, moved to its t0
    assert _musrfit_range((170, 9956, 168, 9110), (160.0, 161.0)) == (170, 9956, 171, 9957)
    assert _musrfit_range((100, 900, 120, 950), (90.0, 100.0)) == (110, 940, 120, 950)
    assert _musrfit_range((100, 900, 110, 910), (90.0, 100.0)) == (100, 900, 110, 910)


MSR = """Mn3O4 test
###############################################################
FITPARAMETER
#      Nr. Name        Value     Step      Pos_Error  Boundaries
        1 alpha       0.9       0           none        0       none
        2 asy         0.2       0.01        none
        3 field       50        0           none
        4 width       0.3       0.01        none
        5 hopp        0.1       0.01        none
###############################################################
THEORY
asymmetry      2
dynGssKTLF  fun1     4     5    (frequency damping hopping-rate)
###############################################################
FUNCTIONS
fun1 = par3 * gamma_mu
###############################################################
RUN data/other_run PIM3 PSI MDU   (name beamline institute data-file-format)
fittype         2         (asymmetry fit)
alpha           1
forward         3
backward        4
t0              250.0 250.0
###############################################################
RUN data/psi_convert_test_mdu_1 PIM3 PSI MDU   (name beamline institute data-file-format)
fittype         2         (asymmetry fit)
alpha           1
map             0    0    0    0    0    0    0    0    0    0
forward         2
backward        1
background      20      200     22      230
data            265     16000   258     16100
t0              259.0   251.0
fit             0.05    8
packing         16
###############################################################
COMMANDS
MINIMIZE
"""


def test_msr_run_block_equals_the_same_options(tmp_path):
    msr = tmp_path / "fit.msr"
    msr.write_text(MSR)
    imp = read_msr(msr, run=MDU)
    assert imp.run_name == "data/psi_convert_test_mdu_1" and imp.file_format == "MDU"
    s = imp.setup
    assert (s.forward, s.backward, s.t0, s.bunch, s.t_min, s.t_max) == ((2,), (1,), (259.0, 251.0), 16, 0.05, 8.0)
    assert s.good_bins == (265, 16000, 258, 16100) and s.background == (20.0, 200.0, 22.0, 230.0)
    assert s.alpha_bayesmusr == pytest.approx(1 / 0.9) and s.field_mT == pytest.approx(5.0)  # 50 G
    assert any(line.startswith("map") for line in imp.ignored)
    from_msr = RunData.from_run(MDU, s)
    by_hand = RunData.from_run(MDU, forward=[2], backward=[1], t0=[259, 251], good_bins=[265, 16000, 258, 16100],
                               bunch=16, t_min=0.05, t_max=8, alpha=0.9, alpha_convention="musrfit", field_mT=5.0)
    for name in ("t", "forward", "backward", "width"):
        np.testing.assert_array_equal(getattr(from_msr, name), getattr(by_hand, name))
    assert from_msr.alpha == by_hand.alpha == pytest.approx(1 / 0.9) and from_msr.b_lf == 5.0
    # the same bins musrfit fits: packs of 16 from the later-starting group's first good bin, times in [0.05, 8]
    assert from_msr.t.min() >= 0.05 and from_msr.t.max() <= 8.0
    # the first RUN block is another run; asked by number it is taken
    assert read_msr(msr, block=1).setup.forward == (3,)
    with pytest.raises(ValueError, match="--msr-run"):
        read_msr(msr, run=tmp_path / "unknown.bin")


def test_msr_fit_range_in_bins(tmp_path):
    msr = tmp_path / "bins.msr"
    msr.write_text(MSR.replace("fit             0.05    8", "fit             fgb+5   lgb-100"))
    s = read_msr(msr, run=MDU).setup
    assert s.good_bins == (270, 15900, 263, 16000) and s.t_min is None


def test_fixed_alpha_is_honoured_by_both_nuisance_treatments():
    rng = np.random.default_rng(5)
    run = simulate_run("static_kt", {"delta": 0.3}, rng=rng, n_bins=400, alpha=1.25)
    rd = RunData.from_run(run, alpha=0.8, alpha_convention="musrfit", b_lf=0.0)
    assert rd.alpha == pytest.approx(1.25)
    block = HistogramNuisances(rd)
    assert not block.free[1] and block.fixed[1] == pytest.approx(0.8)  # ρ = 1/α fixed
    prob = TemperatureProblem([rd], "static_kt")
    entry = next(e for e in prob.entries if e.name == "alpha_0")
    assert entry.prior.kind == "fixed" and entry.prior.value == pytest.approx(1.25)
    assert "alpha_0" not in prob.names


def test_runs_of_different_temperatures_are_refused():
    rng = np.random.default_rng(2)
    runs = [simulate_run("static_kt", {"delta": 0.3}, rng=rng, n_bins=200, temperature_K=t) for t in (100.0, 150.0)]
    with pytest.raises(ValueError, match="different temperatures"):
        fit_temperature(runs, "static_kt", progress=False, max_steps=10)


def _two_period_run() -> MuonRun:
    counts = np.zeros((2, 2, 50), dtype=np.int64)
    counts[0] += 10
    counts[1] += 3
    ds = make_histogram_dataset(counts, bin_width_us=0.1, t0_us=0.05, first_good_bin=1, last_good_bin=50,
                                grouping=[1, 2], good_frames=[100.0, 50.0],
                                attrs={"temperature_K": 10.0, "geometry": "ZF", "field_mT": 0.0})
    return MuonRun(ds)


def test_periods_selected_summed_and_differenced():
    run = _two_period_run()
    assert run.grouped(period="1+2")["forward"].values[0] == 13 == run.grouped(period="sum")["forward"].values[0]
    assert run.grouped(period="1+2").attrs["good_frames"] == 150
    assert run.grouped(period="1-2")["forward"].values[0] == 7
    assert run.grouped(period=2)["forward"].values[0] == 3
    with pytest.raises(ValueError, match="not Poisson"):
        RunData.from_run(run, period="1-2")
    with pytest.raises(ValueError, match="periods 1..2"):
        RunData.from_run(run, period="3")


def test_analysis_toml_keys_are_checked():
    good = {"data": {"runs": "r.toml", "bunch": 4}, "model": {"pooled_delta": False}, "sampler": {"seed": 1}}
    check_config(good, "a.toml")
    for cfg, message in (({**good, "modle": {}}, "did you mean 'model'"),
                         ({**good, "data": {"runs": "r.toml", "bunhc": 4}}, "did you mean 'bunch'"),
                         ({**good, "model": {"pooled_delat": True}}, "did you mean 'pooled_delta'"),
                         ({**good, "kt": {"sampler": {"nwalker": 8}}}, "did you mean 'nwalkers'"),
                         ({**good, "data": {"runs": "r.toml", "t0": -3}}, "t0: expected t0 >= 0")):
        with pytest.raises(ValueError, match=message):
            check_config(cfg, "a.toml")


def test_cli_msr_then_options_over_it(tmp_path, capsys):
    msr = tmp_path / "fit.msr"
    msr.write_text(MSR)
    args = cli.build_parser().parse_args(["fit-temperature", str(MDU), "--msr", str(msr), "--bunch", "8",
                                          "--forward", "2", "--backward", "1", "--t0", "259", "251"])
    (setup,) = cli._run_setups(args, args.files)
    assert setup.bunch == 8 and setup.good_bins == (265, 16000, 258, 16100) and setup.forward == (2,)
    assert "taken:" in capsys.readouterr().out
    args = cli.build_parser().parse_args(["fit-temperature", str(MDU), str(MDU), "--field", "1", "2"])
    assert [s.field_mT for s in cli._run_setups(args, args.files)] == [1.0, 2.0]


def test_setup_is_stored_in_the_run_data():
    rd = RunData.from_run(MDU, forward="2", backward="1", bunch=4, dead_time=False)
    assert rd.meta["setup"] == {"forward": [2], "backward": [1], "dead_time": "none", "bunch": 4}
    assert math.isclose(rd.meta["reduction"]["bin_width_us"], 4 * read_run(MDU).bin_width_us)


def test_info_shows_a_run_as_set_up(tmp_path, capsys):
    msr = tmp_path / "fit.msr"
    msr.write_text(MSR)
    assert cli.main(["info", str(MDU), "--msr", str(msr)]) == 0
    out = capsys.readouterr().out
    rd = RunData.from_run(MDU, read_msr(msr, run=MDU).setup)
    assert f"as set up: forward 2, backward 1, {rd.n_obs} bins" in out
    assert cli.main(["info", str(MDU), "--forward", "1", "--backward", "1"]) == 1  # overlapping groups
    assert "overlap" in capsys.readouterr().err


def test_setup_round_trips_through_the_specification(tmp_path):
    msr = tmp_path / "fit.msr"
    msr.write_text(MSR)
    setup = read_msr(msr, run=MDU).setup.updated({"dead_time": "none", "period": 1})
    assert RunSetup.from_mapping(setup.to_dict()) == setup  # what refit() reads back from a result


@pytest.mark.parametrize("table, key, value, message", [
    ("model", "pooled_delta", "yes", "true or false"),
    ("model", "holder_fraction", "per-run", "shared"),
    ("data", "temperature_tolerance_K", -1, ">= 0"),
    ("data", "files", [1, 2], "list of file names"),
    ("kt", "parallel", 1, "true or false"),
    ("output", "folder", 3, "folder name"),
])
def test_analysis_toml_values_are_checked(table, key, value, message):
    cfg = {"data": {"runs": "r.toml"}, table: {key: value}} if table != "data" else {"data": {"runs": "r.toml",
                                                                                            key: value}}
    with pytest.raises(ValueError, match=message):
        check_config(cfg, "a.toml")


def test_plot_with_a_set_up_and_ranges(tmp_path):
    from bayesmusr.report.plots import _asymmetry

    msr = tmp_path / "fit.msr"
    msr.write_text(MSR)
    out = tmp_path / "p.png"
    assert cli.main(["plot", str(MDU), "--msr", str(msr), "--t-max", "2", "--y-range", "-0.3", "0.3",
                     "-o", str(out)]) == 0
    assert out.stat().st_size > 1000
    setup = read_msr(msr, run=MDU).setup.updated({"t_max": 2.0})
    run = setup.apply(read_run(MDU))
    t, a, e, note = _asymmetry(run, setup)
    assert t.min() >= 0.05 and t.max() <= 2.0 and "α = 1.111" in note and "background subtracted" in note
    with pytest.raises(ValueError, match="no points in the time window"):
        _asymmetry(run, setup.updated({"t_min": 50.0, "t_max": 60.0}))
