"""Circular-aperture photometry with a clipped local background and aperture correction."""

from __future__ import annotations

import numpy as np
import sep
from astropy.table import QTable
from scipy.spatial import cKDTree

from rpf.config import ApertureConfig
from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.photometry.growth import ApertureCorrection, measure_aperture_correction

__all__ = ["aperture_photometry", "local_background"]

_APCOR_MIN_SNR = 50.0
_APCOR_MAX_STARS = 500
_APCOR_FALLBACK_SNR = 10.0
_APCOR_MIN_STARS = 3
_CHUNK_PIXELS = 500_000
_CLIP_ITERATIONS = 5
_APERTURE_BITS = (SourceFlag.SATURATED, SourceFlag.COSMIC_RAY, SourceFlag.BAD_PIXEL)


def aperture_photometry(
    data_sub: np.ndarray,
    sources: QTable,
    *,
    fwhm_px: float,
    rms: np.ndarray | float,
    gain: float,
    mask: np.ndarray | None = None,
    config: ApertureConfig,
) -> QTable:
    """Measure every source in circular apertures of ``config.radii_fwhm`` x FWHM.

    Each aperture sum (exact pixel overlap) has a local background removed:
    the sigma-clipped mean of the annulus ``config.annulus_fwhm`` x FWHM.
    The errors combine the sky noise map (which contains the read noise),
    the Poisson noise of the source (``gain``), the uncertainty of the
    annulus mean and that of the aperture correction.  With ``config.aperture_correction`` every flux is
    multiplied by the curve-of-growth correction measured on bright,
    isolated, unflagged stars, so that it estimates the total flux.

    Parameters
    ----------
    data_sub : numpy.ndarray
        Background-subtracted, cosmic-ray-cleaned 2-D image (ADU).
    sources : astropy.table.QTable
        Detections with ``x``, ``y`` (0-based) and optionally ``flags``;
        not modified.
    fwhm_px : float
        Seeing FWHM in pixels.
    rms : numpy.ndarray or float
        Sky noise per pixel (ADU).
    gain : float
        Gain (e-/ADU) for the Poisson noise of the sources.
    mask : numpy.ndarray or None
        ``uint16`` :class:`~rpf.flags.SourceFlag` pixel bits (``BAD_PIXEL``
        pixels are excluded from the sums; ``SATURATED``, ``COSMIC_RAY`` and
        ``BAD_PIXEL`` in the default aperture flag the source), or booleans
        (all treated as ``BAD_PIXEL``).
    config : ApertureConfig
        Radii, annulus, clipping and aperture-correction switch.

    Returns
    -------
    astropy.table.QTable
        A new table: the input columns plus ``flux_r<k>``, ``flux_err_r<k>``
        for each radius ``k``, ``bkg_local``, ``bkg_local_err``, ``flux``,
        ``flux_err`` (default radius), ``snr``, ``mag_inst``,
        ``mag_inst_err`` and updated ``flags``.  ``meta`` holds
        ``aperture_radii_px``, ``aperture_radii_fwhm``, ``annulus_px``,
        ``aperture_correction`` (``{radius_fwhm: factor}``),
        ``aperture_correction_err`` and ``aperture_correction_n_stars``.

    Raises
    ------
    PhotometryError
        For a non-positive FWHM or gain, or an empty source list.

    Notes
    -----
    The correction uses unflagged stars with SNR > 50 (> 10 when fewer than
    three qualify).  With fewer than three such stars no correction is
    applied: the factors are 1, ``meta['aperture_correction_n_stars']`` is 0
    and ``meta['aperture_correction_applied']`` is ``False``.
    """
    if not fwhm_px > 0 or not gain > 0:
        raise PhotometryError(f"aperture photometry needs FWHM > 0 and gain > 0, got {fwhm_px} and {gain}")
    if len(sources) == 0:
        raise PhotometryError("aperture photometry: no sources")
    image = np.asarray(data_sub)
    if image.ndim != 2:
        raise PhotometryError(f"aperture photometry needs a 2-D image, got shape {image.shape}")
    finite = np.isfinite(image)
    pixel_flags = _pixel_flags(finite, mask)
    bad = (pixel_flags & np.uint16(SourceFlag.BAD_PIXEL)) != 0
    # bad pixels are masked in every sum; only non-finite values need replacing (a copy)
    clean = np.ascontiguousarray(image if finite.all() else np.where(finite, image, 0.0), dtype=np.float32)
    del finite
    noise = np.ascontiguousarray(rms, dtype=np.float32) if np.ndim(rms) else float(rms)
    x = np.asarray(sources["x"], dtype=np.float64)
    y = np.asarray(sources["y"], dtype=np.float64)
    radii = tuple(float(f) * fwhm_px for f in config.radii_fwhm)
    annulus = (config.annulus_fwhm[0] * fwhm_px, config.annulus_fwhm[1] * fwhm_px)
    bkg, bkg_err = local_background(clean, x, y, annulus_px=annulus, bad=bad, clip_sigma=config.annulus_clip_sigma)

    fluxes, errors = [], []
    for radius in radii:
        total, total_err, _ = sep.sum_circle(clean, x, y, radius, err=noise, mask=bad, gain=gain, subpix=0)
        area = np.pi * radius**2
        fluxes.append(total - bkg * area)
        errors.append(np.sqrt(total_err**2 + (area * bkg_err) ** 2))
    default = config.radii_fwhm.index(config.default_radius_fwhm)
    given = sources["flags"] if "flags" in sources.colnames else np.zeros(len(sources))
    flags = np.asarray(given, dtype=np.uint16) | _aperture_flags(
        pixel_flags, x, y, radius=radii[default], edge_radius=max(radii), outer=annulus[1]
    )
    correction = _correction(clean, x, y, bkg, bad, flags, fluxes[default], errors[default], radii, annulus, config)

    table = QTable(sources, copy=True)
    for k, (flux, err) in enumerate(zip(fluxes, errors, strict=True)):
        table[f"flux_r{k}"] = flux * correction.factors[k]
        relative = correction.errors[k] / correction.factors[k]
        table[f"flux_err_r{k}"] = np.hypot(err, relative * flux) * correction.factors[k]
    table["bkg_local"] = bkg
    table["bkg_local_err"] = bkg_err
    table["flux"] = table[f"flux_r{default}"]
    table["flux_err"] = table[f"flux_err_r{default}"]
    _add_magnitudes(table)
    table["flags"] = flags
    table.meta.update(_meta(config, radii, annulus, fwhm_px, correction))
    return table


