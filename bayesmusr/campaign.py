"""Campaigns: many temperature scans, each the job of ``bayesmusr fit``, as tasks on a Dask cluster.

``bayesmusr campaign a.toml b.toml … --out DIR [--workers N | --scheduler ADDRESS]`` and
:func:`run_campaign` fit every scan into ``DIR/<scan>/`` (the TOML file's stem) exactly as
``bayesmusr fit`` does — the same results, figures, ``report.md`` and ``report.html`` — and
summarise the campaign in ``DIR/campaign.csv``, ``campaign.nc`` and ``campaign.html``
(:mod:`bayesmusr.report.campaign`).

Tasks. Each scan is one task of a :mod:`dask.distributed` cluster: by default a LocalCluster of
N worker processes with one thread each and numba/OpenMP/BLAS pinned to one thread
(:data:`WORKER_ENV`), so that N workers use N cores; ``scheduler`` connects to an existing
cluster instead (its workers must see the same files).  Inside a scan task the per-temperature
KT fits are tasks of their own (:func:`bayesmusr.workflows.scan.fit_scan` ``executor``),
submitted at a higher priority than the scans still waiting, while the scan task samples the EA
scan model; the scan task then leaves the worker's thread pool (``distributed.secede``) while it
waits for them, so a worker is never held by a task that only waits.  A scan task holds the
worker resource :data:`SCAN_RESOURCE` (one per worker), so a worker runs one scan at a time and
the thread freed by a waiting scan goes to KT tasks.  A campaign of fewer scans than workers
thus still uses the spare workers.  Scans are queued largest first (their run files' size), and a
scan task makes its summary row from the comparison its job computed (``scan_row(job=...)``).

EA tables. :func:`build_table_on_cluster` (``bayesmusr tables build --scheduler``) runs the slices
of :func:`bayesmusr.physics.tables.build_table` as tasks of the same kind of cluster.

Resume. A scan task ends by writing ``DIR/<scan>/campaign_done.json``: a hash of the parsed TOML,
its folder and the bytes of every run file it names (:func:`scan_key`), and the scan's summary
row.  A scan whose hash is unchanged is not submitted again — a second identical call only
rebuilds the summary and starts no cluster.  A changed or unfinished scan is submitted; inside
it every fit reuses its finished result or resumes its emcee backend (the fingerprints of
:mod:`bayesmusr.workflows.scan`), so an interrupted campaign loses at most the unfinished chains'
last steps.

Faults. A worker that dies mid-task is replaced by its nanny and the scheduler runs its tasks
again elsewhere (up to ``distributed.scheduler.allowed-failures`` times, default 3); the retried
fits resume from their backends.  A task that raises is tried ``retries`` more times, then its
scan is reported as failed, with the error, in the summary — the other scans go on.  Each scan's
own output (progress, warnings, a traceback) goes to ``DIR/<scan>/campaign.log``; the terminal
shows one line per finished scan and the Dask dashboard address.
"""
from __future__ import annotations

import contextlib
import datetime
import glob
import hashlib
import importlib
import importlib.util
import json
import logging
import math
import os
import pathlib
import sys
import threading
import time
import tomllib
import traceback

from bayesmusr.job import analyse_scan
from bayesmusr.physics.tables import build_table
from bayesmusr.report.campaign import ROW_VERSION, failed_row, scan_row, warm_up, write_summary
from bayesmusr.workflows import spec as spec_module
from bayesmusr.workflows.scan import RESULT_EA, RESULT_KT, load_config

__all__ = ["WORKER_ENV", "SCAN_RESOURCE", "DONE_FILE", "LOG_FILE", "run_campaign", "scan_names", "scan_key",
           "ScanFailed", "build_table_on_cluster"]

#: environment of every LocalCluster worker: one thread per library, one core per worker process
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: written into a scan's folder when its task has finished: the scan's hash and summary row
DONE_FILE = "campaign_done.json"
#: a scan task's own output (prints, warnings, traceback), in the scan's folder
LOG_FILE = "campaign.log"
#: Dask priority of the per-temperature KT tasks: above the scans still queued (priority 0), so a
#: started scan finishes before the next one starts
KT_PRIORITY = 10
#: worker resource a scan task holds, also while it waits for its KT tasks outside the thread pool: one
#: scan per worker at a time, so a waiting scan's thread goes to KT tasks, not to the next scan (Dask
#: would otherwise have queued further scans on the worker already); KT tasks need none of it
SCAN_RESOURCE = "scan"
#: files that make a scan folder finished, with its DONE_FILE
_RESULTS = (RESULT_EA, RESULT_KT, "conventional.json", "report.html")


