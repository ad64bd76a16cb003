"""One temperature, every nuisance sampled: :class:`TemperatureProblem`.

Definition
----------
The runs of one temperature (ZF and LF fields) share the physics parameters of one
model (``PHYSICS_PARAMETERS[model]`` of :mod:`bayesmusr.model.parameters`); every run
has its own nuisances (A, α, f, β_F, β_B for histogram runs; A, baseline for exported
asymmetries; an optional extra relaxation λ), all sampled here.  Expected counts come
from :mod:`bayesmusr.model.forward`: N0 [d (1 + A P) + β_F] and N0 [d (1 − A P)/α + β_B]
with P = (1 − f) G e^{−λt} + f, α bayesmusr's detector balance of A = (F − αB)/(F + αB)
(Mantid's; musrfit's α is 1/α).  N0 is integrated out analytically with the prior 1/N0
(:func:`bayesmusr.model.likelihood.poisson_scale_marginal`) and redrawn from its Gamma
conditional for the outputs.  Asymmetry runs have a Gaussian likelihood.

The faster default of one-temperature fits integrates the nuisances out instead
(:class:`bayesmusr.model.scan.TemperaturePointProblem`); this problem is needed for
shared nuisances, an extra relaxation and priors on nuisances, and is the reference
the Laplace path is tested against.  Outside the EA table's support the posterior
density is zero (:func:`bayesmusr.model.rundata.ea_support_note` says where that is).

References
----------
Kubo & Toyabe (1967); Hayano et al., PRB 20, 850 (1979); Ito & Kadono (2024);
R. Kadono, ion jump motion as the background for muon diffusion (the EA function G^EA).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesmusr.model import likelihood as lk
from bayesmusr.model.forward import histogram_shapes, polarisation, relaxation
from bayesmusr.model.parameters import (
    PHYSICS_PARAMETERS,
    RUN_PARAMETERS,
    ParameterSet,
    Prior,
    canonical_model,
    parse_prior,
)
from bayesmusr.model.rundata import RunData, ea_support_note

__all__ = ["TemperatureProblem"]

@dataclasses.dataclass
class _Entry:
    name: str
    prior: Prior
    unit: str
    description: str
    run: int  # -1 for physics parameters


class TemperatureProblem:
    """Posterior of one model for the runs of one temperature.

    Parameters
    ----------
    runs : sequence of RunData
        The runs (ZF and LF); the physics parameters are shared.
    model : str
        ``"static_kt"``, ``"dynamic_kt"`` (or ``"kt"``), ``"ea"``.
    priors : mapping, optional
        Overrides ``{name: spec}`` (see :func:`parse_prior`).  Names are the
        physics names (``delta``, ``nu``, ``nu_i``, ``nu_mu``, ``q``), a
        nuisance name for every run (``a0``, ``alpha``, ``fbg``, ``lam``,
        ``bgf``, ``bgb``) or for one run (``a0_1``: run index 1).
    holder_fraction : bool
        Fit the non-relaxing fraction f per run (default True; False fixes f = 0).
    extra_relaxation : bool
        Fit an extra exponential relaxation λ per run (default False).
    count_background : bool
        Fit flat count backgrounds β_F, β_B per histogram run (default True).
    shared : sequence of str
        Per-run nuisances to share across all runs (one parameter named without
        the run suffix), e.g. ``("a0", "fbg")`` when ZF and LF runs see the same
        sample and holder.
    table : path, optional
        EA table (default: the shipped table).

    Notes
    -----
    The log-posterior is a function of a vector ``y`` in sampling coordinates
    (log x for log-uniform priors, x otherwise), ordered as :attr:`names`.
    The likelihood is stateless: every method is a pure function of ``y``.
    """

    def __init__(self, runs: Sequence[RunData], model: str = "dynamic_kt", priors: Mapping[str, Any] | None = None,
                 *, holder_fraction: bool = True, extra_relaxation: bool = False, count_background: bool = True,
                 shared: Sequence[str] = (), table=None):
        runs = list(runs)
        if not runs:
            raise ValueError("runs: expected at least one run")
        for r in runs:
            if not isinstance(r, RunData):
                raise ValueError(f"runs must be RunData objects (use RunData.from_run), got {type(r).__name__}")
        self.runs = runs
        self.model = canonical_model(model)
        self.table = table
        self.options = {"holder_fraction": bool(holder_fraction), "extra_relaxation": bool(extra_relaxation),
                        "count_background": bool(count_background)}
        self.shared = tuple(shared or ())
        self.entries, self._slots = self._declare(dict(priors or {}))
        self.params = ParameterSet([e.name for e in self.entries], [e.prior for e in self.entries])
        self.all_names, self.names, self.ndim = self.params.all_names, self.params.names, self.params.ndim
        self.log_coordinates = self.params.log  # sampled as log x (the result reports x)
        self.shear_rate = self.params.shear_rate  # sampled in sheared coordinates (inference/shear.py)
        self._index = {n: k for k, n in enumerate(self.all_names)}
        self._normal = self.params.normal
        self._n_phys = len(PHYSICS_PARAMETERS[self.model])
        # per-run precomputation
        self._decay = [r.decay() if r.kind == "histograms" else None for r in runs]
        self._counts = [np.concatenate([r.forward, r.backward]) if r.kind == "histograms" else None for r in runs]
        self._lgam = [lk.log_factorial_sum(c) if c is not None else 0.0 for c in self._counts]
        self._n_resid = sum(2 * r.n_obs if r.kind == "histograms" else r.n_obs for r in runs) + int(self._normal[0].size)

    def _declare(self, priors: dict):
        """Entries (physics, then per-run or shared nuisances) with their priors, and each run's slots."""
        entries = [_Entry(p.name, parse_prior(priors[p.name], p.name, p) if p.name in priors else p.default_prior(),
                          p.unit, p.description, -1) for p in PHYSICS_PARAMETERS[self.model]]
        used = {e.name for e in entries}
        known_run = {p.name for p, _, _ in RUN_PARAMETERS}
        bad = [n for n in self.shared if n not in known_run]
        if bad:
            raise ValueError(f"shared: {bad} are not per-run parameters; expected some of {sorted(known_run)}")
        slots = [dict.fromkeys(known_run, -1) for _ in self.runs]
        for i, r in enumerate(self.runs):
            for p, kinds, option in RUN_PARAMETERS:
                if r.kind in kinds:
                    slots[i][p.name] = self._nuisance_entry(entries, used, priors, p, option, i)
        unknown = set(priors) - used
        if unknown:
            raise ValueError(f"priors given for unknown parameters {sorted(unknown)}; "
                             f"known: {[e.name for e in entries]} and the per-run names without the _index suffix")
        return entries, slots

    def _nuisance_entry(self, entries, used, priors, p, option, i) -> int:
        """Index of run ``i``'s entry for nuisance ``p`` (one shared entry if ``p`` is shared), added if new."""
        shared = p.name in self.shared
        name = p.name if shared else f"{p.name}_{i}"
        names = [e.name for e in entries]
        if name in names:
            return names.index(name)
        run = self.runs[i]
        off = option is not None and not (self.options[option] and (option != "count_background"
                                                                     or run.count_background))
        pr = Prior("fixed", value=p.default) if off else p.default_prior()
        if p.name == "alpha" and run.alpha is not None and not shared:  # the run set-up fixes α
            pr = Prior("fixed", value=float(run.alpha))
        for key in (p.name,) if shared else (p.name, name):
            if key in priors:
                pr = parse_prior(priors[key], key, p)
                used.add(key)
        entries.append(_Entry(name, pr, p.unit, p.description + (" (shared by all runs)" if shared else ""),
                              -2 if shared else i))
        return len(entries) - 1

    # ----------------------------------------------------------- descriptions
    @property
    def physics_names(self) -> list[str]:
        """Names of the physics parameters of the model."""
        return [p.name for p in PHYSICS_PARAMETERS[self.model]]

    def support_note(self) -> str:
        """Words on where the EA table limits the support (empty for KT models).

        Returns
        -------
        str
        """
        return ea_support_note(self.runs, self.table) if self.model == "ea" else ""

    # ---------------------------------------------------------- coordinates
    def to_physical(self, y: np.ndarray) -> np.ndarray:
        """Full parameter vector (order :attr:`all_names`, fixed ones included) from ``y``.

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        ndarray
            Physical values, shape (len(all_names),).
        """
        return self.params.to_physical(y)

    def to_sampled(self, values: Mapping[str, float] | np.ndarray) -> np.ndarray:
        """Sampling vector ``y`` from physical values (mapping by name or a full vector).

        Parameters
        ----------
        values : mapping or ndarray
            ``{name: value}`` (the rest at :meth:`default_values`) or a vector ordered as :attr:`all_names`.

        Returns
        -------
        ndarray
            y, shape (ndim,).
        """
        if isinstance(values, Mapping):
            full = self.default_values()
            for k, v in values.items():
                if k not in self._index:
                    raise ValueError(f"unknown parameter {k!r}; known: {self.all_names}")
                full[self._index[k]] = float(v)
        else:
            full = np.asarray(values, dtype=float)
            if full.shape != (len(self.all_names),):
                raise ValueError(f"expected {len(self.all_names)} values ({self.all_names}), got shape {full.shape}")
        return self.params.to_sampled(full)

    def default_values(self) -> np.ndarray:
        """Full vector of declared defaults (fixed values where fixed), clipped into prior bounds.

        Returns
        -------
        ndarray
            Physical values, shape (len(all_names),).
        """
        out = np.empty(len(self.entries))
        decl = {p.name: p.default for p in PHYSICS_PARAMETERS[self.model]}
        decl.update({p.name: p.default for p, _, _ in RUN_PARAMETERS})
        for k, e in enumerate(self.entries):
            if e.prior.kind == "fixed":
                out[k] = e.prior.value
                continue
            base = e.name if e.run < 0 else e.name.rsplit("_", 1)[0]  # run -1: physics, -2: shared nuisance
            v = e.prior.mu if e.prior.kind == "normal" else decl[base]
            lo, hi = e.prior.lo, e.prior.hi
            span = hi - lo if math.isfinite(hi - lo) else 1.0
            out[k] = min(max(v, lo + 1e-3 * span), hi - 1e-3 * span) if e.prior.kind != "loguniform" else \
                min(max(v, lo * 1.01), hi / 1.01)
        return out

    def in_bounds(self, y: np.ndarray) -> bool:
        """True if ``y`` is inside the prior bounds.

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        bool
        """
        return self.params.in_bounds(y)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) bounds of the sampling coordinates."""
        return self.params.bounds[0].copy(), self.params.bounds[1].copy()

    def log_prior(self, y: np.ndarray) -> float:
        """Log prior density in sampling coordinates (up to a constant); −inf outside bounds.

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        float
        """
        return self.params.log_prior(y)

    def polarisations(self, x: np.ndarray) -> list[np.ndarray]:
        """P_r(t) of every run for a full physical vector ``x`` (raises ValueError off-table).

        Parameters
        ----------
        x : ndarray
            Full physical vector, shape (len(all_names),), ordered as :attr:`all_names`.

        Returns
        -------
        list of ndarray
            One P(t) = (1 − f) G e^{−λt} + f per run, shape (n_obs,).
        """
        theta = x[: self._n_phys]
        cache: dict[float, np.ndarray] = {}
        out = []
        for i, r in enumerate(self.runs):
            s = self._slots[i]
            key = (r.b_lf, id(r.t))
            g = cache.get(key)
            if g is None:
                g = relaxation(self.model, r.t, r.b_lf, theta, self.table)
                cache[key] = g
            f = x[s["fbg"]] if s["fbg"] >= 0 else 0.0
            lam = x[s["lam"]] if s["lam"] >= 0 else 0.0
            out.append(polarisation(g, f, lam, r.t))
        return out

    def shapes(self, x: np.ndarray, pols: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Per run: expected counts divided by N0 (forward then backward), or the model asymmetry.

        Parameters
        ----------
        x : ndarray
            Full physical vector, shape (len(all_names),), ordered as :attr:`all_names`.
        pols : list of ndarray, optional
            :meth:`polarisations` of ``x``, if already computed.

        Returns
        -------
        list of ndarray
            Shape (2 n_obs,) for histogram runs, (n_obs,) for asymmetry runs.
        """
        pols = self.polarisations(x) if pols is None else pols
        out = []
        for i, r in enumerate(self.runs):
            s = self._slots[i]
            a0 = x[s["a0"]]
            if r.kind == "asymmetry":
                out.append(a0 * pols[i] + x[s["base"]])
                continue
            bgf = x[s["bgf"]] if s["bgf"] >= 0 else 0.0
            bgb = x[s["bgb"]] if s["bgb"] >= 0 else 0.0
            mf, mb = histogram_shapes(self._decay[i], a0 * pols[i], x[s["alpha"]], bgf, bgb)
            out.append(np.concatenate([mf, mb]))
        return out

    def log_likelihood(self, y: np.ndarray) -> float:
        """Log-likelihood of all runs with N0 integrated out (histogram runs).

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        float
            −inf outside the EA table's support.
        """
        x = self.to_physical(y)
        try:
            shapes = self.shapes(x)
        except ValueError:
            return -math.inf  # outside the EA table's support
        total = 0.0
        for i, r in enumerate(self.runs):
            if r.kind == "asymmetry":
                total += lk.gaussian_loglike(r.asymmetry, shapes[i], r.error)
            else:
                total += lk.poisson_scale_marginal(self._counts[i], shapes[i], self._lgam[i])
        return float(total)

    def log_posterior(self, y: np.ndarray) -> float:
        """Log posterior (up to a constant) in sampling coordinates.

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        float
            −inf outside the prior bounds or the EA table's support.
        """
        lp = self.log_prior(y)
        if not math.isfinite(lp):
            return -math.inf
        ll = self.log_likelihood(y)
        return lp + ll if math.isfinite(ll) else -math.inf

    __call__ = log_posterior

    def residuals(self, y: np.ndarray) -> np.ndarray:
        """Residuals whose squared sum is −2 log posterior + const (for least-squares MAP search).

        Poisson deviance residuals sign(n − μ)√(2[n log(n/μ) − (n − μ)]) with
        N0 profiled (μ = N0̂ m, N0̂ = Σn/Σm — the same maximiser as the N0
        marginal), (y − a)/σ for asymmetry runs, and (y − μ)/σ for normal priors.
        Outside the EA table support every residual is 1e6.

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        ndarray
            Histogram runs (2 n_obs each), asymmetry runs (n_obs each), then normal priors.
        """
        y = np.asarray(y, dtype=float)
        x = self.to_physical(y)
        try:
            shapes = self.shapes(x)
        except ValueError:
            return np.full(self._n_resid, 1e6)
        parts = []
        for i, r in enumerate(self.runs):
            if r.kind == "asymmetry":
                parts.append((r.asymmetry - shapes[i]) / r.error)
                continue
            n, m = self._counts[i], shapes[i]
            if m.min() <= 0:
                return np.full(self._n_resid, 1e6)
            mu = m * (n.sum() / m.sum())
            with np.errstate(divide="ignore", invalid="ignore"):
                dev = 2.0 * (np.where(n > 0, n * np.log(n / mu), 0.0) - (n - mu))
            parts.append(np.sign(n - mu) * np.sqrt(np.maximum(dev, 0.0)))
        idx, mu_p, sd = self._normal
        if idx.size:
            parts.append((y[idx] - mu_p) / sd)
        return np.concatenate(parts)

    def conditional_n0(self, y: np.ndarray) -> list[tuple[float, float]]:
        """(shape, rate) of the Gamma conditional posterior of N0 per run ((nan, nan) for asymmetry runs).

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        list of (float, float)
            (Σn, Σm) per run, m the expected counts per unit N0.
        """
        x = self.to_physical(y)
        shapes = self.shapes(x)
        out = []
        for i, r in enumerate(self.runs):
            if r.kind == "asymmetry":
                out.append((math.nan, math.nan))
            else:
                out.append((float(self._counts[i].sum()), float(shapes[i].sum())))
        return out

    def draw_n0(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw of N0 per run from p(N0 | θ, data) = Gamma(Σn, Σm) (NaN for asymmetry runs).

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.
        rng : numpy.random.Generator

        Returns
        -------
        ndarray
            N0 (counts/bin) per run.
        """
        return np.array([rng.gamma(a, 1.0 / b) if math.isfinite(a) else math.nan for a, b in self.conditional_n0(y)])

    def profile_n0(self, y: np.ndarray) -> np.ndarray:
        """Maximum-likelihood N0 = Σn/Σm per run given the other parameters (NaN for asymmetry runs).

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.

        Returns
        -------
        ndarray
            N0 (counts/bin) per run.
        """
        return np.array([a / b if math.isfinite(a) else math.nan for a, b in self.conditional_n0(y)])

    def expected(self, y: np.ndarray, n0: np.ndarray | None = None) -> list[np.ndarray]:
        """Expected counts (forward then backward, concatenated) or model asymmetry per run.

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.
        n0 : ndarray, optional
            N0 per run (counts/bin); default the profile (maximum-likelihood) value.

        Returns
        -------
        list of ndarray
            Shape (2 n_obs,) counts for histogram runs, (n_obs,) asymmetry for asymmetry runs.
        """
        x = self.to_physical(y)
        shapes = self.shapes(x)
        n0 = self.profile_n0(y) if n0 is None else n0
        return [s if r.kind == "asymmetry" else n0[i] * s for i, (r, s) in enumerate(zip(self.runs, shapes))]

    def pointwise_log_likelihood(self, y: np.ndarray, n0: np.ndarray) -> list[np.ndarray]:
        """Per run, per time bin log-likelihood (forward + backward Poisson terms of a bin summed).

        Parameters
        ----------
        y : ndarray
            Sampling vector.
        n0 : ndarray
            N0 per run (from :meth:`draw_n0`).

        Returns
        -------
        list of ndarray
            One array of length ``run.n_obs`` per run; their total is the full
            (non-marginal) log-likelihood at (y, N0).
        """
        mus = self.expected(y, n0)
        out = []
        for i, r in enumerate(self.runs):
            if r.kind == "asymmetry":
                out.append(lk.gaussian_pointwise(r.asymmetry, mus[i], r.error))
            else:
                pw = lk.poisson_pointwise(self._counts[i], mus[i])
                out.append(pw[: r.n_obs] + pw[r.n_obs:])
        return out

    def simulate_observations(self, y: np.ndarray, n0: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Replicated data per run (Poisson counts, forward then backward; or Gaussian asymmetry).

        Parameters
        ----------
        y : ndarray
            Sampling coordinates, shape (ndim,): log x for log-uniform priors, x otherwise.
        n0 : ndarray
            N0 per run (counts/bin), e.g. from :meth:`draw_n0`.
        rng : numpy.random.Generator

        Returns
        -------
        list of ndarray
            Shaped as :meth:`expected`.
        """
        mus = self.expected(y, n0)
        out = []
        for r, mu in zip(self.runs, mus):
            out.append(rng.normal(mu, r.error) if r.kind == "asymmetry" else rng.poisson(mu).astype(float))
        return out

    def initial_guesses(self) -> list[np.ndarray]:
        """Starting points (sampling coordinates) for the MAP search: defaults plus a spread of physics values.

        Returns
        -------
        list of ndarray
            Shape (ndim,) each.
        """
        base = self.default_values()
        for i, r in enumerate(self.runs):
            ka = self._slots[i]["alpha"] if self._slots[i]["alpha"] >= 0 else None
            if r.kind == "histograms" and ka is not None and self.entries[ka].prior.kind != "fixed":
                pr = self.entries[ka].prior
                ratio = r.forward.sum() / max(r.backward.sum(), 1.0)  # ≈ α (both groups see the same decay)
                base[ka] = float(np.clip(ratio, pr.lo * 1.01, pr.hi / 1.01))
            k = self._slots[i]["a0"] if self._slots[i]["a0"] >= 0 else None
            if k is not None and self.entries[k].prior.kind != "fixed":
                a = r.early_asymmetry(base[ka] if ka is not None else 1.0)
                pr = self.entries[k].prior
                base[k] = float(np.clip(a if abs(a) > 0.01 else 0.2, max(pr.lo, -0.49), min(pr.hi, 0.49)))
        starts = [base]
        grids = {"delta": (0.1, 0.3, 0.8), "nu": (0.01, 0.3, 3.0), "nu_i": (0.05, 0.5, 5.0), "q": (0.3, 0.8)}
        pnames = self.physics_names
        free_phys = [n for n in pnames if self.entries[self._index[n]].prior.kind not in ("fixed", "normal")]

        combos = itertools.product(*[grids.get(n, (None,)) for n in free_phys])
        for combo in combos:
            v = base.copy()
            for n, val in zip(free_phys, combo):
                if val is None:
                    continue
                pr = self.entries[self._index[n]].prior
                v[self._index[n]] = min(max(val, pr.lo * 1.001 if pr.lo > 0 else pr.lo), pr.hi * 0.999)
            starts.append(v)
        return [self.to_sampled(s) for s in starts]
