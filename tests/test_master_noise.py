"""The master frames' own noise: measured from the frames combined, and carried into the photometric errors."""

import numpy as np
import pytest
from astropy.table import QTable
from scipy.spatial import cKDTree

from rpf.background import estimate_background
from rpf.calibration import MasterFrames
from rpf.calibration.noise import combine_efficiency, master_noise
from rpf.config import ApertureConfig, BackgroundConfig
from rpf.photometry import aperture_photometry
from rpf.simulate import InstrumentModel, random_star_catalog, simulate_calibration_frames, simulate_frame

SHAPE = (512, 512)
EXPTIME = 60.0


def _robust_sigma(values):
    values = values[np.isfinite(values)]
    return 1.4826 * np.median(np.abs(values - np.median(values)))


@pytest.fixture(scope="module")
def few_faint_flats():
    """Bright isolated stars calibrated with a master flat of two faint flats (per-pixel noise ~1.4 %)."""
    inst = InstrumentModel(seed=3, flat_vignetting=0.1, n_dust=0)
    catalog = random_star_catalog(ra=150.0, dec=20.0, radius_deg=0.1, n_stars=300, seed=4, mag_range=(12.8, 14.8))
    sim = simulate_frame(catalog=catalog, seed=5, shape=SHAPE, instrument=inst, n_cosmic_rays=0, exptime=EXPTIME)
    raw = simulate_calibration_frames(inst, shape=SHAPE, seed=6, n_bias=5, n_dark=5, n_flat=2, flat_level=3000.0)
    masters = MasterFrames.from_arrays(
        bias=[d for d, _ in raw["bias"]], dark=[d for d, _ in raw["dark"]], dark_exptimes=60.0,
        flat=[d for d, _ in raw["flat"]], flat_exptimes=5.0,
    )
    data = ((sim.raw - masters.bias - masters.dark_rate * EXPTIME) / masters.flat).astype(np.float32)
    bkg = estimate_background(data, fwhm_px=sim.truth.fwhm_px, config=BackgroundConfig())
    return inst, sim, masters, (data - bkg.level).astype(np.float32), bkg.rms


def test_master_noise_matches_the_masters_actual_error(few_faint_flats):
    inst, sim, masters, _, _ = few_faint_flats
    centre = (slice(128, 384), slice(128, 384))
    actual_flat = _robust_sigma((masters.flat / sim.truth.flat)[centre])  # robust: hot pixels aside
    actual_bias = _robust_sigma((masters.bias - sim.truth.bias)[centre])
    assert masters.info["flat_noise"] == pytest.approx(actual_flat, rel=0.15)
    assert masters.info["bias_noise_adu"] == pytest.approx(actual_bias, rel=0.15)
    # two flats of 3000 ADU at 1.5 e-/ADU: 1 / sqrt(2 * 4500 e-) before the flat-field's own structure
    assert masters.info["flat_noise"] == pytest.approx(1 / np.sqrt(2 * 3000 * inst.gain), rel=0.15)
    assert masters.info["dark_rate_noise_adu_s"] > 0


def test_combine_efficiency_of_mean_and_median():
    assert combine_efficiency(1, clip_sigma=3.0, method="median") == 1.0
    assert combine_efficiency(9, clip_sigma=10.0, method="mean") == pytest.approx(1.0, abs=0.05)
    assert 1.25 < combine_efficiency(9, clip_sigma=10.0, method="median") < 1.7  # pi / 2 for many frames
    assert np.isnan(master_noise([np.zeros((8, 8))], clip_sigma=3.0, method="median"))


def test_errors_of_bright_stars_include_the_flat_noise(few_faint_flats):
    inst, sim, masters, sub, rms = few_faint_flats
    stars = sim.truth.stars[sim.truth.stars["in_frame"] & ~sim.truth.stars["saturated"]]
    xy = np.column_stack([stars["x"], stars["y"]])
    nearest = cKDTree(xy).query(xy, k=2)[0][:, 1]
    margin = 20.0
    inside = (xy[:, 0] > margin) & (xy[:, 0] < SHAPE[1] - margin) & (xy[:, 1] > margin) & (xy[:, 1] < SHAPE[0] - margin)
    keep = inside & (nearest > 6 * sim.truth.fwhm_px) & (np.asarray(stars["snr"]) > 300)
    sources = QTable({"x": xy[keep, 0], "y": xy[keep, 1]})
    true_flux = np.asarray(stars["flux"])[keep]
    assert keep.sum() >= 40
    chi = {}
    for flat_noise in (0.0, masters.info["flat_noise"]):
        phot = aperture_photometry(sub, sources, fwhm_px=sim.truth.fwhm_px, rms=rms, gain=inst.gain,
                                   flat_noise=flat_noise, config=ApertureConfig())
        flux, err = np.asarray(phot["flux"]), np.asarray(phot["flux_err"])
        chi[flat_noise] = _robust_sigma((flux - true_flux) / err)
        assert phot.meta["flat_noise"] == flat_noise
    without, with_flat = chi.values()
    assert without > 1.25  # photon noise alone does not describe bright stars through a noisy flat
    assert 0.85 < with_flat < 1.15
