"""The pixels of the frame on screen (loaded off the event loop, one frame at a time)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

from app.models.scaling import DisplayScale
from rpf.errors import FrameError

__all__ = ["FramePixelsView", "load_frame_pixels"]


@dataclass(frozen=True, eq=False)
class FramePixelsView:
    """An image ready to draw.

    Attributes
    ----------
    image : numpy.ndarray
        float32 pixels, ``image[y, x]``.
    scale : DisplayScale
        Sample of the pixels for display limits.
    source : str
        What the pixels are (for the plot title).
    """

    image: np.ndarray
    scale: DisplayScale
    source: str


def load_frame_pixels(path: str | Path) -> FramePixelsView:
    """Read the first 2-D image of a frame's FITS file as float32.

    Slow for large frames (tens of ms per 1000² pixels): call it from a
    worker thread.

    Raises
    ------
    FrameError
        The file cannot be read or holds no 2-D image.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            hdu = next((h for h in hdul if getattr(h, "data", None) is not None and h.data.ndim == 2), None)
            if hdu is None:
                raise FrameError(str(path), "no 2-D image in the file")
            image = np.asarray(hdu.data, dtype=np.float32)
    except OSError as exc:
        raise FrameError(str(path), f"cannot read the image: {exc}") from exc
    return FramePixelsView(image=image, scale=DisplayScale.from_image(image), source=f"{Path(path).name} (raw)")
