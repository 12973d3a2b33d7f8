"""Apply master frames to a science frame."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from rpf.calibration.masters import MasterFrames
from rpf.config import CalibrationConfig
from rpf.errors import CalibrationError
from rpf.flags import SourceFlag
from rpf.frame import Frame

__all__ = ["calibrate", "fill_bad_pixels"]

_FILL_WINDOWS = (5, 9, 17, 33, 65)


def fill_bad_pixels(data: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Return a copy of ``data`` with ``bad`` pixels replaced by the mean of their good neighbours.

    Windows of 5, 9, ... 65 pixels are tried in turn until every bad pixel
    has a good neighbour; pixels still without one take the median of all
    good pixels.

    Parameters
    ----------
    data : numpy.ndarray
        2-D image.
    bad : numpy.ndarray
        Boolean map of the pixels to replace.
    """
    filled = np.array(data, dtype=np.float32, copy=True)
    good = ~bad
    if not good.any():
        raise CalibrationError("", "every pixel is bad: nothing to interpolate from")
    values = np.where(good, filled, np.float32(0))
    weights = good.astype(np.float32)
    remaining = bad.copy()
    for size in _FILL_WINDOWS:
        if not remaining.any():
            return filled
        total = ndimage.uniform_filter(values, size=size, mode="constant")
        count = ndimage.uniform_filter(weights, size=size, mode="constant")
        usable = remaining & (count > 0.5 / size**2)
        filled[usable] = total[usable] / count[usable]
        remaining &= ~usable
    filled[remaining] = np.median(filled[good])
    return filled


def _check_shapes(frame: Frame, masters: MasterFrames) -> None:
    for name, master in masters.items():
        if master.shape != frame.data.shape:
            raise CalibrationError(
                frame.meta.path, f"master {name} has shape {master.shape} but the frame has {frame.data.shape}"
            )


def calibrate(frame: Frame, masters: MasterFrames, *, config: CalibrationConfig) -> Frame:
    """Return ``(raw - bias - dark_rate * exptime) / flat`` as a new frame.

    Any subset of the masters may be present.  Pixels whose result is not
    finite (NaN raw value, NaN flat below ``flat_min``) get ``BAD_PIXEL`` in
    the mask and, with ``config.bad_pixel_fill == "interpolate"`` (default),
    the mean of their good neighbours; with ``"nan"`` they stay NaN.  The
    input frame is not modified.

    Parameters
    ----------
    frame : rpf.frame.Frame
        Raw science frame (float32 ADU, ``meta.exptime`` in seconds).
    masters : MasterFrames
        Master bias, dark rate (ADU/s) and normalised flat.
    config : rpf.config.CalibrationConfig
        ``bad_pixel_fill`` chooses what masked pixels hold.

    Returns
    -------
    rpf.frame.Frame
        float32 calibrated data and an updated uint16 mask.

    Raises
    ------
    rpf.errors.CalibrationError
        A master's shape differs from the frame's.
    """
    _check_shapes(frame, masters)
    data = np.array(frame.data, dtype=np.float32, copy=True)
    if masters.bias is not None:
        data -= masters.bias
    if masters.dark_rate is not None:
        data -= masters.dark_rate * np.float32(frame.meta.exptime)
    if masters.flat is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            data /= masters.flat
    mask = np.zeros(data.shape, np.uint16) if frame.mask is None else frame.mask.copy()
    bad = ~np.isfinite(data)
    if bad.any():
        mask[bad] |= np.uint16(SourceFlag.BAD_PIXEL)
        if config.bad_pixel_fill == "interpolate":
            data = fill_bad_pixels(data, bad)
    return frame.with_data(data, mask)
