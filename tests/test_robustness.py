"""Nothing a user feeds RPF may hang it, crash it or end without saying what was wrong (issue 11).

The suite makes its own corpus: hypothesis draws header values of every
type (EXPTIME, GAIN, DATE-OBS, RA/DEC, BITPIX/BZERO/BSCALE, NAXIS sizes down
to one pixel, cubes, NaN pixels, duplicated keywords) and the file shapes
users produce by accident (0-byte, truncated, PNG named ``.fits``, FIFO,
directory, socket, broken or looping link, gzip named ``.fits``, frames of
a few pixels, all-NaN frames).  Every frame goes through
:func:`rpf.pipeline.process_frame` in a child process with a time limit,
so a native crash or a hang is a failed case, not a dead test run.  Each
case must end within the limit with status ``ok``, or ``failed`` with a
message naming the file and the problem (never an untyped exception), and
a good frame processed by the same child afterwards must still succeed.
A few mixes go through ``rpf run --eager`` in a subprocess.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_fits import raw_fits

from rpf.cli import main
from rpf.config import PipelineConfig, load_config
from rpf.pipeline import RunContext, process_frame
from rpf.simulate import simulate_frame, write_fits

WORKER = Path(__file__).with_name("robustness_worker.py")
CASE_TIMEOUT_S = 60.0
GENERATED = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow])
TIMINGS: dict[str, float] = {}
OUTCOMES: dict[str, str] = {}


# --- the child process running process_frame ----------------------------------------------------------


class FrameWorker:
    """A child process running ``process_frame`` on each path sent; restarted after a crash or a hang."""

    def __init__(self, config: Path, out_dir: Path, stderr: Path) -> None:
        self.args = [sys.executable, str(WORKER), str(config), str(out_dir)]
        self.stderr_path = stderr
        self.failures: list[str] = []
        self._start()

    def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(WORKER.parent), *sys.path])}
        self._stderr = open(self.stderr_path, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, text=True, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(self.process, self.lines), daemon=True)
        self._reader.start()
        assert json.loads(self._answer(120.0) or "null") == {"ready": True}

    @staticmethod
    def _read(process: subprocess.Popen, lines: queue.Queue) -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def _answer(self, timeout: float) -> str | None:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return ""

    def process_frame(self, path: Path) -> dict:
        """Return the child's answer for ``path``, or ``{"status": "hang"/"crash"}`` (and restart it)."""
        start = time.perf_counter()
        self.process.stdin.write(json.dumps(str(path)) + "\n")
        self.process.stdin.flush()
        line = self._answer(CASE_TIMEOUT_S)
        TIMINGS[path.name] = time.perf_counter() - start
        if line:
            return json.loads(line)
        status = "hang" if line == "" else f"crash (exit status {self.process.wait()})"
        self.failures.append(f"{path.name}: {status}")
        self.stop()
        self._start()
        return {"path": str(path), "status": status, "error": None}

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self._reader.join(timeout=10)  # the child is gone: its output ends, then the pipes may close
        self.process.stdin.close()
        self.process.stdout.close()
        self._stderr.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("robust")


@pytest.fixture(scope="module")
def config_file(root: Path) -> Path:
    nothing = root / "no_index_files"
    nothing.mkdir()
    path = root / "config.toml"
    path.write_text(
        f'[catalogs]\noffline = true\ncache_dir = "{root / "cache"}"\ntycho2_dir = "{nothing}"\n'
        f'[astrometry]\ntime_limit_s = 2\nindex_dir = "{nothing}"\n'
        "[output]\npng = false\nzip = false\n"
    )
    return path


@pytest.fixture(scope="module")
def good(root: Path) -> Path:
    sim = simulate_frame(seed=3, shape=(128, 128), n_cosmic_rays=3, exptime=30.0)
    return write_fits(sim, root / "good.fits")


