"""Command-line interface: ``bayesmusr <command> ...`` (also ``python -m bayesmusr``).

Each sub-command is a thin shell around a library call; the work lives in the layers
below (physics → io → model → inference → workflows → report), whose declarations
(parameters, priors, sampler defaults) also make the help texts.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import pathlib
import signal
import sys

from bayesmusr._version import __version__
from bayesmusr.campaign import build_table_on_cluster, run_campaign
from bayesmusr.demo import run_demo
from bayesmusr.inference.compare import compare_results, format_comparison, load, prior_edge_notes, save, summary
from bayesmusr.io.collection import DEFAULT_TEMPERATURE_TOLERANCE_K, format_info_lines
from bayesmusr.io.msr import read_msr
from bayesmusr.io.paths import check_outputs
from bayesmusr.io.setup import SETUP_OPTIONS, RunSetup, format_detectors
from bayesmusr.job import run_analysis, run_analysis_from_spec
from bayesmusr.model.rundata import RunData
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, RUN_PARAMETERS
from bayesmusr.physics import tables
from bayesmusr.report.html import write_report
from bayesmusr.report.plots import plot_run_file
from bayesmusr.report.reanalysis import write_reanalysis_report
from bayesmusr.workflows import spec as spec_module
from bayesmusr.workflows.reanalyse import CLI_OPTIONS as REANALYSE_OPTIONS
from bayesmusr.workflows.reanalyse import check_config as check_reanalysis_config
from bayesmusr.workflows.reanalyse import (
    config_from_flags,
    load_reanalysis_config,
    reanalyse_from_config,
    reanalyse_from_spec,
)
from bayesmusr.workflows.scan import load_config
from bayesmusr.workflows.spec import format_spec, is_result_file, read_spec, relocate
from bayesmusr.workflows.temperature import fit_temperature, refit


def _cmd_demo(args: argparse.Namespace) -> int:

    check_outputs([("--out", args.out, "folder")])
    path = run_demo(args.out)
    print(f"demo finished: outputs in {path}")
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:

    cfg, base = load_config(args.config)  # checked (keys, types, set-up) before any work
    out = args.out or base / cfg.get("output", {}).get("folder", "analysis-output")
    check_outputs([("--out" if args.out else "[output] folder", out, "folder")], inputs=[args.config])
    run_analysis(args.config, out_dir=out, progress=not args.quiet)
    return 0


def _cmd_tables(args: argparse.Namespace) -> int:

    if args.action == "build" and args.scheduler:
        path = build_table_on_cluster(args.output, grid=args.grid, scheduler=args.scheduler, progress=not args.quiet)
        print(f"table written: {path}")
        return 0
    if args.action == "build":
        path = tables.build_table(
            args.output, grid=args.grid, workers=args.workers, progress=not args.quiet
        )
        print(f"table written: {path}")
        return 0
    if args.action == "check":
        report = tables.check_table(n_points=args.points, seed=args.seed, progress=not args.quiet)
        print(report.summary())
        return 0 if report.passed else 1
    if args.action == "info":
        print(tables.describe_table())
        return 0
    raise AssertionError(args.action)


def _cmd_info(args: argparse.Namespace) -> int:
    # only regular files are probed: opening a FIFO would block
    results = [f for f in args.files if pathlib.Path(f).is_file() and is_result_file(f)]
    for f in results:
        spec = read_spec(load(f))
        print(f"{f}:\n" + (format_spec(spec) if spec else "  (a result made before specifications were stored)"))
    runs = [f for f in args.files if f not in results]
    lines, n_bad = format_info_lines(runs, verbose=args.verbose) if runs else ([], 0)
    for line in lines:
        print(line, file=sys.stderr if line.startswith("ERROR ") else sys.stdout)
    if runs and (args.msr or any(getattr(args, o.name) is not None for o in SETUP_OPTIONS)):
        n_bad += _print_reductions(args, runs)
    return 1 if n_bad else 0


def _print_reductions(args: argparse.Namespace, files) -> int:
    """With set-up options: each run as a fit would see it (bins, window, groups, counts); returns the failures."""
    bad = 0
    for f, setup in zip(files, _run_setups(args, files)):
        try:
            rd = RunData.from_run(f, setup, b_lf=setup.field_mT if setup.field_mT is not None else 0.0)
        except (ValueError, OSError) as exc:
            print(f"ERROR {f}: with this set-up: {exc}", file=sys.stderr)
            bad += 1
            continue
        red = rd.meta.get("reduction", {})
        groups = (f"forward {format_detectors(red['forward_detectors'])}, backward "
                  f"{format_detectors(red['backward_detectors'])}, " if "forward_detectors" in red else "")
        counts = f", counts F {rd.forward.sum():.0f} B {rd.backward.sum():.0f}" if rd.kind == "histograms" else ""
        print(f"{f}: as set up: {groups}{rd.n_obs} bins {rd.t[0]:.4g}–{rd.t[-1]:.4g} μs after t0"
              f"{counts}, early asymmetry {rd.early_asymmetry(rd.alpha or 1.0):.4f}"
              + (f" (α = {rd.alpha:.4g})" if rd.alpha else ""))
    return bad


def _cmd_rerun(args: argparse.Namespace) -> int:
    spec = read_spec(load(args.result))
    if spec is None:
        raise ValueError(f"{args.result}: no fit specification stored (made before bayesmusr stored them)")
    result = pathlib.Path(args.result).resolve()
    if spec["kind"] == "reanalysis":  # the published-table reanalysis again, into a new folder
        out = args.out or str(result.parent.with_name(result.parent.name + "_rerun"))
        check_outputs([("--out", out, "folder")], inputs=[result])
        reanalyse_from_spec(spec, out, progress=not args.quiet, data_dir=args.data_dir)
        print(f"reanalysis redone into {out}; report {write_reanalysis_report(out)}")
        return 0
    if spec["kind"] == "scan":  # the whole job again, into a new folder
        out = args.out or str(result.parent.with_name(result.parent.name + "_rerun"))
        check_outputs([("--out", out, "folder")], inputs=[result])
        run_analysis_from_spec(spec, out_dir=out, progress=not args.quiet, data_dir=args.data_dir)
        print(f"scan refitted into {out}")
        return 0
    if args.data_dir:
        spec = relocate(spec, args.data_dir)
    out = args.out or str(result.with_name(result.stem + "_rerun.nc"))
    check_outputs([("--out", out, "result")], inputs=[result])
    refit(spec, out=out, progress=not args.quiet)
    print(f"refitted: {out}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:

    check_outputs([("--output", args.output, "figure")], inputs=[args.file])
    (setup,) = _run_setups(args, [args.file])
    out = plot_run_file(args.file, args.output, setup, y_range=args.y_range)
    print(f"figure written: {out}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:

    res = compare_results(args.results, names=args.names)
    print(format_comparison(res))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:

    check_outputs([("--out", args.out, "report")], inputs=[args.result, *(args.compare or ())])
    out = write_report(args.result, args.out, compare_with=args.compare or ())
    print(f"report written: {out}")
    return 0


def _parse_prior_args(items):
    priors = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep:
            raise ValueError(f"--prior {item!r}: expected NAME=KIND:LO:HI, NAME=normal:MU:SIGMA or NAME=VALUE")
        parts = spec.split(":")
        if len(parts) == 1:
            try:
                priors[name] = float(parts[0])
            except ValueError:
                raise ValueError(f"--prior {item!r}: {parts[0]!r} is not a number") from None
        else:
            priors[name] = (parts[0], *parts[1:])
    return priors


def _add_setup_options(parser: argparse.ArgumentParser, msr: bool = True) -> None:
    """The run set-up flags, one per option of :data:`bayesmusr.io.setup.SETUP_OPTIONS`, and ``--msr``."""
    grp = parser.add_argument_group("run set-up (default: as the file says; docs/coming-from-musrfit.md)")
    for o in SETUP_OPTIONS:
        nargs = "+" if o.name == "field_mT" else o.nargs  # one field per file is allowed
        help_text = o.help + ("; one value, or one per file" if o.name == "field_mT" else "")
        grp.add_argument(o.flag, dest=o.name, nargs=nargs, metavar=o.metavar,
                         default=None, help=help_text)
    if msr:
        grp.add_argument("--msr", default=None, help="musrfit msr file: take the RUN block of each run file "
                                                     "(groups, t0, data, background, fit range, packing, fixed α)")
        grp.add_argument("--msr-run", type=int, default=None, help="RUN block number of the msr file (from 1)")


def _run_setups(args: argparse.Namespace, files) -> list[RunSetup]:
    """One set-up per run file: the msr file's RUN block (if given), then the command-line options over it."""
    given = {o.name: " ".join(v) if isinstance(v, list) else v
             for o in SETUP_OPTIONS if (v := getattr(args, o.name, None)) is not None}
    fields = (getattr(args, "field_mT", None) or [None])
    if len(fields) not in (1, len(files)):
        raise ValueError(f"--field: expected one value or one per file ({len(files)}), got {len(fields)}")
    fields = fields * len(files) if len(fields) == 1 else fields
    setups = []
    for f, field in zip(files, fields):
        base = RunSetup()
        if getattr(args, "msr", None):
            imp = read_msr(args.msr, run=f, block=args.msr_run)
            print(imp.describe())
            base = imp.setup
        setups.append(base.updated({**given, "field_mT": field}, "command line"))
    return setups


