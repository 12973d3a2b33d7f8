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

    Besides the stage products, a state carries what later steps and the
    products need to know as values, never as log text:
    ``detected_with`` (FWHM of the detection filter and background box of
    the last detection), ``reference_cone`` (``ra, dec, radius_deg`` the
    reference catalogue was fetched for), ``reference_status`` (the Gaia
    DR3 :class:`~rpf.catalogs.ServiceReport` of that fetch),
    ``reference_note`` (what that fetch gave, or why there was none),
    ``calibrators`` (the matched reference stars of the zero point),
    ``uncalibrated`` (why the frame has no zero point) and ``warnings``
    (the frame's warnings, header ones first).  ``reused`` names the steps
    whose result came from a checkpoint of an earlier run
    (:mod:`rpf.pipeline.checkpoint`).
    """

    path: str
    frame: Frame | None = None
    background: Any = None
    cosmic_pixels: int | None = None
    fwhm: Any = None
    sources: QTable | None = None
    detected_with: tuple[float, int] | None = None
    phot: QTable | None = None
    wcs: Any = None
    reference: QTable | None = None
    reference_cone: tuple[float, float, float] | None = None
    reference_status: Any = None
    reference_note: str | None = None
    zero_point: Any = None
    airmass: Any = None
    calibrators: Any = None
    uncalibrated: str | None = None
    psf: Any = None
    crossmatch: list = field(default_factory=list)
    limiting_mag: float | None = None
    band: str | None = None
    difference: Any = None
    difference_candidates: QTable | None = None
    targets: QTable | None = None
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    log: tuple[str, ...] = ()
    error: str | None = None
    failed_stage: str | None = None
    reused: tuple[str, ...] = ()

    def evolve(self, **changes: Any) -> FrameState:
        """Return a copy with some fields changed."""
        return replace(self, **changes)

    def note(self, message: str) -> FrameState:
        """Return a copy with one more log line."""
        return replace(self, log=(*self.log, message))

    def warn(self, message: str) -> FrameState:
        """Return a copy with one more warning (in ``warnings`` and as a ``WARNING`` log line)."""
        return replace(self, warnings=(*self.warnings, message), log=(*self.log, f"WARNING {message}"))

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
