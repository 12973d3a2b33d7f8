"""Local sky around each source: a clipped mean of an annulus with the neighbours masked.

In a crowded field the annulus around a star holds other stars and their
wings.  Every detected source masks a disk whose radius grows with its
brightness: out to where its Moffat wing (beta 3, a conservative wide wing)
falls below a fraction of the sky noise, at least ``min_mask_fwhm`` FWHM.
A star's own disk is not masked in its own annulus (its wing there is part
of the aperture correction's model), only where it overlaps another
source's disk.  The remaining pixels are clipped around their median and
averaged: the mean, not the median or the mode, estimates the light of the
unresolved fainter stars that the aperture holds on average (measured on
simulated crowded fields, docs/measurement.md).
"""

from __future__ import annotations

import numpy as np

__all__ = ["local_background", "neighbour_cover", "neighbour_mask_radius"]

_CHUNK_PIXELS = 500_000
_CLIP_ITERATIONS = 5
_MIN_PIXELS = 5
_WING_BETA = 3.0


def neighbour_mask_radius(
    flux: np.ndarray, *, fwhm_px: float, noise: float, fraction: float = 0.5, min_mask_fwhm: float = 1.5
) -> np.ndarray:
    """Radius (pixels) out to which each source's wing exceeds ``fraction`` of the pixel noise.

    Parameters
    ----------
    flux : numpy.ndarray
        Approximate total flux of each source (ADU; non-positive values get the minimum radius).
    fwhm_px : float
        Seeing FWHM in pixels.
    noise : float
        Sky noise per pixel (ADU).
    fraction : float
        Surface brightness, in units of ``noise``, where the disk ends.
    min_mask_fwhm : float
        Smallest radius, in FWHM.

    Returns
    -------
    numpy.ndarray
        Mask radius per source (pixels).
    """
    alpha = fwhm_px / (2.0 * np.sqrt(2.0 ** (1.0 / _WING_BETA) - 1.0))
    peak = np.clip(np.nan_to_num(np.asarray(flux, float)), 0.0, None) * (_WING_BETA - 1.0) / (np.pi * alpha**2)
    ratio = np.maximum(peak / (fraction * max(noise, 1e-12)), 1.0)
    radius = alpha * np.sqrt(ratio ** (1.0 / _WING_BETA) - 1.0)
    return np.maximum(radius, min_mask_fwhm * fwhm_px)


