"""The PNG of one run file's asymmetry (``bayesmusr plot``): :func:`plot_run_file`."""
from __future__ import annotations

import os
import pathlib

import numpy as np

from bayesmusr.io.readers import read_run
from bayesmusr.io.setup import RunSetup
from bayesmusr.report.figures import pyplot

__all__ = ["plot_run_file"]


def plot_run_file(path: str | os.PathLike, output: str | os.PathLike | None = None, setup: RunSetup | None = None,
                  y_range: tuple[float, float] | None = None) -> pathlib.Path:
    """Write a PNG of a run's asymmetry with error bars, reduced as its set-up says.

    Histogram runs are grouped as ``setup`` says (default: the file's or the instrument's
    forward/backward groups), with its α (default 1; musrfit's converted), dead-time mode,
    period (default 1), pre-t0 or fixed background subtraction and packing (default: about 400
    points in the window).  ``setup.t_min``/``t_max`` bound the time axis.  Asymmetry-only runs
    are drawn as stored.

    Parameters
    ----------
    path : path
        Run file of any supported format.
    output : path, optional
        PNG to write; default: the run file's name with ``.png`` appended, in the
        current directory (never in the data folder).
    setup : RunSetup, optional
        The run set-up (:mod:`bayesmusr.io.setup`).
    y_range : (float, float), optional
        Asymmetry axis limits; default from the data shown (0.5–99.5 percentiles, padded).

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    path = pathlib.Path(path)
    setup = setup or RunSetup()
    run = setup.apply(read_run(path))
    t, a, e, note = _asymmetry(run, setup)
    fig, ax = pyplot().subplots(figsize=(7, 4.5), dpi=120)
    ax.errorbar(t, a, yerr=e, fmt="o", ms=2.5, lw=0.7, capsize=0, color="tab:blue")
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel("time after t0 (μs)")
    ax.set_ylabel("asymmetry (F − αB)/(F + αB)" if run.kind == "histograms" else "asymmetry")
    at = run.attrs
    temp, field = at.get("temperature_K", np.nan), at.get("field_mT", np.nan)
    ax.set_title(f"{path.name}: run {at.get('run_number')} {at.get('instrument') or ''} {at.get('sample') or ''}, "
                 f"T = {'?' if not np.isfinite(temp) else f'{temp:.1f}'} K, "
                 f"{'?' if not np.isfinite(field) else f'{field:g}'} mT {at.get('geometry') or ''}", fontsize=9)
    ax.text(0.99, 0.98, note, transform=ax.transAxes, ha="right", va="top", fontsize=8, color="0.3")
    if y_range is not None:
        ax.set_ylim(*y_range)
    elif np.isfinite(a).any():
        lo, hi = np.nanpercentile(a, [0.5, 99.5])
        pad = 0.15 * (hi - lo) + 1e-3
        ax.set_ylim(lo - pad, hi + pad)
    fig.tight_layout()
    # never beside the run file: data folders are often shared or read-only
    out = pathlib.Path(output) if output is not None else pathlib.Path(path.name + ".png")
    fig.savefig(out)
    pyplot().close(fig)
    return out


def _asymmetry(run, setup: RunSetup):
    """(t, A, σ_A, note) of the run in the set-up's window."""
    if run.kind == "histograms":
        period = setup.period or "1"
        groups, dt = setup.groups, setup.dead_time_mode
        g = run.grouped(groups, dead_time=dt, period=period)
        window = (g["time"].values >= (setup.t_min or 0.0)) & (g["time"].values <= (setup.t_max or np.inf))
        bunch = setup.bunch or max(1, int(window.sum()) // 400)
        alpha = setup.alpha_bayesmusr or 1.0
        bg = setup.background if isinstance(setup.background, tuple) else setup.background_fix
        asym = run.asymmetry(groups, alpha=alpha, dead_time=dt, background=bg, period=period, bunch=bunch)
        note = (f"α = {alpha:.4g}, period {period}, packed ×{bunch}, dead time "
                f"{'corrected' if asym.attrs['dead_time_corrected'] else 'not corrected'}"
                + (", background subtracted" if bg is not None else ""))
    else:
        asym, note = run.asymmetry(), "as exported"
    t, a, e = (asym[k].values for k in ("time", "asymmetry", "asymmetry_error"))
    sel = (t >= (setup.t_min or -np.inf)) & (t <= (setup.t_max or np.inf))
    if not sel.any():
        raise ValueError(f"{run.source}: no points in the time window [{setup.t_min}, {setup.t_max}] μs")
    return t[sel], a[sel], e[sel], note
