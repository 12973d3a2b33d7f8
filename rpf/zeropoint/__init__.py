"""Photometric calibration: calibrators, zero point, colour and extinction terms, limiting magnitude."""

from rpf.zeropoint.apply import apply_zero_point, psf_to_aperture_ratio
from rpf.zeropoint.bands import BandChoice, band_matches_filter, choose_band
from rpf.zeropoint.fit import ExtinctionFit, ZeroPointFit, calibration_offset, fit_extinction, fit_zero_point
from rpf.zeropoint.limiting import limiting_flux, limiting_magnitude
from rpf.zeropoint.plot import plot_zero_point
from rpf.zeropoint.select import REJECT_FLAGS, select_calibrators

__all__ = [
    "REJECT_FLAGS",
    "BandChoice",
    "ExtinctionFit",
    "ZeroPointFit",
    "apply_zero_point",
    "band_matches_filter",
    "calibration_offset",
    "choose_band",
    "fit_extinction",
    "fit_zero_point",
    "limiting_flux",
    "limiting_magnitude",
    "plot_zero_point",
    "psf_to_aperture_ratio",
    "select_calibrators",
]
