"""The main job: fit a temperature scan two ways (workflows), then report it (report).

This module sits above both layers; ``bayesmusr fit`` and ``bayesmusr demo`` call it.
"""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing as mp
import os
import pathlib
import time

import numpy as np

from bayesmusr.inference import compare
from bayesmusr.model.scan import ScanProblem, holder_option
from bayesmusr.report.html import write_report as write_html_report
from bayesmusr.report.scan_report import make_figures, write_report
from bayesmusr.workflows.scan import DEFAULT_HOLDER_FRACTION, RESULT_EA, RESULT_KT, _kt_reading, _sample_to_diagnostics, combine_kt, conventional_reading, load_config, load_scan, support_warning

__all__ = ["run_analysis"]


def run_analysis(config_path, out_dir=None, progress: bool = True) -> pathlib.Path:
    """Run the full scan analysis of a TOML configuration; returns the output folder."""

    t_start = time.perf_counter()
    cfg, base = load_config(config_path)
    out = pathlib.Path(out_dir or base / cfg.get("output", {}).get("folder", "analysis-output"))
    out.mkdir(parents=True, exist_ok=True)
    points = load_scan(cfg, base)
    temps = np.array([p.temperature for p in points])
    print(f"scan: {len(points)} temperatures {temps.min():g}–{temps.max():g} K, "
          f"{sum(len(p.runs) for p in points)} runs")

    model = cfg.get("model", {})
    sampler = dict(cfg.get("sampler", {}))
    seed = int(sampler.pop("seed", 1))
    sampler.setdefault("progress", progress)
    try:
        holder = holder_option(model.get("holder_fraction", DEFAULT_HOLDER_FRACTION))
    except ValueError as exc:
        raise ValueError(f"{config_path}: [model] {exc}") from None
    problem = ScanProblem(points, cfg.get("priors"), pooled_delta=bool(model.get("pooled_delta", False)),
                          holder_fraction=holder,
                          count_background=bool(model.get("count_background", True)), table=model.get("table"))
    print("EA scan model: sampling " + ", ".join(problem.names))
    kt_cfg = cfg.get("kt", {})
    kt_sampler = dict(kt_cfg.get("sampler", {}))
    # the KT reading fits each temperature on its own, as the literature did: a shared f becomes one per run
    kt_args = (points, kt_cfg.get("priors"), holder is not False,
               bool(model.get("count_background", True)), out, seed, kt_sampler)
    (out / "kt").mkdir(exist_ok=True)
    # The two readings are independent: on a multi-core machine the per-temperature KT fits
    # run in a second process while this one samples the EA scan model (each sampler is
    # single-threaded), which nearly halves the wall time of the job.
    parallel = bool(kt_cfg.get("parallel", True)) and (os.cpu_count() or 1) >= 2
    t0 = time.perf_counter()
    if parallel:

        with concurrent.futures.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
            kt_future = pool.submit(_kt_reading, *kt_args, False)
            ea_idata = _sample_to_diagnostics(problem, out / RESULT_EA, out / "ea_scan.h5", seed, sampler)
            t_ea = time.perf_counter() - t0
            kt_paths, t_kt = kt_future.result()
    else:
        ea_idata = _sample_to_diagnostics(problem, out / RESULT_EA, out / "ea_scan.h5", seed, sampler)
        t_ea = time.perf_counter() - t0
        kt_paths, t_kt = _kt_reading(*kt_args, progress)
    kt_results = [compare.load(path) for path in kt_paths]
    if warning := support_warning(problem, ea_idata):
        print("WARNING: " + warning)
    for note in compare.prior_edge_notes(ea_idata):
        print("NOTE: " + note)
    kt_idata = combine_kt(kt_results, problem, out / RESULT_KT)

    cmp = compare.compare_results({"EA_scan": ea_idata, "KT_per_T": kt_idata})
    comparison_text = compare.format_comparison(cmp)
    (out / "comparison.txt").write_text(comparison_text + "\n", encoding="utf-8")
    print(comparison_text)

    conv = conventional_reading(temps, kt_results)
    (out / "conventional.json").write_text(json.dumps(conv, indent=1), encoding="utf-8")
    truth = cfg.get("truth", {})
    figures = make_figures(out, problem, ea_idata, kt_results, conv, cmp, truth)
    timings = {"ea_scan_s": t_ea, "kt_s": t_kt, "total_s": time.perf_counter() - t_start}
    write_report(out, cfg, problem, ea_idata, kt_results, conv, cmp, comparison_text, figures, truth, timings)

    write_html_report(out, out / "report.html")  # self-contained HTML next to report.md (bayesmusr report)
    print(f"analysis finished in {timings['total_s']:.0f} s: report {out / 'report.md'}")
    return out


