"""Fuzzing every reader: damaged files give a clean error or a correct run, never anything else.

Seeds: copies of the real files in tests/data (and the shared NeXus v2 run when present) and
small files written by tests/writers.py for each format (PSI-BIN, MUD, NeXus v1 and v2,
MusrRoot in both layouts, ASCII, bayesmusr's own netCDF). Damage: truncation at a random
offset, byte overwrites in the header (first 4 KiB) or anywhere, bit flips, and — through
h5py and uproot — datasets, attributes and header strings of the wrong type, shape or value.

"Clean" means: :class:`RunFormatError` (or another ``ValueError``) whose message names the
file, or a :class:`MuonRun` that passes independent checks (whole counts >= 0, finite t0
inside the histogram, ordered good bins, finite or NaN metadata with a source) and
``validate()``. Any other exception fails the test; a hang is stopped by ``signal.alarm``
(and, should C code ignore the signal, by ``faulthandler``'s watchdog); a crash of the C
libraries is caught by ``call_isolated`` (measured: see bayesmusr/io/readers/_isolate.py).
Hypothesis runs derandomized (fixed seed, no example database), so every run checks the
same examples; ``-m slow`` runs a longer variant.
"""
from __future__ import annotations

import faulthandler
import math
import pathlib
import signal

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from writers import (
    detector_info,
    musrroot_hists,
    run_info,
    synthetic_v2,
    write_mud,
    write_musrroot,
    write_psi_bin,
    write_v1,
    write_v2,
)

from bayesmusr.io.readers import RunFormatError, read_run
from bayesmusr.io.run import MuonRun

DATA = pathlib.Path(__file__).parent / "data"
V2_REAL = pathlib.Path(__file__).parents[2] / "shared" / "data" / "EMU00126645.nxs"
#: Seconds one read may take before it counts as a hang (reads take < 0.2 s; the C readers'
#: own limit is lowered to 10 s below, so that the alarm only ever meets in-process code).
ALARM_S = 30
ISOLATED_LIMIT_S = 10.0


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


FAST, SLOW = 25, 150


# ----------------------------------------------------------------------- seeds
class _Seeds(dict):
    """Seed file contents by name; a short repr keeps megabytes out of hypothesis's failure reports."""

    def __repr__(self) -> str:
        return f"<seeds {sorted(self)}>"


def _write_seeds(d: pathlib.Path) -> dict[str, bytes]:
    """Every seed file, by name: real copies and files written in each format."""
    rng = np.random.default_rng(2024)
    files = {"nexus-v1-real": DATA / "EMU00020882.nxs", "psi-mdu-real": DATA / "psi_convert_test_mdu_1.mdu",
             "ascii-real": DATA / "HIFIgrouped_116891.txt"}
    if V2_REAL.exists():
        files["nexus-v2-real"] = V2_REAL
    write_v1(d / "v1.nxs", rng.poisson(30, size=(8, 40)), 2, 8, [100, 120], np.full(8, 0.01), "Ag LF5G",
             magnetic_field=(50.0, "Gauss"), temperature=(10.0, "Kelvin"))
    write_v2(d / "v2.nxs", rng.poisson(40, size=(2, 4, 50)), periods_number=2, good_frames=[100, 120],
             dead=np.full(4, 0.01), grouping=np.array([1, 1, 2, 2]), title="TF 100G",
             sample={"magnetic_field": (100.0, "Gauss"), "temperature": (10.0, "Kelvin")})
    write_psi_bin(d / "a.bin", rng.poisson(50, size=(2, 300)), field="0.5 T")
    write_mud(d / "a.msr", rng.poisson(80, size=(2, 120)), field="5 kG")
    offsets = [0, 20]
    write_musrroot(d / "dir.root", musrroot_hists(rng, 2, offsets), run_info(2, offsets), detector_info(2, offsets))
    write_musrroot(d / "list.root", musrroot_hists(rng, 2, [0]), run_info(2, [0]), detector_info(2, [0]),
                   variant="collections")
    (d / "a.txt").write_text("% run 42, T = 10 K, B = 5 mT LF\n" + "".join(
        f"{0.1 * i:.3f} {0.2 * math.exp(-0.1 * i):.5f} 0.01\n" for i in range(1, 40)))
    read_run(d / "v2.nxs").to_netcdf(d / "own.nc")
    files.update({"nexus-v1": d / "v1.nxs", "nexus-v2": d / "v2.nxs", "psi-bin": d / "a.bin", "mud": d / "a.msr",
                  "musrroot-dir": d / "dir.root", "musrroot-list": d / "list.root", "ascii": d / "a.txt",
                  "netcdf": d / "own.nc"})
    return _Seeds({name: pathlib.Path(p).read_bytes() for name, p in files.items()})


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    return _write_seeds(tmp_path_factory.mktemp("seeds"))