@pytest.fixture(scope="module")
def worker(root: Path, config_file: Path, good: Path):
    child = FrameWorker(config_file, root / "out", root / "worker_stderr.txt")
    yield child
    assert child.process_frame(good)["status"] == "ok"  # the child still processes a good frame
    child.stop()
    slowest = max(TIMINGS, key=TIMINGS.get)
    if os.environ.get("RPF_ROBUSTNESS_TIMINGS"):
        print(json.dumps(dict(sorted(TIMINGS.items(), key=lambda kv: -kv[1])), indent=0))
        print(json.dumps(OUTCOMES, indent=0))
    print(f"\nrobustness: {len(TIMINGS)} frames through process_frame, slowest {slowest} "
          f"{TIMINGS[slowest]:.2f} s; hangs/crashes: {child.failures or 'none'}")


def _handled(answer: dict, path: Path) -> None:
    """The frame ended (no hang, no crash); a failure names the file and is one of RPF's typed errors."""
    assert answer["status"] in ("ok", "failed"), answer
    if answer["status"] == "failed":
        assert path.name in answer["error"], answer
        assert "unexpected " not in answer["error"], answer  # an untyped exception escaped a stage
    else:
        assert math.isfinite(answer["exptime"]) and answer["exptime"] > 0, answer


# --- the file shapes -----------------------------------------------------------------------------------


def _header_cards(good: Path) -> list[str]:
    header = fits.getheader(good)
    return [card.image for card in header.cards if not card.keyword.startswith(("SIMPLE", "BITPIX", "NAXIS"))]


EXPTIMES = {"exptime_0": "0", "exptime_abc": "'abc'", "exptime_-5": "-5", "exptime_nan": "nan",
            "exptime_inf": "'inf'"}


def _make(name: str, root: Path, good: Path) -> Path:
    """Write one file of the corpus (``name`` says what it is)."""
    path = root / "corpus" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = fits.getdata(good).astype(np.float32)
    cards = _header_cards(good)
    kind = name.removesuffix(".fits")
    if kind == "zero":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:-5000])
    elif kind == "png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind == "broken_link":
        path.symlink_to(root / "corpus" / "nowhere.fits")
    elif kind == "link_loop":
        path.symlink_to(path)
    elif kind == "gzip_named":
        path.write_bytes(gzip.compress(good.read_bytes()))
    elif kind.startswith("tiny_"):
        ny, nx = (int(n) for n in kind.removeprefix("tiny_").split("x"))
        path.write_bytes(raw_fits(cards, data[:ny, :nx]))
    elif kind == "all_nan":
        path.write_bytes(raw_fits(cards, np.full_like(data, np.nan)))
    elif kind == "all_saturated":
        path.write_bytes(raw_fits([c for c in cards if not c.startswith("SATURATE")] + ["SATURATE= 10"], data))
    elif kind == "some_nan":
        data[::7, ::5] = np.nan
        path.write_bytes(raw_fits(cards, data))
    elif kind == "cube":
        path.write_bytes(raw_fits(cards, np.stack([data, data + 5])))
    elif kind == "":  # named ".fits"
        path.write_bytes(good.read_bytes())
    elif kind in EXPTIMES:
        cards = [c for c in cards if not c.startswith(("EXPOSURE", "EXPTIME"))]
        path.write_bytes(raw_fits([*cards, f"EXPTIME = {EXPTIMES[kind]:>20}"], data))
    elif kind.startswith("bscale_"):
        value = {"bscale_text": "abc", "bscale_zero": "0"}[kind]
        cards = [c for c in cards if not c.startswith(("BZERO", "BSCALE"))]
        path.write_bytes(raw_fits([*cards, f"BSCALE  = {value:>20}"], data.astype(np.int16)))
    elif kind == "duplicate_exptime":
        path.write_bytes(raw_fits([*cards, f"EXPTIME = {'120.0':>20}"], data))
    else:
        raise AssertionError(name)
    return path


