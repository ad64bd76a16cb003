"""The fit specification: how a result was made, stored as JSON inside the result.

Every result file carries ``posterior.attrs["bayesmusr_spec"]``, a JSON document that is
enough to make the result again (``bayesmusr rerun RESULT.nc``):

``spec_version``, ``kind`` (``"temperature"`` or ``"scan"``), ``bayesmusr_version``, ``created``,
``command`` (the command line, if any);
``runs``: per run its ``label``, ``kind``, ``field_mT`` with ``field_source``, ``temperature_K``
with ``temperature_source``, ``source`` (``path``, ``sha256``, ``format``; None for runs built in
memory) and ``reader`` (grouping, t0, good bins, periods, dead time, background as the run object
reports them, plus ``bunch``, ``t_min``, ``t_max`` of the fit window);
``model``: ``name``, ``priors`` (name → prior dict, fixed values included), ``options``,
``nuisances`` (``"laplace"`` or ``"sampled"``), ``table``;
``sampler``: the settings and ``seed``; ``temperature``: ``value_K`` and ``source``;
``job``: for scans, the resolved analysis configuration.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import pathlib
import shlex
from collections.abc import Mapping

import h5py

from bayesmusr._version import __version__

__all__ = ["SPEC_ATTR", "SPEC_VERSION", "new_spec", "rerun_settings", "file_record", "is_result_file", "check_sources", "spec_attrs", "read_spec", "attach_spec", "format_spec",
           "relocate"]

SPEC_ATTR = "bayesmusr_spec"
SPEC_VERSION = 2
#: sampler defaults that changed, keyed by the first specification version made with the new
#: values: a result of an older version is rerun with the defaults of its time (version 2,
#: issue 19: 16 walkers at least instead of 32, and the R-hat/ESS goals in the sampler's stop rule)
SAMPLER_DEFAULTS_BEFORE = {2: {"min_walkers": 32, "rhat_goal": None, "ess_goal": None}}
#: the command line being run, set by :func:`bayesmusr.cli.main` (None: the Python API)
COMMAND: list[str] | None = None


def is_result_file(path) -> bool:
    """True if ``path`` is a bayesmusr result (netCDF/HDF5 with a ``posterior`` group), not a run file.

    Parameters
    ----------
    path : str or path
        Any file.

    Returns
    -------
    bool
    """
    try:
        with h5py.File(path, "r") as f:
            return "posterior" in f
    except (OSError, ValueError):
        return False


def file_record(path, fmt: str = "") -> dict:
    """``{"path", "sha256", "format"}`` of a source file (absolute path, checksum of its bytes).

    Parameters
    ----------
    path : str or path
        The file.
    fmt : str
        Its format as the reader named it.

    Returns
    -------
    dict
    """
    p = pathlib.Path(path).resolve()
    digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return {"path": str(p), "sha256": digest, "format": fmt}


def new_spec(kind: str, *, runs: list, model: Mapping, sampler: Mapping, temperature: Mapping | None = None,
             job: Mapping | None = None, command: str | None = None) -> dict:
    """A specification document (see the module docstring for the fields).

    Parameters
    ----------
    kind : {"temperature", "scan"}
        What was fitted.
    runs : list of dict
        Per-run records.
    model, sampler : mapping
        Model and sampler sections.
    temperature : mapping, optional
        ``{"value_K", "source"}``.
    job : mapping, optional
        Resolved scan configuration.
    command : str, optional
        The command line (default: this process's, when run as ``bayesmusr``).

    Returns
    -------
    dict
    """
    if command is None and COMMAND is not None:
        command = shlex.join(COMMAND)
    return _clean({"spec_version": SPEC_VERSION, "kind": kind, "bayesmusr_version": __version__,
                   "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                   "command": command, "runs": list(runs), "model": dict(model), "sampler": dict(sampler),
                   "temperature": dict(temperature or {}), "job": dict(job or {})})


def rerun_settings(spec: Mapping, settings: Mapping) -> dict:
    """Sampler settings to make ``spec``'s result again: ``settings`` with the defaults of the spec's version.

    Parameters
    ----------
    spec : mapping
        A specification (its ``spec_version``).
    settings : mapping
        The sampler settings it records (those given by the user).

    Returns
    -------
    dict
        ``settings`` plus every default changed since (:data:`SAMPLER_DEFAULTS_BEFORE`) at its old value.
    """
    out = dict(settings)
    for version, old in SAMPLER_DEFAULTS_BEFORE.items():
        if int(spec.get("spec_version") or 1) < version:
            for k, v in old.items():
                out.setdefault(k, v)
    return out


def _clean(v):
    """JSON-ready copy: numpy scalars to Python, non-finite floats to None, tuples to lists."""
    if isinstance(v, Mapping):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "tolist"):
        return _clean(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pathlib.PurePath):
        return str(v)
    return v


def spec_attrs(spec: Mapping) -> dict:
    """``{SPEC_ATTR: JSON text}``: the attribute that carries ``spec`` in a result.

    Parameters
    ----------
    spec : mapping
        The specification.

    Returns
    -------
    dict
    """
    return {SPEC_ATTR: json.dumps(_clean(spec), ensure_ascii=False)}


def attach_spec(idata, spec: Mapping) -> None:
    """Store ``spec`` as JSON in ``idata.posterior.attrs`` (in place).

    Parameters
    ----------
    idata : arviz.InferenceData
        The result.
    spec : mapping
        The specification.
    """
    idata.posterior.attrs.update(spec_attrs(spec))


def read_spec(idata) -> dict | None:
    """The specification stored in a result, or None for results made before it existed.

    Parameters
    ----------
    idata : arviz.InferenceData
        The result.

    Returns
    -------
    dict or None
    """
    text = idata.posterior.attrs.get(SPEC_ATTR)
    return json.loads(text) if text else None


def relocate(spec: Mapping, data_dir, old_base=None) -> dict:
    """A copy of ``spec`` whose run files are looked up in ``data_dir`` (checksums still checked).

    Parameters
    ----------
    spec : mapping
        A specification.
    data_dir : str or path
        Folder that now holds the run files.
    old_base : str or path, optional
        The folder the files were under before: their paths relative to it are kept
        (a scan's data tree); default: each file is looked up by name alone.

    Returns
    -------
    dict
    """
    out = json.loads(json.dumps(spec))
    new = pathlib.Path(data_dir).resolve()
    for run in out.get("runs", []):
        if run.get("source"):
            old = pathlib.Path(run["source"]["path"])
            rel = os.path.relpath(old, old_base) if old_base is not None else old.name
            run["source"]["path"] = str(new / rel)
    return out


def check_sources(spec: Mapping) -> list[str]:
    """The run files of ``spec``, each checked to exist with its recorded checksum (ValueError if not).

    Parameters
    ----------
    spec : mapping
        A specification.

    Returns
    -------
    list of str
        Paths in run order.
    """
    paths = []
    for run in spec.get("runs", []):
        src = run.get("source")
        if not src:
            raise ValueError(f"run {run.get('label')!r} was not read from a file: it cannot be refitted from the "
                             "specification alone")
        p = pathlib.Path(src["path"])
        if not p.is_file():
            raise ValueError(f"run {run.get('label')!r}: source file {p} not found (give --data-dir with the folder "
                             "that holds it)")
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if src.get("sha256") and digest != src["sha256"]:
            raise ValueError(f"{p}: sha256 {digest[:12]}… differs from the recorded {src['sha256'][:12]}…: "
                             "not the file this result was fitted to")
        paths.append(str(p))
    return paths


def format_spec(spec: Mapping) -> str:
    """The specification as readable text (``bayesmusr info RESULT.nc``).

    Parameters
    ----------
    spec : mapping
        A specification.

    Returns
    -------
    str
    """
    m, s, t = spec.get("model", {}), spec.get("sampler", {}), spec.get("temperature", {})
    lines = [f"{spec.get('kind')} result, bayesmusr {spec.get('bayesmusr_version')}, {spec.get('created')}",
             f"  command: {spec.get('command') or '(Python API)'}",
             f"  model: {m.get('name')}   nuisances: {m.get('nuisances')}   options: "
             + ", ".join(f"{k}={v}" for k, v in (m.get("options") or {}).items())]
    if t.get("value_K") is not None:
        lines.append(f"  temperature: {t['value_K']:.2f} K ({t.get('source')})")
    lines.append("  priors:" + ("  (run nuisances: their declared default priors)" if m.get("nuisances") == "laplace"
                                else ""))
    lines += [f"    {k:<14} {_prior_text(v)}" for k, v in (m.get("priors") or {}).items()]
    table = (spec.get("job") or {}).get("table_file") or {}
    if spec.get("kind") == "reanalysis":  # a published table, not runs
        rows = len(((spec.get("job") or {}).get("table") or {}).get("temperature_K") or [])
        lines.append(f"  table: {table.get('path') or '(built in memory)'} ({rows} rows, sha256 "
                     f"{(table.get('sha256') or '-')[:16]}…)")
    else:
        lines.append("  runs:")
    for r in spec.get("runs", []):
        lines += _run_lines(r)
    lines.append("  sampler: " + ", ".join(f"{k}={v}" for k, v in s.items()))
    return "\n".join(lines)


def _run_lines(r: Mapping) -> list[str]:
    """A run's entry of :func:`format_spec`: field, temperature, file, reader settings and reduction."""
    src, red, window = r.get("source") or {}, r.get("reduction") or {}, r.get("window_us") or [None, None]
    temp = r.get("temperature_K")
    out = [f"    {r.get('label')}: {r.get('kind')}, B = {r.get('field_mT')} mT ({r.get('field_source')}), "
           f"T = {'?' if temp is None else f'{temp:.2f}'} K ({r.get('temperature_source') or '?'})"]
    if src:
        out.append(f"      file {src.get('path')} [{src.get('format')}] sha256 {str(src.get('sha256'))[:16]}…")
    setup = {k: v for k, v in (r.get("setup") or r.get("reader") or {}).items() if v is not None}
    out.append("      set-up: " + (", ".join(f"{k}={v}" for k, v in setup.items()) or "as the file says"))
    if red:
        out.append(f"      reduction: t0 {red.get('t0_us', float('nan')):.4f} μs, good "
                   f"{red.get('first_good_time_us', float('nan')):.3f}–{red.get('last_good_time_us', float('nan')):.3f} μs,"
                   f" forward {_ranges(red.get('forward_detectors', []))}, backward "
                   f"{_ranges(red.get('backward_detectors', []))}, period {red.get('period')}, dead time "
                   f"{'corrected' if red.get('dead_time_corrected') else 'not corrected'}, bins "
                   f"{red.get('bin_width_us', float('nan')) * 1e3:.4g} ns")
    if window[0] is not None:
        out.append(f"      fitted: {r.get('n_bins')} bins, {window[0]:.4g}–{window[1]:.4g} μs after t0")
    return out


def _ranges(numbers) -> str:
    """Detector numbers as compact ranges: [1, 2, 3, 7] → "1–3, 7"."""
    nums, parts = sorted(int(n) for n in numbers), []
    for n in nums:
        if parts and n == parts[-1][1] + 1:
            parts[-1][1] = n
        else:
            parts.append([n, n])
    return ", ".join(f"{a}–{b}" if b > a else f"{a}" for a, b in parts) or "none"


def _prior_text(d) -> str:
    if not isinstance(d, Mapping):
        return str(d)
    kind = d.get("kind")
    if kind == "fixed":
        return f"fixed = {d.get('value')}"
    if kind == "normal":
        return f"normal(mu={d.get('mu')}, sigma={d.get('sigma')}) on [{d.get('lo')}, {d.get('hi')}]"
    return f"{kind}[{d.get('lo')}, {d.get('hi')}]"
