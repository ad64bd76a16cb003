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
"""
from __future__ import annotations

import math
import re
from collections.abc import MutableMapping
from typing import Any

__all__ = ["complete_geometry", "geometry_from_text"]

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(mT|kG|gauss|tesla|Oe|G|T)(?![A-Za-z])(?!\s*=)"  # "5 T=10K" is a temperature
#: Unit (lower case) -> mT.
_TO_MT = {"mt": 1.0, "kg": 100.0, "gauss": 0.1, "tesla": 1000.0, "oe": 0.1, "g": 0.1, "t": 1000.0}
_KEYWORD = re.compile(
    r"(?<![A-Za-z])(?P<abbr>ZF|LF|w?TF)(?![A-Za-z])"
    r"|\b(?P<zero>zero[\s_-]*field)\b(?![\s_-]*cool)"
    r"|\b(?P<long>longitudinal)\b"
    r"|\b(?P<trans>transverse)\b",
    re.IGNORECASE,
)
_FIELD_AFTER = re.compile(r"(?:[\s_]*field)?[\s_:=-]*" + _NUMBER + r"\s*" + _UNIT, re.IGNORECASE)
_FIELD_BEFORE = re.compile(r"(?<![\d.])" + _NUMBER + r"\s*" + _UNIT + r"[\s_-]*$", re.IGNORECASE)


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
    return float(value) * _TO_MT[unit.lower()], span.strip()


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
            attrs["field_mT"], attrs["field_source"] = field_mT, f"{key}: {evidence!r}"
        break
    if not attrs.get("geometry") and attrs.get("geometry_source", "") in ("", "unknown"):
        attrs["geometry_source"] = "not stated in the header or title (give geometry=...)"
    return attrs