SHAPES = {
    # name: (status, text the message or warnings must contain)
    "zero.fits": ("failed", "empty file (0 bytes)"),
    "truncated.fits": ("failed", "truncated file"),
    "png.fits": ("failed", "not a FITS file"),
    "fifo.fits": ("failed", "named pipe (FIFO)"),
    "folder.fits": ("failed", "a directory"),
    "socket.fits": ("failed", "a socket"),
    "broken_link.fits": ("failed", "broken symbolic link"),
    "link_loop.fits": ("failed", "symbolic link loop"),
    "gzip_named.fits": ("ok", ""),
    "tiny_1x1.fits": ("failed", "image too small: 1x1 px"),
    "tiny_2x100.fits": ("failed", "image too small: 100x2 px"),
    "tiny_100x2.fits": ("failed", "image too small: 2x100 px"),
    "tiny_3x60.fits": ("failed", "image too small: 60x3 px"),
    "tiny_60x3.fits": ("failed", "image too small: 3x60 px"),
    "tiny_16x16.fits": ("failed", "image too small: 16x16 px"),
    "all_nan.fits": ("failed", "every pixel is NaN"),
    "all_saturated.fits": ("failed", "every pixel is NaN, infinite or at or above the saturation level 10 ADU"),
    "bscale_text.fits": ("failed", "BSCALE = 'abc' is not a number"),
    "bscale_zero.fits": ("failed", "BSCALE = 0: every pixel would equal BZERO"),
    "some_nan.fits": ("ok", ""),
    "cube.fits": ("ok", "3-D data cube"),
    ".fits": ("ok", ""),
    "exptime_0.fits": ("failed", "EXPTIME = 0: zero seconds"),
    "exptime_abc.fits": ("failed", "EXPTIME = 'abc': not a number"),
    "exptime_-5.fits": ("failed", "EXPTIME = -5: negative exposure time"),
    "exptime_nan.fits": ("failed", "EXPTIME = 'nan': not a finite number"),
    "exptime_inf.fits": ("failed", "EXPTIME = 'inf': not a finite number"),
    "duplicate_exptime.fits": ("ok", "EXPTIME appears 2 times with different values"),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_file_shape_ends_with_a_clear_outcome(worker, root: Path, good: Path, name: str) -> None:
    path = _make(name, root, good)
    answer = worker.process_frame(path)
    _handled(answer, path)
    status, text = SHAPES[name]
    assert answer["status"] == status, answer
    assert text in (answer["error"] or "") + "\n".join(answer["warnings"]), answer
    assert not any(p.startswith(".") for p in answer["products"]), answer  # ".fits" gets visible products
    if status == "failed":
        assert answer["error"].startswith(str(path)), answer


# --- generated headers -----------------------------------------------------------------------------------

_PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)
_TOKENS = ("nan", "NaN", "inf", "-inf", "abc", "1.0.0", "T", "F", "1e999", "-0", "(1, 2)", "''", "' '", "0")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


VALUES = st.one_of(
    st.integers(-10**9, 10**9).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(_PRINTABLE, max_size=18).map(_quoted),
    st.sampled_from(_TOKENS),
)
DATES = st.one_of(
    st.datetimes().map(lambda d: _quoted(d.isoformat())),
    st.sampled_from(["'2024-02-30T25:61:00'", "'15/03/26'", "'2024-03-15'", "'  '", "'2024-03-15T21:00:00Z'"]),
    VALUES,
)
ANGLES = st.one_of(
    st.sampled_from(["'10 00 00.0'", "'+20:00:00'", "'25:99:99'", "'-95 00 00'", "'12h30m'", "'+91d'"]),
    VALUES,
)
@st.composite
def _plausible(draw, low: float, high: float) -> str:
    """Mostly (4 in 5) a sensible number, so that frames reach the later stages; else anything."""
    return draw(VALUES) if draw(st.integers(0, 4)) == 0 else repr(draw(st.floats(low, high)))


