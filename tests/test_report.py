"""``bayesmusr report``: one self-contained HTML file that shows every run, with honest numbers.

The fits come from ``examples/report_walkthrough.py`` run once in FAST mode
(a three-temperature ZF + LF scan, EA scan model and KT per temperature, short
chains): the example is tested and its results are the fixture.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import pathlib
import re
import runpy
import shutil
import warnings
from html.parser import HTMLParser

import numpy as np
import pytest

from bayesmusr import cli
from bayesmusr.physics import tables
from bayesmusr.report import html as report
from bayesmusr.report.results import _flat_temperatures

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
needs_table = pytest.mark.skipif(not tables.DEFAULT_TABLE.exists(), reason="shipped EA table not present")
PNG = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Images, tables (rows of cell texts, by id/class), links and the visible text of a report."""

    def __init__(self, text: str):
        super().__init__()
        self.images, self.tables, self.links, self.tags, self.text = [], [], [], set(), []
        self.captions, self._caption = [], None
        self._table = self._row = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        for k in ("src", "href"):
            if k in a:
                self.links.append(a[k])
        if tag == "img":
            self.images.append(a)
        elif tag == "table":
            self._table = {"id": a.get("id"), "class": a.get("class"), "rows": []}
            self.tables.append(self._table)
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table["rows"].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "caption":
            self._caption = []

    def handle_endtag(self, tag):
        if tag == "caption" and self._caption is not None:
            self.captions.append("".join(self._caption).strip())
            self._caption = None
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._caption is not None:
            self._caption.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def table(self, **key):
        (k, v), = key.items()
        found = [t for t in self.tables if t[k] == v]
        assert found, f"no table with {k}={v!r}"
        return found[0]["rows"]


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    """Run the walkthrough example (FAST) once; returns (its output folder, its JSON numbers)."""
    if not tables.DEFAULT_TABLE.exists():
        pytest.skip("shipped EA table not present")
    out = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BAYESMUSR_FAST", "1")
        mp.setenv("BAYESMUSR_EXAMPLES_OUT", str(out))
        runpy.run_path(str(EXAMPLES / "report_walkthrough.py"), run_name="__main__")
    base = out / "report_walkthrough"
    return base, json.loads((base / "report_walkthrough.json").read_text())


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az
    return az


@needs_table
def test_walkthrough_writes_its_figures_and_the_report(walkthrough):
    base, res = walkthrough
    assert res["meta"]["fast_mode"] is True and res["n_runs"] == 6
    for name in res["figures"]:
        data = (base / name).read_bytes()
        assert data[:8] == PNG and len(data) > 10_000, name
    assert pathlib.Path(res["report"]).exists()
    assert set(res["elpd_loo"]) == {"ea_scan", "kt_per_temperature"}


@needs_table
def test_report_is_self_contained_and_shows_every_run(walkthrough):
    base, _ = walkthrough
    page = _Page((base / "report.html").read_text(encoding="utf-8"))
    # no external assets: every image is an embedded PNG, no scripts, stylesheets or frames
    assert not {"script", "link", "iframe"} & page.tags
    assert not [u for u in page.links if re.match(r"^(https?:)?//", u)], "external link in the report"
    assert page.images and all(i["src"].startswith("data:image/png;base64,") for i in page.images)
    for img in page.images:
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == PNG
    by_class = {}
    for img in page.images:
        by_class.setdefault(img["class"], []).append(img)
    # one image per run, each labelled with its run, temperature and field
    ea = _az().from_netcdf(str(base / "fit" / "ea_scan.nc"))
    labels = ea.posterior.attrs["run_labels"].split("; ")
    temps = np.asarray(ea.posterior.attrs["run_temperatures_K"])
    assert sorted(int(i["data-run"]) for i in by_class["run"]) == list(range(len(labels))) == list(range(6))
    text = " ".join(page.text)
    for label, t, img in zip(labels, temps, sorted(by_class["run"], key=lambda i: int(i["data-run"]))):
        assert label in img["alt"] and f"T = {t:.4g} K" in img["alt"]
        assert img["alt"] in text  # also as a visible caption
    assert len(by_class["corner"]) == 1  # the EA scan; the KT reading has no global parameters (said in a note)
    assert "kt_per_temperature: no global parameters" in text
    assert {i["data-result"] for i in by_class["temperature"]} == {"ea_scan", "kt_per_temperature"}
    assert {i["data-result"] for i in by_class["diagnostics"]} == {"ea_scan", "kt_per_temperature"}
    # the comparison table lists both readings; the per-temperature KT fits are listed in the diagnostics
    assert [r[0] for r in page.table(**{"class": "comparison"})[1:]] in (["ea_scan", "kt_per_temperature"],
                                                                       ["kt_per_temperature", "ea_scan"])
    assert [r[0] for r in page.table(**{"class": "ktfits"})[1:]] == [f"kt/kt_T{j:02d}.nc" for j in range(3)]


