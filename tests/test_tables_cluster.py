"""The EA table build with its slices as tasks on a Dask cluster (``bayesmusr tables build --scheduler``).

A LocalCluster of 2 worker processes builds a test-only tiny grid: the table is the serial build's,
byte for byte in its data and checksum, and a build resumed after an interruption recomputes only
the slices (and Q rows) that were missing, leaving the finished slice files untouched.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayesmusr import cli
from bayesmusr.campaign import WORKER_ENV, build_table_on_cluster
from bayesmusr.physics import tables

distributed = pytest.importorskip("distributed")

#: (n_nu, nu_max, n_q, omega segments, x_max, refine Q): 4 ν_i slices × 2 ω segments, a few seconds serially
TINY = (4, 10.0, 3, ((3, 3.0), (1, 0.5)), 4.0, False)


@pytest.fixture
def tiny(monkeypatch):
    """The grid name ``tiny`` (only the client computes the grid; workers get the axes with each task)."""
    monkeypatch.setitem(tables.GRIDS, "tiny", TINY)
    tables._load_cached.cache_clear()
    yield "tiny"
    tables._load_cached.cache_clear()


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, env=WORKER_ENV,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


class _Recording:
    """An executor that records the slice cache file of every task it passes on to the cluster."""

    def __init__(self, client):
        self.client, self.paths = client, []

    def submit(self, fn, *args):
        self.paths.append(args[0][5])
        return self.client.submit(fn, *args)


def _digest(path) -> str:
    with xr.open_dataset(path) as ds:
        return ds.attrs[tables.DIGEST_ATTR]


def test_cluster_build_equals_serial_build(tmp_path, tiny, client):
    serial = tables.build_table(tmp_path / "serial.nc", grid=tiny, workers=1, progress=False)
    on_cluster = build_table_on_cluster(tmp_path / "cluster.nc", grid=tiny, scheduler=client, progress=False)
    assert client.status == "running"  # a Client passed in is left open
    assert np.array_equal(tables.load_table(on_cluster).data, tables.load_table(serial).data)
    assert _digest(on_cluster) == _digest(serial)


def test_cluster_build_resumes_keeping_finished_slices(tmp_path, tiny, client):
    out = tmp_path / "tiny.nc"
    tables.build_table(out, grid=tiny, executor=client, progress=False)
    first = tables.load_table(out).data.copy()
    slices = sorted(out.with_suffix(".build").glob("omega_*/slice_*.npz"))
    assert len(slices) == 8
    # an interrupted build: two slices never written, one with only its first Q row, the table not written
    slices[1].unlink()
    slices[6].unlink()
    known = tables._read_slice_cache(slices[2], 3, 101)
    tables._write_slice_cache(slices[2], dict(list(known.items())[:1]))
    out.unlink()
    tables._load_cached.cache_clear()
    kept = {p: p.stat().st_mtime_ns for p in slices if p not in (slices[1], slices[2], slices[6])}
    recording = _Recording(client)
    tables.build_table(out, grid=tiny, executor=recording, progress=False)
    assert sorted(recording.paths) == sorted(str(slices[k]) for k in (1, 2, 6))
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert np.array_equal(tables.load_table(out).data, first)


def test_cli_tables_build_on_a_scheduler(tmp_path, tiny, client, capsys):
    out = tmp_path / "cli.nc"
    status = cli.main(["tables", "build", "--grid", tiny, "--output", str(out), "--scheduler",
                       client.scheduler.address, "--quiet"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert "2 Dask workers" in printed and f"table written: {out}" in printed
    assert tables.load_table(out).data.shape[:3] == (4, 3, 4)


def test_executor_errors_name_the_problem(tmp_path, tiny, client):
    with pytest.raises(ValueError, match="executor must have a submit"):
        tables.build_table(tmp_path / "x.nc", grid=tiny, executor=object(), progress=False)
    with pytest.raises(ValueError, match="not both"):
        tables.build_table(tmp_path / "x.nc", grid=tiny, workers=2, executor=client, progress=False)
    with pytest.raises(SystemExit) as exit_:  # argparse: --workers and --scheduler exclude each other
        cli.main(["tables", "build", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert exit_.value.code == 2
