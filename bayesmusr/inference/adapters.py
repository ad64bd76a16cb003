"""Adapters that give the model layer's posterior problems the interface of :func:`bayesmusr.inference.sampling.sample`.

:class:`TemperatureAdapter` wraps a problem whose every nuisance is sampled;
:class:`MarginalAdapter` one whose run nuisances are Laplace-marginalised, drawing them
from their conditionals for the outputs.  Both add pointwise log-likelihoods (LOO),
posterior-predictive replicas and the observed data of the result.
"""
from __future__ import annotations

import numpy as np

from bayesmusr.model import likelihood as lk
from bayesmusr.model.forward import asymmetry_shape
from bayesmusr.model.parameters import N0_PARAMETER, RUN_PARAMETERS, Prior
from bayesmusr.model.rundata import ea_support_note
from bayesmusr.model.temperature import TemperatureProblem
from bayesmusr.physics.tables import load_table

__all__ = ["TemperatureAdapter", "MarginalAdapter"]


# -------------------------------------------------------- one temperature
class TemperatureAdapter:
    """Wrap a :class:`~bayesmusr.model.temperature.TemperatureProblem` for :func:`.sampling.sample`."""

    def __init__(self, problem: TemperatureProblem):
        self.p = problem
        self.ndim = problem.ndim
        self.names = problem.names
        self.bounds = problem.bounds
        self.log_coordinates = problem.log_coordinates
        self.shear_rate = problem.shear_rate
        self.log_posterior = problem.log_posterior
        self.initial_guesses = problem.initial_guesses
        self.residuals = problem.residuals
        self._hist = [i for i, r in enumerate(problem.runs) if r.kind == "histograms"]

    def posterior_extras(self, y, rng, predictive):
        """Physical values (all free parameters and N0 per histogram run), pointwise log-lik, replicas.

        Parameters
        ----------
        y : numpy.ndarray, shape (ndim,)
            Sampled coordinates of one draw.
        rng : numpy.random.Generator
            Source of the N0 (and nuisance) draws and replicas.
        predictive : bool
            Also draw posterior-predictive replicas.

        Returns
        -------
        values : dict of str to float
            Physical parameter values of the draw.
        pointwise : numpy.ndarray, shape (n_obs,)
            Log-likelihood of every time bin of every run (the ``obs`` dimension).
        replicas : dict of str to numpy.ndarray or None
            ``asymmetry_i`` or ``forward_i``/``backward_i`` per run; None unless ``predictive``.
        """
        p = self.p
        x = p.to_physical(y)
        vals = {n: x[k] for k, n in enumerate(p.all_names) if p.entries[k].prior.kind != "fixed"}
        n0 = p.draw_n0(y, rng)
        for i in self._hist:
            vals[f"n0_{i}"] = n0[i]
        pw = np.concatenate(p.pointwise_log_likelihood(y, n0))
        rep = None
        if predictive:
            reps = p.simulate_observations(y, n0, rng)
            rep = {}
            for i, (r, v) in enumerate(zip(p.runs, reps)):
                if r.kind == "asymmetry":
                    rep[f"asymmetry_{i}"] = v
                else:
                    rep[f"forward_{i}"] = v[: r.n_obs]
                    rep[f"backward_{i}"] = v[r.n_obs:]
        return vals, pw, rep

    def predictive_dims(self):
        """Dimension names of the posterior-predictive variables.

        Returns
        -------
        dict of str to list of str
            ``{variable: [f"time_{i}"]}`` per replica variable.
        """
        return _predictive_dims(self.p.runs)

    def observed_data(self):
        """Observed arrays, their dims and coordinates (per-run time axes, and the flat ``obs`` index).

        Returns
        -------
        data : dict of str to numpy.ndarray
            Counts or asymmetries, errors, bin widths per run, and ``obs_run``/``obs_time``.
        dims : dict of str to list of str
            Dimension names of each variable.
        coords : dict of str to numpy.ndarray
            ``time_i`` axes (μs).
        """
        return _observed_data(self.p.runs)

    def describe(self):
        """Attributes recorded in the result: model, runs, fields, options, priors.

        Returns
        -------
        dict
            netCDF attributes (str, float or lists of them).
        """
        p = self.p
        d = {
            "bayesmusr_result": "temperature",
            "model": p.model,
            "physics_parameters": p.physics_names,
            "run_labels": [r.label for r in p.runs],
            "run_kinds": [r.kind for r in p.runs],
            "run_fields_mT": [float(r.b_lf) for r in p.runs],
            "priors": [f"{e.name}: {e.prior.describe()}" for e in p.entries],
            "units": [f"{e.name}: {e.unit}" for e in p.entries] + [f"n0: {N0_PARAMETER.unit}"],
            "nuisances": "sampled",
            "likelihood": ("Poisson on forward/backward histograms, N0 integrated out (prior 1/N0) and "
                           "redrawn from Gamma(Σn, Σm) per draw; Gaussian on asymmetry runs"),
            "options": [f"{k}={v}" for k, v in p.options.items()],
        }
        if p.model == "ea":
            d["ea_support"] = p.support_note()

            d["ea_table"] = str(load_table(p.table).path)
        return d


