"""Numerical inner loops: renewal (Volterra) solver and uniform-grid interpolation.

Everything here is plain numpy/python, written so it reads as the mathematics,
and compiled with numba for speed.  The uncompiled originals stay reachable as
``<name>.py_func`` and a test checks both paths agree (numba is an
accelerator, not the definition).

The renewal equation solved here is the strong-collision equation

    G(t) = e^{-ν t} f(t) + ν ∫_0^t e^{-ν τ} f(τ) G(t - τ) dτ ,

for real or complex ``f`` sampled on a uniform grid t_n = n h.  It is the
dynamic Kubo-Toyabe equation when f is the static KT function (``physics/kt.py``),
and each of the two scalar EA renewals when f is an EA kernel (``physics/ea.py``).

Discretisation: product trapezoid.  On each interval the smooth product
φ(τ) = f(τ) G(t-τ) is interpolated linearly and multiplied by the factor
e^{-ν τ}, which is integrated exactly.  The error is O(h²) with a clean
asymptotic expansion while ν h stays moderate; callers keep ν h ≤ 0.25 and
remove the h² term by Richardson extrapolation (h and h/2).  For large ν the
weights e^{-ν τ} underflow after a few hundred steps, so the convolution is cut
where e^{-ν τ} < 1e-18: the cost is then O(N · 42/(ν h)) instead of O(N²).
"""
from __future__ import annotations

import cmath
import math

import numpy as np
from numba import njit

_CUT_EXPONENT = 42.0  # e^{-42} ≈ 6e-19: weights below this are dropped


def _product_weights(x: float) -> tuple[float, float]:
    """Scaled exact weights for ∫_0^1 e^{-x u} (1-u) du and ∫_0^1 e^{-x u} u du.

    Multiply by h to get the interval weights; x = ν h ≥ 0.
    """
    if x < 1e-3:
        # series: avoids cancellation in 1 - e^{-x}(1+x) for tiny x
        a = 1.0 - x / 2.0 + x * x / 6.0 - x * x * x / 24.0
        b = 0.5 - x / 3.0 + x * x / 8.0 - x * x * x / 30.0
    else:
        em = math.exp(-x)
        a = -math.expm1(-x) / x
        b = (-math.expm1(-x) - x * em) / (x * x)
    return a - b, b


def _dot(a, b):
    """Σ a[j] b[j] over two slices of equal length ≥ 1 (real or complex).

    Compiled with reassociation allowed, so the compiler splits the sum over SIMD lanes:
    measured 4.8× faster than four scalar partial sums on the renewal's triangular sums
    (487 nodes: 11 µs against 54 µs).  The order of the additions, and so the last bits,
    differ from a sequential sum.
    """
    s = a[0] * b[0]
    for j in range(1, a.shape[0]):
        s += a[j] * b[j]
    return s


dot = njit(cache=True, fastmath={"reassoc", "contract", "nsz", "arcp"})(_dot)


def _renewal(f, nu, h):
    """Solve G = e^{-νt} f + ν ∫ e^{-ντ} f(τ) G(t-τ) dτ on t_n = n h.

    Parameters
    ----------
    f : ndarray, real or complex, shape (N+1,)
        Kernel sampled at t_n = n h, n = 0..N.
    nu : float
        Renewal rate ν ≥ 0 (same time unit as h).
    h : float
        Grid step.

    Returns
    -------
    ndarray, same dtype and shape as ``f``.
    """
    n_pts = f.shape[0]
    out = np.empty_like(f)
    if nu == 0.0:
        out[:] = f
        return out
    w0, w1 = product_weights(nu * h)
    w0 *= h
    w1 *= h
    # interval j = [jh, (j+1)h] contributes
    #   ν e^{-νjh} (w0 f_j G_{n-j} + w1 f_{j+1} G_{n-j-1});
    # lags with e^{-νjh} < e^{-42} are dropped (kmax).
    if nu * h * n_pts <= _CUT_EXPONENT:
        kmax = n_pts  # (also avoids an integer overflow of 42/(ν h) for tiny ν h)
    else:
        kmax = min(n_pts, int(_CUT_EXPONENT / (nu * h)) + 2)
    decay = np.zeros(kmax + 1)
    for j in range(kmax):
        decay[j] = math.exp(-nu * h * j)
    # coefficient of G_{n-k} for 1 <= k <= n-1 (both interval ends)
    coef = np.zeros(kmax + 1, dtype=f.dtype)
    for k in range(1, kmax + 1):
        if k < n_pts:
            coef[k] = nu * f[k] * (decay[k] * w0 + decay[k - 1] * w1)
    implicit = nu * f[0] * w0  # coefficient of G_n itself (interval j = 0)
    # reversed, so that Σ_k coef[k] out[n-k] is a dot product of two forward, contiguous slices:
    # rcoef[kmax - k] = coef[k], and the sum runs over out[n - k_hi : n] against rcoef[kmax - k_hi : kmax]
    rcoef = coef[::-1].copy()
    out[0] = f[0]
    for n in range(1, n_pts):
        x = nu * h * n
        acc = math.exp(-x) * f[n] if x < 745.0 else 0.0 * f[n]
        k_hi = min(n - 1, kmax)
        if k_hi >= 1:
            acc += dot(rcoef[kmax - k_hi: kmax], out[n - k_hi: n])
        if n - 1 < kmax:  # last interval: its far end sits on G_0
            acc += nu * decay[n - 1] * w1 * f[n] * out[0]
        out[n] = acc / (1.0 - implicit)
    return out


