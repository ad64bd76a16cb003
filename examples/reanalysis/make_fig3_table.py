"""A published-style KT table of Kadono's Fig. 3 parameters, made as a paper's table is made.

EA physics: Δ = 0.3 μs⁻¹, Q = 0.8, ν_i0 = 5×10¹² s⁻¹, E_i = 0.35 eV, ν_μ0 = 2×10⁶ s⁻¹,
E_μ = 0.02 eV (``bayesmusr.inference.conventional.KADONO``).  At each temperature ZF and LF 1 mT
spectra on Kadono's window (500 bins of 0.04 μs) get pulsed-source counting noise
σ(t) = 0.02 e^{t/2τ_μ} (2 % of the full polarisation per 0.04 μs bin at t = 0), and a global dynamic-KT χ² fit of each pair gives the printed row
(``bayesmusr.model.simulate.simulate_published_table``).  The table is written to
``fig3_published.csv`` beside this script; ``fig3.toml`` reanalyses it:

    .venv/bin/python examples/reanalysis/make_fig3_table.py
    .venv/bin/bayesmusr reanalyse examples/reanalysis/fig3.toml
"""
import math
import pathlib

import numpy as np

from bayesmusr.inference.conventional import KADONO
from bayesmusr.model.kt_reading import ReadingConditions
from bayesmusr.model.simulate import simulate_published_table

HERE = pathlib.Path(__file__).resolve().parent
TRUTH = {"delta": KADONO["delta"], "q": KADONO["q"], "log10_nu_i0": math.log10(KADONO["nu_i0_per_s"]),
         "e_i": KADONO["e_i_eV"], "log10_nu_mu0": math.log10(KADONO["nu_mu0_per_s"]), "e_mu": KADONO["e_mu_eV"]}
TEMPERATURES = np.array([50.0, 100.0, 150.0, 200.0, 220.0, 240.0, 260.0, 280.0, 300.0, 320.0, 340.0, 360.0, 380.0,
                         400.0])


def main() -> pathlib.Path:
    table = simulate_published_table(TRUTH, TEMPERATURES, ReadingConditions(fields_mT=(0.0, KADONO["b_lf_mT"])),
                                     sigma0=0.02, rng=np.random.default_rng(20261203), source="Kadono Fig. 3 (simulated)")
    path = HERE / "fig3_published.csv"
    lines = ["# Kadono Fig. 3 parameters, simulated and KT-fitted as a paper would (make_fig3_table.py)",
             "# truth: " + ", ".join(f"{k} = {v:.6g}" for k, v in TRUTH.items()),
             "temperature_K,delta_kt,delta_kt_err,nu_kt,nu_kt_err"]
    for row in zip(table.temperature, table.delta_kt, table.delta_kt_err, table.nu_kt, table.nu_kt_err):
        lines.append(",".join("" if not np.isfinite(v) else f"{v:.6g}" for v in row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(main().read_text())
