"""Bad input at the command line and in TOML files: status 2 and a message naming the culprit, before any work.

Each case is one command; the assertions are the exit status (2 bad input, 1 a bad file in ``info``)
and that the message on stderr names the option, key or file and what was expected.  (Readers have
their own corpus: tests/test_bad_inputs_readers.py.)
"""
from __future__ import annotations

import pathlib
import shutil
import time

import pytest

from bayesmusr import cli

DATA = pathlib.Path(__file__).parent / "data"
ZF = DATA / "EMU00020882.nxs"

FIT = ["fit-temperature", "{run}", "--out", "{tmp}/r.nc"]

CASES = [
    # (argv, status, fragments the message must contain)
    (["fit-temperature", "{tmp}/missing.nxs"], 2, ["missing.nxs"]),
    ([*FIT, "--forward", "0-3", "--backward", "49"], 2, ["forward", "numbered from 1"]),
    ([*FIT, "--forward", "1-3"], 2, ["both forward and backward"]),
    ([*FIT, "--forward", "1-3", "--backward", "200"], 2, ["backward", "200"]),
    ([*FIT, "--forward", "1-48", "--backward", "40-96"], 2, ["overlap"]),
    ([*FIT, "--t0", "-5"], 2, ["t0", ">= 0"]),
    ([*FIT, "--t0", "1", "2", "3"], 2, ["t0", "expected 1 value"]),
    ([*FIT, "--t0", "5", "--t0-us", "0.1"], 2, ["not both"]),
    ([*FIT, "--good-bins", "100", "50"], 2, ["good_bins", "end bin"]),
    ([*FIT, "--good-bins", "1", "2", "3"], 2, ["good_bins", "2 or 4"]),
    ([*FIT, "--period", "0"], 2, ["period", "from 1"]),
    ([*FIT, "--period", "3"], 2, ["period", "1..1"]),
    ([*FIT, "--period", "1-2"], 2, ["period", "not Poisson"]),
    ([*FIT, "--dead-time", "maybe"], 2, ["dead_time", "auto, file, none"]),
    ([*FIT, "--dead-time", "0.01", "0.02"], 2, ["dead_time", "96"]),
    ([*FIT, "--background", "1", "2"], 2, ["background", "fit, none"]),
    ([*FIT, "--alpha", "-1"], 2, ["alpha", "> 0"]),
    ([*FIT, "--alpha", "nan"], 2, ["alpha", "finite"]),
    ([*FIT, "--alpha-convention", "musrfit"], 2, ["alpha_convention", "without alpha"]),
    ([*FIT, "--alpha", "1", "--alpha-convention", "psi"], 2, ["alpha_convention", "bayesmusr, mantid, musrfit"]),
    ([*FIT, "--bunch", "0"], 2, ["bunch", ">= 1"]),
    ([*FIT, "--bunch", "2.5"], 2, ["bunch", "whole number"]),
    ([*FIT, "--bunch", "5000"], 2, ["bunch=5000"]),
    ([*FIT, "--t-min", "5", "--t-max", "1"], 2, ["t_max", "after t_min"]),
    ([*FIT, "--t-min", "40", "--t-max", "50"], 2, ["time window"]),
    ([*FIT, "--temperature", "-5"], 2, ["temperature_K", "> 0"]),
    ([*FIT, "--temperature", "inf"], 2, ["temperature_K", "finite"]),
    ([*FIT, "--field", "-1"], 2, ["field_mT", ">= 0"]),
    ([*FIT, "--field", "1", "2", "3"], 2, ["--field", "one per file"]),
    ([*FIT, "--max-steps", "0"], 2, ["max_steps", ">= 1"]),
    ([*FIT, "--max-seconds", "-1"], 2, ["max_seconds", ">= 0"]),
    ([*FIT, "--workers", "0"], 2, ["workers", ">= 1"]),
    ([*FIT, "--seed", "-1"], 2, ["seed", ">= 0"]),
    ([*FIT, "--prior", "delta"], 2, ["--prior", "NAME="]),
    ([*FIT, "--prior", "nosuch=1"], 2, ["nosuch"]),
    ([*FIT, "--prior", "delta=uniform:2:1"], 2, ["delta"]),
    ([*FIT, "--msr", "{tmp}/none.msr"], 2, ["none.msr"]),
    ([*FIT, "--msr", "{text}"], 2, ["no RUN block"]),
    ([*FIT, "--nuisances", "laplace", "--extra-relaxation"], 2, ["laplace", "extra_relaxation"]),
    ([*FIT, "--backend", "{text}"], 2, ["--backend", "did not write"]),
    (["fit-temperature", "{text}"], 2, ["notes.txt"]),
    (["info", "{tmp}"], 1, ["ERROR", "directory"]),
    (["info", "{run}", "--bunch", "0"], 2, ["bunch"]),
    (["plot", "{run}", "--period", "2", "-o", "{tmp}/p.png"], 2, ["period"]),
    (["plot", "{run}", "--t-min", "40", "--t-max", "50", "-o", "{tmp}/p.png"], 2, ["time window"]),
    (["report", "{run}", "--out", "{tmp}/x.html"], 2, ["result"]),
    (["compare", "{tmp}/none.nc", "{tmp}/none2.nc"], 2, ["none.nc"]),
    (["rerun", "{run}"], 2, ["run.nxs", "result"]),
    (["fit", "{tmp}/none.toml"], 2, ["none.toml"]),
]

