"""Simulated μSR spectra from the fit models (Poisson histograms or asymmetry).

The expected counts are exactly those of :mod:`bayesmusr.model.forward` (same
conventions for N0, α, backgrounds and bin-averaged decay), drawn with a
seeded :class:`numpy.random.Generator`.  Used by the validation, the
benchmarks and the demo scan.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import h5py
import numpy as np

from bayesmusr.io.published import PublishedTable
from bayesmusr.io.run import MuonRun, make_histogram_dataset
from bayesmusr.model.forward import bin_decay, histogram_shapes, polarisation, relaxation
from bayesmusr.model.kt_reading import ReadingConditions, fit_kt_global
from bayesmusr.model.parameters import PHYSICS_PARAMETERS, canonical_model
from bayesmusr.model.rundata import RunData
from bayesmusr.physics.constants import arrhenius
from bayesmusr.physics.tables import ea

__all__ = ["simulate_spectrum", "simulate_run", "expected_counts", "write_isis_nexus_v2", "simulate_published_table"]


def _times(n_bins: int, bin_width: float, t_first: float) -> np.ndarray:
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if not bin_width > 0:
        raise ValueError(f"bin_width must be > 0 μs, got {bin_width}")
    if t_first < 0:
        raise ValueError(f"t_first must be >= 0 μs, got {t_first}")
    return t_first + (np.arange(n_bins) + 0.5) * bin_width


def _theta(model: str, physics: Mapping[str, float]) -> list[float]:
    names = [p.name for p in PHYSICS_PARAMETERS[model]]
    missing = [n for n in names if n not in physics]
    extra = [n for n in physics if n not in names]
    if missing or extra:
        raise ValueError(f"physics parameters of {model}: expected {names}, missing {missing}, unknown {extra}")
    return [float(physics[n]) for n in names]


def expected_counts(model: str, physics: Mapping[str, float], b_lf: float, t: np.ndarray, bin_width: float,
                    *, n_events: float, a0: float = 0.2, alpha: float = 1.0, fbg: float = 0.0, lam: float = 0.0,
                    bgf: float = 0.0, bgb: float = 0.0, table=None):
    """Expected forward and backward counts with N0 set so that Σ(μ_F + μ_B) = ``n_events``.

    Parameters
    ----------
    t : ndarray
        Bin centres in μs.
    bin_width : float
        Bin width in μs.
    model, physics, b_lf, n_events, a0, alpha, fbg, lam, bgf, bgb, table
        As in :func:`simulate_spectrum`.

    Returns
    -------
    mu_f, mu_b : ndarray
        Expected counts per bin.
    n0 : float
        Forward counts per bin at t = 0 (counts/bin).
    """
    model = canonical_model(model)
    g = relaxation(model, t, b_lf, _theta(model, physics), table)
    pol = polarisation(g, fbg, lam, t)
    mf, mb = histogram_shapes(bin_decay(t, np.full(t.size, bin_width)), a0 * pol, alpha, bgf, bgb)
    n0 = n_events / (mf.sum() + mb.sum())
    return n0 * mf, n0 * mb, n0


def simulate_spectrum(model: str, physics: Mapping[str, float], b_lf: float = 0.0, *,
                      rng: np.random.Generator, n_events: float = 15e6, n_bins: int = 2000,
                      bin_width: float = 0.016, t_first: float = 0.0, a0: float = 0.2, alpha: float = 1.0,
                      fbg: float = 0.0, lam: float = 0.0, bgf: float = 0.0, bgb: float = 0.0,
                      kind: str = "histograms", label: str | None = None, table=None) -> RunData:
    """Draw one spectrum (forward/backward Poisson counts, or an asymmetry) from a model.

    Parameters
    ----------
    model : str
        ``static_kt``, ``dynamic_kt`` (``kt``) or ``ea``.
    physics : mapping
        Physics parameters by name (e.g. ``{"delta": 0.3, "nu_i": 0.8, "nu_mu": 0.01, "q": 0.8}``), μs⁻¹.
    b_lf : float
        Longitudinal field in mT.
    rng : numpy.random.Generator
        Seeded generator (required: no hidden global state).
    n_events : float
        Expected total counts, forward + backward (default 15 M).
    n_bins, bin_width, t_first : int, float, float
        Bin centres t_first + (i + ½)·bin_width μs (default 2000 bins of 16 ns, as EMU).
    a0, alpha, fbg, lam, bgf, bgb : float
        Nuisance values in the conventions of :mod:`bayesmusr.model.forward`.
    kind : str
        ``"histograms"`` or ``"asymmetry"`` (the asymmetry (F − αB)/(F + αB) of the
        drawn counts with first-order Poisson errors, as exported by facility software;
        bins with no counts in a group are dropped).
    label : str, optional
        Run label (default ``"ZF"`` or ``"LF <b> mT"``).
    table : path, optional
        EA table.

    Returns
    -------
    RunData
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
    if not (n_events > 0 and math.isfinite(n_events)):
        raise ValueError(f"n_events must be a positive number of counts, got {n_events}")
    t = _times(n_bins, bin_width, t_first)
    mu_f, mu_b, _ = expected_counts(model, physics, b_lf, t, bin_width, n_events=n_events, a0=a0, alpha=alpha,
                                    fbg=fbg, lam=lam, bgf=bgf, bgb=bgb, table=table)
    f = rng.poisson(mu_f).astype(float)
    b = rng.poisson(mu_b).astype(float)
    label = label or ("ZF" if b_lf == 0 else f"LF {b_lf:g} mT")
    if kind == "histograms":
        return RunData("histograms", t, float(b_lf), label, width=np.full(n_bins, bin_width), forward=f, backward=b)
    if kind == "asymmetry":
        ok = (f > 0) & (b > 0)
        den = f + alpha * b
        asym = (f - alpha * b) / den
        err = 2 * alpha * np.sqrt(b * b * f + f * f * b) / den**2
        return RunData("asymmetry", t[ok], float(b_lf), label, asymmetry=asym[ok], error=err[ok])
    raise ValueError(f"kind must be 'histograms' or 'asymmetry', got {kind!r}")


