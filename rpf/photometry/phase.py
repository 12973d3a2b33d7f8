"""How much of a star a circular aperture on pixels holds, as a function of where in its pixel the star falls.

A small aperture (about one FWHM) on a sharp star sums pixels whose values
are integrals of the PSF over their area: the same star centred on a pixel
corner or on a pixel centre gives sums that differ by up to a few tenths of
a percent at one FWHM for a 2.5 pixel FWHM (more at smaller radii).  The
aperture correction is measured on stars at every phase, so it holds on
average, and each star is off by its own phase: a per-star error that grows
with the star's flux and dominates bright stars' photon noise.

From the curve-of-growth's Moffat model, a star is rendered (integrated over
pixels) on a grid of sub-pixel phases, each aperture summed with the same
exact-overlap geometry as the photometry, and each star's flux is scaled by
the phase-averaged sum over the sum at its own phase (bilinear in the
phase).  The model's own limits (a real PSF is not exactly a circular
Moffat) leave a small part of the effect.
"""

from __future__ import annotations

import numpy as np
import sep

__all__ = ["phase_corrections"]

_STEPS = 6
_OVERSAMPLE = 8


def _rendered(alpha: float, beta: float, half: int, dx: float, dy: float) -> np.ndarray:
    """Render a unit Moffat at ``(half + dx, half + dy)``, integrated over each pixel (mean of sub-pixel samples)."""
    size = 2 * half + 1
    sub = (np.arange(size * _OVERSAMPLE) + 0.5) / _OVERSAMPLE - 0.5
    ry = (sub - half - dy) ** 2
    rx = (sub - half - dx) ** 2
    surface = (1.0 + (ry[:, None] + rx[None, :]) / alpha**2) ** (-beta)
    pixels = surface.reshape(size, _OVERSAMPLE, size, _OVERSAMPLE).mean(axis=(1, 3))
    return np.ascontiguousarray(pixels, dtype=np.float32)


def phase_corrections(
    x: np.ndarray, y: np.ndarray, *, radii_px: tuple[float, ...], alpha: float, beta: float
) -> np.ndarray:
    """Per source and radius: the phase-averaged aperture sum over the sum at the source's own phase.

    Parameters
    ----------
    x, y : numpy.ndarray
        Source positions (0-based pixels, pixel centres on integers).
    radii_px : tuple of float
        Aperture radii (pixels).
    alpha, beta : float
        Moffat core width (pixels) and exponent of the curve of growth.

    Returns
    -------
    numpy.ndarray
        ``(n, k)`` multiplicative corrections (1 where the model is not usable).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not (np.isfinite(alpha) and np.isfinite(beta) and alpha > 0 and beta > 1):
        return np.ones((x.size, len(radii_px)))
    half = int(np.ceil(max(radii_px))) + 2
    phases = np.linspace(0.0, 0.5, _STEPS)
    table = np.empty((_STEPS, _STEPS, len(radii_px)))
    for i, dy in enumerate(phases):
        for j, dx in enumerate(phases[: i + 1]):
            image = _rendered(alpha, beta, half, dx, dy)
            for k, radius in enumerate(radii_px):
                table[i, j, k] = table[j, i, k] = sep.sum_circle(
                    image, [half + dx], [half + dy], radius, subpix=0
                )[0][0]
    weights = np.full(_STEPS, 1.0)
    weights[[0, -1]] = 0.5  # trapezoid: the mean over the square of phases
    mean = np.einsum("i,j,ijk->k", weights, weights, table) / weights.sum() ** 2
    fy = np.abs(y - np.rint(y)) * (_STEPS - 1) / 0.5
    fx = np.abs(x - np.rint(x)) * (_STEPS - 1) / 0.5
    iy, ix = np.minimum(fy.astype(int), _STEPS - 2), np.minimum(fx.astype(int), _STEPS - 2)
    wy, wx = (fy - iy)[:, None], (fx - ix)[:, None]
    at_phase = (
        table[iy, ix] * (1 - wy) * (1 - wx) + table[iy + 1, ix] * wy * (1 - wx)
        + table[iy, ix + 1] * (1 - wy) * wx + table[iy + 1, ix + 1] * wy * wx
    )
    return mean[None, :] / at_phase
