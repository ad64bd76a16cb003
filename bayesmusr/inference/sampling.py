"""The one emcee wrapper: MAP start, ensemble sampling to convergence, InferenceData.

Every sampler default lives in :data:`SAMPLER_DEFAULTS`.  The wrapper works on
any *problem* object with

* ``ndim``, ``names`` (sampled parameters), ``bounds`` (lower, upper arrays);
* ``log_posterior(y)`` (float, −inf outside the support);
* ``initial_guesses()`` (list of starting vectors for the MAP search);
* ``posterior_extras(y, rng, predictive)`` → (values dict, pointwise
  log-likelihood 1-D array, replicated observations dict or None);
* ``observed_data()`` → (dict of arrays, dims dict, coords dict),
  ``describe()`` → dict of attributes;
* optionally ``log_coordinates`` (bool array, ndim): which coordinates are the
  logarithm of the value the result reports (the R-hat/ESS goals are checked on
  the reported values: ArviZ's folded R-hat depends on the scale);
* optionally ``anchor(y)``: re-fix any internal deterministic state (the
  Newton reference of Laplace-marginalised nuisances) at ``y``; called at the
  MAP before the walkers start, and again at the stored MAP when a run resumes,
  so an interrupted chain continues exactly.

One-temperature fits (:func:`bayesmusr.workflows.temperature.fit_temperature`) pass
:class:`~bayesmusr.inference.adapters.MarginalAdapter` around
:class:`bayesmusr.model.scan.TemperaturePointProblem` (only the physics sampled,
per-run nuisances Laplace-marginalised; the default) or
:class:`~bayesmusr.inference.adapters.TemperatureAdapter` around
:class:`bayesmusr.model.temperature.TemperatureProblem` (every nuisance sampled); the
temperature-scan model is another problem.

Procedure
---------
1. MAP: the log-posterior at every starting guess, then L-BFGS-B
   (scipy.optimize) from the best few, in sampling coordinates.  A problem with
   ``anchor`` is re-anchored at the start of each local search (and at the
   Nelder-Mead result before L-BFGS-B), so its internal Newton solves start near
   the points being evaluated.
2. Start: walkers drawn from the Laplace approximation around the MAP
   (finite-difference Hessian; diagonal fallback), kept inside the support.
   A problem that names a ``shear_rate`` (the EA fit's ν_μ) is sampled in
   sheared coordinates found at the MAP (:mod:`bayesmusr.inference.shear`);
   the chain is returned, checked and stored in the result in its own.
3. emcee with a differential-evolution move mixture (DEMove 0.8,
   DESnookerMove 0.2), checked every ``check_every`` steps: stop when the
   chain is at least ``tau_multiple`` (50) integrated autocorrelation times
   long, the τ estimate changed by less than ``tau_rtol``, and the draws the
   result will keep (step 4) have split R-hat < ``rhat_goal`` and bulk ESS ≥
   ``ess_goal`` for every sampled parameter (ArviZ, each walker a chain, as the
   result's ``posterior`` group is read); otherwise stop
   at ``max_steps`` / ``max_seconds`` with a :class:`ConvergenceWarning` that
   gives the numbers.  Progress is shown against that target, the chain length
   in τ (:class:`SamplingProgress`): a bar on a terminal, a plain line every
   :data:`PROGRESS_EVERY` seconds otherwise (logs, batch jobs).
4. Burn-in 2 τ_max is dropped and the chain thinned to at most
   ``max_draws`` draws; pointwise log-likelihoods and posterior-predictive
   replicas are computed on the retained draws (storing them as emcee blobs
   for every step would cost gigabytes).
5. With ``backend=path`` the chain is written to emcee's HDF5 backend as it
   runs; calling again with the same path resumes from the last stored step
   (the MAP search is skipped) and the random state is restored, so a resumed
   run continues the same chain.
6. ``workers > 1`` evaluates the walkers' log-posteriors in that many forked
   processes (a ``multiprocessing`` pool; the problem is inherited by the
   workers at fork time, not pickled per call).  The proposals stay in the
   parent, so the chain is the same as with ``workers = 1``.  Where fork is
   not available (Windows) the run stays serial with a warning.

Walkers are the ``chain`` dimension of the InferenceData, as ``az.from_emcee``
does; R-hat across walkers is a check, not a proof, of convergence — the
autocorrelation criterion above is the primary one.  The number of walkers is
``nwalkers`` or max(``min_walkers``, 2 ndim + 2).
"""
from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import pathlib
import signal
import sys
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import emcee
import h5py
import numpy as np
from scipy.optimize import least_squares, minimize
from scipy.stats import chi2
from tqdm import tqdm

from bayesmusr.inference import compare
from bayesmusr.inference.backend import BufferedHDFBackend
from bayesmusr.inference.shear import LinearRate, Shear, ShearedProblem, shear_from_hessian

__all__ = ["SAMPLER_DEFAULTS", "PROGRESS_EVERY", "ConvergenceWarning", "SamplingProgress", "find_map", "sample",
           "laplace_covariance", "walkers", "retained", "draw_diagnostics"]

