"""Writers of small synthetic run files in the facilities' formats, shared by the reader tests.

Each writer follows the layout described in the matching reader module (and in the facility
documentation it cites) and uses the library the facility's format uses: pyhdf for ISIS NeXus v1
(HDF4), h5py for NeXus v2 (HDF5), uproot for MusrRoot (ROOT), mud-py for TRIUMF MUD, and plain
``struct`` for PSI-BIN. The tests compare what ``read_run`` returns with the arrays written here,
never with values read back by bayesmusr.
"""
from __future__ import annotations

import struct

import h5py
import numpy as np
import uproot
from uproot.writing.identify import to_TAxis, to_TH1x, to_TList, to_TObjString

from bayesmusr.io.readers.musrroot import parse_header_line


# ------------------------------------------------------------------ PSI-BIN
def write_psi_bin(path, hist, t0=(10, 12), bw=0.0195313, field="50G", temperature="12.0K", temps=(12.0, 12.1)):
    """A PSI-BIN file laid out as the format describes (1024-byte header, int32 records).

    ``field`` and ``temperature`` are the 10-character header strings (bytes 158 and 148);
    ``temps`` the mean temperatures of the first two sensors (float32 at byte 716).
    """
    n_hist, n_bins = hist.shape
    head = bytearray(1024)
    head[0:2] = b"1N"
    struct.pack_into("<hhh", head, 2, 0, 0, 4321)
    struct.pack_into("<hh", head, 28, n_bins, n_hist)
    struct.pack_into("<hhhh", head, 128, n_hist, n_bins, 1, 1)
    head[138:148] = b"Ag        "
    head[148:158] = temperature.encode("latin-1")[:10].ljust(10)
    head[158:168] = field.encode("latin-1")[:10].ljust(10)
    head[218:227] = b"01-JAN-20"
    head[236:244] = b"10:11:12 "[:8]
    for i in range(n_hist):
        struct.pack_into("<h", head, 458 + 2 * i, t0[i])
        struct.pack_into("<h", head, 490 + 2 * i, t0[i] + 3)
        struct.pack_into("<h", head, 522 + 2 * i, n_bins - 1)
        head[948 + 4 * i: 952 + 4 * i] = [b"Forw", b"Back"][i % 2]
    struct.pack_into("<4f", head, 716, *temps, 0, 0)
    struct.pack_into("<f", head, 1012, bw)
    path.write_bytes(bytes(head) + hist.astype("<i4").tobytes())


# --------------------------------------------------------------------- MUD
def write_mud(path, hists, *, title="Ag calibration", field="20.0G", temperature="10.0K", run_number=12345,
              fs_per_bin=390625, t0=(10, 10), good=((12, 99), (12, 99)), names=("B", "F"), area="M20",
              apparatus="LAMPF", das="MODAS", t0_ps=None):
    """A TRIUMF TD-μSR MUD file written with mud-py (``open_write``, the ``set_*`` functions).

    ``good`` holds MUD's inclusive (good_bin1, good_bin2) per histogram; ``t0_ps`` the
    ``t0_ps`` values (default ``t0 × fs_per_bin / 1000``).
    """
    import mudpy.mud_friendly_wrapper as m

    fh = m.open_write(str(path), m.FMT_TRI_TD_ID)
    m.set_description(fh, m.SEC_GEN_RUN_DESC_ID)
    m.set_run_number(fh, run_number)
    m.set_exp_number(fh, 1)
    for setter, value in ((m.set_title, title), (m.set_sample, "Ag"), (m.set_temperature, temperature),
                          (m.set_field, field), (m.set_lab, "TRIUMF"), (m.set_area, area),
                          (m.set_apparatus, apparatus), (m.set_insert, ""), (m.set_das, das),
                          (m.set_experimenter, "test"), (m.set_method, "TD-muSR"), (m.set_orientation, "")):
        setter(fh, value)
    m.set_start_time(fh, 1600000000)
    m.set_end_time(fh, 1600003600)
    m.set_elapsed_seconds(fh, 3600)
    m.set_hists(fh, m.GRP_TRI_TD_HIST_ID, len(hists))
    for i, d in enumerate(hists, start=1):
        m.set_hist_type(fh, i, m.SEC_TRI_TD_HIST_ID)
        m.set_hist_n_bins(fh, i, len(d))
        m.set_hist_bytes_per_bin(fh, i, 4)
        m.set_hist_fs_per_bin(fh, i, fs_per_bin)
        m.set_hist_t0_bin(fh, i, t0[i - 1])
        m.set_hist_t0_ps(fh, i, int(t0[i - 1] * fs_per_bin / 1000) if t0_ps is None else t0_ps[i - 1])
        m.set_hist_good_bin1(fh, i, good[i - 1][0])
        m.set_hist_good_bin2(fh, i, good[i - 1][1])
        m.set_hist_title(fh, i, names[i - 1])
        m.set_hist_n_events(fh, i, int(np.sum(d)))
        m.set_hist_background1(fh, i, 0)
        m.set_hist_background2(fh, i, 5)
        m.set_hist_data(fh, i, np.asarray(d, np.int64))
    m.close_writefile(fh, str(path))


