"""How a run is set up for a fit: :class:`RunSetup`, declared once in :data:`SETUP_OPTIONS`.

One declaration per option (name, CLI flag, how a value is read, help) gives the Python
keywords, the ``fit-temperature``/``info``/``plot`` options, the TOML keys (per scan and per
file), the musrfit msr import (:mod:`bayesmusr.io.msr`) and the specification stored in every
result.  Every option left unset means "as the file says".

Conventions (docs/coming-from-musrfit.md):

* detectors are numbered as the facility numbers them, from 1 (musrfit's ``forward 1-16``,
  Mantid's spectrum numbers);
* a **bin** is a 0-based index into the file's histogram; ``t0`` in bins puts time zero at the
  *centre* of that bin, so bin i is at t = (i − t0) Δt (musrfit, PSI headers);
* ``good_bins = [first, end]`` keeps first ≤ i < end, musrfit's ``data`` line (it may give
  forward and backward pairs: ``[f_first, f_end, b_first, b_end]``);
* ``alpha`` is bayesmusr's (and Mantid's) balance of A = (F − αB)/(F + αB), i.e. α = N_F/N_B;
  musrfit's asymmetry fit puts α on the forward histogram, (αF − B)/(αF + B), so its α is
  N_B/N_F = 1/α.  ``alpha_convention = "musrfit"`` takes musrfit's number as is and converts it.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bayesmusr.io.run import MuonRun

__all__ = ["RunSetup", "SetupOption", "SETUP_OPTIONS", "parse_detectors", "format_detectors", "check_keys",
           "options_table", "CLI_FLAGS"]


def parse_detectors(value: Any, name: str = "detectors") -> tuple[int, ...]:
    """Detector numbers from ``"1-16 18,20"``, ``[1, 2, 3]`` or ``5``.

    Parameters
    ----------
    value : str, int or sequence
        Numbers and inclusive ranges ``a-b``, separated by spaces or commas.
    name : str
        Option name for error messages.

    Returns
    -------
    tuple of int
        The numbers in the order given (each ≥ 1).
    """
    items = value if isinstance(value, (list, tuple)) else [value]
    out: list[int] = []
    for item in items:
        for tok in str(item).replace(",", " ").split():
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", tok)
            if not m:
                raise ValueError(f"{name}: {tok!r} is not a detector number or range (expected e.g. '1-16 18')")
            lo, hi = int(m[1]), int(m[2] or m[1])
            if lo < 1 or hi < lo:
                raise ValueError(f"{name}: {tok!r}: detectors are numbered from 1 and ranges go upwards")
            out.extend(range(lo, hi + 1))
    if not out:
        raise ValueError(f"{name}: expected at least one detector number")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: detector numbers repeat in {value!r}")
    return tuple(out)


def format_detectors(numbers) -> str:
    """``[1, 2, 3, 5]`` → ``"1-3 5"``.

    Parameters
    ----------
    numbers : sequence of int
        Detector numbers.

    Returns
    -------
    str
    """
    nums = [int(n) for n in numbers]
    parts, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return " ".join(parts)


def _floats(value: Any, name: str, n: tuple[int, ...] | None = None, positive: bool = False) -> tuple[float, ...]:
    """Finite numbers from a list, a number or a string of numbers; ``n`` lists the allowed counts."""
    items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
    try:
        out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {value!r}") from None
    if not out or not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name}: expected finite numbers, got {value!r}")
    if n and len(out) not in n:
        raise ValueError(f"{name}: expected {' or '.join(map(str, n))} numbers, got {len(out)} ({value!r})")
    if positive and min(out) <= 0:
        raise ValueError(f"{name}: expected values > 0, got {value!r}")
    return out


def _number(lo: float | None = None, integer: bool = False, strict: bool = False):
    """Reader of one finite number ≥ ``lo`` (> ``lo`` if ``strict``)."""
    def parse(value, name):
        (v,) = _floats([value] if not isinstance(value, (list, tuple)) else value, name, (1,))
        if integer and v != int(v):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
        if lo is not None and (v < lo or (strict and v == lo)):
            raise ValueError(f"{name}: expected a value {'>' if strict else '>='} {lo:g}, got {value!r}")
        return int(v) if integer else v
    return parse


def _bins(value, name):
    vals = _floats(value, name, (2, 4))
    if any(v != int(v) or v < 0 for v in vals):
        raise ValueError(f"{name}: expected bin indices (whole numbers >= 0), got {value!r}")
    vals = tuple(int(v) for v in vals)
    for a, b in zip(vals[::2], vals[1::2]):
        if b <= a:
            raise ValueError(f"{name}: the end bin must come after the first, got {value!r}")
    return vals


def _t0(value, name):
    vals = _floats(value, name)
    if min(vals) < 0:
        raise ValueError(f"{name}: expected t0 >= 0, got {value!r}")
    return vals


def _period(value, name):
    text = str(value).strip().lower().replace(" ", "")
    if text == "sum" or re.fullmatch(r"\d+([+-]\d+)*", text) and (text.count("-") <= 1):
        if text != "sum" and min(int(p) for p in re.split(r"[+-]", text)) < 1:
            raise ValueError(f"{name}: periods are numbered from 1, got {value!r}")
        if "-" in text and "+" in text:
            raise ValueError(f"{name}: give a sum ('1+2') or a difference ('1-2'), not both: {value!r}")
        return text
    raise ValueError(f"{name}: expected a period number (from 1), 'sum', a sum '1+2' or a difference '1-2', "
                     f"got {value!r}")


def _choice_or_numbers(choices: tuple[str, ...], n: tuple[int, ...] | None, positive: bool = False):
    def parse(value, name):
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        try:
            return _floats(value, name, n, positive)
        except ValueError:
            raise ValueError(f"{name}: expected one of {', '.join(choices)} or numbers, got {value!r}") from None
    return parse


def _choice(choices: tuple[str, ...]):
    def parse(value, name):
        v = str(value).strip().lower()
        if v not in choices:
            raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return v
    return parse


#: command-line flags that are not derived from the option name
CLI_FLAGS = {"field_mT": "--field", "temperature_K": "--temperature"}


@dataclasses.dataclass(frozen=True)
class SetupOption:
    """One run set-up option: its name (Python keyword and TOML key), CLI flag, reader and help.

    Attributes
    ----------
    name : str
        Keyword / TOML key.
    parse : callable
        ``parse(value, name)`` → canonical value, or ValueError naming the option.
    help : str
        One line for the CLI help and the docs.
    nargs : str or None
        argparse ``nargs`` of the CLI flag.
    metavar : str
        argparse metavar.
    musrfit, mantid : str
        The same setting in a musrfit msr RUN block and in Mantid (for the docs).
    """

    name: str
    parse: Callable[[Any, str], Any]
    help: str
    nargs: str | None = None
    metavar: str = "VALUE"
    musrfit: str = ""
    mantid: str = ""

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--good-bins`` (``--field``, ``--temperature`` for the unit-named ones)."""
        return CLI_FLAGS.get(self.name, "--" + self.name.replace("_", "-"))


