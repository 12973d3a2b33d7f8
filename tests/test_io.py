"""Frame loading (every FITS variant, real images, bad inputs) and header normalisation."""

from __future__ import annotations

import gzip
import importlib.resources
import os
import socket
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from raw_fits import raw_fits

from rpf.config import HeaderDefaults, PipelineConfig
from rpf.errors import FrameError
from rpf.flags import SourceFlag
from rpf.io import capture_warnings, check_input_file, frame_stem, load_frame, minimum_frame_side, read_meta

DEFAULTS = HeaderDefaults()
SHAPE = (64, 80)
M13 = importlib.resources.files("astropy") / "io/fits/hdu/compressed/tests/data/m13.fits"
A8280271 = importlib.resources.files("ccdproc") / "tests/data/a8280271.fits"


def _truth() -> np.ndarray:
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    return (1000.0 + 7.0 * xx + 3.0 * yy).astype(np.float64)


def _header(**extra: object) -> fits.Header:
    header = fits.Header()
    header["EXPTIME"] = 30.0
    header["DATE-OBS"] = "2024-03-01T21:00:00"
    for key, value in extra.items():
        header[key] = value
    return header


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("frames")
    truth = _truth()
    out: dict[str, Path] = {}

    def write(name: str, hdul: fits.HDUList) -> None:
        out[name] = root / name
        hdul.writeto(out[name])

    write("primary_f32.fits", fits.HDUList([fits.PrimaryHDU(truth.astype(np.float32), header=_header())]))
    write("primary_f64.fits", fits.HDUList([fits.PrimaryHDU(truth, header=_header())]))
    primary = fits.PrimaryHDU(header=_header(FILTER="V"))
    write("extension.fits", fits.HDUList([primary, fits.ImageHDU(truth.astype(np.float32), name="SCI")]))
    write("table_then_image.fits", fits.HDUList([
        fits.PrimaryHDU(header=_header()),
        fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.arange(3.0))]),
        fits.ImageHDU(truth.astype(np.float32)),
    ]))
    compressed = fits.CompImageHDU(truth.astype(np.int32), compression_type="RICE_1")
    write("compressed.fits.fz", fits.HDUList([fits.PrimaryHDU(header=_header()), compressed]))
    uint = truth.astype(np.uint16)
    uint[5, 7] = 65535
    write("uint16.fits", fits.HDUList([fits.PrimaryHDU(uint, header=_header())]))
    write("cube.fits", fits.HDUList([fits.PrimaryHDU(np.stack([truth, truth + 50, truth + 99]), header=_header())]))
    out["gzip.fits.gz"] = root / "gzip.fits.gz"
    out["gzip.fits.gz"].write_bytes(gzip.compress(out["primary_f32.fits"].read_bytes()))
    nan = truth.astype(np.float32)
    nan[3, 4] = np.nan
    write("nan_pixel.fits", fits.HDUList([fits.PrimaryHDU(nan, header=_header())]))

    whole = out["primary_f32.fits"].read_bytes()
    (root / "truncated.fits").write_bytes(whole[: len(whole) - 5000])
    out["truncated.fits"] = root / "truncated.fits"
    (root / "gzip_truncated.fits.gz").write_bytes(out["gzip.fits.gz"].read_bytes()[:900])
    out["gzip_truncated.fits.gz"] = root / "gzip_truncated.fits.gz"
    (root / "text.fits").write_text("This is a CSV file\n1,2,3\n")
    out["text.fits"] = root / "text.fits"
    (root / "zero.fits").write_bytes(b"")
    out["zero.fits"] = root / "zero.fits"
    write("header_only.fits", fits.HDUList([fits.PrimaryHDU(header=_header())]))
    write("all_nan.fits", fits.HDUList([fits.PrimaryHDU(np.full(SHAPE, np.nan, np.float32), header=_header())]))
    no_exptime = _header()
    del no_exptime["EXPTIME"]
    write("no_exptime.fits", fits.HDUList([fits.PrimaryHDU(truth.astype(np.float32), header=no_exptime)]))
    return out


