"""Metadata shared by every reader: field geometry (ZF/LF/TF) and field read from a run's title.

The readers take geometry and field from the file's header or logs first (each in
its own way). When the header says nothing, :func:`complete_geometry` reads the
title, then the comment, with :func:`geometry_from_text`, and records where the
value came from (``geometry_source = "title: 'LF5G'"``, ``field_source =
"title: 'LF5G'"``). When nothing says, the geometry stays ``""`` (shown as ``?``).

Rules of :func:`geometry_from_text`:

* the abbreviations ``ZF``, ``LF``, ``TF`` (also ``wTF``, weak TF) count only when
  no letter touches them, so ``ZnF2``, ``TFA sample``, ``LaFeAsO`` and ``ZFC``
  (zero-field *cooled*) do not match, while ``LF5G``, ``Cu_ZF_10K`` and
  ``TF=100G`` do; the words ``zero field``, ``longitudinal`` and ``transverse``
  count as ZF, LF and TF (``zero-field cooled`` does not);
* a field is read only with a unit (G, kG, mT, T, Oe, gauss, tesla) right after the
  keyword (``LF5G``, ``LF 50 G``, ``TF=10 mT``, ``longitudinal field 2 mT``) or right
  before it (``100G TF``); ``LF5G`` is 5 G = 0.5 mT. ``ZF`` without a number means
  0 mT; a number without a unit is not read;
* a text naming two different geometries (``ZF and TF``) gives no geometry.

Units of header values (:func:`read_quantity`, :func:`convert_unit`), one table for
every reader. A value is a number, optionally an uncertainty (``10.000(0.005)K``,
``350.002 +- 0.005 G``), then a unit, with or without a space; unit spellings are
matched without regard to case or inner spaces, except that an upper-case ``M``
prefix (``MT``, ``MK``: mega or milli?) is refused:

* field → mT: ``G``/``Gauss`` (0.1), ``kG``/``kGauss`` (100), ``mT`` (1), ``T``/``Tesla``
  (1000), ``µT``/``uT`` (0.001), ``Oe`` (0.1) and ``kOe`` (100). Oersted measures H, not
  B; μSR headers use it for the applied field in vacuum, where 1 Oe ≙ 1 G, so Oe is
  read as G;
* temperature → K: ``K``/``Kelvin``, ``mK`` (0.001), ``C``/``°C``/``degC``/``Celsius``
  (+ 273.15); values below 0 K are refused;
* time → μs: ``ps``, ``ns``, ``us``/``µs``/``microsecond(s)``, ``ms``, ``s`` (and the long names).

A number without a unit takes the reader's ``default_unit`` (each reader documents its
own: PSI and MUD field strings G, temperatures K; NeXus ``sample/magnetic_field`` G
and ``sample/temperature`` K without a ``units`` attribute); with no default it is
refused. A refused value is NaN, never a guess, and its source says why, e.g.
``"header:field string '5 furlong' not read: unknown unit 'furlong' (expected G, kG,
mT, T, µT, Oe, kOe)"``.
"""
from __future__ import annotations

import math
import re
from collections.abc import MutableMapping
from typing import Any

__all__ = ["complete_geometry", "convert_unit", "geometry_from_text", "quantity_source", "read_quantity"]

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(mT|kG|gauss|tesla|kOe|Oe|G|T)(?![A-Za-z])(?!\s*=)"  # "5 T=10K" is a temperature

