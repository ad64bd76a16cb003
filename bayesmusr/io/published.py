"""Published KT results in: a temperature table of (Δ_KT, ν_KT) as a paper printed or plotted them.

Format
------
A CSV file (comma-separated; ``#`` starts a comment line; blank lines ignored) with a header row
naming the columns, in any order:

=================  ========  ==================================================================
column             unit      meaning
=================  ========  ==================================================================
``temperature_K``  K         sample temperature (required)
``delta_kt``       μs⁻¹      the KT fit's static width Δ_KT (required)
``delta_kt_err``   μs⁻¹      its 1σ error (optional column; a blank cell: not published)
``nu_kt``          μs⁻¹      the KT fit's fluctuation rate ν_KT (optional column; a blank cell:
                             not published at that temperature, e.g. fixed static)
``nu_kt_err``      μs⁻¹      its 1σ error (optional)
=================  ========  ==================================================================

μs⁻¹ and MHz are the same number.  Rows are sorted by temperature.  An error column must be
complete where its value is given: a table either publishes an error for every value or for none
(then a stated relative error or a fitted noise scale stands in, see
:mod:`bayesmusr.model.reanalysis`).  Anything else — a missing column, a value that is not a
number, a negative width, a duplicate temperature — is refused with the file, line, column and
value named (:class:`~bayesmusr.io.errors.RunFormatError`).
"""
from __future__ import annotations

import csv
import math
import pathlib
from dataclasses import dataclass

import numpy as np

from bayesmusr.io.errors import RunFormatError

__all__ = ["PublishedTable", "COLUMNS", "read_published_table"]

#: column → (required, description); the one declaration of the format above
COLUMNS = {
    "temperature_K": (True, "temperature in K"),
    "delta_kt": (True, "Δ_KT in μs⁻¹"),
    "delta_kt_err": (False, "1σ error of Δ_KT in μs⁻¹"),
    "nu_kt": (False, "ν_KT in μs⁻¹"),
    "nu_kt_err": (False, "1σ error of ν_KT in μs⁻¹"),
}
MIN_ROWS = 3  # an Arrhenius law has two parameters: fewer temperatures cannot test anything


@dataclass(frozen=True)
class PublishedTable:
    """One published scan: arrays over temperature (ascending); NaN where a cell was blank.

    Attributes
    ----------
    temperature : ndarray
        K.
    delta_kt, delta_kt_err, nu_kt, nu_kt_err : ndarray
        μs⁻¹; the error arrays are all NaN when the table has no such column.
    source : str
        The file it was read from ("" when built in memory).
    """

    temperature: np.ndarray
    delta_kt: np.ndarray
    delta_kt_err: np.ndarray
    nu_kt: np.ndarray
    nu_kt_err: np.ndarray
    source: str = ""

    def __post_init__(self):
        check_table(self)

    @property
    def n(self) -> int:
        """Number of temperatures."""
        return int(self.temperature.size)

    @property
    def has_delta_errors(self) -> bool:
        """True if the table publishes Δ_KT errors."""
        return bool(np.all(np.isfinite(self.delta_kt_err)))

    @property
    def has_nu_errors(self) -> bool:
        """True if the table publishes ν_KT errors (where it publishes ν_KT)."""
        have = np.isfinite(self.nu_kt)
        return bool(np.any(have) and np.all(np.isfinite(self.nu_kt_err[have])))

    def as_dict(self) -> dict:
        """Column name → list of values (None for blanks), for a result's specification.

        Returns
        -------
        dict
        """
        out = {k: [None if not math.isfinite(v) else float(v) for v in getattr(self, _attr(k))] for k in COLUMNS}
        return {**out, "source": self.source}

    @classmethod
    def from_columns(cls, source: str = "", **columns) -> "PublishedTable":
        """A table from column arrays named as in :data:`COLUMNS` (missing optional columns: NaN).

        Parameters
        ----------
        source : str
            Where the numbers come from (a file, a paper).
        **columns : array_like
            ``temperature_K``, ``delta_kt`` and any optional column.

        Returns
        -------
        PublishedTable
        """
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown column(s) {sorted(unknown)}; expected some of {list(COLUMNS)}")
        n = len(np.atleast_1d(columns.get("temperature_K", [])))
        arrays = {k: np.asarray(columns[k], dtype=float) if k in columns else np.full(n, np.nan) for k in COLUMNS}
        order = np.argsort(arrays["temperature_K"], kind="stable")
        return cls(**{_attr(k): v[order] for k, v in arrays.items()}, source=source)