def _predictive_dims(runs):
    out = {}
    for i, r in enumerate(runs):
        for n in (["asymmetry"] if r.kind == "asymmetry" else ["forward", "backward"]):
            out[f"{n}_{i}"] = [f"time_{i}"]
    return out


def _observed_data(runs):
    """Observed arrays of one temperature; ``obs`` = one entry per time bin of every run (LOO unit)."""
    data, dims, coords = {}, {}, {}
    run_of, time_of = [], []
    for i, r in enumerate(runs):
        coords[f"time_{i}"] = r.t
        if r.kind == "asymmetry":
            data[f"asymmetry_{i}"], data[f"asymmetry_error_{i}"] = r.asymmetry, r.error
            dims[f"asymmetry_{i}"] = dims[f"asymmetry_error_{i}"] = [f"time_{i}"]
        else:
            data[f"forward_{i}"], data[f"backward_{i}"] = r.forward, r.backward
            data[f"bin_width_{i}"] = r.width
            for n in ("forward", "backward", "bin_width"):
                dims[f"{n}_{i}"] = [f"time_{i}"]
        run_of.append(np.full(r.n_obs, i))
        time_of.append(r.t)
    data["obs_run"] = np.concatenate(run_of)
    data["obs_time"] = np.concatenate(time_of)
    dims["obs_run"] = dims["obs_time"] = ["obs"]
    return data, dims, coords


