"""Headers and WCS solutions as text and header-only FITS."""

from __future__ import annotations

import os
from pathlib import Path

from astropy.io import fits
from astropy.wcs import WCS

from rpf.atomic import atomic_path, write_atomic

__all__ = ["write_header_text", "write_wcs_products"]


def _header_text(header: fits.Header) -> str:
    return "".join(f"{str(card).rstrip()}\n" for card in header.cards)


def write_header_text(header: fits.Header, path: str | os.PathLike[str]) -> Path:
    """Write a header as text, one card per line (trailing blanks trimmed), atomically.

    The text reads back with ``astropy.io.fits.Header.fromtextfile``.
    """
    return write_atomic(path, _header_text(header))


def _wcs_header(wcs_or_header: WCS | fits.Header) -> fits.Header:
    wcs = wcs_or_header if isinstance(wcs_or_header, WCS) else WCS(wcs_or_header)
    header = wcs.to_header(relax=True)
    if wcs.pixel_shape is not None:
        header["IMAGEW"] = (int(wcs.pixel_shape[0]), "image width (pixels)")
        header["IMAGEH"] = (int(wcs.pixel_shape[1]), "image height (pixels)")
    return header


def write_wcs_products(wcs_or_header: WCS | fits.Header, stem_path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``<stem>_wcs.fits`` (header-only FITS) and ``<stem>_wcs_header.txt`` atomically.

    Parameters
    ----------
    wcs_or_header : astropy.wcs.WCS or astropy.io.fits.Header
        The astrometric solution (SIP terms kept); a header is parsed as a WCS.
    stem_path : str or os.PathLike
        ``DIR/<stem>``; the suffixes are appended.

    Returns
    -------
    tuple of pathlib.Path
        The FITS and text files.
    """
    header = _wcs_header(wcs_or_header)
    stem = str(stem_path)
    fits_path, text_path = Path(f"{stem}_wcs.fits"), Path(f"{stem}_wcs_header.txt")
    with atomic_path(fits_path) as temporary:
        fits.PrimaryHDU(header=header).writeto(temporary, overwrite=True, output_verify="silentfix")
    write_atomic(text_path, _header_text(header))
    return fits_path, text_path