def simulate_run(model: str, physics: Mapping[str, float], b_lf: float = 0.0, *, rng: np.random.Generator,
                 temperature_K: float = math.nan, run_number: int = -1, n_bins: int = 2000,
                 bin_width: float = 0.016, t0_bins: int = 10, **kwargs):
    """Simulate a two-detector histogram :class:`bayesmusr.io.run.MuonRun` (forward = 1, backward = 2).

    The histograms start ``t0_bins`` bins before t0 (those bins hold only the
    flat background); good bins start at t0.

    Parameters
    ----------
    model, physics, b_lf, rng, n_bins, bin_width
        As in :func:`simulate_spectrum` (``n_bins`` good bins after t0).
    temperature_K : float
        Temperature in K for the metadata.
    run_number : int
        Run number for the metadata.
    t0_bins : int
        Background-only bins before t0.
    **kwargs
        Other keywords of :func:`simulate_spectrum` (histograms only; ``label`` is not stored).

    Returns
    -------
    MuonRun
        Geometry ZF (b_lf = 0) or LF, field and temperature in its metadata.
    """

    rd = simulate_spectrum(model, physics, b_lf, rng=rng, n_bins=n_bins, bin_width=bin_width, **kwargs)
    n0 = None
    pre = np.zeros((2, t0_bins))
    bgf, bgb = kwargs.get("bgf", 0.0), kwargs.get("bgb", 0.0)
    if t0_bins and (bgf or bgb):
        t = _times(n_bins, bin_width, kwargs.get("t_first", 0.0))
        _, _, n0 = expected_counts(model, physics, b_lf, t, bin_width, n_events=kwargs.get("n_events", 15e6),
                                   a0=kwargs.get("a0", 0.2), alpha=kwargs.get("alpha", 1.0),
                                   fbg=kwargs.get("fbg", 0.0), lam=kwargs.get("lam", 0.0), bgf=bgf, bgb=bgb,
                                   table=kwargs.get("table"))
        pre = np.vstack([rng.poisson(n0 * bgf, t0_bins), rng.poisson(n0 * bgb, t0_bins)]).astype(float)
    counts = np.hstack([pre, np.vstack([rd.forward, rd.backward])]).astype(np.int64)
    geometry = "ZF" if b_lf == 0 else "LF"
    ds = make_histogram_dataset(
        counts, bin_width_us=bin_width, t0_us=t0_bins * bin_width - kwargs.get("t_first", 0.0),
        first_good_bin=t0_bins, last_good_bin=t0_bins + n_bins, grouping=[1, 2],
        detector_names=["forward", "backward"],
        attrs={"format": "simulated", "facility": "simulation", "instrument": "bayesmusr",
               "run_number": int(run_number), "temperature_K": float(temperature_K),
               "temperature_source": "simulation", "field_mT": float(b_lf), "field_source": "simulation",
               "geometry": geometry, "geometry_source": "simulation",
               "title": f"simulated {model} {dict(physics)}"},
    )
    return MuonRun(ds)


