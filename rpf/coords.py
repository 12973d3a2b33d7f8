"""The one reader of sky coordinates typed by people or written in headers.

Rule (the same for the configuration, the command line, FITS headers, the
astrometry inputs and the catalogue lookups):

- numbers and decimal strings (``187.5``, ``"187.5"``, ``"-5.25"``) are
  degrees, for right ascension as well as declination;
- sexagesimal right ascension strings (``"12 30 00"``, ``"12:30:00"``,
  ``"12h30m00s"``, ``"12h30m"``) are hours, unless they carry an explicit
  degree mark (``"187d30m"``, ``"187°30'"``);
- declination is always degrees (``"-05 30 00"``, ``"+20:30:00"``,
  ``"20d30m"``); a declination written in hours is refused;
- right ascension must lie in [0, 360] degrees (360 is returned as 0) and
  declination in [-90, 90]; anything else, and non-finite or unreadable
  values, raise :class:`rpf.errors.ConfigError` (a ``ValueError``) quoting
  the value.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from typing import TYPE_CHECKING, Any

from rpf.errors import ConfigError

if TYPE_CHECKING:
    from astropy.coordinates import SkyCoord

__all__ = ["parse_dec", "parse_degrees", "parse_position", "parse_ra"]

_HOURS = re.compile(r"\d\s*h", re.IGNORECASE)


def _number(value: Any, what: str) -> float | None:
    """Return ``value`` as a float when it is a number or a decimal string, else None."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} {value!r} is not an angle (a boolean)")
    if isinstance(value, numbers.Real):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        raise ConfigError(f"{what} {value!r} is not an angle (give degrees or a sexagesimal string)")
    if not math.isfinite(number):
        raise ConfigError(f"{what} {value!r} is not a finite angle")
    return number


def _sexagesimal(value: str, what: str, *, hours: bool) -> float:
    text = value.strip()
    if not text:
        raise ConfigError(f"{what} {value!r} is blank")
    from astropy import units as u  # imported here: importing the configuration stays fast
    from astropy.coordinates import Angle

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            angle = Angle(text, unit=u.hourangle if hours else u.deg)
        degrees = float(angle.value) * 15.0 if angle.unit == u.hourangle else float(angle.to_value(u.deg))
    except (ValueError, TypeError, u.UnitsError) as exc:
        raise ConfigError(f"{what} {value!r} is not an angle ({exc})") from exc
    if not math.isfinite(degrees):
        raise ConfigError(f"{what} {value!r} is not a finite angle")
    return degrees


def parse_degrees(value: Any, *, what: str = "angle") -> float:
    """Return an angle in degrees from degrees: a number, a decimal or a sexagesimal string.

    Used for declinations and observatory latitudes and longitudes; no range check.

    Parameters
    ----------
    value : float or str
        ``-5.5``, ``"-5.5"``, ``"-05 30 00"``, ``"-05:30:00"``, ``"-5d30m"``.
    what : str
        Name of the quantity in error messages.

    Raises
    ------
    rpf.errors.ConfigError
        Not an angle, not finite, or written in hours.
    """
    number = _number(value, what)
    if number is not None:
        return number
    if _HOURS.search(value):
        raise ConfigError(f"{what} {value!r} is written in hours; give degrees")
    return _sexagesimal(value, what, hours=False)


def parse_ra(value: Any) -> float:
    """Return a right ascension in degrees, in [0, 360).

    Numbers and decimal strings are degrees; sexagesimal strings are hours
    (``"12 30 00"`` is 187.5) unless marked as degrees (``"187d30m"``).

    Raises
    ------
    rpf.errors.ConfigError
        Not an angle, not finite, or outside [0, 360] degrees (24 hours).
    """
    number = _number(value, "right ascension")
    degrees = number if number is not None else _sexagesimal(value, "right ascension", hours=True)
    if not 0.0 <= degrees <= 360.0:
        raise ConfigError(f"right ascension {value!r} is outside [0, 360] degrees (0-24 h)")
    return degrees % 360.0


def parse_dec(value: Any) -> float:
    """Return a declination in degrees, in [-90, 90] (always degrees, never hours).

    Raises
    ------
    rpf.errors.ConfigError
        Not an angle, not finite, in hours, or outside [-90, 90].
    """
    degrees = parse_degrees(value, what="declination")
    if not -90.0 <= degrees <= 90.0:
        raise ConfigError(f"declination {value!r} is outside [-90, 90] degrees")
    return degrees


def parse_position(ra: Any, dec: Any) -> SkyCoord:
    """Return the ICRS position of a right ascension and a declination read by :func:`parse_ra`/:func:`parse_dec`.

    Examples
    --------
    >>> round(parse_position("12 30 00", "+12 30 00").ra.deg, 6)
    187.5
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    return SkyCoord(parse_ra(ra) * u.deg, parse_dec(dec) * u.deg, frame="icrs")