#: every run set-up option, declared once (order = CLI help order), with its musrfit msr and Mantid equivalents
SETUP_OPTIONS: tuple[SetupOption, ...] = (
    SetupOption("forward", parse_detectors, "forward group: detector numbers as the facility numbers them (from 1), "
                "e.g. '1-48' or '2'", "+", "DET", "`forward 1-16`", "group `fwd` of the pair (spectrum numbers)"),
    SetupOption("backward", parse_detectors, "backward group, as --forward", "+", "DET", "`backward 17-32`",
                "group `bwd` of the pair"),
    SetupOption("t0", _t0, "time zero in bins (0-based; the bin's centre is t = 0, as musrfit/PSI): one value, one "
                "per group (forward, backward) or one per detector (forward then backward)", "+", "BIN",
                "`t0 160.0 161.0`", "—"),
    SetupOption("t0_us", _t0, "time zero in μs from the start of the histogram, as --t0", "+", "US", "—",
                "`TimeZero` (μs)"),
    SetupOption("good_bins", _bins, "good bins FIRST END (first <= bin < end, musrfit's data line), or "
                "F_FIRST F_END B_FIRST B_END", "+", "BIN", "`data 170 9956 168 9110`",
                "`FirstGoodData`/`LastGoodData` (μs: use t_min/t_max)"),
    SetupOption("period", _period, "period: number (from 1), 'sum', a sum '1+2' or a difference '1-2' "
                "(a difference is for viewing only: it is not Poisson data)", None, "P", "— (one file per RUN)",
                "`SummedPeriodSet` / `SubtractedPeriodSet`"),
    SetupOption("dead_time", _choice_or_numbers(("auto", "file", "none"), None), "dead-time correction: auto "
                "(the file's when it has them; default), file (required), none, or values in μs per detector", "+",
                "TAU", "`deadtime-cor file` or `no`", "`ApplyDeadTimeCorr` / dead-time table"),
    SetupOption("background", _choice_or_numbers(("fit", "none"), (4,)), "fit: flat backgrounds fitted (default "
                "for histograms); none; or musrfit's pre-t0 range F_FIRST F_LAST B_FIRST B_LAST (bins, inclusive), "
                "subtracted for plots and asymmetries", "+", "B", "`background 15 146 13 148`", "—"),
    SetupOption("background_fix", lambda v, n: _floats(v, n, (2,)), "fixed background counts per raw bin, forward "
                "and backward (musrfit's backgr.fix), subtracted for plots and asymmetries", "+", "COUNTS",
                "`backgr.fix 0 0`", "—"),
    SetupOption("field_mT", _number(0.0), "longitudinal field in mT, replacing the file's (0 = ZF)", None, "MT",
                "fixed field of a KT-LF THEORY line (G)", "sample log `Field_Danfysik` etc."),
    SetupOption("alpha", _number(0.0, strict=True), "fixed detector balance α (see --alpha-convention)", None,
                "ALPHA", "`alpha N`, FITPARAMETER N fixed (step 0)", "`Alpha` of the pair / `AlphaCalc`"),
    SetupOption("alpha_convention", _choice(("bayesmusr", "mantid", "musrfit")), "bayesmusr/mantid: A = (F - αB)/"
                "(F + αB); musrfit: its α (= 1/α of bayesmusr), converted", None, "WHICH", "`musrfit`", "`mantid`"),
    SetupOption("bunch", _number(1, integer=True), "pack this many bins into one (musrfit's packing)", None, "N",
                "`packing 5`", "`Rebin` by a fixed factor"),
    SetupOption("t_min", _number(0.0), "first time used, μs after t0 (musrfit's fit range start)", None, "US",
                "`fit 0.25 10` (first value)", "`StartX` / `FirstGoodData`"),
    SetupOption("t_max", _number(0.0, strict=True), "last time used, μs after t0", None, "US",
                "`fit 0.25 10` (second value)", "`EndX` / `LastGoodData`"),
    SetupOption("temperature_K", _number(0.0, strict=True), "sample temperature in K (default: from the file)",
                None, "K", "— (from the file)", "sample log `Temp_Sample`"),
)


