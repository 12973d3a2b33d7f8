"""The best signal-to-noise aperture of each source.

A faint star is limited by the sky: its best aperture is small (about
0.7-0.8 FWHM for Moffat wings), where the star's light per unit area still
beats the sky's.  A bright star is limited by its own photons: a larger
aperture, which needs a smaller (and better known) aperture correction,
does better.  Each source gets the radius of a grid that minimises the
*expected* variance of its aperture-corrected flux, computed from a model
(the flux of a reference aperture, the sky noise in each aperture, the
local-background and aperture-correction errors), not from the measured
scatter of its own apertures, so that the choice does not select on noise.
"""

from __future__ import annotations

import numpy as np

__all__ = ["OPTIMAL_RADII_FWHM", "best_snr_choice"]

OPTIMAL_RADII_FWHM = (0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0)
"""Candidate radii (FWHM) of the best-SNR aperture; larger ones gather more neighbours in crowded fields."""


def best_snr_choice(
    *,
    reference_flux: np.ndarray,
    sums: np.ndarray,
    sum_errors: np.ndarray,
    areas: np.ndarray,
    factors: np.ndarray,
    factor_errors: np.ndarray,
    bkg_err: np.ndarray,
    gain: float,
    candidates: np.ndarray,
) -> np.ndarray:
    """Return, per source, the column (aperture) whose corrected flux has the smallest expected variance.

    Parameters
    ----------
    reference_flux : numpy.ndarray
        Total-flux estimate of each source ``(n,)`` (non-positive: sky-limited).
    sums : numpy.ndarray
        Background-subtracted aperture sums ``(n, k)``.
    sum_errors : numpy.ndarray
        Their ``sep`` errors ``(n, k)`` (sky noise map plus the sums' Poisson noise).
    areas : numpy.ndarray
        Aperture areas ``(k,)`` in pixels.
    factors, factor_errors : numpy.ndarray
        Aperture corrections ``(k,)`` and their standard errors.
    bkg_err : numpy.ndarray
        Standard error of each source's local background per pixel ``(n,)``.
    gain : float
        e-/ADU.
    candidates : numpy.ndarray
        Boolean ``(k,)``: the apertures that may be chosen.

    Returns
    -------
    numpy.ndarray
        Column index per source (an integer array); sources whose variance
        cannot be evaluated get the candidate best for a sky-limited source.
    """
    flux = np.clip(np.nan_to_num(np.asarray(reference_flux, float), nan=0.0), 0.0, None)[:, None]
    sky_var = np.clip(np.asarray(sum_errors, float) ** 2 - np.clip(sums, 0.0, None) / gain, 0.0, None)
    local = (np.asarray(areas, float)[None, :] * np.nan_to_num(np.asarray(bkg_err, float))[:, None]) ** 2
    c, dc = np.asarray(factors, float)[None, :], np.asarray(factor_errors, float)[None, :]
    variance = c * flux / gain + c**2 * (sky_var + local) + (dc / c * flux) ** 2
    variance = np.where(np.asarray(candidates, bool)[None, :], variance, np.inf)
    faint = np.where(candidates, c[0] ** 2 * np.asarray(areas, float), np.inf)
    choice = np.argmin(np.where(np.isfinite(variance), variance, np.inf), axis=1)
    undefined = ~np.isfinite(np.min(variance, axis=1))
    choice[undefined] = int(np.argmin(faint))
    return choice.astype(np.int64)