@needs_table
def test_diagnostics_tables_match_arviz_summary_and_sampler_attributes(walkthrough):
    base, _ = walkthrough
    page = _Page((base / "report.html").read_text(encoding="utf-8"))
    az = _az()
    idata = az.from_netcdf(str(base / "fit" / "ea_scan.nc"))
    assert idata.posterior["nu_i_T"].dims[-1] == "temperature"  # per-temperature rates carry their dimension
    idata.posterior = _flat_temperatures(idata.posterior)  # the report lists them one row per temperature
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.summary(idata, round_to="none")  # mean, sd, MCSE, ESS and R-hat as ArviZ computes them
    # the package's one interval convention: central 68 % and 95 % intervals, from the draws themselves
    pct = {"q2.5": 2.5, "q16": 16, "median": 50, "q84": 84, "q97.5": 97.5}
    for col, q in pct.items():
        ref[col] = [np.percentile(np.asarray(idata.posterior[n]).ravel(), q) for n in ref.index]
    rows = page.table(id="summary-ea_scan")
    header, body = rows[0], rows[1:]
    assert header[1:] == ["mean", "sd", "q2.5", "q16", "median", "q84", "q97.5", "mcse_mean", "mcse_sd", "ess_bulk",
                          "ess_tail", "r_hat"]
    assert "central credible intervals of 68 % (q16–q84) and 95 % (q2.5–q97.5)" in page.captions[0]
    assert [r[0] for r in body] == list(ref.index)
    for row in body:
        for col, cell in zip(header[1:], row[1:]):
            want = float(ref.loc[row[0], col])
            if not np.isfinite(want):
                assert cell == "–", (row[0], col, cell)
                continue
            got = float(cell)
            tol = {"ess_bulk": 0.5, "ess_tail": 0.5, "r_hat": 5e-4}.get(col, 5e-4 * abs(want) + 1e-300)
            assert abs(got - want) <= tol, (row[0], col, got, want)
    # sampler attributes: acceptance fraction and autocorrelation times as stored
    attrs = idata.posterior.attrs
    sampler = {r[0]: r[1] for r in page.table(**{"class": "sampler"})[1:]}
    assert float(sampler["acceptance_fraction_mean"]) == pytest.approx(attrs["acceptance_fraction_mean"], rel=5e-4)
    assert float(sampler["tau_max"]) == pytest.approx(attrs["tau_max"], rel=5e-4)
    assert sampler["convergence_message"] == attrs["convergence_message"]
    tau = {r[0]: float(r[1]) for r in page.table(**{"class": "tau"})[1:]}
    assert list(tau) == attrs["tau_names"].split("; ")
    np.testing.assert_allclose(list(tau.values()), attrs["tau"], rtol=5e-4)


def _without_predictive(result):
    groups = {g: getattr(result.idata, g) for g in result.idata.groups() if g != "posterior_predictive"}
    return dataclasses.replace(result, idata=type(result.idata)(**groups))


