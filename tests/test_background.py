"""Background maps against the simulator's true sky."""

import numpy as np
import pytest

from rpf.background import Background, choose_box_size, estimate_background
from rpf.config import BackgroundConfig
from rpf.errors import PhotometryError
from rpf.simulate import simulate_frame


@pytest.fixture(scope="module")
def frame():
    sim = simulate_frame(seed=11, shape=(1024, 1024), n_cosmic_rays=0)
    data = sim.calibrated()
    truth = sim.truth
    sky_only = (truth.noise_free - truth.sky) < 0.05
    noise = float(np.std((data - truth.noise_free)[sky_only]))
    return data, truth, sky_only, noise


def test_box_size_rule():
    assert choose_box_size((4096, 4096), fwhm_px=3.0) == 48
    assert choose_box_size((4096, 4096), fwhm_px=1.0) == 32
    assert choose_box_size((4096, 4096), fwhm_px=100.0) == 1024
    assert choose_box_size((100, 4096), fwhm_px=3.0) == 25
    assert choose_box_size((4096, 4096)) == 64


def test_sep_background_matches_true_sky(frame):
    data, truth, sky_only, noise = frame
    bkg = estimate_background(data, fwhm_px=truth.fwhm_px, config=BackgroundConfig())
    assert isinstance(bkg, Background)
    assert bkg.level.dtype == np.float32 and bkg.rms.dtype == np.float32
    assert bkg.level.shape == data.shape
    # residual sky after subtraction: the mean bias is a small fraction of the pixel noise
    residual = bkg.level - truth.sky
    assert abs(float(np.mean(residual))) < 0.03 * noise
    # and its box-to-box scatter is that of the estimate from ~box^2 pixels, not more than a few times
    assert float(np.std(residual)) < 4 * noise / bkg.box_size
    # the RMS map is the true pixel noise
    assert np.median(bkg.rms) == pytest.approx(noise, rel=0.03)
    assert bkg.global_level == pytest.approx(truth.sky, abs=0.05 * noise)
    assert bkg.global_rms == pytest.approx(noise, rel=0.05)
    # the background-subtracted image equals the true star image within noise
    subtracted = data - bkg.level
    stars = truth.noise_free - truth.sky
    assert abs(float(np.mean((subtracted - stars)[sky_only]))) < 0.03 * noise


def test_photutils_method_agrees(frame):
    data, truth, _, noise = frame
    cfg = BackgroundConfig(method="photutils", box_size=64)
    bkg = estimate_background(data, config=cfg)
    assert bkg.box_size == 64
    assert abs(float(np.mean(bkg.level - truth.sky))) < 0.05 * noise


def test_mask_is_honoured_and_input_untouched(frame):
    data, truth, _, noise = frame
    spoiled = data.copy()
    spoiled[200:300, 200:300] = 60000.0
    before = spoiled.copy()
    mask = np.zeros(data.shape, np.uint16)
    mask[200:300, 200:300] = 16
    bkg = estimate_background(spoiled, mask=mask, fwhm_px=3.0, config=BackgroundConfig())
    assert np.array_equal(spoiled, before)
    assert abs(float(np.median(bkg.level[200:300, 200:300])) - truth.sky) < 0.2 * noise
    as_bool = estimate_background(spoiled, mask=mask != 0, fwhm_px=3.0, config=BackgroundConfig())
    assert np.array_equal(as_bool.level, bkg.level)


def test_bad_inputs():
    with pytest.raises(PhotometryError):
        estimate_background(np.zeros((3, 4, 5), np.float32), config=BackgroundConfig())
    with pytest.raises(PhotometryError):
        estimate_background(np.full((64, 64), np.nan, np.float32), config=BackgroundConfig())