#: All sampler settings and their defaults (the only place they are set).
SAMPLER_DEFAULTS: dict[str, Any] = {
    "nwalkers": None,  # None: max(min_walkers, 2 ndim + 2), rounded up to even
    # 16, not 32: the retained draws are capped (max_draws), so 32 walkers keep ~31 draws each and
    # split R-hat over them scatters by ~0.006 about 1 however long the chain (issue 19,
    # docs/fitting.md "Speed"); 16 walkers halve the cost of a step at the same τ in steps
    "min_walkers": 16,
    "tau_multiple": 50.0,  # chain length required, in integrated autocorrelation times
    # and of the retained draws (what the result holds), for every sampled parameter:
    "rhat_goal": 1.01,  # rank-normalised split R-hat below this (ArviZ; None: not required)
    "ess_goal": 400,  # bulk ESS at least this (ArviZ; None: not required)
    "tau_rtol": 0.05,  # relative change of τ between checks counted as stable
    "check_every": 100,  # steps between convergence checks
    "min_steps": 500,
    "max_steps": 20000,
    "max_seconds": None,  # wall-clock budget for the MCMC part (None: unlimited)
    # retained draws (walkers × draws) after burn-in and thinning: the pointwise log-likelihood
    # (draws × bins) is nearly all of a result file; 1000 draws keep PSIS-LOO reliable up to k̂ 0.67
    # and the MCSE of a 95 % bound near 0.08 posterior SD (docs/fitting.md, "Result files")
    "max_draws": 1000,
    "n_predictive": 200,  # posterior-predictive replicas (subset of the draws)
    "map_starts": 3,  # L-BFGS-B runs from the best starting guesses
    "workers": 1,  # processes evaluating the log-posterior during MCMC (1: serial)
    "progress": True,
}


class ConvergenceWarning(UserWarning):
    """The chain stopped before it was ``tau_multiple`` autocorrelation times long."""


#: seconds between the plain progress lines written when stderr is not a terminal
PROGRESS_EVERY = 10.0


