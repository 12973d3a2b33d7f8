"""The value passed from one per-frame stage to the next."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from astropy.table import QTable

from rpf.frame import Frame

__all__ = ["FrameResult", "FrameState"]


@dataclass(frozen=True)
class FrameState:
    """Everything known about one frame after some stages.

    Each stage returns a new state with :meth:`evolve`; nothing is mutated,
    so a state can be shipped between Dask workers and a stage retried.
    After the cosmic-ray stage ``frame.data`` holds the cleaned image and
    ``frame.mask`` the hits (``COSMIC_RAY`` bits): a state carries one copy
    of the pixels, its mask and the two background maps, nothing more.
    """

    path: str
    frame: Frame | None = None
    background: Any = None
    cosmic_pixels: int | None = None
    fwhm: Any = None
    sources: QTable | None = None
    phot: QTable | None = None
    wcs: Any = None
    reference: QTable | None = None
    zero_point: Any = None
    airmass: Any = None
    psf: Any = None
    crossmatch: list = field(default_factory=list)
    limiting_mag: float | None = None
    band: str | None = None
    difference: Any = None
    difference_candidates: QTable | None = None
    targets: QTable | None = None
    timings: dict[str, float] = field(default_factory=dict)
    log: tuple[str, ...] = ()
    error: str | None = None
    failed_stage: str | None = None

    def evolve(self, **changes: Any) -> FrameState:
        """Return a copy with some fields changed."""
        return replace(self, **changes)

    def note(self, message: str) -> FrameState:
        """Return a copy with one more log line."""
        return replace(self, log=(*self.log, message))

    @property
    def image(self) -> np.ndarray:
        """A new array: the (cleaned) frame minus the background level, used for photometry."""
        return np.subtract(self.frame.data, self.background.level, dtype=np.float32)


@dataclass(frozen=True)
class FrameResult:
    """What a finished (or failed) frame hands back to the caller.

    Small by design (no pixel data) so it can stream from Dask workers to a
    dashboard: the metadata dictionary of the contract, the photometry
    table, and the paths of the products written.
    """

    path: str
    status: str
    metadata: dict[str, Any]
    phot: QTable | None = None
    products: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the frame was processed successfully."""
        return self.status == "ok"