@pytest.mark.parametrize(
    "name", ["primary_f32.fits", "primary_f64.fits", "extension.fits", "table_then_image.fits",
             "compressed.fits.fz", "gzip.fits.gz", "uint16.fits"]
)
def test_every_variant_loads_the_same_pixels(files: dict[str, Path], name: str) -> None:
    frame = load_frame(files[name], defaults=DEFAULTS)
    expected = _truth()
    if name == "uint16.fits":
        expected[5, 7] = 65535
    assert frame.data.dtype == np.float32
    assert frame.data.shape == SHAPE
    np.testing.assert_array_equal(frame.data, expected.astype(np.float32))
    assert frame.mask.dtype == np.uint16
    assert frame.meta.exptime == 30.0
    assert frame.meta.stem == name.split(".")[0]


def test_extension_header_is_merged_with_primary(files: dict[str, Path]) -> None:
    frame = load_frame(files["extension.fits"], defaults=DEFAULTS)
    assert frame.meta.filter == "V"
    assert frame.meta.date_obs == "2024-03-01T21:00:00.000"


def test_uint16_saturation_from_bzero_without_overflow(files: dict[str, Path]) -> None:
    with fits.open(files["uint16.fits"]) as hdul:
        assert hdul[0].header["BZERO"] == 32768
    frame = load_frame(files["uint16.fits"], defaults=DEFAULTS)
    assert frame.meta.saturation == 65535.0
    assert any("65535" in w for w in frame.meta.warnings)
    assert frame.data[5, 7] == 65535.0
    saturated = (frame.mask & SourceFlag.SATURATED) > 0
    assert saturated.sum() == 1 and saturated[5, 7]


def test_saturation_keyword_wins(tmp_path: Path) -> None:
    data = np.full(SHAPE, 100, np.uint16)
    data[0, :3] = 50000
    path = tmp_path / "sat.fits"
    fits.PrimaryHDU(data, header=_header(SATURATE=40000)).writeto(path)
    frame = load_frame(path, defaults=DEFAULTS)
    assert frame.meta.saturation == 40000
    assert ((frame.mask & SourceFlag.SATURATED) > 0).sum() == 3


def test_cube_gives_first_plane_with_warning(files: dict[str, Path]) -> None:
    frame = load_frame(files["cube.fits"], defaults=DEFAULTS)
    np.testing.assert_array_equal(frame.data, _truth().astype(np.float32))
    assert any("3-D data cube" in w for w in frame.meta.warnings)


def test_non_finite_pixels_are_bad(files: dict[str, Path]) -> None:
    frame = load_frame(files["nan_pixel.fits"], defaults=DEFAULTS)
    bad = (frame.mask & SourceFlag.BAD_PIXEL) > 0
    assert bad.sum() == 1 and bad[3, 4]


def test_explicit_hdu(files: dict[str, Path]) -> None:
    assert load_frame(files["table_then_image.fits"], defaults=DEFAULTS, hdu=2).data.shape == SHAPE
    with pytest.raises(FrameError, match="HDU 1 holds no 2-D image"):
        load_frame(files["table_then_image.fits"], defaults=DEFAULTS, hdu=1)
    with pytest.raises(FrameError, match="has 3 HDU"):
        load_frame(files["table_then_image.fits"], defaults=DEFAULTS, hdu=7)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("truncated.fits", "truncated file"),
        ("gzip_truncated.fits.gz", "corrupt or truncated"),
        ("text.fits", "not a FITS file"),
        ("zero.fits", "empty file (0 bytes)"),
        ("header_only.fits", "no image data"),
        ("all_nan.fits", "every pixel is NaN"),
        ("no_exptime.fits", "no exposure time: header has no EXPTIME/EXPOSURE/ITIME keyword and no header.exptime"),
        ("missing.fits", "file not found"),
    ],
)
def test_bad_inputs_name_file_and_problem(files: dict[str, Path], name: str, problem: str) -> None:
    path = files.get(name, Path("/nonexistent/missing.fits"))
    with pytest.raises(FrameError) as info:
        load_frame(path, defaults=DEFAULTS)
    assert info.value.path == str(path)
    assert problem in info.value.problem
    assert str(path) in str(info.value)


def test_missing_exptime_uses_default_with_warning(files: dict[str, Path]) -> None:
    frame = load_frame(files["no_exptime.fits"], defaults=HeaderDefaults(exptime=12.5))
    assert frame.meta.exptime == 12.5
    assert any("header.exptime=12.5" in w for w in frame.meta.warnings)


