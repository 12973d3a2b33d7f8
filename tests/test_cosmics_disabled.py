"""With cosmic-ray cleaning off, the next stages still work on the (copied) pixels."""

import numpy as np

from rpf.background import estimate_background
from rpf.config import BackgroundConfig, CosmicsConfig
from rpf.cosmics import clean_cosmic_rays


def test_disabled_cleaning_hands_on_pixels_the_background_can_use():
    rng = np.random.default_rng(3)
    data = rng.normal(100.0, 5.0, (256, 256)).astype(np.float32)
    cr = clean_cosmic_rays(data, gain=1.0, read_noise=5.0, saturation=60000.0, config=CosmicsConfig(enabled=False))
    assert cr.n_pixels == 0 and np.array_equal(cr.clean, data) and cr.clean is not data
    bkg = estimate_background(cr.clean, fwhm_px=3.0, config=BackgroundConfig(box_size=64))
    assert abs(bkg.global_level - 100.0) < 0.5 and abs(bkg.global_rms - 5.0) < 0.3