class SamplingProgress:
    """What the sampler shows while it runs: the chain length in autocorrelation times τ.

    The stopping rule is a chain ``tau_multiple`` τ_max long (with τ stable), so that is the
    target shown, not ``max_steps``, which is only a limit.  On a terminal a tqdm bar fills
    up to the target; otherwise (a log file, a batch job) a plain line is written every
    :data:`PROGRESS_EVERY` seconds.  Nothing is written when disabled.

    Parameters
    ----------
    enabled : bool
        Show progress at all (the ``progress`` setting).
    nwalkers : int
        Walkers, for the label.
    settings : mapping
        The merged sampler settings (``tau_multiple``, ``min_steps``, ``max_steps``, ``check_every``).
    start : int
        Steps already in the chain (a resumed backend).
    stream : file-like, optional
        Where to write (default ``sys.stderr`` at construction).
    """

    def __init__(self, enabled: bool, nwalkers: int, settings: Mapping[str, Any], start: int = 0, stream=None):
        self.stream = sys.stderr if stream is None else stream
        self.enabled, self.s, self.start = bool(enabled), settings, start
        self.label = f"emcee {nwalkers} walkers"
        self.tau_max, self.stable, self.step = math.nan, False, start
        self.short = ""  # what the kept draws lack (R-hat, ESS) once the τ target is reached
        self.t0 = self.last = time.monotonic()
        isatty = getattr(self.stream, "isatty", None)
        self.bar = None
        if self.enabled and isatty is not None and isatty():
            # the bar fills to the τ target; the status (steps, τ, time to go) is the description
            self.bar = tqdm(total=float(settings["tau_multiple"]), file=self.stream, leave=False,
                            bar_format=self.label + ": {percentage:3.0f}% |{bar:20}| {desc}")
            self.bar.set_description_str(self.status(), refresh=True)
        elif self.enabled:
            self._line(f"sampling until the chain is {settings['tau_multiple']:g} autocorrelation times long"
                       f"{_draw_goals(settings)} (at least {settings['min_steps']} steps, "
                       f"at most {settings['max_steps']})")

    def status(self) -> str:
        """The progress in words: steps, chain length in τ against the target, time to go.

        Returns
        -------
        str
        """
        s = self.s
        if not math.isfinite(self.tau_max):
            first = max(2 * s["check_every"], self.start + s["check_every"])
            return f"step {self.step}; τ not estimated yet (first estimate at step {first})"
        need = max(s["min_steps"], math.ceil(s["tau_multiple"] * self.tau_max))
        text = (f"step {self.step}: chain {self.step / self.tau_max:.1f} τ of {s['tau_multiple']:g} needed "
                f"(τ_max {self.tau_max:.0f} steps{'' if self.stable else ', still changing'})")
        if self.short and need <= self.step:
            return text + f"; kept draws: {self.short}, sampling on"
        done = self.step - self.start
        if need > self.step and done > 0:
            left = (min(need, s["max_steps"]) - self.step) * (time.monotonic() - self.t0) / done
            text += f", ~{_duration(left)} to {'the target' if need <= s['max_steps'] else 'max_steps'} at this τ"
        return text

    def update(self, step: int) -> None:
        """Record that the chain has ``step`` steps (called every step; writes at most every few seconds).

        Parameters
        ----------
        step : int
            Steps in the chain.
        """
        self.step = step
        if not self.enabled:
            return
        now = time.monotonic()
        if self.bar is not None:
            if now - self.last > 0.5:
                self.last = now
                self.bar.set_description_str(self.status(), refresh=True)
        elif now - self.last >= PROGRESS_EVERY:
            self.last = now
            self._line(self.status())

    def checked(self, tau_max: float, stable: bool) -> None:
        """Record a convergence check: the current τ_max (steps) and whether it is stable.

        Parameters
        ----------
        tau_max : float
            Largest integrated autocorrelation time estimate (steps).
        stable : bool
            τ changed by less than ``tau_rtol`` since the previous check.
        """
        self.tau_max, self.stable = float(tau_max), bool(stable)
        if self.bar is not None and math.isfinite(self.tau_max) and self.tau_max > 0:
            self.bar.n = min(self.step / self.tau_max, float(self.s["tau_multiple"]))
            self.bar.set_description_str(self.status(), refresh=True)

    def close(self, outcome: str) -> None:
        """Remove the bar, or write the final line.

        Parameters
        ----------
        outcome : str
            How sampling ended (written as the last plain line).
        """
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            self._line(outcome)

    def _line(self, text: str) -> None:
        print(f"{self.label}: {text}", file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


# ------------------------------------------------------------------------ MAP
# ------------------------------------------------------------------ interrupts
class _Interrupts:
    """Ctrl-C (SIGINT) or SIGTERM while sampling only sets ``requested``; :func:`_checkpoint` turns it into a
    KeyboardInterrupt at safe points (between emcee steps, optimiser evaluations, retained draws).  Raised
    asynchronously it used to surface inside emcee's likelihood wrapper (a printed traceback) or a numba
    kernel (a SystemError, exit 1).  A second signal before a checkpoint interrupts at once."""

    requested = False
    deadline = math.inf  # perf_counter() after which the MAP search stops (max_seconds)


def _on_signal(signum, frame):  # pragma: no cover - exercised through a subprocess in the tests
    if _Interrupts.requested:
        raise KeyboardInterrupt
    _Interrupts.requested = True


@contextlib.contextmanager
def deferred_interrupts():
    """Defer SIGINT/SIGTERM to the next checkpoint while the block runs (main thread only; else a no-op).

    Returns
    -------
    contextlib.AbstractContextManager
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, _on_signal)
    try:
        yield
        _checkpoint()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        _Interrupts.requested = False


def _checkpoint() -> None:
    """Raise the deferred KeyboardInterrupt, if a signal came; :class:`_OutOfTime` past the MAP deadline."""
    if _Interrupts.requested:
        _Interrupts.requested = False
        raise KeyboardInterrupt
    if time.perf_counter() > _Interrupts.deadline:
        raise _OutOfTime


class _OutOfTime(Exception):
    """The ``max_seconds`` budget ran out during the MAP search (the best point so far is used)."""


#: evaluations of the MAP objective between re-anchorings of the problem at the best point so far
REANCHOR_EVERY = 50


def _objective(problem):
    """−log p for the optimisers, re-anchoring the problem (``anchor``) at its best point every few calls.

    A local search walks away from where it was anchored, and the Newton solves of Laplace-marginal
    nuisances slow down with the distance (measured: 1.1 ms per evaluation in the EA MAP search
    against 0.36 ms near the anchor); following the best point cut that search from 2.7 to 1.1 s
    with the same optimum (log p equal to 1e-8).  The objective stays a deterministic function of
    the sequence of points evaluated.
    """
    best = {"value": math.inf, "y": None, "calls": 0}

    def f(y):
        _checkpoint()
        v = problem.log_posterior(y)
        value = -v if math.isfinite(v) else 1e30
        if value < best["value"]:
            best["value"], best["y"] = value, np.array(y, dtype=float)
        best["calls"] += 1
        if best["calls"] % REANCHOR_EVERY == 0:
            _reanchor(problem, best["y"])
        return value

    return f


def _checked(fn):
    """``fn`` with a :func:`_checkpoint` before every call."""
    def wrapped(*args):
        _checkpoint()
        return fn(*args)
    return wrapped


def find_map(problem, starts: Sequence[np.ndarray] | None = None, n_best: int | None = None):
    """Maximum a posteriori point in sampling coordinates.

    Parameters
    ----------
    problem
        A problem object (module docstring).
    starts : sequence of ndarray, optional
        Starting vectors (default ``problem.initial_guesses()``).
    n_best : int, optional
        L-BFGS-B runs from this many best starts (default ``map_starts``).

    Returns
    -------
    y_map : ndarray
    log_post : float
    """

    starts = list(problem.initial_guesses() if starts is None else starts)
    n_best = SAMPLER_DEFAULTS["map_starts"] if n_best is None else n_best
    lo, hi = problem.bounds
    scored = sorted(((problem.log_posterior(s), i) for i, s in enumerate(starts)), reverse=True)
    scored = [(v, i) for v, i in scored if math.isfinite(v)]
    if not scored:
        raise ValueError("no starting point has a finite posterior density; check the priors against the data "
                         "(and, for EA, the table support)")
    best_y, best_v = None, -math.inf
    try:
        for _, i in scored[:n_best]:  # each local search follows its own best point (_objective)
            best_y, best_v = _refine(problem, _objective(problem), starts[i], lo, hi, best_y, best_v)
    except _OutOfTime:
        warnings.warn("max_seconds ran out during the MAP search: sampling starts from the best point so far",
                      RuntimeWarning, stacklevel=3)
        if best_y is None:  # not one local search finished: the best starting point
            best_y, best_v = np.clip(starts[scored[0][1]], lo, hi), scored[0][0]
    return best_y, float(best_v)


def _reanchor(problem, y) -> None:
    """Move a problem's internal Newton reference (``anchor``) to ``y``, if it has one.

    Laplace-marginal problems start every nuisance solve from a fixed reference; left at the first
    starting guess, each solve far from it took hundreds of damped steps (profiled: 18 ms per
    evaluation in the MAP search against 0.5 ms near the reference, 1/3 of a one-temperature fit).
    """
    anchor = getattr(problem, "anchor", None)
    if anchor is not None and y is not None:
        anchor(np.asarray(y, dtype=float))


def _refine(problem, f, start, lo, hi, best_y, best_v):
    """One local optimisation from ``start``; returns the better of it and (best_y, best_v)."""
    resid = getattr(problem, "residuals", None)
    y = np.clip(start, lo, hi)
    _reanchor(problem, y)
    if resid is not None:
        # Gauss-Newton-type trust region on residuals whose squares sum to −2 log posterior
        res = least_squares(_checked(resid), y, bounds=(lo, hi), method="trf", x_scale="jac",
                            ftol=1e-10, xtol=1e-10, gtol=1e-10, max_nfev=200 * (y.size + 1))
        y = res.x
    else:
        # Laplace-marginal log-posteriors are sums of ~1e8-sized terms with a rounding noise of
        # ~1e-6, which makes L-BFGS-B's forward differences on 1e-8 steps useless (measured: it
        # stopped after one iteration, 36 log-units below the optimum, on a 4-parameter EA
        # problem).  Low-dimensional problems go through Nelder-Mead first; L-BFGS-B then uses
        # central differences on 1e-4 steps (relative to max(1, |y|)); the best point is kept.
        cands = []
        if y.size <= 10:
            res = minimize(f, y, method="Nelder-Mead", bounds=list(zip(lo, hi)),
                           options={"xatol": 1e-5, "fatol": 1e-5, "maxfev": 400 * (y.size + 1),
                                    "adaptive": True})
            y = np.clip(res.x, lo, hi)
            cands.append(y)
            _reanchor(problem, y)
        for _ in range(2):  # restart once: L-BFGS-B's memory can stall on curved valleys
            res = minimize(f, y, method="L-BFGS-B", jac="3-point", bounds=list(zip(lo, hi)),
                           options={"maxiter": 3000, "maxfun": 60000, "ftol": 1e-12, "gtol": 1e-7,
                                    "finite_diff_rel_step": 1e-4})
            y = res.x
            cands.append(y)
        y = min(cands, key=f)
    v = problem.log_posterior(y)
    return (y, v) if v > best_v else (best_y, best_v)


def _curvature_scale(problem, y0, f0, j, lo, hi):
    """Conditional SD of coordinate j at y0 from a 1-D second difference (adaptive step)."""
    span = hi[j] - lo[j]
    h = 1e-4 * (span if math.isfinite(span) else 1.0)
    sigma = math.nan
    for _ in range(6):
        if y0[j] - h >= lo[j] and y0[j] + h <= hi[j]:
            pts = (-h, 0.0, h)
        elif y0[j] + 2 * h <= hi[j]:
            pts = (0.0, h, 2 * h)
        else:
            pts = (-2 * h, -h, 0.0)
        vals = []
        for d in pts:
            y = y0.copy()
            y[j] += d
            vals.append(problem.log_posterior(y) if d != 0.0 else f0)
        c = -(vals[0] - 2 * vals[1] + vals[2]) / h**2
        if not (math.isfinite(c) and c > 0):
            h *= 0.1
            continue
        sigma = 1.0 / math.sqrt(c)
        if 0.1 < sigma / h < 10:
            break
        h = min(sigma, 0.25 * span) if math.isfinite(span) else sigma
    return sigma if math.isfinite(sigma) else 1e-3 * (span if math.isfinite(span) else 1.0)


def laplace_covariance(problem, y_map: np.ndarray, log_post: float | None = None):
    """Covariance of the Laplace approximation at ``y_map`` (finite differences).

    Parameters
    ----------
    problem
        A problem object (module docstring).
    y_map : ndarray, shape (ndim,)
        MAP in sampling coordinates.
    log_post : float, optional
        log-posterior at ``y_map`` (computed if not given).

    Returns
    -------
    centre : ndarray, shape (ndim,)
        ``y_map`` moved at least one step inside the bounds.
    cov : ndarray, shape (ndim, ndim)
        Inverse negative Hessian, or the diagonal of conditional variances if
        the Hessian is not negative definite.
    """
    lo, hi = problem.bounds
    f0 = problem.log_posterior(y_map) if log_post is None else log_post
    n = y_map.size
    s = np.array([_curvature_scale(problem, y_map, f0, j, lo, hi) for j in range(n)])
    # a wide conditional SD near a bound (the hierarchical spread τ_Δ at its lower bound, MAP of a funnel) must not
    # push the stencil centre out of the box: steps are at most a tenth of the prior range
    span = np.where(np.isfinite(hi - lo), hi - lo, np.inf)
    h = np.minimum(0.5 * s, 0.1 * span)
    c = np.clip(y_map, lo + 1.01 * h, hi - 1.01 * h)
    fc = problem.log_posterior(c)
    H = np.empty((n, n))
    # a stencil point outside the support gives −inf − (−inf) = nan: then the diagonal fallback below
    with np.errstate(invalid="ignore"):
        _fill_hessian(problem, c, fc, h, H)
    cov = np.diag(s**2)
    if np.all(np.isfinite(H)):
        try:
            cand = np.linalg.inv(-H)
            np.linalg.cholesky(cand)
            cov = 0.5 * (cand + cand.T)
        except np.linalg.LinAlgError:
            pass
    return c, cov


def _fill_hessian(problem, c, fc, h, H):
    """Central-difference Hessian of the log-posterior at ``c`` with steps ``h`` (into ``H``)."""
    n = c.size
    for j in range(n):
        _checkpoint()
        ej = np.zeros(n)
        ej[j] = h[j]
        fp, fm = problem.log_posterior(c + ej), problem.log_posterior(c - ej)
        H[j, j] = (fp - 2 * fc + fm) / h[j] ** 2
        for k in range(j):
            ek = np.zeros(n)
            ek[k] = h[k]
            v = (problem.log_posterior(c + ej + ek) - problem.log_posterior(c + ej - ek)
                 - problem.log_posterior(c - ej + ek) + problem.log_posterior(c - ej - ek))
            H[j, k] = H[k, j] = v / (4 * h[j] * h[k])


#: the starting walkers of a sheared chain have log p within ½ χ²_ndim(TYPICAL_SET) of the MAP's
TYPICAL_SET = 0.999


def _initial_walkers(problem, centre, cov, nwalkers, rng, floor=None):
    """Walkers drawn around the MAP point from its Laplace covariance, shrunk until they land inside the support.

    A MAP point near an edge of the support (a prior bound, the EA table's Δ range) can leave most of a
    full-covariance ball outside it; the ball then shrinks (by up to 10⁴ in scale) rather than giving up:
    the ensemble spreads out again within its first autocorrelation times.  With ``floor``, a walker must
    also have log p ≥ floor (a sheared chain's typical set, see `run_chain`).
    """
    lo, hi = problem.bounds
    if not math.isfinite(problem.log_posterior(centre)):
        raise ValueError("the MAP search ended at a point of zero posterior density; check the priors and the data "
                         "window (for EA: the EA table's support note)")
    # a direction the data do not constrain (flat posterior: a huge Laplace variance) is spread over at
    # most a quarter of its prior range, correlations kept; otherwise no scale of the ball fits the box
    sd = np.sqrt(np.maximum(np.diag(cov), 1e-300))
    shrink = np.minimum(1.0, 0.25 * (hi - lo) / sd)
    cov = cov * np.outer(shrink, shrink)
    out = []
    for scale in (1.0, 0.1, 1e-2, 1e-4, 1e-6, 1e-8):
        for _ in range(20 * nwalkers):
            _checkpoint()
            y = rng.multivariate_normal(centre, scale * cov)
            if not (np.all(y > lo) and np.all(y < hi)):
                continue
            lp = problem.log_posterior(y)
            if math.isfinite(lp) and (floor is None or lp >= floor):
                out.append(y)
                if len(out) == nwalkers:
                    return np.array(out)
    raise ValueError("could not place walkers with finite posterior density around the MAP point, even in a ball "
                     "10⁴ times narrower than its Laplace width")


# -------------------------------------------------------------------- sampling
#: what each sampler setting must be: (integer?, smallest value, None allowed?) — checked before any work
_SETTING_RULES = {
    "nwalkers": (True, 4, True), "min_walkers": (True, 4, False), "tau_multiple": (False, 1.0, False),
    "rhat_goal": (False, 1.0, True), "ess_goal": (False, 1.0, True), "tau_rtol": (False, 0.0, False),
    "check_every": (True, 10, False), "min_steps": (True, 1, False), "max_steps": (True, 1, False),
    "max_seconds": (False, 0.0, True), "max_draws": (True, 10, False), "n_predictive": (True, 0, False),
    "map_starts": (True, 1, False), "workers": (True, 1, False),
}


def _settings(overrides: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(SAMPLER_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown sampler settings {sorted(unknown)}; known: {sorted(SAMPLER_DEFAULTS)}")
    s = dict(SAMPLER_DEFAULTS)
    s.update({k: v for k, v in overrides.items()})
    for name, (integer, least, optional) in _SETTING_RULES.items():
        v = s[name]
        if v is None and optional:
            continue
        number = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        if not number or not math.isfinite(v) or v < least or (integer and v != int(v)):
            kind = "a whole number" if integer else "a number"
            raise ValueError(f"sampler setting {name} = {v!r}: expected {kind} >= {least:g}"
                             + (" (or none)" if optional else ""))
        s[name] = int(v) if integer else float(v)
    if not isinstance(s["progress"], bool):
        raise ValueError(f"sampler setting progress = {s['progress']!r}: expected true or false")
    return s


def check_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Validate sampler settings (names, types, ranges) before any work; the merged settings.

    Parameters
    ----------
    settings : mapping
        Keys of :data:`SAMPLER_DEFAULTS`.

    Returns
    -------
    dict
        :data:`SAMPLER_DEFAULTS` updated with ``settings``; ValueError naming the setting otherwise.
    """
    return _settings(settings)


def _open_backend(path, names, nwalkers, ndim):

    path = pathlib.Path(path)
    existing = path.exists()
    backend = BufferedHDFBackend(str(path), name="mcmc")
    if existing and backend.initialized:
        with h5py.File(path, "r") as h:
            stored = [s.decode() if isinstance(s, bytes) else str(s) for s in h.attrs.get("bayesmusr_names", [])]
        if stored and stored != list(names):
            raise ValueError(f"backend {path}: it holds a chain of parameters {stored}, not {list(names)}; "
                             "use another backend file or delete it")
        chain, logp = backend.get_chain(), backend.get_log_prob()
        if not (np.all(np.isfinite(chain)) and np.all(np.isfinite(logp) | (logp == -np.inf))):
            raise ValueError(f"backend {path}: its stored chain holds NaN or infinite values (a damaged file); "
                             "delete it to sample afresh, or give another backend")
        if backend.shape != (nwalkers, ndim):
            raise ValueError(f"backend {path}: shape {backend.shape} (walkers, parameters) differs from "
                             f"({nwalkers}, {ndim}); use another backend file or the same nwalkers")
    return backend, existing and backend.initialized and backend.iteration > 0


def _tag_backend(path, names):

    with h5py.File(path, "a") as h:
        h.attrs["bayesmusr_names"] = np.array([n.encode() for n in names])


_POOL_PROBLEM = None  # the problem of the running pool; forked workers inherit it


def _pool_log_posterior(y):
    return _POOL_PROBLEM.log_posterior(y)


@contextlib.contextmanager
def _process_pool(problem, workers):
    """A fork-based process pool whose workers evaluate ``problem.log_posterior`` (None if serial)."""
    global _POOL_PROBLEM
    if workers == 1:
        yield None
        return

    try:
        ctx = mp.get_context("fork")
    except ValueError:
        warnings.warn("workers > 1 needs the 'fork' start method, not available here; sampling serially",
                      RuntimeWarning, stacklevel=4)
        yield None
        return
    _POOL_PROBLEM = problem
    pool = ctx.Pool(workers, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))  # the parent
    # handles Ctrl-C; workers that caught it too would print their own tracebacks
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()
        _POOL_PROBLEM = None


def run_chain(problem, *, seed: int = 0, backend: str | pathlib.Path | None = None, **settings):
    """Run emcee to convergence (or the step/time limit).

    Parameters
    ----------
    problem
        A problem object (module docstring).
    seed : int
        Random seed (walker start, emcee's random state).
    backend : path, optional
        emcee HDF5 backend file; an existing one is resumed (MAP search skipped).
    **settings
        Any key of :data:`SAMPLER_DEFAULTS`.

    Returns
    -------
    dict
        ``chain`` (steps, walkers, ndim), ``log_prob`` (steps, walkers),
        ``tau`` (ndim), ``converged``, ``n_steps``, ``acceptance`` (walkers),
        ``y_map``, ``log_post_map``, ``seconds``, ``mcmc_seconds``, ``resumed``,
        ``message``, ``nwalkers``, ``settings`` (the merged settings).
    """
    s = _settings(settings)
    ndim = problem.ndim
    nwalkers = walkers(s, ndim)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    be, resumed = (None, False)
    if backend is not None:
        be, resumed = _open_backend(backend, problem.names, nwalkers, ndim)
    y_map, lp_map, p0, shear = None, math.nan, None, None
    anchor = getattr(problem, "anchor", None)
    if not resumed:
        # max_seconds bounds the MAP search too (a slow or pathological posterior must not run unbounded)
        _Interrupts.deadline = t_start + s["max_seconds"] if s["max_seconds"] is not None else math.inf
        try:
            y_map, lp_map = find_map(problem, n_best=s["map_starts"])
        finally:
            _Interrupts.deadline = math.inf
        if anchor is not None:
            lp_map = anchor(y_map)
        centre, cov = laplace_covariance(problem, y_map, lp_map)
        shear = _fit_shear(problem, y_map, lp_map, cov)
        # sheared: walkers only inside the posterior's typical set.  The Laplace ball spreads log ν_μ over a
        # quarter of its prior (its plateau has a huge Laplace variance), and a walker started at a large ν_μ
        # is, in sheared coordinates, far from all others: on bench_fit's seed 1 the ensemble took ~600
        # steps to gather, which doubled τ estimated over the chain (62 → 25 steps without its first 600)
        floor = None if shear is None else lp_map - 0.5 * chi2.ppf(TYPICAL_SET, problem.ndim)
        p0 = _initial_walkers(problem, centre, cov, nwalkers, rng, floor)
    else:

        with h5py.File(backend, "r") as h:
            if "bayesmusr_map" in h.attrs:
                y_map = np.asarray(h.attrs["bayesmusr_map"])
                lp_map = float(h.attrs["bayesmusr_map_logp"])
            if "bayesmusr_shear" in h.attrs:  # the resumed chain continues in its own coordinates
                shear = Shear(int(h.attrs["bayesmusr_shear_rate"]), np.asarray(h.attrs["bayesmusr_shear"], float))
        if anchor is not None and y_map is not None:
            anchor(y_map)  # the same internal reference as the interrupted run
    sampled = problem if shear is None else ShearedProblem(problem, shear)
    # anchored before the fork: every worker evaluates the same function as the parent
    with _process_pool(sampled, s["workers"]) as pool:
        return _run_emcee(problem, s, nwalkers, rng, be, backend, resumed, y_map, lp_map, t_start, p0, pool, sampled)


def _fit_shear(problem, y_map, lp_map, cov) -> Shear | None:
    """The sheared sampling coordinates of a problem with ``shear_rate``, from its curvature at the MAP (or None)."""
    m = getattr(problem, "shear_rate", None)
    if m is None:
        return None
    view = LinearRate(problem, m)
    h = view.steps(y_map, np.sqrt(np.maximum(np.diag(cov), 0.0)))
    if h is None:
        return None
    H = np.empty((y_map.size, y_map.size))
    with np.errstate(invalid="ignore"):  # a stencil point outside the support: nan, then no shear
        _fill_hessian(view, view.point(y_map), lp_map, h, H)
    return shear_from_hessian(H, m)


def _problem_chain(sampler, shear) -> np.ndarray:
    """The stored chain (steps, walkers, ndim) in the problem's coordinates."""
    chain = sampler.get_chain()
    return chain if shear is None else shear.to_problem(chain)


def _autocorr_time(sampler, shear) -> np.ndarray:
    """Integrated autocorrelation time of each parameter in the problem's coordinates (what the result keeps)."""
    if shear is None:
        return sampler.get_autocorr_time(tol=0)
    return emcee.autocorr.integrated_time(_problem_chain(sampler, shear), tol=0)


def _moves():
    """emcee's move mixture (compared on the benchmark posteriors: docs/fitting.md, "Speed, issue 19")."""
    return [(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]


def _run_emcee(problem, s, nwalkers, rng, be, backend, resumed, y_map, lp_map, t_start, p0, pool, sampled):

    ndim = problem.ndim
    moves = _moves()
    shear = sampled.shear if isinstance(sampled, ShearedProblem) else None  # else: the problem itself
    fn = sampled.log_posterior if pool is None else _pool_log_posterior
    sampler = emcee.EnsembleSampler(nwalkers, ndim, fn, moves=moves, backend=be, pool=pool)
    if not resumed:
        sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
        if backend is not None:
            _tag_backend(backend, problem.names)
        state = p0 if shear is None else shear.to_sampled(p0)
    else:
        state = sampler.get_last_sample()
    if backend is not None and not resumed:

        with h5py.File(backend, "a") as h:
            h.attrs["bayesmusr_map"] = y_map
            h.attrs["bayesmusr_map_logp"] = lp_map
            if shear is not None:
                h.attrs["bayesmusr_shear_rate"] = shear.m
                h.attrs["bayesmusr_shear"] = shear.b
    t_mcmc = time.perf_counter()
    progress = SamplingProgress(s["progress"], nwalkers, s, start=sampler.iteration)
    try:
        tau, converged, message = _sample_to_target(problem, sampler, shear, state, s, progress, t_mcmc)
    except BaseException:
        progress.close(f"interrupted at step {sampler.iteration}")
        raise
    finally:
        if be is not None:
            be.flush()  # the steps held in memory (backend.py), also when interrupted: the work is kept
    n_steps = sampler.iteration
    if not np.all(np.isfinite(tau)):
        tau = _autocorr_time(sampler, shear)
    tmax = float(np.max(tau))
    progress.close(f"{'converged' if converged else 'stopped'} at step {n_steps}: chain {n_steps / tmax:.1f} τ "
                   f"(τ_max {tmax:.0f} steps; {s['tau_multiple']:g} τ needed)")
    if not converged:
        # long enough but τ still moving (or the draws short of R-hat/ESS): say so, rather than
        # "50 τ are required" of a 60 τ chain
        why = (f"{s['tau_multiple']:g} τ are required" if n_steps < s["tau_multiple"] * tmax else
               "the retained draws fall short of the R-hat/ESS goals" if "goal" in message else
               f"τ still changed by more than {100 * s['tau_rtol']:g} % between the last checks")
        message = (message or f"reached max_steps={s['max_steps']}") + (
            f": the chain is {n_steps} steps = {n_steps / tmax:.1f} autocorrelation times (τ_max = {tmax:.0f}, "
            f"parameter {problem.names[int(np.argmax(tau))]}); {why}. "
            "Posterior intervals may be unreliable: run again with the same backend file and a larger "
            "max_steps to continue the chain.")
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
    return {
        "chain": _problem_chain(sampler, shear), "log_prob": sampler.get_log_prob(), "tau": np.asarray(tau),
        "converged": converged, "n_steps": n_steps, "acceptance": sampler.acceptance_fraction,
        "y_map": y_map, "log_post_map": lp_map, "seconds": time.perf_counter() - t_start,
        "mcmc_seconds": time.perf_counter() - t_mcmc, "resumed": resumed, "message": message,
        "nwalkers": nwalkers, "settings": s, "shear": shear,
    }


def walkers(settings: Mapping[str, Any], ndim: int) -> int:
    """The number of walkers: ``nwalkers``, or max(``min_walkers``, 2 ndim + 2); rounded up to even.

    Parameters
    ----------
    settings : mapping
        Merged sampler settings (:data:`SAMPLER_DEFAULTS`).
    ndim : int
        Sampled parameters.

    Returns
    -------
    int
    """
    n = settings["nwalkers"] or max(settings["min_walkers"], 2 * ndim + 2)
    return int(n + n % 2)


def retained(n_steps: int, nwalkers: int, tau_max: float, max_draws: int) -> tuple[int, int]:
    """(burn-in, thinning) of the draws a result keeps: 2 τ_max discarded, at most ``max_draws`` kept.

    Parameters
    ----------
    n_steps, nwalkers : int
        Chain shape.
    tau_max : float
        Largest autocorrelation time (steps).
    max_draws : int
        Most draws (walkers × draws) kept.

    Returns
    -------
    tuple of int
        Steps dropped at the start, and the step between kept draws.
    """
    burn = min(int(math.ceil(2 * tau_max)), n_steps // 2)
    return burn, max(1, int(math.ceil(nwalkers * (n_steps - burn) / max_draws)))


def draw_diagnostics(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank-normalised split R-hat and bulk ESS (ArviZ) per parameter of ``draws``.

    Parameters
    ----------
    draws : ndarray
        (draws, walkers, ndim); each walker is one chain, as in the result's ``posterior`` group.

    Returns
    -------
    tuple of ndarray
        R-hat and bulk ESS, one per parameter.
    """
    az = compare._az()
    per_chain = np.moveaxis(draws, 0, 1)  # (walkers, draws, ndim)
    rhat = np.array([az.rhat(per_chain[..., k]) for k in range(draws.shape[2])], float)
    ess = np.array([az.ess(per_chain[..., k], method="bulk") for k in range(draws.shape[2])], float)
    return rhat, ess


def _draws_met(problem, sampler, shear, tau_max, s) -> tuple[bool, str]:
    """Whether the draws a result would keep now meet ``rhat_goal`` and ``ess_goal``; and what fell short.

    Checked on the values the result reports (exp of log coordinates): the bulk R-hat and ESS are
    rank-based, but the folded (tail) R-hat is not invariant under a change of scale.
    """
    if s["rhat_goal"] is None and s["ess_goal"] is None:
        return True, ""
    chain = _problem_chain(sampler, shear)
    burn, thin = retained(len(chain), chain.shape[1], tau_max, s["max_draws"])
    kept = chain[burn::thin].copy()
    log = getattr(problem, "log_coordinates", None)
    if log is not None:
        kept[..., log] = np.exp(kept[..., log])
    rhat, ess = draw_diagnostics(kept)
    short = []
    if s["rhat_goal"] is not None and not np.all(rhat < s["rhat_goal"]):
        short.append(f"split R-hat {np.nanmax(rhat):.4f} (goal < {s['rhat_goal']:g})")
    if s["ess_goal"] is not None and not np.all(ess >= s["ess_goal"]):
        short.append(f"bulk ESS {np.nanmin(ess):.0f} (goal >= {s['ess_goal']:g})")
    return not short, " and ".join(short)


def _draw_goals(s) -> str:
    """The R-hat/ESS goals in words (empty when neither is set)."""
    goals = ([f"split R-hat < {s['rhat_goal']:g}"] if s["rhat_goal"] is not None else []) + (
        [f"bulk ESS ≥ {s['ess_goal']:g}"] if s["ess_goal"] is not None else [])
    return f" and its kept draws have {' and '.join(goals)}" if goals else ""


def _sample_to_target(problem, sampler, shear, state, s, progress, t_mcmc):
    """Advance the chain, checking τ every ``check_every`` steps; returns (τ, converged, stop message).

    Converged: ``tau_multiple`` τ long with τ stable, and the retained draws meet the R-hat and
    ESS goals (checked only once τ is met: ArviZ is not cheap enough to run at every check).
    """
    tau = np.full(sampler.ndim, np.inf)
    old_tau, short = tau, ""
    while sampler.iteration < s["max_steps"]:
        n = min(s["check_every"] - sampler.iteration % s["check_every"], s["max_steps"] - sampler.iteration)
        for state in sampler.sample(state, iterations=n, progress=False, store=True):
            progress.update(sampler.iteration)
            _checkpoint()  # the backend holds every finished step
        if sampler.iteration >= 2 * s["check_every"]:
            tau = _autocorr_time(sampler, shear)
            tmax = float(np.max(tau))
            stable = bool(np.all(np.abs(tau - old_tau) < s["tau_rtol"] * tau))
            old_tau = tau
            progress.checked(tmax, stable)
            if sampler.iteration >= max(s["min_steps"], s["tau_multiple"] * tmax) and stable:
                met, short = _draws_met(problem, sampler, shear, tmax, s)
                progress.short = short
                if met:
                    return tau, True, ""
        if s["max_seconds"] is not None and time.perf_counter() - t_mcmc > s["max_seconds"]:
            return tau, False, f"stopped by max_seconds={s['max_seconds']}" + (f"; {short}" if short else "")
    return tau, False, (f"reached max_steps={s['max_steps']} with {short}" if short else "")


def sample(problem, *, seed: int = 0, backend: str | pathlib.Path | None = None, out: str | pathlib.Path | None = None,
           attrs: Mapping[str, Any] | None = None, **settings):
    """Sample a problem's posterior and return ArviZ InferenceData.

    Parameters
    ----------
    problem
        A problem object (module docstring).
    seed : int
        Seed of every random number used (MAP jitter, walkers, N0 draws, replicas).
    backend : path, optional
        emcee HDF5 backend file; an existing one is resumed.
    out : path, optional
        Write the InferenceData as netCDF here.
    attrs : mapping, optional
        More posterior attributes (e.g. the fit specification), stored with the sampler's own.
    **settings
        Any key of :data:`SAMPLER_DEFAULTS`.

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior``, ``log_likelihood`` (variable ``y`` on dimension ``obs``, one
        entry per time bin of every run), ``posterior_predictive``,
        ``observed_data`` and ``sample_stats`` (``lp``; attributes: τ per
        parameter, converged, steps, burn-in, thinning, acceptance, timing, MAP).
    """
    with deferred_interrupts():
        res = run_chain(problem, seed=seed, backend=backend, **settings)
    s = res["settings"]
    logp, tau = res["log_prob"], res["tau"]
    n_steps, nw = logp.shape
    tmax = float(np.max(tau)) if np.all(np.isfinite(tau)) else n_steps / 10
    burn, thin = retained(n_steps, nw, tmax, s["max_draws"])
    keep = res["chain"][burn::thin]  # (draws, walkers, ndim)
    with deferred_interrupts():
        posterior, pointwise, pp = _retained_outputs(problem, keep, np.random.default_rng([seed, 1]),
                                                     s["n_predictive"])
    observed, obs_dims, obs_coords = problem.observed_data()
    tau_eff = tau if np.all(np.isfinite(tau)) else np.full_like(tau, np.nan)
    all_attrs = {
        **problem.describe(),
        "sampler": "emcee EnsembleSampler, moves " + " + ".join(f"{type(m).__name__} {w:g}" for m, w in _moves()),
        "nwalkers": nw, "n_steps": n_steps, "burn_in": burn, "thin": thin,
        "tau_names": list(problem.names), "tau": tau_eff.tolist(), "tau_max": tmax,
        "chain_length_in_tau": n_steps / tmax if tmax > 0 else math.nan,
        "tau_multiple_required": s["tau_multiple"], "converged": int(res["converged"]),
        "convergence_message": res["message"] or "converged",
        "acceptance_fraction_mean": float(np.mean(res["acceptance"])),
        "seconds_total": res["seconds"], "seconds_mcmc": res["mcmc_seconds"], "resumed": int(res["resumed"]),
        "seed": seed,
        "sampled_coordinates": ("the parameters' own" if res["shear"] is None
                                else res["shear"].describe(problem.names)),
        "map_names": list(problem.names),
        "map_sampling_coordinates": [] if res["y_map"] is None else np.asarray(res["y_map"]).tolist(),
        "map_log_posterior": res["log_post_map"],
        **(attrs or {}),
    }
    stats = {"lp": np.ascontiguousarray(res["log_prob"][burn::thin].T)}
    idata = compare.make_inference_data(posterior, pointwise, pp, observed, obs_dims, obs_coords, stats, all_attrs,
                                        pp_dims=problem.predictive_dims())
    if out is not None:
        compare.save(idata, out)
    return idata


def _retained_outputs(problem, keep, rng, n_predictive):
    """Posterior values, pointwise log-likelihoods and predictive replicas of the retained draws.

    ``keep`` is (draws, walkers, ndim); replicas are made for about ``n_predictive`` draws,
    evenly spread.  Returns (posterior dict of (walker, draw) arrays, pointwise (walker, draw, obs),
    predictive dict of (walker, replica, n) arrays).
    """
    nd, nw = keep.shape[:2]
    n_pred = max(1, min(nd, int(math.ceil(n_predictive / nw))))
    pred_every = max(1, nd // n_pred)
    posterior: dict[str, np.ndarray] = {}
    pointwise = None
    predictive: dict[str, list] = {}
    for d in range(nd):
        _checkpoint()
        for w in range(nw):
            want = d % pred_every == 0 and d // pred_every < n_pred
            vals, pw, rep = problem.posterior_extras(keep[d, w], rng, predictive=want)
            for k, v in vals.items():
                posterior.setdefault(k, np.empty((nw, nd)))[w, d] = v
            if pointwise is None:
                pointwise = np.empty((nw, nd, pw.size))
            pointwise[w, d] = pw
            for k, v in (rep or {}).items():
                predictive.setdefault(k, []).append((w, v))
    pp = {}
    for k, items in predictive.items():
        arr = np.empty((nw, n_pred, items[0][1].size))
        counters = np.zeros(nw, int)
        for w, v in items:
            arr[w, counters[w]] = v
            counters[w] += 1
        pp[k] = arr
    return posterior, pointwise, pp
