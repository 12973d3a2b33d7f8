"""Read one FITS frame into a :class:`~rpf.frame.Frame` (float32 data, pixel mask, metadata)."""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.io import fits

from rpf.config import HeaderDefaults
from rpf.errors import FrameError
from rpf.flags import SourceFlag
from rpf.frame import Frame
from rpf.io.header import read_meta

__all__ = ["load_frame"]

_STRUCTURAL_KEYS = frozenset(
    {"SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "BLANK", "CHECKSUM",
     "DATASUM", "EXTNAME", "EXTVER", "INHERIT", "END", "COMMENT", "HISTORY", ""}
)
_UNCOMPRESSED_SUFFIXES = (".fits", ".fit", ".fts")
_MAGIC = (b"SIMPLE  =", b"\x1f\x8b", b"BZh")


def _is_structural(key: str) -> bool:
    return key in _STRUCTURAL_KEYS or key.startswith("NAXIS")


def _has_image(hdu: fits.hdu.base._BaseHDU) -> bool:
    if not getattr(hdu, "is_image", False):
        return False
    naxis = int(hdu.header.get("NAXIS", 0))
    return naxis >= 2 and all(int(hdu.header.get(f"NAXIS{i}", 0)) > 0 for i in range(1, naxis + 1))


def _pick_hdu(hdul: fits.HDUList, *, path: str, hdu: int | None) -> int:
    if hdu is not None:
        if not -len(hdul) <= hdu < len(hdul):
            raise FrameError(path, f"HDU {hdu} requested but the file has {len(hdul)} HDU(s)")
        if not _has_image(hdul[hdu]):
            raise FrameError(path, f"HDU {hdu} holds no 2-D image data")
        return hdu % len(hdul)
    for index, candidate in enumerate(hdul):
        if _has_image(candidate):
            return index
    raise FrameError(path, f"no image data: none of the {len(hdul)} HDU(s) holds a 2-D (or larger) image")


def _merged_header(hdul: fits.HDUList, index: int) -> fits.Header:
    header = hdul[index].header.copy()
    if index == 0:
        return header
    for card in hdul[0].header.cards:
        if not _is_structural(card.keyword) and card.keyword not in header:
            header.append(card)
    return header


def _check_truncation(hdul: fits.HDUList, index: int, *, path: str) -> None:
    if not path.lower().endswith(_UNCOMPRESSED_SUFFIXES) or isinstance(hdul[index], fits.CompImageHDU):
        return
    info = hdul[index].fileinfo()
    if info is None:
        return
    expected = int(info["datLoc"]) + int(hdul[index].size)
    actual = os.path.getsize(path)
    if actual < expected:
        raise FrameError(path, f"truncated file: the image needs {expected} bytes but the file has only {actual}")


def _read_image(path: str, hdu: int | None) -> tuple[np.ndarray, fits.Header]:
    """Return the raw (physical-value) image and its merged header."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                index = _pick_hdu(hdul, path=path, hdu=hdu)
                _check_truncation(hdul, index, path=path)
                header = _merged_header(hdul, index)
                data = hdul[index].data
                return np.asarray(data), header
    except FrameError:
        raise
    except (OSError, EOFError, ValueError, TypeError, IndexError, KeyError) as exc:
        raise FrameError(path, f"not a readable FITS file (corrupt or truncated): {exc}") from exc


def _first_plane(raw: np.ndarray, notes: list[str]) -> np.ndarray:
    if raw.ndim == 2:
        return raw
    notes.append(f"{raw.ndim}-D data cube of shape {raw.shape}: using the first 2-D plane")
    return raw[(0,) * (raw.ndim - 2)]


def _pixel_mask(raw: np.ndarray, data: np.ndarray, saturation: float) -> np.ndarray:
    mask = np.zeros(data.shape, dtype=np.uint16)
    mask[~np.isfinite(data)] |= np.uint16(SourceFlag.BAD_PIXEL)
    if np.isfinite(saturation):
        with np.errstate(invalid="ignore"):
            mask[raw >= saturation] |= np.uint16(SourceFlag.SATURATED)
    return mask


def load_frame(path: str | os.PathLike[str], *, defaults: HeaderDefaults, hdu: int | None = None) -> Frame:
    """Load a FITS image as a :class:`~rpf.frame.Frame`.

    The image is taken from ``hdu`` or else the first HDU holding 2-D (or
    larger) image data: primary, image extension or tile-compressed
    (``.fz``); gzip files (``.gz``) are read transparently.  Integer data are
    scaled with BZERO/BSCALE and converted to float32 without overflow; a
    3-D cube gives its first plane (noted in ``meta.warnings``).  For an
    extension HDU the primary header's keywords complete the extension's.

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file.
    defaults : rpf.config.HeaderDefaults
        Values for keywords the header lacks (each use is noted).
    hdu : int, optional
        Index of the HDU to read; ``None`` picks the first image HDU.

    Returns
    -------
    rpf.frame.Frame
        float32 ``data`` in ADU; ``mask`` (uint16) with ``BAD_PIXEL`` for
        non-finite pixels and ``SATURATED`` where the raw value reaches the
        saturation level.

    Raises
    ------
    rpf.errors.FrameError
        Missing, empty (0-byte), non-FITS, truncated or corrupt file; no image
        data; no finite pixel; no exposure time and none configured.
    """
    path = str(path)
    file = Path(path)
    if not file.is_file():
        raise FrameError(path, "file not found" if not file.exists() else "not a regular file")
    if file.stat().st_size == 0:
        raise FrameError(path, "empty file (0 bytes)")
    with file.open("rb") as stream:
        start = stream.read(9)
    if not start.startswith(_MAGIC):
        raise FrameError(path, "not a FITS file: it does not start with a SIMPLE card (nor is it gzip/bzip2)")
    raw, header = _read_image(path, hdu)
    notes: list[str] = []
    raw = _first_plane(raw, notes)
    if raw.size == 0:
        raise FrameError(path, "empty image: the data array has no pixels")
    if raw.dtype.kind not in "uifb":
        raise FrameError(path, f"unsupported pixel type {raw.dtype}")
    data = raw.astype(np.float32)
    if not np.isfinite(data).any():
        raise FrameError(path, "no usable pixels: every pixel is NaN or infinite")
    meta = read_meta(header, path=path, shape=data.shape, defaults=defaults)
    mask = _pixel_mask(raw, data, meta.saturation)
    return Frame(data=data, header=header, meta=replace(meta, warnings=tuple(notes) + meta.warnings), mask=mask)

