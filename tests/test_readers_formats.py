"""Readers for multi-period ISIS NeXus (v1 and v2), MusrRoot and MUD files written here, geometry
read from titles, and ``bayesmusr info`` on good and bad files.

The files are written with the libraries the facilities' formats use (pyhdf for HDF4 NeXus v1,
h5py for NeXus v2, uproot for ROOT, mud-py for MUD) following the layouts described in the
reader modules; the expected values are the arrays written, not values read back by bayesmusr.
"""
from __future__ import annotations

import math
import os
import pathlib
import signal

import numpy as np
import pytest
from writers import detector_info as _detector_info
from writers import musrroot_hists as _musrroot_hists
from writers import run_info as _run_info
from writers import write_mud
from writers import write_musrroot as _write_musrroot
from writers import write_v1 as _write_v1
from writers import write_v2 as _write_v2

from bayesmusr import cli
from bayesmusr.io.collection import format_info_lines
from bayesmusr.io.readers import RunFormatError, read_run, sniff_format
from bayesmusr.io.readers._meta import complete_geometry, geometry_from_text
from bayesmusr.io.readers.isis_nexus import v1_period_layout
from bayesmusr.io.readers.musrroot import _header, parse_header_line, parse_quantity

DATA = pathlib.Path(__file__).parent / "data"
ZF = DATA / "EMU00020882.nxs"


@pytest.fixture
def alarm():
    """Fail instead of hanging (a reader that opened a FIFO would block forever)."""
    def _timeout(signum, frame):
        raise TimeoutError("took longer than 30 s: something blocked")
    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------- geometry from text
@pytest.mark.parametrize("text,geometry,field_mT", [
    ("LF5G", "LF", 0.5),                       # 5 G = 0.5 mT
    ("LF 50 G", "LF", 5.0),
    ("ZF", "ZF", 0.0),
    ("TF 100G", "TF", 10.0),
    ("zero field", "ZF", 0.0),
    ("Zero-Field 300K", "ZF", 0.0),
    ("longitudinal", "LF", math.nan),
    ("transverse", "TF", math.nan),
    ("longitudinal field 2 mT", "LF", 2.0),
    ("Cu_ZF_10K", "ZF", 0.0),
    ("sample_TF20G_T=5K", "TF", 2.0),
    ("wTF 30G calibration", "TF", 3.0),
    ("100 G TF", "TF", 10.0),
    ("5mT_LF", "LF", 5.0),
    ("LF 0.5 mT", "LF", 0.5),
    ("LF 1 kG", "LF", 100.0),
    ("LF 0.1T", "LF", 100.0),
    ("TF=100G", "TF", 10.0),
    ("LF 5 T=10K", "LF", math.nan),            # "T=10K" is a temperature, not 5 tesla
    ("LF 50", "LF", math.nan),                 # no unit: the number is not read
])
def test_geometry_read_from_titles(text, geometry, field_mT):
    g, b, evidence = geometry_from_text(text)
    assert g == geometry, (text, g, evidence)
    assert (math.isnan(b) and math.isnan(field_mT)) or b == pytest.approx(field_mT), (text, b)
    assert evidence and evidence in text


@pytest.mark.parametrize("text", [
    "ZnF2", "TFA sample", "LaFeAsO", "MnF2 powder", "LiF", "CaF2", "half-filled", "ZFC 300K",
    "zero-field cooled", "copper T=280.0 F=0.0", "RbV3Sb5_T=200_F=20.0", "", "self-field",
])
def test_titles_without_a_geometry(text):
    assert geometry_from_text(text)[0] == ""


def test_two_geometries_in_one_title_give_none():
    g, b, evidence = geometry_from_text("ZF and TF 20G calibration")
    assert g == "" and math.isnan(b) and "TF" in evidence and "ZF" in evidence


