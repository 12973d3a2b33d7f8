"""Curve of growth and aperture corrections to total flux.

For bright, isolated, unflagged stars the flux is measured in a grid of
radii out to the inner edge of the local-background annulus, ``R``.  The
mean ratio ``f(r) / f(R)`` (weighted: the brightest stars count most)
gives the correction from every aperture to ``R`` directly from the data.  The small remaining step from ``R`` to
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

__all__ = ["ApertureCorrection", "measure_aperture_correction", "moffat_enclosed"]

_MIN_STARS = 3
_GRID_POINTS = 16
_BETA_RANGE = (1.2, 25.0)
_OUTLIER_SIGMA = 5.0
_WEIGHT_CAP_PERCENTILE = 75.0


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
    """

    radii_px: tuple[float, ...]
    factors: tuple[float, ...]
    errors: tuple[float, ...]
    n_stars: int
    reference_radius_px: float
    tail_factor: float
    moffat_alpha_px: float
    moffat_beta: float


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
    fluxes = _fluxes(data_sub, x, y, bkg_local, np.append(grid, radii_px), mask)
    ref_flux = fluxes[:, grid.size - 1]
    good = ref_flux > 0
    if good.sum() < _MIN_STARS:
        raise PhotometryError("aperture correction: too few stars with positive flux")
    ratios = fluxes[good] / ref_flux[good, None]
    # sky-limited stars: weight f(R)**2; above the sample's upper quartile their own photons and
    # per-star systematics (pixel phase, flat field) limit the ratio, so the weight stops growing
    weights = np.minimum(ref_flux[good], np.percentile(ref_flux[good], _WEIGHT_CAP_PERCENTILE)) ** 2
    curve, _ = _weighted_ratio(ratios[:, : grid.size], weights)
    alpha, beta = _fit_growth(grid, curve, reference, annulus_px)
    tail = 1.0 / _measured_fraction(reference, alpha, beta, annulus_px)
    to_reference, spread = _weighted_ratio(ratios[:, grid.size :], weights)
    factors = tail / to_reference
    errors = factors * spread / to_reference
    return ApertureCorrection(
        radii_px=tuple(float(r) for r in radii_px),
        factors=tuple(float(f) for f in factors),
        errors=tuple(float(e) for e in errors),
        n_stars=int(good.sum()),
        reference_radius_px=reference,
        tail_factor=float(tail),
        moffat_alpha_px=float(alpha),
        moffat_beta=float(beta),
    )


def _weighted_ratio(ratios: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column: weighted mean of the ratios within 5 robust sigma of the median, and its error.

    The noise of ``f(r) / f(R)`` is dominated by the sky in the large
    aperture, the same for every star, so the weight ``f(R)**2`` is the
    inverse variance up to a constant.
    """
    median = np.median(ratios, axis=0)
    spread = 1.4826 * np.median(np.abs(ratios - median), axis=0)
    kept = np.abs(ratios - median) <= _OUTLIER_SIGMA * np.maximum(spread, 1e-6)
    w = weights[:, None] * kept
    total = w.sum(axis=0)
    mean = (w * ratios).sum(axis=0) / total
    error = np.sqrt((w**2 * (ratios - mean) ** 2).sum(axis=0)) / total
    return mean, error


def _fluxes(
    data: np.ndarray, x: np.ndarray, y: np.ndarray, bkg: np.ndarray, radii: np.ndarray, mask: np.ndarray | None
) -> np.ndarray:
    out = np.empty((len(x), radii.size))
    for k, radius in enumerate(radii):
        total, _, _ = sep.sum_circle(data, x, y, radius, mask=mask, subpix=0)
        out[:, k] = total - bkg * np.pi * radius**2
    return out


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
