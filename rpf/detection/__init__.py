"""Source detection and seeing estimation."""

from rpf.detection.detect import detect_sources
from rpf.detection.fwhm import FwhmEstimate, estimate_fwhm

__all__ = ["FwhmEstimate", "detect_sources", "estimate_fwhm"]
