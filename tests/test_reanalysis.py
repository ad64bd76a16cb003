"""Published-table reanalysis: the CSV reader, the likelihood, the problems, the workflow and the CLI.

The model-layer tests use a smooth stand-in for the KT reading (``ToyReading``), so that they test
the likelihood and the sampler plumbing independently of the emulator (tests/test_kt_reading.py
tests the reading itself); the end-to-end tests use the real emulator on a small grid.
"""
import math
import pathlib

import numpy as np
import pytest
from scipy import stats

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.published import PublishedTable, read_published_table
from bayesmusr.model.reanalysis import ConventionalProblem, EAReadingProblem, noise_priors, two_state_delta
from bayesmusr.physics.constants import K_B_EV, arrhenius


class ToyReading:
    """A smooth reading with the right limits: Δ_KT from √(1−Q)Δ to Δ as ν_i crosses Δ; ν_KT = ν_μ + ν_i/(1+(ν_i/Δ)²)."""

    domain = {"delta": (0.1, 1.0), "q": (0.0, 0.95)}
    description = "toy reading (tests)"

    def __call__(self, delta, q, nu_i, nu_mu):
        s = 1.0 / (1.0 + (delta / nu_i) ** 2)
        return delta * np.sqrt(1.0 - q * s), nu_mu + q * nu_i / (1.0 + (nu_i / delta) ** 2)


TRUTH = {"log10_nu_i0": 12.7, "e_i": 0.35, "log10_nu_mu0": 6.3, "e_mu": 0.02, "delta": 0.3, "q": 0.8}
TEMPS = np.linspace(150.0, 400.0, 12)


def toy_table(seed=1, rel=(0.02, 0.15)):
    rng = np.random.default_rng(seed)
    ni = arrhenius(TEMPS, TRUTH["log10_nu_i0"], TRUTH["e_i"])
    nm = arrhenius(TEMPS, TRUTH["log10_nu_mu0"], TRUTH["e_mu"])
    d, n = ToyReading()(TRUTH["delta"], TRUTH["q"], ni, nm)
    de, ne = rel[0] * d, rel[1] * n
    return PublishedTable.from_columns("toy", temperature_K=TEMPS, delta_kt=d + de * rng.standard_normal(d.size),
                                       delta_kt_err=de, nu_kt=n * np.exp(rel[1] * rng.standard_normal(n.size)),
                                       nu_kt_err=ne)


# ------------------------------------------------------------------ the CSV reader
def write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reader_reads_sorts_and_keeps_blanks(tmp_path):
    p = write(tmp_path, "# digitised from Fig. 2\ntemperature_K,delta_kt,nu_kt\n300,0.2,1.5\n\n100,0.3,\n200,0.29,0.4\n")
    t = read_published_table(p)
    assert t.temperature.tolist() == [100, 200, 300]
    assert t.delta_kt.tolist() == [0.3, 0.29, 0.2]
    assert math.isnan(t.nu_kt[0]) and t.nu_kt[2] == 1.5
    assert not t.has_delta_errors and not t.has_nu_errors


@pytest.mark.parametrize("text, needle", [
    ("temperature_K,nu_kt\n1,1\n2,1\n3,1\n", "required column(s) ['delta_kt']"),
    ("temperature_K,delta_kt,nu,nu_kt\n", "unknown column(s) ['nu']"),
    ("temperature_K,delta_kt,nu_kt\n1,0.3,1\n2,abc,1\n3,0.3,1\n", "line 3, column delta_kt"),
    ("temperature_K,delta_kt,nu_kt\n1,0.3,1\n2,0.3\n3,0.3,1\n", "3 comma-separated cells"),
    ("temperature_K,delta_kt,nu_kt\n1,0.3,1\n1,0.3,1\n3,0.3,1\n", "1 K appears twice"),
    ("temperature_K,delta_kt,nu_kt\n1,-0.3,1\n2,0.3,1\n3,0.3,1\n", "delta_kt at T = 1 K"),
    ("temperature_K,delta_kt,nu_kt\n0,0.3,1\n2,0.3,1\n3,0.3,1\n", "temperature_K at T = 0 K"),
    ("temperature_K,delta_kt,nu_kt,nu_kt_err\n1,0.3,1,0.1\n2,0.3,1,\n3,0.3,1,0.1\n", "given for some values"),
    ("temperature_K,delta_kt,nu_kt\n1,0.3,1\n2,0.3,1\n", "at least 3 temperatures"),
    ("temperature_K,delta_kt,nu_kt\n1,0.3,\n2,0.3,\n3,0.3,\n", "no temperature has a published"),
    ("", "header"),
])
def test_reader_refuses_bad_tables_naming_the_place(tmp_path, text, needle):
    with pytest.raises(RunFormatError) as e:
        read_published_table(write(tmp_path, text))
    assert needle in str(e.value) and "t.csv" in str(e.value)


