"""Display scaling of an image: limits from the whole frame, stretches on what is drawn.

The limits (z-scale, percentiles, min-max) and the histogram-equalisation
curve come from a sample of the whole frame, so they do not change while
the user pans and zooms; the stretch is applied server-side to the
screen-sized raster only, which comes out as bytes (0-255).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.visualization import ZScaleInterval

__all__ = ["LIMITS", "STRETCHES", "DisplayScale"]

STRETCHES = ("linear", "sqrt", "log", "asinh", "histogram equalised")
"""How values between the limits map to grey levels."""

LIMITS = ("zscale", "percentile", "min-max")
"""Where the limits come from."""


@dataclass(frozen=True, eq=False)
class DisplayScale:
    """A sample of a frame's finite pixels, on a regular grid.

    Attributes
    ----------
    grid : numpy.ndarray
        Finite float32 values of every ``step``-th pixel in both axes, in
        image order (what IRAF's z-scale samples).
    sample : numpy.ndarray
        The same values sorted (percentiles, histogram equalisation).
    """

    grid: np.ndarray
    sample: np.ndarray

    @classmethod
    def from_image(cls, image: np.ndarray, *, max_samples: int = 250_000) -> DisplayScale:
        """Sample an image on a regular grid of pixels (NaNs left out)."""
        step = max(1, int(np.ceil(np.sqrt(image.size / max_samples))))
        values = np.asarray(image[::step, ::step], dtype=np.float32).ravel()
        values = values[np.isfinite(values)]
        values = values if values.size else np.zeros(1, np.float32)
        return cls(grid=values, sample=np.sort(values))

    def limits(self, how: str = "zscale", *, percent: float = 99.5) -> tuple[float, float]:
        """Return ``(low, high)`` display limits.

        Parameters
        ----------
        how : str
            ``"zscale"`` (IRAF's), ``"percentile"`` (the central ``percent``
            of the pixels) or ``"min-max"``.
        percent : float
            Share of the pixels kept between the limits (percentile only).
        """
        if how not in LIMITS:
            raise ValueError(f"unknown limits {how!r}; expected one of {', '.join(LIMITS)}")
        sample = self.sample
        if how == "zscale":
            low, high = ZScaleInterval().get_limits(self.grid)
        elif how == "percentile":
            cut = (100.0 - float(np.clip(percent, 50.0, 100.0))) / 2.0
            low, high = np.percentile(sample, [cut, 100.0 - cut])
        else:
            low, high = sample[0], sample[-1]
        low, high = float(low), float(high)
        return (low, high) if high > low else (low, low + 1.0)

    def to_bytes(self, values: np.ndarray, *, stretch: str = "linear", limits: tuple[float, float]) -> np.ndarray:
        """Map values to grey levels 0-255 (uint8); NaN becomes 0.

        Histogram equalisation ranks values among the frame's sampled pixels
        between the limits (linear when none is between them).

        Parameters
        ----------
        values : numpy.ndarray
            Pixels to draw (any shape; the raster on screen).
        stretch : str
            One of :data:`STRETCHES`.
        limits : tuple of float
            ``(low, high)`` from :meth:`limits`.
        """
        if stretch not in STRETCHES:
            raise ValueError(f"unknown stretch {stretch!r}; expected one of {', '.join(STRETCHES)}")
        low, high = limits
        with np.errstate(invalid="ignore", divide="ignore"):
            inside = self.sample[(self.sample >= low) & (self.sample <= high)]
            if stretch == "histogram equalised" and inside.size:
                ranks = np.searchsorted(inside, values) / inside.size
                scaled = np.where(np.isfinite(values), ranks, np.nan)
            else:
                scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
                if stretch == "sqrt":
                    scaled = np.sqrt(scaled)
                elif stretch == "log":
                    scaled = np.log1p(1000.0 * scaled) / np.log1p(1000.0)
                elif stretch == "asinh":
                    scaled = np.arcsinh(10.0 * scaled) / np.arcsinh(10.0)
        return np.nan_to_num(np.clip(scaled, 0.0, 1.0) * 255.0, nan=0.0).astype(np.uint8)
