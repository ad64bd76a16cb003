"""ASCII asymmetry reader: time (μs), asymmetry, error columns.

Accepted layouts (as Mantid, musrfit/musrview and WiMDA export grouped data):

* comment/header lines starting with ``#``, ``%`` or ``!``, or any line before
  the first numeric row (e.g. Mantid's ``# X 	 Y 	 E``);
* columns separated by whitespace, commas or semicolons;
* exactly three numeric columns — time in μs, asymmetry, error — unless
  ``columns=(i_time, i_asym, i_err)`` selects them from a wider table.

Temperature and field are taken from the header when it says so
(``T = 280 K``, ``Temperature: 1.5``, ``B = 100 G``, ``Field = 5 mT``, ``B = 0.5 T``),
the units read by :func:`bayesmusr.io.readers._meta.convert_unit`: a temperature
without a unit is read as K and a field without one as G, as μSR headers write
them (the source says so); a word after the number that is no known unit
(``B = 50 furlong``) leaves the value NaN with the reason in its source. Otherwise
the values come from the
``temperature_K`` / ``field_mT`` arguments; geometry from the header text read
like a title (``ZF``, ``LF 5G``, ``transverse``...: :func:`bayesmusr.io.readers._meta.geometry_from_text`,
which also gives the field when no ``B =`` states it) or the ``geometry`` argument.
"""
from __future__ import annotations

import math
import pathlib
import re
from collections.abc import Sequence

import numpy as np

from bayesmusr.io.errors import RunFormatError
from bayesmusr.io.readers._meta import convert_unit, geometry_from_text, quantity_source
from bayesmusr.io.run import MuonRun, make_asymmetry_dataset

__all__ = ["read_ascii"]

_SPLIT = re.compile(r"[\s,;]+")
#: a number, then the word right after it (letters, ° or µ) as its unit, which convert_unit checks
_VALUE_UNIT = r"\s*[:=]\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*(°\s?C\b|[^\W\d_]+\b(?!\s*[:=]))?"
_T_RE = re.compile(r"\b(?:T|temp|temperature)" + _VALUE_UNIT, re.IGNORECASE)
_B_RE = re.compile(r"\b(?:B|H|field|magnetic[_ ]field)" + _VALUE_UNIT, re.IGNORECASE)
_RUN_RE = re.compile(r"\brun\s*(?:number)?\s*[:=#]?\s*(\d+)", re.IGNORECASE)


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def read_ascii(
    path: str | pathlib.Path,
    temperature_K: float | None = None,
    field_mT: float | None = None,
    geometry: str | None = None,
    columns: Sequence[int] | None = None,
    delimiter: str | None = None,
):
    """Read a text asymmetry file.

    Parameters
    ----------
    path : path
        The text file.
    temperature_K, field_mT : float, optional
        Used when the header does not state them (and recorded as ``"user"``);
        given values win over the header.
    geometry : {"ZF", "LF", "TF"}, optional
        Field geometry, when the header does not say.
    columns : (int, int, int), optional
        0-based indices of the time, asymmetry and error columns for files with
        more than three columns.
    delimiter : str, optional
        Column separator; default any run of whitespace, commas or semicolons.

    Returns
    -------
    bayesmusr.io.run.MuonRun
        An asymmetry-only run.

    Raises
    ------
    RunFormatError
        No numeric rows, a row with a different number of columns, a wrong number
        of columns, non-finite values or non-positive errors.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = path.read_text(encoding="latin-1")
    header, table = _parse_lines(text, path, delimiter)
    t, a, e = (table[:, i] for i in _columns(table.shape[1], columns, path))
    head = "\n".join(header)
    attrs = {"format": "ASCII asymmetry", "run_number": _run_number(head, path), "title": header[0] if header else "",
             "comment": head[:500], "source_file": str(path), "t0_source": "time column (μs after t0)",
             **_header_metadata(head, temperature_K, field_mT, geometry)}
    return MuonRun(make_asymmetry_dataset(t, a, e, attrs)).validate()


def _parse_lines(text: str, path: pathlib.Path, delimiter: str | None) -> tuple[list[str], np.ndarray]:
    """Header lines (comments, and text before the first numeric row) and the numeric rows as a table."""
    header: list[str] = []
    rows: list[list[float]] = []
    width, first_row_line = None, 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s:
            continue
        if s[0] in "#%!":
            if not rows:
                header.append(s.lstrip("#%! "))
            continue
        toks = [t for t in (s.split(delimiter) if delimiter else _SPLIT.split(s)) if t]
        if not rows and not all(_is_number(t) for t in toks):
            header.append(s)
            continue
        if not all(_is_number(t) for t in toks):
            raise RunFormatError(path, f"line {lineno}", f"expected numbers only, found {s[:60]!r}")
        if width is None:
            width, first_row_line = len(toks), lineno
        elif len(toks) != width:
            raise RunFormatError(
                path, f"line {lineno}", f"expected {width} columns like line {first_row_line}, found {len(toks)}"
            )
        rows.append([float(t) for t in toks])
    if not rows:
        raise RunFormatError(path, "data", "expected rows of (time μs, asymmetry, error), found none")
    return header, np.asarray(rows)


def _columns(width: int, columns: Sequence[int] | None, path: pathlib.Path) -> tuple[int, ...]:
    """The (time, asymmetry, error) column indices: (0, 1, 2) for a three-column table, else ``columns``."""
    if columns is None:
        if width != 3:
            raise RunFormatError(
                path, "columns",
                f"expected 3 columns (time μs, asymmetry, error), found {width}; pass columns=(i_time, i_asym, i_err)",
            )
        columns = (0, 1, 2)
    if len(columns) != 3 or max(columns) >= width or min(columns) < 0:
        raise RunFormatError(path, "columns", f"expected three column indices below {width}, got {tuple(columns)}")
    return tuple(columns)


def _header_metadata(head: str, temperature_K, field_mT, geometry) -> dict:
    """Temperature (K), field (mT) and geometry read from the header, each with its source; given values win."""
    out = {"temperature_K": math.nan, "temperature_source": "", "field_mT": math.nan, "field_source": "",
           "geometry": "", "geometry_source": ""}
    for key, regex, kind, unit in (("temperature", _T_RE, "temperature", "K"), ("field", _B_RE, "field", "G")):
        if m := regex.search(head):
            value, note = convert_unit(float(m.group(1)), m.group(2), kind, default_unit=unit)
            out[f"{key}_K" if kind == "temperature" else "field_mT"] = value
            out[f"{key}_source"] = quantity_source("header", value, f"{m.group(0).strip()!r}: {note}" if note else "")
    stated, field, evidence = geometry_from_text(head)
    if stated:
        out.update(geometry=stated, geometry_source=f"header: {evidence!r}")
        if not math.isfinite(out["field_mT"]) and math.isfinite(field):
            why = f" ({out['field_source']})" if out["field_source"] else ""  # a refused "B = ..." stays said
            out.update(field_mT=field, field_source=f"header: {evidence!r}{why}")
    for key, value in (("temperature_K", temperature_K), ("field_mT", field_mT), ("geometry", geometry)):
        if value is not None:
            out[key] = str(value).upper() if key == "geometry" else float(value)
            out[key.split("_")[0] + "_source"] = "user"
    return out


def _run_number(head: str, path: pathlib.Path) -> int:
    """The run number stated in the header, else the first group of ≥ 3 digits in the file name, else −1."""
    m = _RUN_RE.search(head) or re.search(r"(\d{3,})", path.stem)
    return int(m.group(1)) if m else -1