def test_real_image_m13() -> None:
    frame = load_frame(M13, defaults=HeaderDefaults(exptime=1.0))
    with fits.open(M13) as hdul:
        raw = hdul[0].data.astype(np.float32)
    np.testing.assert_array_equal(frame.data, raw)
    assert frame.meta.shape == (300, 300)
    assert frame.meta.ra == pytest.approx(250.4226)
    assert frame.meta.dec == pytest.approx(36.4602)
    assert frame.meta.pixel_scale == pytest.approx(0.00027770002 * 3600)
    assert frame.meta.saturation == 32767.0


def test_real_image_a8280271() -> None:
    frame = load_frame(A8280271, defaults=DEFAULTS)
    meta = frame.meta
    assert frame.data.shape == (520, 536) and frame.data.dtype == np.float32
    assert float(frame.data.min()) >= 0  # BZERO 32768 applied: no negative wrap-around
    assert meta.exptime == pytest.approx(150.04)
    assert meta.gain == 1.9 and meta.read_noise == 5.0
    assert meta.airmass == pytest.approx(1.176)
    assert meta.ra == pytest.approx(15 * (22 + 4 / 60 + 8 / 3600))
    assert meta.dec == pytest.approx(-(55 / 60 + 31 / 3600))
    # DATE-OBS is date-only; UT gives the time (MJD-OBS 56486.0 has no time of day).
    assert meta.date_obs == "2013-07-13T00:57:33.000"
    assert meta.mjd_mid == pytest.approx(56486 + (57 * 60 + 33 + 75.02) / 86400, abs=1e-8)
    assert meta.observatory == "SAAO" and meta.site_lat == pytest.approx(-32.38, abs=0.01)
    assert meta.saturation == 65535.0
    assert meta.imagetyp == "object" and meta.object == "rf0420"


def _meta(header: fits.Header, defaults: HeaderDefaults = DEFAULTS):
    return read_meta(header, path="/data/x.fits", shape=(100, 200), defaults=defaults)


def test_sexagesimal_pointing_and_keyword_priority() -> None:
    meta = _meta(_header(OBJCTRA="05 35 17.3", OBJCTDEC="-05 23 28", CRVAL1=10.0, CRVAL2=20.0,
                         CTYPE1="RA---TAN", CTYPE2="DEC--TAN"))
    assert meta.ra == pytest.approx(15 * (5 + 35 / 60 + 17.3 / 3600))
    assert meta.dec == pytest.approx(-(5 + 23 / 60 + 28 / 3600))
    decimal = _meta(_header(RA=83.82, DEC="-5.39", TELRA="00:00:00", TELDEC="+00:00:00"))
    assert (decimal.ra, decimal.dec) == (pytest.approx(83.82), pytest.approx(-5.39))
    crval = _meta(_header(CRVAL1=10.0, CRVAL2=20.0, CTYPE1="RA---TAN", CTYPE2="DEC--TAN"))
    assert (crval.ra, crval.dec) == (10.0, 20.0)


@pytest.mark.parametrize(
    ("keys", "mjd_start"),
    [
        ({"DATE-OBS": "2024-03-01", "TIME-OBS": "06:00:00"}, 60370.25),
        ({"DATE-OBS": "2024-03-01", "UT": "18:00:00.0"}, 60370.75),
        ({"DATE-OBS": "2024-03-01T12:00:00.000"}, 60370.5),
        ({"MJD-OBS": 60370.125}, 60370.125),
        ({"JD": 2460370.625}, 60370.125),
        ({"DATE-BEG": "2024-03-01T12:00:00"}, 60370.5),
    ],
)
def test_observation_time_dialects(keys: dict, mjd_start: float) -> None:
    header = fits.Header({"EXPTIME": 120.0, **keys})
    meta = _meta(header)
    assert meta.mjd_start == pytest.approx(mjd_start, abs=1e-9)
    assert meta.mjd_mid == pytest.approx(mjd_start + 60.0 / 86400, abs=1e-9)


def test_date_avg_gives_mid_time_and_date_only_warns() -> None:
    meta = _meta(fits.Header({"EXPTIME": 100.0, "DATE-OBS": "2024-03-01T00:00:00", "DATE-AVG": "2024-03-01T00:10:00"}))
    assert meta.mjd_mid == pytest.approx(60370 + 600 / 86400)
    date_only = _meta(fits.Header({"EXPTIME": 1.0, "DATE-OBS": "2024-03-01"}))
    assert date_only.mjd_start == 60370.0
    assert any("no time of day" in w for w in date_only.warnings)


