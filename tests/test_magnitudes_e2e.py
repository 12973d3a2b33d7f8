"""Calibrated magnitudes through the real pipeline on a simulated frame with known truth (issue 5).

One frame (1024², Moffat 3 px, zero point 23.0, colour term 0.1, k = 0.2 at airmass 1.5, V band) is
written to FITS with bias, dark and flat frames and a Gaia-like reference catalogue file, then
processed by :func:`rpf.pipeline.process_frame` with PSF photometry and a fitted colour term.

The simulator's ``zero_point_frame`` refers to its own flat, normalised to median 1 over the whole
frame; the pipeline's master flat is normalised to median 1 in the central region, which scales the
calibrated image (and so the zero point) by the ratio of the two flats.  The expected zero point is
therefore ``zero_point_frame + 2.5 log10(median(true flat / master flat))`` (about +0.04 mag here).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from scipy.spatial import cKDTree

from rpf.calibration import build_masters
from rpf.config import PipelineConfig
from rpf.pipeline import RunContext, process_frame
from rpf.pipeline.magnitudes import airmass
from rpf.pipeline.stages import STAGES
from rpf.pipeline.state import FrameState
from rpf.simulate import InstrumentModel, field_catalog, simulate_calibration_frames, simulate_frame, write_fits

SEED = 5
SHAPE = (1024, 1024)
CENTER = (150.0, 20.0)


def _robust_sigma(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e_mags")
    instrument = InstrumentModel(seed=SEED)
    catalog = field_catalog(CENTER, SHAPE, 1.0, SEED)
    sim = simulate_frame(
        catalog=catalog, seed=SEED + 1, shape=SHAPE, center=CENTER, zero_point=23.0, color_term=0.1,
        extinction_k=0.2, airmass=1.5, band="V_mag", instrument=instrument,
    )
    science = write_fits(sim, folder / "science.fits")
    catalog_file = folder / "reference.csv"
    catalog.write(catalog_file, format="ascii.csv")
    calib = {
        kind: [write_fits(data, folder / f"{kind}{i}.fits", header) for i, (data, header) in enumerate(frames)]
        for kind, frames in simulate_calibration_frames(instrument, shape=SHAPE, seed=SEED + 2).items()
    }
    config = PipelineConfig().replace(
        catalogs={"offline": True, "catalog_file": str(catalog_file), "reference": "file", "crossmatch": ()},
        zeropoint={"fit_color_term": True},
        psf={"enabled": True},
        output={"png": False, "zip": False},
    )
    ctx = RunContext(config=config, masters=build_masters(**calib, config=config), out_dir=folder / "out")
    result = process_frame(science, ctx)
    assert result.ok, result.error
    return sim, ctx, result


@pytest.fixture(scope="module")
def matched(run):
    """Pipeline rows and truth rows of clean, unsaturated stars with SNR > 20 (matched within 1 px)."""
    sim, _, result = run
    phot, truth = result.phot, sim.truth.stars
    distance, index = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([phot["x"], phot["y"]])
    )
    rows = np.flatnonzero(distance < 1.0)
    stars = index[rows]
    good = (np.asarray(phot["flags"])[rows] == 0) & ~np.asarray(truth["saturated"])[stars]
    good &= np.asarray(phot["snr"])[rows] > 20
    return rows[good], stars[good]


def _photon_noise_mag(sim, result, stars: np.ndarray) -> np.ndarray:
    """Expected 1-sigma magnitude error of the default aperture from photons, sky, dark and read noise."""
    meta = result.phot.meta
    radius = meta["aperture_radii_px"][meta["aperture_radii_fwhm"].index(meta["aperture_default_radius_fwhm"])]
    factor = meta["aperture_correction"][meta["aperture_default_radius_fwhm"]]
    gain, read_noise = float(sim.header["GAIN"]), float(sim.header["RDNOISE"])
    flux = np.asarray(sim.truth.stars["flux"])[stars]
    dark = float(np.mean(sim.truth.dark_rate)) * sim.truth.exptime
    pixel_var = (sim.truth.sky + dark) / gain + (read_noise / gain) ** 2
    variance = flux / factor / gain + np.pi * radius**2 * pixel_var
    return 2.5 / np.log(10) * np.sqrt(variance) * factor / flux


def _expected_zero_point(sim, ctx) -> float:
    flat_scale = float(np.nanmedian(sim.truth.flat / ctx.masters.flat))
    return sim.truth.zero_point_frame + 2.5 * np.log10(flat_scale)


def test_zero_point_and_colour_term_recover_truth(run):
    sim, ctx, result = run
    meta = result.metadata
    assert meta["n_calib_stars"] >= 50
    # the default flux is the best-SNR aperture (0.7-1 FWHM for most calibrators): its aperture
    # correction must hold the total-flux scale well within 1 % for the zero point to match
    tolerance = max(0.01, meta["zero_point_err"])
    assert abs(meta["zero_point"] - _expected_zero_point(sim, ctx)) < tolerance
    assert abs(meta["color_term"] - 0.1) < 0.02
    assert meta["airmass"] == pytest.approx(1.5) and meta["airmass_source"] == "header"


def test_calibrated_aperture_magnitudes_match_truth_to_photon_noise(run, matched):
    sim, _, result = run
    rows, stars = matched
    assert rows.size >= 80
    diff = np.asarray(result.phot["mag"])[rows] - np.asarray(sim.truth.stars["mag"])[stars]
    expected = _photon_noise_mag(sim, result, stars)
    assert abs(np.median(diff)) < 0.01
    assert _robust_sigma(diff / expected) < 1.2
    reported = np.asarray(result.phot["mag_err"])[rows]
    # the default is each star's best-SNR aperture: smaller errors than the 1.5 FWHM aperture's photon noise
    assert 0.7 < np.median(reported / expected) < 1.05
    assert _robust_sigma(diff / reported) < 1.2


def test_every_aperture_gets_the_same_calibration(run, matched):
    sim, _, result = run
    phot = result.phot
    rows, stars = matched
    exptime = sim.truth.exptime
    offset = np.asarray(phot["cal_offset"])
    radii = [name for name in phot.colnames if name.startswith("mag_r")]
    assert len(radii) == len(phot.meta["aperture_radii_fwhm"])
    truth = np.asarray(sim.truth.stars["mag"])[stars]
    for name in radii:
        k = name.removeprefix("mag_r")
        flux = np.asarray(phot[f"flux_r{k}"])
        positive = flux > 0
        instrumental = -2.5 * np.log10(flux[positive] / exptime)
        np.testing.assert_allclose(np.asarray(phot[name])[positive], instrumental + offset[positive], atol=1e-9)
        assert abs(np.median(np.asarray(phot[name])[rows] - truth)) < 0.01, name


def test_magnitude_errors_include_the_zero_point_error(run):
    _, _, result = run
    phot = result.phot
    zp_err, ct_err = phot.meta["zero_point_err"], phot.meta["color_term_err"]
    assert result.metadata["zero_point_err"] == zp_err > 0
    flux, flux_err = np.asarray(phot["flux"]), np.asarray(phot["flux_err"])
    ok = flux > 0
    photometric = 2.5 / np.log(10) * flux_err[ok] / flux[ok]
    calibration = np.sqrt(np.asarray(phot["mag_err"])[ok] ** 2 - photometric**2)
    # the zero-point error reaches every magnitude, through the zero point / colour-term covariance
    color = np.abs(np.asarray(phot["cal_color"])[ok])
    assert np.all(calibration >= np.abs(zp_err - color * ct_err) - 1e-9)
    assert np.all(calibration <= zp_err + color * ct_err + 1e-9)
    assert np.all(calibration > 0)
    for name in ("psf_mag_err", *(c for c in phot.colnames if c.startswith("mag_err_r"))):
        flux_name = "psf_flux" if name == "psf_mag_err" else "flux_r" + name.removeprefix("mag_err_r")
        errors = np.asarray(phot[name])[ok]
        finite = np.isfinite(errors)
        assert np.all(errors[finite] ** 2 >= calibration[finite] ** 2 - 1e-12), flux_name


def _psf_diff(run, matched):
    sim, _, result = run
    rows, stars = matched
    diff = np.asarray(result.phot["psf_mag"])[rows] - np.asarray(sim.truth.stars["mag"])[stars]
    return diff, np.asarray(result.phot["psf_mag_err"])[rows]


def test_psf_magnitudes_match_truth(run, matched):
    _, _, result = run
    assert np.isfinite(result.phot.meta["psf_to_aperture"])
    diff, _ = _psf_diff(run, matched)
    assert np.all(np.isfinite(diff))
    assert abs(np.median(diff)) < 0.01


def test_psf_magnitude_scatter_within_photon_noise(run, matched):
    diff, reported = _psf_diff(run, matched)
    assert _robust_sigma(diff / reported) < 1.2


def test_airmass_computed_like_astropy_when_the_header_has_none(run):
    sim, ctx, result = run
    state = FrameState(path=result.path)
    for name, stage in STAGES:
        if name == "airmass":
            break
        state = stage(state, ctx)
    frame = state.frame
    meta = frame.meta.__class__(**{**frame.meta.__dict__, "airmass": None})
    state = state.evolve(frame=frame.__class__(data=frame.data, header=frame.header, meta=meta, mask=frame.mask))
    out = airmass(state, ctx)
    assert out.airmass.source == "computed"
    lat, lon, elev = sim.truth.params["site"]
    location = EarthLocation(lat=lat * u.deg, lon=lon * u.deg, height=elev * u.m)
    mid = Time(sim.truth.params["date_obs"], scale="utc") + 0.5 * sim.truth.exptime * u.s
    centre = out.wcs.wcs.pixel_to_world((SHAPE[1] - 1) / 2, (SHAPE[0] - 1) / 2)
    altaz = SkyCoord(centre.ra, centre.dec).transform_to(AltAz(obstime=mid, location=location))
    assert abs(out.airmass.airmass - float(altaz.secz)) < 0.001
    # the header's value (1.5, different from the geometric one) is preferred when present
    assert abs(float(altaz.secz) - 1.5) > 0.01
    assert result.metadata["airmass"] == pytest.approx(1.5)
