"""Astrometry: header WCS, verification and refinement, plate solving, manual WCS.

See ``docs/astrometry.md``.
"""

from rpf.astrometry.header import header_wcs, validate_wcs
from rpf.astrometry.manual import manual_wcs
from rpf.astrometry.match import Verification, verify_wcs
from rpf.astrometry.refine import Refinement, fit_wcs, refine_wcs
from rpf.astrometry.solution import WcsGeometry, WcsSolution, sky_coordinates, wcs_geometry, wcs_to_header
from rpf.astrometry.solve import solve_wcs

__all__ = [
    "Refinement",
    "Verification",
    "WcsGeometry",
    "WcsSolution",
    "fit_wcs",
    "header_wcs",
    "manual_wcs",
    "refine_wcs",
    "sky_coordinates",
    "solve_wcs",
    "validate_wcs",
    "verify_wcs",
    "wcs_geometry",
    "wcs_to_header",
]