#: Unit spelling (case-folded, spaces removed) -> factor to mT. Oe is read as G (module docstring).
_FIELD_UNITS = {
    "g": 0.1, "gauss": 0.1, "kg": 100.0, "kgauss": 100.0, "kilogauss": 100.0,
    "mt": 1.0, "millitesla": 1.0, "t": 1000.0, "tesla": 1000.0,
    "μt": 1e-3, "ut": 1e-3, "microtesla": 1e-3,  # casefold() turns the micro sign µ into μ
    "oe": 0.1, "oersted": 0.1, "koe": 100.0,
}
#: Unit spelling -> (factor, offset) to K.
_TEMPERATURE_UNITS = {
    "k": (1.0, 0.0), "kelvin": (1.0, 0.0), "mk": (1e-3, 0.0), "millikelvin": (1e-3, 0.0),
    "c": (1.0, 273.15), "°c": (1.0, 273.15), "ºc": (1.0, 273.15), "degc": (1.0, 273.15), "celsius": (1.0, 273.15),
}
#: Unit spelling -> factor to μs.
_TIME_UNITS = {
    "ps": 1e-6, "picosec": 1e-6, "picosecond": 1e-6, "picoseconds": 1e-6,
    "ns": 1e-3, "nanosec": 1e-3, "nanosecond": 1e-3, "nanoseconds": 1e-3,
    "us": 1.0, "μs": 1.0, "microsec": 1.0, "microsecond": 1.0, "microseconds": 1.0,
    "ms": 1e3, "millisecond": 1e3, "milliseconds": 1e3, "s": 1e6, "second": 1e6, "seconds": 1e6,
}
_KINDS = {
    "field": ({k: (v, 0.0) for k, v in _FIELD_UNITS.items()}, "G, kG, mT, T, µT, Oe, kOe"),
    "temperature": (_TEMPERATURE_UNITS, "K, mK, °C"),
    "time": ({k: (v, 0.0) for k, v in _TIME_UNITS.items()}, "ps, ns, μs, ms, s"),
}
_FLOAT = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
#: number, optional uncertainty "(0.005)" or "+- 0.005", then the unit (anything but digits and separators)
_QUANTITY_TEXT = re.compile(
    rf"^\s*(?P<num>{_FLOAT})\s*(?:\(\s*{_FLOAT}\s*\)|(?:\+-|±|\+/-)\s*{_FLOAT})?\s*(?P<unit>[^\d;,()=]*?)\s*$"
)
_KEYWORD = re.compile(
    r"(?<![A-Za-z])(?P<abbr>ZF|LF|w?TF)(?![A-Za-z])"
    r"|\b(?P<zero>zero[\s_-]*field)\b(?![\s_-]*cool)"
    r"|\b(?P<long>longitudinal)\b"
    r"|\b(?P<trans>transverse)\b",
    re.IGNORECASE,
)
_FIELD_AFTER = re.compile(r"(?:[\s_]*field)?[\s_:=-]*" + _NUMBER + r"\s*" + _UNIT, re.IGNORECASE)
_FIELD_BEFORE = re.compile(r"(?<![\d.])" + _NUMBER + r"\s*" + _UNIT + r"[\s_-]*$", re.IGNORECASE)


def convert_unit(value: float, unit: str | None, kind: str, default_unit: str | None = None) -> tuple[float, str]:
    """Convert a number with its unit to mT (field), K (temperature) or μs (time).

    Parameters
    ----------
    value : float
        The number as the file states it.
    unit : str or None
        Its unit as written (``"Gauss"``, ``"kG"``, ``"°C"``...; module docstring for the
        table); empty or None when the file gives none.
    kind : {"field", "temperature", "time"}
        What the number measures.
    default_unit : str, optional
        The unit the format implies for a bare number (e.g. ``"G"`` for PSI field
        strings); None: a bare number is refused.

    Returns
    -------
    value : float
        In mT, K or μs; NaN when refused.
    note : str
        ``""`` when read with a stated unit; the assumption made (``"no unit: read as
        G"``) when the default unit was used; why it was refused when ``value`` is NaN.
    """
    table, expected = _KINDS[kind]
    note = ""
    if not (unit or "").strip():
        if default_unit is None:
            return math.nan, f"no unit (expected {expected})"
        unit, note = default_unit, f"no unit: read as {default_unit}"
    key = "".join(str(unit).split()).casefold()
    if len(key) == 2 and str(unit).strip()[:1] == "M" and key in table:  # "MT", "MK": mega or a shouted milli?
        return math.nan, f"ambiguous unit {unit!r}: write the milli prefix as 'm'"
    if key not in table:
        return math.nan, f"unknown unit {unit!r} (expected {expected})"
    factor, offset = table[key]
    out = float(value) * factor + offset
    if not math.isfinite(out):
        return math.nan, f"expected a finite number, found {value!r}"
    if kind == "temperature" and out < 0:
        return math.nan, f"below absolute zero ({value:g} {unit})"
    return out, note


def read_quantity(text: str | bytes | None, kind: str, default_unit: str | None = None) -> tuple[float, str]:
    """Read a header string such as ``"0.5 T"``, ``"5kG"``, ``"10.000(0.005)K"`` or ``"12 °C"``.

    Parameters
    ----------
    text : str, bytes or None
        The header value (padding spaces and NULs are ignored).
    kind : {"field", "temperature", "time"}
        What it measures (module docstring for the units).
    default_unit : str, optional
        Unit of a bare number, as the format implies; None refuses bare numbers.

    Returns
    -------
    value : float
        In mT, K or μs; NaN when the text is empty or was refused.
    note : str
        As :func:`convert_unit`; also ``"expected a number then a unit, found ..."``
        for text of another form (``"LF 50G"``, ``"1,5 T"``). Empty text gives ``""``.
    """
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    text = (text or "").replace("\x00", " ").strip()
    if not text:
        return math.nan, ""
    m = _QUANTITY_TEXT.match(text)
    if not m:
        return math.nan, f"expected a number then a unit, found {text!r}"
    return convert_unit(float(m.group("num")), m.group("unit"), kind, default_unit)


