"""Header normalisation: one :class:`~rpf.frame.FrameMeta` from any header dialect."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from astropy.io import fits

from rpf.config import HeaderDefaults
from rpf.errors import FrameError
from rpf.frame import FrameMeta
from rpf.io.keywords import (
    AIRMASS_KEYS,
    EXPTIME_KEYS,
    FILTER_KEYS,
    GAIN_KEYS,
    IMAGETYP_KEYS,
    OBJECT_KEYS,
    READ_NOISE_KEYS,
    SATURATION_KEYS,
)
from rpf.io.sky import read_pixel_scale, read_pointing, read_site
from rpf.io.times import read_times
from rpf.io.values import first_valid, parsable_header, parse_float, parse_positive, parse_text

__all__ = ["frame_stem", "read_meta"]

_STEM_SUFFIXES = (".gz", ".fz", ".bz2", ".fits", ".fit", ".fts")
_NO_EXPTIME = (
    "no exposure time: header has no EXPTIME/EXPOSURE/ITIME keyword and no header.exptime default is configured"
)


def frame_stem(path: str | os.PathLike[str]) -> str:
    """Return the product stem of a file: its name without ``.fits``/``.fit``/``.fts``/``.gz``/``.fz``/``.bz2``.

    Suffixes are removed in any case and stacked (``x.fits.gz`` gives ``x``).
    The stem is always a visible, non-empty file name: leading dots are
    dropped (``.fits`` gives ``fits``, ``.hidden.fits`` gives ``hidden``), so
    products are never hidden files nor written beside the output folder.
    """
    full = Path(path).name
    name = full
    stripped = True
    while stripped:
        stripped = False
        for suffix in _STEM_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, stripped = name[: -len(suffix)], True
    return name.lstrip(".") or full.lstrip(".") or "frame"


def _parse_exptime(value: Any) -> float:
    exptime = parse_float(value)
    if exptime == 0:
        raise ValueError("zero seconds, as for a bias frame: no count rate")
    if exptime < 0:
        raise ValueError("negative exposure time")
    return exptime


def _parse_airmass(value: Any) -> float:
    airmass = parse_float(value)
    if not 1.0 <= airmass <= 30.0:
        raise ValueError("airmass outside 1..30")
    return airmass


def _unusable(header: fits.Header, keys: tuple[str, ...], parse: Any) -> list[str]:
    """Return ``"KEY = value (why)"`` for each keyword present whose value ``parse`` rejects."""
    problems = []
    for key in keys:
        if key not in header:
            continue
        value = header[key]
        try:
            if isinstance(value, fits.card.Undefined) or not str(value).strip():
                raise ValueError("blank")
            parse(value)
        except (ValueError, TypeError) as exc:
            problems.append(f"{key} = {value!r}: {exc}")
    return problems


def _read_exptime(header: fits.Header, *, path: str, defaults: HeaderDefaults, notes: list[str]) -> float:
    found = first_valid(header, EXPTIME_KEYS, _parse_exptime, notes=notes)
    if found is not None:
        return found[1]
    unusable = "; ".join(_unusable(header, EXPTIME_KEYS, _parse_exptime))
    if defaults.exptime is not None:
        why = f"unusable exposure time ({unusable})" if unusable else "no EXPTIME/EXPOSURE/ITIME keyword"
        notes.append(f"{why}: using header.exptime={defaults.exptime} s")
        return defaults.exptime
    if unusable:
        raise FrameError(path, f"unusable exposure time ({unusable}); set header.exptime to the real exposure time")
    raise FrameError(path, _NO_EXPTIME)


def _type_saturation(header: fits.Header) -> float | None:
    try:
        bitpix = int(parse_float(header.get("BITPIX", -32)))
        bzero = parse_float(header.get("BZERO", 0.0))
        bscale = parse_float(header.get("BSCALE", 1.0))
    except (ValueError, TypeError):
        return None
    if bitpix not in (8, 16, 32, 64) or bscale <= 0:
        return None
    offset = 2.0 ** (bitpix - 1)
    signed_max = offset - 1.0 if bitpix > 8 else 2.0**bitpix - 1.0
    return bzero + bscale * signed_max


def _read_saturation(header: fits.Header, *, defaults: HeaderDefaults, notes: list[str]) -> float:
    found = first_valid(header, SATURATION_KEYS, parse_positive, notes=notes)
    if found is not None:
        return found[1]
    if defaults.saturation is not None:
        notes.append(f"no SATURATE/SATLEVEL/DATAMAX keyword: using header.saturation={defaults.saturation} ADU")
        return defaults.saturation
    derived = _type_saturation(header)
    if derived is None:
        notes.append("no saturation keyword and floating-point data: no saturation level (set header.saturation)")
        return float("inf")
    notes.append(
        f"no SATURATE/SATLEVEL/DATAMAX keyword: saturation taken as the data type's maximum, {derived:g} ADU"
    )
    return derived


def _read_value(
    header: fits.Header, keys: tuple[str, ...], parse: Any, *, default: Any, what: str, notes: list[str]
) -> Any:
    found = first_valid(header, keys, parse, notes=notes)
    if found is not None:
        return found[1]
    notes.append(f"no {what} keyword ({'/'.join(keys[:3])}): using {default!r} from the config")
    return default


def read_meta(
    header: fits.Header,
    *,
    path: str | os.PathLike[str],
    shape: tuple[int, int],
    defaults: HeaderDefaults,
) -> FrameMeta:
    """Normalise a header into :class:`~rpf.frame.FrameMeta`.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The frame header (for extension HDUs, merged with the primary header).
    path : str or os.PathLike
        The file the header came from (names errors and gives ``stem``).
    shape : tuple of int
        ``(ny, nx)`` of the image.
    defaults : rpf.config.HeaderDefaults
        Values used when a keyword is missing; each use adds a warning.

    Returns
    -------
    rpf.frame.FrameMeta
        Normalised values; ``warnings`` lists every fallback and every
        ignored malformed keyword.

    Raises
    ------
    rpf.errors.FrameError
        No usable exposure time in the header (missing, not a number, not
        finite, zero or negative) and none configured in ``header.exptime``.
    """
    path = str(path)
    notes: list[str] = []
    header = parsable_header(header, notes=notes)
    exptime = _read_exptime(header, path=path, defaults=defaults, notes=notes)
    times = read_times(header, exptime=exptime, notes=notes)
    site = read_site(header, defaults=defaults, notes=notes)
    ra, dec = read_pointing(header, notes=notes)
    airmass = first_valid(header, AIRMASS_KEYS, _parse_airmass, notes=notes)
    obj = first_valid(header, OBJECT_KEYS, parse_text, notes=notes)
    imagetyp = first_valid(header, IMAGETYP_KEYS, parse_text, notes=notes)
    return FrameMeta(
        path=path,
        stem=frame_stem(path),
        shape=(int(shape[0]), int(shape[1])),
        exptime=exptime,
        date_obs=times.date_obs,
        mjd_start=times.mjd_start,
        mjd_mid=times.mjd_mid,
        filter=_read_value(header, FILTER_KEYS, parse_text, default=defaults.filter, what="filter", notes=notes),
        gain=_read_value(header, GAIN_KEYS, parse_positive, default=defaults.gain, what="gain", notes=notes),
        read_noise=_read_value(
            header, READ_NOISE_KEYS, parse_positive, default=defaults.read_noise, what="read-noise", notes=notes
        ),
        saturation=_read_saturation(header, defaults=defaults, notes=notes),
        site_lat=site.lat,
        site_lon=site.lon,
        site_elev=site.elev,
        observatory=site.observatory,
        ra=ra,
        dec=dec,
        pixel_scale=read_pixel_scale(header, defaults=defaults, notes=notes),
        airmass=airmass[1] if airmass else None,
        object=obj[1] if obj else "",
        imagetyp=imagetyp[1] if imagetyp else "",
        warnings=tuple(notes),
    )