def renewal_ops(n_pts: float, nu_h: float) -> float:
    """Multiply-adds `renewal` spends on a grid of ``n_pts`` nodes at ν h = ``nu_h`` (its loop bounds, exactly).

    Step n sums min(n − 1, kmax) lags, kmax as in `_renewal`; ν = 0 costs nothing.
    Used to refuse a computation before it starts (`bayesmusr.physics.domain.check_work`).

    Parameters
    ----------
    n_pts : float
        Number of grid nodes N (may be a float estimate).
    nu_h : float
        ν h ≥ 0.

    Returns
    -------
    float
        Σ_{n<N} min(n − 1, kmax).
    """
    if nu_h <= 0.0 or n_pts < 2:
        return 0.0
    kmax = n_pts if nu_h * n_pts <= _CUT_EXPONENT else min(n_pts, math.floor(_CUT_EXPONENT / nu_h) + 2)
    # Σ_{n=1}^{N−1} min(n − 1, K) = K(K − 1)/2 + (N − 1 − K)·K for K < N − 1, else (N − 1)(N − 2)/2
    if kmax >= n_pts - 1:
        return (n_pts - 1.0) * (n_pts - 2.0) / 2.0
    return kmax * (kmax - 1.0) / 2.0 + (n_pts - 1.0 - kmax) * kmax


def _cubic_uniform(y, h, x):
    """Four-point Lagrange (cubic) interpolation of ``y`` sampled at k h.

    ``x`` may be in any order; values beyond the grid raise in the caller.
    Error O(h⁴ y''''); the interpolant is continuous, which is all the
    evaluation of a smooth solution on a fine grid needs.
    """
    n_pts = y.shape[0]
    out = np.empty(x.shape[0], dtype=y.dtype)
    for m in range(x.shape[0]):
        u = x[m] / h
        i = int(math.floor(u))
        if i < 1:
            i = 1
        if i > n_pts - 3:
            i = n_pts - 3
        s = u - i  # position relative to node i, nodes i-1, i, i+1, i+2
        l0 = -s * (s - 1.0) * (s - 2.0) / 6.0
        l1 = (s + 1.0) * (s - 1.0) * (s - 2.0) / 2.0
        l2 = -(s + 1.0) * s * (s - 2.0) / 2.0
        l3 = (s + 1.0) * s * (s - 1.0) / 6.0
        out[m] = l0 * y[i - 1] + l1 * y[i] + l2 * y[i + 1] + l3 * y[i + 2]
    return out


product_weights = njit(cache=True)(_product_weights)
renewal = njit(cache=True)(_renewal)
cubic_uniform = njit(cache=True)(_cubic_uniform)


def _hermite_cell(u, x):
    """Cell of a sorted grid ``u`` holding ``x`` and its cubic Hermite basis: (i, width, h00, h10, h01, h11)."""
    n = u.shape[0]
    i = np.searchsorted(u, x, side="right") - 1
    if i < 0:
        i = 0
    if i > n - 2:
        i = n - 2
    d = u[i + 1] - u[i]
    s = (x - u[i]) / d
    return (i, d, (1.0 + 2.0 * s) * (1.0 - s) ** 2, s * (1.0 - s) ** 2, s * s * (3.0 - 2.0 * s),
            s * s * (s - 1.0))


hermite_cell = njit(cache=True)(_hermite_cell)


def _hermite_weights(u, x, even_ends=False):
    """C¹ cubic Hermite interpolation weights on a sorted (non-uniform) grid ``u``.

    Node derivatives are the 3-point (second-order) finite-difference
    estimates (one-sided parabola at the ends; exactly 0 at the ends when
    ``even_ends``: for a function even about both end points, such as any
    function of Q = sin²θ on θ ∈ [0, π/2]), so the interpolant is
    continuous with a continuous first derivative everywhere — no kinks at
    grid nodes for a sampler to find.  Returns (start, w) with
    f(x) ≈ Σ_k w[k] f[start + k], k = 0..3.  ``x`` must lie in [u[0], u[-1]].
    """
    n = u.shape[0]
    w = np.zeros(4)
    if n == 1:
        w[0] = 1.0
        return 0, w
    i, d, h00, h10, h01, h11 = hermite_cell(u, x)
    start = i - 1
    if start < 0:
        start = 0
    if start > n - 4:
        start = max(n - 4, 0)
    # value parts
    w[i - start] += h00
    w[i + 1 - start] += h01
    # derivative parts, each a 3-point stencil around its node
    for node, coef in ((i, h10 * d), (i + 1, h11 * d)):
        if even_ends and (node == 0 or node == n - 1):
            continue
        if n == 2:
            w[0] += -coef / d
            w[1] += coef / d
            continue
        j0 = node - 1
        if j0 < 0:
            j0 = 0
        if j0 > n - 3:
            j0 = n - 3
        a, b, c = u[j0], u[j0 + 1], u[j0 + 2]
        xn = u[node]
        # derivative at xn of the parabola through (a, b, c)
        da = (2.0 * xn - b - c) / ((a - b) * (a - c))
        db = (2.0 * xn - a - c) / ((b - a) * (b - c))
        dc = (2.0 * xn - a - b) / ((c - a) * (c - b))
        w[j0 - start] += coef * da
        w[j0 + 1 - start] += coef * db
        w[j0 + 2 - start] += coef * dc
    return start, w


hermite_weights = njit(cache=True)(_hermite_weights)


