"""Parse single header values and pick the first usable keyword of a list."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from astropy import units as u
from astropy.coordinates import Angle
from astropy.io import fits

__all__ = ["first_valid", "parse_angle", "parse_float", "parse_positive", "parse_text"]

T = TypeVar("T")


def parse_float(value: Any) -> float:
    """Return a finite float from a number or numeric string; raise ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    number = float(str(value).strip()) if isinstance(value, str) else float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def parse_positive(value: Any) -> float:
    """Return a finite float > 0; raise ``ValueError`` otherwise."""
    number = parse_float(value)
    if number <= 0:
        raise ValueError("not > 0")
    return number


def parse_text(value: Any) -> str:
    """Return a stripped, non-empty string; raise ``ValueError`` for blanks."""
    text = str(value).strip()
    if not text or isinstance(value, fits.card.Undefined):
        raise ValueError("blank")
    return text


def parse_angle(value: Any, *, hours: bool) -> float:
    """Return an angle in degrees from a decimal number or a sexagesimal string.

    Parameters
    ----------
    value : float or str
        Decimal degrees (numbers and plain numeric strings) or sexagesimal
        (``"22:04:08"``, ``"22 04 08"``, ``"22h04m08s"``).
    hours : bool
        Sexagesimal strings are in hours (right ascension) rather than degrees.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_float(text)
        except ValueError:
            pass
        if not text:
            raise ValueError("blank")
        unit = u.hourangle if hours and not any(c in text for c in "dD°") else u.deg
        try:
            degrees = float(Angle(text, unit=unit).to_value(u.deg))
        except (ValueError, u.UnitsError) as exc:
            raise ValueError("not an angle") from exc
        if not math.isfinite(degrees):
            raise ValueError("not an angle")
        return degrees
    return parse_float(value)


def first_valid(
    header: fits.Header,
    keys: Iterable[str],
    parse: Callable[[Any], T],
    *,
    notes: list[str],
) -> tuple[str, T] | None:
    """Return ``(keyword, parsed value)`` of the first keyword that parses.

    Keywords present but unusable are skipped with a note appended to ``notes``.
    """
    for key in keys:
        if key not in header:
            continue
        value = header[key]
        if isinstance(value, fits.card.Undefined) or (isinstance(value, str) and not value.strip()):
            continue
        try:
            return key, parse(value)
        except (ValueError, TypeError) as exc:
            notes.append(f"ignored {key}={value!r}: {exc}")
    return None