def test_pixel_scale_sources() -> None:
    optics = _meta(_header(XPIXSZ=7.4, FOCALLEN=1000.0))
    assert optics.pixel_scale == pytest.approx(206.265 * 7.4 / 1000.0, rel=1e-4)
    binned = _meta(_header(PIXSIZE1=3.76, XBINNING=2, FOCALLEN=500.0))
    assert binned.pixel_scale == pytest.approx(206.265 * 3.76 * 2 / 500.0, rel=1e-4)
    cd = _meta(_header(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CD1_1=0.0, CD1_2=-3e-4, CD2_1=3e-4, CD2_2=0.0))
    assert cd.pixel_scale == pytest.approx(1.08)
    keyword = _meta(_header(PIXSCALE=1.7))
    assert keyword.pixel_scale == 1.7
    assert not any("pixel scale" in w for w in keyword.warnings)
    fallback = _meta(_header(), HeaderDefaults(pixel_scale=2.2))
    assert fallback.pixel_scale == 2.2
    assert any("header.pixel_scale=2.2" in w for w in fallback.warnings)


def test_site_sources() -> None:
    meta = _meta(_header(SITELAT="43 56 00", SITELONG="5 42 48", SITEELEV=650.0))
    assert (meta.site_lat, meta.site_lon, meta.site_elev) == (
        pytest.approx(43.9333, abs=1e-3), pytest.approx(5.7133, abs=1e-3), 650.0)
    geo = _meta(_header(**{"OBSGEO-X": 5327448.9957, "OBSGEO-Y": -1718665.73869, "OBSGEO-Z": 3051566.90295}))
    assert geo.site_lat == pytest.approx(28.76, abs=0.01) and geo.site_lon == pytest.approx(-17.88, abs=0.01)
    named = _meta(_header(OBSERVAT="OHP"))
    assert named.site_lat == pytest.approx(43.93, abs=0.01)
    config = _meta(_header(), HeaderDefaults(site_lat=10.0, site_lon=20.0, site_elev=5.0))
    assert (config.site_lat, config.site_lon, config.site_elev) == (10.0, 20.0, 5.0)
    assert any("configured site" in w for w in config.warnings)


def test_fallbacks_warn_and_header_values_do_not() -> None:
    full = _meta(_header(FILTER="R", GAIN=1.4, RDNOISE=9.0, SATURATE=60000, AIRMASS=1.3, OBJECT="M42"))
    assert (full.filter, full.gain, full.read_noise, full.saturation) == ("R", 1.4, 9.0, 60000)
    assert full.airmass == 1.3 and full.object == "M42"
    for word in ("filter", "gain", "read-noise", "SATURATE"):
        assert not any(word in w for w in full.warnings)
    bare = _meta(_header(), HeaderDefaults(gain=2.5, read_noise=7.0, filter="Clear"))
    assert (bare.filter, bare.gain, bare.read_noise) == ("Clear", 2.5, 7.0)
    for word in ("filter", "gain", "read-noise"):
        assert any(word in w for w in bare.warnings)


def test_malformed_values_are_skipped_with_a_note() -> None:
    meta = _meta(fits.Header({"EXPTIME": "abc", "EXPOSURE": 20.0, "GAIN": -1.0, "EGAIN": 1.2, "AIRMASS": 0.5}))
    assert meta.exptime == 20.0 and meta.gain == 1.2 and meta.airmass is None
    assert any("EXPTIME" in w and "abc" in w for w in meta.warnings)
    assert any("airmass outside" in w for w in meta.warnings)


@pytest.mark.parametrize(
    ("name", "stem"),
    [("a.fits", "a"), ("b.fits.fz", "b"), ("c.FIT.gz", "c"), ("d.fts", "d"), ("e.v2.fits", "e.v2"),
     (".fits", "fits"), (".fits.gz", "fits"), (".hidden.fits", "hidden"), ("..fits", "fits"), ("...", "frame")],
)
def test_frame_stem(name: str, stem: str) -> None:
    """Issue 11 item 12: ``.fits`` gave the hidden stem ``.fits`` (``..fits`` even wrote beside the folder)."""
    assert frame_stem(f"/x/{name}") == stem


# --- issue 11: non-regular inputs, gzip by content, EXPTIME, duplicated keywords, tiny frames -------------