SEED_NAMES = ["nexus-v1-real", "psi-mdu-real", "ascii-real", "nexus-v1", "nexus-v2", "psi-bin", "mud",
              "musrroot-dir", "musrroot-list", "ascii", "netcdf"] + (["nexus-v2-real"] if V2_REAL.exists() else [])


@pytest.fixture(autouse=True)
def _guards(monkeypatch):
    """A hang fails the example: SIGALRM for Python code, faulthandler's watchdog for C code that ignores it."""
    import bayesmusr.io.readers._isolate as isolate

    monkeypatch.setattr(isolate, "TIME_LIMIT_S", ISOLATED_LIMIT_S)

    def _timeout(signum, frame):
        raise TimeoutError(f"a read took longer than {ALARM_S} s")

    old = signal.signal(signal.SIGALRM, _timeout)
    faulthandler.dump_traceback_later(10 * ALARM_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------- outcome
def _check_run(run: MuonRun) -> None:
    """The properties of a correct read, checked here rather than trusted to validate()."""
    a, ds = run.attrs, run.ds
    for key, lo in (("field_mT", -math.inf), ("temperature_K", 0.0)):
        v = float(a.get(key, math.nan))
        assert math.isnan(v) or (math.isfinite(v) and v >= lo), (key, v)
        src = a.get(key.split("_")[0] + "_source", "")
        assert math.isnan(v) or src, f"{key} = {v} without a source"
    if run.kind == "asymmetry":
        t, e = ds["time"].values, ds["asymmetry_error"].values
        assert np.all(np.isfinite(t)) and np.all(np.isfinite(ds["asymmetry"].values)) and np.all(e > 0)
        assert t.size == 1 or np.all(np.diff(t) > 0)
    else:
        c = ds["counts"].values
        assert c.ndim == 3 and c.size and c.dtype.kind in "iu" and c.min() >= 0
        bw = run.bin_width_us
        assert math.isfinite(bw) and bw > 0
        t0 = ds["t0"].values
        assert np.all(np.isfinite(t0)) and np.all((t0 >= 0) & (t0 < c.shape[2] * bw))
        fg, lg = ds["first_good_bin"].values, ds["last_good_bin"].values
        assert np.all((fg >= 0) & (fg < lg) & (lg <= c.shape[2])) and np.all(fg < c.shape[2])
        assert not np.any(np.isinf(ds["dead_time"].values))
        assert not np.any(np.isinf(ds["good_frames"].values))
    run.validate()


def _read_clean(path: pathlib.Path) -> str:
    """Read ``path`` under the alarm: "refused" (a clean error naming the file) or "read" (a correct run)."""
    signal.alarm(ALARM_S)
    try:
        run = read_run(path)
    except ValueError as exc:  # RunFormatError is a ValueError
        assert str(path) in str(exc), f"the error does not name the file: {exc}"
        if isinstance(exc, RunFormatError):
            assert exc.field, exc
        return "refused"
    finally:
        signal.alarm(0)
    _check_run(run)
    return "read"


def _write(tmp_path: pathlib.Path, name: str, data: bytes) -> pathlib.Path:
    p = tmp_path / f"fuzzed_{name}"
    p.write_bytes(data)
    return p


# ------------------------------------------------------- byte-level damage
def _truncate(seeds, tmp_path, name, frac):
    data = seeds[name]
    return _read_clean(_write(tmp_path, name, data[: int(frac * len(data))]))


def _overwrite(seeds, tmp_path, name, edits, header_only):
    data = bytearray(seeds[name])
    span = min(4096, len(data)) if header_only else len(data)
    for pos, value in edits:
        data[int(pos * span) % span] = value
    return _read_clean(_write(tmp_path, name, bytes(data)))


def _flip(seeds, tmp_path, name, flips):
    data = bytearray(seeds[name])
    for pos, bit in flips:
        data[int(pos * len(data)) % len(data)] ^= 1 << bit
    return _read_clean(_write(tmp_path, name, bytes(data)))


_FRAC = st.floats(0.0, 1.0, exclude_max=True)
_EDITS = st.lists(st.tuples(_FRAC, st.integers(0, 255)), min_size=1, max_size=8)
_FLIPS = st.lists(st.tuples(_FRAC, st.integers(0, 7)), min_size=1, max_size=16)


@pytest.mark.parametrize("name", SEED_NAMES)
@_settings(FAST)
@given(frac=_FRAC)
def test_truncated(seeds, tmp_path, name, frac):
    _truncate(seeds, tmp_path, name, frac)


@pytest.mark.parametrize("name", SEED_NAMES)
@_settings(FAST)
@given(edits=_EDITS, header_only=st.booleans())
def test_overwritten_bytes(seeds, tmp_path, name, edits, header_only):
    _overwrite(seeds, tmp_path, name, edits, header_only)


@pytest.mark.parametrize("name", SEED_NAMES)
@_settings(FAST)
@given(flips=_FLIPS)
def test_flipped_bits(seeds, tmp_path, name, flips):
    _flip(seeds, tmp_path, name, flips)


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_NAMES)
@_settings(SLOW)
@given(frac=_FRAC, edits=_EDITS, header_only=st.booleans(), flips=_FLIPS)
def test_byte_damage_long(seeds, tmp_path, name, frac, edits, header_only, flips):
    _truncate(seeds, tmp_path, name, frac)
    _overwrite(seeds, tmp_path, name, edits, header_only)
    _flip(seeds, tmp_path, name, flips)


