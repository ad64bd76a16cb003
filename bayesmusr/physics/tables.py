"""EA tables: build, store, verify and interpolate g₀ = G^EA(Δt; ν_i/Δ, Q, ω_L/Δ; ν_μ = 0).

What a table holds
------------------
A netCDF4 file (written with xarray) with one variable ``g0`` over

* ``nu_i`` — ν_i/Δ, uniform in u = asinh(ν_i/Δ / NU_SCALE) (linear near 0,
  logarithmic above), 0 ≤ ν_i/Δ ≤ 100;
* ``q`` — Q = sin²θ, θ uniform in [0, π/2] (nodes dense near both ends,
  where G varies fastest with Q; both ends are exact limits);
* ``omega`` — ω_L/Δ, uniform in asinh(ω_L/Δ / OMEGA_SCALE) with step 0.091 on
  [0, 3] and half that step on (3, 20.8] (at fixed Δt, G oscillates in ω_L with
  phase ω_L t, so high fields need the finer step, see docs/ea-tables.md);
* ``x`` — Δt, uniform step 0.04 in [0, 20];

with units, build parameters, a table version and a SHA-256 checksum (``sha256``) over
everything else in the file: every variable (name, dimensions, dtype, shape, values,
attributes) and every other global attribute — so the stored counts, their scale and
offset, all four axes, the grid and reference-factor parameters and the version
(`_digest`; verified on every load, with a message saying how to restore or rebuild).

What is stored is g₀ divided by a known analytic factor (`reference_factor`, which
removes the slowly dephasing precession of the static part near Q = 1), as uint16
counts, quotient = g0_offset + g0_scale·count (quantisation error ≤ 9e-6), written as
their int16 steps along Δt (which zlib packs 2.1× tighter), which keeps the file within
the repository's size budget.  G depends on Δ only through these ratios.

Build
-----
Each ν_i slice (all Q) of each ω segment is one task; tasks run in parallel processes, or on
any executor with ``submit`` (a ``concurrent.futures`` pool, a Dask ``distributed.Client``:
``bayesmusr tables build --scheduler``), and every finished Q row of a slice is saved at once
(``<table>.build/omega_<k>/slice_###.npz``), so an interrupted build resumes where it stopped and a refined Q grid
computes only its new rows.  The computation is
deterministic: rebuilding gives the same bytes.

Interpolation
-------------
C¹ cubic Hermite in (u(ν_i), θ, u(ω)) with fourth-order node slopes — 216 slices
combined with weights —
then the exact muon-jump renewal at the requested ν_μ (no ν_μ grid,
`ea.muon_renewal`), then C¹ cubic Hermite in Δt (five-point node slopes).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.resources
import math
import multiprocessing as mp
import numbers
import os
import pathlib
import time
from dataclasses import dataclass

import numpy as np
import xarray as xr
from tqdm import tqdm

import bayesmusr.physics._kernels as _kernels  # the submodule itself: no edge to the package, which imports this module
from bayesmusr.physics.domain import check_ratio
from bayesmusr.physics.ea import (
    TINY_X,
    check_ea_args,
    ea_direct,
    ea_static_scaled,
    fast_ion_limit_uniform,
    fast_muon_limit,
    renewal_on_grid,
    renewal_unchecked,
)
from bayesmusr.physics.kt import KEREN_ABOVE, OMEGA_PER_MT, X_FLAT, _dynamic, _static_kt_scaled

TABLE_VERSION = "2.0"
NU_SCALE = 1e-3  # ν_i/Δ below which the ν_i axis is linear
OMEGA_SCALE = 1.0  # ω_L/Δ below which the ω axis is linear
DX = 0.04  # Δt step of the stored table
BLEND_FROM = 70.0  # ν_i/Δ (per 100 of the table's ν_max) from which the table blends into the fast-ion limit

GRIDS = {
    # name: (n_nu, nu_max, n_q, omega segments, x_max, refine Q near 1)
    # An ω segment is (n, w_max) for the first (n nodes uniform in asinh ω on [0, w_max]) and
    # (n, step ratio) for the next ones (n nodes continuing past the previous end at that
    # fraction of the previous asinh step).  Each segment is built and cached on its own.
    # Spacings chosen from measured 1-D interpolation errors (docs/ea-tables.md):
    # asinh(ν/1e-3) step 0.266, Q = sin²θ with θ step π/50, asinh(ω) step 0.091 up to ω_L/Δ = 3
    # and 0.0455 above (precession at ω_L: G oscillates in ω with phase ω·Δt, docs/ea-tables.md)
    "standard": (47, 100.0, 26, ((21, 3.0), (42, 0.5)), 20.0, True),
    "small": (6, 10.0, 5, ((4, 3.0), (2, 0.5)), 8.0, False),  # for tests of the build machinery
}
#: extra θ nodes below θ = π/2, in units of the uniform θ step (standard grid)
Q_TOP_REFINE = (0.25, 0.5, 0.75, 1.5, 2.5, 3.5)
#: Stored quantity: g₀ divided by the reference factor S_σ(Δt; ω_L)^λ(ν_i, Q) (see `reference_factor`),
#: λ = Q^REF_Q_POWER · v²/(v² + REF_NU²).  Near Q = 1 with fast ions g₀ ≈ S_σ × (smooth narrowing):
#: the static part of width σ = √(1−Q) precesses in ω_L with an amplitude that dephases only
#: slowly (on Δt ~ 1/σ), which no practical ω grid resolves at Δt ~ 20; divided out, what is
#: tabulated is smooth in ω.  λ is analytic in (ν_i, Q), so the quotient stays smooth too.
REF_Q_POWER = 20
REF_NU = 5.0
#: global attribute holding the table's checksum (`_digest`)
DIGEST_ATTR = "sha256"
#: what the checksum covers, stored in the table next to it (and itself covered)
DIGEST_COVERS = ("SHA-256 over every variable (name, dimensions, dtype, shape, little-endian values, attributes) "
                 "and every global attribute except sha256, each type-tagged, in sorted order "
                 "(bayesmusr.physics.tables._digest)")

#: the shipped table is package data (found through importlib.resources, so an installed wheel has it:
#: pyproject.toml [tool.setuptools.package-data]); in a source checkout or an editable install this is
#: bayesmusr/physics/data/ of the repository, in an installed wheel a folder of site-packages
TABLE_DIR = pathlib.Path(str(importlib.resources.files("bayesmusr.physics") / "data"))
DEFAULT_TABLE = TABLE_DIR / "ea_g0_v2.nc"


def _default_output(grid: str) -> pathlib.Path:
    """Where `build_table` writes without an explicit output: the package data folder, if writable.

    In a source checkout or an editable install that is the repository's
    bayesmusr/physics/data/ (a rebuild replaces the shipped table, as before).
    An installed package's folder in site-packages is usually read-only, and
    writing there would silently change the installation: then ask for an
    output file instead.
    """
    path = DEFAULT_TABLE if grid == "standard" else TABLE_DIR / f"ea_g0_{grid}.nc"
    if not os.access(path.parent, os.W_OK):
        raise ValueError(
            f"the package data folder {path.parent} is not writable (an installed bayesmusr); give the table "
            f"file to write, e.g. `bayesmusr tables build --output {path.name}`, "
            f"and use it with table=... / --table")
    return path


def grid_axes(grid: str = "standard"):
    """Return the axes (nu_i, q, omega, x) of a named grid, in physical units of Δ.

    Parameters
    ----------
    grid : str
        Grid name from `GRIDS`.

    Returns
    -------
    nu_i, q, omega, x : numpy.ndarray
        Node values of ν_i/Δ, Q, ω_L/Δ and Δt (1-D each).
    """
    nu, q, segments, x = _grid_parts(grid)
    return nu, q, np.concatenate(segments), x


def _grid_parts(grid: str):
    """Axes of a grid with the ω axis as its list of segments (each built and cached separately)."""
    try:
        n_nu, nu_max, n_q, w_spec, x_max, refine_q = GRIDS[grid]
    except KeyError:
        raise ValueError(f"unknown table grid {grid!r}; expected one of {sorted(GRIDS)}") from None
    u_nu = np.linspace(0.0, math.asinh(nu_max / NU_SCALE), n_nu)
    nu = NU_SCALE * np.sinh(u_nu)
    nu[-1] = nu_max
    theta = np.linspace(0.0, 0.5 * math.pi, n_q)
    if refine_q:
        # near Q = 1 the static part's width σ = √(1−Q) = cos θ sets structure on the scale σ·Δt ~ 1,
        # which uniform θ under-resolves at Δt ~ 20 (measured error 3e-3 at Q = 0.9966): refine there
        step = theta[1]
        theta = np.union1d(theta, 0.5 * math.pi - step * np.array(Q_TOP_REFINE))
    q = np.sin(theta) ** 2
    q[0], q[-1] = 0.0, 1.0
    (n_w, w_max), *more = w_spec
    u_w = np.linspace(0.0, math.asinh(w_max / OMEGA_SCALE), n_w)
    segments = [OMEGA_SCALE * np.sinh(u_w)]
    segments[0][-1] = w_max
    step, u_end = u_w[1] - u_w[0], u_w[-1]
    for n_w, ratio in more:
        step *= ratio
        u_w = u_end + step * np.arange(1, n_w + 1)
        segments.append(OMEGA_SCALE * np.sinh(u_w))
        u_end = u_w[-1]
    n_x = int(round(x_max / DX)) + 1
    x = np.arange(n_x) * DX
    return nu, q, segments, x


def _slice_task(args):
    """Compute one ν_i slice: array (n_q, n_omega, n_x), reusing Q rows already computed.

    The cache ``slice_###.npz`` holds the Q values and rows finished so far
    (a refined Q grid only computes its new rows).
    """
    i, v, q_axis, w_axis, n_x, path = args
    path = pathlib.Path(path)
    known = _read_slice_cache(path, len(w_axis), n_x)
    missing = [q for q in q_axis if _qkey(q) not in known]
    if not missing:
        return i, 0.0
    t0 = time.perf_counter()
    for q in missing:
        row = np.empty((len(w_axis), n_x))
        for b, w in enumerate(w_axis):
            row[b] = ea_static_scaled(DX, n_x, float(v), float(q), float(w))
        known[_qkey(q)] = row
        _write_slice_cache(path, known)  # after every Q row: an interruption loses at most one row
    return i, time.perf_counter() - t0


def _check_workers(workers, func: str):
    if workers is not None and (isinstance(workers, (bool, np.bool_)) or not isinstance(workers, (int, np.integer))
                                or workers < 1):
        raise ValueError(f"{func}: workers must be a positive integer or None (all cores), got {workers!r}")


def _check_executor(executor, workers):
    if executor is None:
        return
    if not callable(getattr(executor, "submit", None)):
        raise ValueError("build_table: executor must have a submit(fn, *args) method (a concurrent.futures "
                         f"executor or a distributed.Client), got {type(executor).__name__}")
    if workers is not None:
        raise ValueError(f"build_table: give workers (local processes) or executor, not both (workers={workers!r})")


def _run_slices(todo: list, workers: int | None, executor, bar) -> None:
    """Compute the slice tasks ``todo``: on ``executor``, in ``workers`` spawned processes, or here (1)."""
    if not todo:
        return
    if executor is not None:
        # submitted in the given order (most expensive first): a Dask scheduler starts them in that order
        futures = [executor.submit(_slice_task, task) for task in todo]
        for future in futures:
            future.result()
            bar.update()
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for task in todo:
            _slice_task(task)
            bar.update()
        return
    with mp.get_context("spawn").Pool(workers) as pool:
        for _ in pool.imap_unordered(_slice_task, todo):
            bar.update()


def _qkey(q) -> float:
    return round(float(q), 13)


def _read_slice_cache(path: pathlib.Path, n_w: int, n_x: int) -> dict:
    """Q rows already computed for one cached slice, {Q: (n_w, n_x) array}; empty if none."""
    known = {}
    if path.exists():
        with np.load(path) as z:
            if z["g0"].shape[1:] == (n_w, n_x):
                known.update({_qkey(q): r for q, r in zip(z["q"], z["g0"])})
    return known


def _write_slice_cache(path: pathlib.Path, known: dict):
    qs = sorted(known)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, q=np.array(qs), g0=np.stack([known[q] for q in qs]))
    os.replace(tmp, path)  # atomic: the cache is always complete for the rows it lists


def build_table(output=None, grid: str = "standard", workers: int | None = None, progress: bool = True,
                executor=None):
    """Build (or resume building) an EA table and write it as netCDF.

    Parameters
    ----------
    output : path, optional
        Table file.  Default: the package data file `DEFAULT_TABLE`
        (``bayesmusr/physics/data/ea_g0_v2.nc``; ``ea_g0_<grid>.nc`` there for
        other grids) when that folder is writable (source checkout, editable
        install); for a read-only installed package it must be given.
    grid : str
        Grid name from `GRIDS`.
    workers : int, optional
        Worker processes (default: all cores); not with ``executor``.
    progress : bool
        Show a tqdm progress bar.
    executor : object, optional
        Runs the slice tasks instead of a process pool: anything with ``submit(fn, *args)``
        returning a future with ``result()`` — a ``concurrent.futures`` executor or a Dask
        ``distributed.Client``.  Its workers must see ``output``'s folder (they write the slice
        cache there).

    Returns
    -------
    pathlib.Path of the written table.
    """
    nu, q, segments, x = _grid_parts(grid)  # first: an unknown grid name is the error to report
    _check_workers(workers, "build_table")
    _check_executor(executor, workers)
    output = pathlib.Path(output) if output else _default_output(grid)
    build_dir = output.with_suffix(".build")
    # one task per (ω segment, ν_i slice); cache <table>.build/omega_<k>/slice_###.npz
    tasks = []
    for k, w in enumerate(segments):
        (build_dir / f"omega_{k}").mkdir(parents=True, exist_ok=True)
        tasks += [(i, v, q, w, len(x), str(build_dir / f"omega_{k}" / f"slice_{i:03d}.npz"))
                  for i, v in enumerate(nu)]
    # expensive slices first (large ν_i need fine steps) so the tail of the build is short
    tasks.sort(key=lambda t: -t[1])
    todo = [t for t in tasks
            if any(_qkey(qq) not in _read_slice_cache(pathlib.Path(t[5]), len(t[3]), len(x)) for qq in q)]
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=f"EA table {grid}",
               unit="slice", disable=not progress)
    _run_slices(todo, workers, executor, bar)
    bar.close()
    w = np.concatenate(segments)
    rows = []
    for i in range(len(nu)):
        parts = []
        for k, wk in enumerate(segments):
            known = _read_slice_cache(build_dir / f"omega_{k}" / f"slice_{i:03d}.npz", len(wk), len(x))
            parts.append(np.stack([known[_qkey(qq)] for qq in q]))
        rows.append(np.concatenate(parts, axis=1))
    data = np.stack(rows)
    if not np.all(np.isfinite(data)):
        raise ValueError(f"EA table build {build_dir}: non-finite g0; refusing to write a wrong table")
    for a, v in enumerate(nu):
        for b, qq in enumerate(q):
            for c, ww in enumerate(w):
                data[a, b, c] /= reference_factor(DX, len(x), v, qq, ww)
    # uint16 counts over the data's own range (quantisation error ≤ scale/2 ≈ 8e-6 for a range of ~1)
    offset = math.floor(data.min() * 100.0) / 100.0 - 0.01
    scale = (math.ceil(data.max() * 100.0) / 100.0 + 0.01 - offset) / 65534.0
    counts = np.rint((data - offset) / scale)
    _write_table(output, counts.astype(np.uint16), nu, q, w, x, grid, offset, scale)
    return output


def reference_factor(dx: float, n: int, v: float, q: float, w: float) -> np.ndarray:
    """S_σ(x; w)^λ on x_k = k·dx, k < n: the factor the table divides g₀ by (and interpolation multiplies back).

    S_σ is the static LF Kubo-Toyabe function of the ion-independent width
    σ = √(1−Q) in field w = ω_L/Δ, λ = Q^REF_Q_POWER · v²/(v² + REF_NU²) switches
    it on smoothly where g₀ ≈ S_σ × (motionally narrowed decay): Q → 1 with fast
    ions.  S_σ ≥ 0.036, so the division is safe.  Measured on 60 random points
    (Hermite, fourth-order slopes): max error 3.1e-4 → 5.6e-5, and 8.1e-4 → 2.2e-4
    for Q > 0.9.  In a field (w/σ ≥ 0.5) S_σ comes from the recurrence kernel
    `_kernels.static_kt_uniform` (agrees with the Faddeeva form to 4e-8, ~10× faster).

    Parameters
    ----------
    dx : float
        Δt step.
    n : int
        Number of nodes.
    v, q, w : float
        ν_i/Δ, Q and ω_L/Δ.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The factor (all ones where λ or σ vanishes).
    """
    v = check_ratio(v, "v", "reference_factor")
    q = check_ratio(q, "q", "reference_factor", 0.0, 1.0)
    w = check_ratio(w, "w", "reference_factor")
    return _reference_factor(dx, n, v, q, w)


def _reference_lambda(v: float, q: float) -> float:
    """λ = Q^REF_Q_POWER · v²/(v² + REF_NU²), the power of S_σ in `reference_factor`."""
    return q**REF_Q_POWER * v * v / (v * v + REF_NU * REF_NU)


def _reference_factor(dx: float, n: int, v: float, q: float, w: float) -> np.ndarray:
    """`reference_factor` of arguments already checked (the path inside `ea`, once per evaluation)."""
    lam = _reference_lambda(v, q)
    sigma2 = 1.0 - q
    if lam < 1e-12 or sigma2 <= 0.0:
        return np.ones(n)
    sigma = math.sqrt(sigma2)
    if w / sigma >= 0.5:
        s = _kernels.static_kt_uniform(sigma * dx, n, w / sigma)
    else:
        s = _static_kt_scaled(sigma * dx * np.arange(n), w / sigma)
    return np.exp(lam * np.log(s))


def _canonical(value) -> str:
    """Type-tagged text of an attribute value: the same before writing and after reading back."""
    if isinstance(value, (np.ndarray, list, tuple)):
        arr = np.asarray(value)
        if arr.size == 1:  # netCDF reads a one-element attribute back as a scalar
            return _canonical(arr.ravel()[0].item())
        return "a[" + ",".join(_canonical(v) for v in arr.ravel().tolist()) + "]"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return "s" + value
    if isinstance(value, (bool, np.bool_)):
        return "b" + str(bool(value))
    if isinstance(value, numbers.Integral):
        return "i" + str(int(value))
    if isinstance(value, numbers.Real):
        return "f" + float(value).hex()  # exact: no decimal rounding
    raise ValueError(f"unsupported attribute value {value!r} ({type(value).__name__})")


def _digest(ds: xr.Dataset) -> str:
    """SHA-256 over every variable (name, dims, dtype, shape, values, attributes) and every other global attribute.

    Each item enters as its tag, its length in bytes and a newline, then the payload, so
    no two different files can share a byte stream; values as little-endian bytes,
    attributes through `_canonical`, all in sorted order (independent of how a netCDF
    library orders them).  The digest attribute itself is left out.
    """
    h = hashlib.sha256()

    def put(tag: str, payload: bytes):
        h.update(f"{tag} {len(payload)}\n".encode())
        h.update(payload)

    for name in sorted(ds.variables, key=str):
        var = ds.variables[name]
        values = np.asarray(var.values)
        if values.dtype.kind not in "biuf":
            raise ValueError(f"variable {name!r} has dtype {values.dtype}: not a bayesmusr EA table")
        little = values.dtype.newbyteorder("<")
        put("variable", str(name).encode())
        put("dims", " ".join(map(str, var.dims)).encode())
        put("dtype", little.str.encode())
        put("shape", " ".join(map(str, values.shape)).encode())
        put("values", np.ascontiguousarray(values, dtype=little).tobytes())
        for key in sorted(var.attrs):
            put("attribute", f"{name}.{key}={_canonical(var.attrs[key])}".encode())
    for key in sorted(ds.attrs):
        if key != DIGEST_ATTR:
            put("attribute", f"{key}={_canonical(ds.attrs[key])}".encode())
    return h.hexdigest()


def _nu_axis_text() -> str:
    return f"uniform in asinh(nu_i/Delta / {NU_SCALE})"


def _reference_factor_text() -> str:
    return (f"S_sigma^lambda, S_sigma = static LF KT of width sqrt(1-q) in field omega, "
            f"lambda = q^{REF_Q_POWER} nu^2/(nu^2 + {REF_NU}^2)")


def _omega_axis_prefix() -> str:
    return f"piecewise uniform in asinh(omega_L/Delta / {OMEGA_SCALE})"


def _write_table(path, counts, nu, q, w, x, grid, offset, scale):

    # Stored as int16 steps along Δt (count[k] − count[k−1], count[−1] = 32768): g₀ is smooth in Δt, so
    # the steps are small and zlib packs them 2.1× tighter than the counts themselves (measured on
    # the 1.1 table: 10.0 → 4.7 MiB).  Lossless: the reader sums them back and checks the checksum.
    steps = np.diff(counts.astype(np.int32), axis=-1, prepend=32768)
    if steps.min() < -32768 or steps.max() > 32767:
        raise ValueError(f"EA table {path}: Δt steps of the counts exceed int16; refusing to write")
    ds = xr.Dataset(
        {"g0_steps": (("nu_i", "q", "omega", "x"), steps.astype(np.int16),
                      {"long_name": "G^EA_z at nu_mu = 0 divided by the reference factor, quantised, "
                                    "as steps along x",
                       "g0_counts": "32768 + cumulative sum of g0_steps along x (uint16)",
                       "g0": f"({offset!r} + {scale!r} * g0_counts) * S_sigma(x; omega)^lambda(nu_i, q)",
                       "units": "1"})},
        coords={
            "nu_i": ("nu_i", nu, {"long_name": "ion jump rate / Delta", "units": "1"}),
            "q": ("q", q, {"long_name": "Edwards-Anderson fraction Q", "units": "1"}),
            "omega": ("omega", w, {"long_name": "omega_L / Delta", "units": "1"}),
            "x": ("x", x, {"long_name": "Delta * t", "units": "1"}),
        },
        attrs={
            "title": "bayesmusr EA relaxation table (ion + muon jump Kubo-Toyabe, nu_mu = 0)",
            "table_version": TABLE_VERSION,
            "grid": grid,
            "nu_axis": _nu_axis_text(),
            "omega_axis": f"{_omega_axis_prefix()}: "
                          f"segments {GRIDS[grid][3]!r} (n, omega_max) then (n, step ratio)",
            "construction": "conditional renewal: axial kernels in closed form, "
                            "product-trapezoid Volterra + Richardson, Gauss-Legendre radial quadrature",
            "n_radial": 96,
            "g0_offset": offset,
            "g0_scale": scale,
            "reference_factor": _reference_factor_text(),
            "sha256_covers": DIGEST_COVERS,
        },
    )
    ds.attrs[DIGEST_ATTR] = _digest(ds)
    tmp = pathlib.Path(str(path) + ".tmp")
    ds.to_netcdf(tmp, encoding={"g0_steps": {"zlib": True, "complevel": 6, "shuffle": True}})
    # read back exactly as `load_table` will: a digest that does not survive the round trip is a bug here,
    # and must not produce a table that can never be loaded
    if _digest(xr.load_dataset(tmp)) != ds.attrs[DIGEST_ATTR]:
        tmp.unlink()
        raise RuntimeError(f"EA table {path}: the checksum changed in the netCDF round trip; not written")
    os.replace(tmp, path)


@dataclass(frozen=True)
class EATable:
    """A loaded, verified table: axes in transformed coordinates and the data."""

    u_nu: np.ndarray
    u_q: np.ndarray  # θ = arcsin √Q
    u_omega: np.ndarray
    dx: float
    data: np.ndarray  # (n_nu, n_q, n_omega, n_x) float32, C-contiguous
    nu_max: float
    omega_max: float
    x_max: float
    path: str
    version: str


def load_table(path=None) -> EATable:
    """Load and verify a table (checksum over all its contents, version, axes).  Cached per path.

    Parameters
    ----------
    path : path, optional
        Table file (default: `DEFAULT_TABLE`).

    Returns
    -------
    EATable

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it is not a readable bayesmusr EA table of this version, or its checksum does
        not match (any value, axis or attribute changed); the message names the file and
        says how to restore or rebuild it.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"load_table: path must be a path to an EA table file or None, got {path!r}")
    # os.path, not pathlib: this runs in every `ea` call, and pathlib's parsing cost ~8 µs of its ~60
    return _load_cached(os.path.abspath(path) if path else _DEFAULT_KEY)


