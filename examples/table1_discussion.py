# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Kadono Table I — what a reanalysis with EA can and cannot recover
#
# Kadono's Table I lists thirteen materials whose KT analyses show a maximum of
# ν_KT at some T* (230–430 K), most of them with a drop ("kink") of Δ_KT above
# it.  His reading: both features appear when ions jump *and* a sizeable
# fraction Q of Δ² is modulated by them; with small Q, ion diffusion leaves no
# trace in a KT analysis even when it happens.
#
# This script makes that statement quantitative with the toolkit:
#
# 1. **Visibility against Q.**  Kadono's temperature scan (Fig. 3: ν_i, ν_μ
#    Arrhenius laws, Δ = 0.3 μs⁻¹, ZF + LF 1 mT) is repeated for several Q and
#    read the conventional way.  For each Q: the prominence of the ν_KT peak
#    (how far ν_KT at its maximum rises above its 400 K value), the Δ_KT drop
#    between low T and 400 K (the kink; the limit is 1 − √(1−Q)), and the
#    largest χ²/ndof of the KT fits (how badly KT fails).
# 2. **What EA can pin down.**  The Cramér–Rao bound (inverse Fisher matrix)
#    of an EA fit of the same ZF + LF spectra, parameters (Δ, Q, ln ν_i, ln ν_μ),
#    at temperatures around T*: the 1σ relative error on ν_i and ν_μ for a
#    given statistical error σ(t) = σ₀ e^{t/2τ_μ}, σ₀ = 0.01 (our spectrum
#    definition, see ``examples/_kadono.py``; errors scale with σ₀) — once
#    with all four parameters free (one temperature on its own) and once with
#    Δ and Q known (as in a whole-scan fit, where the low-temperature spectra
#    fix them and they are shared by all temperatures).
#
# Thresholds used to call a feature "visible" (our choice, stated): a ν_KT
# peak whose prominence exceeds 10 % and whose maximum is inside the scan; a
# Δ_KT kink deeper than 5 % (typical published Δ_KT error bars are 1–3 %).

# %%
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _kadono import DELTA, Timer, ea_backend, ea_spectra, fast_mode, kt_fit, output_dir, peak_parabola, sigma, \
    time_grid, write_results

from bayesmusr.inference.conventional import KADONO, arrhenius

clock = Timer()
FAST = fast_mode()
BACKEND = ea_backend()
t = time_grid()
if FAST:
    q_values = np.array([0.1, 0.25, 0.5, 0.8])
    temperatures = np.concatenate([[100.0], np.arange(150.0, 401.0, 25.0)])
    fisher_q, fisher_t = [0.1, 0.8], [280.0]
else:
    q_values = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9])
    temperatures = np.concatenate([[100.0], np.arange(150.0, 401.0, 10.0)])
    fisher_q, fisher_t = [0.1, 0.3, 0.5, 0.8], [220.0, 260.0, 280.0, 300.0, 340.0]
PROMINENCE_MIN = 0.10
KINK_MIN = 0.05
nu_i = arrhenius(temperatures, KADONO["nu_i0_per_s"], KADONO["e_i_eV"])
nu_mu = arrhenius(temperatures, KADONO["nu_mu0_per_s"], KADONO["e_mu_eV"])
print(f"EA backend: {BACKEND}; fast mode: {FAST}; Q = {q_values.tolist()}; {temperatures.size} temperatures")

# %% [markdown]
# ## 1. The conventional reading for several Q

# %%
scans = {}
for q in q_values:
    fits = [kt_fit(t, ea_spectra(t, DELTA, vi, vm, q)) for vi, vm in zip(nu_i, nu_mu)]
    scans[float(q)] = {"delta_kt": np.array([f.delta for f in fits]), "nu_kt": np.array([f.nu for f in fits]),
                       "chi2_ndof": np.array([f.reduced_chi2 for f in fits])}

rows = []
for q, s in scans.items():
    d, v = s["delta_kt"], s["nu_kt"]
    # the most prominent interior local maximum: how far it stands above the lowest ν_KT after it
    local_max = [i for i in range(1, len(v) - 1) if v[i] >= v[i - 1] and v[i] >= v[i + 1]]
    prom = [float(v[i] / v[i:].min() - 1.0) for i in local_max]
    interior = bool(local_max)
    prominence = max(prom) if prom else 0.0
    t_star = float("nan")
    if interior:
        i_max = local_max[int(np.argmax(prom))]
        t_star = peak_parabola(temperatures[i_max - 1:i_max + 2], v[i_max - 1:i_max + 2])[0]
    kink = float(1.0 - d[-1] / d[0])
    rows.append({"q": q, "peak_prominence": prominence, "peak_inside": interior, "t_star_K": t_star,
                 "peak_visible": bool(interior and prominence > PROMINENCE_MIN),
                 "kink": kink, "kink_limit": 1.0 - math.sqrt(1.0 - q), "kink_visible": kink > KINK_MIN,
                 "max_chi2_ndof": float(s["chi2_ndof"].max())})

print(" Q     ν_KT peak prominence  T* (K)  Δ_KT drop (limit)   max χ²/ndof   peak?  kink?")
for r in rows:
    print(f"{r['q']:4.2f}   {100 * r['peak_prominence']:8.1f} %          {r['t_star_K']:6.1f}  "
          f"{100 * r['kink']:5.1f} % ({100 * r['kink_limit']:4.1f} %)    {r['max_chi2_ndof']:.4f}        "
          f"{'yes' if r['peak_visible'] else 'no ':3s}    {'yes' if r['kink_visible'] else 'no'}")