KEYS = {
    "EXPTIME": _plausible(0.001, 3600), "EXPOSURE": VALUES, "GAIN": _plausible(0.1, 10), "RDNOISE": VALUES,
    "SATURATE": VALUES, "DATE-OBS": DATES, "MJD-OBS": VALUES, "TIME-OBS": DATES, "RA": ANGLES, "DEC": ANGLES,
    "OBJCTRA": ANGLES, "OBJCTDEC": ANGLES, "AIRMASS": VALUES, "FILTER": VALUES, "XPIXSZ": VALUES,
    "FOCALLEN": VALUES, "PIXSCALE": _plausible(0.1, 5), "SITELAT": ANGLES, "SITELONG": ANGLES,
}
OPTIONAL = ("EXPOSURE", "RDNOISE", "SATURATE", "MJD-OBS", "TIME-OBS", "OBJCTRA", "OBJCTDEC", "AIRMASS", "XPIXSZ",
            "FOCALLEN", "SITELAT", "SITELONG")
SCALING = {
    key: st.integers(0, 9).flatmap(lambda n, sane=sane: st.none() if n < 7 else sane if n < 9 else VALUES)
    for key, sane in (("BZERO", st.sampled_from(["0", "32768", "-1000.5"])),
                      ("BSCALE", st.sampled_from(["1", "1.0", "0.25"])))
}
DTYPES = ("u1", "i2", "i4", "i8", "f4", "f8")


@st.composite
def generated_frames(draw) -> tuple[list[str], np.ndarray]:
    """A header of drawn values (some keywords missing, some twice) and pixels of a drawn type and size."""
    cards = []
    for key, values in KEYS.items():
        present = draw(st.integers(0, 9)) < (5 if key in OPTIONAL else 9)
        value = draw(values) if present else None
        if value is not None:
            cards.append(f"{key:<8}= {value:>20}")
    for key in draw(st.lists(st.sampled_from(list(KEYS)), max_size=3)):  # duplicated keywords
        cards.append(f"{key:<8}= {draw(KEYS[key]):>20}")
    for key, values in SCALING.items():
        value = draw(values)
        if value is not None:
            cards.append(f"{key:<8}= {value:>20}")
    tiny = draw(st.integers(0, 9)) < 2  # one frame in five has a side of 1-5 px
    ny, nx = draw(st.integers(1, 5) if tiny else st.integers(21, 64)), draw(st.integers(21, 64))
    if draw(st.booleans()):
        ny, nx = nx, ny
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    yy, xx = np.mgrid[:ny, :nx]
    image = rng.normal(1000.0, 10.0, (ny, nx))
    for _ in range(3):
        x0, y0 = rng.uniform(0, nx), rng.uniform(0, ny)
        image += 20000.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 1.5**2))
    if dtype == "u1":
        image = image / 200.0
    elif dtype.startswith("f"):
        nan = draw(st.sampled_from(["none", "some", "all"]))
        image[:: 3 if nan == "some" else 1, ::7 if nan == "some" else 1] = np.nan if nan != "none" else 0.0
    if draw(st.booleans()) and min(ny, nx) > 5:
        image = np.stack([image, image * 1.01])
    data = image.astype(dtype) if dtype.startswith("f") else np.clip(image, 0, 250 if dtype == "u1" else 30000)
    return cards, data.astype(dtype)


_COUNTER = iter(range(10**6))


@GENERATED
@given(frame=generated_frames())
def test_generated_headers_and_pixels_never_hang_crash_or_fail_untyped(worker, root: Path, frame) -> None:
    cards, data = frame
    path = root / "generated" / f"gen{next(_COUNTER):04d}.fits"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(raw_fits(cards, data))
    answer = worker.process_frame(path)
    OUTCOMES[path.name] = answer["status"] if answer["status"] != "failed" else answer["error"]
    _handled(answer, path)


# --- whole runs ------------------------------------------------------------------------------------------