_DEFAULT_KEY = str(DEFAULT_TABLE)


def release_tables() -> None:
    """Drop the loaded tables (181 MB for the shipped one); the next `load_table` reads the file again.

    For a long job between its sampling and its figures: the scan job's memory peaks in the
    LOO comparison, where no table is needed (docs/fitting.md, "Speed, issue 19").
    """
    _load_cached.cache_clear()


def _remedy(p: pathlib.Path) -> str:
    """How to get a good table back: restore the shipped file, or rebuild a user's table."""
    if os.path.abspath(p) == os.path.abspath(DEFAULT_TABLE):
        return ("restore the shipped table (in a source checkout `git checkout -- bayesmusr/physics/data/"
                f"{DEFAULT_TABLE.name}`, otherwise reinstall bayesmusr) or rebuild it with `bayesmusr tables build` "
                "(docs/ea-tables.md)")
    return (f"rebuild it with `bayesmusr tables build --output {p}` (and the --grid it was built with), "
            "or copy it again from a good source")


def _verify(ds: xr.Dataset, p: pathlib.Path):
    """Refuse a table whose checksum, version or structure is not what this bayesmusr writes."""
    want = ds.attrs.get(DIGEST_ATTR)
    if want is None:
        if ds.attrs.get("table_version") != TABLE_VERSION:
            raise ValueError(f"EA table {p}: table_version {ds.attrs.get('table_version')!r}, this bayesmusr "
                             f"reads {TABLE_VERSION!r}; {_remedy(p)}")
        raise ValueError(f"EA table {p}: no {DIGEST_ATTR!r} checksum attribute (written by a bayesmusr whose "
                         f"checksum covered only the counts, or not a bayesmusr table); {_remedy(p)}")
    try:
        got = _digest(ds)
    except ValueError as exc:
        raise ValueError(f"EA table {p}: {exc}; {_remedy(p)}") from None
    if got != want:
        raise ValueError(f"EA table {p}: checksum mismatch (file corrupted or modified: the SHA-256 over its "
                         f"values, scale, offset, axes and attributes is {got[:16]}..., the file records "
                         f"{str(want)[:16]}...); {_remedy(p)}")
    if ds.attrs.get("table_version") != TABLE_VERSION:
        raise ValueError(f"EA table {p}: table_version {ds.attrs.get('table_version')!r}, this bayesmusr reads "
                         f"{TABLE_VERSION!r}; {_remedy(p)}")
    _check_structure(ds, p)