def _lagrange6_uniform(y, h, x):
    """Six-point Lagrange interpolation of y sampled at k h (one-sided near the ends).

    Used to refine a tabulated g₀ before a fast renewal: the renewal at large
    rate is sensitive to the curvature of g₀ near τ = 0, which a cubic gets
    only to O(h²) (measured: 1.4e-4 error at ν/Δ = 40 with cubic, 5e-7 with this).
    """
    n = y.shape[0]
    out = np.empty(x.shape[0], dtype=y.dtype)
    for m in range(x.shape[0]):
        u = x[m] / h
        i = int(math.floor(u))
        s0 = i - 2
        if s0 < 0:
            s0 = 0
        if s0 > n - 6:
            s0 = n - 6
        acc = 0.0
        for a in range(6):
            la = 1.0
            for b in range(6):
                if a != b:
                    la *= (u - (s0 + b)) / (a - b)
            acc += la * y[s0 + a]
        out[m] = acc
    return out


lagrange6_uniform = njit(cache=True)(_lagrange6_uniform)


def _histogram_nuisance_terms(d, g, nf, nb, eta, want_derivatives):
    """N0-marginal Poisson log-likelihood of one F/B histogram pair and its derivatives.

    Shapes s_F = d(1 + A P) + β_F, s_B = ρ d(1 − A P) + β_B with P = G + f(1 − G)
    and ρ = 1/α, ℓ = Σ n log s − N log Σs (constants dropped).  Returns
    (ℓ, grad[5], hess[5, 5]) in the order (A, ρ, f, β_F, β_B); ℓ = −inf if any shape is ≤ 0.  One pass over
    the bins (this is the inner loop of the scan model's Laplace step).
    ``want_derivatives``: False (0) ℓ only; True (1) ℓ, gradient and Hessian; 2 the
    gradient alone, without logarithms (ℓ returned as 0; the predictor pass of
    `laplace_newton`); 3 gradient and Hessian without logarithms (ℓ returned as 0; the
    undamped Newton steps of `laplace_newton`: the two logarithms per bin are most of a pass).

    The shape Jacobians are sparse and share factors, ∂s_F = (u, 0, A v, 1, 0) and
    ∂s_B = (−ρ u, e, −ρ A v, 0, 1) with u = dP, v = d(1 − G), e = d − A u, so the pass
    keeps 23 running sums of weighted products of (u, v, e, 1) instead of 5 × 5 outer
    products per bin (measured 1.54× faster: 43 vs 66 µs at 2000 bins); the matrix is assembled once at the end.
    """
    a, rho, f, bf, bb = eta[0], eta[1], eta[2], eta[3], eta[4]
    n = d.shape[0]
    grad = np.zeros(5)
    hess = np.zeros((5, 5))
    val = 0.0
    s_sum = 0.0
    n_tot = 0.0
    # Σ n/s × {u, v, 1} (F), {u, e, v, 1} (B); Σ n/s² × products (F: 6, B: 10); Σ u, Σ v, Σ d
    wf_u = wf_v = wf_1 = 0.0
    wb_u = wb_e = wb_v = wb_1 = 0.0
    cf_uu = cf_uv = cf_u = cf_vv = cf_v = cf_1 = 0.0
    cb_uu = cb_ue = cb_uv = cb_u = cb_ee = cb_ev = cb_e = cb_vv = cb_v = cb_1 = 0.0
    sum_u = sum_v = sum_d = 0.0
    for i in range(n):
        di = d[i]
        gi = g[i]
        u = di * (gi + f * (1.0 - gi))
        e = di - a * u
        sf = di + a * u + bf
        sb = rho * e + bb
        if sf <= 0.0 or sb <= 0.0:
            return -np.inf, grad, hess
        if want_derivatives <= 1:
            val += nf[i] * math.log(sf) + nb[i] * math.log(sb)
        s_sum += sf + sb
        n_tot += nf[i] + nb[i]
        if not want_derivatives:
            continue
        v = di * (1.0 - gi)
        isf = 1.0 / sf  # one division per shape: n/s and n/s² from it
        isb = 1.0 / sb
        wf = nf[i] * isf
        wb = nb[i] * isb
        wf_u += wf * u
        wf_v += wf * v
        wf_1 += wf
        wb_u += wb * u
        wb_e += wb * e
        wb_v += wb * v
        wb_1 += wb
        sum_u += u
        sum_v += v
        sum_d += di
        if want_derivatives == 2:
            continue
        cf = wf * isf
        cb = wb * isb
        cfu = cf * u
        cf_uu += cfu * u
        cf_uv += cfu * v
        cf_u += cfu
        cf_vv += cf * v * v
        cf_v += cf * v
        cf_1 += cf
        cbu = cb * u
        cbe = cb * e
        cb_uu += cbu * u
        cb_ue += cbu * e
        cb_uv += cbu * v
        cb_u += cbu
        cb_ee += cbe * e
        cb_ev += cbe * v
        cb_e += cbe
        cb_vv += cb * v * v
        cb_v += cb * v
        cb_1 += cb
    if want_derivatives <= 1:
        val -= n_tot * math.log(s_sum)
    if not want_derivatives:
        return val, grad, hess
    r = n_tot / s_sum
    sum_e = sum_d - a * sum_u
    # Σ ∂s over bins (F + B), per parameter
    col = np.array([(1.0 - rho) * sum_u, sum_e, a * (1.0 - rho) * sum_v, float(n), float(n)])
    grad[0] = wf_u - rho * wb_u
    grad[1] = wb_e
    grad[2] = a * (wf_v - rho * wb_v)
    grad[3] = wf_1
    grad[4] = wb_1
    if want_derivatives == 2:
        for k in range(5):
            grad[k] -= r * col[k]
        return val, grad, hess
    # −Σ (n/s²) ∂s ∂sᵀ, upper triangle
    hess[0, 0] = -(cf_uu + rho * rho * cb_uu)
    hess[0, 1] = rho * cb_ue
    hess[0, 2] = -a * (cf_uv + rho * rho * cb_uv)
    hess[0, 3] = -cf_u
    hess[0, 4] = rho * cb_u
    hess[1, 1] = -cb_ee
    hess[1, 2] = rho * a * cb_ev
    hess[1, 4] = -cb_e
    hess[2, 2] = -a * a * (cf_vv + rho * rho * cb_vv)
    hess[2, 3] = -a * cf_v
    hess[2, 4] = rho * a * cb_v
    hess[3, 3] = -cf_1
    hess[4, 4] = -cb_1
    for k in range(5):
        grad[k] -= r * col[k]
        for m in range(k, 5):
            hess[k, m] += r / s_sum * col[k] * col[m]
            hess[m, k] = hess[k, m]
    # Σ_i (n_i/s_i − N/S) ∂²s_i for the bilinear pairs
    h_af = (wf_v - r * sum_v) - rho * (wb_v - r * sum_v)
    h_arho = -(wb_u - r * sum_u)
    h_rhof = -a * (wb_v - r * sum_v)
    hess[0, 2] += h_af
    hess[2, 0] += h_af
    hess[0, 1] += h_arho
    hess[1, 0] += h_arho
    hess[1, 2] += h_rhof
    hess[2, 1] += h_rhof
    return val, grad, hess