TOML = [
    # (analysis TOML text, fragments of the message)
    ('[modle]\npooled_delta = true\n[data]\nruns = "r.toml"\n', ["modle", "did you mean 'model'"]),
    ('[data]\nruns = "r.toml"\nbunhc = 4\n', ["bunhc", "did you mean 'bunch'"]),
    ('[data]\nruns = "r.toml"\n[model]\npooled_delat = true\n', ["pooled_delat", "pooled_delta"]),
    ('[data]\nruns = "r.toml"\n[model]\npooled_delta = "yes"\n', ["pooled_delta", "true or false"]),
    ('[data]\nruns = "r.toml"\n[sampler]\nmax_steps = -1\n', ["[sampler]", "max_steps"]),
    ('[data]\nruns = "r.toml"\n[sampler]\nseed = "one"\n', ["seed", "whole number"]),
    ('[data]\nruns = "r.toml"\n[kt.sampler]\nnwalker = 8\n', ["nwalker", "nwalkers"]),
    ('[data]\nruns = "r.toml"\nt0 = "x"\n', ["t0", "numbers"]),
    ('[data]\nruns = "r.toml"\ntemperature_tolerance_K = -1\n', ["temperature_tolerance_K", ">= 0"]),
    ('[data]\nruns = "r.toml"\n[output]\nfolder = 3\n', ["folder", "folder name"]),
    ('[data]\nruns = "r.toml"\n[truth]\ne_ii = 0.3\n', ["e_ii", "e_i"]),
    ('[data\nruns = "r.toml"\n', ["invalid TOML"]),
    ('[model]\npooled_delta = true\n', ["[data]"]),
]


@pytest.fixture()
def paths(tmp_path):
    run = tmp_path / "run.nxs"
    shutil.copy(ZF, run)
    text = tmp_path / "notes.txt"
    text.write_text("not a run and not an msr file\n")
    return {"run": run, "tmp": tmp_path, "text": text}


@pytest.mark.parametrize("argv, status, fragments", CASES, ids=[" ".join(c[0][:1] + c[0][4:6]) for c in CASES])
def test_bad_command_lines(argv, status, fragments, paths, capsys):
    t0 = time.perf_counter()
    assert cli.main([a.format(**paths) for a in argv]) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for frag in fragments:
        assert frag in err, (frag, err)
    assert not (paths["tmp"] / "r.nc").exists()  # refused before any result was written
    assert time.perf_counter() - t0 < 60  # before any sampling


@pytest.mark.parametrize("text, fragments", TOML, ids=[t[1][0] for t in TOML])
def test_bad_analysis_tomls(text, fragments, tmp_path, capsys):
    cfg = tmp_path / "a.toml"
    cfg.write_text(text)
    assert cli.main(["fit", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "a.toml" in err and "Traceback" not in err
    for frag in fragments:
        assert frag in err, (frag, err)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
