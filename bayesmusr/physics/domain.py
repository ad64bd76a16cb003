"""Where the public physics functions accept their arguments, and how much work one call may do: declared once.

Argument domains (`DOMAIN`)
---------------------------
============  ===========  ======================  ==========================================
argument      unit         allowed                 why the ends are there
============  ===========  ======================  ==========================================
t             μs           0 ≤ t ≤ 1e6             a relaxation function starts at t = 0; 1 s is
                                                   455 muon lifetimes (e^−455 ≈ 1e−198 of the
                                                   muons left), so nothing is measured beyond
delta         μs⁻¹         0 ≤ Δ ≤ 1e6             Δ = 0 is exact (G = 1); 1e6 μs⁻¹ is a field
                                                   spread of ~1.2e6 mT, 10⁶ × a nuclear width
nu, nu_i,     μs⁻¹         0 ≤ ν ≤ 1e12            1e18 s⁻¹, 10⁴ × the fastest attempt (phonon)
nu_mu                                              frequencies
b_lf          mT           0 ≤ B ≤ 1e9             longitudinal field along the initial spin; 1e9
                                                   mT is 10⁴ × the strongest laboratory field
q             1            0 ≤ Q ≤ 1               a fraction of Δ²
temperature   K            T > 0                   Arrhenius law
============  ===========  ======================  ==========================================

Every value must also be a real number (not a string, bool or complex) and finite.
The upper ends are not physics: they keep every intermediate product (Δ²t², (ν + iω)²t²,
ν/Δ once Δ·t > 1e−6) inside double precision, which is what makes the guarantees below
hold.  Inside these ranges every public function returns a finite G ∈ [0, 1] (up to its
stated accuracy), switches to a documented asymptotic form where the exact algorithm
cannot run, or refuses with a ValueError that names the limit.

Work limits
-----------
The Volterra (renewal) solvers cost about N·min(N, 42/(νh)) multiply-adds for N grid steps.
A call whose estimate exceeds `MAX_RENEWAL_OPS` (≈ 6 s at the measured 1.6e9 per second;
a call just inside took 10–12 s with the 2-core test machine 3× oversubscribed) or whose
grid exceeds `MAX_GRID_POINTS` is refused before any work is done; the message gives the
longest time the same parameters can reach.  Nothing iterates an
unbounded number of times.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DOMAIN",
    "MAX_GRID_POINTS",
    "MAX_RENEWAL_OPS",
    "Bound",
    "check_number",
    "check_ratio",
    "check_times",
    "check_values",
    "check_work",
    "reach",
    "within_limits",
]


@dataclass(frozen=True)
class Bound:
    """Allowed range of one argument: low ≤ value ≤ high (low < value if ``low_open``), in ``unit``."""

    low: float
    high: float
    unit: str
    low_open: bool = False
    why_high: str = ""
    expected: str = ""  # wording of the whole range in messages, when the per-side wording would mislead


_GUARD = "an overflow guard far beyond physics"
_RATE = Bound(0.0, 1e12, "μs⁻¹", why_high=f"1e18 s⁻¹, {_GUARD}")
#: the argument domains of the public physics functions (module docstring)
DOMAIN = {
    "t": Bound(0.0, 1e6, "μs", why_high="1 s = 455 muon lifetimes: no muon is left"),
    "delta": Bound(0.0, 1e6, "μs⁻¹", why_high=f"a field spread of ~1.2e6 mT, {_GUARD}"),
    "nu": _RATE,
    "nu_i": _RATE,
    "nu_mu": _RATE,
    "b_lf": Bound(0.0, 1e9, "mT", why_high=f"1e6 T, {_GUARD}"),
    "q": Bound(0.0, 1.0, "1", expected="in [0, 1] (the fraction Q of Δ² that ion jumps modulate)"),
    "temperature": Bound(0.0, math.inf, "K", low_open=True),
    "log10_nu0_per_s": Bound(-math.inf, math.inf, "log10(s⁻¹)"),
    "energy_eV": Bound(-math.inf, math.inf, "eV"),
}
#: most multiply-adds one call may spend in renewal sums (measured 1.6e9/s real, 0.8e9/s complex)
MAX_RENEWAL_OPS = 1e10
#: most nodes of one renewal grid (16 bytes each for complex kernels, a few such arrays alive at once)
MAX_GRID_POINTS = 1e7


def _show(value, limit: int = 80) -> str:
    """repr of a user value, shortened for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unit(b: Bound) -> str:
    return "" if b.unit == "1" else f" {b.unit}"


