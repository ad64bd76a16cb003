"""The main job: fit a temperature scan two ways (workflows), then report it (report).

This module sits above both layers; ``bayesmusr fit``, ``bayesmusr rerun`` of a scan and
``bayesmusr demo`` call it.
"""
from __future__ import annotations

import pathlib

from bayesmusr.report.html import write_report as write_html_report
from bayesmusr.report.scan_report import make_figures, write_report
from bayesmusr.workflows.scan import ScanJob, fit_scan, load_config
from bayesmusr.workflows.spec import check_sources, relocate, rerun_settings

__all__ = ["run_analysis", "analyse_scan", "run_analysis_from_spec"]


def run_analysis(config_path, out_dir=None, progress: bool = True, executor=None) -> pathlib.Path:
    """Run the full scan analysis of a TOML configuration and report it; returns the output folder.

    Parameters
    ----------
    config_path : path
        The analysis TOML (:mod:`bayesmusr.workflows.scan`).
    out_dir : path, optional
        Output folder (default: ``[output] folder`` of the configuration).
    progress : bool
        Show progress bars.
    executor : object, optional
        Runs the per-temperature KT fits as tasks (``submit``; :func:`bayesmusr.workflows.scan.fit_scan`);
        a campaign passes one that submits them to its Dask cluster.

    Returns
    -------
    pathlib.Path
    """
    return analyse_scan(config_path, out_dir, progress, executor)[0]


def analyse_scan(config_path, out_dir=None, progress: bool = True, executor=None) -> tuple:
    """:func:`run_analysis`, also returning what the scan job computed (a campaign summarises it).

    Parameters
    ----------
    config_path, out_dir, progress, executor
        As in :func:`run_analysis`.

    Returns
    -------
    tuple
        The output folder (pathlib.Path) and the :class:`bayesmusr.workflows.scan.ScanJob`.
    """
    cfg, base = load_config(config_path)
    out = pathlib.Path(out_dir or base / cfg.get("output", {}).get("folder", "analysis-output"))
    try:
        return out, _fit_and_report(cfg, base, out, progress, executor)
    except ValueError as exc:
        raise ValueError(f"{config_path}: {exc}") from exc  # the chain: the traceback (a campaign log) shows where


def run_analysis_from_spec(spec: dict, out_dir, progress: bool = True, data_dir=None) -> pathlib.Path:
    """Run a scan job again from the specification stored in its result (``bayesmusr rerun``).

    Parameters
    ----------
    spec : dict
        A ``"scan"`` specification.
    out_dir : path
        New output folder.
    progress : bool
        Show progress bars.
    data_dir : path, optional
        Folder that now holds what the original configuration's folder held.

    Returns
    -------
    pathlib.Path
    """
    job = spec["job"]
    base = pathlib.Path(data_dir or job["base"])
    check_sources(relocate(spec, data_dir, job["base"]) if data_dir else spec)
    cfg = dict(job["config"])
    cfg["sampler"] = rerun_settings(spec, cfg.get("sampler") or {})
    cfg["kt"] = {**(cfg.get("kt") or {}), "sampler": rerun_settings(spec, (cfg.get("kt") or {}).get("sampler") or {})}
    _fit_and_report(cfg, base, pathlib.Path(out_dir), progress)
    return pathlib.Path(out_dir)


def _fit_and_report(cfg, base, out, progress, executor=None) -> ScanJob:
    job = fit_scan(cfg, base, out, progress, executor=executor)
    truth = cfg.get("truth", {})
    figures = make_figures(out, job.problem, job.ea_idata, job.kt_results, job.conventional, job.comparison, truth)
    write_report(out, cfg, job.problem, job.ea_idata, job.kt_results, job.conventional, job.comparison,
                 job.comparison_text, figures, truth, job.timings)
    write_html_report(out, out / "report.html")  # self-contained HTML next to report.md (bayesmusr report)
    print(f"analysis finished in {job.timings['total_s']:.0f} s: report {out / 'report.md'}")
    return job
