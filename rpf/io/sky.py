"""Observatory site, telescope pointing and pixel scale from a header."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.io import fits

from rpf.config import HeaderDefaults
from rpf.coords import parse_dec, parse_degrees, parse_ra
from rpf.io.keywords import (
    BINNED_PIXEL_KEYS,
    BINNING_KEYS,
    FOCAL_LENGTH_KEYS,
    NAMED_OBSERVATORIES,
    OBSERVATORY_KEYS,
    PIXEL_SCALE_KEYS,
    POINTING_KEYS,
    SENSOR_PIXEL_KEYS,
    SITE_ELEV_KEYS,
    SITE_LAT_KEYS,
    SITE_LON_KEYS,
)
from rpf.io.values import first_valid, parse_float, parse_positive, parse_text

__all__ = ["Site", "read_pixel_scale", "read_pointing", "read_site"]

_ARCSEC_PER_RADIAN_OVER_1000 = 206.264806
_CELESTIAL_CTYPES = ("RA--", "GLON", "ELON", "DEC-", "GLAT", "ELAT")


@dataclass(frozen=True)
class Site:
    """Observatory latitude, east longitude (degrees), elevation (m) and name."""

    lat: float | None
    lon: float | None
    elev: float | None
    observatory: str


def _parse_lat(value: Any) -> float:
    lat = parse_degrees(value, what="latitude")
    if not -90 <= lat <= 90:
        raise ValueError("latitude outside -90..90")
    return lat


def _parse_lon(value: Any) -> float:
    lon = parse_degrees(value, what="longitude")
    if not -360 <= lon <= 360:
        raise ValueError("longitude outside -360..360")
    return lon if -180.0 <= lon < 180.0 else (lon + 180.0) % 360.0 - 180.0


def _geocentric_site(header: fits.Header) -> tuple[float, float, float] | None:
    try:
        xyz = [parse_float(header[k]) for k in ("OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z")]
    except (KeyError, ValueError, TypeError):
        return None
    if math.hypot(*xyz) < 6.0e6:
        return None
    location = EarthLocation.from_geocentric(*xyz, unit=u.m)
    return (float(location.lat.deg), float(location.lon.deg), float(location.height.to_value(u.m)))


def read_site(header: fits.Header, *, defaults: HeaderDefaults, notes: list[str]) -> Site:
    """Return the observatory site: header keywords, OBSGEO-X/Y/Z, a named observatory, or the config.

    Longitudes are east-positive in [-180, 180).  Falling back to the
    configuration, or finding no site at all, appends a note.
    """
    name_found = first_valid(header, OBSERVATORY_KEYS, parse_text, notes=notes)
    observatory = name_found[1] if name_found else defaults.observatory
    lat = first_valid(header, SITE_LAT_KEYS, _parse_lat, notes=notes)
    lon = first_valid(header, SITE_LON_KEYS, _parse_lon, notes=notes)
    elev = first_valid(header, SITE_ELEV_KEYS, parse_float, notes=notes)
    if lat is not None and lon is not None:
        if elev is None:
            notes.append(f"no site elevation keyword: using header.site_elev={defaults.site_elev or 0.0} m")
        height = elev[1] if elev else (defaults.site_elev or 0.0)
        return Site(lat=lat[1], lon=lon[1], elev=height, observatory=observatory)
    geocentric = _geocentric_site(header)
    if geocentric is not None:
        return Site(*geocentric, observatory=observatory)
    named = NAMED_OBSERVATORIES.get(observatory.strip().upper())
    if named is not None:
        return Site(*named, observatory=observatory)
    if defaults.site_lat is not None and defaults.site_lon is not None:
        notes.append(
            f"no site keywords (SITELAT/SITELONG, OBSGEO-*, known OBSERVAT): using configured site "
            f"lat={defaults.site_lat}, lon={defaults.site_lon}"
        )
        return Site(defaults.site_lat, defaults.site_lon, defaults.site_elev, observatory)
    notes.append("no observatory site in header or config: airmass cannot be computed from the pointing")
    return Site(None, None, None, observatory)


def read_pointing(header: fits.Header, *, notes: list[str]) -> tuple[float | None, float | None]:
    """Return the approximate pointing ``(ra, dec)`` in degrees, or ``(None, None)`` with a note.

    Keyword pairs are tried in the order of :data:`rpf.io.keywords.POINTING_KEYS`;
    ``CRVAL1/2`` only when ``CTYPE1`` is a right ascension.  Values are read
    by :mod:`rpf.coords` (numbers are degrees, sexagesimal RA is hours).
    """
    for ra_key, dec_key in POINTING_KEYS:
        if ra_key not in header or dec_key not in header:
            continue
        if ra_key == "CRVAL1" and not str(header.get("CTYPE1", "")).upper().startswith("RA"):
            continue
        try:
            return parse_ra(header[ra_key]), parse_dec(header[dec_key])
        except ValueError as exc:
            notes.append(f"ignored {ra_key}/{dec_key}={header[ra_key]!r}/{header[dec_key]!r}: {exc}")
    notes.append("no pointing in header (RA/DEC, OBJCTRA/OBJCTDEC, TELRA/TELDEC, CRVAL)")
    return None, None


def _wcs_pixel_scale(header: fits.Header) -> float | None:
    ctypes = (str(header.get("CTYPE1", "")).upper(), str(header.get("CTYPE2", "")).upper())
    if not any(c.startswith(_CELESTIAL_CTYPES) for c in ctypes):
        return None
    try:
        if any(k in header for k in ("CD1_1", "CD1_2", "CD2_1", "CD2_2")):
            matrix = np.array([[float(header.get(f"CD{i}_{j}", 0.0)) for j in (1, 2)] for i in (1, 2)])
        elif "CDELT1" in header and "CDELT2" in header:
            pc = np.array([[float(header.get(f"PC{i}_{j}", float(i == j))) for j in (1, 2)] for i in (1, 2)])
            matrix = np.diag([float(header["CDELT1"]), float(header["CDELT2"])]) @ pc
        else:
            return None
    except (TypeError, ValueError):
        return None
    scale = math.sqrt(abs(float(np.linalg.det(matrix)))) * 3600.0
    return scale if math.isfinite(scale) and 1e-4 < scale < 36000 else None


def _optics_pixel_scale(header: fits.Header, notes: list[str]) -> float | None:
    focal = first_valid(header, FOCAL_LENGTH_KEYS, parse_positive, notes=notes)
    if focal is None:
        return None
    binned = first_valid(header, BINNED_PIXEL_KEYS, parse_positive, notes=notes)
    if binned is not None:
        return _ARCSEC_PER_RADIAN_OVER_1000 * binned[1] / focal[1]
    sensor = first_valid(header, SENSOR_PIXEL_KEYS, parse_positive, notes=notes)
    if sensor is None:
        return None
    binning = first_valid(header, BINNING_KEYS, parse_positive, notes=notes)
    return _ARCSEC_PER_RADIAN_OVER_1000 * sensor[1] * (binning[1] if binning else 1.0) / focal[1]


def read_pixel_scale(header: fits.Header, *, defaults: HeaderDefaults, notes: list[str]) -> float | None:
    """Return the pixel scale in arcsec/pixel.

    In order: a celestial WCS (CD or CDELT/PC), XPIXSZ (binned µm) or
    PIXSIZE1 × XBINNING over FOCALLEN (mm), PIXSCALE/SECPIX, then
    ``defaults.pixel_scale`` (noted); ``None`` (noted) when nothing is known.
    """
    for scale in (_wcs_pixel_scale(header), _optics_pixel_scale(header, notes)):
        if scale is not None:
            return scale
    found = first_valid(header, PIXEL_SCALE_KEYS, parse_positive, notes=notes)
    if found is not None:
        return found[1]
    if defaults.pixel_scale is not None:
        notes.append(f"no pixel scale in header (WCS, XPIXSZ+FOCALLEN, PIXSCALE): using header.pixel_scale="
                     f"{defaults.pixel_scale} arcsec/px")
        return defaults.pixel_scale
    notes.append("no pixel scale in header or config: the astrometric solver searches a wide scale range")
    return None
