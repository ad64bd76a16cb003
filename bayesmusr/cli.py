"""Command-line interface: ``bayesmusr <command> ...``.

Each sub-command is a thin shell around a library call; the work lives in the
library modules (data flows readers -> data -> models -> sampling -> reports).
Imports are done inside the handlers so ``bayesmusr --help`` stays fast.
"""
from __future__ import annotations

import argparse
import sys


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    path = run_demo(args.out)
    print(f"demo finished: outputs in {path}")
    return 0


def _cmd_tables(args: argparse.Namespace) -> int:
    from . import tables

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
    from .data import format_info_lines

    for line in format_info_lines(args.files):
        print(line)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_run_file

    out = plot_run_file(args.file, args.output)
    print(f"figure written: {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bayesmusr",
        description="Bayesian analysis of ZF/LF muon spin relaxation (Kubo-Toyabe and ion+muon jump EA models).",
    )
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the main job on the embedded default data")
    d.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("tables", help="build, check or describe the EA tables")
    t.add_argument("action", choices=["build", "check", "info"])
    t.add_argument("--output", default=None, help="table file to write (build)")
    t.add_argument("--grid", default="standard", help="grid name for build (standard | small)")
    t.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    t.add_argument("--points", type=int, default=200, help="random off-grid points for check")
    t.add_argument("--seed", type=int, default=20261124, help="random seed for check")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=_cmd_tables)

    i = sub.add_parser("info", help="one line per run file: format, run, sample, T, field, counts")
    i.add_argument("files", nargs="+")
    i.set_defaults(func=_cmd_info)

    pl = sub.add_parser("plot", help="write a PNG of a run's asymmetry")
    pl.add_argument("file")
    pl.add_argument("-o", "--output", default=None, help="PNG path (default: next to the run file name)")
    pl.set_defaults(func=_cmd_plot)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt):
            print("interrupted: finished work has been kept; run the same command to resume", file=sys.stderr)
            return 130
        print(f"bayesmusr {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
