"""Output paths checked before any work: nothing the user owns is overwritten unless it is ours to replace.

An output may replace only a file of its own kind that bayesmusr wrote (a result netCDF, an
emcee backend, a figure or report); it may never be one of the run's inputs, a data file, a
folder, or the same path as another output of the same command.  Its folder must exist (or is
created) and be writable.  Every check happens before a fit starts, so a bad ``--out`` costs no
sampling time.
"""
from __future__ import annotations

import os
import pathlib
import stat
from collections.abc import Iterable

import h5py

__all__ = ["check_outputs", "OUTPUT_KINDS"]

#: what an existing file must be for an output of each kind to replace it
OUTPUT_KINDS = ("result", "backend", "figure", "report", "folder")


def _kind_of(path: pathlib.Path) -> str:
    """What an existing file is: result (netCDF with a posterior), backend (emcee HDF5), or other."""
    if path.suffix.lower() in (".png", ".pdf", ".svg"):
        return "figure"
    if path.suffix.lower() in (".html", ".htm", ".md"):
        return "report"
    try:
        with h5py.File(path, "r") as f:
            if "posterior" in f:
                return "result"
            if "mcmc" in f:  # the group bayesmusr's emcee backends are written to
                return "backend"
    except (OSError, ValueError):
        pass
    return "other"


def _check_one(path: pathlib.Path, kind: str, option: str, inputs: set[pathlib.Path]) -> None:
    """Refuse one output path (ValueError naming the option, the path and the reason)."""
    real = path.resolve()
    if real in inputs:
        raise ValueError(f"{option} {path}: this is one of the inputs; choose another output path")
    if kind == "folder":
        if real.exists() and not real.is_dir():
            raise ValueError(f"{option} {path}: exists and is not a folder")
        parent = real if real.exists() else _existing_parent(real, option)
    else:
        if real.is_dir():
            raise ValueError(f"{option} {path}: is a folder; give a file name inside it")
        if real.exists():
            mode = os.stat(real).st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(f"{option} {path}: exists and is not a regular file")
            found = _kind_of(real)
            if found != kind:
                what = {"other": "a file bayesmusr did not write (a data file?)"}.get(found, f"a bayesmusr {found}")
                raise ValueError(f"{option} {path}: exists and is {what}, not a {kind} to replace; remove it or "
                                 "choose another path")
        parent = _existing_parent(real, option)
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{option} {path}: the folder {parent} is not writable")


def _existing_parent(path: pathlib.Path, option: str) -> pathlib.Path:
    """The nearest existing ancestor (missing folders are created when the output is written)."""
    p = path.parent
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise ValueError(f"{option} {path}: {p} is a file, not a folder")
    return p


def check_outputs(outputs: Iterable[tuple[str, str | os.PathLike | None, str]],
                  inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Check every output of one command before any work.

    Parameters
    ----------
    outputs : iterable of (option, path or None, kind)
        The option name for messages (``"--out"``), the path (None: not given) and its kind,
        one of :data:`OUTPUT_KINDS`.
    inputs : iterable of paths
        The command's input files (run files, msr files, results read).

    Returns
    -------
    None
        Raises ValueError naming the option, the path and the reason; when every output passes,
        their missing folders are created.
    """
    ins = {pathlib.Path(p).resolve() for p in inputs}
    outputs_list = list(outputs)
    seen: dict[pathlib.Path, str] = {}
    for option, path, kind in outputs_list:
        if path is None:
            continue
        if kind not in OUTPUT_KINDS:
            raise ValueError(f"unknown output kind {kind!r}; expected one of {OUTPUT_KINDS}")
        path = pathlib.Path(path)
        if path.resolve() in seen:
            raise ValueError(f"{option} {path}: the same path as {seen[path.resolve()]}")
        _check_one(path, kind, option, ins)
        seen[path.resolve()] = option
    for path, option in seen.items():  # every check passed: create the missing folders now
        kind = next(k for o, p, k in outputs_list if o == option)
        (path if kind == "folder" else path.parent).mkdir(parents=True, exist_ok=True)
