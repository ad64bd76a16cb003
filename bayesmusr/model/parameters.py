"""Every fit parameter of bayesmusr, declared once: name, unit, support, default prior, description.

Definition
----------
A :class:`FitParameter` row says what a parameter *is* (unit, description), where it can
physically live (``support``, a promise: no path — sampled, Laplace, MAP, report — returns
a value outside it) and which prior it gets unless the user says otherwise (``bounds`` and
``prior``; the bounds lie inside the support).  Everything else is derived from these rows:

* the sampler's coordinates: y = log x for a log-uniform prior, y = x otherwise
  (:attr:`FitParameter.log_scale`);
* the Laplace/MAP coordinates of marginalised nuisances: z = logit of the position
  inside the prior bounds (on log x for log-uniform priors), so every optimum and every
  conditional draw maps back inside the bounds (:func:`to_unbounded`, :func:`from_unbounded`);
* prior parsing and validation (:func:`parse_prior` checks a user prior lies in the support);
* the CLI help, the docs tables (:func:`markdown_table`) and the units/priors of results;
* which prior edges are physics rather than choice (:func:`is_physical_edge`).

Tables
------
:data:`PHYSICS_PARAMETERS` per one-temperature model, :data:`RUN_PARAMETERS` (per-run
nuisances, with the run kinds and fit option that switch them on), :data:`SCAN_PARAMETERS`
(Arrhenius scan), :data:`KT_SCAN_PARAMETERS` (the KT reading), :data:`NOISE_PARAMETERS`,
:data:`CONVENTIONAL_PARAMETERS` and :data:`TWO_STATE_PARAMETERS` (published tables, the reanalysis), :data:`HOLDER_PARAMETER`,
:data:`POOL_PARAMETER`, :data:`N0_PARAMETER`.  :func:`declared` finds any of them by name.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["FitParameter", "Prior", "parse_prior", "PHYSICS_PARAMETERS", "RUN_PARAMETERS", "SCAN_PARAMETERS",
           "KT_SCAN_PARAMETERS", "NOISE_PARAMETERS", "CONVENTIONAL_PARAMETERS",
           "TWO_STATE_PARAMETERS", "HOLDER_PARAMETER", "POOL_PARAMETER", "N0_PARAMETER", "MODELS", "declared",
           "canonical_model", "is_physical_edge", "markdown_table", "ParameterSet", "to_unbounded", "from_unbounded"]

PRIOR_KINDS = ("uniform", "loguniform", "normal", "fixed")


@dataclasses.dataclass(frozen=True)
class Prior:
    """A one-dimensional prior.

    Attributes
    ----------
    kind : str
        ``"uniform"`` on [lo, hi]; ``"loguniform"`` (density ∝ 1/x) on [lo, hi], 0 < lo;
        ``"normal"`` with mean ``mu`` and SD ``sigma``, truncated to [lo, hi];
        ``"fixed"`` at ``value`` (not sampled).
    """

    kind: str
    lo: float = -math.inf
    hi: float = math.inf
    mu: float = math.nan
    sigma: float = math.nan
    value: float = math.nan

    def __post_init__(self):
        if self.kind not in PRIOR_KINDS:
            raise ValueError(f"prior kind must be one of {PRIOR_KINDS}, got {self.kind!r}")
        if self.kind == "fixed":
            if not math.isfinite(self.value):
                raise ValueError(f"a fixed prior needs a finite value, got {self.value!r}")
            return
        if not self.lo < self.hi:
            raise ValueError(f"prior bounds must satisfy lo < hi, got [{self.lo}, {self.hi}]")
        if self.kind in ("uniform", "loguniform") and not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ValueError(f"a {self.kind} prior needs finite bounds, got [{self.lo}, {self.hi}]")
        if self.kind == "loguniform" and self.lo <= 0:
            raise ValueError(f"a loguniform prior needs lo > 0, got lo = {self.lo}")
        if self.kind == "normal" and not (math.isfinite(self.mu) and self.sigma > 0):
            raise ValueError(f"a normal prior needs a finite mu and sigma > 0, got mu={self.mu}, sigma={self.sigma}")

    @property
    def log_scale(self) -> bool:
        """True if the sampled coordinate is log(x)."""
        return self.kind == "loguniform"

    def describe(self) -> str:
        """Short text such as ``loguniform[0.001, 100]`` (read back by :meth:`from_description`).

        Returns
        -------
        str
        """
        if self.kind == "fixed":
            return f"fixed = {_num(self.value)}"
        if self.kind == "normal":
            return (f"normal(mu={_num(self.mu)}, sigma={_num(self.sigma)}) on "
                    f"[{_num(self.lo)}, {_num(self.hi)}]")
        return f"{self.kind}[{_num(self.lo)}, {_num(self.hi)}]"

    def short(self) -> str:
        """Like :meth:`describe` with 4 significant digits, for tables and help texts.

        Returns
        -------
        str
        """
        return re.sub(r"-?\d+\.\d+(e[-+]?\d+)?", lambda m: f"{float(m.group(0)):.4g}", self.describe())


    @classmethod
    def from_description(cls, text: str) -> "Prior":
        """The prior a :meth:`describe` text names (as stored in a result's ``priors`` attribute).

        Parameters
        ----------
        text : str
            E.g. ``uniform[0, 1]``; anything else raises ValueError.

        Returns
        -------
        Prior
        """
        text = text.strip()
        m = re.fullmatch(r"(uniform|loguniform)\[\s*(\S+),\s*(\S+)\s*\]", text)
        if m:
            return cls(m.group(1), float(m.group(2)), float(m.group(3)))
        m = re.fullmatch(r"normal\(mu=(\S+), sigma=(\S+)\) on \[\s*(\S+),\s*(\S+)\s*\]", text)
        if m:
            mu, sigma, lo, hi = (float(g) for g in m.groups())
            return cls("normal", lo, hi, mu=mu, sigma=sigma)
        m = re.fullmatch(r"fixed = (\S+)", text)
        if m:
            return cls("fixed", value=float(m.group(1)))
        raise ValueError(f"not a prior description: {text!r} (expected e.g. 'uniform[0, 1]')")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draws in physical units (seeded generator).

        Parameters
        ----------
        rng : numpy.random.Generator
        size : int
            Number of draws.

        Returns
        -------
        ndarray
            Shape (size,); a normal prior is truncated to [lo, hi] by rejection.
        """
        if self.kind == "fixed":
            return np.full(size, self.value)
        if self.kind == "uniform":
            return rng.uniform(self.lo, self.hi, size)
        if self.kind == "loguniform":
            return np.exp(rng.uniform(math.log(self.lo), math.log(self.hi), size))
        out = rng.normal(self.mu, self.sigma, size)
        bad = (out < self.lo) | (out > self.hi)
        while np.any(bad):
            out[bad] = rng.normal(self.mu, self.sigma, int(bad.sum()))
            bad = (out < self.lo) | (out > self.hi)
        return out

    def as_dict(self) -> dict:
        """JSON-ready form (finite numbers only), read back by :func:`parse_prior`.

        Returns
        -------
        dict
            ``kind`` and the finite fields it needs (``lo``, ``hi``, ``mu``, ``sigma`` or ``value``).
        """
        keys = {"fixed": ("value",), "normal": ("mu", "sigma", "lo", "hi")}.get(self.kind, ("lo", "hi"))
        return {"kind": self.kind, **{k: getattr(self, k) for k in keys if math.isfinite(getattr(self, k))}}


def _num(v: float) -> str:
    """Shortest text that reads back as exactly ``v`` (``%g`` when that is exact)."""
    return f"{v:g}" if float(f"{v:g}") == v else repr(float(v))


@dataclasses.dataclass(frozen=True)
class FitParameter:
    """One row of a parameter table.

    Attributes
    ----------
    name, unit, description : str
        As shown in results, docs and help.
    default : float
        Reference (starting) value in physical units.
    bounds : (float, float)
        Bounds of the default prior.
    prior : str
        Kind of the default prior, ``"uniform"`` or ``"loguniform"``.
    support : (float, float), optional
        The physical domain; defaults to ``bounds`` (then a posterior piled at a bound is physics,
        not a choice the user made).
    """

    name: str
    unit: str
    default: float
    bounds: tuple[float, float]
    description: str
    prior: str = "uniform"
    support: tuple[float, float] | None = None

    @property
    def domain(self) -> tuple[float, float]:
        """The support (the bounds when none is declared)."""
        return self.support if self.support is not None else self.bounds

    def default_prior(self) -> Prior:
        """The default prior built from this declaration.

        Returns
        -------
        Prior
            Of kind :attr:`prior` on :attr:`bounds`.
        """
        return Prior(self.prior, float(self.bounds[0]), float(self.bounds[1]))

    def check(self, prior: Prior) -> Prior:
        """``prior`` if it lies inside the support, else a ValueError naming the parameter.

        Parameters
        ----------
        prior : Prior
            A prior for this parameter, in its unit.

        Returns
        -------
        Prior
            ``prior`` itself.
        """
        lo, hi = self.domain
        if prior.kind == "fixed":
            if not lo <= prior.value <= hi:
                raise ValueError(f"prior for {self.name!r}: fixed value {prior.value:g} is outside the support "
                                 f"[{lo:g}, {hi:g}] {self.unit} ({self.description})")
            return prior
        if prior.lo < lo or prior.hi > hi:
            raise ValueError(f"prior for {self.name!r}: bounds [{prior.lo:g}, {prior.hi:g}] reach outside the "
                             f"support [{lo:g}, {hi:g}] {self.unit} ({self.description})")
        return prior


def parse_prior(spec: Any, name: str = "parameter", parameter: FitParameter | None = None) -> Prior:
    """Turn a user prior specification into a :class:`Prior`.

    Parameters
    ----------
    spec : Prior, float, tuple or mapping
        A :class:`Prior`; a number (the parameter is fixed at it);
        ``("uniform", lo, hi)``, ``("loguniform", lo, hi)``, ``("normal", mu, sigma[, lo, hi])``,
        ``("fixed", value)``; or a mapping with the :class:`Prior` field names.
    name : str
        Parameter name used in error messages.
    parameter : FitParameter, optional
        Its declaration: the prior must lie inside its support, and a normal prior without
        bounds is truncated to the support.

    Returns
    -------
    Prior
    """
    try:
        prior = _parse(spec, name)
    except ValueError as exc:  # a Prior's own check (lo < hi, sigma > 0, …) does not know the name
        msg = str(exc)
        raise ValueError(msg if msg.startswith("prior for") else f"prior for {name!r}: {msg}") from None
    if parameter is None:
        return prior
    if prior.kind == "normal" and not (math.isfinite(prior.lo) or math.isfinite(prior.hi)):
        lo, hi = parameter.domain
        prior = Prior("normal", lo, hi, mu=prior.mu, sigma=prior.sigma)
    return parameter.check(prior)


def _parse(spec: Any, name: str) -> Prior:
    if isinstance(spec, Prior):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return Prior("fixed", value=float(spec))
    if isinstance(spec, Mapping):
        try:
            return Prior(**dict(spec))
        except TypeError as exc:
            raise ValueError(f"prior for {name!r}: {exc}") from None
    if isinstance(spec, (tuple, list)) and spec and isinstance(spec[0], str):
        kind, *vals = spec
        try:
            vals = [float(v) for v in vals]
        except (TypeError, ValueError):
            raise ValueError(f"prior for {name!r}: numbers expected after the kind, got {spec!r}") from None
        if kind in ("uniform", "loguniform") and len(vals) == 2:
            return Prior(kind, vals[0], vals[1])
        if kind == "normal" and len(vals) in (2, 4):
            lo, hi = (vals[2], vals[3]) if len(vals) == 4 else (-math.inf, math.inf)
            return Prior("normal", lo, hi, mu=vals[0], sigma=vals[1])
        if kind == "fixed" and len(vals) == 1:
            return Prior("fixed", value=vals[0])
    raise ValueError(
        f"prior for {name!r}: expected a number (fixed), ('uniform'|'loguniform', lo, hi), "
        f"('normal', mu, sigma[, lo, hi]), ('fixed', value) or a Prior, got {spec!r}")


# ---------------------------------------------------------------- the tables
_INF = math.inf
DELTA = FitParameter("delta", "μs⁻¹", 0.3, (0.01, 5.0), "static Gaussian field width Δ = γ_μ √⟨B²⟩", "loguniform",
                     (0.0, _INF))
NU = FitParameter("nu", "μs⁻¹", 0.1, (1e-3, 100.0), "fluctuation (strong-collision) rate ν", "loguniform", (0.0, _INF))
Q = FitParameter("q", "1", 0.5, (0.0, 1.0), "Edwards-Anderson fraction Q of Δ² modulated by ion jumps")

#: Physics parameters of each one-temperature model (shared by all runs of one temperature).
PHYSICS_PARAMETERS: dict[str, tuple[FitParameter, ...]] = {
    "static_kt": (DELTA,),
    "dynamic_kt": (DELTA, NU),
    "ea": (
        DELTA,
        FitParameter("nu_i", "μs⁻¹", 0.3, (1e-3, 100.0), "ion jump rate ν_i (modulates the fraction Q of Δ²)",
                     "loguniform", (0.0, _INF)),
        FitParameter("nu_mu", "μs⁻¹", 0.01, (1e-3, 100.0), "muon jump rate ν_μ (modulates all of Δ²)",
                     "loguniform", (0.0, _INF)),
        Q,
    ),
}
MODELS = tuple(PHYSICS_PARAMETERS)
_ALIASES = {"kt": "dynamic_kt", "dkt": "dynamic_kt", "skt": "static_kt", "static": "static_kt",
            "dynamic": "dynamic_kt", "EA": "ea"}

# |A0| <= 1 by definition (the prior's 0.5 is already above the 1/3 of a full decay spectrum): the prior bound
# is a choice, so a posterior piled there is flagged
A0 = FitParameter("a0", "1", 0.2, (-0.5, 0.5), "initial asymmetry A0 (sign as in the data)", "uniform", (-1.0, 1.0))
ALPHA = FitParameter("alpha", "1", 1.0, (0.25, 4.0),
                     "detector balance α of A = (F − αB)/(F + αB), bayesmusr's convention (musrfit's α is 1/α)",
                     "loguniform", (0.0, _INF))
FBG = FitParameter("fbg", "1", 0.0, (0.0, 1.0), "non-relaxing (sample-holder) fraction f of the asymmetry")
BGF = FitParameter("bgf", "1", 0.0, (0.0, 0.1), "flat forward background per bin, in units of N0", "uniform",
                   (0.0, _INF))
BGB = FitParameter("bgb", "1", 0.0, (0.0, 0.1), "flat backward background per bin, in units of N0", "uniform",
                   (0.0, _INF))

BASE = FitParameter("base", "1", 0.0, (-0.5, 0.5),
                    "constant asymmetry baseline (holder fraction and α mismatch of an exported asymmetry)",
                    "uniform", (-1.0, 1.0))

#: Per-run nuisance parameters: (declaration, run kinds it exists for, option that switches it on or None).
RUN_PARAMETERS: tuple[tuple[FitParameter, tuple[str, ...], str | None], ...] = (
    (A0, ("histograms", "asymmetry"), None),
    (ALPHA, ("histograms",), None),
    (FBG, ("histograms",), "holder_fraction"),
    (BASE, ("asymmetry",), None),
    (FitParameter("lam", "μs⁻¹", 0.0, (0.0, 5.0), "extra exponential relaxation λ, P → (1−f) G e^{−λt} + f",
                  "uniform", (0.0, _INF)), ("histograms", "asymmetry"), "extra_relaxation"),
    (BGF, ("histograms",), "count_background"),
    (BGB, ("histograms",), "count_background"),
)
#: Drawn after sampling from its conditional posterior (histogram runs); never sampled by emcee.
N0_PARAMETER = FitParameter("n0", "counts/bin", 1.0, (1e-300, 1e300),
                            "forward counts per bin at t = 0 (prior 1/N0; drawn from its conditional posterior)", "loguniform",
                            (0.0, _INF))

#: Global parameters of the Arrhenius EA scan model.
SCAN_PARAMETERS = (
    FitParameter("log10_nu_i0", "log10(s⁻¹)", 12.0, (8.0, 16.0), "ion jump attempt rate ν_i0 (log10 of s⁻¹)",
                 "uniform", (-_INF, _INF)),
    FitParameter("e_i", "eV", 0.35, (0.05, 1.2), "ion jump activation energy E_i", "uniform", (0.0, _INF)),
    FitParameter("log10_nu_mu0", "log10(s⁻¹)", 6.0, (2.0, 11.0), "muon jump prefactor ν_μ0 (log10 of s⁻¹)",
                 "uniform", (-_INF, _INF)),
    FitParameter("e_mu", "eV", 0.02, (0.0, 0.4), "muon jump activation energy E_μ", "uniform", (0.0, _INF)),
    DELTA,
    Q,
)
#: The sample-holder fraction when one holder serves the whole scan (holder_fraction="shared").
HOLDER_PARAMETER = dataclasses.replace(FBG, default=0.05,
                                       description="non-relaxing (sample-holder) fraction f, shared by every run")
#: Hyper-parameter of the partially pooled per-temperature Δ_T.
POOL_PARAMETER = FitParameter("tau_delta", "1", 0.05, (1e-3, 0.5), "spread of log Δ_T around log Δ", "loguniform",
                              (0.0, _INF))
#: Per-temperature parameters of the KT reading (what the literature fitted).
KT_SCAN_PARAMETERS = (DELTA, NU)

#: Noise scales of a published table (the reanalysis): σ = s × the published error, or s × the value
#: (a relative error) when the table publishes none.  Fixed at 1 / the stated relative error unless fitted.
NOISE_PARAMETERS = (
    FitParameter("noise_delta", "1", 1.0, (0.3, 10.0), "scale s_Δ of the Δ_KT errors (σ = s_Δ × error, or × Δ_KT "
                 "when none is published)", "loguniform", (0.0, _INF)),
    FitParameter("noise_nu", "1", 1.0, (0.3, 10.0), "scale s_ν of the ν_KT errors (σ of ln ν_KT = s_ν × error/ν_KT, "
                 "or s_ν when none is published)", "loguniform", (0.0, _INF)),
)
#: The conventional reading of a published table: ν_KT is the ions' Arrhenius rate at every
#: temperature; Δ_KT is constant (``delta``) or follows the two-state law (Kadono Eq. 4).
CONVENTIONAL_PARAMETERS = (
    FitParameter("log10_nu_kt0", "log10(s⁻¹)", 10.0, (2.0, 18.0), "prefactor of ν_KT read as an Arrhenius "
                 "ion jump rate (log10 of s⁻¹)", "uniform", (-_INF, _INF)),
    FitParameter("e_kt", "eV", 0.2, (0.0, 1.5), "activation energy of ν_KT read as an Arrhenius rate", "uniform",
                 (0.0, _INF)),
    DELTA,
)
#: The two-state law of Δ_KT (Kadono Eq. 4, Cox et al. 2006), added to the conventional reading.
TWO_STATE_PARAMETERS = (
    Q,
    FitParameter("log10_n_states", "1", 6.0, (0.0, 20.0), "log10 of the ratio N of the numbers of states "
                 "(two-state Δ_KT law)", "uniform", (-_INF, _INF)),
    FitParameter("e_delta", "eV", 0.3, (0.0, 2.0), "energy E_Δ of the two-state Δ_KT law", "uniform", (0.0, _INF)),
)


def pooled_delta_parameter(j: int, temperature: float) -> FitParameter:
    """The offset log Δ_T − log Δ of temperature ``j`` in a pooled scan.

    Parameters
    ----------
    j : int
        Temperature index (name ``dlog_delta_<j>``).
    temperature : float
        Its temperature in K (for the description only).

    Returns
    -------
    FitParameter
        Uniform on [−1, 1].
    """
    return FitParameter(f"dlog_delta_{j}", "1", 0.0, (-1.0, 1.0), f"log Δ_T − log Δ at T = {temperature:g} K")


def canonical_model(model: str) -> str:
    """The canonical model name (``static_kt``, ``dynamic_kt`` or ``ea``) of a name or alias.

    Parameters
    ----------
    model : str
        A canonical name or an alias (``kt``, ``dkt``, ``skt``, ``static``, ``dynamic``, ``EA``);
        anything else raises ValueError.

    Returns
    -------
    str
    """
    m = _ALIASES.get(model, model)
    if m not in PHYSICS_PARAMETERS:
        raise ValueError(f"model must be one of {MODELS} (or 'kt' for dynamic_kt), got {model!r}")
    return m


def _all_rows() -> dict[str, FitParameter]:
    rows = {p.name: p for ps in PHYSICS_PARAMETERS.values() for p in ps}
    rows.update({p.name: p for p, _, _ in RUN_PARAMETERS})
    rows.update({p.name: p for p in SCAN_PARAMETERS + (POOL_PARAMETER, N0_PARAMETER)})
    rows.update({p.name: p for p in NOISE_PARAMETERS + CONVENTIONAL_PARAMETERS + TWO_STATE_PARAMETERS})
    return rows


def declared(name: str) -> FitParameter | None:
    """The declaration of a parameter name, also of suffixed names (``fbg_0``, ``nu_i_T3``, ``dlog_delta_2``).

    Parameters
    ----------
    name : str
        Parameter name, with or without a run/temperature suffix.

    Returns
    -------
    FitParameter or None
        None if the name is not declared.
    """
    rows = _all_rows()
    if name in rows:
        return rows[name]
    if name.startswith("dlog_delta_"):
        return pooled_delta_parameter(0, math.nan)
    base = re.sub(r"(_T)?_?\d+$", "", name)
    return rows.get(base)


def is_physical_edge(name: str, value: float) -> bool:
    """True if ``value`` is an edge of the parameter's support (a posterior piled there is physics).

    Parameters
    ----------
    name : str
        Parameter name (suffixes allowed, see :func:`declared`).
    value : float
        A value in the parameter's unit.

    Returns
    -------
    bool
        False for undeclared names.
    """
    p = declared(name)
    return p is not None and value in p.domain


def to_unbounded(x, lo, hi, log):
    """z = logit of the position of x inside [lo, hi] (on log x where ``log``); arrays broadcast.

    Parameters
    ----------
    x : array_like
        Physical values.
    lo, hi : array_like
        Prior bounds (lo > 0 where ``log``).
    log : bool or array_like of bool
        Position measured on log x (log-uniform priors).

    Returns
    -------
    ndarray
        z; ±inf at the bounds.
    """
    x, lo, hi = (np.asarray(v, dtype=float) for v in (x, lo, hi))
    with np.errstate(divide="ignore", invalid="ignore"):  # np.where evaluates both branches
        s = np.where(log, (np.log(x) - np.log(lo)) / (np.log(hi) - np.log(lo)), (x - lo) / (hi - lo))
        return np.log(s) - np.log1p(-s)


def from_unbounded(z, lo, hi, log):
    """Inverse of :func:`to_unbounded`: always inside [lo, hi] (strictly, up to rounding).

    Parameters
    ----------
    z : array_like
        Unbounded coordinates.
    lo, hi, log : array_like
        As in :func:`to_unbounded`.

    Returns
    -------
    ndarray
        Physical values x.
    """
    z, lo, hi = (np.asarray(v, dtype=float) for v in (z, lo, hi))
    s = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow
    with np.errstate(divide="ignore", invalid="ignore"):  # np.where evaluates both branches
        return np.where(log, np.exp(np.log(lo) + s * (np.log(hi) - np.log(lo))), lo + s * (hi - lo))


#: the rate the other sampled coordinates are sheared on (:mod:`bayesmusr.inference.shear`): the data cannot
#: tell ν_μ below ~0.01 μs⁻¹ from zero (a plateau of its log-uniform prior down to its edge), and above
#: that Q, ν_i and Δ move linearly in ν_μ itself, a bend in log ν_μ that emcee crosses slowly
SHEAR_RATE = "nu_mu"


class ParameterSet:
    """Named priors of one posterior and the map between physical values and sampling coordinates.

    The one prior machinery of every problem: y = log x for log-uniform priors, y = x otherwise;
    fixed parameters are not sampled.  Stateless after construction.

    Parameters
    ----------
    names : sequence of str
        All parameter names, fixed ones included.
    priors : sequence of Prior
        Their priors.
    """

    def __init__(self, names, priors):
        self.all_names = list(names)
        self.priors = list(priors)
        self.free = np.array([pr.kind != "fixed" for pr in self.priors], bool)
        self.names = [n for n, f in zip(self.all_names, self.free) if f]
        self.ndim = len(self.names)
        free = [pr for pr in self.priors if pr.kind != "fixed"]
        self.log = np.array([pr.log_scale for pr in free], bool)
        # index of SHEAR_RATE when it is sampled as a logarithm, else None
        self.shear_rate = (self.names.index(SHEAR_RATE) if SHEAR_RATE in self.names
                           and self.log[self.names.index(SHEAR_RATE)] else None)
        lo = np.array([pr.lo for pr in free], float)
        hi = np.array([pr.hi for pr in free], float)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.bounds = (np.where(self.log, np.log(lo), lo), np.where(self.log, np.log(hi), hi))
        self._template = np.array([pr.value if pr.kind == "fixed" else math.nan for pr in self.priors])
        normal = [(j, pr.mu, pr.sigma) for j, pr in enumerate(free) if pr.kind == "normal"]
        self.normal = tuple(np.array([n[k] for n in normal], int if k == 0 else float) for k in range(3))

    def to_physical(self, y) -> np.ndarray:
        """The full physical vector (fixed values included) of sampling coordinates ``y``.

        Parameters
        ----------
        y : array_like
            Shape (ndim,), ordered as :attr:`names`: log x for log-uniform priors, x otherwise.

        Returns
        -------
        ndarray
            Shape (len(all_names),), ordered as :attr:`all_names`.
        """
        v = np.array(y, dtype=float)
        v[self.log] = np.exp(v[self.log])
        x = self._template.copy()
        x[self.free] = v
        return x

    def to_sampled(self, x) -> np.ndarray:
        """Sampling coordinates of a full physical vector ``x``.

        Parameters
        ----------
        x : array_like
            Shape (len(all_names),), physical units, ordered as :attr:`all_names`.

        Returns
        -------
        ndarray
            y, shape (ndim,): log x for log-uniform priors, x otherwise.
        """
        v = np.asarray(x, dtype=float)[self.free].copy()
        with np.errstate(divide="ignore"):
            v[self.log] = np.log(v[self.log])
        return v

    def in_bounds(self, y) -> bool:
        """True if ``y`` lies inside every prior's bounds.

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,).

        Returns
        -------
        bool
        """
        return bool(np.all(y >= self.bounds[0]) and np.all(y <= self.bounds[1]))

    def log_prior(self, y) -> float:
        """Log prior density in sampling coordinates (up to a constant); −inf outside the bounds.

        Parameters
        ----------
        y : array_like
            Sampling coordinates, shape (ndim,).

        Returns
        -------
        float
            Only normal priors contribute; (log-)uniform priors are flat in y.
        """
        y = np.asarray(y, dtype=float)
        if not self.in_bounds(y):
            return -math.inf
        idx, mu, sd = self.normal
        return float(-0.5 * np.sum(((y[idx] - mu) / sd) ** 2)) if idx.size else 0.0

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Prior draws in sampling coordinates, shape (size, ndim).

        Parameters
        ----------
        rng : numpy.random.Generator
        size : int
            Number of draws.

        Returns
        -------
        ndarray
        """
        cols = [pr.sample(rng, size) for pr in self.priors if pr.kind != "fixed"]
        return np.column_stack([np.log(c) if lg else c for c, lg in zip(cols, self.log)])

    def describe(self) -> list[str]:
        """``name: prior`` texts, as stored in a result's ``priors`` attribute.

        Returns
        -------
        list of str
            One per parameter of :attr:`all_names`.
        """
        return [f"{n}: {pr.describe()}" for n, pr in zip(self.all_names, self.priors)]


def markdown_table(rows) -> str:
    """A Markdown table of parameter declarations (name, unit, default prior, support, description).

    Parameters
    ----------
    rows : iterable of FitParameter
        The declarations, one table row each.

    Returns
    -------
    str
    """
    out = ["| name | unit | default prior | support | description |", "|---|---|---|---|---|"]
    for p in rows:
        lo, hi = p.domain
        out.append(f"| `{p.name}` | {p.unit} | {p.default_prior().short()} | [{lo:g}, {hi:g}] | {p.description} |")
    return "\n".join(out)
