"""The observing site, airmass and the times at which a field has a given airmass."""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers

from rpf.errors import ConfigError

__all__ = ["DEFAULT_OBSERVATORY", "DEFAULT_SITE", "airmass_at", "times_for_airmass"]

DEFAULT_SITE: tuple[float, float, float] = (43.9308, 5.7133, 650.0)
"""Latitude (deg N), longitude (deg E) and elevation (m) of the Observatoire de Haute-Provence."""
DEFAULT_OBSERVATORY = "Observatoire de Haute-Provence"


def _secz(ra: float, dec: float, times: Time, site: tuple[float, float, float]) -> np.ndarray:
    """Return sec(z) (``inf`` below the horizon) of a position at several times."""
    lat, lon, elev = site
    location = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, elev * u.m)
    with iers.conf.set_temp("auto_download", False):
        altaz = SkyCoord(ra * u.deg, dec * u.deg).transform_to(AltAz(obstime=times, location=location))
    alt = np.atleast_1d(altaz.alt.to_value(u.rad))
    return np.where(alt > 0, 1.0 / np.sin(np.maximum(alt, 1e-9)), np.inf)


def airmass_at(*, ra: float, dec: float, time: str | Time, site: tuple[float, float, float]) -> float:
    """Return the airmass (sec z, no refraction) of a position seen from a site.

    Parameters
    ----------
    ra, dec : float
        Position (degrees, ICRS).
    time : str or astropy.time.Time
        UTC time (ISOT string or Time).
    site : tuple of float
        (latitude deg, longitude deg east, elevation m).

    Returns
    -------
    float
        The airmass.

    Raises
    ------
    rpf.errors.ConfigError
        When the position is below the horizon at that time.
    """
    value = float(_secz(ra, dec, Time(time, scale="utc"), site)[0])
    if not np.isfinite(value):
        msg = f"the field (ra={ra:.4f}, dec={dec:.4f}) is below the horizon at {time} from site {site}"
        raise ConfigError(msg)
    return value


def times_for_airmass(
    *,
    ra: float,
    dec: float,
    airmass: np.ndarray,
    night_start: str,
    site: tuple[float, float, float],
    hours: float = 14.0,
) -> Time:
    """Return times, after the field's transit, at which it has the given airmasses.

    The field is followed from its highest point during the ``hours`` after
    ``night_start`` while it sets, so airmass grows with time.

    Parameters
    ----------
    ra, dec : float
        Position (degrees).
    airmass : numpy.ndarray
        Wanted airmasses.
    night_start : str
        UTC time (ISOT) from which to search.
    site : tuple of float
        (latitude deg, longitude deg east, elevation m).
    hours : float
        Length of the search window.

    Returns
    -------
    astropy.time.Time
        One time per requested airmass.

    Raises
    ------
    rpf.errors.ConfigError
        When the field never gets that low or that high in the window.
    """
    grid = Time(night_start, scale="utc") + np.linspace(0.0, hours, int(hours * 60) + 1) * u.hour
    secz = _secz(ra, dec, grid, site)
    best = int(np.argmin(secz))
    setting = secz[best:]
    stop = np.flatnonzero(~(np.isfinite(setting[1:]) & (setting[1:] > setting[:-1])))
    setting = setting[: stop[0] + 1] if stop.size else setting
    wanted = np.asarray(airmass, dtype=float)
    usable = np.isfinite(setting)
    lo, hi = setting[0], setting[usable].max()
    if wanted.min() < lo - 1e-6 or wanted.max() > hi:
        msg = (
            f"from site {site} the field (ra={ra:.3f}, dec={dec:.3f}) spans airmass {lo:.3f}-{hi:.3f} "
            f"after {night_start}; cannot reach {wanted.min():.3f}-{wanted.max():.3f}"
        )
        raise ConfigError(msg)
    minutes = np.interp(wanted, setting[usable], np.arange(setting.size)[usable]) + best
    return grid[0] + minutes * u.min
