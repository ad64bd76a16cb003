"""The PNG of one run file's asymmetry (``bayesmusr plot``): :func:`plot_run_file`."""
from __future__ import annotations

import os
import pathlib

import numpy as np

from bayesmusr.io.readers import read_run
from bayesmusr.report.figures import pyplot

__all__ = ["plot_run_file"]


def plot_run_file(path: str | os.PathLike, output: str | os.PathLike | None = None) -> pathlib.Path:
    """Write a PNG of a run's asymmetry with error bars.

    Histogram runs are grouped with their default forward/backward groups
    (file, histogram labels or instrument defaults), α = 1, dead-time corrected
    when the file gives dead times, period 1 of multi-period runs; bins are packed
    so that about 400 points are shown. Asymmetry-only runs are drawn as stored.

    Parameters
    ----------
    path : path
        Run file of any supported format.
    output : path, optional
        PNG to write; default: the run file's name with ``.png`` appended, in the
        current directory (never in the data folder).

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    path = pathlib.Path(path)
    run = read_run(path)
    if run.kind == "histograms":
        g = run.grouped(period=1)
        bunch = max(1, g.sizes["time"] // 400)
        asym = run.asymmetry(period=1, bunch=bunch)
        note = f"α = 1, packed ×{bunch}, dead time {'corrected' if asym.attrs['dead_time_corrected'] else 'not corrected'}"
    else:
        asym = run.asymmetry()
        note = "as exported"
    t, a, e = (asym[k].values for k in ("time", "asymmetry", "asymmetry_error"))
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
    if np.isfinite(a).any():
        lo, hi = np.nanpercentile(a, [0.5, 99.5])
        pad = 0.15 * (hi - lo) + 1e-3
        ax.set_ylim(lo - pad, hi + pad)
    fig.tight_layout()
    # never beside the run file: data folders are often shared or read-only
    out = pathlib.Path(output) if output is not None else pathlib.Path(path.name + ".png")
    fig.savefig(out)
    pyplot().close(fig)
    return out