#: the Laplace step's passes (issue 19): the 25 running sums may be reordered and fused (SIMD), so a
#: pass takes 13.5 instead of 18.3 µs at 2000 bins; the sums change at the rounding level (gradient
#: 3e-11 of its largest entry); no assumption of finite values, so −inf and the ≤ 0 test stay exact
PASS_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
histogram_nuisance_terms = njit(cache=True, fastmath=PASS_FASTMATH)(_histogram_nuisance_terms)


def _solve_small(a, b, k):
    """Solve a[:k, :k] x = b[:k] by Gaussian elimination with partial pivoting; (x, ok)."""
    m = np.empty((k, k + 1))
    for i in range(k):
        for j in range(k):
            m[i, j] = a[i, j]
        m[i, k] = b[i]
    for c in range(k):
        p = c
        for i in range(c + 1, k):
            if abs(m[i, c]) > abs(m[p, c]):
                p = i
        if m[p, c] == 0.0 or not math.isfinite(m[p, c]):
            return np.zeros(k), False
        if p != c:
            for j in range(k + 1):
                tmp = m[c, j]
                m[c, j] = m[p, j]
                m[p, j] = tmp
        for i in range(c + 1, k):
            fct = m[i, c] / m[c, c]
            for j in range(c, k + 1):
                m[i, j] -= fct * m[c, j]
    x = np.zeros(k)
    for i in range(k - 1, -1, -1):
        acc = m[i, k]
        for j in range(i + 1, k):
            acc -= m[i, j] * x[j]
        x[i] = acc / m[i, i]
    return x, True


def _cholesky_small(a, k):
    """Lower Cholesky factor of a[:k, :k] and log det; ok = False unless positive definite."""
    low = np.zeros((k, k))
    logdet = 0.0
    for i in range(k):
        for j in range(i + 1):
            acc = a[i, j]
            for m in range(j):
                acc -= low[i, m] * low[j, m]
            if i == j:
                if not acc > 0.0:
                    return low, 0.0, False
                low[i, i] = math.sqrt(acc)
                logdet += 2.0 * math.log(low[i, i])
            else:
                low[i, j] = acc / low[j, j]
    return low, logdet, True


solve_small = njit(cache=True)(_solve_small)
cholesky_small = njit(cache=True)(_cholesky_small)


def _terms_unbounded(d, g, nf, nb, z, free, eta_fixed, lo, hi, logk, want_derivatives):
    """``histogram_nuisance_terms`` in unbounded coordinates z, with the prior's Jacobian.

    Each free nuisance is x = lo + (hi − lo) s (or log x = log lo + log(hi/lo) s where ``logk``)
    with s = 1/(1 + e^{−z}); fixed ones are taken from ``eta_fixed``.  For a uniform (or
    log-uniform) prior on [lo, hi] the prior density in z is s(1 − s), so the returned value
    ℓ(x(z)) + Σ log s(1 − s) integrates over z to the marginal likelihood under that prior,
    and its maximum is always interior.  Returns (value, gradient, Hessian in z, η).
    """
    eta = eta_fixed.copy()
    x1 = np.zeros(5)
    x2 = np.zeros(5)
    jac = 0.0
    for j in range(5):
        if not free[j]:
            continue
        e = math.exp(-abs(z[j]))  # the logistic s = 1/(1 + e^{−z}) and s(1 − s), exact far into either tail
        s = 1.0 / (1.0 + e) if z[j] >= 0.0 else e / (1.0 + e)
        w = e / (1.0 + e) ** 2
        if logk[j]:
            span = math.log(hi[j] / lo[j])
            eta[j] = math.exp(math.log(lo[j]) + s * span)
            x1[j] = eta[j] * span * w
            x2[j] = x1[j] * (span * w + 1.0 - 2.0 * s)
        else:
            span = hi[j] - lo[j]
            eta[j] = lo[j] + s * span
            x1[j] = span * w
            x2[j] = x1[j] * (1.0 - 2.0 * s)
        jac += -abs(z[j]) - 2.0 * math.log1p(e)  # log s(1 − s)
    val, gx, hx = histogram_nuisance_terms(d, g, nf, nb, eta, want_derivatives)
    val += jac
    gz = np.zeros(5)
    hz = np.zeros((5, 5))
    if not want_derivatives:
        return val, gz, hz, eta
    for j in range(5):
        if free[j]:
            e = math.exp(-abs(z[j]))
            s = 1.0 / (1.0 + e) if z[j] >= 0.0 else e / (1.0 + e)
            gz[j] = gx[j] * x1[j] + 1.0 - 2.0 * s
            if want_derivatives != 2:
                for k in range(5):
                    if free[k]:
                        hz[j, k] = hx[j, k] * x1[j] * x1[k]
                hz[j, j] += gx[j] * x2[j] - 2.0 * e / (1.0 + e) ** 2
    return val, gz, hz, eta


