"""Preview PNG of an image with its detections (matplotlib Agg, no pyplot state)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from astropy.visualization import AsinhStretch, ZScaleInterval
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rpf.products.atomic import atomic_path

__all__ = ["downsample", "write_preview_png"]

_ZSCALE_SAMPLES = 100_000


def downsample(image: np.ndarray, *, factor: int) -> np.ndarray:
    """Return the block mean of ``image`` over ``factor`` × ``factor`` pixels (edges cropped).

    Blocks containing a non-finite pixel are NaN.
    """
    if factor <= 1:
        return np.asarray(image, dtype=np.float32)
    ny, nx = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    blocks = np.asarray(image[:ny, :nx], dtype=np.float32).reshape(ny // factor, factor, nx // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _stretch(image: np.ndarray) -> np.ndarray:
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return np.zeros_like(image)
    sample = finite[:: max(1, finite.size // _ZSCALE_SAMPLES)]
    low, high = ZScaleInterval().get_limits(sample)
    if not high > low:
        low, high = float(finite.min()), float(finite.max()) + 1.0
    scaled = np.clip((image - low) / (high - low), 0.0, 1.0)
    return AsinhStretch(a=0.1)(scaled, clip=True)


def write_preview_png(
    image: np.ndarray,
    sources_xy: np.ndarray | None,
    path: str | os.PathLike[str],
    *,
    title: str,
    max_size: int = 1024,
    dpi: int = 100,
) -> Path:
    """Write a zscale + asinh stretched preview with circles on the detections, atomically.

    The image is block-averaged first so that its longest side is at most
    ``max_size`` pixels (a 4096² frame renders in well under a second);
    circles stay in original 0-based pixel coordinates.

    Parameters
    ----------
    image : numpy.ndarray
        2-D image (NaN shown in red).
    sources_xy : numpy.ndarray or None
        ``(N, 2)`` 0-based ``x, y`` of detections.
    path : str or os.PathLike
        Output PNG.
    title : str
        Plot title.
    max_size : int
        Longest side of the rendered image in pixels.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    factor = max(1, int(np.ceil(max(image.shape) / max_size)))
    small = _stretch(downsample(image, factor=factor))
    height, width = small.shape[0] * factor, small.shape[1] * factor
    figure = Figure(figsize=(8.0, 8.0 * max(height, 1) / max(width, 1) + 0.6), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(small, origin="lower", cmap=colormaps["gray"].with_extremes(bad="red"), interpolation="nearest",
                extent=(-0.5, width - 0.5, -0.5, height - 0.5))
    xy = np.empty((0, 2)) if sources_xy is None else np.asarray(sources_xy, dtype=float).reshape(-1, 2)
    if len(xy):
        axes.scatter(xy[:, 0], xy[:, 1], s=40, facecolors="none", edgecolors="lime", linewidths=0.6)
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(-0.5, height - 0.5)
    axes.set_title(title)
    axes.set_xlabel("x (pixel)")
    axes.set_ylabel("y (pixel)")
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.07, top=0.95)  # fixed: tight_layout costs ~0.2 s
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return Path(path)
