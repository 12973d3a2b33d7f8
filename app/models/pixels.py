"""The pixels of the frame on screen (read off the event loop, one frame at a time)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.wcs import WCS

from app.models.scaling import DisplayScale

__all__ = ["FramePixelsView", "load_frame_pixels", "sky_hover_parameters"]


@dataclass(frozen=True, eq=False)
class FramePixelsView:
    """An image ready to draw.

    Attributes
    ----------
    image : numpy.ndarray
        float32 pixels, ``image[y, x]`` (calibrated, not background-subtracted).
    scale : DisplayScale
        Sample of the pixels for display limits.
    wcs : astropy.wcs.WCS or None
        The frame's astrometric solution.
    source : str
        What the pixels are (for the plot title).
    """

    image: np.ndarray
    scale: DisplayScale
    wcs: WCS | None
    source: str


def load_frame_pixels(result: Any) -> FramePixelsView:
    """Read a finished frame's calibrated pixels with :func:`rpf.pipeline.frame_pixels`.

    Slow for large frames (tens of ms per 1000² pixels): call it from a
    worker thread.

    Parameters
    ----------
    result : FrameResult
        The frame's result (``FrameDone.result``).

    Raises
    ------
    rpf.errors.ProductError
        The frame wrote no pixels, or they cannot be read.
    """
    from rpf.pipeline import frame_pixels

    pixels = frame_pixels(result)
    image = np.asarray(pixels.image, dtype=np.float32)
    wcs = pixels.wcs if pixels.wcs is not None and pixels.wcs.has_celestial else None
    return FramePixelsView(
        image=image, scale=DisplayScale.from_image(image), wcs=wcs, source=f"{Path(result.path).name} (calibrated)"
    )


def sky_hover_parameters(wcs: WCS | None) -> list[float]:
    """Return the linear part of a celestial WCS for the browser's RA/Dec read-out.

    Returns ``[crpix1, crpix2, crval1, crval2, cd11, cd12, cd21, cd22]`` (FITS
    1-based reference pixel, degrees, degrees per pixel), or an empty list
    without a solution.  The browser applies the gnomonic (TAN) projection to
    these, so that no per-pixel coordinate array is sent.
    """
    if wcs is None or not wcs.has_celestial:
        return []
    celestial = wcs.celestial
    cd = celestial.pixel_scale_matrix
    crpix, crval = celestial.wcs.crpix, celestial.wcs.crval
    return [float(v) for v in (*crpix, *crval, cd[0, 0], cd[0, 1], cd[1, 0], cd[1, 1])]