terms_unbounded = njit(cache=True)(_terms_unbounded)

#: |z| beyond which a nuisance is at its prior edge to double precision (s(1 − s) < 4e-18)
Z_MAX = 40.0
#: Newton iterations before a solve counts as failed: on the nearly degenerate A–f ridge of a spectrum that
#: hardly relaxes (EMU 20882 at Δ = 0.3, ν = 5 μs⁻¹) the damped steps needed were between 200 and 300;
#: well-conditioned runs need a few (~2.25 full passes per solve with the predictor, measured earlier)
MAX_ITER = 500


#: undamped Newton steps tried before the value-checked (Levenberg-Marquardt) iterations, and the largest
#: predicted gain gᵀA⁻¹g at which such a step is taken unchecked (a Poisson log-likelihood of ≳ 1e5 events
#: is quadratic to far better than that over a step of √25 = 5 standard deviations)
UNCHECKED_STEPS = 10
UNCHECKED_GAIN = 1e4
#: the predicted first step is taken only when the gain it predicts, gᵀA⁻¹g at the reference, is below this:
#: beyond, G is far from the reference's and the linear prediction can land off the A–f ridge, where the
#: Hessian is indefinite.  Measured on the bench_fit EA problem (Laplace draws at 1, 3, 10 × the posterior
#: SD): 9.4, 13.8, 32.6 full-pass equivalents per solve with this gate, 23.7, 36.4, 51.6 without it
PREDICTOR_GAIN = 1e3


def _newton_unchecked(d, g, nf, nb, z0, free, eta_fixed, lo, hi, logk, idx):
    """Undamped Newton steps without the value (gradient and Hessian passes, no logarithms).

    While the Hessian is negative definite and the predicted gain gᵀA⁻¹g is below
    `UNCHECKED_GAIN` and falling, the full Newton step is taken without evaluating ℓ (the two
    logarithms per bin are 2/3 of a full pass).  Returns (z, done, value, η, log det A): done when
    gᵀA⁻¹g < 1e-9 (the convergence test of `laplace_newton`), with the value from one pass
    without derivatives; otherwise z is where the checked iterations continue from.
    """
    k = idx.shape[0]
    z = z0.copy()
    a = np.zeros((k, k))
    last = np.inf
    for _ in range(UNCHECKED_STEPS):
        shapes_ok, grad, hess, eta = terms_unbounded(d, g, nf, nb, z, free, eta_fixed, lo, hi, logk, 3)
        if not math.isfinite(shapes_ok):
            break
        for i in range(k):
            for j in range(k):
                a[i, j] = -hess[idx[i], idx[j]]
        low, logdet, pd = cholesky_small(a, k)
        if not pd:
            break
        # w = L⁻¹ g, gᵀA⁻¹g = |w|², then the step A⁻¹g = L⁻ᵀ w
        w = np.zeros(k)
        ww = 0.0
        for i in range(k):
            acc = grad[idx[i]]
            for m in range(i):
                acc -= low[i, m] * w[m]
            w[i] = acc / low[i, i]
            ww += w[i] * w[i]
        if ww < 1e-9:
            val, _, _, eta = terms_unbounded(d, g, nf, nb, z, free, eta_fixed, lo, hi, logk, 0)
            if math.isfinite(val):
                return z, True, val, eta, logdet
            break
        if ww > UNCHECKED_GAIN or ww >= last:
            break
        last = ww
        step = np.zeros(k)
        for i in range(k - 1, -1, -1):
            acc = w[i]
            for m in range(i + 1, k):
                acc -= low[m, i] * step[m]
            step[i] = acc / low[i, i]
        trial = z.copy()
        for i in range(k):
            trial[idx[i]] += step[i]
            if abs(trial[idx[i]]) > Z_MAX:
                return z, False, -np.inf, eta, 0.0
        z = trial
    return z, False, -np.inf, eta_fixed, 0.0


newton_unchecked = njit(cache=True)(_newton_unchecked)


