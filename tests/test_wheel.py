"""Installable anywhere: a wheel built from the repository works outside the source tree.

The wheel must hold every subpackage and the EA table (package data), and the
installed copy must give the same G^EA as the source tree, with ``python -m
bayesmusr`` and the ``bayesmusr`` script answering ``--version``.  Also: without
an explicit output, ``bayesmusr tables build`` refuses to write into a read-only
installed package instead of failing half-way (or changing the installation).
"""
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import bayesmusr
from bayesmusr import cli
from bayesmusr.physics import tables

REPO = pathlib.Path(__file__).resolve().parent.parent
SUBPACKAGES = ("physics", "io", "io/readers", "model", "inference", "workflows", "report")
EA_ARGS = "0.3, 1.0, 0.05, 0.8, 1.0"  # delta, nu_i, nu_mu, q, b_lf


def _copy_source(dst: pathlib.Path):
    """The repository without its VCS, venv, build leftovers and caches.

    The wheel is built from a copy: an in-tree build (pip ≥ 23.1) would leave build/ and
    *.egg-info in the shared checkout, and a stale build/lib could carry deleted modules
    into the wheel.  What goes into the wheel is decided by pyproject.toml alone.
    """
    shutil.copytree(REPO, dst, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
        "demo-output", "*.build", "*.tmp"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(tmp folder, wheel, site folder) of a wheel built from the repository and installed with --target."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    _copy_source(src)
    dist = tmp / "dist"
    quiet = ["--quiet", "--disable-pip-version-check", "--no-input"]
    # --no-build-isolation: build with this venv's setuptools + wheel (no network access needed)
    subprocess.run([sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(src)], check=True, cwd=tmp)
    (wheel,) = dist.glob("bayesmusr-*.whl")
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", *quiet, "--no-deps", "--target", str(site), str(wheel)],
                   check=True, cwd=tmp)
    return tmp, wheel, site


def _isolated_env(site: pathlib.Path) -> dict:
    """Environment for a python that imports bayesmusr from `site` and nothing from the source tree.

    sys.executable is this venv's python, so numpy, scipy, numba, xarray, netCDF4 ... come from the
    venv's site-packages as usual; bayesmusr itself must come from `site`:
    * PYTHONPATH=site puts it on sys.path *before* site-packages;
    * the venv's editable install of the repository works through a meta-path finder that setuptools
      appends to sys.meta_path (__editable___bayesmusr_*_finder.py), i.e. after the standard
      PathFinder, so it only answers when nothing on sys.path has bayesmusr — here `site` has;
    * PYTHONSAFEPATH=1 (and cwd outside the repository) keeps the working directory off sys.path;
    * importlib.metadata also searches sys.path in order, so the version comes from site's dist-info.
    The child asserts bayesmusr.__file__ anyway, so a change in any of these fails loudly.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(site), PYTHONSAFEPATH="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def test_wheel_contents(installed):
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bayesmusr/physics/data/ea_g0_v2.nc" in names
    assert any(n.startswith("bayesmusr/model/data/kt_reading_") and n.endswith(".npz") for n in names)
    for sub in SUBPACKAGES:
        assert f"bayesmusr/{sub}/__init__.py" in names, sub
    assert "bayesmusr/__main__.py" in names and "bayesmusr/_version.py" in names
    # every module of the source package is shipped (no subpackage forgotten by packages.find)
    source = {p.relative_to(REPO).as_posix() for p in (REPO / "bayesmusr").rglob("*.py")
              if "__pycache__" not in p.parts}
    assert source <= names, sorted(source - names)
    assert not any(n.startswith(("tests/", "docs/", "examples/")) for n in names)


def test_installed_wheel_runs_outside_the_source_tree(installed):
    tmp, wheel, site = installed
    version = wheel.name.split("-")[1]
    shutil.copy(site / "bayesmusr/physics/data/ea_g0_v2.nc", tmp / "table_copy.nc")
    code = f"""
import pathlib, sys
import numpy as np
import bayesmusr
from bayesmusr.physics import tables
site = pathlib.Path({str(site)!r}).resolve()
where = pathlib.Path(bayesmusr.__file__).resolve()
assert site in where.parents, f"bayesmusr imported from {{where}}, not from the installed wheel in {{site}}"
assert not {{"", ".", {str(REPO)!r}}} & set(sys.path), sys.path  # neither the cwd nor the repository
assert site in tables.DEFAULT_TABLE.resolve().parents, tables.DEFAULT_TABLE
assert bayesmusr.__version__ == {version!r}, bayesmusr.__version__
t = np.linspace(0.0, 10.0, 50)
g = bayesmusr.ea(t, {EA_ARGS})
assert site in pathlib.Path(tables.load_table().path).resolve().parents
# an explicit table path (here a copy outside the package) still loads and gives the same values
g_copy = bayesmusr.ea(t, {EA_ARGS}, table=pathlib.Path("table_copy.nc"))
assert tables.load_table("table_copy.nc").path == str(pathlib.Path("table_copy.nc").resolve())
np.save("g_installed.npy", np.stack([g, g_copy]))
"""
    env = _isolated_env(site)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    g_installed, g_copy = np.load(tmp / "g_installed.npy")
    g_here = bayesmusr.ea(np.linspace(0.0, 10.0, 50), *(float(a) for a in EA_ARGS.split(",")))
    np.testing.assert_allclose(g_installed, g_here, rtol=0, atol=1e-12)
    np.testing.assert_allclose(g_copy, g_here, rtol=0, atol=1e-12)

    for command in ([sys.executable, "-m", "bayesmusr", "--version"], [str(site / "bin" / "bayesmusr"), "--version"]):
        run = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == f"bayesmusr {version}", command


def test_version_option(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesmusr {bayesmusr.__version__}"


def test_build_default_output_needs_a_writable_package(tmp_path, monkeypatch, capsys):
    # source checkout / editable install: the default is the package data file, as before
    assert tables._default_output("standard") == tables.DEFAULT_TABLE
    assert tables._default_output("small") == tables.TABLE_DIR / "ea_g0_small.nc"
    # an installed package whose data folder cannot be written (a folder that does not exist stands in
    # for read-only site-packages: os.access is True for root on any existing local folder)
    ro = tmp_path / "site-packages" / "bayesmusr" / "physics" / "data"
    monkeypatch.setattr(tables, "TABLE_DIR", ro)
    monkeypatch.setattr(tables, "DEFAULT_TABLE", ro / "ea_g0_v2.nc")
    with pytest.raises(ValueError, match="--output"):
        tables.build_table(grid="small", workers=1, progress=False)
    assert cli.main(["tables", "build", "--grid", "small", "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "--output" in err
    assert not (tmp_path / "site-packages").exists()  # refused before anything was written
    # (an explicit output is honoured: test_ea builds small tables into tmp_path)