def _check_structure(ds: xr.Dataset, p: pathlib.Path):
    """Variables, axes and quantisation as `_write_table` makes them, and as `interpolate_g0` assumes."""
    def bad(what):
        return ValueError(f"EA table {p}: {what}; {_remedy(p)}")

    for name in ("g0_steps", "nu_i", "q", "omega", "x"):
        if name not in ds.variables:
            raise bad(f"variable {name!r} missing; expected a bayesmusr EA table")
    steps = ds["g0_steps"]
    if steps.dtype != np.int16 or steps.dims != ("nu_i", "q", "omega", "x"):
        raise bad(f"g0_steps must be int16 over (nu_i, q, omega, x), got {steps.dtype} over {steps.dims}")
    axes = {name: ds[name].values for name in ("nu_i", "q", "omega", "x")}
    for name, a in axes.items():
        if a.ndim != 1 or a.size < 2 or not np.all(np.isfinite(a)) or not np.all(np.diff(a) > 0) or a[0] != 0.0:
            raise bad(f"axis {name!r} must be finite, strictly increasing from 0")
    if axes["q"][-1] != 1.0:
        raise bad("axis 'q' must end at Q = 1")
    dx = np.diff(axes["x"])
    if np.max(np.abs(dx - dx[0])) > 1e-9 * dx[0]:
        raise bad("axis 'x' must be uniform")
    scale, offset = ds.attrs.get("g0_scale"), ds.attrs.get("g0_offset")
    if not all(isinstance(v, numbers.Real) and math.isfinite(v) for v in (scale, offset)) or not scale > 0:
        raise bad(f"g0_scale ({scale!r}) and g0_offset ({offset!r}) must be finite numbers, scale > 0")
    # the interpolation applies this code's axis transform and reference factor: they must be the table's
    for key, want in (("nu_axis", _nu_axis_text()), ("reference_factor", _reference_factor_text())):
        if ds.attrs.get(key) != want:
            raise bad(f"attribute {key!r} is {ds.attrs.get(key)!r}, this bayesmusr applies {want!r}")
    if not str(ds.attrs.get("omega_axis", "")).startswith(_omega_axis_prefix()):
        raise bad(f"attribute 'omega_axis' is {ds.attrs.get('omega_axis')!r}, this bayesmusr applies "
                  f"{_omega_axis_prefix()!r}")


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> EATable:

    p = pathlib.Path(path)
    if not p.exists():
        raise FileNotFoundError(f"EA table {p} not found: build it with `bayesmusr tables build`")
    try:
        ds = xr.load_dataset(p)
    except Exception as exc:  # netCDF/HDF5 errors are not user-facing
        raise ValueError(f"EA table {p}: cannot be read as netCDF ({exc.__class__.__name__}: {exc}); "
                         f"{_remedy(p)}") from None
    _verify(ds, p)
    steps = ds["g0_steps"].values
    # float32 in memory (190 MB for the standard table instead of 380): its 6e-8 rounding is far
    # below the 8e-6 quantisation of the stored counts; `_combine` accumulates in float64.  Decoded
    # one ν_i slice at a time: a whole int32 array of counts beside it doubled the load's peak
    data = np.empty(steps.shape, np.float32)
    scale, offset = np.float32(ds.attrs["g0_scale"]), np.float32(ds.attrs["g0_offset"])
    for i in range(steps.shape[0]):
        counts = np.cumsum(steps[i], axis=-1, dtype=np.int32)
        counts += 32768
        if counts.min() < 0 or counts.max() > 65535:
            raise ValueError(f"EA table {p}: counts outside uint16 (not written by bayesmusr); {_remedy(p)}")
        data[i] = counts
        data[i] *= scale
        data[i] += offset
    del steps
    nu = ds["nu_i"].values
    w = ds["omega"].values
    x = ds["x"].values
    return EATable(
        u_nu=np.arcsinh(nu / NU_SCALE), u_q=np.arcsin(np.sqrt(ds["q"].values.astype(float))),
        u_omega=np.arcsinh(w / OMEGA_SCALE),
        dx=float(x[1] - x[0]), data=np.ascontiguousarray(data),
        nu_max=float(nu[-1]), omega_max=float(w[-1]), x_max=float(x[-1]), path=str(p),
        version=ds.attrs["table_version"],
    )