def _check_model_bands_match_predictive(result):
    """Bands computed through the model agree with the sampler's posterior-predictive replicas."""
    stripped = _without_predictive(result)
    for run, run2 in zip(result.runs, stripped.runs):
        a = report.run_bands(result, run)
        b = report.run_bands(stripped, run2, n_draws=200, seed=1)
        assert "posterior_predictive group" in a.source and "posterior draws put through" in b.source
        assert a.alpha == pytest.approx(b.alpha, rel=1e-8, nan_ok=True)  # the same α (NaN: asymmetry run)
        half = 0.5 * np.nanmean(a.bands[3] - a.bands[1])  # 68 % half width of one replica's bin
        ok = np.isfinite(a.bands[2]) & np.isfinite(b.bands[2])
        # both are posterior-predictive medians of the same model: equal up to replica noise
        assert np.mean(np.abs(a.bands[2][ok] - b.bands[2][ok])) < 0.4 * half, run.title
        assert np.mean(np.abs((b.bands[3] - b.bands[1])[ok] / (a.bands[3] - a.bands[1])[ok] - 1)) < 0.35
        assert b.inside95 > 0.8 and a.inside95 > 0.8, run.title


@needs_table
def test_bands_through_the_model_agree_with_posterior_predictive(walkthrough):
    base, _ = walkthrough
    data = report.collect_results([base / "fit"])
    ea, kt = data["results"]
    _check_model_bands_match_predictive(ea)
    # the combined KT reading has no replicas: its bands come from the model, with fields from ea_scan.nc
    b = report.run_bands(kt, kt.runs[1])
    assert "posterior draws put through the kt_per_temperature model" in b.source
    assert b.bands is not None and b.inside95 > 0.8
    assert kt.runs[1].b_lf == ea.runs[1].b_lf == 1.0


def _own_kt_alpha(kt, run, per_run_holder=True):
    """α of the KT reading's own nuisances for ``run``: conditional optimum at its posterior-median (Δ_T, ν_T)."""
    from bayesmusr.model.forward import relaxation
    from bayesmusr.model.nuisances import HistogramNuisances
    from bayesmusr.model.rundata import RunData

    j = int(np.argmin(np.abs(kt.temperatures - run.temperature)))
    theta = [float(np.median(kt.draws(f"{n}_T{j}"))) for n in ("delta", "nu")]
    block = HistogramNuisances(RunData("histograms", run.t, run.b_lf, width=run.width, forward=run.forward,
                                       backward=run.backward), per_run_holder, True)
    assert np.isfinite(block.marginal(relaxation("dynamic_kt", run.t, run.b_lf, theta)))
    return 1.0 / block.eta[1]  # η = (A, ρ = 1/α, f, β_F, β_B)