def test_rpf_run_with_every_bad_input_processes_the_good_frames(root: Path, config_file: Path, good: Path):
    """``rpf run --eager`` in a subprocess: bad inputs fail with their reason, the good ones are processed."""
    names = ["fifo.fits", "folder.fits", "tiny_2x100.fits", "exptime_0.fits", ".fits"]
    mix = root / "mix"
    paths = [_make(name, mix, good) for name in names] + [good]
    out = root / "mix_out"
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "rpf.cli", "run", "--eager", "--config", str(config_file),
                          "--out", str(out), *map(str, paths)], capture_output=True, text=True, timeout=300)
    print(f"\nrobustness: rpf run --eager of {len(paths)} frames in {time.perf_counter() - start:.1f} s")
    assert run.returncode == 2, run.stderr  # the contract: 2 when any frame failed
    with open(out / "run_summary.csv", newline="") as handle:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(handle)}
    assert set(rows) == {p.name for p in paths}  # the summary is complete
    assert {n for n, r in rows.items() if r["status"] == "ok"} == {".fits", "good.fits"}
    for name, row in rows.items():
        if row["status"] != "ok":
            assert SHAPES[name][1] in row["error"] and str(mix / "corpus" / name) in row["error"], row
    # no hidden product (``.rpf/`` is the run's own state: lock, checkpoints, docs/runs.md)
    assert (out / "fits_phot.csv").is_file() and [p.name for p in out.glob(".*")] == [".rpf"]


def test_dask_run_does_not_open_a_fifo_while_planning(root: Path, good: Path):
    """Issue 11 item 6: on Dask, reading the headers to group the fields blocked on a FIFO before any frame."""
    from rpf.pipeline.fields import frame_field

    fifo = _make("fifo.fits", root / "plan", good)
    found: dict[str, object] = {}
    planner = threading.Thread(target=lambda: found.update(fifo=frame_field(str(fifo), PipelineConfig())), daemon=True)
    planner.start()
    planner.join(timeout=30)
    if planner.is_alive():  # blocked in open(): give it a writer so that the thread ends, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        planner.join(timeout=30)
        pytest.fail(f"frame_field blocked on the named pipe {fifo}")
    assert found == {"fifo": None}
    assert frame_field(str(good), PipelineConfig()) is not None


NATIVE_GUARDS = """
import numpy as np
from rpf.config import BackgroundConfig, CosmicsConfig, DetectionConfig
from rpf.cosmics import clean_cosmic_rays
from rpf.background import estimate_background
from rpf.detection import detect_sources
from rpf.errors import PhotometryError
rng = np.random.default_rng(0)
for shape in [(1, 1), (2, 50), (50, 2), (3, 40), (40, 3), (1, 100), (100, 1)]:
    data = rng.normal(100, 5, shape).astype(np.float32)
    try:
        clean_cosmic_rays(data, gain=1.0, read_noise=5.0, saturation=6e4, config=CosmicsConfig(workers=1))
    except PhotometryError as exc:
        print(exc)
for call in (lambda d: estimate_background(d, config=BackgroundConfig()),
             lambda d: detect_sources(d, rms=1.0, config=DetectionConfig())):
    try:
        call(np.zeros((0, 5), np.float32))
    except PhotometryError as exc:
        print(exc)
"""