def _cmd_fit_temperature(args: argparse.Namespace) -> int:

    settings = {"progress": not args.quiet}
    if args.max_steps is not None:
        settings["max_steps"] = args.max_steps
    if args.min_steps is not None:
        settings["min_steps"] = args.min_steps
    if args.max_seconds is not None:
        settings["max_seconds"] = args.max_seconds
    if args.workers is not None:
        settings["workers"] = args.workers
    out = args.out or f"{pathlib.Path(args.files[0]).stem}_{args.model}.nc"
    check_outputs([("--out", out, "result"), ("--backend", args.backend, "backend")],
                  inputs=[*args.files, *([args.msr] if args.msr else [])])
    setups = _run_setups(args, args.files)
    temperature = setups[0].temperature_K
    idata = fit_temperature(
        args.files, args.model, priors=_parse_prior_args(args.prior), backend=args.backend, seed=args.seed,
        setup=setups, holder_fraction=not args.no_holder_fraction, extra_relaxation=args.extra_relaxation,
        count_background=not args.no_background, shared=tuple(args.share or ()), table=args.table,
        nuisances=args.nuisances, temperature=temperature if temperature is not None else float("nan"),
        temperature_tolerance_K=args.temperature_tolerance, **settings,
    )
    save(idata, out)
    a = idata.posterior.attrs
    print(summary(idata).to_string())
    print("intervals: central credible, 68 % = q16–q84, 95 % = q2.5–q97.5")
    print(f"model {a['model']}, runs: {a['run_labels']}, nuisances: {a.get('nuisances', 'sampled')}")
    temp = read_spec(idata)["temperature"]
    print(f"temperature: {temp['value_K'] if temp['value_K'] is None else round(temp['value_K'], 2)} K ({temp['source']})")
    if a.get("ea_support"):
        print(a["ea_support"])
    for note in prior_edge_notes(idata):
        print("NOTE: " + note)
    print(f"chain: {a['n_steps']} steps x {a['nwalkers']} walkers = {a['chain_length_in_tau']:.0f} autocorrelation "
          f"times (tau_max {a['tau_max']:.0f}); {a['convergence_message']}")
    print(f"result written: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the ``bayesmusr`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        Parser with one sub-command each; ``args.func`` is the handler to call.
    """
    p = argparse.ArgumentParser(
        prog="bayesmusr",
        description="Bayesian analysis of ZF/LF muon spin relaxation (Kubo-Toyabe and ion+muon jump EA models).",
    )
    p.add_argument("--version", action="version", version=f"bayesmusr {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    _add_job_commands(sub)
    _add_result_commands(sub)
    _add_fit_temperature(sub)
    _add_campaign(sub)
    _add_reanalyse(sub)
    return p


def _add_reanalyse(sub) -> None:
    """``reanalyse``: a published KT table in, EA posterior and verdict out (flags: workflows.reanalyse.CLI_OPTIONS)."""
    r = sub.add_parser("reanalyse", help="reanalyse a published (Δ_KT, ν_KT) table: EA posterior, the conventional "
                                         "reading, LOO verdict, T* (docs/reanalysis.md)")
    r.add_argument("input", metavar="TABLE", help="the published table (CSV: temperature_K, delta_kt[, delta_kt_err], nu_kt"
                                  "[, nu_kt_err]) or a reanalysis TOML naming it")
    r.add_argument("--out", default=None, help="output folder (default: [output] folder of the TOML, else "
                                               "reanalysis-output beside the table)")
    for flag, (_, _, _, help_text) in REANALYSE_OPTIONS.items():
        r.add_argument(flag, default=None, help=help_text)
    r.add_argument("--fit-amplitude", action="store_true", default=None,
                   help="the published fits also fitted the amplitude (default: fixed to 1)")
    r.add_argument("--prior", action="append", default=None,
                   help="prior override NAME=KIND:LO:HI, NAME=normal:MU:SIGMA or NAME=VALUE (e.g. e_mu=0.02)")
    r.add_argument("--cache-dir", default=None, help="folder of the emulator tables (default: ~/.cache/bayesmusr)")
    r.add_argument("--workers", type=int, default=None,
                   help="processes for building an emulator not yet cached (default: all cores)")
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    r.set_defaults(func=_cmd_reanalyse)


def _cmd_reanalyse(args: argparse.Namespace) -> int:
    src = pathlib.Path(args.input)
    if src.suffix.lower() == ".toml":
        cfg, base = load_reanalysis_config(src)
    else:
        cfg, base = {"reanalysis": {"table": str(src.resolve())}}, src.resolve().parent
    cfg = config_from_flags({f: getattr(args, f.lstrip("-").replace("-", "_")) for f in REANALYSE_OPTIONS}, cfg)
    if args.fit_amplitude:
        cfg["reanalysis"]["fit_amplitude"] = True
    if args.prior:
        cfg["priors"] = {**cfg.get("priors", {}), **_parse_prior_args(args.prior)}
    check_reanalysis_config(cfg, str(src))
    out = pathlib.Path(args.out or base / cfg.get("output", {}).get("folder", "reanalysis-output"))
    check_outputs([("--out" if args.out else "[output] folder", out, "folder")], inputs=[src])
    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 1:
        raise ValueError(f"--workers must be ≥ 1, got {args.workers}")
    # the pool only runs an emulator build (the grid slices); a cached emulator never starts it
    with concurrent.futures.ProcessPoolExecutor(workers) if workers > 1 else contextlib.nullcontext() as pool:
        res = reanalyse_from_config(cfg, base, out, progress=not args.quiet, cache_dir=args.cache_dir, executor=pool)
    report = write_reanalysis_report(out)
    print(format_comparison(res.comparison))
    print("\n" + res.summary["text"])
    print(f"\nresults in {out} (reanalysis.nc, conventional_*.nc, comparison.txt); report {report}")
    return 0


def _add_job_commands(sub) -> None:
    """``demo``, ``fit``, ``tables``, ``info``, ``rerun``, ``plot``."""
    d = sub.add_parser("demo", help="run the main job on the embedded default data")
    d.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    d.set_defaults(func=_cmd_demo)

    f = sub.add_parser("fit", help="temperature-scan analysis (EA scan model vs KT reading) from a TOML file")
    f.add_argument("config", help="analysis TOML (see bayesmusr.workflows.scan for the layout)")
    f.add_argument("--out", default=None, help="output folder (default: [output] folder of the TOML)")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=_cmd_fit)

    t = sub.add_parser("tables", help="build, check or describe the EA tables")
    t.add_argument("action", choices=["build", "check", "info"])
    t.add_argument("--output", default=None, help="table file to write (build)")
    t.add_argument("--grid", default="standard", help="grid name for build (standard | small)")
    where = t.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local worker processes for build (default: all cores)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="build's slices as tasks on an existing Dask scheduler, e.g. tcp://host:8786 (its "
                            "workers must see the output folder)")
    t.add_argument("--points", type=int, default=200, help="random off-grid points for check")
    t.add_argument("--seed", type=int, default=20261124, help="random seed for check")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_tables)

    i = sub.add_parser("info", help="run files: one line each (format, run, sample, T, field, counts); result "
                                    "files: the fit specification they carry")
    i.add_argument("files", nargs="+")
    _add_setup_options(i)
    i.add_argument("-v", "--verbose", action="store_true",
                   help="also t0, good bins, grouping, dead times and good frames per period of each run")
    i.set_defaults(func=_cmd_info)

    rr = sub.add_parser("rerun", help="fit again from the specification stored in a result (same files, settings, seed)")
    rr.add_argument("result", help="result netCDF written by fit-temperature (or a scan's ea_scan.nc)")
    rr.add_argument("--out", default=None, help="new result file (default: <result>_rerun.nc; for a scan, a folder)")
    rr.add_argument("--data-dir", default=None, help="folder holding the run files, if they moved")
    rr.add_argument("--quiet", action="store_true", help="no progress bar")
    rr.set_defaults(func=_cmd_rerun)

    pl = sub.add_parser("plot", help="write a PNG of a run's asymmetry")
    pl.add_argument("file")
    pl.add_argument("-o", "--output", default=None, help="PNG path (default: next to the run file name)")
    pl.add_argument("--y-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="asymmetry axis limits (default: from the data shown)")
    _add_setup_options(pl)
    pl.set_defaults(func=_cmd_plot)



def _add_result_commands(sub) -> None:
    """``compare`` and ``report``."""
    c = sub.add_parser("compare", help="LOO/WAIC comparison of fit results of the same data, with Pareto-k and a verdict")
    c.add_argument("results", nargs="+", help="result netCDF files (bayesmusr fit-temperature --out)")
    c.add_argument("--names", nargs="+", default=None, help="labels for the results (default: file names)")
    c.set_defaults(func=_cmd_compare)

    rp = sub.add_parser("report", help="one self-contained HTML report (figures embedded) of results or a fit folder")
    rp.add_argument("result", help="result netCDF (ea_scan.nc, kt_per_temperature.nc, fit-temperature --out) or a "
                                   "folder written by 'bayesmusr fit'")
    rp.add_argument("--compare", nargs="+", default=None, help="more result files to show and compare by LOO")
    rp.add_argument("--out", default=None, help="HTML file (default: report.html in the folder, or "
                                                "<result>_report.html next to the result file)")
    rp.set_defaults(func=_cmd_report)


def _add_fit_temperature(sub) -> None:
    """``fit-temperature``: its help lists the declared parameters and their default priors."""
    plist = "; ".join(f"{m}: " + ", ".join(f"{p.name} [{p.unit}] {p.default_prior().short()}" for p in ps)
                      for m, ps in PHYSICS_PARAMETERS.items())
    rlist = ", ".join(f"{p.name} {p.default_prior().short()}" for p, _, _ in RUN_PARAMETERS)
    ft = sub.add_parser(
        "fit-temperature",
        help="Bayesian fit of the ZF/LF runs of one temperature (KT or EA), result as netCDF",
        description=f"Physics parameters and default priors: {plist}. Per-run nuisances: {rlist}.",
    )
    ft.add_argument("files", nargs="+", help="run files of one temperature (histograms or asymmetry exports)")
    ft.add_argument("--model", default="kt", choices=["kt", "dynamic_kt", "static_kt", "ea"],
                    help="relaxation model (kt = dynamic KT)")
    ft.add_argument("--out", default=None,
                    help="result netCDF file (default: <first run file's name>_<model>.nc in the current folder)")
    ft.add_argument("--backend", default=None, help="emcee HDF5 file: progress is saved there and a rerun resumes")
    ft.add_argument("--prior", action="append", default=None,
                    help="prior override NAME=KIND:LO:HI (uniform/loguniform), NAME=normal:MU:SIGMA, or NAME=VALUE to fix")
    ft.add_argument("--no-holder-fraction", action="store_true", help="fix the non-relaxing fraction at 0")
    ft.add_argument("--extra-relaxation", action="store_true", help="fit an extra exponential relaxation per run")
    ft.add_argument("--no-background", action="store_true", help="no flat count backgrounds")
    ft.add_argument("--share", nargs="+", default=None, help="per-run nuisances shared by all runs, e.g. --share a0 fbg")
    ft.add_argument("--table", default=None, help="EA table file (default: the shipped table)")
    ft.add_argument("--nuisances", default="auto", choices=["auto", "laplace", "sampled"],
                    help="laplace: sample only the physics, per-run nuisances integrated out (fast); sampled: "
                         "sample every nuisance (needed for --extra-relaxation, --share and nuisance priors); "
                         "auto (default): laplace unless one of those is asked for")
    ft.add_argument("--temperature-tolerance", type=float, default=DEFAULT_TEMPERATURE_TOLERANCE_K,
                    help="largest spread of the runs' temperatures (K) fitted as one temperature "
                         f"(default {DEFAULT_TEMPERATURE_TOLERANCE_K})")
    ft.add_argument("--workers", type=int, default=None,
                    help="processes evaluating the posterior during sampling (default 1)")
    ft.add_argument("--seed", type=int, default=0, help="random seed")
    ft.add_argument("--max-steps", type=int, default=None, help="maximum MCMC steps")
    ft.add_argument("--min-steps", type=int, default=None, help="minimum MCMC steps (default 500)")
    ft.add_argument("--max-seconds", type=float, default=None, help="wall-clock budget of the MCMC part")
    ft.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_setup_options(ft)
    ft.set_defaults(func=_cmd_fit_temperature)


def _cmd_campaign(args: argparse.Namespace) -> int:
    # a missing TOML is not refused here: it becomes a failed row of the summary and the others go on
    check_outputs([("--out", args.out, "folder")], inputs=[c for c in args.configs if pathlib.Path(c).is_file()])
    rows = run_campaign(args.configs, args.out, workers=args.workers, scheduler=args.scheduler,
                        retries=args.retries)
    return 1 if any(r["status"] != "ok" for r in rows) else 0


def _add_campaign(sub) -> None:
    """``campaign``: many scans as tasks on a Dask cluster (bayesmusr.campaign)."""
    c = sub.add_parser("campaign", help="fit many temperature scans (one TOML each) on a Dask cluster; "
                                        "summary campaign.csv/.nc/.html",
                       description="Each scan is fitted into OUT/<TOML stem>/ exactly as 'bayesmusr fit' does; "
                                   "finished scans are not refitted, failed ones are listed with their error "
                                   "(exit status 1). See docs/campaigns.md.")
    c.add_argument("configs", nargs="+", metavar="SCAN.toml", help="analysis TOML files, one per scan")
    c.add_argument("--out", required=True, help="campaign folder")
    where = c.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="worker processes of a local Dask cluster, one core each (default: all cores)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    c.add_argument("--retries", type=int, default=1, help="more tries of a scan task that raised (default 1)")
    c.set_defaults(func=_cmd_campaign)


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: the command's (0 done; ``info`` 1 if a file was bad), 2 for bad input (a value,
        option, path or file), 1 for a failure while running, 130 on interrupt (Ctrl-C).
    """
    # Ctrl-C and SIGTERM both end a command as KeyboardInterrupt (status 130); sampling defers them to a safe point
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(argv)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(argv: list[str] | None) -> int:
    """Parse and run one command; exceptions become exit statuses (see :func:`main`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    spec_module.COMMAND = ["bayesmusr", *(sys.argv[1:] if argv is None else argv)]  # recorded in every result
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"bayesmusr {args.command}: interrupted; {_INTERRUPT_HINT.get(args.command, 'nothing was written')}",
              file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:  # bad input: a value, a path, a file
        print(f"bayesmusr {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a failure while running: one line, the traceback only on request
        if os.environ.get("BAYESMUSR_DEBUG"):
            raise
        print(f"bayesmusr {args.command}: failed: {type(exc).__name__}: {exc} (set BAYESMUSR_DEBUG=1 for the "
              "traceback)", file=sys.stderr)
        return 1
    finally:
        spec_module.COMMAND = None


def _terminate(signum, frame):
    raise KeyboardInterrupt


#: what an interrupted command has kept, and how to go on
_INTERRUPT_HINT = {
    "fit": "finished fits and the chains' backends are kept in the output folder: run the same command to resume",
    "fit-temperature": "with --backend the chain so far is kept there: run the same command to resume it",
    "rerun": "finished work is kept: run the same command to resume",
    "tables": "finished table points are kept: run the same build command to resume",
    "demo": "finished fits are kept in the output folder: run the same command to resume",
    "campaign": "finished scans and every chain's backend are kept: run the same command to resume",
    "reanalyse": "the chains' backends and the emulator's finished grid slices are kept: run the same command to "
                 "resume",
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