class MarginalAdapter:
    """Wrap a :class:`~bayesmusr.model.scan.TemperaturePointProblem` for :func:`.sampling.sample`.

    Only the physics parameters are sampled; every run's nuisances are
    Laplace-marginalised inside the log-posterior.  For the outputs, each
    retained draw θ gets nuisance values drawn from their Laplace conditional
    N(η̂(θ), (−∇²ℓ)⁻¹) (exact for asymmetry runs, whose nuisances enter
    linearly) and N0 from its Gamma(Σn, Σs) conditional, so the posterior holds
    ``a0_i``, ``alpha_i``, ``fbg_i``, ``bgf_i``, ``bgb_i``, ``n0_i`` (or
    ``a0_i``, ``base_i`` for asymmetry runs) as :class:`TemperatureAdapter`
    does; the pointwise log-likelihood (one term per time bin, forward and
    backward summed) and the replicas use those joint draws.
    """

    #: output names of HistogramNuisances' (A, ρ, f, β_F, β_B); ρ is reported as α = 1/ρ
    _HIST_NAMES = ("a0", "alpha", "fbg", "bgf", "bgb")

    def __init__(self, problem):
        self.p = problem
        self.ndim = problem.ndim
        self.names = problem.names
        self.bounds = problem.bounds
        self.log_coordinates = problem.log_coordinates
        self.shear_rate = problem.shear_rate
        self.log_posterior = problem.log_posterior
        self.initial_guesses = problem.initial_guesses
        self.runs = problem.points[0].runs
        self.blocks = problem.blocks[0]

    def anchor(self, y):
        """Re-anchor every run's Newton reference at the nuisance optimum of ``y``.

        Parameters
        ----------
        y : numpy.ndarray, shape (ndim,)
            Sampled coordinates (normally the MAP).

        Returns
        -------
        float
            log p(y), the log-posterior at ``y``.
        """
        return self.p.anchor(y)

    def posterior_extras(self, y, rng, predictive):
        """Physics values, nuisance draws and N0 per run, pointwise log-likelihood, replicas.

        Parameters
        ----------
        y, rng, predictive
            As :meth:`TemperatureAdapter.posterior_extras`.

        Returns
        -------
        values, pointwise, replicas
            As :meth:`TemperatureAdapter.posterior_extras`; ``values`` includes the nuisance draws.
        """

        x = self.p._physical(y)
        vals = self.p._sampled_values(x)
        gs = self.p._polarisations(x)[0]
        pw, rep = [], ({} if predictive else None)
        for i, (r, blk, g) in enumerate(zip(self.runs, self.blocks, gs)):
            eta = blk.conditional_draw(g, rng)
            if r.kind == "asymmetry":
                vals[f"a0_{i}"] = eta[0]
                if blk.holder:
                    vals[f"base_{i}"] = eta[1]
                mu = asymmetry_shape(eta[0], g, eta[1])
                pw.append(lk.gaussian_pointwise(r.asymmetry, mu, r.error))
                if predictive:
                    rep[f"asymmetry_{i}"] = rng.normal(mu, r.error)
                continue
            sf, sb = blk.shapes(g, eta)
            n0 = rng.gamma(blk.n_total, 1.0 / (sf.sum() + sb.sum()))
            for k in np.flatnonzero(blk.free):
                name = self._HIST_NAMES[k]
                vals[f"{name}_{i}"] = 1.0 / eta[k] if name == "alpha" else eta[k]
            vals[f"n0_{i}"] = n0
            mf, mb = n0 * sf, n0 * sb
            pw.append(lk.poisson_pointwise(r.forward, mf) + lk.poisson_pointwise(r.backward, mb))
            if predictive:
                rep[f"forward_{i}"] = rng.poisson(np.maximum(mf, 0.0)).astype(float)
                rep[f"backward_{i}"] = rng.poisson(np.maximum(mb, 0.0)).astype(float)
        return vals, np.concatenate(pw), rep

    def predictive_dims(self):
        """Dimension names of the posterior-predictive variables.

        Returns
        -------
        dict of str to list of str
            ``{variable: [f"time_{i}"]}`` per replica variable.
        """
        return _predictive_dims(self.runs)

    def observed_data(self):
        """Observed arrays, dims and coordinates, as :meth:`TemperatureAdapter.observed_data`.

        Returns
        -------
        tuple of (dict, dict, dict)
            ``(data, dims, coords)``, see :meth:`TemperatureAdapter.observed_data`.
        """
        return _observed_data(self.runs)

    def _nuisance_priors(self) -> list[str]:
        """``name_i: prior`` of every run's nuisances as the Laplace step integrates them (declared defaults;
        α fixed where the run set-up fixes it), so that results and prior-edge notes know their bounds."""
        out = []
        for i, r in enumerate(self.runs):
            if r.kind != "histograms":  # an asymmetry run's amplitudes are integrated over flat, unbounded priors
                continue
            for q, kinds, option in RUN_PARAMETERS:
                off = option is not None and not self.p.options.get(option, False)
                if r.kind not in kinds or off or (option == "count_background" and not r.count_background):
                    continue
                pr = Prior("fixed", value=r.alpha) if q.name == "alpha" and r.alpha is not None else q.default_prior()
                out.append(f"{q.name}_{i}: {pr.describe()}")
        return out

    def describe(self):
        """Attributes recorded in the result: model, runs, fields, options, priors, nuisance treatment.

        Returns
        -------
        dict
            netCDF attributes (str, float or lists of them).
        """

        p = self.p
        run_units = [f"{q.name}: {q.unit}" for q, _, _ in RUN_PARAMETERS]
        d = {
            "bayesmusr_result": "temperature",
            "model": p.model,
            "physics_parameters": [q.name for q in p.declared],
            "run_labels": [r.label for r in self.runs],
            "run_kinds": [r.kind for r in self.runs],
            "run_fields_mT": [float(r.b_lf) for r in self.runs],
            "temperature_K": float(p.temperatures[0]),
            "priors": [f"{q.name}: {pr.describe()}" for q, pr in zip(p.declared, p.priors)]
                      + self._nuisance_priors()
                      + ["per-run nuisances: their declared default priors (Laplace in logit coordinates inside the prior bounds), N0: 1/N0"],
            "units": [f"{q.name}: {q.unit}" for q in p.declared] + run_units + [f"n0: {N0_PARAMETER.unit}"],
            "nuisances": "laplace",
            "likelihood": ("Poisson on forward/backward histograms (Gaussian for asymmetry runs); per-run "
                           "nuisances (A, α, f, β_F, β_B; or A, baseline) integrated out by the Laplace method "
                           "(exactly for asymmetry runs), N0 analytically; only the physics is sampled. "
                           "Nuisance and N0 values are draws from their conditionals at each physics draw."),
            "options": [f"{k}={v}" for k, v in p.options.items()],
        }
        if p.model == "ea":

            d["ea_support"] = ea_support_note(self.runs, p.table)
            d["ea_table"] = str(load_table(p.table).path)
        return d


