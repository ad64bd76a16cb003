"""dynamic_kt against the independent brute-force Monte Carlo (tests/mc_reference.py).

Strong collision with exact exponential waiting times and exact rotations; 4 standard
errors per time point, at ZF and LF points across the slow, intermediate and fast regimes.
"""
import numpy as np
import pytest

import bayesmusr as bm
from bayesmusr.physics.kt import OMEGA_PER_MT
from mc_reference import simulate_dynamic_kt

POINTS = [  # (delta μs⁻¹, nu μs⁻¹, b_lf mT)
    (0.3, 0.05, 0.0),
    (0.5, 0.5, 0.0),
    (1.0, 4.0, 0.0),
    (0.3, 0.3, 1.0),
    (0.5, 1.0, 2.0),
    (1.0, 0.2, 5.0),
]


@pytest.mark.parametrize("delta,nu,b", POINTS)
def test_dynamic_kt_matches_monte_carlo(delta, nu, b):
    t = np.array([0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 18.0]) / max(delta, 0.3) * 0.3
    mean, se = simulate_dynamic_kt(t, delta, nu, omega_l=OMEGA_PER_MT * b, n_muons=300_000, seed=21)
    g = bm.dynamic_kt(t, delta, nu, b)
    z = np.abs(g - mean) / np.maximum(se, 1e-12)
    assert np.all(z < 4.0), (z, g, mean)


def test_monte_carlo_rejects_a_wrong_rate():
    t = np.array([2.0, 4.0, 6.0, 9.0])
    mean, se = simulate_dynamic_kt(t, 0.5, 0.5, n_muons=300_000, seed=22)
    assert np.max(np.abs(bm.dynamic_kt(t, 0.5, 0.6) - mean) / se) > 4.0
