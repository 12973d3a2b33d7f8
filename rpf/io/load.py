"""Read one FITS frame into a :class:`~rpf.frame.Frame` (float32 data, pixel mask, metadata)."""

from __future__ import annotations

import bz2
import gzip
import math
import os
from dataclasses import replace

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError

from rpf.config import HeaderDefaults
from rpf.errors import FrameError
from rpf.flags import SourceFlag
from rpf.frame import Frame
from rpf.io.captured import capture_warnings
from rpf.io.checks import check_frame_shape, check_input_file
from rpf.io.header import read_meta
from rpf.io.values import parsable_header

__all__ = ["load_frame"]

_STRUCTURAL_KEYS = frozenset(
    {"SIMPLE", "XTENSION", "BITPIX", "EXTEND", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "BLANK", "CHECKSUM",
     "DATASUM", "EXTNAME", "EXTVER", "INHERIT", "END", "COMMENT", "HISTORY", ""}
)
_FITS_MAGIC = b"SIMPLE  ="
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh")


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


def _check_truncation(hdul: fits.HDUList, index: int, *, path: str, compressed: bool) -> None:
    """Compare a plain file's size with what its header promises (a whole-file-compressed one cannot be)."""
    if compressed or isinstance(hdul[index], fits.CompImageHDU):
        return
    info = hdul[index].fileinfo()
    if info is None:
        return
    expected = int(info["datLoc"]) + int(hdul[index].size)
    actual = os.path.getsize(path)
    if actual < expected:
        raise FrameError(path, f"truncated file: the image needs {expected} bytes but the file has only {actual}")


def _scaling_problem(header: fits.Header) -> str | None:
    """Say why BZERO/BSCALE cannot scale the pixels (not a number, BSCALE = 0, given twice), or None."""
    for key in ("BZERO", "BSCALE"):
        values = []
        for index in range(header.count(key) if key in header else 0):
            try:
                values.append(header[(key, index)])
            except VerifyError:
                with capture_warnings():  # astropy repairs the card to text, with warnings: the message says it
                    _ = header.cards[(key, index)].image
                values.append(header[(key, index)])
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                return f"{key} = {value!r} is not a number: the pixel values cannot be scaled"
        if len(set(values)) > 1:
            return f"{key} is given {len(values)} times with different values {values}: the pixel values are ambiguous"
        if key == "BSCALE" and values == [0]:
            return "BSCALE = 0: every pixel would equal BZERO"
    return None


def _primary_scaling_problem(path: str, *, magic: bytes) -> str | None:
    """Read the first header alone to explain why astropy could not open the file, if scaling is the cause."""
    opener = gzip.open if magic.startswith(b"\x1f\x8b") else bz2.open if magic.startswith(b"BZh") else open
    try:
        with opener(path, "rb") as stream:
            header = fits.Header.fromfile(stream)
    except (OSError, EOFError, ValueError, VerifyError):
        return None
    return _scaling_problem(header)


def _read_image(path: str, hdu: int | None, *, magic: bytes) -> tuple[np.ndarray, fits.Header]:
    """Return the raw (physical-value) image and its merged header (``magic``: the file's first bytes)."""
    compressed = magic.startswith(_COMPRESSED_MAGIC)
    try:
        with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
            index = _pick_hdu(hdul, path=path, hdu=hdu)
            _check_truncation(hdul, index, path=path, compressed=compressed)
            problem = _scaling_problem(hdul[index].header)
            if problem:
                raise FrameError(path, problem)
            header = _merged_header(hdul, index)
            data = hdul[index].data
            return np.asarray(data), header
    except FrameError:
        raise
    except (OSError, EOFError, ValueError, TypeError, IndexError, KeyError, VerifyError) as exc:
        problem = _primary_scaling_problem(path, magic=magic)
        raise FrameError(path, problem or f"not a readable FITS file (corrupt or truncated): {exc}") from exc


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


def load_frame(
    path: str | os.PathLike[str], *, defaults: HeaderDefaults, hdu: int | None = None, min_side: int = 1
) -> Frame:
    """Load a FITS image as a :class:`~rpf.frame.Frame`.

    The image is taken from ``hdu`` or else the first HDU holding 2-D (or
    larger) image data: primary, image extension or tile-compressed
    (``.fz``); gzip and bzip2 files are recognised by their content, whatever
    their name, and read transparently.  Integer data are scaled with
    BZERO/BSCALE and converted to float32 without overflow; a 3-D cube gives
    its first plane (noted in ``meta.warnings``).  For an extension HDU the
    primary header's keywords complete the extension's.  Nothing but a
    regular file is opened (see :func:`rpf.io.check_input_file`).

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file.
    defaults : rpf.config.HeaderDefaults
        Values for keywords the header lacks (each use is noted).
    hdu : int, optional
        Index of the HDU to read; ``None`` picks the first image HDU.
    min_side : int
        Smallest height and width accepted (the pipeline passes
        :func:`rpf.io.minimum_frame_side`).

    Returns
    -------
    rpf.frame.Frame
        float32 ``data`` in ADU; ``mask`` (uint16) with ``BAD_PIXEL`` for
        non-finite pixels and ``SATURATED`` where the raw value reaches the
        saturation level.

    Raises
    ------
    rpf.errors.FrameError
        Missing, empty (0-byte), non-regular (directory, FIFO, device,
        socket, broken link), non-FITS, truncated or corrupt file; no image
        data; image smaller than ``min_side``; no finite, unsaturated pixel;
        no usable exposure time.
    """
    path = str(path)
    file = check_input_file(path)
    with file.open("rb") as stream:
        start = stream.read(len(_FITS_MAGIC))
    if not start.startswith((_FITS_MAGIC, *_COMPRESSED_MAGIC)):
        raise FrameError(path, "not a FITS file: it does not start with a SIMPLE card (nor is it gzip/bzip2)")
    with capture_warnings() as caught:
        raw, header = _read_image(path, hdu, magic=start)
    notes: list[str] = []
    raw = _first_plane(raw, notes)
    if raw.size == 0:
        raise FrameError(path, "empty image: the data array has no pixels")
    check_frame_shape(raw.shape, path=path, min_side=min_side)
    if raw.dtype.kind not in "uifb":
        raise FrameError(path, f"unsupported pixel type {raw.dtype}")
    data = raw.astype(np.float32)
    if not np.isfinite(data).any():
        raise FrameError(path, "no usable pixels: every pixel is NaN or infinite")
    with capture_warnings() as caught_meta:
        header = parsable_header(header, notes=notes)
        meta = read_meta(header, path=path, shape=data.shape, defaults=defaults)
    notes += [f"astropy: {text}" for text in dict.fromkeys(caught + caught_meta)]
    mask = _pixel_mask(raw, data, meta.saturation)
    if mask.all():
        raise FrameError(
            path, f"no usable pixels: every pixel is NaN, infinite or at or above the saturation level "
            f"{meta.saturation:g} ADU (SATURATE/SATLEVEL or header.saturation)"
        )
    return Frame(data=data, header=header, meta=replace(meta, warnings=tuple(notes) + meta.warnings), mask=mask)