# ------------------------------------------------------------ ISIS NeXus v1
def write_v1(path, counts2d, switching_states, number, frames_daq, deadtimes, title, *, counts_type="int32",
             magnetic_field=None, temperature=None, frames_good=None, dead_available=1, time_zero=0.032,
             resolution=16000, grouping=None):
    """A minimal ISIS NeXus v1 (HDF4) file: Vgroups with NeXus classes, SD datasets inside.

    ``magnetic_field`` and ``temperature`` are ``(value, units)`` pairs written to
    ``run/sample`` (the units as the dataset's ``units`` attribute, as ISIS writes them);
    ``counts_type`` is ``"int32"`` or ``"float32"``.
    """
    import pyhdf.V  # noqa: F401
    from pyhdf.HDF import HC, HDF
    from pyhdf.SD import SD, SDC

    types = {SDC.INT32: np.int32, SDC.FLOAT32: np.float32}
    hdf = HDF(str(path), HC.WRITE | HC.CREATE)
    sd = SD(str(path), SDC.WRITE)
    v = hdf.vgstart()
    groups = []

    def group(parent, name, cls):
        g = v.create(name)
        g._class = cls
        if parent is not None:
            parent.insert(g)
        groups.append(g)
        return g

    def data(parent, name, values, typ, **attrs):
        if typ == SDC.CHAR8:
            arr = np.frombuffer(values.encode(), dtype="S1")
            sds = sd.create(name, typ, arr.size)
            sds[:] = arr
        else:
            arr = np.atleast_1d(np.asarray(values)).astype(types[typ])
            sds = sd.create(name, typ, arr.shape if arr.ndim > 1 else arr.size)
            sds[:] = arr
        for key, value in attrs.items():
            if isinstance(value, str):
                sds.attr(key).set(SDC.CHAR8, value)
            else:
                sds.attr(key).set(SDC.FLOAT32 if isinstance(value, float) else SDC.INT32, value)
        parent.add(HC.DFTAG_NDG, sds.ref())
        sds.endaccess()

    run = group(None, "run", "NXentry")
    data(run, "number", 4242, SDC.INT32)
    data(run, "title", title, SDC.CHAR8)
    if switching_states is not None:
        data(run, "switching_states", switching_states, SDC.INT32)
    inst = group(run, "instrument", "NXinstrument")
    data(inst, "name", "EMU", SDC.CHAR8)
    det = group(inst, "detector", "NXdetector")
    data(det, "number", number, SDC.INT32)
    if deadtimes is not None:
        data(det, "deadtimes", deadtimes, SDC.FLOAT32, available=dead_available)
    beam = group(inst, "beam", "NXbeam")
    data(beam, "frames_period_daq", frames_daq, SDC.INT32)
    data(beam, "frames_good", int(sum(frames_daq)) if frames_good is None else frames_good, SDC.INT32)
    if magnetic_field is not None or temperature is not None:
        sample = group(run, "sample", "NXsample")
        for name, pair in (("magnetic_field", magnetic_field), ("temperature", temperature)):
            if pair is not None:
                data(sample, name, pair[0], SDC.FLOAT32, **({"units": pair[1]} if pair[1] is not None else {}))
    hist = group(run, "histogram_data_1", "NXdata")
    ctype = SDC.FLOAT32 if counts_type == "float32" else SDC.INT32
    data(hist, "counts", counts2d, ctype, t0_bin=2, first_good_bin=3, last_good_bin=counts2d.shape[1])
    data(hist, "resolution", resolution, SDC.INT32)
    data(hist, "time_zero", time_zero, SDC.FLOAT32, available=1)
    if grouping is not None:
        data(hist, "grouping", grouping, SDC.INT32, available=1)
    for g in reversed(groups):
        g.detach()
    sd.end()  # SD before V: closed the other way round the file loses its Vgroups
    v.end()
    hdf.close()


