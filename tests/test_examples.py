"""The examples run, write their figures, and reproduce Kadono's stated numbers.

Each script in ``examples/`` is run once, headless, in FAST mode
(``BAYESMUSR_FAST=1``: coarser ν_i, Q and T grids) with a temporary output
folder; it writes its PNG figures and a JSON file of the numbers it computed,
which the tests below compare with the paper.

Tolerances and why
------------------
* Δ_KT plateau within 10 % of √(1−Q)Δ = 0.134 μs⁻¹ at ν_i = 100 μs⁻¹: the fast-ion
  limit is approached as ~QΔ²/ν_i (the residual Abragam relaxation of the
  narrowed part, which the KT fit partly absorbs into Δ_KT); at ν_i/Δ = 333 the
  measured excess is 2 %.  The paper states only "asymptotically approaching".
* ν_i of the ν_KT peak within a factor 2 of 3√QΔ = 0.80 μs⁻¹: the paper writes
  "ν_i ∼ 3√QΔ", an order-of-magnitude rule (it also puts the onset of the Δ_KT
  decay at √QΔ, a factor 3 lower); the FAST grid has 4 points per decade and
  the peak is refined by a parabola in ln ν_i (grid error ≲ 10 %).
* χ² peak where Δ_KT changes: the χ² maximum within a factor 2 of the ν_i at
  which Δ_KT falls fastest.
* T* within 20 K of 259.7 K (where ν_i = 3√QΔ) and the Eq. 4 parameters within
  E_Δ ± 0.1 eV, Q ± 0.08, log10 N ± 2 of the paper's 0.4 eV, 0.82, 8.08: a
  factor 2 in ν_i is ≈ 11 K at T*, and E_Δ, ln N are strongly correlated in
  Eq. 4 (their fit errors here are ≈ 0.01 eV and 0.2), so the step midpoint
  T½ = E_Δ/(k_B ln N) is also compared, within 20 K.  Three of these disagree
  with the paper and are marked xfail: T* = 282 K (strict; full mode 281.5 K);
  T½ = 289 K against the paper's 250 K (strict: the Δ_KT step sits ~40 K above
  the one the paper's Eq. 4 parameters describe); E_Δ = 0.50 eV (full mode
  0.505 eV), on the edge of ± 0.1 eV, so not strict.  Regression guards pin the
  toolkit's own values.  See docs/paper.md.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
FIGURES = {
    "kadono_fig1": ["kadono_fig1.png"],
    "kadono_fig2": ["kadono_fig2.png"],
    "kadono_fig3": ["kadono_fig3.png"],
    "table1_discussion": ["table1_q_visibility.png"],
}
DELTA, Q = 0.3, 0.8
T_STAR_PAPER = 0.35 / (8.617333262e-5 * math.log(5e6 / (3 * math.sqrt(Q) * DELTA)))  # 259.7 K


_RUNS: dict[str, tuple[pathlib.Path, dict]] = {}


@pytest.fixture(scope="session")
def run_example(tmp_path_factory):
    """Run ``examples/<name>.py`` once per session in FAST mode; return (output folder, its JSON results)."""

    def run(name: str) -> tuple[pathlib.Path, dict]:
        if name not in _RUNS:
            out = tmp_path_factory.mktemp(name)
            env = dict(os.environ, BAYESMUSR_FAST="1", BAYESMUSR_EXAMPLES_OUT=str(out), MPLBACKEND="Agg")
            proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], cwd=out, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            _RUNS[name] = (out, json.loads((out / f"{name}.json").read_text()))
        return _RUNS[name]

    return run


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_example_writes_figures(run_example, name):
    out, results = run_example(name)
    for fig in FIGURES[name]:
        path = out / fig
        assert path.exists() and path.stat().st_size > 10_000, f"{fig} missing or empty"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["meta"]["fast_mode"] is True


def test_fig1_t_star_from_the_rates(run_example):
    _, r = run_example("kadono_fig1")
    assert r["nu_star_per_us"] == pytest.approx(3 * math.sqrt(Q) * DELTA, rel=1e-12)
    assert r["t_star_from_rates_K"] == pytest.approx(T_STAR_PAPER, abs=0.01)


def test_fig2_delta_kt_plateau(run_example):
    _, r = run_example("kadono_fig2")
    expected = math.sqrt(1 - Q) * DELTA  # 0.134
    assert r["nu_i_max"] == pytest.approx(100.0)
    assert r["delta_kt_plateau"] == pytest.approx(expected, rel=0.10)
    assert r["delta_kt_plateau"] >= expected  # approached from above
    assert r["delta_kt_at_45"] == pytest.approx(expected, rel=0.10)


def test_fig2_nu_kt_peak_near_3_sqrt_q_delta(run_example):
    _, r = run_example("kadono_fig2")
    ratio = r["nu_kt_peak_at_nu_i"] / (3 * math.sqrt(Q) * DELTA)
    assert 0.5 <= ratio <= 2.0, f"ν_KT peak at ν_i = {r['nu_kt_peak_at_nu_i']:.3g} (ratio {ratio:.2f})"


def test_fig2_chi2_peaks_where_delta_kt_changes(run_example):
    _, r = run_example("kadono_fig2")
    ratio = r["chi2_peak_at_nu_i"] / r["delta_kt_steepest_at_nu_i"]
    assert 0.5 <= ratio <= 2.0
    # and the KT misfit there is real: far above the ends of the scan
    chi2 = r["scan"]["chi2"]
    assert r["chi2_peak"] > 10 * max(chi2[0], chi2[-1])


def test_fig2_q_limits_are_exact(run_example):
    """Q = 0 is static KT (Δ_KT = Δ, ν_KT = 0); Q = 1 is dynamic KT with ν = ν_i = 3.3."""
    _, r = run_example("kadono_fig2")
    q, d, v = r["q_scan"]["q"], r["q_scan"]["delta_kt"], r["q_scan"]["nu_kt"]
    assert q[0] == 0.0 and q[-1] == 1.0
    assert d[0] == pytest.approx(DELTA, rel=1e-3) and v[0] < 1e-3
    assert d[-1] == pytest.approx(DELTA, rel=1e-3) and v[-1] == pytest.approx(3.3, rel=1e-2)


def test_fig3_t_star_toolkit_value(run_example):
    """Regression guard on what the toolkit finds (281.5 K in full mode)."""
    _, r = run_example("kadono_fig3")
    assert 270.0 <= r["t_star_K"] <= 295.0


@pytest.mark.xfail(strict=True, reason="toolkit T* = 282 K, 22 K above the paper's 260 K (ν_i(T*) = 3.4×3√QΔ): "
                                       "the ν_μ background moves the ν_KT maximum up; reported in docs/paper.md")
def test_fig3_t_star_within_20K_of_paper(run_example):
    _, r = run_example("kadono_fig3")
    assert abs(r["t_star_K"] - T_STAR_PAPER) <= 20.0


def test_fig3_eq4_q_and_n(run_example):
    _, r = run_example("kadono_fig3")
    fit = r["eq4_delta_free"]
    assert fit["q"] == pytest.approx(0.82, abs=0.08)
    assert abs(fit["log10_n"] - math.log10(1.2e8)) <= 2.0
    assert fit["delta"] == pytest.approx(DELTA, rel=0.02)


@pytest.mark.xfail(strict=False, reason="borderline: toolkit E_Δ = 0.501 eV in FAST mode, 0.505 ± 0.006 in full "
                                        "mode, against the paper's 0.4 ± 0.1; reported in docs/paper.md")
def test_fig3_eq4_e_delta_within_0p1_of_paper(run_example):
    _, r = run_example("kadono_fig3")
    assert abs(r["eq4_delta_free"]["e_delta_eV"] - 0.4) <= 0.1


@pytest.mark.xfail(strict=True, reason="the Δ_KT step is at T½ = 289 K, 39 K above the T½ = 250 K of the paper's "
                                       "Eq. 4 parameters; reported in docs/paper.md")
def test_fig3_eq4_midpoint_within_20K_of_paper(run_example):
    """T½ = E_Δ / (k_B ln N), the temperature of half the step: what Eq. 4 pins down despite the E_Δ–N correlation."""
    _, r = run_example("kadono_fig3")
    assert abs(r["eq4_delta_free"]["t_half_K"] - r["paper"]["t_half_K"]) <= 20.0


def test_fig3_eq4_midpoint_toolkit_value(run_example):
    """Regression guard on what the toolkit finds (288.8 K in full mode)."""
    _, r = run_example("kadono_fig3")
    assert 280.0 <= r["eq4_delta_free"]["t_half_K"] <= 298.0


def test_fig3_e_delta_is_an_activation_energy_of_the_right_size(run_example):
    """Kadono: Δ_KT(T) gives 'a rough estimate' of E_i = 0.35 eV — within a factor 1.5 here."""
    _, r = run_example("kadono_fig3")
    assert 0.35 / 1.5 <= r["eq4_delta_free"]["e_delta_eV"] <= 0.35 * 1.5


def test_fig3_arrhenius_below_t_star_is_not_the_ion_energy(run_example):
    """ν_KT below T* follows the muon, not the ions: E far below E_i = 0.35 eV, near E_μ = 0.02 eV."""
    _, r = run_example("kadono_fig3")
    for fit in r["arrhenius_below_t_star"].values():
        assert fit["e_eV"] < 0.35 / 3
        assert fit["e_eV"] > 0.02  # biased above E_μ by the onset of the ion contribution


def test_table1_small_q_hides_the_ions(run_example):
    _, r = run_example("table1_discussion")
    rows = {row["q"]: row for row in r["visibility"]}
    assert rows[0.8]["peak_visible"] and rows[0.8]["kink_visible"]
    assert not rows[0.1]["peak_visible"]
    # the Δ_KT drop reaches its limit 1 − √(1 − Q) and grows with Q
    for row in rows.values():
        assert row["kink"] == pytest.approx(row["kink_limit"], abs=0.03)
    kinks = [rows[q]["kink"] for q in sorted(rows)]
    assert kinks == sorted(kinks)


def test_fig3_paper_tools_are_not_the_cause(run_example):
    """The table Kadono used (dynGssEALF2: grid, interpolation, narrowing switch) and musrfit's KT
    (Keren above ν/Δ = 5), alone or together, move T* and T½ by < 3 K and E_Δ by < 0.02 eV — not the
    20–40 K and 0.1 eV between us and the paper (measured FAST: ≤ 0.9 K, ≤ 0.3 K, ≤ 0.003 eV)."""
    _, r = run_example("kadono_fig3")
    tools = r["paper_tools"]
    assert 260.0 < tools["peer_switch_from_K"] < 290.0
    ours = r["eq4_delta_free"]
    for name in ("peer table spectra, exact KT", "exact spectra, musrfit KT", "peer table spectra, musrfit KT"):
        v = tools[name]
        assert 0.0 < v["max_abs_delta_kt_change"] < 5e-3, name  # the tools do change the spectra/fits
        assert abs(v["t_star_K"] - r["t_star_K"]) < 3.0, name
        assert abs(v["t_half_K"] - ours["t_half_K"]) < 3.0, name
        assert abs(v["e_delta_eV"] - ours["e_delta_eV"]) < 0.02, name


def test_fig2_paper_tools_keep_the_peak_position(run_example):
    """With the paper's tools the ν_KT peak stays ≥ 1.4 × 3√QΔ (FAST: 1.27 μs⁻¹ = 1.58 ×) and Δ_KT starts
    to fall at the same ν_i: the factor between the paper's "∼ 3√QΔ" and our peak is not the tools'."""
    _, r = run_example("kadono_fig2")
    tools = r["paper_tools"]
    assert tools["nu_kt_peak_at_nu_i"] == pytest.approx(r["nu_kt_peak_at_nu_i"], rel=0.15)
    assert tools["nu_kt_peak_at_nu_i"] > 1.4 * 3 * math.sqrt(Q) * DELTA
    assert tools["delta_kt_onset_2pct_nu_i"] == r["delta_kt_onset_2pct_nu_i"]
    assert 0.0 < tools["max_abs_delta_kt_change"] < 5e-3


@pytest.fixture(scope="module")
def kadono_helpers():
    sys.path.insert(0, str(EXAMPLES))
    try:
        import _kadono
    finally:
        sys.path.remove(str(EXAMPLES))
    return _kadono


def test_peer_emulation_is_exact_on_its_nodes_and_linear_between(kadono_helpers):
    """The dynGssEALF2 emulation returns its node values (here the exact EA) on a node and the
    multilinear mix of the neighbours between nodes; its switch uses the narrowing-limit product."""
    import numpy as np

    import bayesmusr
    from bayesmusr.physics.kt import OMEGA_PER_MT

    k = kadono_helpers
    delta = 0.5
    t = k.PEER_DT_NODES[1:60:7] / delta  # on Δt nodes
    nodes = k.PEER_NU_NODES
    b_node = k.PEER_LF_NODES[3] * delta / OMEGA_PER_MT
    on = k.peer_ea(t, delta, nodes[5] * delta, nodes[2] * delta, 0.6, b_node)
    exact = bayesmusr.ea(t, delta, nodes[5] * delta, nodes[2] * delta, 0.6, b_node)
    np.testing.assert_allclose(on, exact, atol=1e-12)
    mid = k.peer_ea(t, delta, 0.5 * (nodes[5] + nodes[6]) * delta, 0.0, 0.6, 0.0)
    ends = [k.peer_ea(t, delta, nodes[j] * delta, 0.0, 0.6, 0.0) for j in (5, 6)]
    np.testing.assert_allclose(mid, 0.5 * (ends[0] + ends[1]), atol=1e-12)
    # linear in Δt between its 0.06022 nodes
    tm = 0.5 * (k.PEER_DT_NODES[10] + k.PEER_DT_NODES[11]) / delta
    pair = k.peer_ea(k.PEER_DT_NODES[10:12] / delta, delta, 0.3, 0.1, 0.6, 0.0)
    assert k.peer_ea(np.array([tm]), delta, 0.3, 0.1, 0.6, 0.0)[0] == pytest.approx(pair.mean(), abs=1e-12)
    # beyond its grid: Keren factor of the Q part times the (1−Q) part at rate ν_μ
    assert k.peer_uses_narrowing_limit(delta, 10.0, 0.0, 0.6)
    g = k.peer_ea(t, delta, 10.0, 0.0, 0.6, 0.0)
    ref = bayesmusr.keren(t, math.sqrt(0.6) * delta, 10.0, 0.0) * bayesmusr.static_kt(t, math.sqrt(0.4) * delta, 0.0)
    np.testing.assert_allclose(g, ref, atol=2e-3)


def test_musrfit_kt_switches_to_keren_above_five(kadono_helpers):
    """musrfit's dynamic KT: exact below ν/Δ = 5, Keren's plain formula above (a jump at the switch)."""
    import numpy as np

    import bayesmusr

    k = kadono_helpers
    t = np.linspace(0.0, 10.0, 101)
    np.testing.assert_array_equal(k.musrfit_kt(t, 0.3, 1.4, 1.0), bayesmusr.dynamic_kt(t, 0.3, 1.4, 1.0))
    above = k.musrfit_kt(t, 0.3, 1.6, 1.0)
    np.testing.assert_allclose(above, bayesmusr.keren(t, 0.3, 1.6, 1.0), atol=1e-12)
    assert np.max(np.abs(above - bayesmusr.dynamic_kt(t, 0.3, 1.6, 1.0))) > 1e-3


def test_fig3_spectrum_definition_moves_t_half_little(run_example):
    """Other time ranges, χ² weights, a free amplitude or the ZF spectrum alone move the Δ_KT step by < 10 K:
    not the 39 K difference from the paper."""
    _, r = run_example("kadono_fig3")
    ours = r["eq4_delta_free"]["t_half_K"]
    for name, v in r["spectrum_definition_sensitivity"].items():
        assert abs(v["t_half_K"] - ours) < 10.0, name
        assert abs(v["t_half_K"] - r["paper"]["t_half_K"]) > 20.0, name


def test_fig3_eq4_weights_and_range_move_t_half_little(run_example):
    """Eq. 4 weighted by the KT fits' errors, or fitted over 200–400 K only: T½ within 5 K and E_Δ within
    0.03 eV of the unweighted full-range fit (FAST measured: ≤ 0.5 K, ≤ 0.01 eV) — not the paper's 250 K."""
    _, r = run_example("kadono_fig3")
    ours = r["eq4_delta_free"]
    for name, v in r["eq4_fit_sensitivity"].items():
        assert abs(v["t_half_K"] - ours["t_half_K"]) < 5.0, name
        assert abs(v["e_delta_eV"] - ours["e_delta_eV"]) < 0.03, name


def test_fig3_below_t_star_kt_sees_only_the_muon(run_example):
    """Paper: Δ_KT is constant for T < T*, and ν_KT is dominated by ν_μ except around T*."""
    _, r = run_example("kadono_fig3")
    scan = r["scan"]
    for temp, d, v, vm in zip(scan["temperature_K"], scan["delta_kt"], scan["nu_kt"], scan["nu_mu"]):
        if 50.0 <= temp <= 200.0:
            assert d == pytest.approx(DELTA, rel=1e-3)
            assert v == pytest.approx(vm, rel=0.02)
    assert scan["nu_kt"][-1] == pytest.approx(scan["nu_mu"][-1], rel=0.05)  # 400 K
