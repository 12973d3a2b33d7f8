"""Raw calibration frames as sources: a FITS file or an array in memory.

Every file's header is read first (exposure time, saturation, shape), so a
bad file is reported before any pixel is combined; the pixels are read when
their kind is combined, several files at once on a thread pool.  Saturated
and non-finite pixels come back as NaN, so that the combination ignores them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from rpf.config import HeaderDefaults
from rpf.errors import CalibrationError, FrameError
from rpf.io import read_meta
from rpf.io.load import _merged_header, _pick_hdu

__all__ = ["Source", "array_sources", "file_sources", "read_pixels"]

_MAGIC = (b"SIMPLE  =", b"\x1f\x8b", b"BZh")
_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, IndexError, KeyError)


@dataclass(frozen=True, eq=False)
class Source:
    """One raw calibration frame.

    Attributes
    ----------
    name : str
        The file path (or ``"bias[0]"`` for an array); errors name it.
    kind : str
        ``"bias"``, ``"dark"`` or ``"flat"``.
    exptime : float
        Exposure time (s).
    shape : tuple of int
        ``(ny, nx)`` of the image.
    saturation : float
        Raw values at or above it are ignored (``inf``: none).
    hdu : int
        Index of the image HDU in the file.
    plane : tuple of int
        Leading indices of a data cube (its first plane); ``()`` for 2-D data.
    array : numpy.ndarray or None
        The pixels, for a frame held in memory (then there is no file).
    """

    name: str
    kind: str
    exptime: float
    shape: tuple[int, int]
    saturation: float = float("inf")
    hdu: int = 0
    plane: tuple[int, ...] = ()
    array: np.ndarray | None = None

    @property
    def path(self) -> str | None:
        """The file, or None for a frame in memory."""
        return None if self.array is not None else self.name


def _check_file(kind: str, path: str) -> None:
    file = Path(path)
    problem = None
    if not file.is_file():
        problem = "file not found" if not file.exists() else "not a regular file"
    elif file.stat().st_size == 0:
        problem = "empty file (0 bytes)"
    else:
        with file.open("rb") as stream:
            if not stream.read(9).startswith(_MAGIC):
                problem = "not a FITS file: it does not start with a SIMPLE card (nor is it gzip/bzip2)"
    if problem is not None:
        raise CalibrationError(path, f"cannot use {kind} frame: {problem}")


def _file_source(kind: str, path: str, defaults: HeaderDefaults) -> Source:
    _check_file(kind, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, lazy_load_hdus=True) as hdul:
                index = _pick_hdu(hdul, path=path, hdu=None)
                header = _merged_header(hdul, index)
                full_shape = tuple(int(n) for n in hdul[index].shape)
        shape = (full_shape[-2], full_shape[-1])
        meta = read_meta(header, path=path, shape=shape, defaults=defaults)
    except FrameError as exc:
        raise CalibrationError(path, f"cannot use {kind} frame: {exc.problem}") from exc
    except _READ_ERRORS as exc:
        raise CalibrationError(path, f"cannot use {kind} frame: not a readable FITS file: {exc}") from exc
    saturation = float(meta.saturation) if np.isfinite(meta.saturation) else float("inf")
    plane = (0,) * (len(full_shape) - 2)
    return Source(str(path), kind, float(meta.exptime), shape, saturation, index, plane)


def file_sources(kind: str, paths: Sequence[str | os.PathLike[str]], defaults: HeaderDefaults) -> list[Source]:
    """Open each file's header: exposure time, saturation and shape.

    Parameters
    ----------
    kind : str
        ``"bias"``, ``"dark"`` or ``"flat"`` (named in errors).
    paths : sequence of path
        The raw frames.
    defaults : rpf.config.HeaderDefaults
        Values for keywords the headers lack.

    Raises
    ------
    rpf.errors.CalibrationError
        A file is missing, not FITS, holds no image or lacks a needed
        keyword; the message names the file.
    """
    return [_file_source(kind, str(path), defaults) for path in paths]


def array_sources(kind: str, arrays: Sequence[np.ndarray] | np.ndarray, exptimes: Any) -> list[Source]:
    """Frames held in memory (a single 2-D array is a stack of one); one exposure time each or one for all."""
    stack = [arrays] if isinstance(arrays, np.ndarray) and arrays.ndim == 2 else list(arrays)
    times = [float(exptimes)] * len(stack) if np.ndim(exptimes) == 0 else [float(t) for t in exptimes]
    if len(times) != len(stack):
        raise CalibrationError("", f"{len(stack)} {kind} frame(s) but {len(times)} exposure time(s)")
    sources = []
    for i, (array, exptime) in enumerate(zip(stack, times, strict=True)):
        data = np.asarray(array)
        name = f"{kind}[{i}]"
        if data.ndim != 2:
            raise CalibrationError(name, f"calibration frame must be 2-D, got shape {data.shape}")
        sources.append(Source(name, kind, exptime, (int(data.shape[0]), int(data.shape[1])), array=data))
    return sources


def read_pixels(source: Source) -> np.ndarray:
    """Return a frame's pixels as float32, with saturated and non-finite pixels NaN.

    Raises
    ------
    rpf.errors.CalibrationError
        The file cannot be read (corrupt data, vanished); names the file.
    """
    if source.array is not None:
        raw = source.array
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with fits.open(source.name, memmap=False, lazy_load_hdus=True) as hdul:
                    raw = np.asarray(hdul[source.hdu].data)[source.plane]
        except _READ_ERRORS as exc:
            raise CalibrationError(source.name, f"cannot use {source.kind} frame: {exc}") from exc
    if raw.shape != source.shape:
        problem = f"{source.kind} frame has shape {raw.shape}, its header says {source.shape}"
        raise CalibrationError(source.name, problem)
    data = raw.astype(np.float32)
    if np.isfinite(source.saturation):
        with np.errstate(invalid="ignore"):
            data[raw >= source.saturation] = np.nan
    return data