def test_complete_geometry_keeps_the_header_and_fills_what_is_missing():
    a = complete_geometry({"geometry": "", "field_mT": math.nan, "title": "Ag LF5G", "comment": ""})
    assert (a["geometry"], a["field_mT"]) == ("LF", 0.5)
    assert a["geometry_source"] == "title: 'LF5G'" and a["field_source"] == "title: 'LF5G'"
    # header geometry and field win; the contradiction is recorded
    b = complete_geometry({"geometry": "TF", "geometry_source": "logs", "field_mT": 10.0, "field_source": "header",
                           "title": "ZF run", "comment": ""})
    assert (b["geometry"], b["field_mT"], b["field_source"]) == ("TF", 10.0, "header")
    assert b["geometry_source"] == "logs (title says 'ZF')"
    # the comment is read when the title says nothing; nothing stated leaves "" with a hint
    c = complete_geometry({"geometry": "", "field_mT": math.nan, "title": "Cu 300K", "comment": "transverse 20 G"})
    assert c["geometry"] == "TF" and c["field_mT"] == pytest.approx(2.0) and c["geometry_source"].startswith("comment")
    d = complete_geometry({"geometry": "", "field_mT": math.nan, "title": "ZnF2", "comment": ""})
    assert d["geometry"] == "" and "give geometry=" in d["geometry_source"] and math.isnan(d["field_mT"])


# ----------------------------------------------------------- ISIS NeXus v1 periods
def test_v1_period_layout():
    assert v1_period_layout(192, 2, 192)[:2] == (2, 96)   # number = all spectra, switching_states = 2
    assert v1_period_layout(192, 2, 96)[:2] == (2, 96)
    assert v1_period_layout(96, 1, 96)[:2] == (1, 96)
    assert v1_period_layout(192, -2, None)[:2] == (2, 96)  # the sign of switching_states is not a count
    assert v1_period_layout(192, None, 96)[:2] == (2, 96)  # old files: split by the detector number
    assert v1_period_layout(192, None, None)[:2] == (1, 192)
    with pytest.raises(RunFormatError, match="switching_states.*dividing the 192 spectra.*found 5"):
        v1_period_layout(192, 5, 192, "x.nxs")
    with pytest.raises(RunFormatError, match="detector/number.*divisor of the 192 spectra.*found 100"):
        v1_period_layout(192, None, 100, "x.nxs")


def test_two_period_v1_file(tmp_path):
    rng = np.random.default_rng(11)
    n_det, n_bins = 6, 40
    counts = rng.poisson(30, size=(2 * n_det, n_bins))
    dead = np.concatenate([np.full(n_det, 0.01), np.full(n_det, 0.02)])
    p = tmp_path / "EMU00004242.nxs"
    # detector/number = all 12 spectra, as in the real file that was read as "192 det, 1 period"
    _write_v1(p, counts, switching_states=2, number=2 * n_det, frames_daq=[100, 120], deadtimes=dead, title="Ag LF5G")
    assert sniff_format(p) == "nexus-v1"
    r = read_run(p)
    assert (r.n_periods, r.n_detectors, r.n_bins) == (2, n_det, n_bins)
    assert np.array_equal(r.ds["counts"].values[0], counts[:n_det])   # period 1: rows 0..5
    assert np.array_equal(r.ds["counts"].values[1], counts[n_det:])   # period 2: rows 6..11
    assert r.ds["good_frames"].values.tolist() == [100.0, 120.0]
    assert r.attrs["good_frames_source"] == "frames_period_daq"
    assert r.attrs["periods_source"] == "run/switching_states = 2"
    assert np.allclose(r.ds["dead_time"].values, 0.01) and "dead times differ between periods" in r.attrs["notes"]
    assert np.allclose(r.ds["t0"].values, 0.032) and np.all(r.ds["first_good_bin"].values == 3)
    # no geometry log or header state: the title gives LF and 5 G = 0.5 mT
    assert r.geometry == "LF" and r.field_mT == pytest.approx(0.5) and r.attrs["field_source"] == "title: 'LF5G'"
    assert "6 det, 2 periods" in r.info_line()
    g = r.grouped(groups=([1, 2, 3], [4, 5, 6]), period=2, dead_time=False)
    assert g["forward"].values.sum() == counts[n_det:n_det + 3, 3:].sum()


def test_v1_file_whose_switching_states_does_not_divide_the_spectra(tmp_path):
    p = tmp_path / "bad.nxs"
    _write_v1(p, np.ones((9, 20), int), switching_states=2, number=9, frames_daq=[1, 1],
              deadtimes=np.zeros(9), title="x")
    with pytest.raises(RunFormatError, match=r"bad\.nxs.*run/switching_states.*dividing the 9 spectra"):
        read_run(p)