def interpolate_g0(table: EATable, v: float, q: float, w: float, n_x: int) -> np.ndarray:
    """g₀ on the table's Δt grid (first n_x nodes) at ν_i/Δ = v, Q = q, ω_L/Δ = w.

    The table holds g₀ / `reference_factor`; that quotient is interpolated by
    C¹ cubic Hermite in each of (asinh ν_i, θ = arcsin √Q, asinh ω_L), with node
    slopes from the quartic through five neighbouring nodes (6 × 6 × 6 slices
    combined), and multiplied back by the exact factor.  Against second-order slopes this cut the measured interpolation
    error of the standard table 7-fold (max 2.3e-4 → 3.4e-5 at 60 random points).

    Parameters
    ----------
    table : EATable
        Loaded table.
    v, q, w : float
        ν_i/Δ, Q and ω_L/Δ, inside the table's range.
    n_x : int
        Number of Δt nodes (step ``table.dx``) to return.

    Returns
    -------
    numpy.ndarray, shape (n_x,)
    """
    # inside the table's range: the Hermite weights clamp to the end cell and would extrapolate silently
    v = check_ratio(v, "v", "interpolate_g0", 0.0, table.nu_max)
    q = check_ratio(q, "q", "interpolate_g0", 0.0, 1.0)
    w = check_ratio(w, "w", "interpolate_g0", 0.0, table.omega_max)
    if not 1 <= n_x <= table.data.shape[3]:
        raise ValueError(f"interpolate_g0: n_x must be in [1, {table.data.shape[3]}], got {n_x!r}")
    return _interpolate_g0(table, v, q, w, n_x)


