"""A corpus of bad inputs for the readers: each case is a small file made here, and the test asserts the
exception type and that the message names the file and the field at fault.

Also the unit table every reader uses (header strings → mT, K, μs, and the strings that must be
refused), the overrides of ``read_run``, paths that are not regular files, and the runs whose dead
times cannot be corrected because the file gives no usable good frames.
"""
from __future__ import annotations

import math
import os
import pathlib
import signal
import socket

import h5py
import numpy as np
import pytest
from writers import (
    detector_info,
    musrroot_hists,
    run_info,
    write_mud,
    write_musrroot,
    write_psi_bin,
    write_v1,
    write_v2,
)

from bayesmusr.io.readers import RunFormatError, read_run, sniff_format
from bayesmusr.io.readers._meta import convert_unit, geometry_from_text, read_quantity

RNG = np.random.default_rng(16)


@pytest.fixture
def alarm():
    """Fail instead of hanging: a reader that opened a FIFO would block forever."""
    def _timeout(signum, frame):
        raise TimeoutError("took longer than 20 s: something blocked")
    old = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _refused(path, field, *fragments, exc=RunFormatError, **overrides):
    """Read ``path`` expecting ``exc`` whose message names the file, ``field`` and each fragment."""
    with pytest.raises(exc) as err:
        read_run(path, **overrides)
    msg = str(err.value)
    assert str(path) in msg, msg
    assert field in msg, msg
    for f in fragments:
        assert f in msg, msg
    if isinstance(err.value, RunFormatError):
        assert field in err.value.field, (err.value.field, field)
    return msg


def _v2(tmp_path, name="run.nxs", counts=None, **kw):
    p = tmp_path / name
    write_v2(p, RNG.poisson(20, size=(1, 4, 40)) + 1 if counts is None else counts, **kw)
    return p


def _replace(path, dataset, data, **attrs):
    """Replace ``raw_data_1/<dataset>`` by ``data`` keeping (or setting) its attributes."""
    with h5py.File(path, "a") as fh:
        e = fh["raw_data_1"]
        old = dict(e[dataset].attrs) if dataset in e else {}
        if dataset in e:
            del e[dataset]
        ds = e.create_dataset(dataset, data=data)
        for k, v in {**old, **attrs}.items():
            ds.attrs[k] = v


# =============================================================== unit table
@pytest.mark.parametrize("text,kind,expected", [
    ("0.5 T", "field", 500.0),            # the survey: read as 50 mT before
    ("5 kG", "field", 500.0),             # the survey: read as 0.5 mT before
    ("5kG", "field", 500.0),
    ("50G", "field", 5.0),
    ("50 G", "field", 5.0),
    ("20.0 Gauss", "field", 2.0),
    ("20 gauss", "field", 2.0),
    ("100 GAUSS", "field", 10.0),        # EMU's field_hifi log unit
    ("12 mT", "field", 12.0),
    ("0.1Tesla", "field", 100.0),
    ("5 Oe", "field", 0.5),              # Oe read as G: the applied field in vacuum
    ("1 kOe", "field", 100.0),
    ("10 µT", "field", 0.01),            # micro sign U+00B5
    ("10 μT", "field", 0.01),            # Greek mu U+03BC
    ("10 uT", "field", 0.01),
    ("-20 G", "field", -2.0),            # a field may point the other way
    ("1e3G", "field", 100.0),
    ("0.000G    ", "field", 0.0),         # PSI pads its strings
    ("350.002 +- 0.005 G", "field", 35.0002),
    ("20.0(0.1)G", "field", 2.0),
    ("12.0K", "temperature", 12.0),
    ("10.000(0.005)K", "temperature", 10.0),
    ("300 Kelvin", "temperature", 300.0),
    ("100 mK", "temperature", 0.1),
    ("20 °C", "temperature", 293.15),
    ("20 C", "temperature", 293.15),
    ("-273.15 degC", "temperature", 0.0),
    ("0.1953125 ns", "time", 0.0001953125),
    ("16000 picoseconds", "time", 0.016),
    ("0.239 microseconds", "time", 0.239),
    ("0.016 μs", "time", 0.016),
])
def test_header_units(text, kind, expected):
    value, note = read_quantity(text, kind)
    assert value == pytest.approx(expected, abs=1e-12) and note == ""


