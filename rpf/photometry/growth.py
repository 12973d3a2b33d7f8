"""Curve of growth and aperture corrections to total flux.

For bright, isolated, unflagged stars the flux is measured in a grid of
radii out to the inner edge of the local-background annulus, ``R``.  The
mean ratio ``f(r) / f(R)`` gives the correction from every aperture to
``R`` directly from the data.  Each star's ratio is weighted by its own
expected variance (sky and photon noise of the two nested apertures and of
the local background) plus a common intrinsic scatter (pixel phase, flat
field) found from the data, and stars further than three of their own
standard deviations from the mean are left out: an undetected neighbour
inside ``R`` raises ``f(R)`` only, and a bright star so contaminated is
many of its own sigmas off although well inside the population's spread
(a population-wide clip let such stars pull every factor about 1 % high).  The small remaining step from ``R`` to
infinity comes from a circular Moffat curve of growth fitted to the median
curve: the model also accounts for the PSF wing that falls in the
background annulus and is subtracted with the local background.  A Gaussian
PSF is the large-beta limit of the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep
from scipy.optimize import least_squares

from rpf.errors import PhotometryError
from rpf.photometry.phase import phase_corrections

__all__ = ["ApertureCorrection", "measure_aperture_correction", "moffat_enclosed"]

_MIN_STARS = 3
_GRID_POINTS = 16
_BETA_RANGE = (1.2, 25.0)
_CLIP_LOW, _CLIP_HIGH = 2.0, 3.0
_CLIP_ITERATIONS = 10


@dataclass(frozen=True)
class ApertureCorrection:
    """Multiplicative corrections from aperture flux to total flux.

    Attributes
    ----------
    radii_px : tuple of float
        Aperture radii (pixels) the factors apply to.
    factors : tuple of float
        ``total / aperture`` flux for each radius.
    errors : tuple of float
        Standard error of each factor.
    n_stars : int
        Stars used.
    reference_radius_px : float
        Largest measured radius ``R``.
    tail_factor : float
        Model correction from ``R`` to total flux.
    moffat_alpha_px, moffat_beta : float
        Parameters of the fitted curve of growth.
    scatter : tuple of float
        Relative star-to-star scatter of ``f(r) / f(R)`` beyond the expected
        noise, after the pixel-phase correction (a diagnostic of the curve
        of growth: in crowded fields it is mostly neighbours' light between
        ``r`` and ``R``, which is not an error of ``f(r)``); 0 without a
        measured correction.
    """

    radii_px: tuple[float, ...]
    factors: tuple[float, ...]
    errors: tuple[float, ...]
    n_stars: int
    reference_radius_px: float
    tail_factor: float
    moffat_alpha_px: float
    moffat_beta: float
    scatter: tuple[float, ...] = ()


def moffat_enclosed(radius: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Fraction of a circular Moffat profile's flux inside ``radius``.

    Parameters
    ----------
    radius : numpy.ndarray
        Radii in pixels.
    alpha, beta : float
        Moffat core width (pixels) and exponent (> 1).

    Returns
    -------
    numpy.ndarray
        Enclosed fraction, 0 to 1.
    """
    return 1.0 - (1.0 + (np.asarray(radius) / alpha) ** 2) ** (1.0 - beta)


