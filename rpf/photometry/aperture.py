"""Circular-aperture photometry with a crowding-robust local sky, aperture corrections and a best-SNR flux."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import sep
from astropy.table import QTable
from scipy.spatial import cKDTree

from rpf.config import ApertureConfig
from rpf.errors import PhotometryError
from rpf.flags import UNRELIABLE, SourceFlag
from rpf.photometry.confusion import empty_aperture_variance
from rpf.photometry.extended import extended_sources
from rpf.photometry.growth import ApertureCorrection, measure_aperture_correction
from rpf.photometry.optimal import OPTIMAL_RADII_FWHM, best_snr_choice
from rpf.photometry.phase import phase_corrections
from rpf.photometry.sky import local_background, neighbour_cover, neighbour_mask_radius

__all__ = ["aperture_photometry"]

_APCOR_MIN_SNR = 50.0
_APCOR_MAX_STARS = 500
_APCOR_FALLBACK_SNR = 10.0
_APCOR_MIN_STARS = 3
_CONCENTRATION_FWHM = (1.0, 2.0)
_SHAPE_UNKNOWN = SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL
_APERTURE_BITS = (SourceFlag.SATURATED, SourceFlag.COSMIC_RAY, SourceFlag.BAD_PIXEL)


def aperture_photometry(
    data_sub: np.ndarray,
    sources: QTable,
    *,
    fwhm_px: float,
    rms: np.ndarray | float,
    gain: float,
    mask: np.ndarray | None = None,
    flat_noise: float = 0.0,
    config: ApertureConfig,
) -> QTable:
    """Measure every source in circular apertures of ``config.radii_fwhm`` x FWHM.

    Each aperture sum (exact pixel overlap) has a local background removed:
    the sigma-clipped mean of the annulus ``config.annulus_fwhm`` x FWHM.
    The errors combine the sky noise map (which contains the read noise and
    the master bias and dark noise), the extra variance of empty apertures
    between the sources (confusion noise of undetected stars,
    :mod:`rpf.photometry.confusion`), the Poisson noise of the source
    (``gain``), the master flat's noise on the source's own light
    (``flat_noise``), the uncertainty of the annulus mean and that of the
    aperture correction.  With ``config.aperture_correction`` every flux is
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
    flat_noise : float
        Relative per-pixel noise of the master flat the image was divided by
        (``MasterFrames.info["flat_noise"]``): each pixel's light carries
        that fraction as an error, so a source gains the variance
        ``flat_noise**2 * sum(pixel**2)`` over its aperture.
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
    if not 0.0 <= flat_noise < 1.0:
        raise PhotometryError(f"aperture photometry needs 0 <= flat_noise < 1, got {flat_noise}")
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
    fixed = tuple(float(f) for f in config.radii_fwhm)
    grid = tuple(sorted(set(fixed) | set(OPTIMAL_RADII_FWHM) | set(_CONCENTRATION_FWHM)))
    radii = tuple(f * fwhm_px for f in grid)
    annulus = (config.annulus_fwhm[0] * fwhm_px, config.annulus_fwhm[1] * fwhm_px)
    bkg, bkg_err, cover = _sky(clean, x, y, annulus=annulus, bad=bad, noise=noise, fwhm_px=fwhm_px, config=config)
    confusion = empty_aperture_variance(clean, radii_px=radii, cover=cover, bad=bad, noise=noise, annulus_px=annulus,
                                        clip_sigma=config.annulus_clip_sigma)
    del cover

    sums, errors = np.empty((len(x), len(radii))), np.empty((len(x), len(radii)))
    squares = np.square(np.clip(clean, 0.0, None)) if flat_noise > 0 else None
    for k, radius in enumerate(radii):
        total, total_err, _ = sep.sum_circle(clean, x, y, radius, err=noise, mask=bad, gain=gain, subpix=0)
        area = np.pi * radius**2
        sums[:, k] = total - bkg * area
        errors[:, k] = np.sqrt(total_err**2 + (area * bkg_err) ** 2 + confusion[k])
        if squares is not None:
            light, _, _ = sep.sum_circle(squares, x, y, radius, mask=bad, subpix=0)
            errors[:, k] = np.hypot(errors[:, k], flat_noise * np.sqrt(np.clip(light, 0.0, None)))
    del squares
    default = grid.index(float(config.default_radius_fwhm))
    given = sources["flags"] if "flags" in sources.colnames else np.zeros(len(sources))
    flags = np.asarray(given, dtype=np.uint16) | _aperture_flags(
        pixel_flags, x, y, radius=radii[default], edge_radius=max(radii), outer=annulus[1]
    )
    measured = _Measured(clean, x, y, bkg, bkg_err, bad, noise, gain, flat_noise)
    correction = _correction(measured, flags, sums[:, default], errors[:, default], radii, annulus, config)
    fluxes, flux_errors = _corrected(sums, errors, correction, x, y)
    small, large = grid.index(_CONCENTRATION_FWHM[0]), grid.index(_CONCENTRATION_FWHM[1])
    extended, concentration = extended_sources(
        fluxes[:, small], flux_errors[:, small], fluxes[:, large], flux_errors[:, large],
        clean=(flags & np.uint16(UNRELIABLE)) == 0,
    )
    extended &= (flags & np.uint16(_SHAPE_UNKNOWN)) == 0  # flattened or damaged profiles say nothing of size
    if np.any(extended & (flags == 0)):  # galaxies may have entered the curve of growth: measure it again
        flags = np.where(extended, flags | np.uint16(SourceFlag.EXTENDED), flags).astype(np.uint16)
        correction = _correction(measured, flags, sums[:, default], errors[:, default], radii, annulus, config)
        fluxes, flux_errors = _corrected(sums, errors, correction, x, y)
    flags = np.where(extended, flags | np.uint16(SourceFlag.EXTENDED), flags).astype(np.uint16)
    factors, factor_errors = np.asarray(correction.factors), np.asarray(correction.errors)

    table = QTable(sources, copy=True)
    for k, radius_fwhm in enumerate(fixed):
        table[f"flux_r{k}"] = fluxes[:, grid.index(radius_fwhm)]
        table[f"flux_err_r{k}"] = flux_errors[:, grid.index(radius_fwhm)]
    table["bkg_local"] = bkg
    table["bkg_local_err"] = bkg_err
    table["concentration"] = concentration
    if config.default_flux == "optimal":
        choice = best_snr_choice(
            reference_flux=fluxes[:, default],
            sums=sums,
            sum_errors=errors,
            areas=np.pi * np.asarray(radii) ** 2,
            factors=factors,
            factor_errors=factor_errors,
            bkg_err=bkg_err,
            gain=gain,
            candidates=np.isin(grid, OPTIMAL_RADII_FWHM),
        )
    else:
        choice = np.full(len(x), default)
    rows = np.arange(len(x))
    table["flux"] = fluxes[rows, choice]
    table["flux_err"] = flux_errors[rows, choice]
    table["flux_radius_fwhm"] = np.asarray(grid)[choice]
    _add_magnitudes(table)
    table["flags"] = flags
    meta = _meta(config, tuple(r * fwhm_px for r in fixed), annulus, fwhm_px, correction, grid)
    meta["flat_noise"] = float(flat_noise)
    meta["confusion_variance"] = dict(zip(grid, (float(v) for v in confusion), strict=True))
    table.meta.update(meta)
    return table