def local_background(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    annulus_px: tuple[float, float],
    bad: np.ndarray,
    clip_sigma: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sigma-clipped mean per pixel in an annulus around each position, and its standard error.

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

    Returns
    -------
    bkg, bkg_err : numpy.ndarray
        Local level per pixel and the uncertainty of that level (NaN where
        the annulus has fewer than 5 usable pixels).
    """
    inner, outer = annulus_px
    half = int(np.ceil(outer))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    ring = (np.hypot(dx, dy) >= inner) & (np.hypot(dx, dy) <= outer)
    dy, dx = dy[ring], dx[ring]
    ny, nx = image.shape
    cx = np.rint(x).astype(np.int64)
    cy = np.rint(y).astype(np.int64)
    level = np.full(len(x), np.nan)
    error = np.full(len(x), np.nan)
    step = max(1, _CHUNK_PIXELS // dx.size)
    for start in range(0, len(x), step):
        part = slice(start, start + step)
        rows = cy[part, None] + dy[None, :]
        cols = cx[part, None] + dx[None, :]
        inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
        rows, cols = np.clip(rows, 0, ny - 1), np.clip(cols, 0, nx - 1)
        values = np.where(inside & ~bad[rows, cols], image[rows, cols], np.nan)
        level[part], error[part] = _clipped_median_rows(values, clip_sigma)
    return level, error


def _clipped_median_rows(values: np.ndarray, clip_sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise mean after clipping around the median, and its standard error; NaNs are ignored.

    The mean of the clipped values, not their median, is returned: digitised
    data (integer ADU scaled by the flat) bias a median by up to half an ADU.
    Sorting once makes every clipping pass a contiguous window of each row,
    so each pass costs two comparisons and cumulative sums.
    """
    ordered = np.sort(values.astype(np.float64), axis=1)
    n_rows, n_cols = ordered.shape
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
        lower = median - clip_sigma * std
        upper = median + clip_sigma * std
        new_low = (ordered < lower[:, None]).sum(axis=1)
        new_high = np.minimum((ordered <= upper[:, None]).sum(axis=1), valid)
        if np.array_equal(new_low, low) and np.array_equal(new_high, high):
            break
        low, high = new_low, np.maximum(new_high, new_low)
    count = high - low
    mean = (csum[rows, high] - csum[rows, low]) / np.maximum(count, 1)
    std = np.sqrt(np.maximum((csq[rows, high] - csq[rows, low]) / np.maximum(count, 1) - mean**2, 0.0))
    error = std / np.sqrt(np.maximum(count, 1))
    few = count < 5
    mean[few] = np.nan
    error[few] = np.nan
    return mean, error


def _window_median(ordered: np.ndarray, rows: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    last = ordered.shape[1] - 1
    lo = np.clip(low + (high - low - 1) // 2, 0, last)
    hi = np.clip(low + (high - low) // 2, 0, last)
    return 0.5 * (ordered[rows, lo] + ordered[rows, hi])


def _pixel_flags(finite: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Per-pixel flag bits: the mask's (booleans = ``BAD_PIXEL``) plus ``BAD_PIXEL`` where not finite.

    A ``uint16`` mask of an all-finite image is returned as it is (read only here).
    """
    all_finite = bool(finite.all())
    if mask is None:
        flags = np.zeros(finite.shape, dtype=np.uint16)
    elif np.asarray(mask).dtype == bool:
        flags = np.asarray(mask).astype(np.uint16) * np.uint16(SourceFlag.BAD_PIXEL)
    elif all_finite:
        return np.asarray(mask, dtype=np.uint16)
    else:
        flags = np.array(mask, dtype=np.uint16, copy=True)
    if not all_finite:
        flags[~finite] |= np.uint16(SourceFlag.BAD_PIXEL)
    return flags


def _aperture_flags(
    pixel_flags: np.ndarray, x: np.ndarray, y: np.ndarray, *, radius: float, edge_radius: float, outer: float
) -> np.ndarray:
    ny, nx = pixel_flags.shape
    flags = np.zeros(len(x), dtype=np.uint16)
    wanted = np.uint16(sum(_APERTURE_BITS))
    rows, cols = np.nonzero(pixel_flags & wanted)  # flagged pixels are few: no frame-sized map
    if rows.size:
        pairs = cKDTree(np.column_stack([x, y])).sparse_distance_matrix(
            cKDTree(np.column_stack([cols, rows])), radius, output_type="ndarray"
        )
        np.bitwise_or.at(flags, pairs["i"], pixel_flags[rows, cols][pairs["j"]] & wanted)
    off = (x - edge_radius < -0.5) | (y - edge_radius < -0.5) | (x + edge_radius > nx - 0.5)
    off |= y + edge_radius > ny - 0.5
    flags[off] |= np.uint16(SourceFlag.EDGE)
    if len(x) > 1:
        neighbours = cKDTree(np.column_stack([x, y])).query_ball_point(
            np.column_stack([x, y]), outer, return_length=True
        )
        flags[neighbours > 1] |= np.uint16(SourceFlag.CROWDED)
    return flags


def _correction(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    bkg: np.ndarray,
    bad: np.ndarray,
    flags: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    radii: tuple[float, ...],
    annulus: tuple[float, float],
    config: ApertureConfig,
) -> ApertureCorrection:
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux / flux_err
    usable = (flags == 0) & np.isfinite(bkg)
    chosen = np.flatnonzero(usable & (snr > _APCOR_MIN_SNR))
    if chosen.size < _APCOR_MIN_STARS:
        chosen = np.flatnonzero(usable & (snr > _APCOR_FALLBACK_SNR))
    if not config.aperture_correction or chosen.size < _APCOR_MIN_STARS:
        return ApertureCorrection(
            radii_px=radii,
            factors=(1.0,) * len(radii),
            errors=(0.0,) * len(radii),
            n_stars=0,
            reference_radius_px=float(annulus[0]),
            tail_factor=1.0,
            moffat_alpha_px=float("nan"),
            moffat_beta=float("nan"),
        )
    chosen = chosen[np.argsort(snr[chosen])[::-1][:_APCOR_MAX_STARS]]
    return measure_aperture_correction(
        image, x[chosen], y[chosen], bkg_local=bkg[chosen], radii_px=radii, annulus_px=annulus, mask=bad
    )


def _add_magnitudes(table: QTable) -> None:
    flux = np.asarray(table["flux"], dtype=np.float64)
    err = np.asarray(table["flux_err"], dtype=np.float64)
    positive = flux > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        table["snr"] = flux / err
        table["mag_inst"] = np.where(positive, -2.5 * np.log10(np.where(positive, flux, 1.0)), np.nan)
        table["mag_inst_err"] = np.where(positive, 2.5 / np.log(10.0) * err / np.where(positive, flux, 1.0), np.nan)


def _meta(
    config: ApertureConfig,
    radii: tuple[float, ...],
    annulus: tuple[float, float],
    fwhm_px: float,
    correction: ApertureCorrection,
) -> dict:
    return {
        "fwhm_px": float(fwhm_px),
        "aperture_radii_fwhm": [float(r) for r in config.radii_fwhm],
        "aperture_radii_px": [float(r) for r in radii],
        "aperture_default_radius_fwhm": float(config.default_radius_fwhm),
        "annulus_px": [float(a) for a in annulus],
        "aperture_correction": dict(zip(map(float, config.radii_fwhm), correction.factors, strict=True)),
        "aperture_correction_err": dict(zip(map(float, config.radii_fwhm), correction.errors, strict=True)),
        "aperture_correction_n_stars": correction.n_stars,
        "aperture_correction_applied": correction.n_stars > 0,
        "aperture_correction_tail": correction.tail_factor,
    }