# ----------------------------------------------------------- ISIS NeXus v2 periods
def test_two_period_v2_file(tmp_path):
    rng = np.random.default_rng(12)
    counts = rng.poisson(40, size=(2, 4, 50))
    p = tmp_path / "v2.nxs"
    dead = np.array([[0.01, 0.02, 0.03, 0.04], [0.05, 0.06, 0.07, 0.08]])  # (period, spectrum), as Mantid reads them
    _write_v2(p, counts, periods_number=2, good_frames=[100, 120], dead=dead, grouping=np.tile([1, 1, 2, 2], 2),
              title="sample TF 100G")
    r = read_run(p)
    assert (r.n_periods, r.n_detectors) == (2, 4)
    assert np.array_equal(r.ds["counts"].values, counts)
    assert r.ds["good_frames"].values.tolist() == [100.0, 120.0]  # not the total good_frames = 999
    assert r.ds["dead_time"].values.tolist() == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert "dead times differ between periods" in r.attrs["notes"] and "grouping" not in r.attrs["notes"]
    assert r.ds["grouping"].values.tolist() == [1, 1, 2, 2]
    assert r.geometry == "TF" and r.field_mT == pytest.approx(10.0)


def test_v2_two_dimensional_counts_split_by_periods_number(tmp_path):
    counts = np.arange(2 * 3 * 20).reshape(6, 20) + 1
    p = tmp_path / "flat.nxs"
    _write_v2(p, counts, periods_number=2, good_frames=[5, 6])
    r = read_run(p)
    assert r.ds["counts"].shape == (2, 3, 20) and np.array_equal(r.ds["counts"].values[1], counts[3:])


def test_v2_periods_number_contradicting_the_counts(tmp_path):
    p = tmp_path / "contra.nxs"
    _write_v2(p, np.ones((2, 4, 30)), periods_number=3, good_frames=[1, 2, 3])
    with pytest.raises(RunFormatError, match=r"contra\.nxs.*periods/number.*expected 2 periods.*found 3"):
        read_run(p)


def test_v2_one_period_uses_the_total_good_frames(tmp_path):
    p = tmp_path / "one.nxs"
    _write_v2(p, np.ones((1, 4, 30)))
    r = read_run(p)
    assert r.ds["good_frames"].values.tolist() == [999.0] and r.attrs["good_frames_source"] == "good_frames"


# ------------------------------------------------------------------- MusrRoot
@pytest.mark.parametrize("variant", ["directory", "collections"])
def test_musrroot_two_red_green_periods(tmp_path, variant):
    rng = np.random.default_rng(13)
    offsets = [0, 20]
    hists = _musrroot_hists(rng, 2, offsets)
    p = tmp_path / f"deltat_tdc_gps_2871_{variant}.root"
    _write_musrroot(p, hists, _run_info(2, offsets), _detector_info(2, offsets), variant)
    assert sniff_format(p) == "musr-root"
    r = read_run(p)
    a = r.attrs
    assert a["format"] == "PSI MusrRoot" and a["run_number"] == 2871 and a["instrument"] == "GPS"
    assert a["sample"] == "LGO" and a["title"] == "LGO LF 50 G" and a["comment"] == ""  # "n/a" is no comment
    assert a["start_time"] == "2012-04-19T14:25:22"
    assert (r.n_periods, r.n_detectors, r.n_bins) == (2, 2, 60)
    for period, off in enumerate(offsets):
        for j in (1, 2):
            assert np.array_equal(r.ds["counts"].values[period, j - 1], hists[off + j])
    assert r.bin_width_us == pytest.approx(0.1953125e-3)
    assert r.ds["t0_bin"].values.tolist() == [11.0, 12.0]
    assert r.ds["t0"].values == pytest.approx((np.array([11.0, 12.0]) + 0.5) * 0.1953125e-3)  # bin centre
    assert r.ds["first_good_bin"].values.tolist() == [15, 16] and r.ds["last_good_bin"].values.tolist() == [60, 60]
    assert r.ds["detector_name"].values.tolist() == ["Left 0", "Right 0"]
    assert r.temperature_K == pytest.approx(3.21) and a["temperature_std_K"] == pytest.approx(0.05)
    assert r.field_mT == pytest.approx(35.0002)  # the header field (G) wins over the title's 50 G
    assert r.geometry == "LF" and a["geometry_source"] == "title: 'LF 50 G'"
    assert np.all(np.isnan(r.ds["good_frames"].values))