def options_table() -> str:
    """The run set-up options as a markdown table (docs/coming-from-musrfit.md is generated from it).

    Returns
    -------
    str
    """
    rows = ["| option (Python, TOML) | command line | meaning | musrfit msr | Mantid |", "|---|---|---|---|---|"]
    for o in SETUP_OPTIONS:
        rows.append(f"| `{o.name}` | `{o.flag}` | {o.help} | {o.musrfit} | {o.mantid} |")
    return "\n".join(rows)


_BY_NAME = {o.name: o for o in SETUP_OPTIONS}

#: options that only make sense for histograms (an asymmetry export has no detectors, bins or periods)
_HISTOGRAM_ONLY = ("forward", "backward", "t0", "t0_us", "good_bins", "period", "background_fix", "alpha")

#: run attribute holding the set-up a collection gave the run (JSON)
SETUP_ATTR = "run_setup"


def check_keys(keys, allowed, where: str) -> None:
    """Refuse unknown keys, suggesting the nearest valid name.

    Parameters
    ----------
    keys : iterable of str
        Keys given (TOML table, mapping).
    allowed : iterable of str
        Valid keys.
    where : str
        Where they were given (file and table), for the message.

    Returns
    -------
    None
    """
    allowed = sorted(allowed)
    for key in keys:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ValueError(f"{where}: unknown key {key!r}; {hint}valid keys: {', '.join(allowed)}")


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """How to read and reduce a run: grouping, t0, good bins, period, dead time, background, field, α, window.

    Every field is optional (``None`` = as the file says, or the default stated in
    :data:`SETUP_OPTIONS`).  Build with :meth:`from_mapping` (validates, suggests names for
    typos) and combine layers with :meth:`updated` (e.g. scan defaults, then one file's keys,
    then command-line options).
    """

    forward: tuple[int, ...] | None = None
    backward: tuple[int, ...] | None = None
    t0: tuple[float, ...] | None = None
    t0_us: tuple[float, ...] | None = None
    good_bins: tuple[int, ...] | None = None
    period: str | None = None
    dead_time: str | tuple[float, ...] | None = None
    background: str | tuple[float, ...] | None = None
    background_fix: tuple[float, ...] | None = None
    field_mT: float | None = None
    alpha: float | None = None
    alpha_convention: str | None = None
    bunch: int | None = None
    t_min: float | None = None
    t_max: float | None = None
    temperature_K: float | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None, where: str = "run set-up") -> "RunSetup":
        """Validated set-up from ``{option: value}`` (TOML table, keywords, CLI); ``None`` values are skipped.

        Parameters
        ----------
        values : mapping, optional
            Option names of :data:`SETUP_OPTIONS` and raw values.
        where : str
            Where the values came from, for error messages.

        Returns
        -------
        RunSetup
        """
        values = {k: v for k, v in (values or {}).items() if v is not None}
        check_keys(values, _BY_NAME, where)
        parsed = {k: _BY_NAME[k].parse(v, f"{where}: {k}") for k, v in values.items()}
        return cls(**parsed)._checked(where)

    def _checked(self, where: str) -> "RunSetup":
        if self.t0 is not None and self.t0_us is not None:
            raise ValueError(f"{where}: give t0 (bins) or t0_us, not both")
        if self.t_min is not None and self.t_max is not None and self.t_max <= self.t_min:
            raise ValueError(f"{where}: t_max ({self.t_max} μs) must be after t_min ({self.t_min} μs)")
        if self.alpha_convention is not None and self.alpha is None:
            raise ValueError(f"{where}: alpha_convention is given without alpha")
        return self

    def updated(self, other: "RunSetup | Mapping[str, Any] | None", where: str = "run set-up") -> "RunSetup":
        """This set-up with the options ``other`` sets replacing its own.

        Parameters
        ----------
        other : RunSetup or mapping, optional
            The overriding layer.
        where : str
            For error messages when ``other`` is a mapping.

        Returns
        -------
        RunSetup
        """
        if other is None:
            return self
        if not isinstance(other, RunSetup):
            other = RunSetup.from_mapping(other, where)
        new = {f.name: getattr(other, f.name) for f in dataclasses.fields(other) if getattr(other, f.name) is not None}
        if "t0" in new or "t0_us" in new:  # one way of giving t0 replaces the other
            new = {"t0": None, "t0_us": None, **new}
        return dataclasses.replace(self, **new)._checked(where)

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, JSON-ready (tuples as lists).

        Returns
        -------
        dict
        """
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    # ------------------------------------------------------------ derived values
    @property
    def alpha_bayesmusr(self) -> float | None:
        """α in bayesmusr's convention, A = (F − αB)/(F + αB) (musrfit's α is inverted), or None."""
        if self.alpha is None:
            return None
        return 1.0 / self.alpha if self.alpha_convention == "musrfit" else float(self.alpha)

    @property
    def dead_time_mode(self) -> bool | None:
        """``None`` (auto), ``True`` (required) or ``False`` (off), for :meth:`MuonRun.grouped`."""
        mode = self.dead_time
        if mode is None or mode == "auto":
            return None
        return mode != "none"

    @property
    def groups(self) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """(forward, backward) when both are given, else None (the file's or the instrument's default)."""
        if (self.forward is None) != (self.backward is None):
            raise ValueError("run set-up: give both forward and backward groups, or neither")
        return None if self.forward is None else (self.forward, self.backward)

    @property
    def fit_background(self) -> bool:
        """Whether a histogram fit has flat backgrounds (all modes but ``"none"``)."""
        return self.background != "none"

    @classmethod
    def of(cls, run: MuonRun) -> "RunSetup":
        """The set-up a run carries (:meth:`attach`), or the empty one.

        Parameters
        ----------
        run : MuonRun
            A run, possibly set up by a collection (per-file TOML keys).

        Returns
        -------
        RunSetup
        """
        text = run.attrs.get(SETUP_ATTR) or "{}"
        return cls.from_mapping(json.loads(text), f"{run.source}: stored run set-up")

    def attach(self, run: MuonRun) -> MuonRun:
        """The run with this set-up applied (:meth:`apply`) and stored with it, so that a later
        reduction (:meth:`bayesmusr.model.rundata.RunData.from_run`) starts from it.

        Parameters
        ----------
        run : MuonRun
            As read.

        Returns
        -------
        MuonRun
            A copy.
        """
        new = self.apply(run)
        new = new if new is not run else MuonRun(run.ds.copy())
        new.ds.attrs[SETUP_ATTR] = json.dumps(self.to_dict())
        return new

    def apply(self, run: MuonRun) -> MuonRun:
        """The run with this set-up's file-level overrides (grouping, t0, good bins, dead times, field, T).

        Parameters
        ----------
        run : MuonRun
            As read from its file.

        Returns
        -------
        MuonRun
            A copy with the overrides recorded as ``"user"``; ``run`` itself if nothing applies.
        """
        over: dict[str, Any] = {"field_mT": self.field_mT, "temperature_K": self.temperature_K}
        if self.field_mT is not None and run.geometry not in ("LF", "ZF"):
            over["geometry"] = "ZF" if self.field_mT == 0 else "LF"
            if run.geometry == "TF":  # headers do say TF on ZF runs (EMU), but a real TF run must not pass unseen
                warnings.warn(f"{run.source}: the file says TF; fitted as {over['geometry']} because field_mT = "
                              f"{self.field_mT:g} was given", UserWarning, stacklevel=3)
        if run.kind == "histograms":
            over.update(self._detector_overrides(run))
        elif hist_only := [k for k in _HISTOGRAM_ONLY if getattr(self, k) is not None]:
            raise ValueError(f"{run.source}: {', '.join(hist_only)} apply to histogram runs only (this file is an "
                             "asymmetry export)")
        if all(v is None for v in over.values()):
            return run
        return run.with_overrides(**over)

    def _detector_overrides(self, run: MuonRun) -> dict[str, Any]:
        """Per-detector t0, good bins and dead times, as :meth:`MuonRun.with_overrides` takes them."""
        det = run.ds["detector"].values
        fwd, bwd = self.groups or run.default_groups()
        fwd, bwd = np.asarray(fwd), np.asarray(bwd)
        out: dict[str, Any] = {"groups": self.groups}
        bw = run.bin_width_us
        if self.t0 is not None or self.t0_us is not None:
            vals = self.t0 if self.t0 is not None else self.t0_us
            per = _per_used(vals, fwd, bwd, "t0" if self.t0 is not None else "t0_us")
            t0 = run.ds["t0"].values.copy()
            for d, v in per.items():
                t0[det == d] = (v + 0.5) * bw if self.t0 is not None else v  # bins: the bin's centre is t = 0
            out["t0_us"] = t0
        if self.good_bins is not None:
            t0 = out.get("t0_us", run.ds["t0"].values)
            t0_bins = [float(t0[det == g[0]][0]) / bw - 0.5 for g in (fwd, bwd)]
            gb = _musrfit_range(self.good_bins, t0_bins) if len(self.good_bins) == 4 else self.good_bins * 2
            first, last = run.ds["first_good_bin"].values.copy(), run.ds["last_good_bin"].values.copy()
            for group, (a, b) in ((fwd, gb[:2]), (bwd, gb[2:])):
                first[np.isin(det, group)], last[np.isin(det, group)] = a, min(b, run.n_bins)
            out["first_good_bin"], out["last_good_bin"] = first, last
        if isinstance(self.dead_time, tuple):
            if len(self.dead_time) not in (1, det.size):
                raise ValueError(f"{run.source}: dead_time: expected 1 or {det.size} values (one per detector), "
                                 f"got {len(self.dead_time)}")
            out["dead_time"] = np.broadcast_to(np.asarray(self.dead_time), det.shape)
        return out


def _per_used(values, fwd, bwd, name) -> dict[int, float]:
    """One value per used detector from one value, one per group or one per detector (forward, backward)."""
    used = [*fwd, *bwd]
    if len(values) == 1:
        return dict.fromkeys(used, values[0])
    if len(values) == len(used):
        return dict(zip(used, values))
    if len(values) == 2:
        return {**dict.fromkeys(fwd, values[0]), **dict.fromkeys(bwd, values[1])}
    raise ValueError(f"{name}: expected 1 value, 2 (forward, backward) or {len(used)} (one per detector of "
                     f"forward then backward), got {len(values)}")


def _musrfit_range(bins, t0_bins) -> tuple[int, ...]:
    """musrfit's rule for per-group data ranges (PRunAsymmetry::GetProperDataRange): the group whose
    first good bin lies later after its t0 sets the range of both, shifted to the other's t0."""
    fs, fe, bs, be = bins
    tf, tb = t0_bins
    if abs(fs - tf) > abs(bs - tb):
        bs, be = int(tb + fs - tf), int(tb + fe - tf)
    elif abs(fs - tf) < abs(bs - tb):
        fs, fe = int(tf + bs - tb), int(tf + be - tb)
    return fs, fe, bs, be
