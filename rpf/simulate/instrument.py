"""The simulated camera: bias, dark current, hot pixels, flat field and noise.

The fixed patterns (bias structure, dark map, hot pixels, flat) depend only
on the :class:`InstrumentModel` (including its own ``seed``) and the image
shape, so science and calibration frames made with the same model share them
and a pipeline can calibrate one with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from rpf.errors import ConfigError

__all__ = ["InstrumentMaps", "InstrumentModel", "digitize", "expose", "instrument_maps"]


@dataclass(frozen=True)
class InstrumentModel:
    """A CCD camera.

    Attributes
    ----------
    gain : float
        Electrons per ADU.
    read_noise : float
        Read noise in electrons.
    bias_level : float
        Mean bias level (ADU).
    bias_pattern : bool
        Add fixed column offsets, a slow gradient and a read-out transient to
        the bias (otherwise the bias is flat).
    dark_rate : float
        Mean dark current of normal pixels (electrons/s/pixel), with a mild
        amplifier glow in one corner and 20% pixel-to-pixel scatter.
    n_hot_pixels : int
        Number of hot pixels.
    hot_pixel_rate : tuple of float
        Range of hot-pixel dark currents (electrons/s), drawn log-uniformly.
    flat_vignetting : float
        Fractional drop of the illumination from the image centre to its
        corners (quadratic in radius).
    flat_pixel_noise : float
        Pixel-to-pixel sensitivity scatter (fraction).
    n_dust : int
        Dust donuts on the flat (shallow rings a few tens of pixels wide).
    saturation : float
        Highest raw value (ADU); brighter pixels are clipped to it.
    dtype : str
        Raw data type (``"uint16"``, ``"int32"`` or ``"float32"``).
    pixel_size_um : float
        Pixel size (micrometres), written as ``XPIXSZ``.
    name : str
        Camera name (``INSTRUME``).
    seed : int
        Seed of the fixed patterns.
    """

    gain: float = 1.5
    read_noise: float = 6.0
    bias_level: float = 1000.0
    bias_pattern: bool = True
    dark_rate: float = 0.05
    n_hot_pixels: int = 30
    hot_pixel_rate: tuple[float, float] = (5.0, 300.0)
    flat_vignetting: float = 0.15
    flat_pixel_noise: float = 0.01
    n_dust: int = 3
    saturation: float = 65535.0
    dtype: str = "uint16"
    pixel_size_um: float = 9.0
    name: str = "RPF-SIM CCD"
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "gain": self.gain > 0,
            "read_noise": self.read_noise >= 0,
            "dark_rate": self.dark_rate >= 0,
            "n_hot_pixels": self.n_hot_pixels >= 0,
            "flat_vignetting": 0 <= self.flat_vignetting < 1,
            "flat_pixel_noise": 0 <= self.flat_pixel_noise < 0.2,
            "saturation": self.saturation > self.bias_level,
            "pixel_size_um": self.pixel_size_um > 0,
            "dtype": self.dtype in ("uint16", "int32", "float32"),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            msg = f"invalid InstrumentModel value(s) for {', '.join(bad)}: {self!r}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class InstrumentMaps:
    """The fixed patterns of one camera for one image shape (read-only arrays).

    Attributes
    ----------
    bias : numpy.ndarray
        Bias level per pixel (ADU).
    dark_rate : numpy.ndarray
        Dark current per pixel (ADU/s), hot pixels included.
    flat : numpy.ndarray
        Relative sensitivity times illumination, median 1 in the central half of
        the frame (the convention of :func:`rpf.calibration.build_masters`).
    hot_mask : numpy.ndarray
        True on hot pixels.
    """

    bias: np.ndarray
    dark_rate: np.ndarray
    flat: np.ndarray
    hot_mask: np.ndarray


def _bias(inst: InstrumentModel, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    ny, nx = shape
    bias = np.full(shape, inst.bias_level)
    if inst.bias_pattern:
        yy = np.arange(ny)[:, None] / max(ny - 1, 1)
        xx = np.arange(nx)[None, :] / max(nx - 1, 1)
        columns = rng.normal(0.0, 2.0, nx)[None, :]
        bias = bias + columns + 4.0 * (yy - 0.5) + 1.5 * xx + 8.0 * np.exp(-np.arange(ny)[:, None] / 15.0)
    return bias


def _dark(inst: InstrumentModel, shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = shape
    corner = np.hypot(np.arange(ny)[:, None], np.arange(nx)[None, :] - (nx - 1))
    glow = 2.0 * np.exp(-corner / (0.08 * np.hypot(ny, nx)))
    rate = (1.0 + glow) * rng.lognormal(0.0, 0.2, shape)
    rate *= inst.dark_rate / rate.mean()
    hot_mask = np.zeros(shape, dtype=bool)
    flat_idx = rng.choice(ny * nx, size=min(inst.n_hot_pixels, ny * nx), replace=False)
    lo, hi = np.log(inst.hot_pixel_rate[0]), np.log(inst.hot_pixel_rate[1])
    rate.flat[flat_idx] = np.exp(rng.uniform(lo, hi, flat_idx.size))
    hot_mask.flat[flat_idx] = True
    return rate / inst.gain, hot_mask


def _flat(inst: InstrumentModel, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    ny, nx = shape
    dy2 = ((np.arange(ny) - (ny - 1) / 2) / ((ny - 1) / 2)) ** 2
    dx2 = ((np.arange(nx) - (nx - 1) / 2) / ((nx - 1) / 2)) ** 2
    r2 = (dy2[:, None] + dx2[None, :]) / 2.0
    flat = (1.0 - inst.flat_vignetting * r2) * rng.normal(1.0, inst.flat_pixel_noise, shape)
    for _ in range(inst.n_dust):
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        radius, width, depth = rng.uniform(8.0, 25.0), rng.uniform(2.0, 4.0), rng.uniform(0.01, 0.04)
        half = int(radius + 5 * width)
        y0, y1 = max(int(cy) - half, 0), min(int(cy) + half + 1, ny)
        x0, x1 = max(int(cx) - half, 0), min(int(cx) + half + 1, nx)
        dist = np.hypot(np.arange(y0, y1)[:, None] - cy, np.arange(x0, x1)[None, :] - cx)
        flat[y0:y1, x0:x1] *= 1.0 - depth * np.exp(-0.5 * ((dist - radius) / width) ** 2)
    ny, nx = flat.shape
    return flat / np.median(flat[ny // 4 : ny - ny // 4, nx // 4 : nx - nx // 4])


@lru_cache(maxsize=2)
def instrument_maps(inst: InstrumentModel, shape: tuple[int, int]) -> InstrumentMaps:
    """Return the camera's fixed patterns for an image shape (cached, read-only).

    Parameters
    ----------
    inst : InstrumentModel
        The camera; its ``seed`` fixes the patterns.
    shape : tuple of int
        Image shape ``(ny, nx)``.

    Returns
    -------
    InstrumentMaps
        Bias (ADU), dark current (ADU/s), flat (median 1), all float32, and
        the hot-pixel mask.
    """
    shape = (int(shape[0]), int(shape[1]))
    streams = np.random.SeedSequence([inst.seed, shape[0], shape[1]]).spawn(3)
    bias = _bias(inst, shape, np.random.default_rng(streams[0]))
    dark, hot = _dark(inst, shape, np.random.default_rng(streams[1]))
    flat = _flat(inst, shape, np.random.default_rng(streams[2]))
    bias, dark, flat = (arr.astype(np.float32) for arr in (bias, dark, flat))
    for arr in (bias, dark, flat, hot):
        arr.setflags(write=False)
    return InstrumentMaps(bias=bias, dark_rate=dark, flat=flat, hot_mask=hot)


def expose(
    inst: InstrumentModel,
    *,
    maps: InstrumentMaps,
    illumination: np.ndarray | float,
    exptime: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return an undigitised raw frame (float ADU) for a light pattern.

    Parameters
    ----------
    inst : InstrumentModel
        The camera.
    maps : InstrumentMaps
        Its fixed patterns for the frame shape.
    illumination : numpy.ndarray or float
        Light reaching the detector in calibrated ADU (sky + stars, before
        the flat); 0 for bias and dark frames.
    exptime : float
        Exposure time (s), which scales the dark current.
    rng : numpy.random.Generator
        Source of the Poisson and read noise.

    Returns
    -------
    numpy.ndarray
        ``bias + Poisson(flat*illumination + dark*exptime) + read noise`` (ADU).
    """
    expected = maps.flat * illumination + maps.dark_rate * exptime
    electrons = rng.poisson(np.maximum(expected, 0.0) * inst.gain).astype(np.float64)
    noise = rng.normal(0.0, inst.read_noise, expected.shape)
    return maps.bias + (electrons + noise) / inst.gain


def digitize(inst: InstrumentModel, values: np.ndarray) -> np.ndarray:
    """Clip to ``[0, saturation]`` and cast to ``inst.dtype`` (rounding for integer types)."""
    top = min(inst.saturation, 65535.0) if inst.dtype == "uint16" else inst.saturation
    if inst.dtype != "float32":
        values = np.round(values)
    return np.clip(values, 0.0, top).astype(inst.dtype)