def _interpolate_g0(table: EATable, v: float, q: float, w: float, n_x: int) -> np.ndarray:
    """`interpolate_g0` of arguments already checked (``ea`` checks them once, then calls this)."""
    # one compiled call: the weights on the three axes (G is even in θ at 0 and π/2) and the slice sum
    quotient = _kernels.table_combination(table.data, table.u_nu, table.u_q, table.u_omega, math.asinh(v / NU_SCALE),
                                          math.asin(math.sqrt(q)), math.asinh(w / OMEGA_SCALE), n_x)
    return quotient * _reference_factor(table.dx, n_x, v, q, w)


def describe_table(path=None) -> str:
    """Human-readable summary of a table file.

    Parameters
    ----------
    path : path, optional
        Table file (default: `DEFAULT_TABLE`).

    Returns
    -------
    str
        Multi-line description: version, size, axes.
    """
    t = load_table(path)
    n_nu, n_q, n_w, n_x = t.data.shape
    size = pathlib.Path(t.path).stat().st_size / 2**20
    return (f"{t.path}: version {t.version}, {size:.1f} MiB on disk, checksum OK\n"
            f"  nu_i/Delta: {n_nu} nodes in [0, {t.nu_max:g}] (asinh(nu/{NU_SCALE}) uniform)\n"
            f"  Q: {n_q} nodes in [0, 1] (Q = sin²θ, θ uniform)\n"
            f"  omega_L/Delta: {n_w} nodes in [0, {t.omega_max:g}] (asinh uniform, half the step above 3)\n"
            f"  Delta*t: {n_x} nodes, step {t.dx:g}, up to {t.x_max:g}")