def write_isis_nexus_v2(run, path, *, rng: np.random.Generator, detectors_per_group: int = 48,
                        instrument: str = "EMU", temperature_log_sd_K: float = 0.05,
                        header_state: str = "TF") -> None:
    """Write a simulated two-group run as a minimal ISIS muon NeXus v2 (HDF5) file, EMU-like.

    Each group's counts are split at random (multinomially, equal efficiencies) over
    ``detectors_per_group`` detectors with a ``grouping`` array, so that reading the
    file and grouping it gives back the run's counts exactly.  The file carries what
    :func:`bayesmusr.io.readers.read_run` reads from real ISIS files, with their usual
    inconsistencies:

    - the temperature as a ``Temp_Sample`` log (mean = the run's temperature) and a rounded header;
    - the field as the header ``sample/magnetic_field`` (G) and a ``Field_Danfysik`` log;
    - a header ``magnetic_field_state`` of ``header_state`` ("TF" by default, as on real
      zero-field EMU runs);
    - a title naming the set point.

    This is *not* a complete Mantid-compliant file (no instrument geometry, dead times
    or sample environment beyond those logs): it exercises the reader and the scan job
    on facility-format input.

    Parameters
    ----------
    run : MuonRun
        A histogram run with two detectors (forward = 1, backward = 2), e.g. from :func:`simulate_run`.
    path : path-like
        Output ``.nxs`` file.
    rng : numpy.random.Generator
        Seeded generator for the detector split and the temperature log.
    """

    ds = run.ds
    counts = np.asarray(ds["counts"].values)
    if run.kind != "histograms" or counts.shape[:2] != (1, 2):
        raise ValueError(f"write_isis_nexus_v2 needs a one-period two-group histogram run, got counts {counts.shape}")
    n_bins = counts.shape[2]
    k = int(detectors_per_group)
    split = np.empty((1, 2 * k, n_bins), np.int32)
    for g in range(2):
        for j in range(n_bins):
            split[0, g * k:(g + 1) * k, j] = rng.multinomial(int(counts[0, g, j]), np.full(k, 1.0 / k))
    bw = float(ds.attrs["bin_width_us"])
    t0 = float(np.asarray(ds["t0"].values)[0])
    temp = float(ds.attrs["temperature_K"])
    field_g = 10.0 * float(ds.attrs["field_mT"])
    with h5py.File(path, "w") as fh:
        e = fh.create_group("raw_data_1")
        e.attrs["NX_class"] = "NXentry"
        e.create_dataset("run_number", data=[int(ds.attrs.get("run_number", -1))])
        e.create_dataset("title", data=[f"simulated sample T={round(temp):d} K B={field_g:g} G".encode()])
        e.create_dataset("IDF_version", data=[2])
        e.create_dataset("good_frames", data=[1_000_000])
        inst = e.create_group("instrument")
        inst.create_dataset("name", data=[instrument.encode()])
        det = e.create_group("detector_1")
        c = det.create_dataset("counts", data=split, compression="gzip")
        t0_bin = int(round(t0 / bw))
        c.attrs["t0_bin"] = t0_bin
        c.attrs["first_good_bin"] = int(np.asarray(ds["first_good_bin"].values)[0])
        c.attrs["last_good_bin"] = int(np.asarray(ds["last_good_bin"].values)[0])
        det.create_dataset("raw_time", data=np.arange(n_bins + 1) * bw)
        det.create_dataset("time_zero", data=[t0])
        idet = inst.create_group("detector_1")
        idet.create_dataset("grouping", data=np.repeat([1, 2], k).astype(np.int32))
        sample = e.create_group("sample")
        sample.create_dataset("temperature", data=[float(round(temp))])
        sample.create_dataset("magnetic_field", data=[field_g])
        sample.create_dataset("magnetic_field_state", data=[header_state.encode()])
        selog = e.create_group("selog")
        for name, values in (("Temp_Sample", temp + temperature_log_sd_K * rng.standard_normal(60)),
                             ("Field_Danfysik", np.full(60, field_g)),
                             ("Field_T20", np.full(60, 0.02))):
            vl = selog.create_group(name).create_group("value_log")
            vl.create_dataset("time", data=np.arange(60.0) * 10.0)
            vl.create_dataset("value", data=values)