def test_reader_refuses_missing_and_binary_files(tmp_path):
    with pytest.raises(RunFormatError, match="no such file"):
        read_published_table(tmp_path / "nope.csv")
    p = tmp_path / "b.csv"
    p.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(RunFormatError, match="UTF-8"):
        read_published_table(p)


# ------------------------------------------------------------------ the likelihood
def test_pointwise_likelihood_is_normal_on_delta_and_log_nu():
    t = toy_table()
    p = EAReadingProblem(t, ToyReading())
    x = p.physical(TRUTH)
    d, n = ToyReading()(0.3, 0.8, *p.rates(x))
    want = (stats.norm.logpdf(t.delta_kt, d, t.delta_kt_err)
            + stats.norm.logpdf(np.log(t.nu_kt), np.log(n), t.nu_kt_err / t.nu_kt))
    np.testing.assert_allclose(p._pointwise(x), want, rtol=1e-12)


def test_rows_without_nu_count_delta_only_and_relative_noise():
    t = toy_table()
    nu = t.nu_kt.copy()
    nu[:4] = np.nan
    t2 = PublishedTable.from_columns("toy", temperature_K=t.temperature, delta_kt=t.delta_kt, nu_kt=nu)
    p = EAReadingProblem(t2, ToyReading(), noise={"delta": 0.05, "nu": 0.2})
    assert p.names == ["log10_nu_i0", "e_i", "log10_nu_mu0", "e_mu", "delta", "q"]  # both scales fixed
    x = p.physical(TRUTH)
    d, n = ToyReading()(0.3, 0.8, *p.rates(x))
    want = stats.norm.logpdf(t.delta_kt, d, 0.05 * t.delta_kt)
    want[4:] += stats.norm.logpdf(np.log(nu[4:]), np.log(n[4:]), 0.2)
    np.testing.assert_allclose(p._pointwise(x), want, rtol=1e-12)


def test_noise_options():
    t = toy_table()
    assert noise_priors(t)["noise_delta"].kind == "fixed"
    fit = noise_priors(t, {"nu": "fit"})["noise_nu"]
    assert (fit.kind, fit.lo, fit.hi) == ("loguniform", 0.3, 10.0)
    bare = PublishedTable.from_columns("x", temperature_K=TEMPS, delta_kt=np.full(12, 0.3), nu_kt=np.ones(12))
    assert noise_priors(bare)["noise_delta"].kind == "loguniform"  # no errors published: fitted by default
    with pytest.raises(ValueError, match="no delta_kt_err column"):
        noise_priors(bare, {"delta": "published"})
    for bad in ({"delta": 2.0}, {"delta": "sometimes"}, {"width": "fit"}):
        with pytest.raises(ValueError, match="noise"):
            noise_priors(t, bad)


def test_unknown_prior_names_are_refused():
    with pytest.raises(ValueError, match="unknown prior name"):
        EAReadingProblem(toy_table(), ToyReading(), priors={"e_kt": 0.3})
    with pytest.raises(ValueError, match="delta_model"):
        ConventionalProblem(toy_table(), "three_state")


def test_two_state_law_limits():
    # low T: all of Δ; high T with N e^{−E/kT} ≫ 1: √(1 − Q) Δ; the midpoint where N e^{−E/kT} = 1
    assert two_state_delta(1.0, 0.3, 0.8, 1e8, 0.4) == pytest.approx(0.3)
    assert two_state_delta(1e5, 0.3, 0.8, 1e8, 0.4) == pytest.approx(0.3 * math.sqrt(0.2), rel=1e-6)
    t_mid = 0.4 / (K_B_EV * math.log(1e8))
    assert two_state_delta(t_mid, 0.3, 0.8, 1e8, 0.4) == pytest.approx(0.3 * math.sqrt(0.4 + 0.2))