def _range_text(b: Bound) -> str:
    """The whole allowed range, for messages about the type or finiteness of a value."""
    if b.expected:
        return b.expected
    if math.isfinite(b.low) and math.isfinite(b.high):
        return f"in [{b.low:g}, {b.high:g}]{_unit(b)}"
    if math.isfinite(b.low):
        return f"{'>' if b.low_open else '>='} {b.low:g}{_unit(b)}"
    return "finite" + (f", in {b.unit}" if b.unit != "1" else "")


def _check_range(lo: float, hi: float, name: str, func: str, shown, bound: Bound):
    """Raise if [lo, hi] (the extreme values, finite) leaves the bound, saying which end was crossed.

    ``shown()`` gives the value as the message shows it: formatted only on error (this runs in
    every call of every public function).
    """
    if lo < bound.low or (bound.low_open and lo <= bound.low):
        text = bound.expected or f"{'>' if bound.low_open else '>='} {bound.low:g}{_unit(bound)}"
        raise ValueError(f"{func}: {name} must be {text}, got {shown()}")
    if hi > bound.high:
        why = f" ({bound.why_high})" if bound.why_high else ""
        text = bound.expected or f"<= {bound.high:g}{_unit(bound)}{why}"
        raise ValueError(f"{func}: {name} must be {text}, got {shown()}")


#: scalar types taken as they are (bool is not among them: type(True) is bool, not int)
_PLAIN_NUMBERS = (float, int, np.float64)


def check_number(value, name: str, func: str) -> float:
    """Validate one real scalar argument against `DOMAIN`; return it as a float.

    Parameters
    ----------
    value : object
        The argument as the user passed it.
    name : str
        Its name, a key of `DOMAIN` (``"delta"``, ``"nu"``, ``"b_lf"``, ``"q"``, …).
    func : str
        The public function being called (for the message).

    Returns
    -------
    float
        The value.

    Raises
    ------
    ValueError
        Naming the argument, its value and what was expected: not a real number (strings,
        bools, complex numbers and arrays are refused), not finite, or outside its range.
    """
    bound = DOMAIN[name]
    if type(value) not in _PLAIN_NUMBERS:  # fast path: plain numbers need no type inspection
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
            value = value.item()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{func}: {name} must be a real number ({_range_text(bound)}), "
                             f"got {_show(value)} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{func}: {name} must be finite and {_range_text(bound)}, got {_show(value)}")
    _check_range(v, v, name, func, lambda: _show(value), bound)
    return v


def _as_float_array(value, name: str, func: str, bound: Bound) -> np.ndarray:
    """A real float array from numbers or arrays of numbers (ValueError naming the argument otherwise)."""
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nested sequences
        arr = None
    kind = None if arr is None else arr.dtype.kind
    if kind == "O":
        try:
            if any(e is None or isinstance(e, (str, bytes, bool, np.bool_, complex)) for e in arr.ravel()):
                raise TypeError  # float(None) would pass as NaN, float("1.5") as a number
            return arr.astype(float)
        except (TypeError, ValueError):
            kind = None
    if kind not in ("i", "u", "f"):
        raise ValueError(f"{func}: {name} must be a number or an array of numbers ({_range_text(bound)}), "
                         f"got {_show(value)}" + ("" if arr is None else f" (dtype {arr.dtype})"))
    return arr.astype(float, copy=False)