def simulate_published_table(truth: Mapping[str, float], temperatures, conditions=None, *, sigma0: float = 0.008,
                             rng: np.random.Generator, source: str = "simulated") -> PublishedTable:
    """A "published" KT table made as a paper's is: noisy G^EA spectra per temperature, each set KT-fitted.

    At every temperature the spectra of ``conditions.fields_mT`` are G^EA(t; Δ, ν_i(T), ν_μ(T), Q)
    (the EA table, :func:`bayesmusr.physics.tables.ea`) plus Gaussian noise of the condition's
    counting statistics, σ(t) = ``sigma0`` × ``conditions.sigma(t)``; a global dynamic-KT χ² fit
    (:func:`bayesmusr.model.kt_reading.fit_kt_global`) gives the row (Δ_KT, ν_KT and their standard
    errors).  A rate without a standard error, or one larger than the rate, is left blank, and a row whose
    width has no error or one above half the width is dropped, as a paper would not print them.

    Parameters
    ----------
    truth : mapping
        ``delta``, ``q``, ``log10_nu_i0``, ``e_i``, ``log10_nu_mu0``, ``e_mu`` (the scan model's names).
    temperatures : array_like
        K.
    conditions : ReadingConditions, optional
        Fields, window, source (default: ZF + LF 1 mT, Kadono's window).
    sigma0 : float
        Asymmetry noise per bin at t = 0, relative to the full polarisation.
    rng : numpy.random.Generator
        Seeded source of the noise.
    source : str
        Stored as the table's source.

    Returns
    -------
    PublishedTable
    """
    conditions = conditions or ReadingConditions(fields_mT=(0.0, 1.0))
    temps = np.asarray(temperatures, dtype=float)
    t = conditions.times()
    sigma = sigma0 * conditions.sigma(t)
    nu_i = arrhenius(temps, truth["log10_nu_i0"], truth["e_i"])
    nu_mu = arrhenius(temps, truth["log10_nu_mu0"], truth["e_mu"])
    rows = []
    for ni, nm in zip(nu_i, nu_mu):
        spectra = [ea(t, truth["delta"], ni, nm, truth["q"], b) + sigma * rng.standard_normal(t.size)
                   for b in conditions.fields_mT]
        f = fit_kt_global(t, spectra, list(conditions.fields_mT), errors=[sigma] * len(spectra),
                          fit_amplitude=conditions.fit_amplitude)
        rows.append((f.delta, f.delta_err, f.nu, f.nu_err))
    d, de, n, ne = (np.array(c) for c in zip(*rows))
    # a width without an error, or not determined to 50 %, would not be printed (the fast-fluctuation
    # limit leaves only Δ²/ν determined); nor would a rate not determined to a factor of e
    keep = np.isfinite(de) & (de > 0) & (de < 0.5 * d)
    ok = np.isfinite(ne) & (ne > 0) & (ne < n)
    return PublishedTable.from_columns(source, temperature_K=temps[keep], delta_kt=d[keep], delta_kt_err=de[keep],
                                       nu_kt=np.where(ok, n, np.nan)[keep], nu_kt_err=np.where(ok, ne, np.nan)[keep])
