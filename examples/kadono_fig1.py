# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Kadono Fig. 1 — the jump rates assumed for the simulation
#
# Ion and muon jump rates from the Arrhenius laws of Kadono's Eqs. (2)–(3),
#
# ν_i(T) = ν_i0 exp(−E_i/k_BT), ν_i0 = 5×10¹² s⁻¹, E_i = 0.35 eV;
# ν_μ(T) = ν_μ0 exp(−E_μ/k_BT), ν_μ0 = 2×10⁶ s⁻¹, E_μ = 0.02 eV,
#
# against 1000/T (semi-log), with a linear-scale inset over 10–400 K.  Rates are
# in μs⁻¹ (= MHz).  The dotted line marks ν = 3√QΔ (Δ = 0.3 μs⁻¹, Q = 0.8),
# where Kadono places T*; the temperature at which ν_i crosses it is printed
# and written to ``kadono_fig1.json``.
#
# Run headless: ``python examples/kadono_fig1.py`` (figures go to
# ``$BAYESMUSR_EXAMPLES_OUT``, default ``examples/output``).

# %%
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _kadono import DELTA, Q, output_dir, write_results

from bayesmusr.inference.conventional import KADONO, arrhenius
from bayesmusr.physics.kt import K_B_EV

# %%
temperature = np.linspace(10.0, 400.0, 1000)
nu_i = arrhenius(temperature, KADONO["nu_i0_per_s"], KADONO["e_i_eV"])
nu_mu = arrhenius(temperature, KADONO["nu_mu0_per_s"], KADONO["e_mu_eV"])
nu_star = 3.0 * math.sqrt(Q) * DELTA
# ν_i(T) = ν_star solved for T
t_star = KADONO["e_i_eV"] / (K_B_EV * math.log(KADONO["nu_i0_per_s"] * 1e-6 / nu_star))
# temperature where the two rates are equal
t_equal = (KADONO["e_i_eV"] - KADONO["e_mu_eV"]) / (
    K_B_EV * math.log(KADONO["nu_i0_per_s"] / KADONO["nu_mu0_per_s"]))
print(f"3√QΔ = {nu_star:.3f} μs⁻¹; ν_i = 3√QΔ at T = {t_star:.1f} K (Kadono's T*)")
print(f"ν_i = ν_μ at T = {t_equal:.1f} K; at 400 K ν_i = {nu_i[-1]:.3g} μs⁻¹, ν_μ = {nu_mu[-1]:.3g} μs⁻¹")

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.8))
inv_t = 1000.0 / temperature
ax.semilogy(inv_t, nu_i, "C3-", label=r"$\nu_i$ (ions)")
ax.semilogy(inv_t, nu_mu, "C0-", label=r"$\nu_\mu$ (muon)")
ax.axhline(nu_star, color="k", ls=":", lw=1, label=r"$3\sqrt{Q}\Delta$")
ax.set_xlim(2.4, 12.0)
ax.set_ylim(1e-6, 1e3)
ax.set_xlabel(r"$1000/T$ (K$^{-1}$)")
ax.set_ylabel(r"jump rate (MHz = μs$^{-1}$)")
ax.legend(loc="lower left")
ax.set_title("Kadono Fig. 1: Arrhenius jump rates")
inset = ax.inset_axes([0.56, 0.12, 0.41, 0.40])
inset.plot(temperature, nu_i, "C3-")
inset.plot(temperature, nu_mu, "C0-")
inset.axhline(nu_star, color="k", ls=":", lw=1)
inset.axvline(t_star, color="0.5", ls="--", lw=0.8)
inset.set_xlim(10, 400)
inset.set_ylim(0, 3.0)
inset.set_xlabel("T (K)", fontsize=8)
inset.set_ylabel("MHz", fontsize=8)
inset.tick_params(labelsize=7)
fig.tight_layout()
path = output_dir() / "kadono_fig1.png"
fig.savefig(path, dpi=110)
print(f"figure written: {path}")

# %%
write_results("kadono_fig1", {
    "nu_star_per_us": nu_star,
    "t_star_from_rates_K": t_star,
    "t_nu_i_equals_nu_mu_K": t_equal,
    "nu_i_400K_per_us": float(nu_i[-1]),
    "nu_mu_400K_per_us": float(nu_mu[-1]),
})