@pytest.mark.parametrize("text,kind,why", [
    ("50 furlong", "field", "unknown unit 'furlong'"),
    ("5 MT", "field", "ambiguous unit 'MT'"),       # mega- or milli-tesla: never guessed
    ("5 MK", "temperature", "ambiguous unit 'MK'"),
    ("5 mG", "field", "unknown unit 'mG'"),
    ("10 F", "temperature", "unknown unit 'F'"),     # Fahrenheit is not read
    ("-3 K", "temperature", "below absolute zero"),
    ("-300 °C", "temperature", "below absolute zero"),
    ("1e999 G", "field", "finite"),
    ("LF 50G", "field", "expected a number then a unit"),
    ("1,5 T", "field", "expected a number then a unit"),  # a decimal comma is not read as 15 T
    ("50G LF", "field", "unknown unit"),
    ("nan G", "field", "expected a number then a unit"),
    ("50", "field", "no unit"),                         # no default unit given: refused
    ("5 K", "field", "unknown unit 'K'"),               # a temperature where a field belongs
    ("3 parsec", "time", "unknown unit 'parsec'"),
])
def test_header_units_refused(text, kind, why):
    value, note = read_quantity(text, kind)
    assert math.isnan(value) and why in note, note


def test_bare_numbers_take_the_format_default_and_say_so():
    assert read_quantity("50", "field", default_unit="G") == (5.0, "no unit: read as G")
    assert read_quantity("  ", "field", default_unit="G") == (pytest.approx(math.nan, nan_ok=True), "")
    assert convert_unit(16000, "", "time", default_unit="ps") == (pytest.approx(0.016), "no unit: read as ps")
    assert convert_unit(20, "Gauss", "field") == (2.0, "")


def test_titles_use_the_same_units():
    assert geometry_from_text("LF 1 kOe")[:2] == ("LF", 100.0)
    assert geometry_from_text("TF 0.5T")[:2] == ("TF", 500.0)


# ========================================================== units in files
@pytest.mark.parametrize("field,expected", [("0.5 T", 500.0), ("5 kG", 500.0), ("50G", 5.0), ("50", 5.0),
                                            ("12 mT", 12.0), ("5 Oe", 0.5)])
def test_psi_bin_field_string(tmp_path, field, expected):
    p = tmp_path / "f.bin"
    write_psi_bin(p, RNG.poisson(50, size=(2, 200)), field=field)
    r = read_run(p)
    assert r.field_mT == pytest.approx(expected)
    assert f"{field!r}" in r.attrs["field_source"]
    assert ("no unit: read as G" in r.attrs["field_source"]) == (field == "50")


def test_psi_bin_unknown_field_unit_is_nan_with_the_reason(tmp_path):
    p = tmp_path / "furlong.bin"
    write_psi_bin(p, RNG.poisson(50, size=(2, 200)), field="50 furlong")
    r = read_run(p)
    assert math.isnan(r.field_mT)
    assert r.attrs["field_source"].startswith("header:field string '50 furlong' not read: unknown unit 'furlong'")


def test_psi_bin_temperature_string_when_no_sensor_values(tmp_path):
    p = tmp_path / "t.bin"
    write_psi_bin(p, RNG.poisson(50, size=(2, 200)), temperature="1500 mK", temps=(0.0, 0.0))
    r = read_run(p)
    assert r.temperature_K == pytest.approx(1.5) and "'1500 mK'" in r.attrs["temperature_source"]


@pytest.mark.parametrize("field,temperature,b,t", [("0.5 T", "10.0K", 500.0, 10.0), ("5 kG", "250 mK", 500.0, 0.25),
                                                   ("20", "20", 2.0, 20.0)])
def test_mud_strings(tmp_path, field, temperature, b, t):
    pytest.importorskip("mudpy.mud_friendly_wrapper")
    p = tmp_path / "u.msr"
    write_mud(p, RNG.poisson(50, size=(2, 100)), field=field, temperature=temperature)
    r = read_run(p)
    assert r.field_mT == pytest.approx(b) and r.temperature_K == pytest.approx(t)


def test_mud_unknown_field_unit(tmp_path):
    pytest.importorskip("mudpy.mud_friendly_wrapper")
    p = tmp_path / "u.msr"
    write_mud(p, RNG.poisson(50, size=(2, 100)), field="20 furlong", title="Ag LF 20G")
    r = read_run(p)
    # the header is refused and the title gives the field, both said in the source
    assert r.field_mT == pytest.approx(2.0)
    assert r.attrs["field_source"] == ("title: 'LF 20G' (header:field string '20 furlong' not read: unknown unit "
                                       "'furlong' (expected G, kG, mT, T, µT, Oe, kOe))")


