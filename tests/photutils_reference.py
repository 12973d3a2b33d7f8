"""The issue's independent reference: plain photutils at the true positions (1.5 FWHM, median of a 6-9 FWHM annulus).

The aperture correction is the exact one of the true PSF for this
measurement (a noise-free star rendered alone, its own wing in the annulus
median included), so the reference measures total flux.
"""

from __future__ import annotations

import numpy as np
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry

from rpf.simulate.psf import PsfModel, render_stars

RADIUS_FWHM, ANNULUS_FWHM = 1.5, (6.0, 9.0)


def enclosed_after_sky(psf: PsfModel, radius: float, annulus: tuple[float, float]) -> float:
    """Fraction of a lone star's flux the aperture keeps after the annulus median (mean of three pixel phases)."""
    fractions = []
    for phase in (0.0, 0.25, 0.5):
        size = 2 * int(annulus[1] + 8) + 1
        centre = size // 2 + phase
        image, _ = render_stars(shape=(size, size), x=[centre], y=[centre], flux=[1.0], psf=psf, tol_fraction=1e-9,
                                tol_adu=1e-12)
        kept = aperture_photometry(image, CircularAperture((centre, centre), radius))["aperture_sum"][0]
        fractions.append(kept - ApertureStats(image, CircularAnnulus((centre, centre), *annulus)).median
                         * np.pi * radius**2)
    return float(np.mean(fractions))


def photutils_total_flux(image: np.ndarray, x: np.ndarray, y: np.ndarray, *, psf: PsfModel) -> tuple:
    """Total flux at ``x, y`` (sky NOT subtracted from ``image``) and the annulus medians used as sky."""
    radius = RADIUS_FWHM * psf.fwhm_px
    annulus = (ANNULUS_FWHM[0] * psf.fwhm_px, ANNULUS_FWHM[1] * psf.fwhm_px)
    positions = np.column_stack([x, y])
    sums = aperture_photometry(image, CircularAperture(positions, radius))["aperture_sum"].value
    sky = ApertureStats(image, CircularAnnulus(positions, *annulus)).median
    return (sums - sky * np.pi * radius**2) / enclosed_after_sky(psf, radius, annulus), sky
