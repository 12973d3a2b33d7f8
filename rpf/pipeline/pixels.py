"""A processed frame's pixels back from its products, without reprocessing it."""

from __future__ import annotations

import os

from rpf.errors import ProductError
from rpf.pipeline.state import FrameResult
from rpf.products.pixels import FramePixels, read_calibrated_fits

__all__ = ["FramePixels", "frame_pixels"]


def frame_pixels(result_or_path: FrameResult | str | os.PathLike[str]) -> FramePixels:
    """Return the calibrated image, background, mask and WCS of a processed frame.

    Parameters
    ----------
    result_or_path : FrameResult or path
        A frame's result (from :class:`~rpf.pipeline.events.FrameDone`), or
        the path of its ``<stem>_calibrated.fits``.

    Returns
    -------
    FramePixels
        ``image`` (float32, not background-subtracted), ``background`` and
        ``background_rms`` (float32 or None), ``mask`` (uint16), ``wcs`` (or
        None), ``header``.

    Raises
    ------
    rpf.errors.ProductError
        The frame wrote no pixels (it failed, or ``output.calibrated_fits``
        was off), or the file cannot be read.

    Examples
    --------
    >>> pixels = frame_pixels(event.result)  # doctest: +SKIP
    >>> pixels.image.shape, pixels.wcs.pixel_scale_matrix  # doctest: +SKIP
    """
    if isinstance(result_or_path, FrameResult):
        path = result_or_path.products.get("calibrated")
        if path is None:
            why = "it failed" if not result_or_path.ok else "output.calibrated_fits was off"
            raise ProductError(f"{result_or_path.path}: no calibrated pixels were written ({why})")
        return read_calibrated_fits(path)
    return read_calibrated_fits(result_or_path)