@pytest.mark.parametrize("units,expected", [("Gauss", 10.0), ("Tesla", 100000.0), ("mT", 100.0), (None, 10.0)])
def test_nexus_v2_sample_field_units_attribute(tmp_path, units, expected):
    p = _v2(tmp_path, sample={"magnetic_field": (100.0, units), "temperature": (300.0, "Kelvin")})
    r = read_run(p)
    assert r.field_mT == pytest.approx(expected) and r.temperature_K == 300.0


def test_nexus_v2_unknown_field_unit(tmp_path):
    p = _v2(tmp_path, sample={"magnetic_field": (100.0, "furlong")}, title="x")
    r = read_run(p)
    assert math.isnan(r.field_mT) and "not read: unknown unit 'furlong'" in r.attrs["field_source"]


def test_nexus_v2_header_temperature_in_celsius(tmp_path):
    p = _v2(tmp_path, sample={"temperature": (20.0, "C")})
    r = read_run(p)
    assert r.temperature_K == pytest.approx(293.15) and r.attrs["temperature_source"] == "header:sample/temperature (20 C)"


def test_nexus_v1_sample_units(tmp_path):
    p = tmp_path / "v1.nxs"
    write_v1(p, RNG.poisson(20, size=(4, 30)) + 1, 1, 4, [10], np.full(4, 0.01), "x",
             magnetic_field=(0.5, "Tesla"), temperature=(1500.0, "mK"))
    r = read_run(p)
    assert r.field_mT == pytest.approx(500.0) and r.temperature_K == pytest.approx(1.5)


@pytest.mark.parametrize("field,expected", [("0.5 T; SP: 0.5", 500.0), ("5 kG", 500.0), ("20 Oe", 2.0)])
def test_musrroot_field_units(tmp_path, field, expected):
    p = tmp_path / "u.root"
    write_musrroot(p, musrroot_hists(RNG, 2, [0]), run_info(2, [0], field=field, title="x"), detector_info(2, [0]))
    assert read_run(p).field_mT == pytest.approx(expected)


def test_musrroot_temperature_in_millikelvin_with_error(tmp_path):
    p = tmp_path / "mk.root"
    write_musrroot(p, musrroot_hists(RNG, 2, [0]), run_info(2, [0], temperature="250 +- 5 mK; SP: 250"),
                   detector_info(2, [0]))
    r = read_run(p)
    assert r.temperature_K == pytest.approx(0.25) and r.attrs["temperature_std_K"] == pytest.approx(0.005)


@pytest.mark.parametrize("header,b,t", [("% T = 20 °C, B = 0.5 T", 500.0, 293.15),
                                        ("% Temperature: 10.0 Field: 100.0", 10.0, 10.0),
                                        ("% T = 150 mK; B = 5 kG", 500.0, 0.15)])
def test_ascii_header_units(tmp_path, header, b, t):
    p = tmp_path / "a.txt"
    p.write_text(header + "\n0.1 0.2 0.01\n0.2 0.19 0.01\n")
    r = read_run(p)
    assert r.field_mT == pytest.approx(b) and r.temperature_K == pytest.approx(t)


