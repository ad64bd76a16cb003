"""End-to-end: `bayesmusr fit` on a tiny simulated scan writes results, figures and a report; bad configs fail clearly."""
import json
import runpy

import numpy as np
import pytest

from bayesmusr import cli, tables
from bayesmusr.analysis import load_config

needs_table = pytest.mark.skipif(not tables.DEFAULT_TABLE.exists(), reason="shipped EA table not present")
EXAMPLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples"


@needs_table
def test_fit_command_end_to_end(tmp_path):
    make_scan = runpy.run_path(str(EXAMPLES / "make_demo_scan.py"), run_name="t")["make_scan"]
    make_scan(tmp_path / "scan", n_events=2e6, temperatures=np.array([230.0, 280.0, 330.0]))
    (tmp_path / "a.toml").write_text("""
[data]
runs = "scan/runs.toml"
bunch = 10
t_max = 16.0
[sampler]
seed = 3
max_steps = 400
min_steps = 200
progress = false
[kt.sampler]
max_steps = 300
min_steps = 200
progress = false
[truth]
e_i = 0.35
[output]
folder = "out"
""")
    with pytest.warns(Warning):  # short chains: the convergence warning must be raised, not hidden
        assert cli.main(["fit", str(tmp_path / "a.toml"), "--quiet"]) == 0
    out = tmp_path / "out"
    for name in ("ea_scan.nc", "kt_per_temperature.nc", "comparison.txt", "conventional.json", "report.md",
                 "rates.png", "delta_kt.png", "evidence_per_temperature.png", "spectra.png", "corner.png"):
        assert (out / name).exists(), name
    conv = json.loads((out / "conventional.json").read_text())
    assert len(conv["delta_kt"]) == 3 and conv["t_star_K"] in (230.0, 280.0, 330.0)
    report = (out / "report.md").read_text()
    assert "EA scan model" in report and "elpd" in report
    # a second run reuses the finished results (resumability of the whole job)
    assert cli.main(["fit", str(tmp_path / "a.toml"), "--quiet"]) == 0


def test_bad_configs_fail_with_clear_messages(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_config(bad)
    bad.write_text("[model]\npooled_delta = true\n")
    with pytest.raises(ValueError, match=r"\[data\] table"):
        load_config(bad)
    assert cli.main(["fit", str(tmp_path / "missing.toml")]) == 2
    assert "not found" in capsys.readouterr().err


@needs_table
def test_support_warning_when_delta_piles_at_the_table_edge():
    """A Δ posterior pressed against ω_L/Δ ≤ ω_max is reported as truncated by the table."""
    import types

    import xarray as xr

    from bayesmusr.analysis import support_warning
    from bayesmusr.functions import OMEGA_PER_MT

    run = types.SimpleNamespace(b_lf=1.0, t=np.linspace(0, 16, 10))
    problem = types.SimpleNamespace(table=None, points=[types.SimpleNamespace(runs=[run])])
    edge = OMEGA_PER_MT * 1.0 / tables.load_table().omega_max
    rng = np.random.default_rng(0)
    at_edge = types.SimpleNamespace(posterior=xr.Dataset({"delta": (("chain", "draw"), edge + 0.002 * rng.random((4, 50)))}))
    inside = types.SimpleNamespace(posterior=xr.Dataset({"delta": (("chain", "draw"), 0.35 + 0.002 * rng.random((4, 50)))}))
    assert "truncated by the table" in support_warning(problem, at_edge)
    assert support_warning(problem, inside) == ""