def test_native_calls_refuse_images_they_would_crash_on():
    """Issue 11 item 1: under 4 rows or columns astroscrappy aborted, segfaulted or spun at 100 % CPU."""
    run = subprocess.run([sys.executable, "-c", NATIVE_GUARDS], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 9, run.stdout
    assert all(line.startswith("cosmic rays need at least 4x4 px, got shape (") for line in lines[:7])
    assert lines[7:] == ["background needs a non-empty 2-D image, got shape (0, 5)",
                         "detection needs a non-empty 2-D image, got shape (0, 5)"]


# --- a bad --catalog (item 8) ----------------------------------------------------------------------------


def _catalogs(folder: Path) -> dict[str, tuple[Path, str]]:
    folder.mkdir(exist_ok=True)
    files = {
        "empty": ("", "empty file (0 bytes)"),
        "garbage": (bytes(range(256)) * 4, "cannot be read as ascii.csv"),
        "no_positions": ("x,y,phot_g_mean_mag\n1,2,12\n", "no 'ra'/'dec' columns"),
        "header_only": ("ra,dec,phot_g_mean_mag\n", "no rows"),
        "text_in_column": ("ra,dec,phot_g_mean_mag\n150,20,12.5\n150.01,20.01,bright\n",
                           "column 'phot_g_mean_mag' row 2 is 'bright', not a number"),
    }
    out = {}
    for name, (content, problem) in files.items():
        path = folder / f"{name}.csv"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        out[name] = (path, problem)
    (folder / "folder.csv").mkdir(exist_ok=True)
    out["folder"] = (folder / "folder.csv", "a directory")
    out["missing"] = (folder / "missing.csv", "file not found")
    return out


@pytest.mark.parametrize("kind", ["missing", "empty", "folder", "garbage", "no_positions", "header_only",
                                  "text_in_column"])
def test_bad_catalog_option_stops_the_run_before_any_frame(root: Path, config_file: Path, good: Path, kind: str):
    """Issue 11 item 8: a bad --catalog was ignored (exit 0, no zero point, no warning)."""
    path, problem = _catalogs(root / "catalogs")[kind]
    out = root / f"catalog_{kind}"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["run", "--eager", "--config", str(config_file), "--catalog", str(path), "--out", str(out),
                       str(good)])
    assert status == 2
    assert f"rpf: error: catalogue {path}: " in err.getvalue() and problem in err.getvalue(), err.getvalue()
    assert not out.exists() or not list(out.iterdir())  # no frame was started


def test_frames_that_cannot_use_the_catalog_say_why_in_their_warnings(root: Path, config_file: Path, good: Path):
    """Library users skip the up-front check: each frame says why it has no zero point."""
    folder = root / "catalogs_per_frame"
    folder.mkdir()
    far = folder / "far.csv"
    far.write_text("ra,dec,phot_g_mean_mag\n10.0,-40.0,12.0\n10.01,-40.0,13.0\n")
    bad, problem = _catalogs(folder)["text_in_column"]
    for catalog, reason in ((far, "0 stars from file:far.csv"), (bad, problem)):
        config = load_config(config_file).replace(catalogs={"catalog_file": str(catalog), "reference": "file"})
        result = process_frame(good, RunContext(config=config, out_dir=folder / catalog.stem))
        assert result.status == "ok" and result.metadata["zero_point"] is None
        [warning] = [w for w in result.metadata["warnings"] if "zero point: not determined" in w]
        assert "no reference catalogue" in warning and reason in warning, warning


# --- astropy warnings name their file (item 12) ------------------------------------------------------------


def test_astropy_warnings_are_logged_with_the_file_name(root: Path, config_file: Path, good: Path, caplog):
    path = root / "radecsys.fits"
    with fits.open(good) as hdul:
        hdul[0].header["RADECSYS"] = "FK5"  # deprecated: astropy.wcs warns (FITSFixedWarning)
        hdul.writeto(path)
    ctx = RunContext(config=load_config(config_file), out_dir=root / "radecsys_out")
    with contextlib.redirect_stderr(io.StringIO()) as err:
        result = process_frame(path, ctx)
    assert result.ok
    fixed = [w for w in result.metadata["warnings"] if "FITSFixedWarning" in w and "RADECSYS" in w]
    assert fixed, result.metadata["warnings"]
    log = (root / "radecsys_out" / "radecsys.log").read_text()
    assert f"WARNING {fixed[0]}" in log
    assert any(str(path) in r.getMessage() and "FITSFixedWarning" in r.getMessage() for r in caplog.records)
    assert "FITSFixedWarning" not in err.getvalue()  # not printed without its file


def test_default_config_minimum_side_matches_the_documented_one():
    assert PipelineConfig().detection.border_px == 10  # docs/io.md: 21x21 px by default