# ------------------------------------------------------------ ISIS NeXus v2
def synthetic_v2(path, counts, t0=True, dtype=None):
    """The smallest NeXus v2 file the reader accepts: counts, t0, bin edges, run number, title."""
    with h5py.File(path, "w") as fh:
        e = fh.create_group("raw_data_1")
        d = e.create_group("detector_1")
        c = d.create_dataset("counts", data=np.asarray(counts, dtype=dtype))
        c.attrs["first_good_bin"] = 3
        c.attrs["last_good_bin"] = counts.shape[-1]
        if t0:
            c.attrs["t0_bin"] = 2
            d.create_dataset("time_zero", data=[0.032])
        d.create_dataset("raw_time", data=np.arange(counts.shape[-1] + 1) * 0.016)
        e.create_dataset("run_number", data=[1])
        e.create_dataset("title", data=[b"synthetic"])


def write_v2(path, counts, periods_number=None, good_frames=None, dead=None, grouping=None, title="x",
             sample=None):
    """A NeXus v2 file with periods, good frames, dead times and grouping as ISIS writes them.

    ``sample`` maps names under ``raw_data_1/sample`` to ``(value, units)`` (``units`` None: no attribute).
    """
    with h5py.File(path, "w") as fh:
        e = fh.create_group("raw_data_1")
        d = e.create_group("detector_1")
        c = d.create_dataset("counts", data=counts.astype(np.int32))
        c.attrs["t0_bin"], c.attrs["first_good_bin"], c.attrs["last_good_bin"] = 2, 3, counts.shape[-1]
        d.create_dataset("time_zero", data=[0.032])
        d.create_dataset("raw_time", data=np.arange(counts.shape[-1] + 1) * 0.016)
        if dead is not None:
            d.create_dataset("dead_time", data=dead)
        if grouping is not None:
            d.create_dataset("grouping", data=grouping)
        e.create_dataset("run_number", data=[77])
        e.create_dataset("title", data=[title.encode()])
        e.create_dataset("good_frames", data=[999])
        if periods_number is not None:
            e.create_dataset("periods/number", data=[periods_number])
        if good_frames is not None:
            e.create_dataset("periods/good_frames", data=good_frames)
        for name, (value, units) in (sample or {}).items():
            ds = e.create_dataset(f"sample/{name}", data=[value])
            if units is not None:
                ds.attrs["units"] = np.bytes_(units.encode("utf-8"))


# ------------------------------------------------------------------ MusrRoot
def th1f(name, title, values):
    """A TH1F as ROOT stores it: bins 1..N between an underflow and an overflow bin."""
    values = np.asarray(values, np.float64)
    x = np.arange(values.size) + 0.5
    return to_TH1x(
        fName=name, fTitle=title, data=np.concatenate([[0.0], values, [0.0]]).astype(np.float32),
        fEntries=float(values.sum()), fTsumw=float(values.sum()), fTsumw2=float(values.sum()),
        fTsumwx=float((values * x).sum()), fTsumwx2=float((values * x * x).sum()), fSumw2=None,
        fXaxis=to_TAxis(fName="xaxis", fTitle="", fNbins=values.size, fXmin=0.0, fXmax=float(values.size)),
    )