def quantity_source(where: str, value: float, note: str) -> str:
    """The ``*_source`` attribute of a value read with :func:`read_quantity` or :func:`convert_unit`.

    Parameters
    ----------
    where : str
        Where the value was read, e.g. ``"header:field string '0.5 T'"``.
    value : float
        The value read (NaN when refused or not stated).
    note : str
        The note returned with it.

    Returns
    -------
    str
        ``where`` (plus the note in parentheses) when read; ``"<where> not read: <note>"``
        when refused; ``""`` when nothing was stated.
    """
    if math.isfinite(value):
        return where + (f" ({note})" if note else "")
    return f"{where} not read: {note}" if note else ""


def _geometry_of(match: re.Match) -> str:
    if match.group("abbr"):
        return match.group("abbr").upper()[-2:]  # "wTF" is TF
    return "ZF" if match.group("zero") else "LF" if match.group("long") else "TF"


def _field_near(text: str, match: re.Match) -> tuple[float, str]:
    """Field (mT) written with a unit right after or right before the keyword; NaN if none."""
    after = _FIELD_AFTER.match(text, match.end())
    if after:
        value, unit, span = after.group(1), after.group(2), text[match.start():after.end()]
    else:
        before = _FIELD_BEFORE.search(text[max(0, match.start() - 24):match.start()])
        if not before:
            return math.nan, text[match.start():match.end()]
        value, unit = before.group(1), before.group(2)
        span = text[match.start() - len(before.group(0)):match.end()]
    return convert_unit(float(value), unit, "field")[0], span.strip()


def geometry_from_text(text: str) -> tuple[str, float, str]:
    """Field geometry and field stated in a free text such as a run title.

    Parameters
    ----------
    text : str
        A title, comment or header line (module docstring for the rules).

    Returns
    -------
    geometry : str
        ``"ZF"``, ``"LF"``, ``"TF"``, or ``""`` when the text names none or names
        two different ones.
    field_mT : float
        The field written next to the keyword, in mT (0 for a bare ``ZF``); NaN
        when not stated.
    evidence : str
        The part of the text that was read (for the ``*_source`` attributes), or
        what made the text ambiguous.
    """
    found = [(_geometry_of(m), *_field_near(text or "", m)) for m in _KEYWORD.finditer(text or "")]
    if not found:
        return "", math.nan, ""
    kinds = sorted({g for g, _, _ in found})
    if len(kinds) > 1:
        return "", math.nan, "names " + " and ".join(kinds)
    geometry = kinds[0]
    with_field = [(b, s) for _, b, s in found if math.isfinite(b)]
    if with_field:
        return geometry, with_field[0][0], with_field[0][1]
    return geometry, (0.0 if geometry == "ZF" else math.nan), found[0][2]


def complete_geometry(attrs: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Fill geometry and field from the title (then the comment) where the header left them empty.

    Parameters
    ----------
    attrs : mutable mapping
        Reader metadata with ``geometry``, ``geometry_source``, ``field_mT``,
        ``field_source``, ``title`` and ``comment`` (missing keys count as empty).
        Changed in place.

    Returns
    -------
    mutable mapping
        ``attrs``. A header geometry is kept; if the title names another one,
        ``geometry_source`` says so.
    """
    field = attrs.get("field_mT", math.nan)
    field = math.nan if field is None else float(field)
    for key in ("title", "comment"):
        geometry, field_mT, evidence = geometry_from_text(str(attrs.get(key) or ""))
        if not geometry:
            continue
        if not attrs.get("geometry"):
            attrs["geometry"], attrs["geometry_source"] = geometry, f"{key}: {evidence!r}"
        elif attrs["geometry"] != geometry:
            attrs["geometry_source"] = f"{attrs.get('geometry_source') or 'header'} ({key} says {evidence!r})"
        if not math.isfinite(field) and math.isfinite(field_mT):
            field = field_mT
            why = attrs.get("field_source") or ""  # e.g. a header field refused for its unit: keep saying so
            attrs["field_mT"], attrs["field_source"] = field_mT, f"{key}: {evidence!r}" + (f" ({why})" if why else "")
        break
    if not attrs.get("geometry") and attrs.get("geometry_source", "") in ("", "unknown"):
        attrs["geometry_source"] = "not stated in the header or title (give geometry=...)"
    return attrs