def _laplace_newton(d, g, nf, nb, z0, free, eta_fixed, lo, hi, logk, predictor):
    """Damped-Newton conditional optimum of the histogram nuisances (HistogramNuisances), in z.

    Levenberg-Marquardt damped Newton on the free entries of z (the unbounded coordinates of
    η = (A, ρ, f, β_F, β_B) inside their prior bounds, see ``terms_unbounded``) from ``z0``.
    Stops when the undamped Newton step would gain less than 1e-9 (gᵀ A⁻¹ g < 1e-9,
    A = −Hessian).  Returns (value at the optimum, z, η, log det A, converged).

    ``predictor`` (5 × 5, zero rows and columns for fixed entries; or 0 × 0 for none) is a
    fixed A⁻¹ from the reference point: the iterations then start from z₀ + predictor · ∇(z₀),
    a quasi-Newton step that needs only the gradient pass (mode 2, no logarithms).  Near the
    reference it lands within the quadratic basin, so the damped Newton needs fewer full passes.
    From there `newton_unchecked` takes undamped Newton steps without the value while the
    quadratic model is trusted (about half the cost of a full pass each); only if they do not
    converge do the value-checked iterations follow.  Every step is a fixed function of G, so the
    result stays deterministic.
    """
    idx = np.nonzero(free)[0]
    k = idx.shape[0]
    z = z0.copy()
    if predictor.shape[0] == 5:
        shapes_ok, g0, _, _ = terms_unbounded(d, g, nf, nb, z, free, eta_fixed, lo, hi, logk, 2)
        if math.isfinite(shapes_ok):
            trial = z.copy()
            inside = True
            gain = 0.0
            for i in range(5):
                step = 0.0
                for j in range(5):
                    step += predictor[i, j] * g0[j]
                trial[i] += step
                gain += g0[i] * step
                if abs(trial[i]) > Z_MAX:
                    inside = False
            if inside and gain <= PREDICTOR_GAIN:
                z = trial
    # undamped steps from the predicted start, then (the prediction can land off the ridge of a poorly
    # determined A–f pair, where the Hessian is indefinite) from the reference itself
    zu, done, val, eta, logdet = newton_unchecked(d, g, nf, nb, z, free, eta_fixed, lo, hi, logk, idx)
    if done:
        return val, zu, eta, logdet, True
    if predictor.shape[0] == 5:
        zu, done, val, eta, logdet = newton_unchecked(d, g, nf, nb, z0, free, eta_fixed, lo, hi, logk, idx)
        if done:
            return val, zu, eta, logdet, True
    # one pass per point gives the value, gradient and Hessian together: a trial step is judged by its
    # value and, if accepted, its derivatives are those of the next iteration (no separate value pass)
    val, grad, hess, eta = terms_unbounded(d, g, nf, nb, z, free, eta_fixed, lo, hi, logk, 1)
    if not math.isfinite(val):
        return -np.inf, z, eta, 0.0, False
    mu = 0.0
    a = np.zeros((k, k))
    gr = np.zeros(k)
    damped = np.zeros((k, k))
    for _ in range(MAX_ITER):
        for i in range(k):
            gr[i] = grad[idx[i]]
            for j in range(k):
                a[i, j] = -hess[idx[i], idx[j]]
        low, logdet, pd = cholesky_small(a, k)
        if pd:
            # w = L⁻¹ g; converged when |w|² = gᵀ A⁻¹ g < 1e-9
            w = np.zeros(k)
            ww = 0.0
            for i in range(k):
                acc = gr[i]
                for m in range(i):
                    acc -= low[i, m] * w[m]
                w[i] = acc / low[i, i]
                ww += w[i] * w[i]
            if ww < 1e-9:
                return val, z, eta, logdet, True
        while True:
            for i in range(k):
                for j in range(k):
                    damped[i, j] = a[i, j]
                damped[i, i] += mu * (abs(a[i, i]) + 1e-300)
            step, ok = solve_small(damped, gr, k)
            pred = -1.0
            if ok:
                pred = 0.0
                for i in range(k):
                    pred += gr[i] * step[i]
            if pred >= 0.0:
                break
            mu = max(10.0 * mu, 1e-6)  # not an ascent direction: damp more
            if mu > 1e30:
                return -np.inf, z, eta, 0.0, False
        trial = z.copy()
        inside = True
        for i in range(k):
            trial[idx[i]] += step[i]
            if abs(trial[idx[i]]) > Z_MAX:
                inside = False
        new = -np.inf
        if inside:
            new, new_grad, new_hess, new_eta = terms_unbounded(d, g, nf, nb, trial, free, eta_fixed, lo, hi, logk, 1)
        if new > val - 1e-6:  # within rounding: ℓ is a difference of ~1e7-sized sums
            z = trial
            val = new
            grad = new_grad
            hess = new_hess
            eta = new_eta
            mu = 0.0 if mu <= 1e-6 else mu / 10.0
        elif mu > 1e10:
            break
        else:
            mu = max(10.0 * mu, 1e-6)
    return -np.inf, z, eta, 0.0, False


laplace_newton = njit(cache=True)(_laplace_newton)


def _stencil_derivative(xs, j):
    """Weights c_m with p'(xs[j]) = Σ c_m f(xs[m]) for the polynomial through all nodes xs."""
    k = xs.shape[0]
    c = np.zeros(k)
    xn = xs[j]
    for m in range(k):
        if m == j:
            acc = 0.0
            for l in range(k):
                if l != j:
                    acc += 1.0 / (xn - xs[l])
            c[m] = acc
        else:
            num = 1.0
            den = 1.0
            for l in range(k):
                if l != m:
                    den *= xs[m] - xs[l]
                    if l != j:
                        num *= xn - xs[l]
            c[m] = num / den
    return c