def measure_aperture_correction(
    data_sub: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    bkg_local: np.ndarray,
    radii_px: tuple[float, ...],
    annulus_px: tuple[float, float],
    mask: np.ndarray | None = None,
    noise: np.ndarray | float = 0.0,
    gain: float | None = None,
    bkg_err: np.ndarray | None = None,
    flat_noise: float = 0.0,
) -> ApertureCorrection:
    """Measure aperture corrections on the stars at ``x, y``.

    Parameters
    ----------
    data_sub : numpy.ndarray
        Background-subtracted image (float32, C-contiguous, finite).
    x, y : numpy.ndarray
        Positions (0-based pixels) of bright, isolated, unflagged stars.
    bkg_local : numpy.ndarray
        Local background per pixel of each star (from its annulus).
    radii_px : tuple of float
        Aperture radii (pixels) to correct.
    annulus_px : tuple of float
        Inner and outer radius of the background annulus (pixels).
    mask : numpy.ndarray or None
        Boolean map of pixels to ignore.
    noise : numpy.ndarray or float
        Sky noise per pixel (ADU), for each star's expected ratio error.
    gain : float, optional
        e-/ADU for the stars' photon noise (none without it).
    bkg_err : numpy.ndarray, optional
        Standard error of each star's local background per pixel.
    flat_noise : float
        Relative per-pixel noise of the master flat (on the stars' light).

    Returns
    -------
    ApertureCorrection
        Factors, their errors and the fitted curve of growth.

    Raises
    ------
    PhotometryError
        If fewer than three stars are given or have positive flux.
    """
    if len(x) < _MIN_STARS:
        raise PhotometryError(f"aperture correction needs >= {_MIN_STARS} bright isolated stars, got {len(x)}")
    reference = float(annulus_px[0])
    grid = np.unique(np.concatenate([np.linspace(0.25 * reference, reference, _GRID_POINTS), radii_px]))
    grid = grid[grid <= reference]
    radii_all = np.append(grid, radii_px)
    fluxes, variances = _fluxes(
        data_sub, x, y, bkg_local, radii_all, mask, noise=noise, gain=gain, flat_noise=flat_noise
    )
    ref_flux, ref_var = fluxes[:, grid.size - 1], variances[:, grid.size - 1]
    good = ref_flux > 0
    if good.sum() < _MIN_STARS:
        raise PhotometryError("aperture correction: too few stars with positive flux")
    ratios = fluxes[good] / ref_flux[good, None]
    areas = np.pi * radii_all**2
    sky_err = np.zeros(len(x)) if bkg_err is None else np.nan_to_num(np.asarray(bkg_err, float))
    ratio_var = _ratio_variance(
        ratios, variances[good], ref_var[good], ref_flux[good], areas=areas, ref_area=areas[grid.size - 1],
        bkg_err=sky_err[good],
    )
    curve, _, _ = _weighted_ratio(ratios[:, : grid.size], ratio_var[:, : grid.size])
    alpha, beta = _fit_growth(grid, curve, reference, annulus_px)
    tail = 1.0 / _measured_fraction(reference, alpha, beta, annulus_px)
    # each star's sums at its own pixel phase, brought to the phase average the photometry applies
    phase = phase_corrections(x[good], y[good], radii_px=tuple(radii_all), alpha=alpha, beta=beta)
    ratios = ratios * phase / phase[:, grid.size - 1 : grid.size]
    to_reference, spread, intrinsic = _weighted_ratio(ratios[:, grid.size :], ratio_var[:, grid.size :])
    factors = tail / to_reference
    errors = factors * spread / to_reference
    scatter = np.sqrt(intrinsic) / to_reference
    return ApertureCorrection(
        radii_px=tuple(float(r) for r in radii_px),
        factors=tuple(float(f) for f in factors),
        errors=tuple(float(e) for e in errors),
        n_stars=int(good.sum()),
        reference_radius_px=reference,
        tail_factor=float(tail),
        moffat_alpha_px=float(alpha),
        moffat_beta=float(beta),
        scatter=tuple(float(v) for v in scatter),
    )


def _ratio_variance(
    ratios: np.ndarray,
    variances: np.ndarray,
    ref_var: np.ndarray,
    ref_flux: np.ndarray,
    *,
    areas: np.ndarray,
    ref_area: float,
    bkg_err: np.ndarray,
) -> np.ndarray:
    """Return the expected variance of each ``f(r) / f(R)`` (nested apertures share pixels and the sky)."""
    shared = np.minimum(variances, ref_var[:, None])
    pixels = variances + ratios**2 * ref_var[:, None] - 2.0 * ratios * shared
    sky = ((ratios * ref_area - areas[None, :]) * bkg_err[:, None]) ** 2
    return np.clip(pixels + sky, 0.0, None) / ref_flux[:, None] ** 2


