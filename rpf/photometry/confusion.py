"""Noise that the sky-noise map does not hold: empty apertures placed between the detected sources.

The sky-noise map is a per-pixel statistic.  An aperture in a crowded field
also holds stars too faint to be detected, whose light comes in lumps the
size of the PSF: the local sky removes their average, not the lumps, so the
aperture sum scatters more than the map says (confusion noise), and more so
the larger the aperture.  Correlated noise (a resampled image) does the
same.  Apertures of each radius are placed at random where no detected
source's disk reaches, their local sky removed as for the sources, and the
robust variance of their sums beyond what the noise map and the local-sky
error explain is that radius's extra variance, added to every source's
flux variance (and so weighed by the best-SNR aperture choice).
"""

from __future__ import annotations

import numpy as np
import sep

from rpf.photometry.sky import local_background

__all__ = ["empty_aperture_variance"]

_MIN_APERTURES = 100


def empty_aperture_variance(
    image: np.ndarray,
    *,
    radii_px: tuple[float, ...],
    cover: np.ndarray,
    bad: np.ndarray,
    noise: np.ndarray | float,
    annulus_px: tuple[float, float],
    clip_sigma: float,
    n_apertures: int = 3000,
    seed: int = 0,
) -> np.ndarray:
    """Variance of empty-aperture sums beyond the noise map's, per radius (ADU², 0 when none is found).

    Parameters
    ----------
    image : numpy.ndarray
        Background-subtracted image (float32, C-contiguous).
    radii_px : tuple of float
        Aperture radii (pixels).
    cover : numpy.ndarray
        :func:`rpf.photometry.sky.neighbour_cover` of the detected sources.
    bad : numpy.ndarray
        Boolean map of pixels to leave out.
    noise : numpy.ndarray or float
        Sky noise per pixel (ADU).
    annulus_px : tuple of float
        Local-background annulus (pixels), as for the sources.
    clip_sigma : float
        Clipping of the annulus, as for the sources.
    n_apertures : int
        Random centres tried (seeded: the same image gives the same answer).
    seed : int
        Seed of the centres.

    Returns
    -------
    numpy.ndarray
        One extra variance per radius; zeros when fewer than 100 empty
        apertures fit in the frame.
    """
    ny, nx = image.shape
    largest = max(radii_px)
    margin = annulus_px[1] + 1.0
    extra = np.zeros(len(radii_px))
    if nx <= 2 * margin or ny <= 2 * margin:
        return extra
    rng = np.random.default_rng(seed)
    x = rng.uniform(margin, nx - 1 - margin, n_apertures)
    y = rng.uniform(margin, ny - 1 - margin, n_apertures)
    taken = np.ascontiguousarray((cover > 0) | bad, dtype=np.float32)
    free = sep.sum_circle(taken, x, y, largest + 1.0, subpix=0)[0] == 0
    x, y = x[free], y[free]
    if x.size < _MIN_APERTURES:
        return extra
    sky, sky_err, _ = local_background(image, x, y, annulus_px=annulus_px, bad=bad, clip_sigma=clip_sigma,
                                       cover=cover, own_radius=np.zeros(x.size))
    good = np.isfinite(sky)
    x, y, sky, sky_err = x[good], y[good], sky[good], sky_err[good]
    if x.size < _MIN_APERTURES:
        return extra
    for k, radius in enumerate(radii_px):
        total, error, _ = sep.sum_circle(image, x, y, radius, err=noise, mask=bad, subpix=0)
        area = np.pi * radius**2
        residual = total - sky * area
        spread = 1.4826 * np.median(np.abs(residual - np.median(residual)))
        expected = np.median(error**2 + (area * sky_err) ** 2)
        extra[k] = max(spread**2 - expected, 0.0)
    return extra
