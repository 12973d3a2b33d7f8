"""Photometry of detected sources (aperture here; PSF photometry in ``psf*`` modules)."""

from rpf.photometry.aperture import aperture_photometry
from rpf.photometry.growth import ApertureCorrection

__all__ = ["ApertureCorrection", "aperture_photometry"]