@needs_table
def test_kt_bands_use_the_kt_readings_own_nuisances(walkthrough, tmp_path):
    """The KT reading's replicas are made with its own α (and A, f, backgrounds), not the EA scan's; the figure
    shows data and both bands with one α (the EA scan's), so the KT band sits on the data at early times.

    Drawn the old way (the KT band in its own α, the data in the EA α) the first ten points of some runs of
    this fixture were offset by up to 5 band half-widths; tolerance here: 1 half-width (measured ≤ 0.3)."""
    import netCDF4

    base, _ = walkthrough
    ea, kt = report.collect_results([base / "fit"])["results"]
    alphas = []
    for run_ea, run in zip(ea.runs, kt.runs):
        b_ea = report.run_bands(ea, run_ea)
        b_kt = report.run_bands(kt, run, alpha=b_ea.alpha)
        assert b_kt.fit_alpha == pytest.approx(_own_kt_alpha(kt, run), rel=1e-9), run.title
        assert b_kt.alpha == b_ea.alpha == pytest.approx(b_ea.fit_alpha, rel=1e-12)  # one α in the figure
        alphas.append((b_ea.fit_alpha, b_kt.fit_alpha))
        half = 0.5 * (b_kt.bands[3] - b_kt.bands[1])[:10]
        assert abs(np.mean((b_kt.bands[2][:10] - b_ea.y[:10]) / half)) < 1.0, run.title
    assert max(abs(a - b) for a, b in alphas) > 1e-3  # the two readings' α differ: the check above means something
    # 'bayesmusr fit' stores the EA scan's holder_fraction=shared in the KT reading, whose fits had one f per run
    shared = tmp_path / "kt_per_temperature.nc"
    shutil.copy(base / "fit" / "kt_per_temperature.nc", shared)
    with netCDF4.Dataset(shared, "a") as ds:
        ds["posterior"].setncattr("options", "pooled_delta=False; holder_fraction=shared; count_background=True")
    kt_shared = report.load_result(shared)
    assert kt_shared.options["holder_fraction"] == "shared"
    run = kt_shared.runs[0]
    assert report.run_bands(kt_shared, run).fit_alpha == pytest.approx(_own_kt_alpha(kt, run), rel=1e-9)
    kt_shared.close()


def _one_temperature_result(path, rng):
    """A dynamic-KT result of one ZF histogram run and one LF asymmetry run with every nuisance in the posterior
    (as ``fit-temperature`` writes), made by hand: narrow draws around the truth, data from the forward model, a
    fit specification whose fixed background bgb_0 is stored nowhere else, and no posterior_predictive group."""
    from bayesmusr.inference import compare
    from bayesmusr.model.forward import bin_decay, histogram_shapes, polarisation, relaxation
    from bayesmusr.workflows.spec import new_spec, spec_attrs

    t = np.arange(150) * 0.08 + 0.04
    width = np.full(t.size, 0.08)
    truth = {"delta": 0.35, "nu": 0.2, "a0_0": 0.23, "alpha_0": 1.08, "fbg_0": 0.06, "bgf_0": 1e-3,
             "n0_0": 2e4, "a0_1": 0.2, "base_1": 0.01}
    shape = (4, 150)
    post = {k: v * (1 + 2e-3 * rng.standard_normal(shape)) for k, v in truth.items()}
    mf, mb = histogram_shapes(bin_decay(t, width), truth["a0_0"] * polarisation(
        relaxation("dynamic_kt", t, 0.0, (0.35, 0.2)), truth["fbg_0"]), truth["alpha_0"], truth["bgf_0"], 2e-3)
    err = np.full(t.size, 0.01)
    asym = truth["a0_1"] * relaxation("dynamic_kt", t, 1.0, (0.35, 0.2)) + truth["base_1"] + err * rng.standard_normal(t.size)
    observed = {"forward_0": rng.poisson(2e4 * mf), "backward_0": rng.poisson(2e4 * mb), "bin_width_0": width,
                "asymmetry_1": asym, "asymmetry_error_1": err}
    dims = {k: [f"time_{k[-1]}"] for k in observed}
    spec = new_spec("temperature", runs=[{"label": "ZF", "kind": "histograms", "field_mT": 0.0, "temperature_K": 100.0},
                                         {"label": "LF", "kind": "asymmetry", "field_mT": 1.0, "temperature_K": 100.0}],
                    model={"name": "dynamic_kt", "priors": {"delta": {"kind": "loguniform", "lo": 0.01, "hi": 5},
                                                            "nu": {"kind": "loguniform", "lo": 1e-3, "hi": 100},
                                                            "bgb_0": {"kind": "fixed", "value": 2e-3}},
                           "options": {"holder_fraction": True, "count_background": True}, "nuisances": "sampled"},
                    sampler={})
    attrs = {"bayesmusr_result": "temperature", "model": "dynamic_kt", "temperature_K": 100.0, **spec_attrs(spec)}
    idata = compare.make_inference_data(post, np.zeros((*shape, 2 * t.size)), {}, observed, dims,
                                        {"time_0": t, "time_1": t}, {"lp": np.zeros(shape)}, attrs)
    compare.save(idata, path)
    return truth


