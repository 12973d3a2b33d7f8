"""Which sources are larger than the point-spread function.

After the aperture correction a point source has the same total flux in
every aperture, so the concentration ``F(small) / F(large)`` of the corrected
fluxes is 1 within its noise; a galaxy (or a blend) spreads light beyond the
small aperture and falls below 1.  A source is extended when its
concentration is below 1 by more than ``n_sigma`` times its own noise and
more than the spread of the concentration among bright stars (which holds
the PSF's variation over the field).
"""

from __future__ import annotations

import numpy as np

__all__ = ["extended_sources"]

_MIN_SNR = 10.0
_N_SIGMA = 4.0
_BRIGHT_SNR = 50.0
_MIN_STARS = 5
_FLOOR = 0.02


def extended_sources(
    small: np.ndarray,
    small_err: np.ndarray,
    large: np.ndarray,
    large_err: np.ndarray,
    *,
    clean: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Flag sources whose corrected flux grows from a small to a large aperture more than a star's.

    Parameters
    ----------
    small, small_err : numpy.ndarray
        Aperture-corrected flux (and error) in a small aperture (1 FWHM).
    large, large_err : numpy.ndarray
        The same in a large aperture (2-3 FWHM).
    clean : numpy.ndarray
        Boolean: unflagged sources (the bright ones among them set the stars' spread).

    Returns
    -------
    extended : numpy.ndarray
        Boolean per source.
    concentration : numpy.ndarray
        ``small / large`` (NaN where the large flux is not positive).
    """
    small, large = np.asarray(small, float), np.asarray(large, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        concentration = np.where(large > 0, small / large, np.nan)
        # errors of the two apertures are correlated (same pixels); the small one dominates the noise
        noise = np.abs(concentration) * np.hypot(small_err / small, large_err / large)
        snr = large / large_err
    bright = clean & (snr > _BRIGHT_SNR) & np.isfinite(concentration)
    spread = _FLOOR
    centre = 1.0
    if np.count_nonzero(bright) >= _MIN_STARS:
        centre = float(np.median(concentration[bright]))
        spread = max(_FLOOR, 3.0 * 1.4826 * float(np.median(np.abs(concentration[bright] - centre))))
    deficit = centre - concentration
    extended = (snr > _MIN_SNR) & (deficit > spread) & (deficit > _N_SIGMA * noise)
    return np.nan_to_num(extended, nan=False).astype(bool), concentration