def _distributed():
    """dask.distributed, imported on first use: it takes a second or more, and only campaigns need it
    (``bayesmusr`` commands start without it)."""
    return importlib.import_module("distributed")


class ScanFailed(Exception):
    """A scan task's error, as one picklable message (``Type: message``) for the client."""


def scan_names(configs) -> dict:
    """Name → analysis TOML of each scan: the file's stem, or ``<folder>_<stem>`` where stems repeat.

    Parameters
    ----------
    configs : iterable of path
        Analysis TOML files, in campaign order.

    Returns
    -------
    dict
        Scan name → pathlib.Path (absolute), in the given order.
    """
    paths = [pathlib.Path(c).absolute() for c in configs]
    if not paths:
        raise ValueError("a campaign needs at least one analysis TOML")
    stems = [p.stem for p in paths]
    names = {}
    for p in paths:
        name = p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}_{p.stem}"
        if name in names:
            raise ValueError(f"{p} and {names[name]} would share the output folder {name!r}: "
                             "give them different file names")
        names[name] = p
    return names


def _data_files(cfg: dict, base: pathlib.Path) -> list[pathlib.Path]:
    """Every file a scan's ``[data]`` reads: the run files (globs expanded) and a runs TOML."""
    data = cfg["data"]
    if "files" in data:
        given = data["files"] if isinstance(data["files"], list) else [data["files"]]
        return [pathlib.Path(p) for g in given for p in
                (sorted(glob.glob(str(base / g))) if any(c in str(g) for c in "*?[") else [base / g])]
    runs = base / data.get("runs", "")
    files = [runs]
    if runs.is_file():
        with contextlib.suppress(tomllib.TOMLDecodeError, OSError):
            for entry in tomllib.loads(runs.read_text(encoding="utf-8")).get("run", []):
                if isinstance(entry, dict) and "file" in entry:
                    files.append(runs.parent / entry["file"])
                elif isinstance(entry, dict) and "glob" in entry:
                    files += [pathlib.Path(p) for p in sorted(glob.glob(str(runs.parent / entry["glob"])))]
    return files


def scan_key(config) -> str:
    """Hash of what a scan's results depend on: the parsed TOML, its folder and every data file's bytes.

    Parameters
    ----------
    config : path
        The analysis TOML.

    Returns
    -------
    str
        SHA-256 hex digest (a missing data file hashes as missing: the task then reports it).
    """
    cfg, base = load_config(config)
    h = hashlib.sha256()
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    h.update(str(base.resolve()).encode())
    for f in _data_files(cfg, base):
        h.update(str(f.resolve()).encode())
        if f.is_file():
            with f.open("rb") as fh:
                h.update(hashlib.file_digest(fh, "sha256").digest())
        else:
            h.update(b"missing")
    return h.hexdigest()


