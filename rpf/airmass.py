"""Airmass of a frame: the header value when sane, else computed with astropy.

The computed value is astropy's ``AltAz.secz`` (no refraction) of the frame
centre at mid-exposure; for exposures longer than ``long_exposure_s`` it is
the time average of ``secz`` over the exposure (trapezoidal rule, a sample at
least every 5 minutes).  The Sun's altitude at
mid-exposure is always reported when a site and time are known.  A frame with
neither a sane header airmass nor a site, time and pointing gets
``airmass=None`` and a message saying why, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_body
from astropy.time import Time
from astropy.utils import iers

from rpf.site import Observatory

__all__ = ["AIRMASS_RANGE", "AirmassResult", "compute_airmass"]

AIRMASS_RANGE = (1.0, 30.0)
"""Header airmass values outside this range are ignored."""


@dataclass(frozen=True)
class AirmassResult:
    """The airmass of a frame and where it came from.

    Attributes
    ----------
    airmass : float or None
        Airmass (``None`` when it cannot be known).
    source : str
        ``"header"``, ``"computed"`` or ``"none"``.
    sun_alt_deg : float or None
        Altitude of the Sun at mid-exposure (degrees), when site and time are known.
    altitude_deg : float or None
        Altitude of the frame centre at mid-exposure, when computed.
    message : str
        What was done, in words (why there is no airmass, header value ignored, ...).
    """

    airmass: float | None
    source: str
    sun_alt_deg: float | None = None
    altitude_deg: float | None = None
    message: str = ""


def _sane(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and AIRMASS_RANGE[0] <= value <= AIRMASS_RANGE[1]


def _altaz(times: Time, location: EarthLocation) -> AltAz:
    return AltAz(obstime=times, location=location)


def compute_airmass(
    *,
    ra: float | None,
    dec: float | None,
    mjd_start: float | None,
    exptime: float,
    site: Observatory | None,
    header_airmass: float | None = None,
    long_exposure_s: float = 300.0,
    n_samples: int = 11,
) -> AirmassResult:
    """Return the frame's airmass, preferring a sane header value.

    Parameters
    ----------
    ra, dec : float or None
        Frame centre (degrees, ICRS).
    mjd_start : float or None
        Start of the exposure (UTC MJD).
    exptime : float
        Exposure time in seconds.
    site : Observatory or None
        Observing site.
    header_airmass : float, optional
        Airmass from the header (AIRMASS/SECZ); used when within 1..30.
    long_exposure_s : float
        Exposures longer than this get the mean airmass over the exposure.
    n_samples : int
        Number of times sampled over a long exposure.

    Returns
    -------
    AirmassResult
        Never raises for missing inputs: ``airmass`` is ``None`` and
        ``message`` says what is missing.
    """
    notes = []
    if header_airmass is not None and not _sane(header_airmass):
        notes.append(f"header airmass {header_airmass} ignored (outside {AIRMASS_RANGE[0]:g}..{AIRMASS_RANGE[1]:g})")
    known_time = site is not None and mjd_start is not None and math.isfinite(mjd_start)
    with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None):
        sun_alt = _sun_altitude(mjd_start + exptime / 2 / 86400.0, site) if known_time else None
        if _sane(header_airmass):
            return AirmassResult(float(header_airmass), "header", sun_alt, None, "airmass from the header")
        missing = [
            name
            for name, ok in (
                ("observatory site", site is not None),
                ("observation time", mjd_start is not None and math.isfinite(mjd_start)),
                ("frame centre", ra is not None and dec is not None),
            )
            if not ok
        ]
        if missing:
            notes.append(f"no airmass: the header has none and the {', '.join(missing)} is unknown")
            return AirmassResult(None, "none", sun_alt, None, "; ".join(notes))
        airmass, alt = _mean_secz(ra, dec, mjd_start, exptime, site, long_exposure_s, n_samples)
    if alt <= 0.0 or not math.isfinite(airmass):
        notes.append(f"no airmass: the frame centre is below the horizon (altitude {alt:.2f} deg) at this site, time")
        return AirmassResult(None, "none", sun_alt, alt, "; ".join(notes))
    how = "mean over the exposure" if exptime > long_exposure_s else "at mid-exposure"
    notes.append(f"airmass computed with astropy AltAz {how} at {site.name}")
    return AirmassResult(airmass, "computed", sun_alt, alt, "; ".join(notes))


def _location(site: Observatory) -> EarthLocation:
    return EarthLocation.from_geodetic(lon=site.lon * u.deg, lat=site.lat * u.deg, height=site.elev * u.m)


def _sun_altitude(mjd: float, site: Observatory) -> float:
    time = Time(mjd, format="mjd", scale="utc")
    sun = get_body("sun", time)
    return float(sun.transform_to(_altaz(time, _location(site))).alt.deg)


def _mean_secz(
    ra: float, dec: float, mjd_start: float, exptime: float, site: Observatory, long_s: float, n_samples: int
) -> tuple[float, float]:
    """Return (airmass, altitude at mid-exposure in degrees)."""
    if exptime > long_s:
        offsets = np.linspace(0.0, exptime, max(n_samples, int(np.ceil(exptime / 300.0)) + 1, 3))
    else:
        offsets = np.array([exptime / 2.0])
    times = Time(mjd_start + offsets / 86400.0, format="mjd", scale="utc")
    target = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs")
    altaz = target.transform_to(_altaz(times, _location(site)))
    alt = altaz.alt.deg
    mid_alt = float(np.interp(exptime / 2.0, offsets, alt)) if offsets.size > 1 else float(alt[0])
    if np.any(alt <= 0):
        return math.nan, mid_alt
    secz = altaz.secz.value
    mean = float(np.trapezoid(secz, offsets) / exptime) if offsets.size > 1 else float(secz[0])
    return mean, mid_alt
