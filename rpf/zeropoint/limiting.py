"""Point-source limiting magnitude from the background noise and the PSF.

For a Gaussian PSF of full width ``fwhm`` a PSF-weighted (optimal) flux
measurement has the noise of ``A = pi * fwhm**2 / (2 ln 2)`` background pixels
(the noise-equivalent area, 4 pi sigma**2).  With an aperture of radius ``r``
instead, the noise is that of ``pi r**2`` pixels and the signal is the enclosed
fraction ``1 - exp(-r**2 / (2 sigma**2))`` of the total flux.  The source's own
photon noise is included when the gain is known, so ``flux / noise = nsigma``
is solved exactly.
"""

from __future__ import annotations

import math

from rpf.errors import ZeroPointError

__all__ = ["limiting_flux", "limiting_magnitude"]

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def limiting_flux(
    *,
    fwhm_px: float,
    background_rms: float,
    gain: float | None = None,
    sigma: float = 5.0,
    aperture_radius_px: float | None = None,
) -> float:
    """Return the total flux (ADU) detected at ``sigma`` times its noise.

    Parameters
    ----------
    fwhm_px : float
        PSF full width at half maximum in pixels.
    background_rms : float
        Background noise per pixel in ADU.
    gain : float, optional
        Gain in e-/ADU; adds the source's photon noise when given.
    sigma : float
        Detection significance.
    aperture_radius_px : float, optional
        Aperture photometry of this radius instead of PSF-weighted photometry.

    Raises
    ------
    ZeroPointError
        Non-positive FWHM, RMS, gain, sigma or radius.
    """
    for name, value in (("fwhm_px", fwhm_px), ("background_rms", background_rms), ("sigma", sigma)):
        if not (math.isfinite(value) and value > 0):
            raise ZeroPointError(f"limiting magnitude needs {name} > 0 (got {value})")
    if gain is not None and not gain > 0:
        raise ZeroPointError(f"limiting magnitude needs gain > 0 (got {gain})")
    psf_sigma = fwhm_px * _FWHM_TO_SIGMA
    if aperture_radius_px is None:
        area, fraction = 4.0 * math.pi * psf_sigma**2, 1.0
    elif aperture_radius_px > 0:
        area = math.pi * aperture_radius_px**2
        fraction = 1.0 - math.exp(-(aperture_radius_px**2) / (2.0 * psf_sigma**2))
    else:
        raise ZeroPointError(f"aperture radius must be > 0 (got {aperture_radius_px})")
    background_var = area * background_rms**2
    # Enclosed signal s = fraction * F; solve s**2 = sigma**2 * (background_var + s / gain) for s.
    photon = sigma**2 / gain if gain is not None else 0.0
    signal = (photon + math.sqrt(photon**2 + 4.0 * sigma**2 * background_var)) / 2.0
    return signal / fraction


def limiting_magnitude(
    *,
    fwhm_px: float,
    background_rms: float,
    zero_point: float,
    exptime: float,
    gain: float | None = None,
    sigma: float = 5.0,
    aperture_radius_px: float | None = None,
) -> float:
    """Return the ``sigma``-sigma point-source limiting magnitude.

    ``mag = -2.5 log10(flux / exptime) + zero_point`` with the flux of
    :func:`limiting_flux` (same parameters).

    Raises
    ------
    ZeroPointError
        Invalid inputs (see :func:`limiting_flux`) or ``exptime <= 0``.
    """
    if not exptime > 0:
        raise ZeroPointError(f"limiting magnitude needs exptime > 0 (got {exptime})")
    flux = limiting_flux(
        fwhm_px=fwhm_px, background_rms=background_rms, gain=gain, sigma=sigma, aperture_radius_px=aperture_radius_px
    )
    return -2.5 * math.log10(flux / exptime) + zero_point
