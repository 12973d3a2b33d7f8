"""Forced photometry at given positions: flux, local noise, significance and upper limit.

Convention (see ``docs/transients.md``): the flux in an aperture of radius
``r`` (aperture-corrected to total flux by the factor ``c``) has the
variance ``c**2 * s_bg**2 + c * F / gain``, where ``s_bg`` is the background
noise of the aperture: the local per-pixel noise (clipped standard deviation
of the annulus) times ``sqrt(area)`` -- plus the error of the annulus mean --
times the frame's empty-aperture factor ``k`` (1 for uncorrelated noise,
more on a resampled stack).  The significance is ``snr = F / sigma_F`` with
the measured ``F``.  A target is *detected* when ``snr >= detection_sigma``.
The ``N``-sigma upper limit is the total flux ``F_lim`` whose expected
significance is ``N``: ``F_lim = N * sqrt(c**2 s_bg**2 + c F_lim / gain)``.
With ``N = detection_sigma`` a source of flux ``F_lim`` is detected in half
of the noise realisations.
"""

from __future__ import annotations

import numpy as np
import sep
from astropy.table import QTable
from scipy.spatial import cKDTree

from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.photometry.psf import fit_fluxes
from rpf.photometry.psf_model import PsfModel

__all__ = ["empty_aperture_factor", "forced_photometry", "limit_flux"]

_MASK_BITS = SourceFlag.SATURATED | SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL
_MIN_ANNULUS_PIXELS = 10
_CLIP_ITERATIONS = 5


def limit_flux(background_err: np.ndarray, *, sigma: float, gain: float, correction: float = 1.0) -> np.ndarray:
    """Return the total flux whose expected significance is ``sigma``.

    Solves ``F = sigma * sqrt(c**2 s**2 + c F / gain)`` for ``F``, where
    ``s`` is the background noise of the (uncorrected) aperture sum and
    ``c`` the aperture correction.

    Parameters
    ----------
    background_err : numpy.ndarray
        Background noise ``s`` of the aperture sum (ADU).
    sigma : float
        Significance of the limit.
    gain : float
        Gain (e-/ADU) for the source's photon noise.
    correction : float
        Aperture correction to total flux.
    """
    s = np.asarray(background_err, float)
    photon = sigma**2 * correction / gain
    return 0.5 * (photon + np.sqrt(photon**2 + 4.0 * sigma**2 * correction**2 * s**2))


def _ring(inner: float, outer: float) -> tuple[np.ndarray, np.ndarray]:
    half = int(np.ceil(outer))
    dy, dx = np.mgrid[-half : half + 1, -half : half + 1]
    r = np.hypot(dx, dy)
    keep = (r >= inner) & (r <= outer)
    return dy[keep], dx[keep]


