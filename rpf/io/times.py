"""Exposure start and middle times from the many header dialects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from astropy.io import fits

from rpf.io.keywords import (
    DATE_AVG_KEYS,
    DATETIME_START_KEYS,
    JD_START_KEYS,
    MJD_AVG_KEYS,
    MJD_START_KEYS,
    TIME_OF_DAY_KEYS,
)
from rpf.io.values import first_valid, parse_float

__all__ = ["ObservationTimes", "mjd_to_isot", "read_times"]

_MJD_EPOCH = datetime(1858, 11, 17)
_JD_MINUS_MJD = 2400000.5
_OLD_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2})$")
_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")


@dataclass(frozen=True)
class ObservationTimes:
    """UTC start (ISO string and MJD) and middle (MJD) of an exposure."""

    date_obs: str | None
    mjd_start: float | None
    mjd_mid: float | None


def _to_mjd(moment: datetime) -> float:
    return (moment - _MJD_EPOCH) / timedelta(days=1)


def mjd_to_isot(mjd: float) -> str:
    """Return the ISO 8601 UTC string (millisecond precision) of an MJD."""
    return (_MJD_EPOCH + timedelta(days=mjd)).isoformat(timespec="milliseconds")


def _parse_datetime(value: Any) -> tuple[datetime, bool]:
    """Return ``(moment, has_time_of_day)`` from ISO or old ``DD/MM/YY`` dates."""
    text = str(value).strip().rstrip("Z")
    old = _OLD_DATE.match(text)
    if old:
        day, month, year = (int(g) for g in old.groups())
        return datetime(1900 + year, month, day), False
    has_time = "T" in text or " " in text
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError as exc:
        raise ValueError("not an ISO date") from exc
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None) - (moment.utcoffset() or timedelta())
    return moment, has_time


def _parse_time_of_day(value: Any) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool):
        hours = parse_float(value)
        if not 0 <= hours < 24:
            raise ValueError("not a time of day")
        return timedelta(hours=hours)
    match = _TIME_OF_DAY.match(str(value).strip())
    if not match:
        raise ValueError("not hh:mm:ss")
    hours, minutes, seconds = int(match[1]), int(match[2]), float(match[3])
    if hours > 23 or minutes > 59 or seconds >= 61:
        raise ValueError("not a time of day")
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _parse_mjd(value: Any) -> float:
    mjd = parse_float(value)
    if not 0 < mjd < 1e6:
        raise ValueError("not a plausible MJD")
    return mjd


def _parse_jd(value: Any) -> float:
    return _parse_mjd(parse_float(value) - _JD_MINUS_MJD)


def _start_mjd(header: fits.Header, notes: list[str]) -> float | None:
    dated = first_valid(header, DATETIME_START_KEYS, _parse_datetime, notes=notes)
    if dated is not None and dated[1][1]:
        return _to_mjd(dated[1][0])
    if dated is not None:
        clock = first_valid(header, TIME_OF_DAY_KEYS, _parse_time_of_day, notes=notes)
        if clock is not None:
            return _to_mjd(dated[1][0] + clock[1])
    for keys, parse in ((MJD_START_KEYS, _parse_mjd), (JD_START_KEYS, _parse_jd)):
        found = first_valid(header, keys, parse, notes=notes)
        if found is not None:
            return found[1]
    if dated is not None:
        notes.append(f"{dated[0]} has no time of day and no TIME-OBS/UT/MJD-OBS: exposure start taken as 00:00 UTC")
        return _to_mjd(dated[1][0])
    return None


def _mid_mjd(header: fits.Header, notes: list[str]) -> float | None:
    found = first_valid(header, DATE_AVG_KEYS, _parse_datetime, notes=notes)
    if found is not None:
        return _to_mjd(found[1][0])
    mjd = first_valid(header, MJD_AVG_KEYS, _parse_mjd, notes=notes)
    return None if mjd is None else mjd[1]


def read_times(header: fits.Header, *, exptime: float, notes: list[str]) -> ObservationTimes:
    """Return the exposure start and middle from the header.

    The start comes from DATE-BEG/DATE-OBS with a time of day, else a
    date-only DATE-OBS plus TIME-OBS/UT, else MJD-OBS, else JD, else a
    date-only DATE-OBS at midnight (noted).  The middle is DATE-AVG/MJD-AVG
    when given, else start + ``exptime``/2.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The frame header.
    exptime : float
        Exposure time in seconds.
    notes : list of str
        Human-readable warnings are appended here.
    """
    start = _start_mjd(header, notes)
    mid = _mid_mjd(header, notes)
    if start is None and mid is None:
        notes.append("no observation time: header has no DATE-OBS/MJD-OBS/JD keyword (time-dependent steps skipped)")
        return ObservationTimes(date_obs=None, mjd_start=None, mjd_mid=None)
    if start is None:
        start = mid - exptime / 172800.0
    if mid is None:
        mid = start + exptime / 172800.0
    return ObservationTimes(date_obs=mjd_to_isot(start), mjd_start=start, mjd_mid=mid)