def test_conventional_reading_recovers_an_arrhenius_table():
    """A table made by the conventional model itself: its MAP returns the Arrhenius parameters."""
    from bayesmusr.inference.sampling import find_map

    nu = arrhenius(TEMPS, 11.0, 0.25)
    d = two_state_delta(TEMPS, 0.3, 0.6, 1e7, 0.35)
    t = PublishedTable.from_columns("x", temperature_K=TEMPS, delta_kt=d, delta_kt_err=0.003 * d, nu_kt=nu,
                                    nu_kt_err=0.05 * nu)
    p = ConventionalProblem(t, "two_state")
    y, _ = find_map(p)
    v = dict(zip(p.all_names, p.params.to_physical(y)))
    assert v["e_kt"] == pytest.approx(0.25, abs=2e-3)
    assert v["log10_nu_kt0"] == pytest.approx(11.0, abs=0.05)
    assert v["q"] == pytest.approx(0.6, abs=0.02)


# ------------------------------------------------------------------ sampling the toy posterior
@pytest.fixture(scope="module")
def toy_posterior():
    from bayesmusr.inference.sampling import sample

    p = EAReadingProblem(toy_table(), ToyReading())
    return p, sample(p, seed=3, progress=False, max_steps=6000)


def test_toy_posterior_holds_the_truth(toy_posterior):
    p, idata = toy_posterior
    assert idata.posterior.attrs["converged"] == 1
    for name in ("e_i", "q", "e_mu", "delta"):
        lo, hi = np.percentile(idata.posterior[name].values, [0.5, 99.5])
        assert lo < TRUTH[name] < hi, name
    # the reading per temperature is stored with a temperature coordinate, the log-likelihood per row
    assert idata.posterior["nu_kt_T"].shape[-1] == TEMPS.size
    assert idata.log_likelihood["y"].shape[-1] == TEMPS.size
    assert set(idata.posterior_predictive) == {"delta_kt", "nu_kt"}


# ------------------------------------------------------------------ the workflow, the CLI, rerun, report
@pytest.fixture()
def toy_emulator(monkeypatch):
    """The workflow with the toy reading in place of the emulator (the emulator has its own tests)."""
    from bayesmusr.model.kt_reading import KTReadingEmulator

    monkeypatch.setattr(KTReadingEmulator, "load_or_build", classmethod(lambda cls, *a, **k: ToyReading()))