def _annulus_stats(
    image: np.ndarray, bad: np.ndarray, x: np.ndarray, y: np.ndarray, annulus: tuple[float, float], clip: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clipped mean, clipped standard deviation and count of the annulus pixels at each position."""
    dy, dx = _ring(*annulus)
    ny, nx = image.shape
    rows = np.rint(y).astype(np.int64)[:, None] + dy[None, :]
    cols = np.rint(x).astype(np.int64)[:, None] + dx[None, :]
    inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    rows, cols = np.clip(rows, 0, ny - 1), np.clip(cols, 0, nx - 1)
    values = np.where(inside & ~bad[rows, cols], image[rows, cols], np.nan).astype(np.float64)
    for _ in range(_CLIP_ITERATIONS):
        median = np.nanmedian(values, axis=1, keepdims=True) if values.size else values
        std = np.nanstd(values, axis=1, keepdims=True)
        clipped = np.where(np.abs(values - median) <= clip * std, values, np.nan)
        if np.array_equal(np.isnan(clipped), np.isnan(values)):
            break
        values = clipped
    count = np.isfinite(values).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(count[:, None] > 0, values, 0.0), axis=1)
        std = np.nanstd(np.where(count[:, None] > 0, values, 0.0), axis=1, ddof=1)
    few = count < _MIN_ANNULUS_PIXELS
    mean[few], std[few] = np.nan, np.nan
    return mean, std, count


def _aperture(
    image: np.ndarray,
    bad: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    radius: float,
    annulus: tuple[float, float],
    clip: float,
) -> dict[str, np.ndarray]:
    """Background-subtracted aperture sums and their background noise (no source photon noise)."""
    clean = np.ascontiguousarray(np.where(np.isfinite(image), image, 0.0), dtype=np.float32)
    total, _, _ = sep.sum_circle(clean, x, y, radius, mask=bad, subpix=0)
    area = np.pi * radius**2
    level, std, count = _annulus_stats(clean, bad, x, y, annulus, clip)
    background_err = std * np.sqrt(area + area**2 / np.maximum(count, 1))
    return {"sum": total - level * area, "bkg_local": level, "noise_local": std, "background_err": background_err}


def empty_aperture_factor(
    image: np.ndarray,
    *,
    radius_px: float,
    annulus_px: tuple[float, float],
    avoid_xy: np.ndarray,
    avoid_radius_px: float,
    bad: np.ndarray | None = None,
    clip_sigma: float = 3.0,
    n_apertures: int = 400,
    seed: int = 0,
) -> float:
    """Return how much more the background of an aperture varies than its local pixel noise predicts.

    Apertures are placed at random where no source (``avoid_xy``) lies within
    ``avoid_radius_px``; the robust standard deviation of their
    background-subtracted sums divided by the median predicted noise (local
    pixel noise x ``sqrt(area)``) is 1 for independent pixels and more for
    correlated noise (a resampled stack) or faint undetected sources.

    Parameters
    ----------
    image : numpy.ndarray
        Background-subtracted image.
    radius_px : float
        Aperture radius (pixels).
    annulus_px : tuple of float
        Local-background annulus (pixels).
    avoid_xy : numpy.ndarray
        ``(n, 2)`` positions of sources to keep away from.
    avoid_radius_px : float
        Smallest distance from any source.
    bad : numpy.ndarray, optional
        Boolean map of pixels to ignore.
    clip_sigma : float
        Clipping of the annulus pixels.
    n_apertures : int
        Apertures tried.
    seed : int
        Random seed (the result is deterministic).

    Returns
    -------
    float
        The factor, at least 1; 1 when fewer than 50 empty apertures fit.
    """
    image = np.asarray(image)
    bad = np.zeros(image.shape, bool) if bad is None else np.asarray(bad, bool)
    ny, nx = image.shape
    margin = annulus_px[1] + 1
    if nx <= 2 * margin or ny <= 2 * margin:
        return 1.0
    rng = np.random.default_rng(seed)
    x = rng.uniform(margin, nx - 1 - margin, 4 * n_apertures)
    y = rng.uniform(margin, ny - 1 - margin, 4 * n_apertures)
    if len(avoid_xy):
        distance, _ = cKDTree(np.asarray(avoid_xy, float)).query(np.column_stack([x, y]))
        x, y = x[distance > avoid_radius_px][:n_apertures], y[distance > avoid_radius_px][:n_apertures]
    else:
        x, y = x[:n_apertures], y[:n_apertures]
    if x.size < 50:
        return 1.0
    m = _aperture(image, bad, x, y, radius=radius_px, annulus=annulus_px, clip=clip_sigma)
    good = np.isfinite(m["sum"]) & np.isfinite(m["background_err"]) & (m["background_err"] > 0)
    if np.count_nonzero(good) < 50:
        return 1.0
    values = m["sum"][good]
    robust = 1.4826 * np.median(np.abs(values - np.median(values)))
    return float(max(1.0, robust / np.median(m["background_err"][good])))


def _pixel_flags(mask: np.ndarray | None, x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    flags = np.zeros(x.size, np.uint16)
    if mask is None:
        return flags
    ny, nx = mask.shape
    half = int(np.ceil(radius))
    for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
        x0, x1 = max(int(np.floor(xi - half)), 0), min(int(np.ceil(xi + half)) + 1, nx)
        y0, y1 = max(int(np.floor(yi - half)), 0), min(int(np.ceil(yi + half)) + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        gy, gx = np.mgrid[y0:y1, x0:x1]
        inside = np.hypot(gx - xi, gy - yi) <= radius + 0.5
        flags[i] = np.bitwise_or.reduce(mask[y0:y1, x0:x1][inside] & np.uint16(_MASK_BITS), initial=0)
    return flags


def _blend_flags(x: np.ndarray, y: np.ndarray, sources_xy: np.ndarray, *, own: float, reach: float) -> np.ndarray:
    """BLENDED where a detection other than the target itself (within ``own``) lies within ``reach``."""
    flags = np.zeros(x.size, np.uint16)
    if len(sources_xy) == 0:
        return flags
    tree = cKDTree(np.asarray(sources_xy, float))
    for i, neighbours in enumerate(tree.query_ball_point(np.column_stack([x, y]), reach)):
        d = np.hypot(tree.data[neighbours, 0] - x[i], tree.data[neighbours, 1] - y[i]) if neighbours else []
        if np.any(np.asarray(d) > own):
            flags[i] |= np.uint16(SourceFlag.BLENDED)
    return flags


def forced_photometry(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    fwhm_px: float,
    gain: float,
    radius_fwhm: float,
    annulus_fwhm: tuple[float, float],
    aperture_correction: float = 1.0,
    noise_factor: float = 1.0,
    mask: np.ndarray | None = None,
    sources_xy: np.ndarray | None = None,
    psf_model: PsfModel | None = None,
    rms: np.ndarray | float | None = None,
    detection_sigma: float = 3.0,
    limit_sigma: float = 3.0,
    clip_sigma: float = 3.0,
) -> QTable:
    """Measure the flux at fixed positions, detected or not.

    Parameters
    ----------
    image : numpy.ndarray
        Background-subtracted image (ADU).
    x, y : numpy.ndarray
        Positions (0-based pixels); non-finite for a target without position.
    fwhm_px : float
        Seeing FWHM (pixels).
    gain : float
        Gain (e-/ADU).
    radius_fwhm : float
        Aperture radius in FWHM.
    annulus_fwhm : tuple of float
        Local-background annulus in FWHM.
    aperture_correction : float
        Factor from the aperture's flux to total flux (the frame's curve of growth).
    noise_factor : float
        Empty-aperture factor of the frame (:func:`empty_aperture_factor`).
    mask : numpy.ndarray, optional
        ``uint16`` :class:`~rpf.flags.SourceFlag` pixel bits; ``BAD_PIXEL``
        pixels are left out; masked, saturated or cosmic-ray pixels in the
        aperture set those flags.
    sources_xy : numpy.ndarray, optional
        ``(n, 2)`` detections of the frame, for the ``BLENDED`` flag (a
        detection farther than 0.5 FWHM from the target and closer than the
        aperture radius + 1 FWHM).
    psf_model : PsfModel, optional
        The frame's ePSF: adds a PSF fit of the flux at the fixed position.
    rms : numpy.ndarray or float, optional
        Background noise per pixel for the PSF fit (required with ``psf_model``).
    detection_sigma : float
        Significance from which a target counts as detected.
    limit_sigma : float
        Significance of the upper limit.
    clip_sigma : float
        Clipping of the annulus pixels.

    Returns
    -------
    astropy.table.QTable
        One row per position: ``x, y, flux, flux_err`` (total flux, ADU),
        ``bkg_local`` (per pixel), ``noise_local`` (per-pixel noise of the
        annulus), ``snr``, ``detected``, ``flux_limit`` (the
        ``limit_sigma`` upper limit, total flux), ``flags``; with a PSF model
        also ``psf_flux, psf_flux_err, psf_snr``.  ``meta`` holds the
        parameters used.  A position off the image has ``OFF_FRAME`` and NaN
        values; an aperture crossing the edge has ``EDGE``.

    Raises
    ------
    PhotometryError
        Non-positive FWHM, gain or sigma, or a PSF model without ``rms``.
    """
    if not (fwhm_px > 0 and gain > 0 and detection_sigma > 0 and limit_sigma > 0):
        raise PhotometryError(
            f"forced photometry needs FWHM, gain and sigmas > 0 (got {fwhm_px}, {gain}, {detection_sigma}, "
            f"{limit_sigma})"
        )
    if psf_model is not None and rms is None:
        raise PhotometryError("forced PSF photometry needs the background rms")
    image = np.asarray(image)
    x = np.atleast_1d(np.asarray(x, float))
    y = np.atleast_1d(np.asarray(y, float))
    ny, nx = image.shape
    radius = radius_fwhm * fwhm_px
    annulus = (annulus_fwhm[0] * fwhm_px, annulus_fwhm[1] * fwhm_px)
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= (np.asarray(mask) & np.uint16(SourceFlag.BAD_PIXEL)) != 0
    on = np.isfinite(x) & np.isfinite(y) & (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    flags = np.where(on, 0, int(SourceFlag.OFF_FRAME)).astype(np.uint16)
    edge = on & ((x - radius < -0.5) | (y - radius < -0.5) | (x + radius > nx - 0.5) | (y + radius > ny - 0.5))
    flags[edge] |= np.uint16(SourceFlag.EDGE)
    nan = np.full(x.size, np.nan)
    out = {k: nan.copy() for k in ("flux", "flux_err", "bkg_local", "noise_local", "snr", "flux_limit")}
    if on.any():
        xs, ys = x[on], y[on]
        m = _aperture(image, bad, xs, ys, radius=radius, annulus=annulus, clip=clip_sigma)
        s = m["background_err"] * noise_factor
        c = aperture_correction
        flux = m["sum"] * c
        flux_err = np.sqrt(c**2 * s**2 + c * np.maximum(flux, 0.0) / gain)
        out["flux"][on], out["flux_err"][on] = flux, flux_err
        out["bkg_local"][on], out["noise_local"][on] = m["bkg_local"], m["noise_local"]
        with np.errstate(invalid="ignore", divide="ignore"):
            out["snr"][on] = flux / flux_err
        out["flux_limit"][on] = limit_flux(s, sigma=limit_sigma, gain=gain, correction=c)
        flags[on] |= _pixel_flags(mask, xs, ys, radius)
        if sources_xy is not None:
            flags[on] |= _blend_flags(xs, ys, sources_xy, own=0.5 * fwhm_px, reach=radius + fwhm_px)
    table = QTable()
    table["x"], table["y"] = x, y
    for key in ("flux", "flux_err", "bkg_local", "noise_local", "snr"):
        table[key] = out[key]
    table["detected"] = np.nan_to_num(out["snr"], nan=-np.inf) >= detection_sigma
    table["flux_limit"] = out["flux_limit"]
    if psf_model is not None:
        _add_psf(table, image, bad, on, psf_model=psf_model, rms=rms, gain=gain, radius=max(1.5, fwhm_px * 1.5))
        flags[on & ~np.isfinite(np.asarray(table["psf_flux"]))] |= np.uint16(SourceFlag.PSF_FAILED)
    table["flags"] = flags
    table.meta.update(
        radius_px=float(radius), annulus_px=[float(a) for a in annulus], aperture_correction=float(aperture_correction),
        noise_factor=float(noise_factor), detection_sigma=float(detection_sigma), limit_sigma=float(limit_sigma),
    )
    return table


def _add_psf(
    table: QTable, image: np.ndarray, bad: np.ndarray, on: np.ndarray, *, psf_model, rms, gain: float, radius: float
) -> None:
    n = len(table)
    flux, err = np.full(n, np.nan), np.full(n, np.nan)
    if on.any():
        fit = fit_fluxes(
            np.where(bad, 0.0, image).astype(float), np.asarray(table["x"])[on], np.asarray(table["y"])[on],
            psf_model=psf_model, rms=rms, gain=gain, bad=bad, radius=radius,
        )
        flux[on], err[on] = fit.flux, fit.flux_err
    table["psf_flux"], table["psf_flux_err"] = flux, err
    with np.errstate(invalid="ignore", divide="ignore"):
        table["psf_snr"] = flux / err