def test_band_median_is_the_forward_model_at_the_posterior_median(tmp_path):
    """Without posterior_predictive replicas the bands come from posterior draws put through the model layer;
    with a posterior 0.2 % wide their median must be the forward model at the posterior-median draw, to within
    the Monte Carlo error of a median of 400 replicas (SD ≈ 1.25 σ/√400 = 0.06 σ, σ the 68 % half-width of the
    band): mean deviation < 0.15 σ, largest < 0.4 σ over the 150 bins of each run."""
    from bayesmusr.model.forward import asymmetry_shape, bin_decay, histogram_shapes, polarisation, relaxation

    _one_temperature_result(tmp_path / "kt.nc", np.random.default_rng(7))
    res = report.load_result(tmp_path / "kt.nc")
    assert res.kind == "temperature" and res.fixed == {"bgb_0": 2e-3} and [r.b_lf for r in res.runs] == [0.0, 1.0]
    med = {n: float(np.median(res.draws(n))) for n in res.idata.posterior.data_vars}
    for run in res.runs:
        b = report.run_bands(res, run, n_draws=400, seed=3, max_points=1000)
        assert "400 posterior draws put through the dynamic_kt model" in b.source and b.pack == 1
        g = relaxation("dynamic_kt", run.t, run.b_lf, (med["delta"], med["nu"]))
        if run.kind == "histograms":
            mf, mb = histogram_shapes(bin_decay(run.t, run.width), med["a0_0"] * polarisation(g, med["fbg_0"]),
                                      med["alpha_0"], med["bgf_0"], 2e-3)
            assert b.alpha == b.fit_alpha == pytest.approx(med["alpha_0"])
            model = (mf - b.alpha * mb) / (mf + b.alpha * mb)  # N0 cancels
        else:
            model = asymmetry_shape(med["a0_1"], g, med["base_1"])
        dev = np.abs(b.bands[2] - model) / (0.5 * (b.bands[3] - b.bands[1]))
        assert np.mean(dev) < 0.15 and np.max(dev) < 0.4, (run.kind, np.mean(dev), np.max(dev))
        assert 0.85 < b.inside95 <= 1.0
    res.close()


@needs_table
def test_a_result_without_fields_is_reported_with_the_reason(walkthrough, tmp_path):
    base, _ = walkthrough
    # kt_per_temperature.nc stores its runs' fields; a file from before that (or edited) does not
    alone = tmp_path / "kt_per_temperature.nc"
    shutil.copy(base / "fit" / "kt_per_temperature.nc", alone)
    import netCDF4

    with netCDF4.Dataset(alone, "a") as ds:
        for group in ds.groups.values():
            if "run_fields_mT" in group.ncattrs():
                group.delncattr("run_fields_mT")
    out = report.write_report(alone)
    assert out == tmp_path / "kt_per_temperature_report.html"
    page = _Page(out.read_text(encoding="utf-8"))
    text = " ".join(page.text)
    assert len([i for i in page.images if i["class"] == "run"]) == 6  # every run is still shown (data only)
    assert "no band" in text and "longitudinal field is not stored" in text
    assert "chain_length_in_tau" in text  # the combined KT reading carries its fits' sampler record


@needs_table
def test_the_kt_reading_alone_carries_its_fields_and_gets_bands(walkthrough, tmp_path):
    base, _ = walkthrough
    alone = tmp_path / "kt_alone.nc"
    shutil.copy(base / "fit" / "kt_per_temperature.nc", alone)
    kt = report.load_result(alone)
    for run in kt.runs:
        b = report.run_bands(kt, run)
        assert b.bands is not None and b.inside95 > 0.8, run.title


