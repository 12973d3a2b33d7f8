"""Frame loading (every FITS variant, real images, bad inputs) and header normalisation."""

from __future__ import annotations

import gzip
import importlib.resources
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rpf.config import HeaderDefaults
from rpf.errors import FrameError
from rpf.flags import SourceFlag
from rpf.io import frame_stem, load_frame, read_meta

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
    ("name", "stem"), [("a.fits", "a"), ("b.fits.fz", "b"), ("c.FIT.gz", "c"), ("d.fts", "d"), ("e.v2.fits", "e.v2")]
)
def test_frame_stem(name: str, stem: str) -> None:
    assert frame_stem(f"/x/{name}") == stem