def ea(t, delta, nu_i, nu_mu, q, b_lf=0.0, table=None):
    """Ion + muon jump relaxation function G^EA(t; Δ, ν_i, ν_μ, Q) in ZF or LF, from the shipped table.

    C¹ interpolation of the ν_μ = 0 table in (ν_i/Δ, Q, ω_L/Δ) and Δt, with the
    exact muon-jump renewal for any ν_μ ≥ 0.  Exact limits
    are evaluated directly for any field: Q = 0 or ν_i = 0 (dynamic KT with
    ν_μ) and Q = 1 (dynamic KT with ν_i + ν_μ).

    Parameters
    ----------
    t : array_like
        Times in μs (≥ 0, any order).
    delta : float
        Total static width Δ in μs⁻¹.
    nu_i, nu_mu : float
        Ion and muon jump rates in μs⁻¹.
    q : float
        Edwards-Anderson fraction Q ∈ [0, 1].
    b_lf : float, optional
        Longitudinal field in mT.
    table : path, optional
        Table file (default: the shipped ``bayesmusr/physics/data/ea_g0_v2.nc``).

    Returns
    -------
    numpy.ndarray
        G_z(t), same shape as ``t``.

    Notes
    -----
    Above ν_i/Δ = 100 (the table's end) the fast-ion limit
    `ea.fast_ion_limit` is used (measured error ≤ 6.1e-5 at ν_i/Δ = 100 for ω_L/Δ ≤ 20,
    falling as ~(Δ/ν_i)²); between ν_i/Δ = 70 and 100 table and limit are
    blended with a C¹ smooth step, so G stays C¹ in ν_i.

    Up to Δ·t_max = `bayesmusr.physics.ea.TINY_X` (1e-6) G = 1, exact to (Δt)² ≤ 1e-12.

    Raises
    ------
    ValueError
        For parameters outside `bayesmusr.physics.domain.DOMAIN` (naming the argument), or
        outside the table: ω_L/Δ above its ω_max or Δ·t above its x_max (the message says
        which, and that `bayesmusr.ea_direct` computes any point); for a table that fails
        its checksum (`load_table`).
    """

    t, delta, nu_i, nu_mu, q, b_lf = check_ea_args(t, delta, nu_i, nu_mu, q, b_lf, "ea")
    if table is not None and not isinstance(table, (str, os.PathLike)):
        raise ValueError(f"ea: table must be a path to an EA table file or None, got {table!r}")
    if delta == 0.0 or t.size == 0 or float(t.max()) * delta <= TINY_X:
        return np.ones_like(t)  # 1 − G ≤ (Δt)² ≤ 1e-12; beyond, ν/Δ and ω_L/Δ are finite
    if q == 0.0 or nu_i == 0.0:
        return _dynamic(t, delta, nu_mu, b_lf)
    if nu_mu / delta > KEREN_ABOVE:
        return fast_muon_limit(t, delta, nu_i, nu_mu, q, b_lf)
    if q == 1.0:
        return _dynamic(t, delta, nu_i + nu_mu, b_lf)  # ν_i + ν_μ may pass the argument cap: no re-validation
    tab = load_table(table)
    v = nu_i / delta
    w = OMEGA_PER_MT * b_lf / delta
    x = t * delta
    x_hi = float(x.max())
    if w > tab.omega_max * (1 + 1e-12):
        raise ValueError(f"ea: omega_L/delta = {w:.4g} (b_lf = {b_lf:g} mT, delta = {delta:g}/us) is above the EA "
                         f"table range (<= {tab.omega_max:g}); use bayesmusr.ea_direct for this point")
    if x_hi > tab.x_max:
        raise ValueError(f"ea: delta * t_max = {x_hi:.4g} is beyond the EA table (Delta*t <= {tab.x_max:g}); "
                         "shorten the time range or use bayesmusr.ea_direct")
    n_tab = tab.data.shape[3]
    n_x = min(n_tab, int(math.ceil(x_hi / tab.dx)) + 6)  # ≥ 6 nodes: the Δt interpolation uses 5-point slopes
    w, v_mu = min(w, tab.omega_max), nu_mu / delta
    lam = _reference_lambda(v, q)
    if _common_path(tab, v, q, w, lam, v_mu):  # the same steps as below, in one compiled call
        return _kernels.ea_table_common(tab.data, tab.u_nu, tab.u_q, tab.u_omega, tab.dx, n_x,
                                        math.asinh(v / NU_SCALE), math.asin(math.sqrt(q)),
                                        math.asinh(w / OMEGA_SCALE), v, q, w, lam, v_mu, x.ravel(),
                                        X_FLAT).reshape(x.shape)
    g0 = _table_g0(tab, v, q, w, n_x)
    # ν_μ/Δ ≤ KEREN_ABOVE and Δt ≤ x_max here, so the renewal's work is bounded: its checks are skipped
    g = renewal_unchecked(g0, v_mu, tab.dx, w)
    # C¹ Hermite in Δt with five-point slopes: error ≤ 1.2e-5 at mid-nodes where Catmull-Rom gave up to 6.7e-5
    return _kernels.hermite_uniform5(g, tab.dx, x.ravel()).reshape(x.shape)