def _reusable_row(name: str, config: pathlib.Path, folder: pathlib.Path, key: str) -> dict | None:
    """The summary row of a scan finished with this very key (rebuilt if stored by another version), else None."""
    try:
        done = json.loads((folder / DONE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if done.get("key") != key or not all((folder / f).exists() for f in _RESULTS):
        return None
    row = done["row"]
    if done.get("row_version") != ROW_VERSION:  # stored by another version: rebuilt once, and stored again
        row = {**scan_row(folder, name, str(config)), "fit_seconds": row.get("fit_seconds", math.nan)}
        _write_done(folder, {**done, "row_version": ROW_VERSION, "row": row})
    return {**row, "config": str(config)}


def _write_done(folder: pathlib.Path, done: dict) -> None:
    """Write DONE_FILE atomically (a reader never sees half of it)."""
    tmp = folder / f".{DONE_FILE}.tmp"
    tmp.write_text(json.dumps(done, indent=1), encoding="utf-8")
    tmp.replace(folder / DONE_FILE)


class _PerThreadStream:
    """A worker's sys.stdout/sys.stderr: each thread writes to the file its task chose, else to the original.

    ``contextlib.redirect_stdout`` swaps the one process-wide stream, which goes wrong when a seceded scan
    task and another task of the same worker overlap (one restores a stream the other has closed).
    """

    def __init__(self, default):
        self._default, self._local = default, threading.local()

    def _target(self):
        return getattr(self._local, "target", None) or self._default

    def write(self, text):
        """Write ``text`` to this thread's file.

        Parameters
        ----------
        text : str
            What to write.

        Returns
        -------
        int
            Characters written.
        """
        return self._target().write(text)

    def flush(self) -> None:
        """Flush this thread's file."""
        self._target().flush()

    def __getattr__(self, name):
        return getattr(self._target(), name)


_STREAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _output_to(log):
    """This thread's prints, warnings and tracebacks appended to the file ``log`` (other threads unaffected)."""
    with _STREAMS_LOCK:
        if not isinstance(sys.stdout, _PerThreadStream):
            sys.stdout = _PerThreadStream(sys.stdout)
        if not isinstance(sys.stderr, _PerThreadStream):
            sys.stderr = _PerThreadStream(sys.stderr)
    with open(log, "a", encoding="utf-8", buffering=1) as fh:  # line-buffered: lines of tasks stay in order
        sys.stdout._local.target = sys.stderr._local.target = fh
        try:
            yield fh
        finally:
            sys.stdout._local.target = sys.stderr._local.target = None


def _logged_call(log: str, fn, *args):
    """Run ``fn(*args)`` with this thread's output appended to the file ``log``."""
    with _output_to(log):
        return fn(*args)


class _WaitingFuture:
    """A Dask future whose ``result()`` first takes the waiting scan task out of the worker's thread pool."""

    def __init__(self, future, owner):
        self._future, self._owner = future, owner

    def result(self, timeout=None):
        """Wait for the task's value (after leaving the thread pool once per scan task).

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait.

        Returns
        -------
        object
            The task's return value.
        """
        if not self._owner.seceded and not self._future.done():
            # no rejoin afterwards: rejoining waits for a free slot, i.e. possibly for a whole other
            # scan; the scan's last minutes (LOO, figures) run beside the worker's next task instead
            _distributed().secede()
            self._owner.seceded = True
        return self._future.result(timeout)


class _ClusterExecutor:
    """``submit`` for :func:`~bayesmusr.workflows.scan.fit_scan` inside a scan task: tasks on the same cluster."""

    def __init__(self, log: pathlib.Path, prefix: str, retries: int):
        self._client = _distributed().get_client()
        self._log, self._prefix, self._retries = str(log), prefix, retries
        self._n = 0
        self.seceded = False

    def submit(self, fn, *args):
        """Submit ``fn(*args)`` as a task (output to the scan's log); its key is fixed by the scan and order.

        Parameters
        ----------
        fn : callable
            A module-level function.
        *args
            Its arguments.

        Returns
        -------
        _WaitingFuture
        """
        self._n += 1
        # a fixed key: a retried scan task attaches to its KT tasks if the scheduler still runs them
        future = self._client.submit(_logged_call, self._log, fn, *args, key=f"{self._prefix}-kt{self._n}",
                                     priority=KT_PRIORITY, retries=self._retries, pure=False)
        return _WaitingFuture(future, self)


def _fit_and_report(config: pathlib.Path, folder: pathlib.Path, executor, command):
    """``bayesmusr fit CONFIG --out FOLDER`` (:func:`bayesmusr.job.analyse_scan`) with the KT fits on ``executor``;
    each result's specification records the campaign's command line (``command``), not the worker's.
    Returns the :class:`~bayesmusr.workflows.scan.ScanJob` (its comparison makes the summary row)."""
    old, spec_module.COMMAND = spec_module.COMMAND, command
    try:
        return analyse_scan(config, folder, progress=False, executor=executor)[1]
    finally:
        spec_module.COMMAND = old


def _scan_task(name: str, config: str, folder: str, key: str, retries: int, command) -> dict:
    """One scan, on a worker: fit and report it, write its summary row and DONE_FILE; returns the row."""
    t0 = time.perf_counter()
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DONE_FILE).unlink(missing_ok=True)  # the folder is being remade: not finished until the end
    log = folder / LOG_FILE
    with _output_to(log):
        print(f"--- {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M:%S} scan {name} ({config}) on "
              f"{_distributed().get_worker().address}", flush=True)
        try:
            token = hashlib.sha256(f"{key}{folder}".encode()).hexdigest()[:12]
            job = _fit_and_report(pathlib.Path(config), folder,
                                  _ClusterExecutor(log, f"{name}-{token}", retries), command)
            row = scan_row(folder, name, config, job=job)  # not compared again from the files
        except Exception as exc:  # noqa: BLE001 - one picklable message for the client; traceback in the log
            traceback.print_exc()
            raise ScanFailed(f"{type(exc).__name__}: {exc}") from None
    row["fit_seconds"] = time.perf_counter() - t0
    _write_done(folder, {"key": key, "row_version": ROW_VERSION, "row": row,
                         "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    return row


@contextlib.contextmanager
def _connect(workers: int | None, scheduler, dashboard_address: str):
    """A Client: on ``scheduler`` (address or Client, not closed here) or on a new LocalCluster, closed on exit."""
    if isinstance(scheduler, _distributed().Client):
        yield scheduler
        return
    if scheduler is not None:
        with _distributed().Client(scheduler) as client:
            yield client
        return
    n = workers or len(os.sched_getaffinity(0))
    cluster = _distributed().LocalCluster(n_workers=n, threads_per_worker=1, processes=True, env=WORKER_ENV,
                                       resources={SCAN_RESOURCE: 1}, dashboard_address=dashboard_address)
    client = _distributed().Client(cluster)
    try:
        yield client
    finally:
        # a worker still computing (Ctrl-C) or slow to stop is killed on close: expected, and its
        # warnings and closed-connection tracebacks would only bury the campaign's own last line
        logger = logging.getLogger("distributed")
        level, logger.level = logger.level, logging.CRITICAL
        try:
            client.close()
            cluster.close()
        finally:
            logger.setLevel(level)


def _describe(client) -> str:
    """Workers and the dashboard address, for the first progress line."""
    n = len(_workers(client))
    link = client.dashboard_link
    served = importlib.util.find_spec("bokeh") is not None
    return (f"campaign: {n} Dask workers on {client.scheduler.address}; dashboard {link}"
            + ("" if served else " (not served: install bokeh>=3.1)")
            + ("" if _scan_resources(client) else f" (workers without the resource {SCAN_RESOURCE}=1: "
                                                   "several scans may share a worker)"))


def _workers(client) -> dict:
    """Address → info of every worker (``scheduler_info`` lists only 5 unless asked for all, since Dask 2025)."""
    try:
        return client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # an older distributed: no n_workers, every worker listed
        return client.scheduler_info()["workers"]


def _scan_resources(client) -> dict | None:
    """``{SCAN_RESOURCE: 1}`` if every worker offers it (a LocalCluster of ours, or workers started with
    ``--resources scan=1``); else None: a restriction no worker can meet would never run."""
    workers = _workers(client).values()
    return {SCAN_RESOURCE: 1} if workers and all(SCAN_RESOURCE in w.get("resources", {}) for w in workers) else None


def _progress_line(k: int, n: int, row: dict) -> str:
    if row["status"] != "ok":
        return f"[{k}/{n}] {row['scan']}: FAILED — {row['error']}"
    took = "" if not math.isfinite(row.get("fit_seconds", math.nan)) else f" in {row['fit_seconds']:.0f} s"
    return (f"[{k}/{n}] {row['scan']}: finished{took} — {row['verdict']} (elpd EA − KT "
            f"{row['elpd_diff_ea_minus_kt']:.1f} ± {row['elpd_diff_se']:.1f}), E_i {row['e_i_median']:.3g} eV, "
            f"Q {row['q_median']:.2f}")


def _data_bytes(config: pathlib.Path) -> int:
    """Size of a scan's run files: what its fits' cost grows with (runs × bins), known before any fit."""
    cfg, base = load_config(config)
    return sum(f.stat().st_size for f in _data_files(cfg, base) if f.is_file())


def _run_tasks(client, todo: dict, out: pathlib.Path, rows: dict, retries: int, start: int, total: int) -> None:
    """Submit every scan of ``todo`` (name → (config, key)) and fill ``rows`` as they finish, one line each."""
    command = list(spec_module.COMMAND) if spec_module.COMMAND else None
    resources = _scan_resources(client)
    # the largest scans first (Dask priority: higher runs earlier, all below KT_PRIORITY): with more scans than
    # workers, a large scan started last would run on alone while the other workers idle
    largest_first = sorted(todo, key=lambda n: -_data_bytes(todo[n][0]))
    futures = {client.submit(_scan_task, name, str(todo[name][0]), str(out / name), todo[name][1], retries, command,
                             key=f"scan-{name}-{hashlib.sha256(f'{todo[name][1]}{out}'.encode()).hexdigest()[:12]}",
                             retries=retries, resources=resources, pure=False, priority=-rank): name
               for rank, name in enumerate(largest_first)}
    done = start
    for future in _distributed().as_completed(futures):
        name = futures[future]
        try:
            rows[name] = future.result()
        except ScanFailed as exc:
            rows[name] = failed_row(name, todo[name][0], str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker: the scan fails, the campaign goes on
            rows[name] = failed_row(name, todo[name][0], f"{type(exc).__name__}: {exc}")
        done += 1
        print(_progress_line(done, total, rows[name]), flush=True)


def run_campaign(configs, out, *, workers: int | None = None, scheduler=None, retries: int = 1,
                 dashboard_address: str = ":8787") -> list[dict]:
    """Fit every scan of a campaign on a Dask cluster and write the campaign summary.

    Parameters
    ----------
    configs : iterable of path
        Analysis TOML files (:mod:`bayesmusr.workflows.scan`), one per scan.
    out : path
        Campaign folder: ``<out>/<scan>/`` as ``bayesmusr fit`` writes it, and the summary files.
    workers : int, optional
        Worker processes of the LocalCluster (default: the usable cores); not with ``scheduler``.
    scheduler : str or distributed.Client, optional
        Address of an existing Dask scheduler (``tcp://host:8786``), or a connected Client (left open).
    retries : int
        More tries of a task that raised (a worker's death is retried by the scheduler anyway).
    dashboard_address : str
        Where the LocalCluster serves its dashboard (``":0"``: any free port).

    Returns
    -------
    list of dict
        The summary rows (:mod:`bayesmusr.report.campaign`), in the order of ``configs``.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give workers (a new local cluster) or scheduler (an existing one), not both")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = pathlib.Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    names = scan_names(configs)
    rows, todo = {}, {}
    for k, (name, config) in enumerate(names.items(), start=1):
        try:
            key = scan_key(config)
        except (OSError, ValueError) as exc:  # no such file, bad TOML: reported, the others go on
            rows[name] = failed_row(name, config, f"{type(exc).__name__}: {exc}")
            print(_progress_line(len(rows), len(names), rows[name]), flush=True)
            continue
        if (row := _reusable_row(name, config, out / name, key)) is not None:
            rows[name] = row
            print(f"[{len(rows)}/{len(names)}] {name}: finished before with this specification — not refitted",
                  flush=True)
        else:
            todo[name] = (config, key)
    if todo:
        with _connect(workers, scheduler, dashboard_address) as client:
            print(_describe(client), flush=True)
            # the summary's first-use imports and set-up (seconds) while the scans run, not after the last one
            warming = threading.Thread(target=warm_up, name="campaign-summary-warm-up", daemon=True)
            warming.start()
            _run_tasks(client, todo, out, rows, retries, len(rows), len(names))
        warming.join()  # matplotlib is not thread-safe: the summary draws after the warm-up has ended
    ordered = [rows[n] for n in names]
    paths = write_summary(out, ordered, title=f"bayesmusr campaign: {out.name}")
    n_failed = sum(r["status"] != "ok" for r in ordered)
    print(f"campaign: {len(ordered)} scans, {len(ordered) - n_failed} finished, {n_failed} failed; "
          f"summary {paths['html']} ({paths['csv'].name}, {paths['nc'].name})", flush=True)
    return ordered


def build_table_on_cluster(output=None, grid: str = "standard", *, scheduler=None, workers: int | None = None,
                           progress: bool = True, dashboard_address: str = ":8787"):
    """Build (or resume) an EA table with its slices as tasks on a Dask cluster (``tables build --scheduler``).

    Parameters
    ----------
    output, grid, progress
        As in :func:`bayesmusr.physics.tables.build_table` (its slice cache and resume unchanged).
    scheduler : str or distributed.Client, optional
        Address of an existing Dask scheduler, or a connected Client (left open); the workers must see
        ``output``'s folder.
    workers : int, optional
        Worker processes of a new LocalCluster instead (default: the usable cores).
    dashboard_address : str
        Where a LocalCluster serves its dashboard.

    Returns
    -------
    pathlib.Path
        The written table.
    """
    if workers is not None and scheduler is not None:
        raise ValueError("give workers (a new local cluster) or scheduler (an existing one), not both")
    with _connect(workers, scheduler, dashboard_address) as client:
        print(f"EA table build: {len(_workers(client))} Dask workers on {client.scheduler.address}; "
              f"dashboard {client.dashboard_link}", flush=True)
        return build_table(output, grid=grid, progress=progress, executor=client)
