"""The one event stream of a run: what the CLI progress bar and the dashboard consume.

A run yields, in this order per frame, :class:`FrameStarted`, one
:class:`StageDone` per stage, then :class:`FrameDone` or :class:`FrameFailed`;
the run itself opens with :class:`RunStarted` and closes with
:class:`RunFinished`.  Every event is a frozen dataclass whose
:meth:`~Event.to_dict` is JSON-serialisable with the same conversion as the
metadata file (:func:`rpf.products.to_jsonable`: NaN becomes ``None``, times
ISO strings; a value that cannot be written raises ``ProductError``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rpf.pipeline.state import FrameResult
from rpf.products.metadata import to_jsonable

__all__ = [
    "Event",
    "FrameDone",
    "FrameFailed",
    "FrameStarted",
    "RunFinished",
    "RunStarted",
    "StageDone",
    "frame_outcome",
]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event: the run it belongs to and when it happened (Unix time)."""

    kind: ClassVar[str] = "event"
    run_id: str
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-serialisable dictionary with an ``event`` key."""
        out: dict[str, Any] = {"event": self.kind}
        for f in fields(self):
            out[f.name] = to_jsonable(getattr(self, f.name), where=f"{self.kind}.{f.name}")
        return out


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """A run was submitted: how many frames, on which cluster."""

    kind: ClassVar[str] = "run_started"
    n_frames: int
    out_dir: str
    scheduler: str | None = None
    dashboard: str | None = None


@dataclass(frozen=True, kw_only=True)
class FrameStarted(Event):
    """A worker began the first stage of a frame."""

    kind: ClassVar[str] = "frame_started"
    path: str
    index: int

    @property
    def frame(self) -> str:
        """The file name of the frame."""
        return Path(self.path).name


@dataclass(frozen=True, kw_only=True)
class StageDone(Event):
    """One stage of one frame finished (``failed`` when it recorded an error).

    ``reused`` when the stage was not computed: its result came from an
    earlier run with the same provenance (``seconds`` is then 0).
    """

    kind: ClassVar[str] = "stage_done"
    path: str
    index: int
    stage: str
    seconds: float | None = None
    failed: bool = False
    reused: bool = False


@dataclass(frozen=True, kw_only=True)
class FrameDone(Event):
    """A frame was processed: its contract metadata and its catalogue.

    ``result`` holds the full :class:`~rpf.pipeline.state.FrameResult`
    (metadata, photometry table, product paths); the properties give the
    values a progress display shows.
    """

    kind: ClassVar[str] = "frame_done"
    path: str
    index: int
    result: FrameResult = field(repr=False)

    @property
    def metadata(self) -> dict[str, Any]:
        """The contract's metadata dictionary of the frame."""
        return self.result.metadata

    @property
    def zero_point(self) -> float | None:
        """Photometric zero point (mag)."""
        return self.metadata.get("zero_point")

    @property
    def fwhm_px(self) -> float | None:
        """Seeing FWHM in pixels."""
        return self.metadata.get("fwhm_px")

    @property
    def airmass(self) -> float | None:
        """Airmass of the frame."""
        return self.metadata.get("airmass")

    @property
    def n_sources(self) -> int:
        """Number of sources in the catalogue."""
        return int(self.metadata.get("n_sources") or 0)

    def to_dict(self, *, catalogue: bool = True) -> dict[str, Any]:
        """Return the event with the metadata and (optionally) the catalogue rows.

        Parameters
        ----------
        catalogue : bool
            Include the photometry table as a list of row dictionaries.
        """
        out: dict[str, Any] = {
            "event": self.kind,
            "run_id": self.run_id,
            "time": self.time,
            "path": self.path,
            "index": self.index,
            "metadata": to_jsonable(self.metadata, where="frame_done.metadata"),
            "products": to_jsonable(self.result.products, where="frame_done.products"),
        }
        if catalogue:
            out["catalogue"] = table_rows(self.result.phot)
        return out


@dataclass(frozen=True, kw_only=True)
class FrameFailed(Event):
    """A frame failed; ``message`` names the file and the problem."""

    kind: ClassVar[str] = "frame_failed"
    path: str
    index: int
    message: str
    stage: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    """The run ended (all frames done, or cancelled): counts and run products.

    ``extinction`` holds one fitted night extinction per band
    (:meth:`rpf.pipeline.extinction.NightExtinction.to_dict`: ``band, k, k_err,
    zp0, zp0_err, rms, n_frames, ...``), also written to ``extinction_json``.
    ``timings`` says where the run's wall time went
    (:meth:`rpf.pipeline.timings.RunClock.to_dict`: cluster start, submission,
    masters and whether the cache answered, per-frame waiting, stages,
    products and return, the run's own products, the cluster's shutdown).
    ``n_reused`` counts the frames whose products were reused whole;
    ``manifest`` is the run's ``manifest.json``
    (:func:`rpf.pipeline.outputs.write_manifest`).
    """

    kind: ClassVar[str] = "run_finished"
    n_frames: int
    n_ok: int
    n_failed: int
    n_cancelled: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    summary_csv: str | None = None
    lightcurves_csv: str | None = None
    extinction_json: str | None = None
    extinction: tuple[dict[str, Any], ...] = ()
    messages: tuple[str, ...] = ()
    timings: dict[str, Any] = field(default_factory=dict)
    n_reused: int = 0
    manifest: str | None = None

    @property
    def ok(self) -> bool:
        """True when every frame succeeded."""
        return self.n_ok == self.n_frames


def frame_outcome(run_id: str, index: int, result: FrameResult) -> FrameDone | FrameFailed:
    """Return the closing event of a frame: :class:`FrameDone`, or :class:`FrameFailed` with its error.

    A failed result's error names the file already (:func:`rpf.pipeline.frame.run_stage`,
    :func:`rpf.pipeline.finish.failed_result`).
    """
    if result.ok:
        return FrameDone(run_id=run_id, path=result.path, index=index, result=result)
    return FrameFailed(
        run_id=run_id,
        path=result.path,
        index=index,
        message=result.error or f"{result.path}: failed",
        stage=result.metadata.get("failed_stage"),
        metadata=result.metadata,
    )


def table_rows(table: Any) -> list[dict[str, Any]]:
    """Return an astropy table as JSON-serialisable row dictionaries ([] for None)."""
    if table is None:
        return []
    columns = {name: to_jsonable(np.asarray(getattr(table[name], "value", table[name])), where=f"catalogue.{name}")
               for name in table.colnames}
    return [{name: columns[name][i] for name in table.colnames} for i in range(len(table))]