def test_ascii_unknown_unit_is_not_read_as_gauss(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("% B = 50 furlong\n0.1 0.2 0.01\n0.2 0.19 0.01\n")
    r = read_run(p)
    assert math.isnan(r.field_mT) and "unknown unit 'furlong'" in r.attrs["field_source"]


# ===================================================== paths that are not files
def test_directory(tmp_path):
    _refused(tmp_path, "file", "is a directory, not a run file")


def test_fifo_is_refused_without_opening_it(tmp_path, alarm):
    fifo = tmp_path / "pipe.nxs"
    os.mkfifo(fifo)
    _refused(fifo, "file", "is a FIFO (named pipe), not a run file")
    with pytest.raises(RunFormatError, match="FIFO"):
        sniff_format(fifo)


def test_device_through_a_symlink(tmp_path, alarm):
    if not pathlib.Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    link = tmp_path / "endless.bin"
    link.symlink_to("/dev/zero")  # reading it would never end
    _refused(link, "file", "is a character device, not a run file")


def test_socket(tmp_path, alarm):
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    except OSError:  # e.g. a path too long for AF_UNIX
        pytest.skip("cannot bind a Unix socket here")
    try:
        _refused(path, "file", "is a socket, not a run file")
    finally:
        sock.close()


def test_missing_file(tmp_path):
    _refused(tmp_path / "nothing.nxs", "no such run file", exc=FileNotFoundError)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.bin"
    p.write_bytes(b"")
    _refused(p, "file", "empty file")


def test_symlink_to_a_run_is_read(tmp_path):
    p = _v2(tmp_path)
    link = tmp_path / "link.nxs"
    link.symlink_to(p)
    assert read_run(link).n_detectors == 4


# ================================================================== counts
@pytest.mark.parametrize("data,fragment", [
    (np.full((1, 4, 40), b"12"), "byte strings"),
    (np.full((1, 4, 40), True), "booleans"),
    (np.full((1, 4, 40), 1 + 2j), "complex numbers"),
    (np.full((1, 4, 40), 2.5), "expected integer counts, found 2.5 (period 1, detector 1, bin 0)"),
])
def test_nexus_v2_counts_of_a_wrong_type(tmp_path, data, fragment):
    p = _v2(tmp_path)
    _replace(p, "detector_1/counts", data)
    _refused(p, "raw_data_1/detector_1/counts", fragment)


def test_nexus_v2_text_counts(tmp_path):
    p = _v2(tmp_path)
    _replace(p, "detector_1/counts", np.full((1, 4, 40), "7", dtype=object))
    _refused(p, "raw_data_1/detector_1/counts", "expected integer counts")


@pytest.mark.parametrize("shape", [(40,), (1, 1, 4, 40), (1, 4, 0)])
def test_nexus_v2_counts_of_a_wrong_shape(tmp_path, shape):
    p = _v2(tmp_path)
    _replace(p, "detector_1/counts", np.ones(shape, np.int32))
    _refused(p, "detector_1/counts", "expected")


def test_nexus_v2_negative_count_names_period_detector_bin(tmp_path):
    c = RNG.poisson(20, size=(2, 4, 40)) + 1
    c[1, 2, 7] = -3
    p = _v2(tmp_path, counts=c, periods_number=2, good_frames=[10, 10])
    _refused(p, "raw_data_1/detector_1/counts", "expected counts >= 0, found -3 (period 2, detector 3, bin 7)")


def test_nexus_v1_fractional_counts(tmp_path):
    c = (RNG.poisson(20, size=(4, 30)) + 1).astype(float)
    c[3, 5] += 0.5
    p = tmp_path / "frac.nxs"
    write_v1(p, c, 1, 4, [10], np.full(4, 0.01), "x", counts_type="float32")
    _refused(p, "histogram_data_1/counts", "expected integer counts", "detector 4, bin 5")


def test_nexus_v1_whole_float_counts_are_read(tmp_path):
    c = (RNG.poisson(20, size=(4, 30)) + 1).astype(float)
    p = tmp_path / "float.nxs"
    write_v1(p, c, 1, 4, [10], np.full(4, 0.01), "x", counts_type="float32")
    r = read_run(p)
    assert r.ds["counts"].dtype == np.int64 and np.array_equal(r.ds["counts"].values[0], c)


@pytest.mark.parametrize("change,fragment", [(-1.0, "expected counts >= 0"), (0.25, "expected integer counts")])
def test_musrroot_counts_name_the_histogram(tmp_path, change, fragment):
    hists = musrroot_hists(RNG, 2, [0])
    hists[2] = hists[2].astype(float)
    hists[2][9] = change
    p = tmp_path / "h.root"
    write_musrroot(p, hists, run_info(2, [0]), detector_info(2, [0]))
    _refused(p, "histos", fragment, "hDecay002, bin 9")


def test_musrroot_histogram_that_is_not_a_histogram(tmp_path):
    hists = musrroot_hists(RNG, 2, [0])
    hists[2] = "a string where a TH1F belongs"
    p = tmp_path / "s.root"
    write_musrroot(p, hists, run_info(2, [0]), detector_info(2, [0]))
    _refused(p, "histos", "hDecay002")


@pytest.mark.parametrize("key,value", [("RunInfo/No of Histos", "1e400"), ("RunInfo/No of Histos", "2.5"),
                                       ("DetectorInfo/Detector002/First Good Bin", "x"),
                                       ("DetectorInfo/Detector001/Last Good Bin", "1e30")])
def test_musrroot_header_numbers_that_are_not_whole(tmp_path, key, value):
    label = key.rsplit("/", 1)[1]
    info = run_info(2, [0])
    det = detector_info(2, [0])
    lines = info if key.startswith("RunInfo") else det[key.split("/")[1]]
    for i, line in enumerate(lines):
        if f" - {label}: " in line:
            lines[i] = f"{line.split(' - ')[0]} - {label}: {value} -@1"
    p = tmp_path / "n.root"
    write_musrroot(p, musrroot_hists(RNG, 2, [0]), info, det)
    _refused(p, f"RunHeader/{key}", "expected a whole number")


def test_musrroot_time_resolution_in_an_unknown_unit(tmp_path):
    p = tmp_path / "t.root"
    write_musrroot(p, musrroot_hists(RNG, 2, [0]), run_info(2, [0], time_resolution="0.2 fortnights"),
                   detector_info(2, [0]))
    _refused(p, "RunHeader/RunInfo/Time Resolution", "unknown unit 'fortnights'")


def test_psi_bin_negative_count(tmp_path):
    h = RNG.poisson(50, size=(2, 200))
    h[1, 5] = -2
    p = tmp_path / "neg.bin"
    write_psi_bin(p, h)
    _refused(p, "histogram data", "expected counts >= 0, found -2 (histogram 2, bin 5)")


# ============================================================ bin attributes
@pytest.mark.parametrize("attr,value,fragment", [("t0_bin", b"two", "expected a number"),
                                                 ("first_good_bin", 2.5, "whole"),
                                                 ("last_good_bin", np.inf, "finite"),
                                                 ("first_good_bin", 1 + 1j, "expected a number")])
def test_nexus_v2_bin_attributes(tmp_path, attr, value, fragment):
    p = _v2(tmp_path)
    with h5py.File(p, "a") as fh:
        c = fh["raw_data_1/detector_1/counts"]
        if attr == "t0_bin":
            del fh["raw_data_1/detector_1/time_zero"]  # so that t0 comes from t0_bin
        c.attrs[attr] = value
    _refused(p, f"raw_data_1/detector_1/counts attribute {attr}", fragment)


# ============================================================== time units
def test_nexus_v2_time_zero_in_nanoseconds(tmp_path):
    p = _v2(tmp_path)
    _replace(p, "detector_1/time_zero", [32.0], units=b"nanoseconds")
    assert read_run(p).ds["t0"].values == pytest.approx(0.032)


@pytest.mark.parametrize("dataset", ["detector_1/time_zero", "detector_1/raw_time"])
def test_nexus_v2_times_in_an_unknown_unit(tmp_path, dataset):
    p = _v2(tmp_path)
    with h5py.File(p, "a") as fh:
        fh["raw_data_1"][dataset].attrs["units"] = b"parsec"
    _refused(p, f"raw_data_1/{dataset}", "unknown unit 'parsec'")


def test_nexus_v2_bin_edges_as_text(tmp_path):
    p = _v2(tmp_path)
    _replace(p, "detector_1/raw_time", np.full(41, b"0.1"))
    _refused(p, "raw_data_1/detector_1/raw_time", "expected numbers")


# ============================================================== dead times
@pytest.mark.parametrize("dead,fragment", [
    (np.full(5, 0.01), "expected 4 values (one per spectrum) or 4 (per spectrum and period), found 5"),
    (np.full(3, 0.01), "found 3"),
    (np.full(6, 0.01), "found 6"),
    (np.full(4, b"0.01"), "expected numbers"),
    (np.array([0.01, np.inf, 0.01, 0.01]), "infinity"),
])
def test_nexus_v2_dead_times_refused(tmp_path, dead, fragment):
    p = _v2(tmp_path, dead=dead)
    _refused(p, "raw_data_1/detector_1/dead_time", fragment)


def test_nexus_v2_dead_times_per_period_use_period_one(tmp_path):
    dead = np.array([[0.01, 0.02, 0.03, 0.04], [0.05, 0.06, 0.07, 0.08]])
    p = _v2(tmp_path, counts=RNG.poisson(20, size=(2, 4, 40)) + 1, periods_number=2, good_frames=[10, 10], dead=dead)
    r = read_run(p)
    assert r.ds["dead_time"].values == pytest.approx([0.01, 0.02, 0.03, 0.04])
    assert "dead times differ between periods" in r.attrs["notes"]


def test_nexus_v2_two_sets_of_dead_times_for_one_period(tmp_path):
    """Mantid reads a multiple of the spectra as one set per period; with one period the first set is used."""
    p = _v2(tmp_path, dead=np.arange(8) * 0.01)
    r = read_run(p)
    assert r.ds["dead_time"].values == pytest.approx([0.0, 0.01, 0.02, 0.03])
    assert "dead times: 2 sets of 4 for 1 period(s); the first is used" in r.attrs["notes"]


def test_nexus_v2_dead_times_in_nanoseconds(tmp_path):
    p = _v2(tmp_path, dead=np.full(4, 10.0))
    with h5py.File(p, "a") as fh:
        fh["raw_data_1/detector_1/dead_time"].attrs["units"] = b"nanoseconds"
    assert read_run(p).ds["dead_time"].values == pytest.approx([0.01] * 4)


def test_nexus_v2_dead_times_in_an_unknown_unit(tmp_path):
    p = _v2(tmp_path, dead=np.full(4, 10.0))
    with h5py.File(p, "a") as fh:
        fh["raw_data_1/detector_1/dead_time"].attrs["units"] = b"fortnights"
    _refused(p, "raw_data_1/detector_1/dead_time", "unknown unit 'fortnights'")


def test_nexus_v1_dead_times_of_a_wrong_length(tmp_path):
    p = tmp_path / "dt.nxs"
    write_v1(p, RNG.poisson(20, size=(6, 30)) + 1, 1, 6, [10], np.full(5, 0.01), "x")
    _refused(p, "instrument/detector/deadtimes", "found 5")


def test_nexus_v1_unavailable_dead_times_of_any_length_are_ignored(tmp_path):
    """``available = 0`` (as in the EMU 2010 files) means no dead times: their length does not matter."""
    p = tmp_path / "na.nxs"
    write_v1(p, RNG.poisson(20, size=(6, 30)) + 1, 1, 6, [10], np.full(5, 0.01), "x", dead_available=0)
    assert np.all(np.isnan(read_run(p).ds["dead_time"].values))


def test_grouping_of_a_wrong_length_is_ignored_with_a_note(tmp_path):
    p = _v2(tmp_path, grouping=np.array([1, 1, 2, 2, 2]))
    r = read_run(p)
    assert np.all(r.ds["grouping"].values == 0)
    assert "grouping ignored (raw_data_1/detector_1/grouping: expected 4 values" in r.attrs["notes"]


# ============================================================== good frames
@pytest.mark.parametrize("frames,note", [
    ([0], "dead time not corrected: good frames = 0"),
    ([-5], "dead time not corrected: good frames = -5"),
    ([np.nan], "dead time not corrected: good frames = nan"),
    ([np.inf], "dead time not corrected: good frames = inf"),
])
def test_good_frames_that_forbid_the_dead_time_correction(tmp_path, frames, note):
    p = _v2(tmp_path, periods_number=1, good_frames=np.array(frames, float), dead=np.full(4, 0.01))
    r = read_run(p)
    assert note in r.attrs["notes"]
    g = r.grouped(groups=([1, 2], [3, 4]))
    assert g.attrs["dead_time_corrected"] == 0
    assert not np.isinf(r.ds["good_frames"].values).any()  # never a silent no-op correction with F = inf


def test_good_frames_of_one_period_of_two(tmp_path):
    p = _v2(tmp_path, counts=RNG.poisson(20, size=(2, 4, 40)) + 1, periods_number=2, good_frames=[100, 0],
            dead=np.full(4, 0.01))
    r = read_run(p)
    assert "dead time not corrected: period 2 good frames = 0" in r.attrs["notes"]
    assert r.grouped(groups=([1, 2], [3, 4]), period=1).attrs["dead_time_corrected"] == 1


def test_good_frames_zero_without_dead_times_needs_no_note(tmp_path):
    p = _v2(tmp_path, periods_number=1, good_frames=[0])
    assert "dead time" not in read_run(p).attrs["notes"]


def test_nexus_v1_good_frames_zero(tmp_path):
    p = tmp_path / "gf.nxs"
    write_v1(p, RNG.poisson(20, size=(4, 30)) + 1, 1, 4, [0], np.full(4, 0.01), "x")
    assert "dead time not corrected: good frames = 0" in read_run(p).attrs["notes"]


# =============================================================== overrides
@pytest.fixture
def run_file(tmp_path):
    return _v2(tmp_path)


@pytest.mark.parametrize("overrides,field,fragment", [
    ({"temprature_K": 3.0}, "override 'temprature_K'", "did you mean 'temperature_K'?"),
    ({"deadtime": [0.01] * 4}, "override 'deadtime'", "did you mean 'dead_time'?"),
    ({"t0us": 0.1}, "override 't0us'", "did you mean 't0_us'?"),
    ({"frobnicate": 1}, "override 'frobnicate'", "unknown; valid: temperature_K"),
    ({"temperature_K": "hot"}, "override temperature_K", "got str 'hot'"),
    ({"temperature_K": True}, "override temperature_K", "got bool"),
    ({"temperature_K": float("nan")}, "override temperature_K", "finite"),
    ({"temperature_K": -1.0}, "override temperature_K", ">= 0"),
    ({"field_mT": float("inf")}, "override field_mT", "finite"),
    ({"geometry": "XF"}, "override geometry", "'ZF', 'LF' or 'TF'"),
    ({"geometry": 3}, "override geometry", "got 3"),
    ({"sample": 5}, "override sample", "expected text"),
    ({"run_number": -3}, "override run_number", ">= 0"),
    ({"run_number": 1.5}, "override run_number", "whole number"),
    ({"alpha": 0.0}, "override alpha", "> 0"),
    ({"dead_time": [0.01] * 5}, "override dead_time", "expected one value or 4 (one per detector), got 5"),
    ({"dead_time": [0.01, None, 0.01, 0.01]}, "override dead_time", "got NoneType None"),
    ({"dead_time": [0.01, float("nan"), 0.01, 0.01]}, "override dead_time", "finite"),
    ({"dead_time": "0.01"}, "override dead_time", "got str"),
    ({"dead_time": [[0.01] * 4] * 2}, "override dead_time", "shape (2, 4)"),
    ({"t0": 40}, "override t0", "expected 0 <= value <= 39"),
    ({"t0": [1, 2]}, "override t0", "got 2"),
    ({"t0_bin": -1}, "override t0_bin", "expected 0 <= value"),
    ({"t0_us": 0.65}, "override t0_us", "< 0.64 μs"),
    ({"t0": 2, "t0_us": 0.03}, "override t0_us", "give only one of t0, t0_us"),
    ({"first_good_bin": 1.5}, "override first_good_bin", "whole number"),
    ({"first_good_bin": 40}, "override first_good_bin", "<= 39"),
    ({"last_good_bin": 41}, "override last_good_bin", "<= 40"),
    ({"grouping": ([1, 2], [9])}, "override grouping", "backward detectors [9] do not exist"),
    ({"groups": ([1, 2], [2, 3])}, "override groups", "share detectors [2]"),
    ({"groups": {"forward": [1]}}, "override groups", "keys 'forward' and 'backward'"),
    ({"groups": [1, 2, 3]}, "override groups", "(forward, backward)"),
    ({"groups": ([1.5], [3])}, "override groups", "whole number"),
    ({"grouping": ([1], [3]), "groups": ([1], [3])}, "override groups", "give only one of"),
    ({"columns": (0, 1, 2)}, "override columns", "ASCII asymmetry files only"),
])
def test_bad_overrides(run_file, overrides, field, fragment):
    _refused(run_file, field, fragment, **overrides)


def test_none_means_not_given(run_file):
    a, b = read_run(run_file), read_run(run_file, dead_time=None, t0=None, temperature_K=None)
    assert np.array_equal(a.ds["dead_time"].values, b.ds["dead_time"].values, equal_nan=True)
    assert a.attrs["t0_source"] == b.attrs["t0_source"]


def test_good_overrides_are_applied(run_file):
    r = read_run(run_file, dead_time=[0.01, 0.02, 0.03, 0.04], t0=np.int64(3), first_good_bin=5,
                 groups={"forward": [1, 2], "backward": [3, 4]}, temperature_K=np.float32(5.0), geometry="lf")
    assert r.ds["dead_time"].values.tolist() == [0.01, 0.02, 0.03, 0.04]
    assert r.ds["t0"].values == pytest.approx(3.5 * 0.016)  # t0 is a bin: its centre is time zero
    assert r.ds["first_good_bin"].values.tolist() == [5] * 4 and r.geometry == "LF" and r.temperature_K == 5.0


def test_histogram_overrides_on_an_asymmetry_file(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("0.1 0.2 0.01\n0.2 0.19 0.01\n")
    _refused(p, "override t0", "applies to histogram runs only", t0=3)
    _refused(p, "override columns", "three different indices", columns=(0, 0, 1))


def test_an_unknown_override_is_refused_before_the_file_is_read(tmp_path, alarm):
    """A typo costs no reading: even a FIFO (which must never be opened) gets the name error first."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _refused(fifo, "override 'temprature_K'", "did you mean", temprature_K=1.0)


# ============================================== found by tests/test_fuzz_readers.py
def test_nexus_v2_infinite_run_number_is_unknown_with_a_note(tmp_path):
    p = _v2(tmp_path)
    _replace(p, "run_number", [np.inf])
    r = read_run(p)
    assert r.attrs["run_number"] == -1
    assert "raw_data_1/run_number: expected a whole number >= 0, found inf" in r.attrs["notes"]


def test_nexus_v2_bin_edge_that_is_not_finite(tmp_path):
    p = _v2(tmp_path)
    _replace(p, "detector_1/raw_time", np.r_[np.arange(40) * 0.016, np.nan])
    _refused(p, "detector_1/raw_time", "expected finite, increasing bin edges")


def test_nexus_v2_good_frames_as_text_are_unknown(tmp_path):
    p = _v2(tmp_path, periods_number=1, good_frames=np.array([b"100"]), dead=np.full(4, 0.01))
    r = read_run(p)
    assert r.attrs["good_frames_source"] == "good_frames"  # the entry's total, a number, is used instead


def test_psi_mdu_detector_list_with_a_superscript_digit(tmp_path):
    """str.isdigit() accepts '¹', which int() refuses: the MDU detector list must not raise ValueError."""
    b = bytearray((pathlib.Path(__file__).parent / "data" / "psi_convert_test_mdu_1.mdu").read_bytes())
    b[192] = 0xB9  # '¹' in latin-1
    p = tmp_path / "sup.mdu"
    p.write_bytes(bytes(b))
    try:
        read_run(p)
    except RunFormatError as exc:
        assert str(p) in str(exc)


# ===================================================== the C-library child process
def _sleep_forever(_):
    import time
    while True:
        time.sleep(1)


def _abort(_):
    os.abort()


def _allocate(n_bytes):
    return bytearray(n_bytes)


def test_isolated_reader_that_hangs_is_stopped(tmp_path, monkeypatch):
    import bayesmusr.io.readers._isolate as isolate

    monkeypatch.setattr(isolate, "TIME_LIMIT_S", 1.0)
    p = tmp_path / "x.msr"
    p.write_bytes(b"x")
    with pytest.raises(RunFormatError, match=r"x\.msr: file content: the MUD library did not finish reading it within 1 s"):
        isolate.call_isolated(p, "MUD", _sleep_forever, None)


def test_isolated_reader_that_crashes(tmp_path):
    import bayesmusr.io.readers._isolate as isolate

    p = tmp_path / "x.nxs"
    p.write_bytes(b"x")
    with pytest.raises(RunFormatError, match=r"x\.nxs: file content: the HDF4 library crashed while reading it"):
        isolate.call_isolated(p, "HDF4", _abort, None)


@pytest.mark.skipif(not pathlib.Path("/proc/self/statm").exists(), reason="the memory limit needs Linux /proc")
def test_isolated_reader_cannot_allocate_without_bound(tmp_path):
    """A damaged MUD size field made the library allocate 5.8 GB: the child's address space is capped."""
    import bayesmusr.io.readers._isolate as isolate

    p = tmp_path / "x.msr"
    p.write_bytes(b"x")
    with pytest.raises(MemoryError):
        isolate.call_isolated(p, "MUD", _allocate, isolate.MEMORY_ALLOWANCE_BYTES + (1 << 30))
    assert len(isolate.call_isolated(p, "MUD", _allocate, 1 << 20)) == 1 << 20