def run_info(n_hist, offsets, field="350.002 +- 0.005 G; SP: 350; WXY", title="LGO LF 50 G", resolution=True,
             temperature="3.21 +- 0.05 K; SP: 3.2; CF1", time_resolution="0.1953125 ns; TDC 9999"):
    """``RunInfo`` header strings of a MusrRoot file (``TMusrRunHeader`` layout)."""
    items = [("Version", "git-sha fec5017fc29", 0), ("Generator", "test", 0), ("Run Title", title, 0),
             ("Run Number", "2871", 1), ("Run Start Time", "2012-04-19 14:25:22", 0), ("Laboratory", "PSI", 0),
             ("Instrument", "GPS", 0), ("Sample Name", "LGO", 0), ("Comment", "n/a", 0),
             ("Sample Temperature", temperature, 3), ("Sample Magnetic Field", field, 3),
             ("No of Histos", str(n_hist), 1), ("RedGreen Offsets", "; ".join(map(str, offsets)), 5)]
    if resolution:
        items.append(("Time Resolution", time_resolution, 3))
    return [f"{i:03d} - {k}: {v} -@{t}" for i, (k, v, t) in enumerate(items)]


def detector_info(n_hist, offsets):
    """``DetectorInfo/DetectorNNN`` header strings (names, t0 and good bins) per histogram."""
    out = {}
    for off in offsets:
        for j in range(1, n_hist + 1):
            items = [("Name", ("Left", "Right")[(j - 1) % 2] + f" {off}", 0), ("Histo Number", str(off + j), 1),
                     ("Histo Length", "60", 1), ("Time Zero Bin", f"{10 + j}.000000", 2),
                     ("First Good Bin", str(14 + j), 1), ("Last Good Bin", "60", 1)]
            out[f"Detector{off + j:03d}"] = [f"{i:03d} - {k}: {v} -@{t}" for i, (k, v, t) in enumerate(items)]
    return out


def write_musrroot(path, hists, run_info_lines, detectors, variant="directory", top="RunHeader"):
    """MusrRoot as TDirectories (musrfit's TFolder replacement) or as collections (TList standing in for
    TFolder/TObjArray, which uproot cannot write); histogram keys hDecayNNN, header strings TObjString.

    A value of ``hists`` that is not an array is written as it is (e.g. a string where a histogram belongs).
    """
    with uproot.recreate(path) as f:
        if variant == "directory":
            for k, v in hists.items():
                f[f"histos/DecayAnaModule/hDecay{k:03d}"] = v if isinstance(v, str) else th1f(f"hDecay{k:03d}", f"h{k}", v)
            for s in run_info_lines:
                f[f"{top}/RunInfo/{parse_header_line(s)[0]}"] = s
            for d, lines in detectors.items():
                for s in lines:
                    f[f"{top}/DetectorInfo/{d}/{parse_header_line(s)[0]}"] = s
        else:
            f["histos"] = to_TList([to_TList([th1f(f"hDecay{k:03d}", f"h{k}", v) for k, v in hists.items()],
                                             name="DecayAnaModule")], name="histos")
            det = [to_TList([to_TObjString(s) for s in lines], name=d) for d, lines in detectors.items()]
            f[top] = to_TList([to_TList([to_TObjString(s) for s in run_info_lines], name="RunInfo"),
                               to_TList(det, name="DetectorInfo")], name=top)


def musrroot_hists(rng, n_hist, offsets, n_bins=60):
    """Poisson histograms ``{offset + j: counts}`` for :func:`write_musrroot`."""
    return {off + j: rng.poisson(100, n_bins) for off in offsets for j in range(1, n_hist + 1)}
