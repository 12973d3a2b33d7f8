"""Photometry of detected sources (aperture here; PSF photometry in ``psf*`` modules)."""

from rpf.photometry.aperture import aperture_photometry
from rpf.photometry.growth import ApertureCorrection
from rpf.photometry.psf import psf_photometry
from rpf.photometry.psf_build import build_psf
from rpf.photometry.psf_model import PsfModel

__all__ = ["ApertureCorrection", "PsfModel", "aperture_photometry", "build_psf", "psf_photometry"]
