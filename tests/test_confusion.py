"""Confusion noise from empty apertures: zero on white noise, the faint stars' lumps where they are."""

import numpy as np
import pytest
import sep

from rpf.photometry.confusion import empty_aperture_variance
from rpf.photometry.sky import local_background
from rpf.simulate.psf import PsfModel, render_stars

SHAPE, NOISE, FWHM = (1024, 1024), 10.0, 3.0
RADII = (0.7 * FWHM, 1.5 * FWHM, 2.0 * FWHM)
ANNULUS = (4 * FWHM, 6 * FWHM)


@pytest.fixture(scope="module")
def faint_stars():
    """Undetectable stars (each below 2 sigma of a 1.5 FWHM aperture's noise), ~1 per 150 pixels."""
    rng = np.random.default_rng(3)
    n = SHAPE[0] * SHAPE[1] // 150
    image, _ = render_stars(shape=SHAPE, x=rng.uniform(0, SHAPE[1], n), y=rng.uniform(0, SHAPE[0], n),
                            flux=10 ** rng.uniform(1.5, 2.5, n), psf=PsfModel(fwhm_px=FWHM, beta=3.0))
    return image


def _run(image):
    nothing = np.zeros(SHAPE, dtype=np.uint16)
    return empty_aperture_variance(np.ascontiguousarray(image, np.float32), radii_px=RADII, cover=nothing,
                                   bad=np.zeros(SHAPE, bool), noise=NOISE, annulus_px=ANNULUS, clip_sigma=3.0)


def test_white_noise_has_no_extra_variance():
    image = np.random.default_rng(1).normal(0.0, NOISE, SHAPE)
    extra = _run(image)
    area = np.pi * np.asarray(RADII) ** 2
    assert np.all(extra < 0.1 * area * NOISE**2)  # within the robust variance's own noise


def _lump_variance(light):
    """Plain variance of local-sky-subtracted sums of the faint stars alone (noise-free), per radius."""
    rng = np.random.default_rng(5)
    x, y = rng.uniform(30, SHAPE[1] - 30, 3000), rng.uniform(30, SHAPE[0] - 30, 3000)
    light = np.ascontiguousarray(light, np.float32)
    sky, _, _ = local_background(light, x, y, annulus_px=ANNULUS, bad=np.zeros(SHAPE, bool), clip_sigma=3.0)
    return np.array([np.var(sep.sum_circle(light, x, y, r, subpix=0)[0] - sky * np.pi * r**2) for r in RADII])


def test_faint_stars_give_their_lumps_variance(faint_stars):
    noise = np.random.default_rng(2).normal(0.0, NOISE, SHAPE)
    extra = _run(faint_stars + noise)
    truth = _lump_variance(faint_stars)
    # a robust (MAD) variance, like the robust chi it serves: most of the lumps' plain variance, not their rare
    # bright tail (at 0.7 FWHM the lumps are mostly empty apertures: a quarter)
    assert np.all(extra > 0.2 * truth) and np.all(extra < 1.1 * truth), (extra, truth)
    assert extra[2] > extra[1] > extra[0] > 0  # larger apertures hold more lumps
    brighter = _run(2.0 * faint_stars + noise)
    assert np.all((brighter[1:] / extra[1:] > 2.5) & (brighter[1:] / extra[1:] < 4.5))  # variance as flux squared