def neighbour_cover(shape: tuple[int, int], x: np.ndarray, y: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Count, per pixel, the source disks (centre ``x, y``, ``radius``) that cover it (``uint16``)."""
    ny, nx = shape
    cover = np.zeros(shape, dtype=np.uint16)
    for xi, yi, ri in zip(np.asarray(x, float), np.asarray(y, float), np.asarray(radius, float), strict=True):
        half = int(np.ceil(ri))
        cx, cy = int(np.rint(xi)), int(np.rint(yi))
        x0, x1 = max(cx - half, 0), min(cx + half + 1, nx)
        y0, y1 = max(cy - half, 0), min(cy + half + 1, ny)
        if x1 <= x0 or y1 <= y0:
            continue
        dx = (np.arange(x0, x1) - xi) ** 2
        dy = (np.arange(y0, y1) - yi) ** 2
        cover[y0:y1, x0:x1] += (dy[:, None] + dx[None, :] <= ri * ri).astype(np.uint16)
    return cover


def local_background(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    annulus_px: tuple[float, float],
    bad: np.ndarray,
    clip_sigma: float,
    cover: np.ndarray | None = None,
    own_radius: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sigma-clipped mean per pixel in an annulus around each position, its standard error and pixel count.

    Parameters
    ----------
    image : numpy.ndarray
        Background-subtracted image.
    x, y : numpy.ndarray
        Centres (0-based pixels).
    annulus_px : tuple of float
        Inner and outer radius (pixels), measured from the nearest pixel centre.
    bad : numpy.ndarray
        Boolean map of pixels to leave out.
    clip_sigma : float
        Clipping limit around the median, in standard deviations.
    cover : numpy.ndarray or None
        :func:`neighbour_cover` of the detected sources: pixels covered by a
        source other than the one measured are left out.
    own_radius : numpy.ndarray or None
        Each position's own disk radius in ``cover`` (needed with ``cover``).

    Returns
    -------
    bkg, bkg_err, n_pixels : numpy.ndarray
        Local level per pixel, the uncertainty of that level (NaN where the
        annulus has fewer than 5 usable pixels) and the pixels used.
    """
    inner, outer = annulus_px
    half = int(np.ceil(outer))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    ring = (np.hypot(dx, dy) >= inner) & (np.hypot(dx, dy) <= outer)
    dy, dx = dy[ring], dx[ring]
    ny, nx = image.shape
    x, y = np.asarray(x, float), np.asarray(y, float)
    cx = np.rint(x).astype(np.int64)
    cy = np.rint(y).astype(np.int64)
    level = np.full(len(x), np.nan)
    error = np.full(len(x), np.nan)
    count = np.zeros(len(x), dtype=np.int64)
    step = max(1, _CHUNK_PIXELS // dx.size)
    for start in range(0, len(x), step):
        part = slice(start, start + step)
        rows = cy[part, None] + dy[None, :]
        cols = cx[part, None] + dx[None, :]
        usable = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
        rows, cols = np.clip(rows, 0, ny - 1), np.clip(cols, 0, nx - 1)
        usable &= ~bad[rows, cols]
        if cover is not None and own_radius is not None:
            own = (cols - x[part, None]) ** 2 + (rows - y[part, None]) ** 2 <= own_radius[part, None] ** 2
            usable &= cover[rows, cols].astype(np.int64) - own == 0
        values = np.where(usable, image[rows, cols], np.nan)
        level[part], error[part], count[part] = _clipped_mean_rows(values, clip_sigma)
    return level, error, count


def _clipped_mean_rows(values: np.ndarray, clip_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise mean after clipping around the median, its standard error and count; NaNs are ignored.

    Sorting once makes every clipping pass a contiguous window of each row,
    so each pass costs two comparisons and cumulative sums.
    """
    ordered = np.sort(values.astype(np.float64), axis=1)
    n_rows = ordered.shape[0]
    valid = np.isfinite(ordered).sum(axis=1)
    filled = np.where(np.isfinite(ordered), ordered, 0.0)
    csum = np.concatenate([np.zeros((n_rows, 1)), np.cumsum(filled, axis=1)], axis=1)
    csq = np.concatenate([np.zeros((n_rows, 1)), np.cumsum(filled**2, axis=1)], axis=1)
    rows = np.arange(n_rows)
    low = np.zeros(n_rows, dtype=np.int64)
    high = valid.copy()
    for _ in range(_CLIP_ITERATIONS):
        count = np.maximum(high - low, 1)
        median = _window_median(ordered, rows, low, high)
        mean = (csum[rows, high] - csum[rows, low]) / count
        std = np.sqrt(np.maximum((csq[rows, high] - csq[rows, low]) / count - mean**2, 0.0))
        new_low = (ordered < (median - clip_sigma * std)[:, None]).sum(axis=1)
        new_high = np.minimum((ordered <= (median + clip_sigma * std)[:, None]).sum(axis=1), valid)
        if np.array_equal(new_low, low) and np.array_equal(new_high, high):
            break
        low, high = new_low, np.maximum(new_high, new_low)
    count = high - low
    mean = (csum[rows, high] - csum[rows, low]) / np.maximum(count, 1)
    std = np.sqrt(np.maximum((csq[rows, high] - csq[rows, low]) / np.maximum(count, 1) - mean**2, 0.0))
    error = std / np.sqrt(np.maximum(count, 1))
    few = count < _MIN_PIXELS
    mean[few] = np.nan
    error[few] = np.nan
    return mean, error, count


def _window_median(ordered: np.ndarray, rows: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    last = ordered.shape[1] - 1
    lo = np.clip(low + (high - low - 1) // 2, 0, last)
    hi = np.clip(low + (high - low) // 2, 0, last)
    return 0.5 * (ordered[rows, lo] + ordered[rows, hi])