def test_musrroot_zero_field_and_field_in_tesla(tmp_path):
    rng = np.random.default_rng(14)
    hists = _musrroot_hists(rng, 2, [0])
    p, q = tmp_path / "zf.root", tmp_path / "tesla.root"
    _write_musrroot(p, hists, _run_info(2, [0], field="0.0 G", title="TF 100G"), _detector_info(2, [0]))
    r = read_run(p)
    assert r.geometry == "ZF" and r.field_mT == 0.0 and "title says 'TF 100G'" in r.attrs["geometry_source"]
    _write_musrroot(q, hists, _run_info(2, [0], field="0.5 T; SP: 0.5", title="x"), _detector_info(2, [0]))
    assert read_run(q).field_mT == pytest.approx(500.0)


def test_musrroot_unsupported_variants_name_file_and_key(tmp_path):
    rng = np.random.default_rng(15)
    hists = _musrroot_hists(rng, 2, [0])
    old = tmp_path / "lem_2010.root"  # LEM files until 2011: header in a "RunInfo" folder, no RunHeader
    _write_musrroot(old, hists, _run_info(2, [0]), {}, top="RunInfo")
    with pytest.raises(RunFormatError, match=r"lem_2010\.root: RunHeader: missing.*LEM ROOT format"):
        read_run(old)
    nores = tmp_path / "nores.root"
    _write_musrroot(nores, hists, _run_info(2, [0], resolution=False), _detector_info(2, [0]))
    with pytest.raises(RunFormatError, match=r"nores\.root: RunHeader/RunInfo/Time Resolution: missing"):
        read_run(nores)
    short = tmp_path / "short.root"
    _write_musrroot(short, {1: hists[1]}, _run_info(2, [0]), _detector_info(2, [0]))
    with pytest.raises(RunFormatError, match=r"short\.root: histos/DecayAnaModule/hDecay002: missing"):
        read_run(short)
    damaged = tmp_path / "damaged.root"
    damaged.write_bytes(old.read_bytes()[:600])
    with pytest.raises(RunFormatError, match=r"damaged\.root"):
        read_run(damaged)


def test_musrroot_header_strings_and_tfolder_walk():
    assert parse_header_line("020 - Sample Temperature: 3.21 +- 0.05 K; SP: 3.2 -@3") == (
        "Sample Temperature", "3.21 +- 0.05 K; SP: 3.2", 3)
    assert parse_header_line("0003 - LCO, T=170.02(K), wTF ~30(G)") is None  # a RunSummary line
    assert parse_quantity("0.1953125 ns; TDC 9999") == (0.1953125, pytest.approx(math.nan, nan_ok=True), "ns")
    assert parse_quantity("350.002 +- 0.005 G; SP: 350; WXY")[::2] == (350.002, "G")

    class Folder:  # what uproot makes of a TFolder: its children are in the member fFolders
        def __init__(self, name, children):
            self.name, self.children = name, children

        def member(self, key):
            return {"fName": self.name, "fFolders": self.children}[key]

    class Array(list):  # a TObjArray: a named sequence
        def __init__(self, name, items):
            super().__init__(items)
            self.name = name

        def member(self, key):
            if key == "fName":
                return self.name
            raise KeyError(key)

    header = Folder("RunHeader", [Array("RunInfo", ["008 - Run Number: 234 -@1"]),
                                  Array("DetectorInfo", [Array("Detector001", ["028 - Time Zero Bin: 3419.0 -@2"])])])
    assert _header(header, pathlib.Path("x.root")) == {
        "RunInfo/Run Number": ("234", 1), "DetectorInfo/Detector001/Time Zero Bin": ("3419.0", 2)}


def test_text_starting_with_root_is_not_a_root_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("root of the matter\n0.1 0.2 0.01\n0.2 0.19 0.01\n")
    assert sniff_format(p) == "ascii"


# ------------------------------------------------------------------------- MUD
def _write_mud(path, title, field, temperature="10.0K"):
    hists = np.random.default_rng(16).poisson(80, size=(2, 120))
    write_mud(path, hists, title=title, field=field, temperature=temperature, run_number=40123, area="M15",
              apparatus="HiTime", das="MUSR", fs_per_bin=781250, t0=(12, 14), good=((15, 110), (17, 111)),
              names=("B", "F"))
    return hists


