"""A WCS from values a user types: centre, pixel scale, rotation, flip."""

from __future__ import annotations

import math

import numpy as np
from astropy.coordinates import Angle
from astropy.wcs import WCS

from rpf.errors import AstrometryError

__all__ = ["manual_wcs", "parse_dec", "parse_ra"]


def parse_ra(value: str | float) -> float:
    """Return a right ascension in degrees from degrees or sexagesimal hours (``"10:00:00"``, ``"10h00m"``).

    Raises
    ------
    AstrometryError
        The value is not an angle.
    """
    if isinstance(value, int | float):
        return float(value) % 360.0
    text = str(value).strip()
    try:
        return float(text) % 360.0
    except ValueError:
        pass
    unit = "deg" if "d" in text.lower() or "°" in text else "hourangle"
    try:
        return float(Angle(text, unit=unit).degree) % 360.0
    except ValueError as exc:
        msg = f"cannot read right ascension {value!r}"
        raise AstrometryError(msg) from exc


def parse_dec(value: str | float) -> float:
    """Return a declination in degrees from degrees or sexagesimal (``"+20:30:00"``).

    Raises
    ------
    AstrometryError
        The value is not an angle or is outside [-90, 90].
    """
    try:
        dec = float(value) if isinstance(value, int | float) else float(Angle(str(value).strip(), unit="deg").degree)
    except ValueError as exc:
        msg = f"cannot read declination {value!r}"
        raise AstrometryError(msg) from exc
    if not -90.0 <= dec <= 90.0:
        msg = f"declination {dec} outside [-90, 90]"
        raise AstrometryError(msg)
    return dec


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
        Centre of the image (degrees or sexagesimal).
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
        An unreadable angle or a non-positive pixel scale.
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
