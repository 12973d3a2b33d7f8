"""Cosmic-ray hits: sharp single pixels, small blobs and short tracks."""

from __future__ import annotations

import numpy as np

__all__ = ["cosmic_ray_image"]


def cosmic_ray_image(
    shape: tuple[int, int],
    *,
    n_hits: int,
    rng: np.random.Generator,
    adu_range: tuple[float, float] = (1500.0, 9000.0),
    max_length_px: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return cosmic-ray charge (ADU) and the mask of the pixels hit.

    Each hit is a straight track of random direction and length up to
    ``max_length_px`` (length 0 is a single pixel); every pixel it crosses
    gets a charge drawn uniformly from ``adu_range``.  Hits are not smoothed
    by the PSF.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    n_hits : int
        Number of cosmic rays.
    rng : numpy.random.Generator
        Random source.
    adu_range : tuple of float
        Range of the charge per hit pixel (ADU).
    max_length_px : float
        Longest track (pixels).

    Returns
    -------
    image : numpy.ndarray
        Float64 charge per pixel (ADU).
    mask : numpy.ndarray
        True where a cosmic ray deposited charge.
    """
    ny, nx = shape
    image = np.zeros(shape)
    if n_hits <= 0:
        return image, np.zeros(shape, dtype=bool)
    x0 = rng.uniform(-0.5, nx - 0.5, n_hits)
    y0 = rng.uniform(-0.5, ny - 0.5, n_hits)
    length = rng.uniform(0.0, max_length_px, n_hits) * (rng.uniform(size=n_hits) > 0.3)
    angle = rng.uniform(0.0, np.pi, n_hits)
    t = np.linspace(0.0, 1.0, 4 * int(np.ceil(max_length_px)) + 1)
    xs = np.round(x0[:, None] + t[None, :] * length[:, None] * np.cos(angle)[:, None]).astype(int)
    ys = np.round(y0[:, None] + t[None, :] * length[:, None] * np.sin(angle)[:, None]).astype(int)
    inside = (xs >= 0) & (xs < nx) & (ys >= 0) & (ys < ny)
    pixels = np.unique(ys[inside] * nx + xs[inside])
    image.flat[pixels] = rng.uniform(adu_range[0], adu_range[1], pixels.size)
    return image, image > 0