def _weighted_ratio(ratios: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: inverse-variance mean of the ratios clipped in each star's own sigma, its error, the common variance.

    The variance of a star is its expected one plus an intrinsic scatter
    common to all stars.  Contamination only lowers a ratio, so the scatter
    is measured on the high side of the centre (where only noise is) and
    the low side is clipped harder than the high side.
    """
    centre = np.median(ratios, axis=0)
    upper = np.maximum((1.4826 * np.median(np.abs(ratios - centre), axis=0)) ** 2, 1e-30)
    for _ in range(_CLIP_ITERATIONS):
        intrinsic = _intrinsic_variance(ratios - centre, variances, upper=upper)
        total = np.maximum(variances + intrinsic, 1e-30)
        chi = (ratios - centre) / np.sqrt(total)
        w = ((chi >= -_CLIP_LOW) & (chi <= _CLIP_HIGH)) / total
        previous, centre = centre, (w * ratios).sum(axis=0) / w.sum(axis=0)
        if np.allclose(centre, previous, rtol=0.0, atol=1e-7):
            break
    error = np.sqrt((w**2 * (ratios - centre) ** 2).sum(axis=0)) / w.sum(axis=0)
    return centre, error, intrinsic


def _high_side_median(values: np.ndarray, low_side: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per column, the median of ``values`` off ``low_side`` (``count`` of them; 0 for none, NaN when one is NaN)."""
    ordered = np.sort(np.where(low_side, np.inf, values), axis=0)
    columns = np.arange(values.shape[1])
    below, above = ordered[np.maximum(count - 1, 0) // 2, columns], ordered[count // 2 - (count == 0), columns]
    median = (below + above) / 2  # the middle value when the count is odd, exactly
    median[np.isnan(np.where(low_side, 0.0, values)).any(axis=0)] = np.nan
    return np.where(count > 0, median, 0.0)


def _intrinsic_variance(residuals: np.ndarray, variances: np.ndarray, *, upper: np.ndarray) -> np.ndarray:
    """Return, per column, the common variance making the high-side robust spread of the normalised residuals one."""
    low_side = residuals <= 0
    count = (~low_side).sum(axis=0)

    def robust_chi(extra: np.ndarray) -> np.ndarray:
        return 1.4826 * _high_side_median(residuals / np.sqrt(np.maximum(variances + extra, 1e-30)), low_side, count)

    low, high = np.zeros_like(upper), upper.copy()
    for _ in range(30):  # bisection; the robust chi falls as the common variance grows
        mid = 0.5 * (low + high)
        above = robust_chi(mid) > 1.0
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return np.where(robust_chi(np.zeros_like(upper)) <= 1.0, 0.0, high)


def _fluxes(
    data: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    bkg: np.ndarray,
    radii: np.ndarray,
    mask: np.ndarray | None,
    *,
    noise: np.ndarray | float,
    gain: float | None,
    flat_noise: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Background-subtracted sums in each radius and their variances (sky noise map, photons, master flat)."""
    out, var = np.empty((len(x), radii.size)), np.empty((len(x), radii.size))
    squares = np.square(np.clip(data, 0.0, None)) if flat_noise > 0 else None
    for k, radius in enumerate(radii):
        total, error, _ = sep.sum_circle(data, x, y, radius, err=noise, mask=mask, gain=gain, subpix=0)
        out[:, k] = total - bkg * np.pi * radius**2
        var[:, k] = error**2
        if squares is not None:
            var[:, k] += flat_noise**2 * sep.sum_circle(squares, x, y, radius, mask=mask, subpix=0)[0]
    return out, var


def _measured_fraction(
    radius: np.ndarray | float, alpha: float, beta: float, annulus_px: tuple[float, float]
) -> np.ndarray | float:
    """Enclosed fraction minus the wing flux removed with the annulus background."""
    inner, outer = annulus_px
    wing = (moffat_enclosed(outer, alpha, beta) - moffat_enclosed(inner, alpha, beta)) / (outer**2 - inner**2)
    return moffat_enclosed(radius, alpha, beta) - wing * np.asarray(radius) ** 2


def _fit_growth(
    grid: np.ndarray, curve: np.ndarray, reference: float, annulus_px: tuple[float, float]
) -> tuple[float, float]:
    def residual(params: np.ndarray) -> np.ndarray:
        alpha, beta = np.exp(params[0]), 1.0 + np.exp(params[1])
        model = _measured_fraction(grid, alpha, beta, annulus_px) / _measured_fraction(
            reference, alpha, beta, annulus_px
        )
        return model - curve

    half = grid[np.searchsorted(curve, 0.5).clip(0, grid.size - 1)]
    start = np.array([np.log(max(half, 0.3)), np.log(2.0)])
    bounds = ([np.log(0.05), np.log(_BETA_RANGE[0] - 1.0)], [np.log(10.0 * reference), np.log(_BETA_RANGE[1] - 1.0)])
    fit = least_squares(residual, start, bounds=bounds)
    return float(np.exp(fit.x[0])), float(1.0 + np.exp(fit.x[1]))
