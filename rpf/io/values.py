"""Parse single header values and pick the first usable keyword of a list."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from astropy.io import fits
from astropy.io.fits.verify import VerifyError

from rpf.io.captured import capture_warnings

__all__ = ["first_valid", "parsable_header", "parse_float", "parse_positive", "parse_text"]

T = TypeVar("T")


def parse_float(value: Any) -> float:
    """Return a finite float from a number or numeric string; raise ``ValueError`` otherwise."""
    if isinstance(value, bool):
        raise ValueError("not a number")
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError("not a number") from None
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


def parsable_header(header: fits.Header, *, notes: list[str]) -> fits.Header:
    """Return ``header`` with every unparsable card value turned into its text (each one noted).

    A card such as ``GAIN = 1.5.3`` or ``EXPTIME = nan`` makes astropy raise
    ``VerifyError`` when its value is read.  In the copy returned, such a
    value is the string written in the file, which the keyword's own parser
    then accepts or rejects with a precise reason.  ``header`` itself is
    returned when every card parses; it is never modified.
    """
    bad = []
    for index, card in enumerate(header.cards):
        try:
            _ = card.value
        except (VerifyError, ValueError):
            bad.append(index)
    if not bad:
        return header
    clean = header.copy()
    with capture_warnings():  # astropy's "Fixed the card" warnings: the note below says it
        for index in bad:
            card = clean.cards[index]
            _ = card.image  # astropy repairs the card: its value becomes the text
            notes.append(f"header card {card.keyword} is not valid FITS: its value is read as the text {card.value!r}")
    return clean


def first_valid(
    header: fits.Header,
    keys: Iterable[str],
    parse: Callable[[Any], T],
    *,
    notes: list[str],
) -> tuple[str, T] | None:
    """Return ``(keyword, parsed value)`` of the first keyword that parses.

    Keywords present but unusable are skipped with a note appended to ``notes``.
    A keyword that appears more than once with different values is noted
    too: only its first value is read.
    """
    for key in keys:
        if key not in header:
            continue
        value = header[key]
        _note_duplicates(header, key, notes)
        if isinstance(value, fits.card.Undefined) or (isinstance(value, str) and not value.strip()):
            continue
        try:
            return key, parse(value)
        except (ValueError, TypeError) as exc:
            notes.append(f"ignored {key}={value!r}: {exc}")
    return None


def _note_duplicates(header: fits.Header, key: str, notes: list[str]) -> None:
    count = header.count(key)
    if count < 2:
        return
    values = [header[(key, index)] for index in range(count)]
    if len({repr(v) for v in values}) > 1:
        shown = ", ".join(repr(v) for v in values)
        notes.append(f"{key} appears {count} times with different values ({shown}): the first, {values[0]!r}, is read")