def write_table(path, table):
    rows = ["temperature_K,delta_kt,delta_kt_err,nu_kt,nu_kt_err"]
    rows += [f"{t},{d},{de},{n},{ne}" for t, d, de, n, ne in zip(table.temperature, table.delta_kt,
                                                                 table.delta_kt_err, table.nu_kt, table.nu_kt_err)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_cli_reanalyse_writes_results_report_and_reruns(tmp_path, toy_emulator, capsys):
    import warnings

    from bayesmusr import cli
    from bayesmusr.inference import compare
    from bayesmusr.workflows.spec import read_spec

    write_table(tmp_path / "pub.csv", toy_table())
    toml = tmp_path / "r.toml"  # the CLI on a TOML file; its flags win over the file's keys
    toml.write_text('[reanalysis]\ntable = "pub.csv"\nfields_mT = [0.5]\n[sampler]\nmax_draws = 200\n'
                    'min_steps = 300\n', encoding="utf-8")
    out = tmp_path / "re"
    argv = ["reanalyse", str(toml), "--out", str(out), "--fields", "0,1", "--max-steps", "600", "--seed", "2",
            "--conventional", "two_state"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: convergence warnings
        assert cli.main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "EA reading" in printed and "T*" in printed
    for name in ("reanalysis.nc", "conventional_two_state.nc", "comparison.txt", "report.html"):
        assert (out / name).is_file(), name
    ea = compare.load(out / "reanalysis.nc")
    spec = read_spec(ea)
    assert spec["kind"] == "reanalysis" and spec["job"]["conditions"]["fields_mT"] == [0.0, 1.0]
    assert spec["job"]["table_file"]["sha256"]
    assert ea.predictions["t_star"].shape == ea.posterior["e_i"].shape
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html and "Verdict" in html
    # a second identical call reuses both results (no sampling)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(argv) == 0
    assert capsys.readouterr().out.count("reusing") == 2
    # rerun from the stored specification gives the same chain (same seed, settings, table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["rerun", str(out / "reanalysis.nc"), "--out", str(tmp_path / "again"), "--quiet"]) == 0
    again = compare.load(tmp_path / "again" / "reanalysis.nc")
    np.testing.assert_array_equal(again.posterior["e_i"].values, ea.posterior["e_i"].values)


@pytest.mark.parametrize("args, needle", [
    (["--fields", "0,x"], "--fields '0,x'"),
    (["--source", "laser"], "source"),
    (["--noise-nu", "often"], "noise.nu"),
    (["--conventional", "three_state"], "conventional"),
    (["--prior", "e_kz=uniform:0:1"], "e_kz"),
    (["--t-max", "-3"], "t_max_us"),
    (["--workers", "0"], "--workers"),
])
def test_cli_reanalyse_refuses_bad_options_before_work(tmp_path, toy_emulator, capsys, args, needle):
    from bayesmusr import cli

    csv = write_table(tmp_path / "pub.csv", toy_table())
    assert cli.main(["reanalyse", str(csv), "--out", str(tmp_path / "o"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_toml_route_and_unknown_keys(tmp_path, toy_emulator):
    import warnings

    from bayesmusr.workflows.reanalyse import load_reanalysis_config, reanalyse_config

    write_table(tmp_path / "pub.csv", toy_table())
    (tmp_path / "bad.toml").write_text('[reanalysis]\ntable = "pub.csv"\nfield_mT = [0, 1]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="did you mean 'fields_mT'"):
        load_reanalysis_config(tmp_path / "bad.toml")
    (tmp_path / "r.toml").write_text('[reanalysis]\ntable = "pub.csv"\nfields_mT = [0, 1]\nconventional = '
                                     '["constant"]\nseed = 4\n[reanalysis.noise]\nnu = "fit"\n[sampler]\nmax_steps = '
                                     '600\nmin_steps = 300\nmax_draws = 200\nprogress = false\n[priors]\n'
                                     'e_mu = ["uniform", 0.0, 0.1]\n', encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = reanalyse_config(tmp_path / "r.toml", progress=False)
    assert res.out == tmp_path / "reanalysis-output"
    assert "noise_nu" in res.ea.posterior and float(res.ea.posterior["e_mu"].max()) <= 0.1
    assert set(res.conventional) == {"constant"}


def test_t_star_is_the_vertex_of_the_peak_between_grid_points():
    from bayesmusr.workflows.reanalyse import _peak

    grid = np.sort(1.0 / np.linspace(1 / 40.0, 1 / 500.0, 81))
    for t_peak in (250.0, 283.3, 301.7):  # ln ν a parabola in 1/T: the vertex is exact
        nu = np.exp(-((1.0 / grid - 1.0 / t_peak) * 3000.0) ** 2)
        assert _peak(grid, nu[None, :])[0] == pytest.approx(t_peak, rel=1e-9)
    rising = np.exp(-1.0 / grid)  # no maximum inside: the grid's end
    assert _peak(grid, rising[None, :])[0] == grid[-1]
    nan_hot = np.where(grid > 400, np.nan, np.exp(-((1.0 / grid - 1.0 / 300.0) * 3000.0) ** 2))
    assert _peak(grid, nan_hot[None, :])[0] == pytest.approx(300.0)


@pytest.mark.slow
def test_fig3_example_holds_the_truth_and_prefers_ea(tmp_path):
    """examples/reanalysis: Kadono's Fig. 3 parameters, a table made by real KT fits of noisy EA spectra."""
    import tomllib
    import warnings

    from bayesmusr.workflows.reanalyse import reanalyse_from_config

    here = pathlib.Path(__file__).resolve().parent.parent / "examples" / "reanalysis"
    cfg = tomllib.loads((here / "fig3.toml").read_text(encoding="utf-8"))
    cfg["sampler"] = {"progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = reanalyse_from_config(cfg, here, tmp_path / "out", progress=False)
    for name, true in cfg["truth"].items():
        lo, hi = np.percentile(res.ea.posterior[name].values, [2.5, 97.5])
        assert lo <= true <= hi, (name, lo, true, hi)
    assert res.summary["best"] == "EA reading" and res.summary["muon_fraction"] > 0.9
    lo, _, hi = res.summary["t_star"]
    assert lo <= 281.0 <= hi  # the noise-free reading's maximum (direct kt_reading on a 1 K grid)