def test_unchanged_seeds_read(seeds, tmp_path):
    """The fuzzing starts from files that read: an unchanged seed must never be refused."""
    for name in SEED_NAMES:
        assert _read_clean(_write(tmp_path, name, seeds[name])) == "read", name


# ------------------------------------------- NeXus v2: wrong types and shapes
#: Datasets (under raw_data_1) and attributes of detector_1/counts the v2 reader uses.
V2_TARGETS = ["detector_1/counts", "detector_1/raw_time", "detector_1/time_zero", "detector_1/dead_time",
              "detector_1/grouping", "periods/good_frames", "periods/number", "good_frames", "sample/magnetic_field",
              "sample/temperature", "title", "run_number", "@t0_bin", "@first_good_bin", "@last_good_bin",
              "detector_1/time_zero@units", "detector_1/dead_time@units", "sample/magnetic_field@units"]
V2_DAMAGE = ["delete", "text", "bytes", "bool", "nan", "inf", "negative", "fraction", "huge", "empty", "scalar",
             "add_axis", "drop_axis", "one_more", "one_less", "complex", "zero"]


def _damaged(value: np.ndarray, how: str, draw: float):
    """``value`` damaged as ``how`` says (``draw`` in [0, 1) picks a number where one is needed)."""
    a = np.atleast_1d(np.asarray(value))
    if a.size == 0:  # damage of an already emptied dataset starts again from one zero
        a = np.zeros(1)
    num = a.astype(float) if a.dtype.kind in "biuf" else np.zeros(a.shape)  # numeric damage of text starts from 0
    number = -1.0 - 1e3 * draw if how == "negative" else 0.5 + draw
    table = {
        "text": lambda: np.array([f"x{draw:.3f}"] * a.size, dtype=object).reshape(a.shape),
        "bytes": lambda: np.full(a.shape, b"12"),
        "bool": lambda: num != 0,
        "nan": lambda: np.where(np.arange(a.size).reshape(a.shape) == 0, np.nan, num),
        "inf": lambda: np.full(a.shape, np.inf),
        "negative": lambda: np.full(a.shape, number),
        "fraction": lambda: num + number,
        "huge": lambda: np.full(a.shape, 1e30 * (1 + draw)),
        "empty": lambda: np.zeros((0,) + a.shape[1:], a.dtype),
        "scalar": lambda: a.ravel()[0],
        "add_axis": lambda: a[np.newaxis, np.newaxis],
        "drop_axis": lambda: a.reshape(-1),
        "one_more": lambda: np.concatenate([a.reshape(-1), a.reshape(-1)[:1]]),
        "one_less": lambda: a.reshape(-1)[:-1],
        "complex": lambda: num.astype(complex) + 1j,
        "zero": lambda: np.zeros(a.shape),
    }
    return table[how]()


