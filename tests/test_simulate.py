"""Tests of rpf.simulate against its own stated truth and conventions."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from rpf.errors import ConfigError
from rpf.simulate import (
    BAND_COLUMNS,
    InstrumentModel,
    SimulatedFrame,
    Transient,
    VariableStar,
    airmass_at,
    random_star_catalog,
    simulate_calibration_frames,
    simulate_frame,
    simulate_night,
    write_demo_dataset,
    write_fits,
)

SHAPE = (512, 512)
INST = InstrumentModel(seed=7)


def _empty_catalog() -> Table:
    return random_star_catalog(ra=150.0, dec=20.0, radius_deg=0.1, n_stars=0, seed=0)


def _grid_stars(fwhm_px: float, seed: int) -> Table:
    """Well separated stars on a jittered grid, bright to faint, with sub-pixel positions."""
    rng = np.random.default_rng(seed)
    step = 100
    xs, ys = np.meshgrid(np.arange(60, SHAPE[1] - 59, step), np.arange(60, SHAPE[0] - 59, step))
    n = xs.size
    return Table(
        {
            "x": xs.ravel() + rng.uniform(-0.5, 0.5, n),
            "y": ys.ravel() + rng.uniform(-0.5, 0.5, n),
            "mag": np.linspace(12.5, 18.0, n),
            "color": rng.uniform(0.0, 2.0, n),
        }
    )


def _angle_diff(a: float, b: float) -> float:
    return (a - b + 180.0) % 360.0 - 180.0


@pytest.fixture(scope="module")
def field() -> SimulatedFrame:
    return simulate_frame(catalog=None, seed=3, shape=SHAPE, instrument=INST, rotation_deg=20.0)


@pytest.fixture(scope="module")
def calibration() -> dict:
    return simulate_calibration_frames(INST, shape=SHAPE, seed=11, n_bias=7, n_dark=7, n_flat=7)


# --- catalogue ---------------------------------------------------------------------------------


def test_catalog_columns_and_distribution():
    cat = random_star_catalog(ra=150.0, dec=20.0, radius_deg=0.3, n_stars=2000, seed=1, mag_range=(11.0, 19.5))
    gaia = ["source_id", "ra", "dec", "pmra", "pmdec", "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag"]
    for col in [*gaia, "ruwe", "phot_variable_flag", *BAND_COLUMNS]:
        assert col in cat.colnames
    assert cat["source_id"].dtype == np.int64
    assert len(np.unique(cat["source_id"])) == len(cat)
    assert set(cat["phot_variable_flag"]) <= {"VARIABLE", "NOT_AVAILABLE"}
    g = np.asarray(cat["phot_g_mean_mag"])
    assert g.min() >= 11.0 and g.max() <= 19.5
    counts, _ = np.histogram(g, bins=[11, 13, 15, 17, 19.5])
    assert np.all(np.diff(counts) > 0), counts
    sep = SkyCoord(cat["ra"], cat["dec"], unit="deg").separation(SkyCoord(150.0, 20.0, unit="deg"))
    assert sep.deg.max() <= 0.3 + 1e-9
    # uniform on the cap: half the stars inside radius/sqrt(2)
    assert 0.45 < np.mean(sep.deg < 0.3 / np.sqrt(2)) < 0.55
    color = cat["phot_bp_mean_mag"] - cat["phot_rp_mean_mag"]
    assert np.all(np.diff((cat["B_mag"] - cat["V_mag"])[np.argsort(color)]) > 0)  # redder in B-V too


def test_catalog_is_seeded():
    a = random_star_catalog(ra=10.0, dec=-30.0, radius_deg=0.2, n_stars=50, seed=5)
    b = random_star_catalog(ra=10.0, dec=-30.0, radius_deg=0.2, n_stars=50, seed=5)
    c = random_star_catalog(ra=10.0, dec=-30.0, radius_deg=0.2, n_stars=50, seed=6)
    assert np.array_equal(a["ra"], b["ra"]) and np.array_equal(a["V_mag"], b["V_mag"])
    assert not np.array_equal(a["ra"], c["ra"])


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_frame(field):
    again = simulate_frame(catalog=None, seed=3, shape=SHAPE, instrument=INST, rotation_deg=20.0)
    assert np.array_equal(again.raw, field.raw)
    assert np.array_equal(again.truth.noise_free, field.truth.noise_free)
    other = simulate_frame(catalog=None, seed=4, shape=SHAPE, instrument=INST, rotation_deg=20.0)
    assert not np.array_equal(other.raw, field.raw)
    assert np.array_equal(other.truth.bias, field.truth.bias)  # patterns belong to the instrument


def test_raw_dtype_and_instrument_patterns(field):
    assert field.raw.dtype == np.uint16 and field.raw.shape == SHAPE
    t = field.truth
    assert np.median(t.flat[128:384, 128:384]) == pytest.approx(1.0, abs=1e-6)  # central-half convention
    corners = np.median([t.flat[:8, :8], t.flat[:8, -8:], t.flat[-8:, :8], t.flat[-8:, -8:]])
    centre = np.median(t.flat[248:264, 248:264])
    assert corners / centre == pytest.approx(1 - INST.flat_vignetting, abs=0.02)
    assert t.hot_mask.sum() == INST.n_hot_pixels
    assert np.median(t.dark_rate[~t.hot_mask]) * INST.gain == pytest.approx(INST.dark_rate, rel=0.2)
    assert np.all(t.dark_rate[t.hot_mask] * INST.gain >= INST.hot_pixel_rate[0])
    assert abs(np.median(t.bias) - INST.bias_level) < 10
    assert np.std(np.median(t.bias, axis=0)) > 0.5  # column pattern


# --- flux and PSF ------------------------------------------------------------------------------


@pytest.mark.parametrize(("psf", "fwhm"), [("moffat", 3.0), ("gaussian", 2.5), ("moffat", 1.6)])
def test_flux_conservation_and_centroid(psf, fwhm):
    stars = _grid_stars(fwhm, seed=1)
    sim = simulate_frame(
        catalog=_empty_catalog(),
        extra_stars=stars,
        seed=1,
        shape=SHAPE,
        instrument=INST,
        psf=psf,
        fwhm_arcsec=fwhm,
        n_cosmic_rays=0,
    )
    truth = sim.truth.stars
    assert len(truth) == len(stars) and np.all(truth["is_extra"])
    image = sim.truth.noise_free.astype(np.float64) - sim.truth.sky
    yy, xx = np.indices(SHAPE)
    for row in truth:
        box = (np.abs(xx - row["x"]) < 49) & (np.abs(yy - row["y"]) < 49)
        flux = image[box].sum()
        assert flux == pytest.approx(row["flux"], rel=1e-3)
        core = box & (np.hypot(xx - row["x"], yy - row["y"]) < 5 * fwhm)
        w = image[core]
        assert (w * xx[core]).sum() / w.sum() == pytest.approx(row["x"], abs=0.01)
        assert (w * yy[core]).sum() / w.sum() == pytest.approx(row["y"], abs=0.01)
    # the FWHM of the rendered profile is the one asked for
    brightest = truth[np.argmax(truth["flux"])]
    iy, ix = int(round(brightest["y"])), int(round(brightest["x"]))
    cut = image[iy, ix - 20 : ix + 21]
    above = np.flatnonzero(cut >= cut.max() / 2)
    assert above.size == pytest.approx(fwhm, abs=1.5)


def test_zero_point_convention():
    stars = _grid_stars(3.0, seed=2)
    sim = simulate_frame(
        catalog=_empty_catalog(),
        extra_stars=stars,
        seed=2,
        shape=SHAPE,
        instrument=INST,
        exptime=30.0,
        zero_point=22.0,
        color_term=0.1,
        extinction_k=0.2,
        airmass=1.5,
        n_cosmic_rays=0,
    )
    t = sim.truth
    assert t.zero_point_frame == pytest.approx(22.0 - 0.2 * 1.5)
    expect = 30.0 * 10 ** (-0.4 * (stars["mag"] - t.zero_point_frame - 0.1 * stars["color"]))
    assert np.allclose(t.stars["flux"], expect, rtol=1e-12)
    order = np.argsort(t.stars["flux"])
    assert np.all(np.diff(t.stars["snr"][order]) > 0)
    assert sim.header["AIRMASS"] == pytest.approx(1.5)


def test_star_mag_offsets_change_only_that_star(field):
    target = field.truth.stars[field.truth.stars["in_frame"]][5]
    brighter = simulate_frame(
        catalog=None,
        seed=3,
        shape=SHAPE,
        instrument=INST,
        rotation_deg=20.0,
        star_mag_offsets={int(target["source_id"]): -0.5},
    )
    ratio = brighter.truth.stars["flux"] / field.truth.stars["flux"]
    is_target = brighter.truth.stars["source_id"] == target["source_id"]
    assert np.allclose(ratio[is_target], 10**0.2)
    assert np.allclose(ratio[~is_target], 1.0)


# --- WCS and header ----------------------------------------------------------------------------


def test_wcs_round_trip(field):
    stars = field.truth.stars
    x, y = field.truth.wcs.world_to_pixel(SkyCoord(stars["ra"], stars["dec"], unit="deg"))
    assert np.allclose(x, stars["x"], atol=1e-6) and np.allclose(y, stars["y"], atol=1e-6)
    header_wcs = WCS(field.header)
    hx, hy = header_wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    assert np.allclose(hx, stars["x"], atol=1e-6) and np.allclose(hy, stars["y"], atol=1e-6)
    inside = stars["in_frame"]
    assert np.all((stars["x"][inside] >= -0.5) & (stars["x"][inside] < SHAPE[1] - 0.5))
    assert inside.sum() > 50


@pytest.mark.parametrize(("rotation", "flip"), [(0.0, False), (90.0, False), (33.0, True)])
def test_header_keywords_and_orientation(rotation, flip):
    sim = simulate_frame(
        catalog=_empty_catalog(),
        seed=5,
        shape=(64, 96),
        pixel_scale=1.7,
        rotation_deg=rotation,
        flip=flip,
        instrument=INST,
        n_cosmic_rays=0,
    )
    h = sim.header
    required = (
        "DATE-OBS MJD-OBS EXPTIME FILTER GAIN RDNOISE SATURATE SITELAT SITELONG SITEELEV OBSERVAT RA DEC OBJCTRA "
        "OBJCTDEC XPIXSZ FOCALLEN AIRMASS IMAGETYP OBJECT CD1_1 CD1_2 CD2_1 CD2_2 CRVAL1 CRVAL2 CRPIX1 CRPIX2"
    ).split()
    assert not [k for k in required if k not in h]
    cd = np.array([[h["CD1_1"], h["CD1_2"]], [h["CD2_1"], h["CD2_2"]]])
    scale_cd = np.sqrt(abs(np.linalg.det(cd))) * 3600
    scale_optics = 206.264806 * h["XPIXSZ"] / h["FOCALLEN"]
    assert scale_cd == pytest.approx(1.7, rel=1e-9) and scale_optics == pytest.approx(1.7, rel=1e-6)
    assert (np.linalg.det(cd) > 0) == flip
    assert Time(h["DATE-OBS"]).mjd == pytest.approx(h["MJD-OBS"], abs=1e-8)
    pointing = SkyCoord(h["OBJCTRA"], h["OBJCTDEC"], unit=(u.hourangle, u.deg))
    assert pointing.separation(SkyCoord(h["RA"], h["DEC"], unit="deg")).arcsec < 0.2
    # position angle of +y (east of north) is -rotation, east is left unless flipped
    w = sim.truth.wcs
    c0, cy, cx = w.pixel_to_world([48, 48, 49], [32, 33, 32])
    assert _angle_diff(c0.position_angle(cy).deg, -rotation) == pytest.approx(0.0, abs=1e-3)
    assert _angle_diff(c0.position_angle(cx).deg, -rotation + (90 if flip else -90)) == pytest.approx(0.0, abs=1e-3)


def test_pointing_error_moves_header_not_truth():
    sim = simulate_frame(
        catalog=_empty_catalog(),
        seed=8,
        shape=(64, 64),
        pointing_error_arcmin=5.0,
        instrument=INST,
        n_cosmic_rays=0,
    )
    true_centre = SkyCoord(150.0, 20.0, unit="deg")
    assert SkyCoord(sim.header["RA"], sim.header["DEC"], unit="deg").separation(true_centre).arcmin == (
        pytest.approx(5.0, abs=1e-6)
    )
    header_centre = WCS(sim.header).pixel_to_world(31.5, 31.5)
    assert header_centre.separation(true_centre).arcmin == pytest.approx(5.0, abs=1e-3)
    assert sim.truth.wcs.pixel_to_world(31.5, 31.5).separation(true_centre).arcsec < 1e-6
    no_wcs = simulate_frame(catalog=_empty_catalog(), seed=8, shape=(64, 64), write_wcs=False, instrument=INST)
    assert "CD1_1" not in no_wcs.header and "CTYPE1" not in no_wcs.header


def test_computed_airmass_matches_astropy(field):
    h = field.header
    mid = Time(h["DATE-OBS"]) + h["EXPTIME"] / 2 * u.s
    site = (h["SITELAT"], h["SITELONG"], h["SITEELEV"])
    assert h["AIRMASS"] == pytest.approx(airmass_at(ra=150.0, dec=20.0, time=mid, site=site), rel=1e-9)
    assert 1.0 < h["AIRMASS"] < 1.3  # the default date has the field near transit at OHP


# --- noise, calibration, artefacts -------------------------------------------------------------


def test_calibration_frames_recover_noise_free(field, calibration):
    assert {k: len(v) for k, v in calibration.items()} == {"bias": 7, "dark": 7, "flat": 7}
    for kind, frames in calibration.items():
        for data, header in frames:
            assert data.dtype == np.uint16 and header["IMAGETYP"] == kind.upper()
    bias = np.median([d.astype(float) for d, _ in calibration["bias"]], axis=0)
    t_dark = calibration["dark"][0][1]["EXPTIME"]
    dark_rate = (np.median([d.astype(float) for d, _ in calibration["dark"]], axis=0) - bias) / t_dark
    t_flat = calibration["flat"][0][1]["EXPTIME"]
    flat = np.median([d.astype(float) for d, _ in calibration["flat"]], axis=0) - bias - dark_rate * t_flat
    ny, nx = flat.shape
    flat /= np.median(flat[ny // 4 : ny - ny // 4, nx // 4 : nx - nx // 4])
    t = field.truth
    assert np.std(flat - t.flat) < 0.005
    calibrated = (field.raw - bias - dark_rate * t.exptime) / flat
    residual = calibrated - t.noise_free
    variance = (t.flat * t.noise_free + t.dark_rate * t.exptime) / INST.gain + (INST.read_noise / INST.gain) ** 2
    sigma = np.sqrt(variance) / t.flat
    good = ~(t.cr_mask | t.hot_mask | (field.raw >= INST.saturation))
    z = residual[good] / sigma[good]
    assert abs(z.mean()) < 0.02
    assert 0.98 < z.std() < 1.06  # the masters add a little noise


def test_saturation_flagged():
    stars = Table({"x": [100.3, 300.0], "y": [200.6, 300.0], "mag": [8.0, 17.0]})
    sim = simulate_frame(catalog=_empty_catalog(), extra_stars=stars, seed=9, shape=SHAPE, instrument=INST)
    flags = list(sim.truth.stars["saturated"])
    assert flags == [True, False]
    assert sim.raw[200:202, 99:102].max() == 65535
    limited = InstrumentModel(seed=7, saturation=40000.0)
    sim2 = simulate_frame(catalog=_empty_catalog(), extra_stars=stars, seed=9, shape=SHAPE, instrument=limited)
    assert sim2.raw.max() == 40000 and sim2.truth.stars["saturated"][0]


def test_field_saturation_consistent_with_raw(field):
    stars = field.truth.stars
    for row in stars[stars["in_frame"]]:
        ix, iy = int(round(row["x"])), int(round(row["y"]))
        local = field.raw[max(iy - 1, 0) : iy + 2, max(ix - 1, 0) : ix + 2]
        if row["saturated"]:
            assert local.max() >= INST.saturation
        elif row["peak"] < 20000:
            assert local.max() < INST.saturation


def test_cosmic_ray_mask_matches_injected():
    kwargs = {"catalog": None, "seed": 12, "shape": SHAPE, "instrument": INST}
    with_cr = simulate_frame(n_cosmic_rays=60, **kwargs)
    without = simulate_frame(n_cosmic_rays=0, **kwargs)
    assert not without.truth.cr_mask.any()
    mask = with_cr.truth.cr_mask
    changed = with_cr.raw != without.raw
    unsaturated = without.raw < INST.saturation
    assert np.array_equal(changed & unsaturated, mask & unsaturated)
    assert 60 <= mask.sum() <= 60 * 5
    excess = with_cr.raw[mask].astype(float) - without.raw[mask]
    assert np.all(excess[unsaturated[mask]] > 1000)
    # sharp: no hit spreads like a star (at most 5 pixels per hit on average)
    assert mask.sum() / 60 < 5


# --- night -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def night() -> list[SimulatedFrame]:
    return simulate_night(
        5,
        seed=21,
        shape=(256, 256),
        airmass_range=(1.1, 2.2),
        instrument=INST,
        variable_star=VariableStar(amplitude_mag=0.3, period_frames=4),
        transient=Transient(mag=15.0, first_frame=2),
    )


def test_night_airmass_and_times(night):
    airmass = [f.truth.airmass for f in night]
    assert airmass[0] == pytest.approx(1.1, abs=0.005) and airmass[-1] == pytest.approx(2.2, abs=0.01)
    assert np.all(np.diff(airmass) > 0)
    times = [Time(f.header["DATE-OBS"]) for f in night]
    assert all((b - a).to_value(u.s) > 0 for a, b in zip(times, times[1:], strict=False))
    for f in night:
        h = f.header
        site = (h["SITELAT"], h["SITELONG"], h["SITEELEV"])
        mid = Time(h["DATE-OBS"]) + h["EXPTIME"] / 2 * u.s
        assert h["AIRMASS"] == pytest.approx(airmass_at(ra=150.0, dec=20.0, time=mid, site=site), abs=2e-3)


def test_night_variable_and_transient(night):
    info = [f.truth.params["night"] for f in night]
    var_id = info[0]["variable_source_id"]
    assert all(i["variable_source_id"] == var_id for i in info)
    deltas = []
    for f in night:
        row = f.truth.stars[f.truth.stars["source_id"] == var_id]
        assert len(row) == 1 and not row["saturated"][0] and row["in_frame"][0]
        deltas.append(row["delta_mag"][0])
    assert np.allclose(deltas, 0.3 * np.sin(2 * np.pi * np.arange(5) / 4))
    for k, f in enumerate(night):
        present = -1 in set(f.truth.stars["source_id"])
        assert present == (k >= 2)
    centres = SkyCoord([f.header["RA"] for f in night], [f.header["DEC"] for f in night], unit="deg")
    assert 0 < centres[0].separation(centres[1:]).arcsec.max() < 120  # jitter, not a new field


def test_night_unreachable_airmass_is_an_error():
    with pytest.raises(ConfigError, match="airmass"):
        simulate_night(2, seed=1, shape=(64, 64), center=(150.0, 80.0), airmass_range=(1.0, 1.05))


# --- files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_write_fits_round_trip(field, tmp_path, compress):
    path = write_fits(field, tmp_path / ("f.fits.fz" if compress else "f.fits"), compress=compress)
    with fits.open(path) as hdul:
        hdu = hdul[1] if compress else hdul[0]
        assert np.array_equal(hdu.data, field.raw)
        assert hdu.header["EXPTIME"] == field.header["EXPTIME"]
        assert hdu.header["OBJCTRA"] == field.header["OBJCTRA"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_demo_dataset(tmp_path):
    paths = write_demo_dataset(tmp_path, n_frames=2, seed=0, shape=(128, 128))
    assert len(paths["science"]) == 2 and len(paths["bias"]) == len(paths["dark"]) == len(paths["flat"]) == 3
    for p in [*paths["science"], *paths["bias"], *paths["dark"], *paths["flat"]]:
        assert fits.getdata(p).shape == (128, 128)
    cat = Table.read(paths["catalog"], format="ascii.csv")
    assert {"source_id", "ra", "dec", "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag"} <= set(cat.colnames)
    truth = Table.read(paths["truth"][0], format="ascii.ecsv")
    assert len(truth) > 0 and set(truth["source_id"][~truth["is_extra"]]) <= set(cat["source_id"])


# --- bad input ---------------------------------------------------------------------------------


def test_bad_parameters_raise_config_error():
    with pytest.raises(ConfigError):
        simulate_frame(seed=1, shape=(64, 64), psf="airy")
    with pytest.raises(ConfigError, match="V_mag"):
        simulate_frame(seed=1, shape=(64, 64), catalog=Table({"source_id": [1], "ra": [150.0], "dec": [20.0]}))
    with pytest.raises(ConfigError):
        InstrumentModel(gain=0.0)
    with pytest.raises(ConfigError, match="horizon"):
        simulate_frame(seed=1, shape=(64, 64), center=(150.0, -80.0))


# --- galaxies and crowded fields ------------------------------------------------------------------


def test_galaxy_holds_its_flux_and_is_wider_than_a_star():
    galaxies = Table({"x": [150.3, 350.0], "y": [250.7, 250.0], "mag": [15.0, 15.0], "r_eff_arcsec": [3.0, 2.0],
                      "sersic_n": [1.0, 4.0], "axis_ratio": [0.5, 1.0], "pa_deg": [30.0, 0.0]})
    stars = Table({"x": [250.0], "y": [400.0], "mag": [15.0], "color": [1.0]})
    sim = simulate_frame(catalog=_empty_catalog(), seed=5, shape=SHAPE, instrument=INST, n_cosmic_rays=0,
                         extra_stars=stars, galaxies=galaxies)
    truth = sim.truth
    image = truth.noise_free - truth.sky
    gal = truth.galaxies
    assert len(gal) == 2 and np.all(gal["in_frame"])
    assert np.allclose(gal["flux"], truth.stars["flux"][0])  # same magnitude and zero point as the star
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    for row in gal:
        near = np.hypot(xx - row["x"], yy - row["y"]) < 60
        assert np.sum(image[near]) == pytest.approx(row["flux"], rel=2e-3)
        # centroid at the given position
        w = image * near
        assert np.sum(w * xx) / np.sum(w) == pytest.approx(row["x"], abs=0.05)
    star = truth.stars[0]
    for row in gal:  # a galaxy's central pixel holds a smaller fraction of its light than a star's
        assert image[round(row["y"]), round(row["x"])] < 0.8 * image[round(star["y"]), round(star["x"])]
    with pytest.raises(ConfigError):
        simulate_frame(catalog=_empty_catalog(), seed=5, shape=SHAPE, galaxies=Table({"x": [1.0], "y": [1.0]}))


def test_crowded_field_luminosity_function_reference_and_truth(tmp_path):
    from rpf.simulate import crowded_field, write_crowded_field

    crowded = crowded_field(seed=2, shape=(256, 256), stars_per_deg2=200000.0, reference_depth=20.0,
                            missing_color_fraction=0.1, n_galaxies=2, filter="CLEAR", band="phot_g_mean_mag",
                            color_term=0.1, n_calib=2)
    g = np.asarray(crowded.catalog["phot_g_mean_mag"])
    # dN/dm ∝ 10**(0.3 m): counts in successive magnitudes grow by 10**0.3 = 2.0
    counts = np.histogram(g, bins=[16, 17, 18, 19, 20, 21, 22])[0]
    slope = np.polyfit(np.arange(counts.size), np.log10(counts), 1)[0]
    assert slope == pytest.approx(0.3, abs=0.05)
    ref = crowded.reference
    assert np.asarray(ref["phot_g_mean_mag"]).max() <= 20.0 < g.max()
    missing = ~np.isfinite(np.asarray(ref["bp_rp"], float))
    assert 0.05 < missing.mean() < 0.15
    assert np.median(np.asarray(ref["phot_g_mean_mag"])[missing]) > np.median(np.asarray(ref["phot_g_mean_mag"]))
    sim = crowded.sim
    assert sim.header["FILTER"] == "CLEAR" and len(sim.truth.galaxies) == 2
    stars = sim.truth.stars
    expected = sim.truth.exptime * 10 ** (-0.4 * (stars["mag"] - sim.truth.zero_point_frame - 0.1 * stars["color"]))
    assert np.allclose(stars["flux"], expected)
    paths = write_crowded_field(crowded, tmp_path)
    assert Table.read(paths["truth"]).colnames[:3] == ["source_id", "x", "y"]
    assert len(paths["flat"]) == 2 and paths["science"].exists()
