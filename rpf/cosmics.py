"""Cosmic-ray detection and cleaning with L.A.Cosmic (``astroscrappy``)."""

from __future__ import annotations

from dataclasses import dataclass

import astroscrappy
import numpy as np
from scipy import ndimage

from rpf.background import Background
from rpf.config import CosmicsConfig
from rpf.errors import PhotometryError

__all__ = ["CosmicRays", "clean_cosmic_rays"]

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
        L.A.Cosmic parameters.

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
        If the image is not 2-D or the gain is not positive.
    """
    image = np.asarray(data)
    if image.ndim != 2:
        raise PhotometryError(f"cosmic rays need a 2-D image, got shape {image.shape}")
    if not config.enabled:
        return CosmicRays(clean=_read_only(image.astype(np.float32)), mask=np.zeros(image.shape, bool), n_pixels=0)
    gain = config.gain if config.gain is not None else gain
    read_noise = config.read_noise if config.read_noise is not None else read_noise
    saturation = config.saturation if config.saturation is not None else saturation
    if not gain > 0:
        raise PhotometryError(f"cosmic rays need a positive gain, got {gain}")
    ignore = ~np.isfinite(image)
    if mask is not None:
        ignore |= np.asarray(mask) != 0
    filled = np.where(ignore, np.float32(0.0), image).astype(np.float32, copy=False)
    crmask, clean = astroscrappy.detect_cosmics(
        filled,
        inmask=ignore,
        sigclip=config.sigclip,
        sigfrac=config.sigfrac,
        objlim=config.objlim,
        niter=config.niter,
        gain=float(gain),
        readnoise=float(read_noise),
        satlevel=float(saturation) * float(gain),
        sepmed=config.sepmed,
        verbose=False,
    )
    crmask &= ~ignore
    cleaned = crmask
    if config.protect_sigma is not None and crmask.any():
        level, rms = _sky(filled, ignore, background)
        cleaned = _drop_star_cores(filled, crmask, level, rms, config.protect_sigma)
    clean = np.where(cleaned, clean, image).astype(np.float32, copy=False)
    return CosmicRays(clean=clean, mask=crmask, n_pixels=int(crmask.sum()))


def _sky(
    image: np.ndarray, ignore: np.ndarray, background: Background | None
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Sky level and noise: the background maps, else robust global values."""
    if background is not None:
        return background.level, background.rms
    step = max(1, int(np.sqrt(image.size / _SKY_SAMPLE)))
    sample = image[::step, ::step][~ignore[::step, ::step]]
    median = float(np.median(sample))
    return median, float(1.4826 * np.median(np.abs(sample - median)))


def _drop_star_cores(
    image: np.ndarray,
    crmask: np.ndarray,
    level: np.ndarray | float,
    rms: np.ndarray | float,
    protect_sigma: float,
) -> np.ndarray:
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
        sky = level[pad][ring] if np.ndim(level) else level
        noise = rms[pad][ring] if np.ndim(rms) else rms
        if np.median((image[pad][ring] - sky) / noise) > protect_sigma:
            kept[pad][hit] = False
    return kept


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array
