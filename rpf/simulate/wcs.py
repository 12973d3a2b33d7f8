"""The simulated TAN world coordinate system and pointing helpers."""

from __future__ import annotations

import numpy as np
from astropy.coordinates import Angle
from astropy.wcs import WCS

__all__ = ["focal_length_mm", "make_tan_wcs", "offset_pointing", "sexagesimal"]

_ARCSEC_PER_RAD = 206264.80624709636


def make_tan_wcs(
    *,
    center: tuple[float, float],
    shape: tuple[int, int],
    pixel_scale: float,
    rotation_deg: float = 0.0,
    flip: bool = False,
) -> WCS:
    """Return a gnomonic (TAN) WCS with its reference point at the image centre.

    With ``rotation_deg = 0`` and ``flip = False`` north is up (+y) and east
    is left (-x), as on the sky.  ``rotation_deg`` turns the sky
    counter-clockwise on the image (the position angle of +y, east of north,
    is ``-rotation_deg``); ``flip`` mirrors the x axis (east right).

    Parameters
    ----------
    center : tuple of float
        (ra, dec) of the image centre, degrees.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    pixel_scale : float
        Arcseconds per pixel.
    rotation_deg : float
        Rotation of the sky on the image, degrees.
    flip : bool
        Mirror the x axis.

    Returns
    -------
    astropy.wcs.WCS
        A celestial WCS with a ``CD`` matrix.
    """
    ny, nx = shape
    theta = np.radians(rotation_deg)
    scale = pixel_scale / 3600.0
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    parity = np.diag([1.0 if flip else -1.0, 1.0])
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [float(center[0]) % 360.0, float(center[1])]
    wcs.wcs.crpix = [(nx + 1) / 2.0, (ny + 1) / 2.0]
    wcs.wcs.cd = scale * (rot @ parity)
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.equinox = 2000.0
    wcs.pixel_shape = (nx, ny)
    return wcs


def offset_pointing(
    center: tuple[float, float], *, offset_arcmin: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Return ``center`` moved by ``offset_arcmin`` in a random direction."""
    if offset_arcmin == 0:
        return float(center[0]), float(center[1])
    pa = rng.uniform(0.0, 2 * np.pi)
    rho = np.radians(offset_arcmin / 60.0)
    d0, a0 = np.radians(center[1]), np.radians(center[0])
    sin_d = np.sin(d0) * np.cos(rho) + np.cos(d0) * np.sin(rho) * np.cos(pa)
    dec = np.arcsin(np.clip(sin_d, -1.0, 1.0))
    dra = np.arctan2(np.sin(pa) * np.sin(rho) * np.cos(d0), np.cos(rho) - np.sin(d0) * sin_d)
    return float(np.degrees(a0 + dra) % 360.0), float(np.degrees(dec))


def focal_length_mm(*, pixel_size_um: float, pixel_scale: float) -> float:
    """Return the focal length giving ``pixel_scale`` (arcsec/px) for the pixel size."""
    return _ARCSEC_PER_RAD * pixel_size_um * 1e-3 / pixel_scale


def sexagesimal(ra: float, dec: float) -> tuple[str, str]:
    """Return ``("HH MM SS.ss", "+DD MM SS.s")`` for a position in degrees."""
    ra_s = Angle(ra, unit="deg").to_string(unit="hourangle", sep=" ", precision=2, pad=True)
    dec_s = Angle(dec, unit="deg").to_string(unit="deg", sep=" ", precision=1, pad=True, alwayssign=True)
    return ra_s, dec_s
