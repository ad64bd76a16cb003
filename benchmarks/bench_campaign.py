"""Benchmark ``bayesmusr campaign`` (issue 17): the same two scans on a LocalCluster of 1, then 2 workers.

Two simulated ZF + LF scans (4 temperatures 200–350 K, 400 bins of 40 ns, 2 M events per
spectrum, Kadono's parameters with Q = 0.8 and Q = 0.2) are written once; each campaign then
fits both from scratch into its own folder (no reuse between campaigns), with chains of a fixed
length (400 steps: ``min_steps = max_steps``, so that no scan stops earlier than the other by its
own convergence test and the two tasks are of like size) so that one scan takes about a minute
on one core.  The cluster is made here exactly as
:func:`bayesmusr.campaign.run_campaign` makes it (one thread per worker, :data:`WORKER_ENV`, one scan
per worker), so that the CPU time its workers used can be read before it closes.

Printed per campaign: the wall time (cluster start, both scans, the summary), the workers' CPU
time, and the cores it actually got (CPU / wall): on a shared machine the other processes take
their share, and the speed-up can only approach 2 when the two workers get two cores.  Rounds
alternate the order (1 then 2 workers, 2 then 1, …) so that a change of the machine's load does
not favour one; the speed-up is the ratio of the fastest wall time of each, measured in this run.
Also printed, to show where a campaign is serial: the cluster start, the summary and the cluster's
close, each scan task's start and end (Dask's task stream, seconds from the campaign's start) and
the per-temperature KT tasks' number and total time.

Run: .venv/bin/python benchmarks/bench_campaign.py [folder] [rounds]  (writes <folder>/bench_campaign.json)
"""
from __future__ import annotations

import json
import os
import pathlib
import platform
import resource
import shutil
import sys
import tempfile
import time

import distributed
import numpy as np

from bayesmusr import campaign
from bayesmusr.campaign import SCAN_RESOURCE, WORKER_ENV, run_campaign
from bayesmusr.inference.conventional import arrhenius
from bayesmusr.model.simulate import simulate_run
from bayesmusr.report.campaign import write_summary

TOML = """[data]
runs = "{name}_data/runs.toml"
[sampler]
seed = 1
nwalkers = 16
min_steps = 400
max_steps = 400
[kt.sampler]
nwalkers = 8
min_steps = 400
max_steps = 400
"""


def write_scan(root: pathlib.Path, name: str, q: float, seed: int) -> pathlib.Path:
    """One ZF + LF scan at 200, 250, 300, 350 K; returns its TOML."""
    data = root / f"{name}_data"
    data.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines, number = [], 0
    for temp in (200.0, 250.0, 300.0, 350.0):
        physics = {"delta": 0.3, "q": q, "nu_i": float(arrhenius(temp, 5e12, 0.35)),
                   "nu_mu": float(arrhenius(temp, 2e6, 0.02))}
        for b in (0.0, 1.0):
            number += 1
            run = simulate_run("ea", physics, b, rng=rng, temperature_K=temp, run_number=number, n_events=2e6,
                               n_bins=400, bin_width=0.04, a0=0.22, alpha=1.05, fbg=0.06, bgf=1e-3, bgb=1e-3)
            run.to_netcdf(data / f"run{number}.nc")
            lines += ["[[run]]", f'file = "run{number}.nc"', ""]
    (data / "runs.toml").write_text("\n".join(lines), encoding="utf-8")
    toml = root / f"{name}.toml"
    toml.write_text(TOML.format(name=name), encoding="utf-8")
    return toml


def _cpu_seconds() -> float:
    """CPU time (user + system) of the calling process: run on each worker."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed_summary(phases: dict):
    """campaign.write_summary, recording how long it took (the campaign's serial end) in ``phases``."""
    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return write_summary(*args, **kwargs)
        finally:
            phases["summary_s"] = time.perf_counter() - t
    return timed


def _schedule(stream: list, t0: float) -> dict:
    """From Dask's task stream: each scan task's [start, end] and the KT tasks' count and busy seconds (from t0)."""
    scans, kt = {}, []
    for task in stream:
        compute = [s for s in task["startstops"] if s["action"] == "compute"]
        if not compute:
            continue
        start, stop = compute[0]["start"] - t0, compute[-1]["stop"] - t0
        if str(task["key"]).startswith("scan-"):
            scans[str(task["key"]).split("-")[1]] = (round(start, 1), round(stop, 1))
        elif "-kt" in str(task["key"]):
            kt.append(stop - start)
    return {"scan_tasks": scans, "kt_tasks": len(kt), "kt_task_s": round(sum(kt), 1)}


def timed_campaign(scans, out: pathlib.Path, workers: int) -> dict:
    """One campaign from scratch on a new LocalCluster: wall time and its phases, the workers' CPU, the load."""
    shutil.rmtree(out, ignore_errors=True)
    load0 = os.getloadavg()
    phases = {}
    campaign.write_summary = _timed_summary(phases)
    t0 = time.perf_counter()
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, env=WORKER_ENV,
                                  resources={SCAN_RESOURCE: 1}, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        phases["cluster_start_s"] = time.perf_counter() - t0
        epoch = time.time()
        with distributed.get_task_stream(client) as stream:
            rows = run_campaign(scans, out, scheduler=client)
        cpu = sum(client.run(_cpu_seconds).values())
        t_close = time.perf_counter()
    campaign.write_summary = write_summary
    wall = time.perf_counter() - t0
    phases["close_s"] = time.perf_counter() - t_close
    if any(r["status"] != "ok" for r in rows):
        raise RuntimeError(f"a scan failed: {[r['error'] for r in rows]}")
    return {"workers": workers, "wall_s": wall, "worker_cpu_s": cpu, "cores_used": cpu / wall,
            "scan_task_s": [r["fit_seconds"] for r in rows], "phases": phases, **_schedule(stream.data, epoch),
            "load_before": load0, "load_after": os.getloadavg()}


def main() -> None:
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(tempfile.mkdtemp(prefix="bench_campaign_"))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    root.mkdir(parents=True, exist_ok=True)
    scans = [write_scan(root, "anomaly", 0.8, 1), write_scan(root, "plain", 0.2, 2)]
    runs = []
    for k in range(rounds):
        for workers in ((1, 2) if k % 2 == 0 else (2, 1)):
            runs.append(timed_campaign(scans, root / f"workers{workers}", workers))
            r = runs[-1]
            print(f"{workers} worker(s): {r['wall_s']:.1f} s wall, workers' CPU {r['worker_cpu_s']:.0f} s = "
                  f"{r['cores_used']:.2f} cores (scan tasks {', '.join(f'{s:.0f}' for s in r['scan_task_s'])} s; "
                  f"load average before {r['load_before'][0]:.2f}, after {r['load_after'][0]:.2f})\n"
                  f"  cluster start {r['phases']['cluster_start_s']:.1f} s, summary {r['phases']['summary_s']:.1f} s, "
                  f"close {r['phases']['close_s']:.1f} s; scan tasks [start, end] s {r['scan_tasks']}; "
                  f"{r['kt_tasks']} KT tasks, {r['kt_task_s']:.0f} s", flush=True)
    best = {w: min(r["wall_s"] for r in runs if r["workers"] == w) for w in (1, 2)}
    result = {"runs": runs, "best_wall_s": best, "speedup": best[1] / best[2], "cpu_count": os.cpu_count(),
              "platform": platform.platform()}
    (root / "bench_campaign.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"speed-up, 2 workers against 1 (fastest of {rounds} each): {result['speedup']:.2f}x  "
          f"({root / 'bench_campaign.json'})")


if __name__ == "__main__":
    main()
