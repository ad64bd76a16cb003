"""Posterior problems of a published KT table: the EA reading against the conventional one.

Definition
----------
Data: a published scan (:class:`bayesmusr.io.published.PublishedTable`), rows j with
temperature T_j, Δ_KT,j ± e_Δ,j and (where published) ν_KT,j ± e_ν,j.

**EA reading** (:class:`EAReadingProblem`, the parameters of the scan model,
:data:`~bayesmusr.model.parameters.SCAN_PARAMETERS`): the ions and the muon jump with
ν_i(T) = ν_i0 e^{−E_i/k_BT} and ν_μ(T) = ν_μ0 e^{−E_μ/k_BT}, the field width Δ and the
fraction Q are those of G^EA, and the published (Δ_KT, ν_KT) are what a conventional KT fit of
G^EA returns under the measurement conditions — the KT reading, evaluated by the emulator of
:mod:`bayesmusr.model.kt_reading`.

**Conventional reading** (:class:`ConventionalProblem`,
:data:`~bayesmusr.model.parameters.CONVENTIONAL_PARAMETERS`): ν_KT is the ions' Arrhenius rate
ν_KT0 e^{−E_KT/k_BT} at every temperature, and Δ_KT is constant (``delta``) or follows the
two-state law Δ_KT² = [Q/(1 + N e^{−E_Δ/k_BT}) + 1 − Q] Δ² (Kadono Eq. 4,
:data:`~bayesmusr.model.parameters.TWO_STATE_PARAMETERS`).

Likelihood (the same for both, so that LOO compares like with like): per row j,

    Δ_KT,j ~ Normal(Δ̂_j, s_Δ e_Δ,j),     ln ν_KT,j ~ Normal(ln ν̂_j, s_ν e_ν,j / ν_KT,j),

ν on a log scale because published rates span decades and their errors are relative.  For the EA
reading the emulator's relative error (ε_Δ, ε_ν) is added in quadrature: σ_Δ² = (s_Δ e_Δ)² + (ε_Δ Δ_KT)²
and σ_lnν² = (s_ν e_ν/ν_KT)² + ε_ν², so a table more precise than the emulator is not over-fitted.  A row
without ν_KT contributes its Δ term only.  When the table publishes no errors, e = the value
itself (a relative error); the scales s_Δ, s_ν (:data:`~bayesmusr.model.parameters.NOISE_PARAMETERS`)
are fixed (1, or the stated relative error) or sampled (``noise = "fit"``).  The pointwise
log-likelihood (for LOO) is one entry per published row: leaving a temperature out.

Units: rates μs⁻¹, prefactors log10 of s⁻¹, energies eV, T in K.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bayesmusr.io.published import PublishedTable
from bayesmusr.model.parameters import (
    CONVENTIONAL_PARAMETERS,
    NOISE_PARAMETERS,
    SCAN_PARAMETERS,
    TWO_STATE_PARAMETERS,
    ParameterSet,
    Prior,
    parse_prior,
)
from bayesmusr.physics.constants import K_B_EV, arrhenius

__all__ = ["NoiseOption", "noise_priors", "two_state_delta", "EAReadingProblem", "ConventionalProblem",
           "CONVENTIONAL_MODELS"]

#: ``noise`` option values: "published" (s = 1 on the published errors), "fit" (s sampled) or a number
#: (a relative error: σ = r × value, the published errors ignored)
NoiseOption = str | float
#: the conventional readings: Δ_KT constant, or two-state
CONVENTIONAL_MODELS = ("constant", "two_state")
_FIT_RELATIVE = (0.003, 1.0)  # prior bounds of a fitted relative error (no errors published)
_LN_2PI = math.log(2.0 * math.pi)


def two_state_delta(temperature, delta, q, n_states, e_delta_eV):
    """Kadono Eq. 4: Δ_KT(T) = Δ √[Q/(1 + N e^{−E_Δ/k_BT}) + 1 − Q].

    Parameters
    ----------
    temperature : float or ndarray
        Temperature in K.
    delta : float
        Low-temperature width Δ in μs⁻¹.
    q : float
        Fraction Q of Δ² that disappears at high temperature.
    n_states : float
        Ratio N of the numbers of states (dimensionless).
    e_delta_eV : float
        Energy E_Δ in eV.

    Returns
    -------
    ndarray
        Δ_KT(T) in μs⁻¹.
    """
    temperature = np.asarray(temperature, dtype=float)
    x = n_states * np.exp(-e_delta_eV / (K_B_EV * temperature))
    return delta * np.sqrt(q / (1.0 + x) + 1.0 - q)


def noise_priors(table: PublishedTable, noise: Mapping[str, NoiseOption] | None = None) -> dict[str, Prior]:
    """The priors of ``noise_delta`` and ``noise_nu`` for a table and the ``noise`` options.

    Parameters
    ----------
    table : PublishedTable
        The data (whether it publishes errors decides the default).
    noise : mapping, optional
        ``{"delta": option, "nu": option}``; an option is ``"published"`` (default when the table
        has that error column: s fixed at 1), ``"fit"`` (default without errors: s sampled,
        log-uniform on [0.3, 10] × the published errors, or [0.003, 1] as a relative error) or a
        number r in (0, 1] (relative error r, published errors ignored).

    Returns
    -------
    dict
        ``noise_delta`` and ``noise_nu`` → Prior.
    """
    noise = dict(noise or {})
    unknown = set(noise) - {"delta", "nu"}
    if unknown:
        raise ValueError(f"noise: unknown key(s) {sorted(unknown)}; expected 'delta' and/or 'nu'")
    out = {}
    for key, par, has in (("delta", NOISE_PARAMETERS[0], table.has_delta_errors),
                          ("nu", NOISE_PARAMETERS[1], table.has_nu_errors)):
        opt = noise.get(key, "published" if has else "fit")
        if opt == "published" and not has:
            raise ValueError(f"noise.{key} = 'published' but the table has no {key}_kt_err column; give a relative "
                             "error (a number such as 0.05) or 'fit'")
        if opt == "published":
            out[par.name] = Prior("fixed", value=1.0)
        elif opt == "fit":
            out[par.name] = par.default_prior() if has else Prior("loguniform", *_FIT_RELATIVE)
        elif isinstance(opt, (int, float)) and not isinstance(opt, bool) and 0 < opt <= 1:
            out[par.name] = Prior("fixed", value=float(opt))
        else:
            raise ValueError(f"noise.{key} must be 'published', 'fit' or a relative error in (0, 1], got {opt!r}")
    return out


def _relative(option, published: bool) -> bool:
    """True if the errors are relative (σ = s × value): a number was given, or none are published."""
    return not published or (option is not None and not isinstance(option, str))


class _TableProblem:
    """What both readings share: the table, the noise model, the likelihood and the sampler interface."""

    declared: tuple = ()
    model_name = ""

    def __init__(self, table: PublishedTable, priors: Mapping[str, Any] | None, noise):
        self.table = table
        self.temperatures = table.temperature
        self.noise = dict(noise or {})
        relative = {k: _relative(self.noise.get(k), has) for k, has in
                    (("delta", table.has_delta_errors), ("nu", table.has_nu_errors))}
        self.has_nu = np.isfinite(table.nu_kt)
        # base errors e: σ_Δ = s_Δ e_Δ; σ of ln ν = s_ν e_ν (already relative)
        self.e_delta = table.delta_kt if relative["delta"] else table.delta_kt_err
        nu_obs = np.where(self.has_nu, table.nu_kt, 1.0)
        self.e_lnnu = np.ones_like(nu_obs) if relative["nu"] else np.where(self.has_nu, table.nu_kt_err, 1.0) / nu_obs
        self.ln_nu_obs = np.log(nu_obs)
        given = dict(priors or {})
        noise_p = noise_priors(table, self.noise)
        unknown = set(given) - {p.name for p in self.declared}
        if unknown:
            raise ValueError(f"unknown prior name(s) {sorted(unknown)}; expected some of "
                             f"{[p.name for p in self.declared]}")
        pri = [parse_prior(given[p.name], p.name, p) if p.name in given else
               noise_p.get(p.name) or self.default_prior(p) for p in self.declared]
        self.params = ParameterSet([p.name for p in self.declared], pri)
        self.names, self.ndim, self.bounds = self.params.names, self.params.ndim, self.params.bounds
        self.all_names = self.params.all_names
        self.log_coordinates = self.params.log  # sampled as log x (the result reports x)

    def default_prior(self, p) -> Prior:
        """The default prior of a declared parameter (subclasses narrow it to the data).

        Parameters
        ----------
        p : FitParameter

        Returns
        -------
        Prior
        """
        return p.default_prior()

    # -- the model
    def predict(self, x: np.ndarray, temperatures=None) -> tuple[np.ndarray, np.ndarray]:
        """(Δ̂_KT, ν̂_KT) for the physical vector ``x`` (subclasses).

        Parameters
        ----------
        x : ndarray
            Physical vector (:attr:`all_names` order).
        temperatures : ndarray, optional
            K; default the published ones.

        Returns
        -------
        (ndarray, ndarray)
            μs⁻¹.
        """
        raise NotImplementedError

    def physical(self, values: Mapping[str, float]) -> np.ndarray:
        """The physical vector of named values (fixed parameters at their fixed values).

        Parameters
        ----------
        values : mapping
            Name → value for every sampled parameter (more names are ignored).

        Returns
        -------
        ndarray
        """
        x = self.params.to_physical(np.zeros(self.ndim))
        return np.array([values[n] if f else v for n, v, f in zip(self.all_names, x, self.params.free)])

    #: relative model error (Δ_KT, ν_KT) added in quadrature to the data's (the emulator's interpolation error)
    model_error = (0.0, 0.0)

    def _pointwise(self, x: np.ndarray) -> np.ndarray:
        d_hat, nu_hat = self.predict(x)
        v = dict(zip(self.all_names, x))
        eps_d, eps_n = self.model_error
        sd = np.hypot(v["noise_delta"] * self.e_delta, eps_d * self.table.delta_kt)
        sn = np.hypot(v["noise_nu"] * self.e_lnnu, eps_n)
        ll = -0.5 * (((self.table.delta_kt - d_hat) / sd) ** 2 + _LN_2PI) - np.log(sd)
        with np.errstate(divide="ignore", invalid="ignore"):
            lnu = -0.5 * (((self.ln_nu_obs - np.log(nu_hat)) / sn) ** 2 + _LN_2PI) - np.log(sn)
        return ll + np.where(self.has_nu, lnu, 0.0)

    # -- the sampler interface (bayesmusr.inference.sampling)
    def log_posterior(self, y) -> float:
        """Log posterior in sampling coordinates; −inf outside the priors or where the model fails.

        Parameters
        ----------
        y : array_like
            Shape (ndim,).

        Returns
        -------
        float
        """
        lp = self.params.log_prior(y)
        if not math.isfinite(lp):
            return -math.inf
        total = float(np.sum(self._pointwise(self.params.to_physical(y))))
        return lp + total if math.isfinite(total) else -math.inf

    def initial_guesses(self) -> list[np.ndarray]:
        """Starting vectors for the MAP search: the prior box's centre and seeded prior draws.

        Returns
        -------
        list of ndarray
        """
        lo, hi = self.bounds
        return [0.5 * (lo + hi)] + list(self.params.sample(np.random.default_rng(20261203), 60))

    def posterior_extras(self, y, rng, predictive):
        """Values (with the predicted reading per temperature), pointwise log-likelihood per row, replicas.

        Parameters
        ----------
        y : array_like
            Sampling coordinates of one draw.
        rng : numpy.random.Generator
            Source of the replicas.
        predictive : bool
            Also draw replicated tables.

        Returns
        -------
        values : dict
        pointwise : ndarray, shape (rows,)
        replicas : dict or None
            ``delta_kt`` and ``nu_kt`` drawn from the likelihood.
        """
        x = self.params.to_physical(y)
        vals = {n: float(v) for n, v, f in zip(self.all_names, x, self.params.free) if f}
        d_hat, nu_hat = self.predict(x)
        vals.update(self.derived(x))
        for j in range(self.table.n):
            vals[f"delta_kt_T{j}"] = d_hat[j]
            vals[f"nu_kt_T{j}"] = nu_hat[j]
        rep = None
        if predictive:
            v = dict(zip(self.all_names, x))
            eps_d, eps_n = self.model_error
            sd = np.hypot(v["noise_delta"] * self.e_delta, eps_d * self.table.delta_kt)
            sn = np.hypot(v["noise_nu"] * self.e_lnnu, eps_n)
            rep = {"delta_kt": d_hat + sd * rng.standard_normal(self.table.n),
                   "nu_kt": nu_hat * np.exp(sn * rng.standard_normal(self.table.n))}
        return vals, self._pointwise(x), rep

    def derived(self, x: np.ndarray) -> dict[str, float]:
        """Per-temperature derived values of a draw (``<name>_T<j>``), besides the predicted reading.

        Parameters
        ----------
        x : ndarray
            Physical vector.

        Returns
        -------
        dict
        """
        return {}

    def predictive_dims(self) -> dict[str, list[str]]:
        """Dimension names of the replicated tables.

        Returns
        -------
        dict
        """
        return {"delta_kt": ["temperature"], "nu_kt": ["temperature"]}

    def observed_data(self):
        """The published table as observed data (blank ν_KT cells are NaN).

        Returns
        -------
        (dict, dict, dict)
            Arrays, dims and coords.
        """
        t = self.table
        arrays = {"delta_kt": t.delta_kt, "delta_kt_err": t.delta_kt_err, "nu_kt": t.nu_kt, "nu_kt_err": t.nu_kt_err}
        return (arrays, {k: ["temperature"] for k in arrays}, {"temperature": t.temperature})

    def describe(self) -> dict:
        """Result attributes: model, temperatures, priors, units, likelihood.

        Returns
        -------
        dict
        """
        return {
            "bayesmusr_result": "reanalysis",
            "model": self.model_name,
            "temperatures_K": self.temperatures.tolist(),
            "priors": self.params.describe(),
            "units": [f"{p.name}: {p.unit}" for p in self.declared] + ["delta_kt_T, nu_kt_T: μs⁻¹"],
            "likelihood": ("per published row: Normal on Δ_KT (σ = noise_delta × error) + Normal on ln ν_KT "
                           "(σ = noise_nu × error/ν_KT); rows without ν_KT: the Δ term only"),
            "table_source": self.table.source,
        }


class EAReadingProblem(_TableProblem):
    """The EA reading of a published table: Arrhenius ions and muon, G^EA read as a KT fit would.

    Parameters
    ----------
    table : PublishedTable
        The published scan.
    reading : callable
        ``reading(delta, q, nu_i, nu_mu)`` → (Δ_KT, ν_KT) arrays over temperatures (the emulator
        of :mod:`bayesmusr.model.kt_reading`, or the direct reading); with a ``domain`` attribute
        (see :meth:`clip_rates`).
    priors : mapping, optional
        Overrides by name (:data:`~bayesmusr.model.parameters.SCAN_PARAMETERS` and the noise scales).
    noise : mapping, optional
        See :func:`noise_priors`.
    """

    declared = SCAN_PARAMETERS + NOISE_PARAMETERS
    model_name = "ea_reading"

    def __init__(self, table: PublishedTable, reading: Callable, priors=None, noise=None):
        self.reading = reading
        # the emulator's own error is part of the model's predictive spread (0 for an exact reading)
        self.model_error = tuple(getattr(reading, "relative_error", (0.0, 0.0)))
        super().__init__(table, priors, noise)

    def default_prior(self, p) -> Prior:
        """Δ and Q default to the emulator's domain (inside the declared bounds); the rest as declared.

        Parameters
        ----------
        p : FitParameter

        Returns
        -------
        Prior
        """
        dom = getattr(self.reading, "domain", None)
        if dom is not None and p.name in ("delta", "q"):
            lo, hi = dom[p.name]
            return Prior(p.prior, max(lo, p.bounds[0]), min(hi, p.bounds[1]))
        return p.default_prior()

    def initial_guesses(self) -> list[np.ndarray]:
        """Prior draws, plus starts placed by the paper's reading of a KT table (the posterior is multimodal).

        Below T* ν_KT is mostly ν_μ (Kadono): ν_μ0, E_μ from a straight line through ln ν_KT against
        1/T of the cooler half of the table; the ions cross ν_i ≈ 3√Q Δ near the table's ν_KT maximum,
        which fixes ν_i0 for each trial E_i and Q; Δ from the largest Δ_KT.

        Returns
        -------
        list of ndarray
        """
        t = self.table
        have = np.isfinite(t.nu_kt)
        temps, nu = t.temperature[have], t.nu_kt[have]
        t_star = float(temps[int(np.argmax(nu))])
        cool = temps <= np.median(temps)
        inv = 1.0 / (K_B_EV * temps[cool])
        slope, icpt = np.polyfit(inv, np.log(nu[cool]), 1) if cool.sum() >= 2 else (0.0, math.log(nu[0]))
        guesses = super().initial_guesses()
        base = {"log10_nu_mu0": icpt / math.log(10.0) + 6.0, "e_mu": -slope, "delta": float(np.max(t.delta_kt)),
                "noise_delta": 1.0, "noise_nu": 1.0}
        lo, hi = self.bounds
        for e_i in (0.15, 0.3, 0.5, 0.8):
            for q in (0.3, 0.6, 0.9):
                nu_cross = 3.0 * math.sqrt(q) * base["delta"]
                v = {**base, "e_i": e_i, "q": q,
                     "log10_nu_i0": math.log10(nu_cross) + 6.0 + e_i / (K_B_EV * t_star * math.log(10.0))}
                y = self.params.to_sampled(np.array([v[n] for n in self.all_names]))
                guesses.append(np.clip(y, lo, hi))
        return guesses

    def rates(self, x: np.ndarray, temperatures=None) -> tuple[np.ndarray, np.ndarray]:
        """ν_i(T), ν_μ(T) in μs⁻¹.

        Parameters
        ----------
        x : ndarray
            Physical vector (:attr:`all_names` order).
        temperatures : ndarray, optional
            K; default the published ones.

        Returns
        -------
        (ndarray, ndarray)
        """
        v = dict(zip(self.all_names, x))
        t = self.temperatures if temperatures is None else temperatures
        return arrhenius(t, v["log10_nu_i0"], v["e_i"]), arrhenius(t, v["log10_nu_mu0"], v["e_mu"])

    def predict(self, x: np.ndarray, temperatures=None) -> tuple[np.ndarray, np.ndarray]:
        """The KT reading (Δ̂_KT, ν̂_KT) at every temperature.

        Parameters
        ----------
        x : ndarray
            Physical vector.
        temperatures : ndarray, optional
            K; default the published ones.

        Returns
        -------
        (ndarray, ndarray)
            μs⁻¹; NaN where the rates leave the reading's domain.
        """
        v = dict(zip(self.all_names, x))
        nu_i, nu_mu = self.rates(x, temperatures)
        return self.reading(v["delta"], v["q"], nu_i, nu_mu)

    def derived(self, x: np.ndarray) -> dict[str, float]:
        """ν_i and ν_μ per temperature (``nu_i_T<j>``, ``nu_mu_T<j>``).

        Parameters
        ----------
        x : ndarray
            Physical vector.

        Returns
        -------
        dict
        """
        nu_i, nu_mu = self.rates(x)
        out = {}
        for j in range(self.table.n):
            out[f"nu_i_T{j}"] = nu_i[j]
            out[f"nu_mu_T{j}"] = nu_mu[j]
        return out

    def describe(self) -> dict:
        """Result attributes, with the reading's description and its model error.

        Returns
        -------
        dict
        """
        d = super().describe()
        d["reading"] = str(getattr(self.reading, "description", type(self.reading).__name__))
        d["model_error"] = list(self.model_error)
        d["units"] = d["units"] + ["nu_i_T, nu_mu_T: μs⁻¹"]
        return d


class ConventionalProblem(_TableProblem):
    """The conventional reading: ν_KT an Arrhenius ion rate, Δ_KT constant or two-state.

    Parameters
    ----------
    table : PublishedTable
        The published scan.
    delta_model : {"constant", "two_state"}
        How Δ_KT(T) is read.
    priors, noise : mapping, optional
        As for :class:`EAReadingProblem`.
    """

    model_name = "conventional"

    def __init__(self, table: PublishedTable, delta_model: str = "two_state", priors=None, noise=None):
        if delta_model not in CONVENTIONAL_MODELS:
            raise ValueError(f"delta_model must be one of {CONVENTIONAL_MODELS}, got {delta_model!r}")
        self.delta_model = delta_model
        self.declared = self.parameters(delta_model)
        self.model_name = f"conventional_{delta_model}"
        super().__init__(table, priors, noise)

    @staticmethod
    def parameters(delta_model: str) -> tuple:
        """The declared parameters of a conventional reading.

        Parameters
        ----------
        delta_model : {"constant", "two_state"}

        Returns
        -------
        tuple of FitParameter
        """
        return CONVENTIONAL_PARAMETERS + (TWO_STATE_PARAMETERS if delta_model == "two_state" else ()) + NOISE_PARAMETERS

    def default_prior(self, p) -> Prior:
        """Δ defaults to [0.5, 2] × the largest published Δ_KT (log-uniform); the rest as declared.

        Parameters
        ----------
        p : FitParameter

        Returns
        -------
        Prior
        """
        if p.name == "delta":
            top = float(np.max(self.table.delta_kt))
            return Prior("loguniform", 0.5 * top, 2.0 * top)
        return p.default_prior()

    def predict(self, x: np.ndarray, temperatures=None) -> tuple[np.ndarray, np.ndarray]:
        """(Δ̂_KT, ν̂_KT): the Arrhenius ν_KT and the constant or two-state Δ_KT.

        Parameters
        ----------
        x : ndarray
            Physical vector.
        temperatures : ndarray, optional
            K; default the published ones.

        Returns
        -------
        (ndarray, ndarray)
            μs⁻¹.
        """
        v = dict(zip(self.all_names, x))
        t = self.temperatures if temperatures is None else np.asarray(temperatures, dtype=float)
        nu = arrhenius(t, v["log10_nu_kt0"], v["e_kt"])
        if self.delta_model == "constant":
            return np.full(t.shape, v["delta"]), nu
        return two_state_delta(t, v["delta"], v["q"], 10.0 ** v["log10_n_states"], v["e_delta"]), nu