#: What a ``units`` attribute may wrongly say (time or field units, text the table does not know, no text at all).
_UNITS = [b"parsec", b"", b"nanoseconds", "µs", b"Tesla", b"kG", b"MT", 5, np.array([1.5, 2.5])]


def _damage_attribute(attrs, attr: str, how: str, draw: float) -> None:
    if how == "delete":
        attrs.pop(attr, None)
    elif attr == "units":
        attrs[attr] = _UNITS[int(draw * len(_UNITS))]
    elif attr in attrs:
        try:
            attrs[attr] = _damaged(attrs[attr], how, draw)
        except (TypeError, ValueError):  # a type HDF5 cannot store as an attribute: store its text
            attrs[attr] = str(_damaged(attrs[attr], how, draw))


def _damage_v2(path: pathlib.Path, target: str, how: str, draw: float) -> None:
    with h5py.File(path, "a") as fh:
        e = fh["raw_data_1"]
        dset, _, attr = target.partition("@")
        dset = dset or "detector_1/counts"
        if dset not in e:
            return
        obj = e[dset]
        if attr:
            _damage_attribute(obj.attrs, attr, how, draw)
            return
        new = None if how == "delete" else _damaged(obj[()], how, draw)
        attrs = dict(obj.attrs)
        del e[dset]
        if new is not None:
            try:
                ds = e.create_dataset(dset, data=new)
            except (TypeError, ValueError):  # a type HDF5 cannot store: write its text instead
                ds = e.create_dataset(dset, data=np.asarray(new).astype(str).astype(object))
            for k, v in attrs.items():
                ds.attrs[k] = v


@_settings(4 * FAST)
@given(target=st.sampled_from(V2_TARGETS), how=st.sampled_from(V2_DAMAGE), draw=_FRAC)
def test_nexus_v2_wrong_types_and_shapes(seeds, tmp_path, target, how, draw):
    p = _write(tmp_path, "v2.nxs", seeds["nexus-v2"])
    _damage_v2(p, target, how, draw)
    _read_clean(p)


@pytest.mark.slow
@_settings(SLOW * 2)
@given(targets=st.lists(st.tuples(st.sampled_from(V2_TARGETS), st.sampled_from(V2_DAMAGE), _FRAC), max_size=3))
def test_nexus_v2_wrong_types_and_shapes_long(seeds, tmp_path, targets):
    p = _write(tmp_path, "v2.nxs", seeds["nexus-v2"])
    for target, how, draw in targets:
        _damage_v2(p, target, how, draw)
    _read_clean(p)


def test_nexus_v2_string_counts_are_refused_by_name(seeds, tmp_path):
    """The survey's case, kept as a fixed example: counts stored as text."""
    p = _write(tmp_path, "v2.nxs", seeds["nexus-v2"])
    _damage_v2(p, "detector_1/counts", "bytes", 0.0)
    with pytest.raises(RunFormatError, match=r"raw_data_1/detector_1/counts: expected integer counts.*byte strings"):
        read_run(p)


# --------------------------------------------- MusrRoot: wrong header strings
_RUNINFO_KEYS = ["Run Number", "Sample Temperature", "Sample Magnetic Field", "No of Histos", "RedGreen Offsets",
                 "Time Resolution", "Run Start Time"]
_DETECTOR_KEYS = ["Time Zero Bin", "First Good Bin", "Last Good Bin", "Name"]
_ROOT_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", "n/a", "-1", "1e400", "nan", "0", "3.5", "2 furlong", "0.5 T", "12 MT", "-5 K", "9999999999", "1; 2; x"]))