def check_values(value, name: str, func: str) -> np.ndarray:
    """Validate a number or an array of numbers against `DOMAIN`; return it as a float ndarray.

    Parameters
    ----------
    value : array_like
        The argument as the user passed it.
    name : str
        Its name, a key of `DOMAIN`.
    func : str
        The public function being called (for the message).

    Returns
    -------
    numpy.ndarray
        The values as floats (0-d for a scalar).

    Raises
    ------
    ValueError
        Naming the argument: not numbers, not finite (NaN or inf found), or outside its range
        (the message gives the offending extreme value).
    """
    bound = DOMAIN[name]
    arr = _as_float_array(value, name, func, bound)
    if arr.size:
        lo = float(arr.min())  # NaN propagates into min and max, ±inf shows in one of them
        hi = float(arr.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{func}: {name} must be finite (found NaN or inf), got {_show(value)}")
        _check_range(lo, hi, name, func, lambda: f"min {lo!r}, max {hi!r}" if arr.size > 1 else repr(lo), bound)
    return arr


def check_times(t, func: str) -> np.ndarray:
    """Validate the times argument ``t`` (μs, finite, 0 ≤ t ≤ 1e6); return a float ndarray of its shape.

    Parameters
    ----------
    t : array_like
        Times in μs, any shape and order.
    func : str
        The public function being called (for the message).

    Returns
    -------
    numpy.ndarray
        ``t`` as floats.

    Raises
    ------
    ValueError
        Naming ``t``: not numbers, NaN or inf present ("t must be finite"), a negative time
        ("t must be >= 0"), or beyond 1e6 μs.
    """
    return check_values(t, "t", func)


def check_work(ops: float, points: float, func: str, what: str, remedy: str):
    """Refuse a computation whose estimated work exceeds `MAX_RENEWAL_OPS` or `MAX_GRID_POINTS`.

    Parameters
    ----------
    ops : float
        Estimated multiply-adds in renewal sums.
    points : float
        Largest grid (nodes) the computation allocates.
    func : str
        The public function being called.
    what : str
        The parameters that set the cost (for the message).
    remedy : str
        What the caller can do instead (for the message).

    Returns
    -------
    None

    Raises
    ------
    ValueError
        When either estimate is above its limit.
    """
    if not within_limits(ops, points):
        raise ValueError(f"{func}: {what} needs ~{ops:.2g} renewal operations on grids of up to {points:.3g} "
                         f"points, above the limits of {MAX_RENEWAL_OPS:.0e} operations and "
                         f"{MAX_GRID_POINTS:.0e} points (bayesmusr.physics.domain); {remedy}")


def within_limits(ops: float, points: float) -> bool:
    """True when a computation of this size is allowed (`MAX_RENEWAL_OPS`, `MAX_GRID_POINTS`).

    Parameters
    ----------
    ops : float
        Estimated multiply-adds in renewal sums.
    points : float
        Largest grid (nodes) the computation allocates.

    Returns
    -------
    bool
    """
    return ops <= MAX_RENEWAL_OPS and points <= MAX_GRID_POINTS


def reach(cost, x_hi: float) -> float:
    """Largest Δ·t_max in [0, x_hi] whose cost is within the limits (bisection, 60 fixed steps).

    Parameters
    ----------
    cost : callable
        x_max ↦ (ops, points), non-decreasing in x_max.
    x_hi : float
        An x_max known to be too costly.

    Returns
    -------
    float
        The longest reachable Δ·t_max (0 if even Δ·t = 0 is refused).
    """
    lo, hi = 0.0, float(x_hi)
    for _ in range(60):  # a fixed count: the bracket shrinks 2⁶⁰-fold
        mid = 0.5 * (lo + hi)
        if within_limits(*cost(mid)):
            lo = mid
        else:
            hi = mid
    return lo


def check_ratio(value, name: str, func: str, low: float = 0.0, high: float = math.inf,
                high_open: bool = False) -> float:
    """Validate a dimensionless argument of an internal building block (ν/Δ, ω_L/Δ, Q, a step…).

    Parameters
    ----------
    value : object
        The argument.
    name : str
        Its name (for the message).
    func : str
        The function being called (for the message).
    low, high : float
        Allowed range, low ≤ value ≤ high (value < high if ``high_open``).
    high_open : bool
        Exclude ``high`` itself.

    Returns
    -------
    float
        The value.

    Raises
    ------
    ValueError
        Naming the argument when the value is not a finite real number in the range.
    """
    if type(value) is float and low <= value and (value < high if high_open else value <= high):
        return value  # fast path: these run inside the table interpolation of every `ea` call
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, (numbers.Real, np.ndarray)):
        # ValueError, not TypeError: one exception type for every bad argument, as the public API promises
        raise ValueError(f"{func}: {name} must be a real number, got {_show(value)} ({type(value).__name__})")  # noqa: TRY004
    try:
        v = float(value)
    except TypeError:
        raise ValueError(f"{func}: {name} must be a real number, got {_show(value)}") from None
    if not (math.isfinite(v) and low <= v and (v < high if high_open else v <= high)):
        top = f"{high:g})" if high_open else f"{high:g}]"
        raise ValueError(f"{func}: {name} must be a finite number in [{low:g}, {top}, got {_show(value)}")
    return v