def _hermite_weights5(u, x, even_ends=False):
    """C¹ cubic Hermite weights with fourth-order node slopes, on a sorted non-uniform grid ``u``.

    As `hermite_weights`, but each node derivative is that of the quartic
    through five nodes centred on it (shifted inwards at the ends, or, when
    ``even_ends``, completed by mirror images: f(2u₀ − u_k) = f(u_k), and the
    end slopes are exactly 0).  The interpolation error falls as h⁴ instead
    of h³.  Returns (start, w) with f(x) ≈ Σ_k w[k] f[start + k], k = 0..5.
    Needs len(u) ≥ 6.
    """
    n = u.shape[0]
    w = np.zeros(6)
    i, d, h00, h10, h01, h11 = hermite_cell(u, x)
    start = i - 2
    if start < 0:
        start = 0
    if start > n - 6:
        start = n - 6
    w[i - start] += h00
    w[i + 1 - start] += h01
    xs = np.empty(5)
    idx = np.empty(5, dtype=np.int64)
    for node, coef in ((i, h10 * d), (i + 1, h11 * d)):
        if even_ends:
            if node == 0 or node == n - 1:
                continue
            for m in range(5):
                k = node - 2 + m
                if k < 0:  # mirror image below u[0]
                    xs[m] = 2.0 * u[0] - u[-k]
                    idx[m] = -k
                elif k > n - 1:  # mirror image above u[n-1]
                    xs[m] = 2.0 * u[n - 1] - u[2 * (n - 1) - k]
                    idx[m] = 2 * (n - 1) - k
                else:
                    xs[m] = u[k]
                    idx[m] = k
            j = 2
        else:
            j0 = node - 2
            if j0 < 0:
                j0 = 0
            if j0 > n - 5:
                j0 = n - 5
            for m in range(5):
                xs[m] = u[j0 + m]
                idx[m] = j0 + m
            j = node - j0
        c = stencil_derivative(xs, j)
        for m in range(5):
            w[idx[m] - start] += coef * c[m]
    return start, w


stencil_derivative = njit(cache=True)(_stencil_derivative)
hermite_weights5 = njit(cache=True)(_hermite_weights5)


def _static_kt_uniform(hy, n, wp):
    """Static LF Kubo-Toyabe G(y_k; ω') at y_k = k·hy, k < n (units Δ = 1), for ω' ≥ 0.5.

    G = 1 − (2/ω'²)(1 − e^{−y²/2} cos ω'y) + (2/ω'³) J(y), J = ∫₀^y e^{−u²/2} sin ω'u du.
    On a uniform grid the Gaussian and the rotation follow from one-step
    recurrences and J accumulates by Simpson's rule on each interval (error
    ~ hy⁵ ω'⁴/2880 per interval), so no special function is evaluated: a few
    µs for 500 nodes, where the Faddeeva form costs ~50 µs.
    """
    s = 0.5 * hy
    out = np.empty(n)
    g = 1.0  # e^{−u²/2} at u = j s
    ratio = math.exp(-0.5 * s * s)  # g_{j+1}/g_j = e^{−s²/2 − j s²}
    shrink = math.exp(-s * s)
    c = 1.0  # cos ω'u, sin ω'u by rotation
    sn = 0.0
    cr = math.cos(wp * s)
    sr = math.sin(wp * s)
    integral = 0.0
    f_prev = 0.0  # integrand at the last grid node
    a = 2.0 / (wp * wp)
    b = 2.0 / (wp * wp * wp)
    out[0] = 1.0
    for k in range(1, n):
        # half step
        g *= ratio
        ratio *= shrink
        c, sn = c * cr - sn * sr, sn * cr + c * sr
        f_mid = g * sn
        # full step
        g *= ratio
        ratio *= shrink
        c, sn = c * cr - sn * sr, sn * cr + c * sr
        f_new = g * sn
        integral += hy / 6.0 * (f_prev + 4.0 * f_mid + f_new)
        f_prev = f_new
        out[k] = 1.0 - a * (1.0 - g * c) + b * integral
    return out


static_kt_uniform = njit(cache=True)(_static_kt_uniform)


def _uniform_slope5(y, i, n):
    """dy/du at node i of a uniform grid (unit step): five-point stencil, one-sided near the ends."""
    if i >= 2 and i <= n - 3:
        return (y[i - 2] - 8.0 * y[i - 1] + 8.0 * y[i + 1] - y[i + 2]) / 12.0
    if i == 0:
        return (-25.0 * y[0] + 48.0 * y[1] - 36.0 * y[2] + 16.0 * y[3] - 3.0 * y[4]) / 12.0
    if i == 1:
        return (-3.0 * y[0] - 10.0 * y[1] + 18.0 * y[2] - 6.0 * y[3] + y[4]) / 12.0
    if i == n - 2:
        return (3.0 * y[n - 1] + 10.0 * y[n - 2] - 18.0 * y[n - 3] + 6.0 * y[n - 4] - y[n - 5]) / 12.0
    return (25.0 * y[n - 1] - 48.0 * y[n - 2] + 36.0 * y[n - 3] - 16.0 * y[n - 4] + 3.0 * y[n - 5]) / 12.0


uniform_slope5 = njit(cache=True)(_uniform_slope5)


def _hermite_uniform5(y, h, x):
    """C¹ cubic Hermite interpolation of y sampled at k h (n ≥ 5) with fourth-order node slopes.

    Value and first derivative are continuous in x (hence in any parameter that
    scales x, such as Δ in x = Δt); the node slopes are five-point differences,
    so the error falls as h⁴ (three-point, Catmull-Rom slopes: h³).  The slopes are
    computed once per node, not once per point: a spectrum has far more time bins
    (2000) than grid nodes (~150–500), and the time axis is then a single pass.
    """
    n = y.shape[0]
    slope = np.empty(n, dtype=y.dtype)
    for i in range(n):
        slope[i] = uniform_slope5(y, i, n)
    out = np.empty(x.shape[0], dtype=y.dtype)
    for m in range(x.shape[0]):
        u = x[m] / h
        i = int(math.floor(u))
        if i < 0:
            i = 0
        if i > n - 2:
            i = n - 2
        s = u - i
        d0 = slope[i]
        d1 = slope[i + 1]
        s2 = s * s
        s3 = s2 * s
        out[m] = ((2 * s3 - 3 * s2 + 1) * y[i] + (s3 - 2 * s2 + s) * d0
                  + (-2 * s3 + 3 * s2) * y[i + 1] + (s3 - s2) * d1)
    return out