def test_mud_written_and_read_back(tmp_path):
    pytest.importorskip("mudpy.mud_friendly_wrapper")  # a core dependency; only a broken build lacks it
    p = tmp_path / "040123.msr"
    hists = _write_mud(p, title="Ag LF 20G 10K", field="20.0G")
    assert sniff_format(p) == "mud"
    r = read_run(p)
    a = r.attrs
    assert a["format"] == "TRIUMF MUD" and a["run_number"] == 40123 and a["title"] == "Ag LF 20G 10K"
    assert np.array_equal(r.ds["counts"].values[0], hists)
    assert r.bin_width_us == pytest.approx(0.78125e-3)
    assert r.ds["t0_bin"].values.tolist() == [12.0, 14.0]
    assert r.ds["t0"].values == pytest.approx((np.array([12, 14]) + 0.5) * 0.78125e-3)  # centre of the t0 bin
    assert r.ds["first_good_bin"].values.tolist() == [15, 17]
    assert r.ds["last_good_bin"].values.tolist() == [111, 112]  # MUD good_bin2 is inclusive
    assert r.temperature_K == 10.0 and r.field_mT == pytest.approx(2.0) and a["field_source"].startswith("header")
    assert r.geometry == "LF" and a["geometry_source"] == "title: 'LF 20G'"  # MUD headers state no geometry
    assert r.ds["detector_name"].values.tolist() == ["B", "F"]
    z = tmp_path / "zf.msr"
    _write_mud(z, title="Ag calibration", field="0.0G")
    assert read_run(z).geometry == "ZF" and read_run(z).attrs["geometry_source"] == "header field = 0"


# ------------------------------------------------------------------------ info
def test_info_reports_every_file_good_or_bad(tmp_path, alarm):
    good = tmp_path / "two.nxs"
    _write_v2(good, np.full((2, 4, 30), 3), periods_number=2, good_frames=[10, 12],
              dead=np.array([0.01, -0.02, 0.03, 0.04]), grouping=np.array([1, 1, 2, 2]))
    bad = tmp_path / "bad.nxs"
    bad.write_bytes(b"\x0e\x03\x13\x01" + bytes(100))
    fifo = tmp_path / "pipe.nxs"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    missing = tmp_path / "missing.nxs"
    files = [bad, ZF, fifo, folder, missing, good]
    lines, n_bad = format_info_lines(files)
    assert n_bad == 4 and len(lines) == 6
    assert lines[0].startswith(f"ERROR {bad}: ") and "HDF4" in lines[0]
    assert lines[1].startswith("EMU00020882.nxs: ISIS NeXus v1")
    assert lines[2] == f"ERROR {fifo}: not a regular file (FIFO, socket or device): not opened"
    assert lines[3] == f"ERROR {folder}: a directory, not a run file"
    assert lines[4] == f"ERROR {missing}: no such file"
    assert "4 det, 2 periods" in lines[5]
    verbose, n_bad_v = format_info_lines([ZF, good, fifo], verbose=True)
    assert n_bad_v == 1
    text = "\n".join(verbose)
    assert "  t0: bin 15 (0.239 μs)" in text and "  good bins: 22 <= i < 2000" in text
    assert "  grouping: forward 1-48, backward 49-96 (default for EMU with 96 detectors)" in text
    assert "  dead times: absent" in text and "  good frames: period 1: 9408" in text
    assert "  format: ISIS NeXus v2 (HDF5); periods: 2 (periods/number)" in text
    assert "  grouping: forward 1-2, backward 3-4 (grouping array (file))" in text
    assert "  dead times: present for 4/4 detectors, -0.02–0.04 μs, 1 negative" in text
    assert "  good frames: period 1: 10; period 2: 12 (periods/good_frames)" in text


def test_info_command_exit_status_and_streams(tmp_path, capsys, alarm):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert cli.main(["info", str(ZF)]) == 0
    assert cli.main(["info", "-v", str(ZF), str(fifo)]) == 1
    out, err = capsys.readouterr()
    assert "run 20882" in out and "  t0: bin 15" in out and str(fifo) not in out
    assert f"ERROR {fifo}: not a regular file" in err