def _attr(column: str) -> str:
    return "temperature" if column == "temperature_K" else column


def check_table(t: PublishedTable) -> None:
    """Raise ValueError naming the column and temperature of the first bad value of ``t``.

    Parameters
    ----------
    t : PublishedTable
    """
    where = f"{t.source}: " if t.source else ""
    shapes = {k: getattr(t, _attr(k)).shape for k in COLUMNS}
    if len(set(shapes.values())) != 1 or len(shapes["temperature_K"]) != 1:
        raise ValueError(f"{where}every column must be one-dimensional with the same length, got {shapes}")
    if t.n < MIN_ROWS:
        raise ValueError(f"{where}a published scan needs at least {MIN_ROWS} temperatures, got {t.n}")
    rules = {"temperature_K": (False, "a temperature > 0 K"), "delta_kt": (False, "a width Δ_KT > 0 μs⁻¹"),
             "delta_kt_err": (True, "an error > 0 μs⁻¹ or blank"), "nu_kt": (True, "a rate ν_KT > 0 μs⁻¹ or blank"),
             "nu_kt_err": (True, "an error > 0 μs⁻¹ or blank")}
    for col, (blank_ok, expected) in rules.items():
        for temp, v in zip(t.temperature, getattr(t, _attr(col))):
            if (math.isnan(v) and not blank_ok) or (not math.isnan(v) and not (math.isfinite(v) and v > 0)):
                raise ValueError(f"{where}column {col} at T = {temp:g} K: got {v!r}, expected {expected}")
    if np.any(np.diff(t.temperature) == 0):
        dup = t.temperature[1:][np.diff(t.temperature) == 0][0]
        raise ValueError(f"{where}column temperature_K: {dup:g} K appears twice; one row per temperature expected")
    for col, base in (("delta_kt_err", t.delta_kt), ("nu_kt_err", t.nu_kt)):
        err = getattr(t, col)
        given = np.isfinite(err[np.isfinite(base)])
        if given.any() and not given.all():
            raise ValueError(f"{where}column {col}: an error is given for some values and blank for others; give "
                             "one for every value, or leave the column out (then a relative error or a fitted "
                             "noise scale is used)")
    if not np.any(np.isfinite(t.nu_kt)):
        raise ValueError(f"{where}column nu_kt: no temperature has a published ν_KT; the reanalysis needs the rates")


def read_published_table(path) -> PublishedTable:
    """Read a published (Δ_KT, ν_KT) table from a CSV file (format: module docstring).

    Parameters
    ----------
    path : str or path
        The CSV file.

    Returns
    -------
    PublishedTable
    """
    p = pathlib.Path(path)
    if not p.is_file():
        raise RunFormatError(p, "file", "a CSV table of published KT results expected; no such file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise RunFormatError(p, "file", f"a UTF-8 text CSV expected ({exc})") from None
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise RunFormatError(p, "header", "a header row naming the columns expected; the file has no rows")
    header_line, header = lines[0]
    names = [h.strip() for h in next(csv.reader([header]))]
    _check_header(p, header_line, names)
    columns = {n: [] for n in names}
    for lineno, line in lines[1:]:
        cells = next(csv.reader([line]))
        if len(cells) != len(names):
            raise RunFormatError(p, f"line {lineno}", f"{len(names)} comma-separated cells expected (as in the "
                                 f"header), got {len(cells)}")
        for name, cell in zip(names, cells):
            columns[name].append(_number(p, lineno, name, cell))
    try:
        return PublishedTable.from_columns(str(p), **columns)
    except ValueError as exc:
        raise RunFormatError(p, "table", str(exc).removeprefix(f"{p}: ")) from None


def _check_header(p: pathlib.Path, lineno: int, names: list[str]) -> None:
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise RunFormatError(p, f"header (line {lineno})", f"unknown column(s) {unknown}; the columns are "
                             f"{list(COLUMNS)}")
    missing = [n for n, (req, _) in COLUMNS.items() if req and n not in names]
    if missing:
        raise RunFormatError(p, f"header (line {lineno})", f"required column(s) {missing} missing; got {names}")
    if len(set(names)) != len(names):
        raise RunFormatError(p, f"header (line {lineno})", f"a column is named twice: {names}")


def _number(p: pathlib.Path, lineno: int, name: str, cell: str) -> float:
    cell = cell.strip()
    if not cell:
        return math.nan
    try:
        return float(cell)
    except ValueError:
        raise RunFormatError(p, f"line {lineno}, column {name}", f"a number expected ({COLUMNS[name][1]}), "
                             f"got {cell!r}") from None