hermite_uniform5 = njit(cache=True)(_hermite_uniform5)


def _richardson_renewal(g0, v, dx):
    """Renewal of g₀ at rate v on steps dx and 2 dx, Richardson-combined on every node of g₀.

    G = R_dx + (R_dx − R_2dx)/3 at even nodes; the correction, smooth and small, is carried to
    the odd nodes by cubic interpolation (zero when fewer than 4 coarse nodes).  One compiled
    call for what `bayesmusr.physics.ea.muon_renewal` otherwise does in five (same arithmetic).
    """
    n = g0.shape[0]
    fine = renewal(g0, v, dx)
    coarse = renewal(g0[::2].copy(), v, 2.0 * dx)
    m = coarse.shape[0]
    corr = np.empty(m)
    for j in range(m):
        corr[j] = (fine[2 * j] - coarse[j]) / 3.0
    if m >= 4:
        corr_all = cubic_uniform(corr, 2.0 * dx, np.arange(n) * dx)
    else:
        corr_all = np.zeros(n)
    for j in range(m):
        corr_all[2 * j] = corr[j]
    return fine + corr_all


richardson_renewal = njit(cache=True)(_richardson_renewal)


def _table_combination(data, u_nu, u_q, u_omega, a, b, c, n_x):
    """Σ w_ν w_θ w_ω data[·, ·, ·, :n_x]: the C¹ Hermite weights on the three table axes at (a, b, c)
    (axis coordinates; θ even at both ends) and the tensor-product combination of slices, in one call."""
    s0, w0 = axis_weights(u_nu, a, False)
    s1, w1 = axis_weights(u_q, b, True)
    s2, w2 = axis_weights(u_omega, c, False)
    out = np.zeros(n_x)
    for i in range(w0.shape[0]):
        if w0[i] == 0.0:
            continue
        for j in range(w1.shape[0]):
            if w1[j] == 0.0:
                continue
            for k in range(w2.shape[0]):
                wt = w0[i] * w1[j] * w2[k]
                if wt == 0.0:
                    continue
                row = data[s0 + i, s1 + j, s2 + k]
                for m in range(n_x):
                    out[m] += wt * row[m]
    return out


def _axis_weights(axis, value, even_ends):
    """C¹ Hermite weights along one table axis: fourth-order node slopes when the axis has ≥ 6 nodes."""
    if axis.shape[0] >= 6:
        return hermite_weights5(axis, value, even_ends)
    s, w = hermite_weights(axis, value, even_ends)
    return s, w


axis_weights = njit(cache=True)(_axis_weights)
table_combination = njit(cache=True)(_table_combination)


def _narrowed_decay(x, v, w, c):
    """exp(−c x² Re φ₂((v + i w) x)), φ₂(z) = (e^{−z} − 1 + z)/z² (series below |z| = 1e-2), per x.

    Keren's motionally narrowed relaxation (`bayesmusr.physics.ea.fast_ion_limit`), with the
    same two branches as `bayesmusr.physics.kt._phi2`, in one compiled pass.
    """
    out = np.empty(x.shape[0])
    for k in range(x.shape[0]):
        z = complex(v * x[k], w * x[k])
        if abs(z) < 1e-2:
            phi = 0.5 - z / 6.0 + z * z / 24.0 - z * z * z / 120.0 + z * z * z * z / 720.0
        else:
            phi = (cmath.exp(-z) - 1.0 + z) / (z * z)
        out[k] = math.exp(-(c * (x[k] * x[k]) * phi.real))
    return out


narrowed_decay = njit(cache=True)(_narrowed_decay)


def _ea_table_common(data, u_nu, u_q, u_omega, dx, n_x, a, b, c, v, q, w, lam, v_mu, x, x_flat):
    """`bayesmusr.ea` on its common path in one compiled call: table slices, reference factor, renewal, Δt grid.

    The steps and arithmetic of `tables._interpolate_g0` (slices combined at axis coordinates
    a, b, c, times S_σ^λ with σ = √(1 − Q) in field w: the recurrence `static_kt_uniform` for
    w/σ ≥ 0.5, the closed form in zero field), then the Richardson renewal at ν_μ/Δ = v_mu
    (none at 0) and the C¹ Hermite evaluation at x = Δt.  ``ea`` calls it only where those are
    its branches (no fast-ion blend, no fine-grid renewal, no series static KT); one call
    instead of five saves ~15 µs of Python per evaluation (issue 19).
    """
    g = table_combination(data, u_nu, u_q, u_omega, a, b, c, n_x)
    sigma2 = 1.0 - q
    if lam >= 1e-12 and sigma2 > 0.0:
        sigma = math.sqrt(sigma2)
        if w / sigma >= 0.5:
            s = static_kt_uniform(sigma * dx, n_x, w / sigma)
        else:  # w = 0 here: 1/3 + (2/3)(1 − y²) e^{−y²/2}, y = σ Δt (flat beyond x_flat)
            s = np.empty(n_x)
            for k in range(n_x):
                y = min(sigma * dx * k, x_flat)
                s[k] = 1.0 / 3.0 + (2.0 / 3.0) * (1.0 - y * y) * math.exp(-0.5 * y * y)
        for k in range(n_x):
            g[k] *= math.exp(lam * math.log(s[k]))
    if v_mu > 0.0:
        g = richardson_renewal(g, v_mu, dx)
    return hermite_uniform5(g, dx, x)


ea_table_common = njit(cache=True)(_ea_table_common)
