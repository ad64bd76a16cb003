"""The main job on embedded default data (``make demo`` / ``bayesmusr demo``).

1. The full temperature-scan analysis (:func:`bayesmusr.job.run_analysis`)
   of the embedded simulated ZF + LF scan ``examples/data/scan`` with
   ``examples/demo_analysis.toml``: EA scan model, KT reading, LOO comparison,
   figures and ``report.md``.  If the scan files are missing (a non-editable
   install), they are regenerated, bit for bit, by
   ``examples/make_demo_scan.py``'s seeded generator.
2. The relaxation-function gallery (KT family) as a figure and netCDF file.
"""
from __future__ import annotations

import pathlib
import runpy
import time

import numpy as np
import xarray as xr

from bayesmusr.job import run_analysis
from bayesmusr.physics.kt import dynamic_kt, keren, static_kt

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run_demo(out: str | pathlib.Path = "demo-output", progress: bool = True) -> pathlib.Path:
    """Run the scan analysis of the embedded data and the KT gallery into ``out``.

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder (created if needed).
    progress : bool
        Show progress bars.

    Returns
    -------
    pathlib.Path
        The output folder.
    """

    out = pathlib.Path(out)
    config = EXAMPLES / "demo_analysis.toml"
    if not config.exists():
        raise FileNotFoundError(f"{config} not found: the demo needs the repository's examples/ folder")
    scan = EXAMPLES / "data" / "scan" / "runs.toml"
    if not scan.exists():

        print("embedded scan missing: regenerating it (seeded, identical files)")
        runpy.run_path(str(EXAMPLES / "make_demo_scan.py"), run_name="bayesmusr_demo")["make_scan"](scan.parent)
    run_analysis(config, out_dir=out, progress=progress)
    kt_gallery(out)
    return out


def kt_gallery(out: str | pathlib.Path) -> pathlib.Path:
    """Compute the KT family and write PNG + netCDF into ``out``.

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder (created if needed) for ``kt_family.png`` and ``kt_family.nc``.

    Returns
    -------
    pathlib.Path
        The output folder.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = np.linspace(0.0, 20.0, 2001)
    delta = 0.3
    rates = [0.0, 0.1, 0.3, 1.0, 3.0]
    curves = {}
    t0 = time.perf_counter()
    for b in (0.0, 1.0):
        for nu in rates:
            curves[("dynamic_kt", b, nu)] = dynamic_kt(t, delta, nu, b)
        curves[("keren", b, 3.0)] = keren(t, delta, 3.0, b)
    elapsed = time.perf_counter() - t0

    ds = xr.Dataset(
        {
            "dynamic_kt": (("b_lf", "nu", "time"),
                           np.array([[curves[("dynamic_kt", b, nu)] for nu in rates] for b in (0.0, 1.0)])),
            "static_kt": (("b_lf", "time"), np.array([static_kt(t, delta, b) for b in (0.0, 1.0)])),
        },
        coords={"time": ("time", t, {"units": "us"}), "nu": ("nu", rates, {"units": "1/us"}),
                "b_lf": ("b_lf", [0.0, 1.0], {"units": "mT"})},
        attrs={"delta_per_us": delta, "description": "Kubo-Toyabe family computed by bayesmusr demo"},
    )
    ds.to_netcdf(out / "kt_family.nc")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, b in zip(axes, (0.0, 1.0)):
        for nu in rates:
            ax.plot(t, curves[("dynamic_kt", b, nu)], label=f"dynamic KT ν = {nu:g} μs⁻¹")
        ax.plot(t, curves[("keren", b, 3.0)], "k--", lw=1, label="Keren, ν = 3 μs⁻¹")
        ax.set_title(f"Δ = {delta} μs⁻¹, {'ZF' if b == 0 else f'LF {b:g} mT'}")
        ax.set_xlabel("t (μs)")
        ax.axhline(1 / 3, color="grey", lw=0.5)
    axes[0].set_ylabel("G_z(t)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    png = out / "kt_family.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    print(f"computed {len(curves)} relaxation curves of 2001 points in {elapsed:.2f} s")
    print(f"figure: {png}")
    print(f"data:   {out / 'kt_family.nc'}")
    return out
