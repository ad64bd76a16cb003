"""Import of a musrfit msr file's run set-up: :func:`read_msr` → :class:`MsrImport`.

musrfit (Suter & Wojek) describes each run in a ``RUN`` block (defaults in an optional
``GLOBAL`` block): the file, ``fittype``, ``alpha`` (a FITPARAMETER number), ``forward`` /
``backward`` histograms, ``t0``, ``data`` (good bins), ``background`` (pre-t0 bin ranges) or
``backgr.fix``, ``fit`` (time range, μs, or ``fgb+n lgb-m`` in bins) and ``packing``.  These map
one to one onto :class:`bayesmusr.io.setup.RunSetup` options; α is taken only when its
FITPARAMETER is fixed (step 0) and is converted from musrfit's convention (1/α of ours).  What
is not a run set-up (THEORY, FUNCTIONS, free parameters, ``map``) is listed as ignored, so the
user sees what was and was not taken.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import re

from bayesmusr.io.setup import RunSetup

__all__ = ["MsrImport", "read_msr", "MSR_KEYS"]

#: RUN/GLOBAL keys taken, with the set-up option each becomes
MSR_KEYS = {"forward": "forward", "backward": "backward", "t0": "t0", "data": "good_bins",
            "background": "background", "backgr.fix": "background_fix", "packing": "bunch", "fit": "t_min/t_max",
            "alpha": "alpha (if its parameter is fixed)", "deadtime-cor": "dead_time"}

#: what a taken key does that the user might not expect
_NOTES = {"background": " (used for plots and asymmetries; the Poisson fit fits flat backgrounds over the whole "
                        "window instead of subtracting them)",
          "backgr.fix": " (used for plots and asymmetries; the Poisson fit fits flat backgrounds)"}

#: keys read but not part of a run set-up (the model is chosen with --model; fields come from the file or --field)
_NOT_SETUP = ("map", "norm", "backgr.fit", "lifetime", "lifetimecorrection", "beta", "xy-data", "rrf_freq",
              "rrf_packing", "rrf_phase", "addt0")


@dataclasses.dataclass
class MsrImport:
    """The run set-up taken from one RUN block, with what was taken and what was ignored.

    Attributes
    ----------
    path : pathlib.Path
        The msr file.
    run_name : str
        The RUN block's run name (e.g. ``data/deltat_tdc_dolly_1020``).
    file_format : str
        Its data-file format (``PSI-BIN``, ``NEXUS``, ``MUD``, ``ROOT-NPP``, …).
    setup : RunSetup
        The set-up options taken.
    taken : list of str
        One line per option taken (``"data 170 9956 168 9110 -> good_bins"``).
    ignored : list of str
        One line per line or block not taken, with the reason.
    """

    path: pathlib.Path
    run_name: str
    file_format: str
    setup: RunSetup
    taken: list[str]
    ignored: list[str]

    def describe(self) -> str:
        """What was taken and ignored, for the terminal.

        Returns
        -------
        str
        """
        lines = [f"{self.path}: RUN {self.run_name} ({self.file_format})", "  taken:"]
        lines += [f"    {t}" for t in self.taken] or ["    nothing"]
        lines += ["  ignored:"] + ([f"    {t}" for t in self.ignored] or ["    nothing"])
        return "\n".join(lines)


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """(header line, body lines) of each block; comments (#) and blank lines dropped."""
    blocks: list[tuple[str, list[str]]] = [("TITLE", [])]
    heads = ("FITPARAMETER", "THEORY", "FUNCTIONS", "GLOBAL", "RUN", "COMMANDS", "FOURIER", "PLOT", "STATISTIC")
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        word = line.split()[0].upper()
        if not line[0].isspace() and word in heads:
            blocks.append((line.strip(), []))
        else:
            blocks[-1][1].append(line.strip())
    return blocks


def _fit_parameters(body: list[str]) -> dict[int, tuple[str, float, float]]:
    """FITPARAMETER lines → {number: (name, value, step)}; step 0 means fixed."""
    out = {}
    for line in body:
        tok = line.split()
        try:
            out[int(tok[0])] = (tok[1], float(tok[2]), float(tok[3]))
        except (IndexError, ValueError):
            continue
    return out


def _key_values(body: list[str]) -> dict[str, list[str]]:
    """``key v1 v2 …`` lines of a RUN/GLOBAL block (the last of repeated keys wins, t0 lines add up)."""
    out: dict[str, list[str]] = {}
    for line in body:
        key, *vals = line.split()
        key = key.lower()
        vals = [v for v in vals if not v.startswith("(")] if key != "fit" else vals
        if key == "t0" and key in out:
            out[key] += vals
        else:
            out[key] = vals
    return out


def read_msr(path: str | os.PathLike, run: str | os.PathLike | None = None, block: int | None = None) -> MsrImport:
    """The run set-up of one RUN block of a musrfit msr file.

    Parameters
    ----------
    path : path
        The msr file.
    run : path, optional
        The data file being fitted: the RUN block whose run name matches its file name
        (without folder and extension) is taken.
    block : int, optional
        RUN block number (from 1, in file order); overrides the match by ``run``.

    Returns
    -------
    MsrImport
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the msr file ({exc.strerror or exc})") from None
    blocks = _blocks(text)
    runs = [(h, b) for h, b in blocks if h.upper().startswith("RUN")]
    if not runs:
        raise ValueError(f"{path}: no RUN block (is this a musrfit msr file? TRIUMF MUD files also end in .msr)")
    head, body = _pick_run(path, runs, run, block)
    params = next((_fit_parameters(b) for h, b in blocks if h.upper() == "FITPARAMETER"), {})
    glob = next((_key_values(b) for h, b in blocks if h.upper() == "GLOBAL"), {})
    values = {**glob, **_key_values(body)}
    setup, taken, ignored = _to_setup(path, values, params)
    theory = next((b for h, b in blocks if h.upper() == "THEORY"), [])
    functions = next((b for h, b in blocks if h.upper() == "FUNCTIONS"), [])
    field = _lf_field(theory, functions, params)
    if field is not None:
        setup = setup.updated({"field_mT": field[0]}, str(path))
        taken.append(f"THEORY {field[1]} -> field_mT {field[0]:.6g} (the fixed field of its LF Kubo-Toyabe)")
    ignored += [f"{h.split()[0]} block: the model is chosen with --model, not read from the msr file"
                for h, _ in blocks if h.split()[0].upper() in ("THEORY", "FUNCTIONS")]
    tok = head.split()
    return MsrImport(path, tok[1] if len(tok) > 1 else "", tok[4] if len(tok) > 4 else "", setup, taken, ignored)


def _pick_run(path, runs, run, block):
    """The RUN block asked for: by number, by the data file's name, or the only one."""
    names = [h.split()[1] if len(h.split()) > 1 else "" for h, _ in runs]
    if block is not None:
        if not 1 <= block <= len(runs):
            raise ValueError(f"{path}: RUN block {block} does not exist (the file has {len(runs)}: {names})")
        return runs[block - 1]
    if run is not None:
        stem = pathlib.Path(run).stem.lower()
        hits = [k for k, n in enumerate(names) if pathlib.PurePosixPath(n.replace("\\", "/")).name.lower() == stem]
        if len(hits) == 1:
            return runs[hits[0]]
    if len(runs) == 1:
        return runs[0]
    raise ValueError(f"{path}: {len(runs)} RUN blocks ({', '.join(names)}); none matches "
                     f"{pathlib.Path(run).name if run else 'the data file'}: choose one with --msr-run N (from 1)")


def _to_setup(path, values: dict[str, list[str]], params) -> tuple[RunSetup, list[str], list[str]]:
    """RUN/GLOBAL key values → (set-up, taken lines, ignored lines)."""
    opts: dict = {}
    taken, ignored = [], []
    fittype = (values.pop("fittype", ["2"]) or ["2"])[0]
    if fittype not in ("2", "0"):
        raise ValueError(f"{path}: fittype {fittype}: bayesmusr imports asymmetry (2) or single-histogram (0) RUN "
                         "blocks only")
    for key, vals in sorted(values.items(), key=lambda kv: kv[0] == "fit"):  # fit last: it may narrow data
        line = f"{key} {' '.join(vals)}"
        if key in ("forward", "backward", "t0", "data", "background", "backgr.fix", "packing"):
            opts[MSR_KEYS[key]] = " ".join(vals)
            note = _NOTES.get(key, "")
            taken.append(f"{line} -> {MSR_KEYS[key]}{note}")
        elif key == "fit":
            rng = _fit_range(path, vals, values)
            opts.update(rng)
            taken.append(f"{line} -> " + ", ".join(f"{k} {v}" for k, v in rng.items()))
        elif key == "alpha":
            _alpha(vals, params, opts, taken, ignored, line)
        elif key == "deadtime-cor":
            mode = {"file": "file", "no": "none", "estimate": None}.get(vals[0].lower() if vals else "")
            (taken if mode else ignored).append(f"{line} -> dead_time {mode}" if mode else
                                                f"{line}: dead times are only taken from the file")
            if mode:
                opts["dead_time"] = mode
        else:
            why = "not a run set-up" if key in _NOT_SETUP else "not known to bayesmusr's msr import"
            ignored.append(f"{line}: {why}")
    if fittype == "0":
        ignored.append("fittype 0 (single histogram): bayesmusr fits forward/backward pairs; give both groups")
    setup = RunSetup.from_mapping(opts, f"{path}: RUN block")
    return setup, taken, ignored


def _fit_range(path, vals, values) -> dict:
    """``fit 0.25 10`` (μs) → t_min, t_max; ``fit fgb+2 lgb-5`` (bins inside the data range) → a narrower
    ``good_bins`` (the same bins musrfit fits)."""
    if len(vals) >= 2 and not vals[0].lower().startswith("fgb"):
        try:
            return {"t_min": float(vals[0]), "t_max": float(vals[1])}
        except ValueError:
            pass
    m0 = re.fullmatch(r"fgb([+-]\d+)?", vals[0].lower()) if vals else None
    m1 = re.fullmatch(r"lgb([+-]\d+)?", vals[1].lower()) if len(vals) > 1 else None
    data = [int(v) for v in values.get("data", [])]
    if not (m0 and m1 and len(data) in (2, 4)):
        raise ValueError(f"{path}: fit {' '.join(vals)}: expected 'fit START END' in μs, or 'fit fgb+N lgb-M' with a "
                         "data line")
    a, b = int(m0[1] or 0), int(m1[1] or 0)
    data = data * 2 if len(data) == 2 else data
    return {"good_bins": [data[0] + a, data[1] + b, data[2] + a, data[3] + b]}


def _alpha(vals, params, opts, taken, ignored, line) -> None:
    """Take α when it names a fixed FITPARAMETER (musrfit's convention, converted)."""
    try:
        number = int(vals[0])
    except (IndexError, ValueError):
        ignored.append(f"{line}: α given by a function; it is fitted here")
        return
    if number not in params:
        ignored.append(f"{line}: FITPARAMETER {number} not found; α is fitted here")
        return
    name, value, step = params[number]
    if step != 0:
        ignored.append(f"{line}: {name} = {value:g} is free in musrfit; α is fitted here with its default prior")
        return
    opts["alpha"], opts["alpha_convention"] = value, "musrfit"
    taken.append(f"{line} -> alpha {value:g} (musrfit's, fixed) = {1 / value:.6g} in bayesmusr's convention")


#: musrfit's γ_μ/2π in MHz/G (PMusr.h GAMMA_BAR_MUON), used by ``gamma_mu`` in FUNCTIONS
GAMMA_BAR_MUON_MHZ_PER_G = 1.355388094e-2
#: musrfit theory functions whose first parameter is the LF frequency γ_μ B/2π in MHz (PTheory.h)
_KT_LF = ("sgktlf", "dyngssktlf", "dgktlf", "statexpktlf", "sektlf", "dynexpktlf", "dektlf",
          "statgssktlf")


def _lf_field(theory: list[str], functions: list[str], params) -> tuple[float, str] | None:
    """The longitudinal field (mT) of the first KT-LF theory line whose frequency is a *fixed* parameter,
    or ``funN = parK * gamma_mu`` of a fixed parameter K (a field in G); None otherwise."""
    for line in theory:
        line = line.split("(")[0].strip()  # musrfit's "(frequency damping …)" annotation
        tok = line.split()
        if len(tok) < 2 or tok[0].lower() not in _KT_LF:
            continue
        arg = tok[1].lower()
        if arg.isdigit() and int(arg) in params and params[int(arg)][2] == 0:
            return params[int(arg)][1] / GAMMA_BAR_MUON_MHZ_PER_G / 10.0, line
        m = re.fullmatch(r"fun(\d+)", arg)
        for f in functions if m else []:
            fm = re.fullmatch(rf"fun{m[1]}\s*=\s*par(\d+)\s*\*\s*gamma_mu", f.strip().lower())
            if fm and int(fm[1]) in params and params[int(fm[1])][2] == 0:
                return params[int(fm[1])][1] / 10.0, f"{line}; {f.strip()}"
    return None
