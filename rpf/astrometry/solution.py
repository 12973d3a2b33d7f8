"""The astrometric solution of a frame and helpers to use it."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning

__all__ = ["WcsGeometry", "WcsSolution", "sky_coordinates", "wcs_geometry", "wcs_to_header"]


@dataclass(frozen=True)
class WcsSolution:
    """The outcome of :func:`rpf.astrometry.solve_wcs`.

    Attributes
    ----------
    wcs : astropy.wcs.WCS or None
        The celestial WCS (0-based pixel calls use ``origin=0``), None when unsolved.
    source : str
        ``"header"``, ``"solved"``, ``"manual"`` or ``"none"``.
    rms_arcsec : float or None
        RMS of the matched reference stars around the WCS (arcsec).
    n_matches : int
        Sources matched to the reference catalogue.
    matched_fraction : float or None
        Fraction of the bright sources that found a reference star.
    pixel_scale_arcsec : float or None
        Mean pixel scale (arcsec/pixel).
    center_ra, center_dec : float or None
        Sky position of the image centre (deg).
    rotation_deg : float or None
        Rotation in the convention of :func:`rpf.astrometry.manual_wcs`.
    flipped : bool
        True for a mirrored image (east and north turn the same way as x and y).
    message : str
        What was tried and, on failure, why it failed.
    elapsed_s : float
        Wall time of the astrometry stage.
    method : str
        The algorithm that produced the WCS (``header``, ``triangles``,
        ``astrometry.net-index``, ``astrometry.net-blind``, ``manual``).
    """

    wcs: WCS | None
    source: str
    rms_arcsec: float | None = None
    n_matches: int = 0
    matched_fraction: float | None = None
    pixel_scale_arcsec: float | None = None
    center_ra: float | None = None
    center_dec: float | None = None
    rotation_deg: float | None = None
    flipped: bool = False
    message: str = ""
    elapsed_s: float = 0.0
    method: str = ""


@dataclass(frozen=True)
class WcsGeometry:
    """Centre, scale, rotation and parity of a celestial WCS."""

    center_ra: float
    center_dec: float
    pixel_scale_arcsec: float
    rotation_deg: float
    flipped: bool


def wcs_geometry(wcs: WCS, *, shape: tuple[int, int]) -> WcsGeometry:
    """Return the centre, pixel scale, rotation and parity of ``wcs`` on an image of ``shape``.

    The rotation follows :func:`rpf.astrometry.manual_wcs`: ``CD = s R(rot) diag(p, 1)``
    with ``p = -1`` (east left) for a normal image and ``p = +1`` for a mirrored one.
    """
    ny, nx = shape
    ra, dec = wcs.all_pix2world([(nx - 1) / 2.0], [(ny - 1) / 2.0], 0)
    matrix = np.asarray(wcs.celestial.pixel_scale_matrix, float)
    det = float(np.linalg.det(matrix))
    scale = math.sqrt(abs(det))
    flipped = det > 0
    rot = matrix / scale @ np.diag([1.0 if flipped else -1.0, 1.0])
    rotation = math.degrees(math.atan2(rot[1, 0], rot[0, 0])) % 360.0
    return WcsGeometry(float(ra[0]) % 360.0, float(dec[0]), scale * 3600.0, rotation, flipped)


def wcs_to_header(wcs: WCS) -> fits.Header:
    """Return the FITS header cards of ``wcs`` (SIP distortion included when present)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        header = wcs.to_header(relax=True)
    if wcs.pixel_shape is not None:
        header["IMAGEW"] = (int(wcs.pixel_shape[0]), "image width (pixels)")
        header["IMAGEH"] = (int(wcs.pixel_shape[1]), "image height (pixels)")
    return header


def sky_coordinates(sources: Table, wcs: WCS | None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ra, dec)`` in degrees of the 0-based ``x, y`` of ``sources`` (NaN without a WCS)."""
    x = np.asarray(sources["x"], float)
    y = np.asarray(sources["y"], float)
    if wcs is None:
        nan = np.full(len(x), np.nan)
        return nan, nan.copy()
    ra, dec = wcs.all_pix2world(x, y, 0)
    return np.mod(np.asarray(ra, float), 360.0), np.asarray(dec, float)
