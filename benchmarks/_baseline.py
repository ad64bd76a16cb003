"""Run a benchmark's measurements on a baseline checkout and on this one, in the same run.

The machine these benchmarks run on is shared and noisy, so a speed figure means something
only as a ratio to a baseline measured at the same time.  Each benchmark script has a
``--measure`` mode that prints one JSON object (its measurements) as the last line of its
output; :func:`measure_both` runs that mode twice in subprocesses, once with the baseline's
``bayesmusr`` first on ``PYTHONPATH`` and once with this checkout's, alternating when asked
for several rounds, and returns both.

The baseline is a worktree of an earlier commit, e.g. (issue 19's baseline)::

    git worktree add /tmp/b19-base 4d4ee95

given to each script as ``--baseline /tmp/b19-base`` (the default) or through the
``BAYESMUSR_BASELINE`` environment variable.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = os.environ.get("BAYESMUSR_BASELINE", "/tmp/b19-base")


def check_baseline(path) -> pathlib.Path:
    """The baseline checkout's root (a folder holding ``bayesmusr/``); SystemExit saying how to make one.

    Parameters
    ----------
    path : path
        The ``--baseline`` option.

    Returns
    -------
    pathlib.Path
    """
    p = pathlib.Path(path)
    if not (p / "bayesmusr" / "__init__.py").exists():
        raise SystemExit(f"--baseline {p}: no bayesmusr checkout there; make one with "
                         f"`git worktree add {p} <commit>` (issue 19: commit 4d4ee95)")
    return p


def measure(code_root, script, args=(), timeout=3600) -> dict:
    """Run ``script --measure *args`` with ``code_root``'s bayesmusr and return its JSON result.

    Parameters
    ----------
    code_root : path
        Folder holding the ``bayesmusr`` package to import.
    script : path
        The benchmark script (run from a neutral folder, so nothing else shadows the package).
    args : sequence of str
        More arguments of the ``--measure`` mode.
    timeout : float
        Seconds before the run is abandoned (RuntimeError).

    Returns
    -------
    dict
        The script's measurements, plus ``code`` (the root used).
    """
    env = dict(os.environ, PYTHONPATH=str(code_root))
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        done = subprocess.run([sys.executable, str(script), "--measure", *map(str, args)], env=env, cwd=tmp,
                              capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{script} --measure with {code_root}: exit {done.returncode}\n{done.stderr[-3000:]}")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{script} --measure with {code_root}: no JSON line in its output\n{done.stdout[-2000:]}")
    out = json.loads(lines[-1])
    out["code"] = str(code_root)
    return out


def measure_both_concurrently(script, baseline, args=(), timeout=7200):
    """Measurements of the baseline and of this checkout run at the same time, in two processes.

    For measurements too long to repeat (fits to convergence): both see the same machine load
    for the whole run, which on a shared machine is fairer than one after the other.

    Parameters
    ----------
    script, baseline, args, timeout
        As in :func:`measure_both`.

    Returns
    -------
    (dict, dict)
        The baseline's and this checkout's measurements.
    """
    from concurrent.futures import ThreadPoolExecutor

    print(f"  baseline ({baseline}) and this checkout ({ROOT}) at the same time ...", flush=True)
    with ThreadPoolExecutor(2) as pool:
        base = pool.submit(measure, baseline, script, args, timeout)
        new = pool.submit(measure, ROOT, script, args, timeout)
        return base.result(), new.result()


def measure_both(script, baseline, args=(), rounds=1, timeout=3600):
    """Measurements of the baseline and of this checkout, alternating for ``rounds`` rounds.

    Parameters
    ----------
    script : path
        The benchmark script.
    baseline : path
        The baseline checkout (:func:`check_baseline`).
    args : sequence of str
        More arguments of the ``--measure`` mode.
    rounds : int
        Pairs of runs (baseline first in each).
    timeout : float
        Per run, seconds.

    Returns
    -------
    (list of dict, list of dict)
        Baseline runs and new runs, one entry per round.
    """
    base, new = [], []
    for r in range(rounds):
        print(f"  round {r + 1}/{rounds}: baseline ({baseline}) ...", flush=True)
        base.append(measure(baseline, script, args, timeout))
        print(f"  round {r + 1}/{rounds}: this checkout ({ROOT}) ...", flush=True)
        new.append(measure(ROOT, script, args, timeout))
    return base, new


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages (the machine is shared: recorded with every result).

    Returns
    -------
    list of float
    """
    return list(os.getloadavg())
