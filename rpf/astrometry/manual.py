"""A WCS from values a user types: centre, pixel scale, rotation, flip."""

from __future__ import annotations

import math

import numpy as np
from astropy.wcs import WCS

from rpf.coords import parse_dec, parse_ra
from rpf.errors import AstrometryError

__all__ = ["manual_wcs"]


def manual_wcs(
    *,
    ra: str | float,
    dec: str | float,
    pixel_scale: float,
    shape: tuple[int, int],
    rotation_deg: float = 0.0,
    flip: bool = False,
) -> WCS:
    """Return a TAN WCS centred on the image from a centre, scale, rotation and flip.

    With ``rotation_deg = 0`` and ``flip = False`` north is +y and east is
    -x.  ``rotation_deg`` turns the sky counter-clockwise on the image;
    ``flip`` mirrors the x axis.  The matrix is
    ``CD = s R(rotation) diag(-1 or +1, 1)``.

    Parameters
    ----------
    ra, dec : str or float
        Centre of the image (degrees or sexagesimal, read by :mod:`rpf.coords`).
    pixel_scale : float
        Arcseconds per pixel.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    rotation_deg : float
        Rotation, degrees.
    flip : bool
        Mirrored image.

    Returns
    -------
    astropy.wcs.WCS

    Raises
    ------
    AstrometryError
        A non-positive pixel scale.
    rpf.errors.ConfigError
        An unreadable or out-of-range angle.
    """
    if not pixel_scale or not math.isfinite(pixel_scale) or pixel_scale <= 0:
        msg = f"pixel scale must be > 0 arcsec/px, got {pixel_scale}"
        raise AstrometryError(msg)
    theta = math.radians(rotation_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    ny, nx = shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [parse_ra(ra), parse_dec(dec)]
    wcs.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    wcs.wcs.cd = pixel_scale / 3600.0 * rot @ np.diag([1.0 if flip else -1.0, 1.0])
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.pixel_shape = (nx, ny)
    return wcs
