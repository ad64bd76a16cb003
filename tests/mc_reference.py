"""Independent event-driven Monte Carlo reference for muon spin relaxation.

What is simulated
-----------------
Muons with spin initially along ``+z`` sit in a local field (written as an
angular frequency, rad/us; time in us)

    omega(t) = B_s + B_q + omega_L * z_hat,

with ``B_s ~ N(0, (1 - Q) Delta^2 I_3)`` and ``B_q ~ N(0, Q Delta^2 I_3)``
drawn independently, component by component.  Two independent Poisson
processes change the field:

* an *ion jump* (rate ``nu_i``) redraws ``B_q`` only;
* a *muon jump* (rate ``nu_mu``) redraws both ``B_s`` and ``B_q``.

The returned observable is the muon polarisation ``G(t) = <S_z(t)>`` averaged
over muons.  Special cases: ``Q = 0`` or ``nu_i = 0`` is the strong-collision
dynamic Gaussian Kubo-Toyabe (KT) function with rate ``nu_mu``; ``Q = 1`` is
the dynamic KT function with rate ``nu_i + nu_mu``; all rates zero gives the
static KT function, ``1/3 + 2/3 (1 - Delta^2 t^2) exp(-Delta^2 t^2 / 2)`` in
zero field.

How
---
The simulation is event driven and has no time step.  The total event rate is
``R = nu_i + nu_mu``: the waiting time to the next event is drawn exactly as
``-log(U) / R`` and the event is a muon jump with probability ``nu_mu / R``
(equivalent to two independent exponential clocks by memorylessness).  Between
events the field is constant and the spin precesses exactly,
``dS/dt = omega x S``, via the Rodrigues rotation about ``omega_hat`` by the
angle ``|omega| dt``.  The spin vector is rotated in full only at events; at an
observation time inside a field segment ``S_z`` is evaluated in closed form as
``a + b cos(phi) + c sin(phi)`` from the spin at the start of the segment.
(The sense of rotation does not matter for ``G_z``: a rotation by pi about x
maps one sense onto the other, the field distribution being symmetric.)

Random numbers come from a xoshiro256** generator written here in numba.  The
muons are split into fixed chunks of ``CHUNK`` muons; chunk ``c`` is seeded
from ``numpy.random.SeedSequence(seed).spawn(n_chunks)[c]``.  Chunks run in
parallel (``numba.prange``); per-chunk means and sums of squared deviations
(Welford) are merged in chunk order (Chan et al.), so the result depends only
on ``(seed, n_muons)`` and the parameters, not on the number of threads.

Why it is independent
---------------------
This module imports nothing from ``bayesmusr`` and was written without
reading its source.  It uses no analytic relaxation function, no Laplace
transform and no integral equation: only sampling of the stated stochastic
process and exact spin rotations.  It can therefore serve as a reference for
the package's deterministic (analytic / numerical) relaxation functions.

Measured cost
-------------
Measured with :func:`mc_cost_per_point` (``Delta = 1``, ``nu_i = 1``,
``nu_mu = 0.5``, ``Q = 0.5``, ``t = linspace(0, 10, n_times)``, i.e. ~15 jump
events per muon), after JIT warm-up, on the 2-core development machine:

* 1e6 muons x 1000 times, 1 thread: 16.6 s (17 ns per muon-time point);
* 1e6 muons x 1000 times, 2 threads: 8.4 s;
* 1e6 muons x 100 times, 1 thread: 3.4 s (static case, no events: 2.0 s).

Rough model: ~14 ns per muon-time point + ~0.6 us per muon + ~90 ns per
jump event.  The first call compiles the kernel (~10 s; cached on disk
afterwards).  The numbers are also in ``MEASURED_COST``.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "CHUNK",
    "MEASURED_COST",
    "mc_cost_per_point",
    "simulate_dynamic_kt",
    "simulate_ea",
]

#: Number of muons per independently seeded chunk.  Changing it changes the
#: random streams (and hence the exact output for a given seed).
CHUNK = 8192

#: Measured wall time for 1e6 muons x 1000 observation times, from
#: :func:`mc_cost_per_point` on the 2-core development machine.
MEASURED_COST = {
    "n_muons": 1_000_000,
    "n_times": 1000,
    "seconds_1_thread": 16.6,
    "seconds_2_threads": 8.4,
    "seconds_per_point_1_thread": 1.7e-8,
    "params": "delta=1, nu_i=1, nu_mu=0.5, q=0.5, t=linspace(0, 10, 1000)",
}

_TWO_PI = 2.0 * math.pi
_INV_2_53 = 1.0 / 9007199254740992.0


# --------------------------------------------------------------------------
# xoshiro256** random number generator (state: uint64[4])
# --------------------------------------------------------------------------
@njit(inline="always", cache=True)
def _rotl(x, k):
    return (x << k) | (x >> (np.uint64(64) - k))


@njit(inline="always", cache=True)
def _next_u64(s):
    result = _rotl(s[1] * np.uint64(5), np.uint64(7)) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], np.uint64(45))
    return result


@njit(inline="always", cache=True)
def _uniform_open0(s):
    """Uniform double in (0, 1]."""
    return ((_next_u64(s) >> np.uint64(11)) + np.uint64(1)) * _INV_2_53


@njit(inline="always", cache=True)
def _uniform(s):
    """Uniform double in [0, 1)."""
    return (_next_u64(s) >> np.uint64(11)) * _INV_2_53


@njit(inline="always", cache=True)
def _normal_pair(s):
    """Two independent standard normals (Box-Muller)."""
    r = math.sqrt(-2.0 * math.log(_uniform_open0(s)))
    th = _TWO_PI * _uniform(s)
    return r * math.cos(th), r * math.sin(th)


@njit(inline="always", cache=True)
def _wait(s, rate):
    """Exact exponential waiting time; +inf for zero rate."""
    if rate > 0.0:
        return -math.log(_uniform_open0(s)) / rate
    return math.inf


# --------------------------------------------------------------------------
# Simulation kernel
# --------------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _kernel(ts, delta, nu_i, nu_mu, q, omega_l, n_muons, chunk, seeds):
    """Simulate all chunks; return per-chunk (count, mean, M2) per time.

    ``ts`` must be sorted ascending and non-negative.
    """
    n_chunks = seeds.shape[0]
    nt = ts.size
    means = np.zeros((n_chunks, nt))
    m2s = np.zeros((n_chunks, nt))
    counts = np.zeros(n_chunks, dtype=np.int64)
    sd_s = math.sqrt(1.0 - q) * delta
    sd_q = math.sqrt(q) * delta
    rate = nu_i + nu_mu
    p_mu = nu_mu / rate if rate > 0.0 else 0.0

    for c in prange(n_chunks):
        s = seeds[c].copy()
        start = c * chunk
        stop = min(start + chunk, n_muons)
        mean = means[c]
        m2 = m2s[c]
        for j in range(stop - start):
            inv_n = 1.0 / (j + 1.0)
            # initial fields
            g0, g1 = _normal_pair(s)
            g2, g3 = _normal_pair(s)
            g4, g5 = _normal_pair(s)
            bsx = sd_s * g0
            bsy = sd_s * g1
            bsz = sd_s * g2
            bqx = sd_q * g3
            bqy = sd_q * g4
            bqz = sd_q * g5
            # spin and segment start
            sx = 0.0
            sy = 0.0
            sz = 1.0
            t_seg = 0.0
            t_next = _wait(s, rate)
            # segment constants
            wx = bsx + bqx
            wy = bsy + bqy
            wz = bsz + bqz + omega_l
            w = math.sqrt(wx * wx + wy * wy + wz * wz)
            if w > 0.0:
                kx = wx / w
                ky = wy / w
                kz = wz / w
            else:
                kx = 0.0
                ky = 0.0
                kz = 1.0
            kdots = kx * sx + ky * sy + kz * sz
            ca = kz * kdots
            cb = sz - ca
            cc = kx * sy - ky * sx
            for k in range(nt):
                t = ts[k]
                while t_next <= t:
                    # rotate the full spin to the event time
                    phi = w * (t_next - t_seg)
                    cp = math.cos(phi)
                    sp = math.sin(phi)
                    crx = ky * sz - kz * sy
                    cry = kz * sx - kx * sz
                    crz = kx * sy - ky * sx
                    f = kdots * (1.0 - cp)
                    nsx = sx * cp + crx * sp + kx * f
                    nsy = sy * cp + cry * sp + ky * f
                    nsz = sz * cp + crz * sp + kz * f
                    sx = nsx
                    sy = nsy
                    sz = nsz
                    t_seg = t_next
                    # the event
                    if _uniform(s) < p_mu:
                        g0, g1 = _normal_pair(s)
                        g2, g3 = _normal_pair(s)
                        g4, g5 = _normal_pair(s)
                        bsx = sd_s * g0
                        bsy = sd_s * g1
                        bsz = sd_s * g2
                        bqx = sd_q * g3
                        bqy = sd_q * g4
                        bqz = sd_q * g5
                    else:
                        g0, g1 = _normal_pair(s)
                        g2, g3 = _normal_pair(s)
                        bqx = sd_q * g0
                        bqy = sd_q * g1
                        bqz = sd_q * g2
                    t_next = t_seg + _wait(s, rate)
                    wx = bsx + bqx
                    wy = bsy + bqy
                    wz = bsz + bqz + omega_l
                    w = math.sqrt(wx * wx + wy * wy + wz * wz)
                    if w > 0.0:
                        kx = wx / w
                        ky = wy / w
                        kz = wz / w
                    else:
                        kx = 0.0
                        ky = 0.0
                        kz = 1.0
                    kdots = kx * sx + ky * sy + kz * sz
                    ca = kz * kdots
                    cb = sz - ca
                    cc = kx * sy - ky * sx
                phi = w * (t - t_seg)
                x = ca + cb * math.cos(phi) + cc * math.sin(phi)
                # Welford update
                d = x - mean[k]
                mean[k] += d * inv_n
                m2[k] += d * (x - mean[k])
        counts[c] = stop - start
    return counts, means, m2s


def _chunk_seeds(seed, n_chunks):
    """Per-chunk xoshiro256** states from ``SeedSequence(seed).spawn``."""
    children = np.random.SeedSequence(seed).spawn(n_chunks)
    seeds = np.empty((n_chunks, 4), dtype=np.uint64)
    for i, child in enumerate(children):
        st = child.generate_state(4, np.uint64)
        if not st.any():  # the all-zero state is invalid for xoshiro
            st[0] = np.uint64(0x9E3779B97F4A7C15)
        seeds[i] = st
    return seeds


def _merge(counts, means, m2s):
    """Merge per-chunk Welford statistics in chunk order (Chan et al.)."""
    n = 0
    mean = np.zeros(means.shape[1])
    m2 = np.zeros(means.shape[1])
    for c in range(counts.size):
        nb = int(counts[c])
        if nb == 0:
            continue
        nab = n + nb
        d = means[c] - mean
        mean = mean + d * (nb / nab)
        m2 = m2 + m2s[c] + d * d * (n * nb / nab)
        n = nab
    return n, mean, m2


def simulate_ea(t, delta, nu_i, nu_mu, q, omega_l=0.0, n_muons=1_000_000, seed=0):
    """Monte Carlo muon polarisation for ion + muon jumps in random fields.

    Parameters
    ----------
    t : array_like
        Observation times in us, any shape and order, all ``>= 0``.
    delta : float
        Field width Delta (rad/us), ``>= 0``; each field component has total
        variance ``Delta**2``.
    nu_i : float
        Ion-jump rate (1/us), ``>= 0``; redraws the fraction ``B_q`` only.
    nu_mu : float
        Muon-jump rate (1/us), ``>= 0``; redraws ``B_s`` and ``B_q``.
    q : float
        Fraction ``Q`` in ``[0, 1]`` of the field variance carried by ``B_q``.
    omega_l : float, optional
        Longitudinal field along z as an angular frequency (rad/us).
    n_muons : int, optional
        Number of simulated muons, ``>= 2``.
    seed : int, optional
        Seed for ``numpy.random.SeedSequence``; the result is a deterministic
        function of ``seed`` and ``n_muons`` (independent of thread count).

    Returns
    -------
    mean : numpy.ndarray
        ``G(t) = <S_z(t)>``, same shape as `t`.
    stderr : numpy.ndarray
        Sample standard deviation of the per-muon ``S_z(t)`` divided by
        ``sqrt(n_muons)``, same shape as `t`.

    Raises
    ------
    ValueError
        For negative times or rates, ``q`` outside ``[0, 1]``, negative
        `delta`, non-finite input or ``n_muons < 2``.

    Notes
    -----
    Event driven: exact exponential waiting times, exact rotations between
    events, no time step.  See the module docstring.

    Examples
    --------
    >>> g, e = simulate_ea([0.0, 1.0], 1.0, 0.0, 0.0, 0.0, n_muons=1000)
    >>> float(g[0])
    1.0
    """
    t_arr = np.asarray(t, dtype=np.float64)
    shape = t_arr.shape
    flat = t_arr.ravel()
    delta = float(delta)
    nu_i = float(nu_i)
    nu_mu = float(nu_mu)
    q = float(q)
    omega_l = float(omega_l)
    n_muons = int(n_muons)
    if not np.all(np.isfinite(flat)) or np.any(flat < 0.0):
        raise ValueError("times must be finite and non-negative")
    for name, val in (("delta", delta), ("nu_i", nu_i), ("nu_mu", nu_mu)):
        if not math.isfinite(val) or val < 0.0:
            raise ValueError(f"{name} must be finite and >= 0, got {val}")
    if not (0.0 <= q <= 1.0):
        raise ValueError(f"q must lie in [0, 1], got {q}")
    if not math.isfinite(omega_l):
        raise ValueError("omega_l must be finite")
    if n_muons < 2:
        raise ValueError("n_muons must be >= 2")
    if flat.size == 0:
        return np.empty(shape), np.empty(shape)

    order = np.argsort(flat, kind="stable")
    ts = np.ascontiguousarray(flat[order])
    n_chunks = -(-n_muons // CHUNK)
    seeds = _chunk_seeds(seed, n_chunks)
    counts, means, m2s = _kernel(
        ts, delta, nu_i, nu_mu, q, omega_l, n_muons, CHUNK, seeds
    )
    n, mean_sorted, m2_sorted = _merge(counts, means, m2s)
    var = np.maximum(m2_sorted, 0.0) / (n - 1)
    err_sorted = np.sqrt(var / n)
    mean = np.empty_like(mean_sorted)
    err = np.empty_like(err_sorted)
    mean[order] = mean_sorted
    err[order] = err_sorted
    return mean.reshape(shape), err.reshape(shape)


def simulate_dynamic_kt(t, delta, nu, omega_l=0.0, n_muons=1_000_000, seed=0):
    """Monte Carlo strong-collision dynamic Gaussian Kubo-Toyabe function.

    Thin call of :func:`simulate_ea` with ``Q = 1``, ``nu_i = nu``,
    ``nu_mu = 0``: the whole field is redrawn at rate `nu`.

    Parameters
    ----------
    t : array_like
        Observation times in us (any order, ``>= 0``).
    delta : float
        Field width Delta (rad/us).
    nu : float
        Fluctuation (collision) rate (1/us).
    omega_l : float, optional
        Longitudinal field (rad/us).
    n_muons : int, optional
        Number of muons.
    seed : int, optional
        Seed for ``numpy.random.SeedSequence``.

    Returns
    -------
    mean, stderr : numpy.ndarray
        As for :func:`simulate_ea`.
    """
    return simulate_ea(
        t, delta, nu, 0.0, 1.0, omega_l=omega_l, n_muons=n_muons, seed=seed
    )


def mc_cost_per_point(
    n_muons=1_000_000,
    n_times=1000,
    t_max=10.0,
    delta=1.0,
    nu_i=1.0,
    nu_mu=0.5,
    q=0.5,
    omega_l=0.0,
    n_threads=1,
    seed=0,
):
    """Measure the wall time of :func:`simulate_ea` (after JIT warm-up).

    Parameters
    ----------
    n_muons, n_times : int, optional
        Problem size; times are ``linspace(0, t_max, n_times)``.
    t_max, delta, nu_i, nu_mu, q, omega_l : float, optional
        Model parameters (defaults: moderate rates, ``nu * t_max = 15``).
    n_threads : int or None, optional
        Numba threads for the measurement (restored afterwards); ``None``
        keeps the current setting.
    seed : int, optional
        Seed.

    Returns
    -------
    dict
        ``seconds`` (wall time), ``seconds_per_point`` (per muon and time
        point), ``n_muons``, ``n_times``, ``n_threads``.
    """
    t = np.linspace(0.0, t_max, n_times)
    old = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(int(n_threads))
    try:
        simulate_ea(t[:2], delta, nu_i, nu_mu, q, omega_l, n_muons=2, seed=seed)
        t0 = time.perf_counter()
        simulate_ea(t, delta, nu_i, nu_mu, q, omega_l, n_muons=n_muons, seed=seed)
        dt = time.perf_counter() - t0
        used = numba.get_num_threads()
    finally:
        numba.set_num_threads(old)
    return {
        "seconds": dt,
        "seconds_per_point": dt / (n_muons * n_times),
        "n_muons": n_muons,
        "n_times": n_times,
        "n_threads": used,
    }