def _musrroot_with(path, rng, runinfo_edit, detector_edit, hist_edit):
    """A two-detector MusrRoot file with one RunInfo value, one detector value and one histogram changed."""
    hists = musrroot_hists(rng, 2, [0])
    info = run_info(2, [0])
    if runinfo_edit:
        key, value = runinfo_edit
        info = [f"{line.split(' - ')[0]} - {key}: {value} -@{line.rsplit('-@', 1)[1]}"
                if f" - {key}: " in line else line for line in info]
    det = detector_info(2, [0])
    if detector_edit:
        key, value = detector_edit
        det["Detector002"] = [f"{line.split(' - ')[0]} - {key}: {value} -@{line.rsplit('-@', 1)[1]}"
                              if f" - {key}: " in line else line for line in det["Detector002"]]
    if hist_edit == "text":
        hists[2] = "not a histogram"
    elif hist_edit == "missing":
        del hists[2]
    elif hist_edit == "negative":
        hists[2] = -hists[2]
    elif hist_edit == "fraction":
        hists[2] = hists[2] + 0.25
    elif hist_edit == "shorter":
        hists[2] = hists[2][:-5]
    write_musrroot(path, hists, info, det)


@_settings(3 * FAST)
@given(runinfo=st.none() | st.tuples(st.sampled_from(_RUNINFO_KEYS), _ROOT_TEXT),
       detector=st.none() | st.tuples(st.sampled_from(_DETECTOR_KEYS), _ROOT_TEXT),
       hist=st.sampled_from([None, "text", "missing", "negative", "fraction", "shorter"]))
def test_musrroot_wrong_header_values_and_histograms(tmp_path, runinfo, detector, hist):
    p = tmp_path / "fuzzed.root"
    _musrroot_with(p, np.random.default_rng(5), runinfo, detector, hist)
    _read_clean(p)


@pytest.mark.slow
@_settings(SLOW)
@given(runinfo=st.none() | st.tuples(st.sampled_from(_RUNINFO_KEYS), _ROOT_TEXT),
       detector=st.none() | st.tuples(st.sampled_from(_DETECTOR_KEYS), _ROOT_TEXT),
       hist=st.sampled_from([None, "text", "missing", "negative", "fraction", "shorter"]))
def test_musrroot_wrong_header_values_and_histograms_long(tmp_path, runinfo, detector, hist):
    p = tmp_path / "fuzzed.root"
    _musrroot_with(p, np.random.default_rng(5), runinfo, detector, hist)
    _read_clean(p)


# ------------------------------------------------ header strings of PSI and MUD
_UNIT_TEXT = st.one_of(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=10),
                       st.builds(lambda x, u: f"{x:g}{u}", st.floats(-1e6, 1e6, allow_nan=False),
                                 st.sampled_from(["", " ", "G", " kG", "T", " mT", "Oe", "K", "mK", " furlong"])))


@_settings(3 * FAST)
@given(field=_UNIT_TEXT, temperature=_UNIT_TEXT)
def test_psi_bin_header_strings(tmp_path, field, temperature):
    p = tmp_path / "fuzzed.bin"
    write_psi_bin(p, np.random.default_rng(6).poisson(50, size=(2, 200)), field=field, temperature=temperature,
                  temps=(0.0, 0.0))  # no sensor values: the temperature string is read
    _read_clean(p)


@_settings(2 * FAST)
@given(field=_UNIT_TEXT, temperature=_UNIT_TEXT)
def test_mud_header_strings(tmp_path, field, temperature):
    pytest.importorskip("mudpy.mud_friendly_wrapper")
    p = tmp_path / "fuzzed.msr"
    write_mud(p, np.random.default_rng(7).poisson(50, size=(2, 100)), field=field, temperature=temperature)
    _read_clean(p)


def test_synthetic_v2_minimal_seed_reads(tmp_path):
    """synthetic_v2 (no sample, no logs) is also a valid start: the reader needs only counts, t0 and bin edges."""
    p = tmp_path / "min.nxs"
    synthetic_v2(p, np.ones((1, 4, 50), np.int32))
    assert _read_clean(p) == "read"



@_settings(2 * FAST)
@given(header=st.text(max_size=200), rows=st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True),
                                                             st.floats(-1, 1), st.floats(0, 1)), min_size=1, max_size=5))
def test_ascii_random_header_and_rows(tmp_path, header, rows):
    """Any text before the table (units, keys, stray characters), then rows of any numbers."""
    p = tmp_path / "fuzzed.txt"
    lines = "".join(f"{t!r} {a!r} {e!r}\n" for t, a, e in rows)
    p.write_text("% " + header.replace("\r", " ").replace("\n", "\n% ") + "\n" + lines, encoding="utf-8",
                 errors="surrogatepass")
    _read_clean(p)