def _common_path(tab: EATable, v: float, q: float, w: float, lam: float, v_mu: float) -> bool:
    """Whether `ea`'s steps at these ratios are those `_kernels.ea_table_common` compiles: below the
    fast-ion blend, a reference factor from the recurrence (w/σ ≥ 0.5), the zero-field closed form or
    none, and the renewal on the table's own grid (`bayesmusr.physics.ea.renewal_unchecked`)."""
    sigma2 = 1.0 - q
    factor_ok = lam < 1e-12 or sigma2 <= 0.0 or w == 0.0 or w / math.sqrt(sigma2) >= 0.5
    return v < BLEND_FROM * tab.nu_max / 100.0 and factor_ok and renewal_on_grid(v_mu, tab.dx, w)


def _table_g0(tab: EATable, v: float, q: float, w: float, n_x: int) -> np.ndarray:
    """g₀ on the table's first n_x Δt nodes: interpolated, blended C¹ into the fast-ion limit from ν_i/Δ = 70."""
    blend_from = BLEND_FROM * tab.nu_max / 100.0
    if v >= blend_from:
        limit = fast_ion_limit_uniform(tab.dx, n_x, v, q, w)
    if v >= tab.nu_max:
        g0 = limit
    else:
        g0 = _interpolate_g0(tab, v, q, w, n_x)  # v < nu_max; q in [0, 1] and w ≤ omega_max checked in ea
        if v > blend_from:
            u0, u1 = math.asinh(blend_from / NU_SCALE), tab.u_nu[-1]
            s = (math.asinh(v / NU_SCALE) - u0) / (u1 - u0)
            s = s * s * (3.0 - 2.0 * s)  # C¹ smooth step
            g0 = (1.0 - s) * g0 + s * limit
    return g0


