"""Cosmic-ray detection against the simulator's injected hits."""

import numpy as np
import pytest
from scipy import ndimage

from rpf.background import estimate_background
from rpf.config import BackgroundConfig, CosmicsConfig
from rpf.cosmics import CosmicRays, clean_cosmic_rays
from rpf.errors import PhotometryError
from rpf.simulate import InstrumentModel, simulate_frame

INSTRUMENT = InstrumentModel()


@pytest.fixture(scope="module")
def frame():
    sim = simulate_frame(seed=21, shape=(1024, 1024), n_cosmic_rays=60, instrument=INSTRUMENT)
    data = sim.calibrated()
    bkg = estimate_background(data, fwhm_px=sim.truth.fwhm_px, config=BackgroundConfig())
    result = clean_cosmic_rays(
        data,
        gain=INSTRUMENT.gain,
        read_noise=INSTRUMENT.read_noise,
        saturation=INSTRUMENT.saturation,
        background=bkg,
        config=CosmicsConfig(),
    )
    return data, sim.truth, bkg, result


def test_recovers_injected_hits(frame):
    _, truth, _, result = frame
    assert isinstance(result, CosmicRays)
    labels, n_hits = ndimage.label(truth.cr_mask, structure=np.ones((3, 3)))
    found = ndimage.maximum(result.mask, labels, index=np.arange(1, n_hits + 1))
    assert n_hits >= 50
    assert found.mean() >= 0.9
    assert result.n_pixels == int(result.mask.sum())


def test_cleaned_pixels_are_restored(frame):
    data, truth, bkg, result = frame
    hit = result.mask & truth.cr_mask & ((truth.noise_free - truth.sky) < 3 * np.median(bkg.rms))
    before = np.abs(data - truth.noise_free)[hit]
    after = np.abs(result.clean - truth.noise_free)[hit]
    assert np.median(after) < 3 * np.median(bkg.rms)
    assert np.median(after) < 0.1 * np.median(before)


def test_star_cores_are_not_altered(frame):
    data, truth, bkg, result = frame
    core = (truth.noise_free - truth.sky) > 30 * np.median(bkg.rms)
    real_hit = ndimage.binary_dilation(truth.cr_mask, iterations=2)
    changed = (result.clean != data) & core & ~real_hit
    assert changed.sum() <= 0.002 * core.sum()
    assert not (result.clean != data)[~result.mask].any()


def test_disabled_returns_data_and_empty_mask(frame):
    data = frame[0]
    result = clean_cosmic_rays(data, gain=1.5, read_noise=6.0, saturation=65535.0, config=CosmicsConfig(enabled=False))
    assert result.n_pixels == 0 and not result.mask.any()
    assert np.array_equal(result.clean, data)
    assert not result.clean.flags.writeable


def test_masked_pixels_are_left_alone_and_input_untouched():
    sim = simulate_frame(seed=22, shape=(256, 256), n_cosmic_rays=20)
    data = sim.calibrated()
    before = data.copy()
    mask = sim.truth.cr_mask.astype(np.uint16) * 16
    result = clean_cosmic_rays(data, gain=1.5, read_noise=6.0, saturation=65535.0, mask=mask, config=CosmicsConfig())
    assert np.array_equal(data, before)
    assert not (result.mask & sim.truth.cr_mask).any()
    assert np.array_equal(result.clean[sim.truth.cr_mask], data[sim.truth.cr_mask])


def test_bad_gain():
    with pytest.raises(PhotometryError):
        clean_cosmic_rays(
            np.zeros((32, 32), np.float32), gain=0.0, read_noise=5.0, saturation=1e5, config=CosmicsConfig()
        )
