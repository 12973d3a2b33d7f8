"""The in-memory frame: pixel data, its header and normalised metadata."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from astropy.io import fits

__all__ = ["Frame", "FrameMeta"]


@dataclass(frozen=True)
class FrameMeta:
    """Normalised metadata of one frame (see :func:`rpf.io.read_meta`).

    Times are UTC; ``mjd_mid`` is the middle of the exposure.  Every value
    that fell back to a configured default is named in ``warnings``.
    """

    path: str
    stem: str
    shape: tuple[int, int]
    exptime: float
    date_obs: str | None = None
    mjd_start: float | None = None
    mjd_mid: float | None = None
    filter: str = "unknown"
    gain: float = 1.0
    read_noise: float = 5.0
    saturation: float = 65535.0
    site_lat: float | None = None
    site_lon: float | None = None
    site_elev: float | None = None
    observatory: str = ""
    ra: float | None = None
    dec: float | None = None
    pixel_scale: float | None = None
    airmass: float | None = None
    object: str = ""
    imagetyp: str = ""
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """Return the metadata as JSON-serialisable values."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["shape"] = list(self.shape)
        out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class Frame:
    """Pixel data (float32, ADU), the original header and normalised metadata.

    ``mask`` is a ``uint16`` map of per-pixel flags using the bit values of
    :class:`rpf.flags.SourceFlag` (``SATURATED``, ``BAD_PIXEL``,
    ``COSMIC_RAY``); ``0`` is a good pixel, ``None`` means all good.
    Frames are immutable by convention: stages return new frames with
    :meth:`with_data` rather than writing into ``data``.
    """

    data: np.ndarray
    header: fits.Header
    meta: FrameMeta
    mask: np.ndarray | None = field(default=None, repr=False)

    def with_data(self, data: np.ndarray, mask: np.ndarray | None = None) -> Frame:
        """Return a copy holding new pixel data (and optionally a new mask)."""
        return replace(self, data=data, mask=self.mask if mask is None else mask)