@needs_table
def test_cli_report_with_compare(walkthrough, tmp_path, capsys):
    base, res = walkthrough
    out = tmp_path / "r.html"
    assert cli.main(["report", str(base / "fit" / "ea_scan.nc"), "--compare",
                     str(base / "fit" / "kt_per_temperature.nc"), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = _Page(out.read_text(encoding="utf-8"))
    rows = {r[0]: r for r in page.table(**{"class": "comparison"})[1:]}
    for name, elpd in res["elpd_loo"].items():  # the same LOO as the walkthrough's compare call
        assert float(rows[name][2]) == pytest.approx(elpd, rel=5e-4)
    assert len([i for i in page.images if i["class"] == "run"]) == 6


def test_bad_input_fails_with_clear_messages(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="missing.nc"):
        report.load_result(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netCDF")
    with pytest.raises(ValueError, match=r"junk\.nc: not a bayesmusr fit result"):
        report.write_report(junk)
    from bayesmusr.model.simulate import simulate_run

    run_file = tmp_path / "run.nc"  # a data run, not a result
    simulate_run("kt", {"delta": 0.3, "nu": 0.1}, rng=np.random.default_rng(0), n_bins=50).to_netcdf(run_file)
    with pytest.raises(ValueError, match=r"run\.nc: not a bayesmusr fit result .*expected a netCDF written by"):
        report.load_result(run_file)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no bayesmusr result netCDF in this folder"):
        report.write_report(tmp_path / "empty")
    assert cli.main(["report", str(run_file)]) == 2
    err = capsys.readouterr().err
    assert "run.nc" in err and "not a bayesmusr fit result" in err
    assert not list(tmp_path.glob("*.html"))


def test_fit_temperature_result(tmp_path):
    """A one-temperature fit (``bayesmusr fit-temperature``): runs, corner of the physics, no T dependence."""
    from bayesmusr.inference.sampling import ConvergenceWarning
    from bayesmusr.workflows.temperature import fit_temperature
    from bayesmusr.model.simulate import simulate_spectrum

    rng = np.random.default_rng(5)
    runs = [simulate_spectrum("kt", {"delta": 0.35, "nu": 0.2}, b, rng=rng, n_bins=150, bin_width=0.1,
                              n_events=2e6, a0=0.22, alpha=1.05, fbg=0.05, kind=kind)
            for b, kind in ((0.0, "histograms"), (1.0, "histograms"), (2.0, "asymmetry"))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit_temperature(runs, "kt", out=tmp_path / "kt.nc", seed=2, progress=False, nwalkers=16, max_steps=150,
                        min_steps=100, check_every=50, max_draws=400, n_predictive=100)
    res = report.load_result(tmp_path / "kt.nc")
    assert res.kind == "temperature" and res.global_names() == ["delta", "nu"]
    _check_model_bands_match_predictive(res)
    page = _Page(report.write_report(tmp_path / "kt.nc").read_text(encoding="utf-8"))
    classes = [i["class"] for i in page.images]
    assert classes.count("run") == 3 and classes.count("corner") == 1 and "temperature" not in classes
    assert "single-temperature result has no temperature dependence" in " ".join(page.text)


@needs_table
def test_report_releases_the_result_files(walkthrough, tmp_path):
    """``bayesmusr fit`` rewrites kt_per_temperature.nc on a rerun in the same process: the report must not hold it."""
    from bayesmusr.inference import compare

    base, _ = walkthrough
    folder = tmp_path / "fit"
    shutil.copytree(base / "fit", folder)
    # one file: its metadata come from ea_scan.nc next to it, which is opened too and must be released as well
    report.write_report(folder / "kt_per_temperature.nc", tmp_path / "r.html", n_draws=40)
    for name in ("kt_per_temperature.nc", "ea_scan.nc"):
        idata = compare.load(base / "fit" / name)
        compare.save(idata, folder / name)  # fails with "file already open" if the report kept it open
        report.load_result(folder / name).close()