def _special_files(root: Path) -> dict[str, tuple[Path, str]]:
    """Every kind of path that is not a readable regular file, with the problem its message must name."""
    fifo = root / "fifo.fits"
    os.mkfifo(fifo)
    folder = root / "folder.fits"
    folder.mkdir()
    broken = root / "broken.fits"
    broken.symlink_to(root / "nowhere.fits")
    loop = root / "loop.fits"
    loop.symlink_to(loop)
    sock = root / "sock.fits"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    server.close()
    empty = root / "empty.fits"
    empty.write_bytes(b"")
    return {
        "fifo": (fifo, "named pipe (FIFO)"), "folder": (folder, "a directory"),
        "broken": (broken, "broken symbolic link"), "loop": (loop, "symbolic link loop"),
        "socket": (sock, "a socket"), "device": (Path("/dev/null"), "a character device"),
        "empty": (empty, "empty file (0 bytes)"), "missing": (root / "missing.fits", "file not found"),
    }


@pytest.fixture(scope="module")
def special(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return _special_files(tmp_path_factory.mktemp("special"))


@pytest.mark.parametrize("kind", ["fifo", "folder", "broken", "loop", "socket", "device", "empty", "missing"])
def test_non_regular_inputs_are_rejected_without_being_opened(special, kind: str) -> None:
    """Issue 11 item 6: a FIFO among the inputs blocked the run (reading it waits for a writer for ever)."""
    path, problem = special[kind]
    for check in (check_input_file, lambda p: load_frame(p, defaults=DEFAULTS)):
        with pytest.raises(FrameError) as info:
            check(path)
        assert info.value.path == str(path) and problem in info.value.problem, info.value
    assert check_input_file(str(M13)) == Path(str(M13))


def test_gzip_named_fits_is_read_by_content(files: dict[str, Path], tmp_path: Path) -> None:
    """Issue 11 item 10: a gzip file named ``.fits`` was rejected as truncated."""
    disguised = tmp_path / "gzip_in_disguise.fits"
    disguised.write_bytes(files["gzip.fits.gz"].read_bytes())
    frame = load_frame(disguised, defaults=DEFAULTS)
    np.testing.assert_array_equal(frame.data, _truth().astype(np.float32))
    plain = tmp_path / "plain_named.fits.gz"  # and a plain file named .gz is read as plain FITS
    plain.write_bytes(files["primary_f32.fits"].read_bytes())
    np.testing.assert_array_equal(load_frame(plain, defaults=DEFAULTS).data, frame.data)
    truncated = tmp_path / "gzip_truncated.fits"
    truncated.write_bytes(files["gzip.fits.gz"].read_bytes()[:900])
    with pytest.raises(FrameError, match="corrupt or truncated"):
        load_frame(truncated, defaults=DEFAULTS)


@pytest.mark.parametrize(
    ("value", "problem"),
    [(0, "EXPTIME = 0: zero seconds"), (0.0, "EXPTIME = 0.0: zero seconds"), ("abc", "EXPTIME = 'abc': not a number"),
     (-5, "EXPTIME = -5: negative exposure time"), ("nan", "EXPTIME = 'nan': not a finite number"),
     ("inf", "EXPTIME = 'inf': not a finite number"), ("", "EXPTIME = '': blank")],
)
def test_unusable_exptime_says_what_is_wrong(value: object, problem: str) -> None:
    """Issue 11 item 9: EXPTIME = 0 was taken as valid, and abc/-5/nan/inf said "header has no EXPTIME"."""
    header = fits.Header({"EXPTIME": value})
    with pytest.raises(FrameError) as info:
        read_meta(header, path="/data/f.fits", shape=SHAPE, defaults=DEFAULTS)
    message = str(info.value)
    assert message.startswith("/data/f.fits: unusable exposure time (") and problem in message
    assert "header.exptime" in message and "no EXPTIME" not in message
    meta = read_meta(header, path="/data/f.fits", shape=SHAPE, defaults=HeaderDefaults(exptime=20.0))
    assert meta.exptime == 20.0
    assert any(problem in w and "using header.exptime=20.0 s" in w for w in meta.warnings), meta.warnings


def test_zero_exptime_still_serves_bias_frames(tmp_path: Path) -> None:
    from rpf.calibration import build_masters
    from rpf.config import PipelineConfig

    paths = []
    for index in range(3):
        paths.append(tmp_path / f"bias{index}.fits")
        fits.PrimaryHDU(np.full(SHAPE, 100.0 + index, np.float32), header=fits.Header({"EXPTIME": 0})).writeto(
            paths[-1]
        )
    masters = build_masters(bias=paths, config=PipelineConfig())
    assert float(np.median(masters.bias)) == pytest.approx(101.0)


def test_duplicated_keyword_warns_with_the_value_used() -> None:
    header = fits.Header()
    header.append(("EXPTIME", 30.0))
    header.append(("GAIN", 1.4))
    header.append(("EXPTIME", 60.0))
    header.append(("GAIN", 1.4))  # a repeat of the same value is harmless
    meta = _meta(header)
    assert meta.exptime == 30.0
    assert "EXPTIME appears 2 times with different values (30.0, 60.0): the first, 30.0, is read" in meta.warnings
    assert not any("GAIN appears" in w for w in meta.warnings)


@pytest.mark.parametrize(("ny", "nx"), [(1, 1), (2, 50), (50, 2), (3, 40), (40, 3), (20, 20)])
def test_frames_too_small_for_the_pipeline_are_rejected_naming_the_shape(tmp_path: Path, ny: int, nx: int) -> None:
    """Issue 11 item 1: under 4 rows or columns astroscrappy corrupts memory; the size is checked at load."""
    path = tmp_path / f"tiny_{ny}x{nx}.fits"
    fits.PrimaryHDU(np.ones((ny, nx), np.float32), header=_header()).writeto(path)
    minimum = minimum_frame_side(PipelineConfig())
    assert minimum == 21  # detection.border_px = 10 on each side, and at least 4 for L.A.Cosmic
    with pytest.raises(FrameError) as info:
        load_frame(path, defaults=DEFAULTS, min_side=minimum)
    assert info.value.path == str(path)
    assert info.value.problem.startswith(f"image too small: {nx}x{ny} px (width x height); at least 21x21 px")
    assert load_frame(path, defaults=DEFAULTS).data.shape == (ny, nx)  # a library user may still read it
    no_cr = PipelineConfig().replace(cosmics={"enabled": False}, detection={"border_px": 0})
    assert minimum_frame_side(no_cr) == 1


def test_unparsable_header_values_are_read_as_text_with_a_note(tmp_path: Path) -> None:
    """Found by the robustness suite: ``GAIN = 1.5.3`` made astropy raise VerifyError out of read_meta."""
    path = tmp_path / "odd_cards.fits"
    cards = ["EXPTIME = nan", "EXPOSURE=                 30.0", "GAIN    = 1.5.3", "RDNOISE = 12 34 garbage",
             "EGAIN   =                  2.0", "DATE-OBS= 2024-03-01T21:00:00"]
    path.write_bytes(raw_fits(cards, _truth().astype(np.float32)))
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        frame = load_frame(path, defaults=DEFAULTS)
    assert leaked == []  # astropy's VerifyWarnings are not printed without the file name
    meta = frame.meta
    assert meta.exptime == 30.0 and meta.gain == 2.0 and meta.read_noise == DEFAULTS.read_noise
    assert meta.date_obs == "2024-03-01T21:00:00.000"
    assert "header card GAIN is not valid FITS: its value is read as the text '1.5.3'" in meta.warnings
    assert "ignored EXPTIME='nan': not a finite number" in meta.warnings
    assert "ignored GAIN='1.5.3': not a number" in meta.warnings
    assert frame.header["GAIN"] == "1.5.3" and frame.header["EGAIN"] == 2.0
    bad = raw_fits(["EXPTIME = nan"], _truth().astype(np.float32))
    path.write_bytes(bad)
    with pytest.raises(FrameError, match=r"unusable exposure time \(EXPTIME = 'nan': not a finite number\)"):
        load_frame(path, defaults=DEFAULTS)


@pytest.mark.filterwarnings("default::UserWarning")  # shown (and so captured), not raised
def test_captured_warnings_stay_with_their_thread() -> None:
    """The frame-level capture (issue 11 item 12) must not mix frames processed in threads of one process."""
    barrier = threading.Barrier(2)
    caught: dict[str, list[str]] = {}

    def frame(name: str) -> None:
        with capture_warnings() as mine:
            barrier.wait()
            warnings.warn(f"about {name}", UserWarning, stacklevel=1)
            barrier.wait()
        caught[name] = mine

    threads = [threading.Thread(target=frame, args=(n,)) for n in ("a.fits", "b.fits")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert caught == {"a.fits": ["UserWarning: about a.fits"], "b.fits": ["UserWarning: about b.fits"]}
    with pytest.warns(UserWarning, match="outside"):  # outside a capture, warnings behave as before
        warnings.warn("outside", UserWarning, stacklevel=1)