def _corrected(
    sums: np.ndarray, errors: np.ndarray, correction: ApertureCorrection, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Phase- and aperture-corrected fluxes and errors (the correction's own error included)."""
    phase = phase_corrections(
        x, y, radii_px=correction.radii_px, alpha=correction.moffat_alpha_px, beta=correction.moffat_beta
    )
    sums, errors = sums * phase, errors * phase
    factors, factor_errors = np.asarray(correction.factors), np.asarray(correction.errors)
    return sums * factors, np.hypot(errors, factor_errors / factors * sums) * factors


def _sky(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    annulus: tuple[float, float],
    bad: np.ndarray,
    noise: np.ndarray | float,
    fwhm_px: float,
    config: ApertureConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local sky with every other detection masked (the plain annulus where too few pixels remain); the cover map."""
    rough, _, _ = sep.sum_circle(image, x, y, 2.0 * fwhm_px, mask=bad, subpix=0)
    level = float(np.nanmedian(noise)) if np.ndim(noise) else float(noise)
    own = neighbour_mask_radius(rough, fwhm_px=fwhm_px, noise=level)
    cover = neighbour_cover(image.shape, x, y, own)
    bkg, bkg_err, _ = local_background(
        image, x, y, annulus_px=annulus, bad=bad, clip_sigma=config.annulus_clip_sigma, cover=cover, own_radius=own
    )
    lost = ~np.isfinite(bkg)
    if lost.any():
        bkg[lost], bkg_err[lost], _ = local_background(
            image, x[lost], y[lost], annulus_px=annulus, bad=bad, clip_sigma=config.annulus_clip_sigma
        )
    return bkg, bkg_err, cover


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


class _Measured(NamedTuple):
    """The pixels, positions and local sky the aperture correction is measured from."""

    image: np.ndarray
    x: np.ndarray
    y: np.ndarray
    bkg: np.ndarray
    bkg_err: np.ndarray
    bad: np.ndarray
    noise: np.ndarray | float
    gain: float
    flat_noise: float


def _correction(
    measured: _Measured,
    flags: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    radii: tuple[float, ...],
    annulus: tuple[float, float],
    config: ApertureConfig,
) -> ApertureCorrection:
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux / flux_err
    usable = (flags == 0) & np.isfinite(measured.bkg)
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
            scatter=(0.0,) * len(radii),
        )
    chosen = chosen[np.argsort(snr[chosen])[::-1][:_APCOR_MAX_STARS]]
    m = measured
    return measure_aperture_correction(
        m.image, m.x[chosen], m.y[chosen], bkg_local=m.bkg[chosen], radii_px=radii, annulus_px=annulus,
        mask=m.bad, noise=m.noise, gain=m.gain, bkg_err=m.bkg_err[chosen], flat_noise=m.flat_noise,
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
    grid: tuple[float, ...],
) -> dict:
    fixed = [grid.index(float(r)) for r in config.radii_fwhm]
    measurement = (
        "optimal_aperture" if config.default_flux == "optimal" else f"aperture_{config.default_radius_fwhm}_fwhm"
    )
    return {
        "flux_measurement": measurement,
        "flux_measurement_radii_fwhm": [float(r) for r in OPTIMAL_RADII_FWHM],
        "fwhm_px": float(fwhm_px),
        "aperture_radii_fwhm": [float(r) for r in config.radii_fwhm],
        "aperture_radii_px": [float(r) for r in radii],
        "aperture_default_radius_fwhm": float(config.default_radius_fwhm),
        "annulus_px": [float(a) for a in annulus],
        "aperture_correction": {float(grid[k]): correction.factors[k] for k in fixed},
        "aperture_correction_err": {float(grid[k]): correction.errors[k] for k in fixed},
        "aperture_correction_all": dict(zip(grid, correction.factors, strict=True)),
        "aperture_correction_all_err": dict(zip(grid, correction.errors, strict=True)),
        "aperture_correction_n_stars": correction.n_stars,
        "aperture_correction_applied": correction.n_stars > 0,
        "aperture_correction_tail": correction.tail_factor,
        "aperture_correction_scatter": dict(zip(grid, correction.scatter, strict=True)),
        "aperture_correction_moffat": [correction.moffat_alpha_px, correction.moffat_beta],
    }
