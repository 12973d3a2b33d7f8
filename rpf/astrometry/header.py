"""Reading and validating the WCS written in a FITS header."""

from __future__ import annotations

import math
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from rpf.errors import AstrometryError

__all__ = ["MAX_PIXEL_SCALE_ARCSEC", "MIN_PIXEL_SCALE_ARCSEC", "header_wcs", "validate_wcs"]

MIN_PIXEL_SCALE_ARCSEC = 0.01
MAX_PIXEL_SCALE_ARCSEC = 600.0


def validate_wcs(wcs: WCS, *, shape: tuple[int, int]) -> None:
    """Raise :class:`AstrometryError` unless ``wcs`` is a usable celestial WCS for ``shape``.

    Rotated (``CD1_1 = CD2_2 = 0``) and mirrored solutions are valid; a
    singular or non-finite matrix, an absurd pixel scale, a reference point
    off the sphere or corners that do not map to the sky are not.
    """
    if not wcs.has_celestial:
        msg = "no celestial WCS in the header"
        raise AstrometryError(msg)
    try:
        matrix = np.asarray(wcs.celestial.pixel_scale_matrix, float)
    except Exception as exc:  # noqa: BLE001 - wcslib rejects malformed keywords in many ways
        msg = f"header WCS matrix unusable ({exc})"
        raise AstrometryError(msg) from exc
    if not np.all(np.isfinite(matrix)):
        msg = "header WCS matrix has non-finite values"
        raise AstrometryError(msg)
    det = float(np.linalg.det(matrix))
    norm = float(np.max(np.abs(matrix)))
    if norm == 0 or abs(det) < 1e-6 * norm**2:
        msg = "header WCS matrix (CD or PC*CDELT) is singular"
        raise AstrometryError(msg)
    scale = math.sqrt(abs(det)) * 3600.0
    if not MIN_PIXEL_SCALE_ARCSEC <= scale <= MAX_PIXEL_SCALE_ARCSEC:
        msg = f"header WCS pixel scale {scale:.3g} arcsec/px is implausible"
        raise AstrometryError(msg)
    crval = np.asarray(wcs.celestial.wcs.crval, float)
    if not np.all(np.isfinite(crval)) or abs(crval[1]) > 90.0:
        msg = f"header WCS reference point {crval.tolist()} is not on the sky"
        raise AstrometryError(msg)
    ny, nx = shape
    corners_x = np.array([0.0, nx - 1.0, 0.0, nx - 1.0, (nx - 1) / 2.0])
    corners_y = np.array([0.0, 0.0, ny - 1.0, ny - 1.0, (ny - 1) / 2.0])
    try:
        ra, dec = wcs.all_pix2world(corners_x, corners_y, 0)
    except Exception as exc:  # noqa: BLE001 - e.g. a divergent SIP inverse
        msg = f"header WCS cannot map the image to the sky ({exc})"
        raise AstrometryError(msg) from exc
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec))):
        msg = "header WCS does not map the whole image to the sky"
        raise AstrometryError(msg)


def header_wcs(header: fits.Header, *, shape: tuple[int, int]) -> WCS:
    """Return the validated celestial WCS of ``header`` (SIP distortion kept).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The frame header.
    shape : tuple of int
        Image shape ``(ny, nx)``.

    Returns
    -------
    astropy.wcs.WCS
        A 2-axis celestial WCS with ``pixel_shape`` set.

    Raises
    ------
    AstrometryError
        No WCS, or one that fails :func:`validate_wcs`.
    """
    if not any(str(header.get(key, "")).strip() for key in ("CTYPE1", "CTYPE2")):
        msg = "no WCS in the header (no CTYPE1/CTYPE2)"
        raise AstrometryError(msg)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, naxis=2, relax=True, fix=True)
    except Exception as exc:  # noqa: BLE001 - astropy/wcslib raise many types on bad keywords
        msg = f"header WCS unreadable ({exc})"
        raise AstrometryError(msg) from exc
    if wcs.has_celestial:
        wcs = wcs.celestial
    validate_wcs(wcs, shape=shape)
    wcs.pixel_shape = (shape[1], shape[0])
    return wcs