@dataclass
class CheckReport:
    """Errors of table interpolation against direct deterministic evaluation."""

    errors: np.ndarray  # max |ea − ea_direct| per random parameter point
    points: list  # (nu_i/Δ, Q, ω_L/Δ, ν_μ/Δ) per point
    seconds: float
    tolerance: float = 2e-4

    @property
    def passed(self) -> bool:
        return bool(np.max(self.errors) <= self.tolerance)

    def summary(self) -> str:
        """Text report: error statistics, worst point, PASS/FAIL.

        Returns
        -------
        str
        """
        e = self.errors
        worst = self.points[int(np.argmax(e))]
        return (f"EA table check: {len(e)} random off-grid points, 40 random times each (Δt in [0, 20])\n"
                f"  max |error|             = {e.max():.2e}\n"
                f"  99th percentile |error| = {np.percentile(e, 99):.2e}\n"
                f"  median |error|          = {np.median(e):.2e}\n"
                f"  worst point: nu_i/Δ={worst[0]:.4g}, Q={worst[1]:.4f}, ω_L/Δ={worst[2]:.4g}, ν_μ/Δ={worst[3]:.4g}\n"
                f"  tolerance {self.tolerance:.0e}: {'PASS' if self.passed else 'FAIL'}  ({self.seconds:.0f} s)")


def _check_point(args):
    v, q, w, vmu, x, table = args

    b = w / OMEGA_PER_MT  # Δ = 1 μs⁻¹: times are Δt
    direct = ea_direct(x, 1.0, v, vmu, q, b, dx=0.02)
    interp = ea(x, 1.0, v, vmu, q, b, table=table)
    return float(np.max(np.abs(direct - interp)))


def check_table(n_points: int = 200, seed: int = 20261124, table=None, progress: bool = True,
                workers: int | None = None) -> CheckReport:
    """Compare `ea` with `ea.ea_direct` (independent grid, dx = 0.02) at random off-grid points.

    Parameters are drawn uniformly in the table's own coordinates (asinh ν_i,
    θ = arcsin √Q, asinh ω_L) so the whole domain is covered, ν_μ/Δ is 0 for a
    quarter of the points and log-uniform in [1e-3, 10] otherwise.

    Parameters
    ----------
    n_points : int
        Random parameter points (40 random times each).
    seed : int
        Random seed.
    table : path, optional
        Table file (default: `DEFAULT_TABLE`).
    progress : bool
        Show a tqdm progress bar.
    workers : int, optional
        Worker processes (default: all cores).

    Returns
    -------
    CheckReport
    """


    for name, value, low in (("n_points", n_points, 1), ("seed", seed, 0)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"check_table: {name} must be an integer >= {low}, got {value!r}")
    _check_workers(workers, "check_table")
    tab = load_table(table)
    rng = np.random.default_rng(seed)
    points, tasks = [], []
    for _ in range(n_points):
        v = NU_SCALE * math.sinh(rng.uniform(0, tab.u_nu[-1]))
        q = math.sin(rng.uniform(0, tab.u_q[-1])) ** 2
        w = OMEGA_SCALE * math.sinh(rng.uniform(0, tab.u_omega[-1]))
        vmu = 0.0 if rng.uniform() < 0.25 else 10 ** rng.uniform(-3, 1)
        x = np.sort(rng.uniform(0, tab.x_max, 40))
        points.append((v, q, w, vmu))
        tasks.append((v, q, w, vmu, x, tab.path))
    t0 = time.perf_counter()
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        errors = [_check_point(tk) for tk in tqdm(tasks, disable=not progress, desc="check")]
    else:
        with mp.get_context("spawn").Pool(workers) as pool:
            errors = list(tqdm(pool.imap(_check_point, tasks), total=len(tasks), disable=not progress,
                               desc="check"))
    return CheckReport(np.array(errors), points, time.perf_counter() - t0)
