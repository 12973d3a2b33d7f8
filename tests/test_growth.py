"""Aperture corrections from the curve of growth against the exact enclosed flux of the rendered PSF."""

import numpy as np
import pytest
import sep

from rpf.photometry.growth import measure_aperture_correction
from rpf.simulate.psf import PsfModel, render_stars

FWHM = 3.0
PSF = PsfModel(fwhm_px=FWHM, profile="moffat", beta=3.0)
RADII_FWHM = (0.7, 1.0, 1.5, 3.0)
ANNULUS = (4.0 * FWHM, 6.0 * FWHM)
SKY_NOISE, GAIN = 15.0, 1.5


def _exact_factors() -> np.ndarray:
    """Total flux over (aperture sum - annulus mean x area) of a lone noise-free star, averaged over pixel phases."""
    size = 2 * int(ANNULUS[1] + 10) + 1
    yy, xx = np.mgrid[:size, :size]
    measured = []
    for phase in np.linspace(0.0, 0.9, 7):
        c = size // 2 + phase
        image, _ = render_stars(shape=(size, size), x=[c], y=[c * 0.999], flux=[1.0], psf=PSF, tol_fraction=1e-9,
                                tol_adu=1e-12)
        image = image.astype(np.float32)
        r = np.hypot(xx - c, yy - c * 0.999)
        sky = image[(r >= ANNULUS[0]) & (r <= ANNULUS[1])].mean()
        sums = [sep.sum_circle(image, [c], [c * 0.999], f * FWHM, subpix=0)[0][0] for f in RADII_FWHM]
        measured.append([s - sky * np.pi * (f * FWHM) ** 2 for s, f in zip(sums, RADII_FWHM, strict=True)])
    return 1.0 / np.mean(measured, axis=0)


@pytest.fixture(scope="module")
def contaminated_field():
    """Bright isolated stars on sky noise; a third have an undetected neighbour (2-5 % of their flux) at 2-3.5 FWHM."""
    rng = np.random.default_rng(5)
    n, shape = 120, (900, 900)
    grid = np.stack(np.meshgrid(np.arange(12) * 70 + 60.0, np.arange(10) * 85 + 50.0), -1).reshape(-1, 2)[:n]
    x, y = grid[:, 0] + rng.uniform(0, 1, n), grid[:, 1] + rng.uniform(0, 1, n)
    flux = 10 ** rng.uniform(4.0, 6.0, n)
    hit = rng.uniform(size=n) < 1 / 3
    angle, distance = rng.uniform(0, 2 * np.pi, n), rng.uniform(2.0, 3.5, n) * FWHM
    nx, ny = x + distance * np.cos(angle), y + distance * np.sin(angle)
    every_x, every_y = np.concatenate([x, nx[hit]]), np.concatenate([y, ny[hit]])
    every_flux = np.concatenate([flux, flux[hit] * rng.uniform(0.02, 0.05, hit.sum())])
    image, _ = render_stars(shape=shape, x=every_x, y=every_y, flux=every_flux, psf=PSF)
    noisy = rng.poisson(np.clip(image, 0, None) * GAIN) / GAIN + rng.normal(0.0, SKY_NOISE, shape)
    return np.ascontiguousarray(noisy, dtype=np.float32), x, y, flux


def test_undetected_neighbours_do_not_bias_the_correction(contaminated_field):
    image, x, y, _ = contaminated_field
    exact = _exact_factors()
    n_sky = np.pi * (ANNULUS[1] ** 2 - ANNULUS[0] ** 2)
    correction = measure_aperture_correction(
        image, x, y, bkg_local=np.zeros(len(x)), radii_px=tuple(f * FWHM for f in RADII_FWHM), annulus_px=ANNULUS,
        noise=SKY_NOISE, gain=GAIN, bkg_err=np.full(len(x), SKY_NOISE / np.sqrt(n_sky)),
    )
    factors, errors = np.asarray(correction.factors), np.asarray(correction.errors)
    # a neighbour inside R raises f(R) only: a population-wide clip kept them and every factor came out ~1 % high
    assert np.all(np.abs(factors / exact - 1.0) < 0.003), factors / exact
    assert np.all(errors / factors < 0.003)
    assert correction.n_stars == len(x)


def test_correction_without_noise_model_matches_the_exact_one(contaminated_field):
    """Without a noise map (variances unknown) the common scatter alone weights the stars."""
    image, x, y, _ = contaminated_field
    correction = measure_aperture_correction(
        image, x, y, bkg_local=np.zeros(len(x)), radii_px=tuple(f * FWHM for f in RADII_FWHM), annulus_px=ANNULUS
    )
    assert np.all(np.abs(np.asarray(correction.factors) / _exact_factors() - 1.0) < 0.005)


def test_high_side_median_equals_numpy_masked_median():
    """The bisection's median (one sort per step) is numpy.ma.median's, to the bit: odd, even, empty and NaN columns."""
    from rpf.photometry.growth import _high_side_median

    rng = np.random.default_rng(5)
    for trial in range(300):
        n, k = int(rng.integers(1, 60)), int(rng.integers(1, 6))
        values = rng.normal(0.0, 1.0, (n, k))
        low = rng.random((n, k)) < rng.uniform(0.0, 1.0)
        low[:, 0] = trial % 5 == 0  # sometimes a column with nothing on the high side
        if trial % 7 == 0:
            values[rng.integers(0, n), rng.integers(0, k)] = np.nan
        expected = np.ma.median(np.ma.masked_array(values, mask=low), axis=0).filled(0.0)
        got = _high_side_median(values, low, (~low).sum(axis=0))
        np.testing.assert_array_equal(got, expected)
