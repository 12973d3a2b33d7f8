"""Cosmic-ray detection and cleaning with L.A.Cosmic (``astroscrappy``).

Large frames are processed in overlapping tiles: L.A.Cosmic only looks a
few pixels around each pixel per iteration, so a tile with a margin of a few
tens of pixels gives the same answer in its core as the whole frame, while
the library's working memory (about a dozen float32 copies of its input)
stays bounded by the tile size instead of the frame size.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import astroscrappy
import numpy as np
from scipy import ndimage
from threadpoolctl import threadpool_limits

from rpf.background import Background
from rpf.config import CosmicsConfig
from rpf.errors import PhotometryError
from rpf.threads import available_threads

__all__ = ["MIN_SIDE", "CosmicRays", "clean_cosmic_rays", "tile_windows"]

MIN_SIDE = 4
"""Smallest height and width given to astroscrappy: below it, it writes outside its buffers.

Measured in subprocesses over every shape up to 16x16 and strips up to 3x200
(with glibc's heap checks on): images with 3 rows or 3 columns abort,
segfault or hang at 100 % CPU; every shape with both sides >= 4 was sound.
"""

_EIGHT = np.ones((3, 3), dtype=bool)
_RING_IN = 1
_RING_OUT = 3
_SKY_SAMPLE = 250_000


@dataclass(frozen=True)
class CosmicRays:
    """Result of the cosmic-ray stage.

    Attributes
    ----------
    clean : numpy.ndarray
        The image (float32, ADU) with cosmic-ray pixels replaced by a masked
        5x5 mean of their good neighbours.
    mask : numpy.ndarray
        ``True`` where a cosmic-ray hit was found.
    n_pixels : int
        Number of flagged pixels.
    """

    clean: np.ndarray
    mask: np.ndarray
    n_pixels: int


@dataclass(frozen=True)
class _Sky:
    """Sky level and noise for star protection: maps or global values."""

    level: np.ndarray | float
    rms: np.ndarray | float

    def window(self, rows: slice, cols: slice) -> _Sky:
        level = self.level[rows, cols] if np.ndim(self.level) else self.level
        rms = self.rms[rows, cols] if np.ndim(self.rms) else self.rms
        return _Sky(level=level, rms=rms)


@dataclass(frozen=True)
class _Settings:
    """Everything a tile needs besides its pixels."""

    gain: float
    read_noise: float
    saturation_e: float
    config: CosmicsConfig


def clean_cosmic_rays(
    data: np.ndarray,
    *,
    gain: float,
    read_noise: float,
    saturation: float,
    mask: np.ndarray | None = None,
    background: Background | None = None,
    config: CosmicsConfig,
) -> CosmicRays:
    """Find and clean cosmic-ray hits.

    Parameters
    ----------
    data : numpy.ndarray
        Calibrated 2-D image in ADU, sky included (L.A.Cosmic derives the
        noise from the data values).
    gain : float
        Gain in e-/ADU (``config.gain`` overrides it when set).
    read_noise : float
        Read noise in electrons (``config.read_noise`` overrides it).
    saturation : float
        Saturation level in ADU (``config.saturation`` overrides it); stars
        reaching it are protected from being "cleaned".
    mask : numpy.ndarray or None
        Pixels to ignore (``uint16`` flags, nonzero = ignore, or booleans).
    background : Background or None
        Sky level and noise maps, used to recognise hits on stars
        (``config.protect_sigma``); without it robust global values of the
        frame are used.
    config : CosmicsConfig
        L.A.Cosmic parameters, and the tiling (``tile_size``,
        ``tile_margin``, ``workers``).

    Returns
    -------
    CosmicRays
        Cleaned image, boolean mask and number of flagged pixels.  Hits that
        sit on a star (surrounding ring above ``config.protect_sigma``) stay
        in the mask, so the star is flagged ``COSMIC_RAY``, but are not
        cleaned: L.A.Cosmic with the separable median mistakes sharp star
        cores for hits, and replacing a real core would ruin the star.

    Raises
    ------
    PhotometryError
        If the image is not 2-D or smaller than :data:`MIN_SIDE` pixels on a
        side, the mask's shape differs or the gain is not positive.
    """
    image = np.asarray(data)
    if image.ndim != 2:
        raise PhotometryError(f"cosmic rays need a 2-D image, got shape {image.shape}")
    if config.enabled and min(image.shape) < MIN_SIDE:
        raise PhotometryError(f"cosmic rays need at least {MIN_SIDE}x{MIN_SIDE} px, got shape {image.shape}")
    if mask is not None and np.shape(mask) != image.shape:
        raise PhotometryError(f"cosmic-ray mask shape {np.shape(mask)} differs from the image's {image.shape}")
    if not config.enabled:
        clean = image.astype(np.float32, copy=True)
        return CosmicRays(clean=clean, mask=np.zeros(image.shape, bool), n_pixels=0)
    gain = config.gain if config.gain is not None else gain
    read_noise = config.read_noise if config.read_noise is not None else read_noise
    saturation = config.saturation if config.saturation is not None else saturation
    if not gain > 0:
        raise PhotometryError(f"cosmic rays need a positive gain, got {gain}")
    settings = _Settings(float(gain), float(read_noise), float(saturation) * float(gain), config)
    needs_sky = config.protect_sigma is not None or config.grow_sigma is not None
    sky = _sky(image, mask, background) if needs_sky else None
    clean = np.empty(image.shape, np.float32)
    crmask = np.empty(image.shape, bool)

    def run(window: tuple[slice, slice, slice, slice]) -> None:
        rows, cols, core_rows, core_cols = window
        tile_mask = None if mask is None else mask[rows, cols]
        tile_sky = None if sky is None else sky.window(rows, cols)
        tile_crmask, tile_clean = _clean_tile(image[rows, cols], tile_mask, tile_sky, settings)
        out_rows = slice(rows.start + core_rows.start, rows.start + core_rows.stop)
        out_cols = slice(cols.start + core_cols.start, cols.start + core_cols.stop)
        crmask[out_rows, out_cols] = tile_crmask[core_rows, core_cols]
        clean[out_rows, out_cols] = tile_clean[core_rows, core_cols]

    def run_single_threaded(window: tuple[slice, slice, slice, slice]) -> None:
        with threadpool_limits(limits=1, user_api="openmp"):
            run(window)

    windows = list(tile_windows(image.shape, tile_size=config.tile_size, margin=config.tile_margin))
    workers = available_threads() if config.workers is None else config.workers
    if workers > 1 and len(windows) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run_single_threaded, windows))
    else:
        for window in windows:
            run(window)
    return CosmicRays(clean=clean, mask=crmask, n_pixels=int(np.count_nonzero(crmask)))


def tile_windows(
    shape: tuple[int, int], *, tile_size: int | None, margin: int
) -> Iterator[tuple[slice, slice, slice, slice]]:
    """Split a frame into overlapping tiles.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the frame.
    tile_size : int or None
        Largest side of a tile's core; ``None`` gives one tile (the frame).
        Cores are of equal size (within a pixel) and cover the frame exactly.
    margin : int
        Pixels added around each core (clipped at the frame's border).

    Yields
    ------
    tuple of slice
        ``(rows, cols)`` of the tile in the frame and ``(core_rows,
        core_cols)`` of its core inside the tile.
    """
    ny, nx = shape
    for r0, r1 in _cuts(ny, tile_size):
        for c0, c1 in _cuts(nx, tile_size):
            t0, t1 = max(r0 - margin, 0), min(r1 + margin, ny)
            u0, u1 = max(c0 - margin, 0), min(c1 + margin, nx)
            yield slice(t0, t1), slice(u0, u1), slice(r0 - t0, r1 - t0), slice(c0 - u0, c1 - u0)


def _cuts(length: int, tile_size: int | None) -> list[tuple[int, int]]:
    count = 1 if tile_size is None else -(-length // tile_size)
    edges = np.linspace(0, length, count + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _clean_tile(
    pixels: np.ndarray, mask: np.ndarray | None, sky: _Sky | None, settings: _Settings
) -> tuple[np.ndarray, np.ndarray]:
    """L.A.Cosmic on one tile; return its hit mask and cleaned pixels (float32).

    Ignored pixels keep their values (non-finite ones get the tile's median):
    filling them with a constant would put sharp edges next to them, which
    L.A.Cosmic flags — 74 false pixels around saturated cores on a 2048²
    frame when they were set to zero.
    """
    config = settings.config
    finite = np.isfinite(pixels)
    ignore = ~finite if mask is None else ~finite | (mask != 0)
    filled = pixels.astype(np.float32, copy=True)
    if not finite.all():
        filled[~finite] = np.median(filled[finite]) if finite.any() else 0.0
    crmask, clean = astroscrappy.detect_cosmics(
        filled,
        inmask=ignore,
        sigclip=config.sigclip,
        sigfrac=config.sigfrac,
        objlim=config.objlim,
        niter=config.niter,
        gain=settings.gain,
        readnoise=settings.read_noise,
        satlevel=settings.saturation_e,
        sepmed=config.sepmed,
        verbose=False,
    )
    crmask &= ~ignore
    to_clean = crmask
    if config.protect_sigma is not None and sky is not None and crmask.any():
        to_clean = _drop_star_cores(filled, crmask, sky, config.protect_sigma)
    if config.grow_sigma is not None and sky is not None and to_clean.any():
        to_clean = _grow(filled, to_clean, ignore, sky, config.grow_sigma)  # hits on stars do not grow
        crmask = crmask | to_clean
    np.copyto(clean, pixels, where=~to_clean, casting="same_kind")
    return crmask, clean


def _sky(image: np.ndarray, mask: np.ndarray | None, background: Background | None) -> _Sky:
    """Sky level and noise: the background maps, else robust global values of a pixel sample."""
    if background is not None:
        return _Sky(level=background.level, rms=background.rms)
    step = max(1, int(np.sqrt(image.size / _SKY_SAMPLE)))
    sample = image[::step, ::step]
    good = np.isfinite(sample)
    if mask is not None:
        good &= np.asarray(mask)[::step, ::step] == 0
    values = sample[good]
    median = float(np.median(values))
    return _Sky(level=median, rms=float(1.4826 * np.median(np.abs(values - median))))


def _grow(image: np.ndarray, crmask: np.ndarray, ignore: np.ndarray, sky: _Sky, grow_sigma: float) -> np.ndarray:
    """Add the hits' 8-neighbours standing ``grow_sigma`` sky sigmas above the sky (the edges of tracks).

    Only hits on the sky are grown (those on stars would grow into the star).

    L.A.Cosmic finds the sharp core of a track and, iteration by iteration,
    some of its fainter edge; one growing step finds more of the edge than
    two more iterations (``benchmarks/bench_cosmics_iterations.py``) for the
    price of one dilation.
    """
    with np.errstate(invalid="ignore"):
        above = (image - sky.level) > grow_sigma * np.asarray(sky.rms)
    return crmask | (ndimage.binary_dilation(crmask, structure=_EIGHT) & above & ~ignore)


def _drop_star_cores(image: np.ndarray, crmask: np.ndarray, sky: _Sky, protect_sigma: float) -> np.ndarray:
    """Return the hits to clean: those whose 2-3 px surrounding ring is not significantly above the sky."""
    labels, _ = ndimage.label(crmask, structure=_EIGHT)
    kept = crmask.copy()
    ny, nx = image.shape
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        pad = (
            slice(max(box[0].start - _RING_OUT, 0), min(box[0].stop + _RING_OUT, ny)),
            slice(max(box[1].start - _RING_OUT, 0), min(box[1].stop + _RING_OUT, nx)),
        )
        hit = labels[pad] == index
        inner = ndimage.binary_dilation(hit, structure=_EIGHT, iterations=_RING_IN)
        outer = ndimage.binary_dilation(hit, structure=_EIGHT, iterations=_RING_OUT)
        ring = outer & ~inner & ~crmask[pad]
        if not ring.any():
            continue
        local = sky.window(*pad)
        level = local.level[ring] if np.ndim(local.level) else local.level
        noise = local.rms[ring] if np.ndim(local.rms) else local.rms
        if np.median((image[pad][ring] - level) / noise) > protect_sigma:
            kept[pad][hit] = False
    return kept