q_peak = min((r["q"] for r in rows if r["peak_visible"]), default=float("nan"))
q_kink = min((r["q"] for r in rows if r["kink_visible"]), default=float("nan"))
print(f"smallest Q with a visible ν_KT peak: {q_peak}; with a visible Δ_KT kink: {q_kink}")

# %% [markdown]
# ## 2. Cramér–Rao bounds of an EA fit of the same spectra

# %%
PARAMS = ("delta", "q", "ln_nu_i", "ln_nu_mu")


def ea_model(p):
    """ZF and LF spectra, concatenated, for p = (Δ, Q, ln ν_i, ln ν_μ)."""
    return np.concatenate(ea_spectra(t, p[0], math.exp(p[2]), math.exp(p[3]), p[1]))


def fisher_errors(q, temp):
    """1σ Cramér–Rao errors of (Δ, Q, ln ν_i, ln ν_μ) for σ(t) = σ₀ e^{t/2τ_μ} (central differences)."""
    p0 = np.array([DELTA, q, math.log(float(arrhenius(temp, KADONO["nu_i0_per_s"], KADONO["e_i_eV"]))),
                   math.log(float(arrhenius(temp, KADONO["nu_mu0_per_s"], KADONO["e_mu_eV"])))])
    steps = np.array([1e-3, 1e-3, 1e-2, 1e-2])
    w = 1.0 / np.concatenate([sigma(t), sigma(t)])
    jac = np.empty((2 * t.size, len(p0)))
    for k, h in enumerate(steps):
        hi, lo = p0.copy(), p0.copy()
        hi[k] += h
        lo[k] -= h
        jac[:, k] = (ea_model(hi) - ea_model(lo)) / (2 * h) * w
    fim = jac.T @ jac
    errors = dict(zip(PARAMS, np.sqrt(np.diag(np.linalg.inv(fim))).tolist()))
    # Δ and Q known (shared by a whole temperature scan and fixed by its low-T part): only the rates free
    rates = np.sqrt(np.diag(np.linalg.inv(fim[2:, 2:])))
    errors.update({"ln_nu_i_known_dq": float(rates[0]), "ln_nu_mu_known_dq": float(rates[1])})
    return errors


fisher = []
for q in fisher_q:
    for temp in fisher_t:
        e = fisher_errors(q, temp)
        nu_i_t = float(arrhenius(temp, KADONO["nu_i0_per_s"], KADONO["e_i_eV"]))
        fisher.append({"q": q, "temperature_K": temp, "nu_i": nu_i_t, **{f"err_{k}": v for k, v in e.items()}})
        print(f"Q = {q:.2f}, T = {temp:.0f} K (ν_i = {nu_i_t:7.3g} μs⁻¹): all four free: σ(ν_i)/ν_i = "
              f"{e['ln_nu_i']:.3g}, σ(ν_μ)/ν_μ = {e['ln_nu_mu']:.3g}, σ(Q) = {e['q']:.3g}, σ(Δ) = "
              f"{e['delta']:.2g} μs⁻¹;  Δ, Q known: σ(ν_i)/ν_i = {e['ln_nu_i_known_dq']:.3g}, "
              f"σ(ν_μ)/ν_μ = {e['ln_nu_mu_known_dq']:.3g}")

# %% [markdown]
# ## Figure

# %%
fig, (ax_d, ax_v) = plt.subplots(1, 2, figsize=(12, 4.6))
cmap = plt.get_cmap("viridis")
for k, (q, s) in enumerate(scans.items()):
    c = cmap(k / max(len(scans) - 1, 1))
    ax_d.plot(temperatures, s["delta_kt"], "o-", ms=3, color=c, label=f"Q = {q:g}")
    ax_v.plot(temperatures, s["nu_kt"], "o-", ms=3, color=c, label=f"Q = {q:g}")
ax_v.plot(temperatures, nu_mu, "k--", lw=1, label=r"$\nu_\mu$")
ax_d.set_xlabel("T (K)")
ax_d.set_ylabel(r"$\Delta_{KT}$ (MHz)")
ax_d.set_title(r"$\Delta_{KT}(T)$ for several Q (Kadono's $\nu_i$, $\nu_\mu$, $\Delta$ = 0.3)", fontsize=10)
ax_v.set_xlabel("T (K)")
ax_v.set_ylabel(r"$\nu_{KT}$ (MHz)")
ax_v.set_title(r"$\nu_{KT}(T)$: the peak at T* fades as Q decreases", fontsize=10)
ax_d.legend(fontsize=8)
ax_v.legend(fontsize=8)
fig.tight_layout()
path = output_dir() / "table1_q_visibility.png"
fig.savefig(path, dpi=100)
print(f"figure written: {path}")

# %%
elapsed = clock()
write_results("table1_discussion", {
    "thresholds": {"peak_prominence": PROMINENCE_MIN, "kink": KINK_MIN},
    "visibility": rows,
    "smallest_q_peak_visible": q_peak,
    "smallest_q_kink_visible": q_kink,
    "fisher": fisher,
    "meta": {"ea_backend": BACKEND, "seconds": elapsed, "sigma0": 0.01},
})
print(f"done in {elapsed:.1f} s")
