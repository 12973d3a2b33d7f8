"""A whole night as it is reduced: per-frame quality with outlier flags, the stars seen so far, a selection.

:class:`NightModel` is fed a run's events (:meth:`NightModel.ingest`) or follows a
:class:`~app.models.run.RunController` (:meth:`NightModel.follow`: the
dashboard's run, or a notebook's).  After each batch it recomputes the quality
table (:func:`rpf.night.night_quality`, ~ms per frame) and adds the new
frames to the cross-identified stars (:class:`rpf.lightcurves.NightStars`,
one frame at a time).  No Panel here: the views read the params.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param

from rpf.errors import PhotometryError
from rpf.lightcurves import FramePhotometry, NightStars, StarLightCurve, star_lightcurve, target_position
from rpf.night import QualityThresholds, night_quality
from rpf.night.quality import QUALITY_COLUMNS
from rpf.pipeline.events import Event, FrameDone, FrameFailed, RunStarted
from rpf.pipeline.finish import match_radius_arcsec

__all__ = ["NIGHT_COLUMNS", "NightModel", "empty_quality"]

NIGHT_COLUMNS = ("index", *QUALITY_COLUMNS)
"""Columns of :attr:`NightModel.quality`: the run's frame index, then :data:`rpf.night.quality.QUALITY_COLUMNS`."""


def empty_quality() -> pd.DataFrame:
    """Return the quality table of a night without frames (typed columns)."""
    text = {"frame", "status", "flags", "reasons", "date_obs", "filter", "band", "wcs_source"}
    columns = {name: pd.Series([], dtype=object if name in text else bool if name == "flagged" else float)
               for name in QUALITY_COLUMNS}
    return pd.DataFrame({"index": pd.Series([], dtype="int64"), **columns})


def _failed_metadata(event: FrameFailed) -> dict[str, Any]:
    meta = dict(event.metadata)
    meta.setdefault("frame", Path(event.path).name)
    meta["status"] = meta.get("status") if meta.get("status") not in (None, "ok") else "failed"
    meta.setdefault("failed_stage", event.stage)
    meta.setdefault("error", event.message)
    return meta


def _solved(metadata: dict[str, Any]) -> bool:
    return metadata.get("status") == "ok" and metadata.get("wcs_source") not in (None, "", "none")


class NightModel(param.Parameterized):
    """The night of one run, filled as its frames finish.

    Parameters
    ----------
    thresholds : QualityThresholds
        What counts as an outlier frame.
    """

    thresholds = param.ClassSelector(class_=QualityThresholds, default=QualityThresholds(), doc="Outlier thresholds.")
    n_frames = param.Integer(default=0, doc="Frames in the run.")
    finished = param.Integer(default=0, doc="Frames finished (done or failed) so far.")
    quality = param.DataFrame(default=empty_quality(), doc="One row per finished frame, time order (NIGHT_COLUMNS).")
    extinction = param.List(default=[], doc="Per band: the fitted extinction line (NightExtinction.to_dict()).")
    limits = param.Dict(default={}, doc="Per filter and quantity: median, sigma, limit, side of the outlier tests.")
    stars = param.ClassSelector(class_=NightStars, default=None, allow_None=True, doc="Stars cross-identified so far.")
    selected = param.List(default=[], item_type=int, doc="Frame indices selected in any plot or the table.")
    frame = param.Integer(default=None, allow_None=True, doc="The frame clicked last (the dashboard opens it).")
    version = param.Integer(default=0, doc="Increases after each batch of new frames (views redraw on it).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.results: dict[int, Any] = {}
        self.metadata: dict[int, dict[str, Any]] = {}
        self.paths: list[str] = []
        self._watchers: list[tuple[Any, Any]] = []

    # ---- filling -------------------------------------------------------------------------------------------

    def reset(self, paths: Sequence[str] = ()) -> None:
        """Forget the night: a new run of these frames begins."""
        self.results, self.metadata, self.paths = {}, {}, [str(p) for p in paths]
        self.param.update(n_frames=len(self.paths), finished=0, quality=empty_quality(), extinction=[], limits={},
                          stars=None, selected=[], frame=None, version=self.version + 1)  # fmt: skip

    def ingest(self, events: Iterable[Event]) -> int:
        """Take a batch of run events; return how many frames finished in it.

        ``FrameDone`` and ``FrameFailed`` add a frame, ``RunStarted`` sizes
        the night; other events are ignored.
        The quality table is recomputed once per batch.
        """
        new = []
        for event in events:
            if isinstance(event, RunStarted):
                self.n_frames = max(self.n_frames, event.n_frames)
            elif isinstance(event, FrameDone):
                self.results[event.index] = event.result
                self.metadata[event.index] = dict(event.metadata)
                new.append(event.index)
            elif isinstance(event, FrameFailed):
                self.metadata[event.index] = _failed_metadata(event)
                new.append(event.index)
        if new:
            self._update(new)
        return len(new)

    def add_result(self, index: int, result: Any) -> None:
        """Add one finished frame from its :class:`~rpf.pipeline.FrameResult` (failed ones too)."""
        self.results[index] = result
        self.metadata[index] = dict(result.metadata)
        self._update([index])

    def _update(self, new: list[int]) -> None:
        stars = self.stars
        for index in sorted(new):
            result = self.results.get(index)
            if result is None or not _solved(self.metadata[index]) or result.phot is None:
                continue
            if stars is None:
                solved = [m for m in self.metadata.values() if _solved(m)]
                stars = NightStars(radius_arcsec=match_radius_arcsec(solved))
            stars = stars.add(FramePhotometry.from_result(result))
        order = sorted(self.metadata)
        quality = night_quality([self.metadata[i] for i in order], thresholds=self.thresholds)
        table = quality.table.to_pandas()
        by_name = {str(self.metadata[i].get("frame")): i for i in order}
        table.insert(0, "index", [by_name[str(name)] for name in table["frame"]])
        self.param.update(
            quality=table,
            extinction=[fit.to_dict() for fit in quality.extinction],
            limits=quality.limits,
            stars=stars,
            finished=len(self.metadata),
            n_frames=max(self.n_frames, len(self.metadata)),
            version=self.version + 1,
        )

    # ---- following a run -------------------------------------------------------------------------------------

    def follow(self, run: Any) -> None:
        """Fill from a :class:`~app.models.run.RunController` (its rows and results as they change).

        Each new run of the controller (its ``frames`` replaced) starts the night afresh.
        """
        self._watchers.append((run, run.param.watch(lambda _: self._from_run(run, reset=True), "frames")))
        self._watchers.append((run, run.param.watch(lambda event: self._from_changes(run, event.new), "changes")))
        self._from_run(run, reset=True)

    def _from_run(self, run: Any, *, reset: bool) -> None:
        if reset:
            self.reset(run.paths)
        changes = [(int(i), {"status": row["status"], "stage": row["stage"], "message": row["message"]})
                   for i, row in run.frames.iterrows() if row["status"] in ("done", "failed")]
        self._from_changes(run, changes)

    def _from_changes(self, run: Any, changes: Sequence[tuple[int, dict[str, Any]]]) -> None:
        new = []
        for index, values in changes:
            if index in self.metadata:
                continue
            if values.get("status") == "done" and run.frame(index) is not None:
                result = run.frame(index).result
                self.results[index] = result
                self.metadata[index] = dict(result.metadata)
                new.append(index)
            elif values.get("status") == "failed":
                path = run.paths[index] if index < len(run.paths) else f"frame {index}"
                self.metadata[index] = {"frame": Path(path).name, "status": "failed",
                                        "failed_stage": values.get("stage") or None, "error": values.get("message")}
                new.append(index)
        if new:
            self._update(new)

    def unfollow(self) -> None:
        """Stop following a RunController."""
        for run, watcher in self._watchers:
            run.param.unwatch(watcher)
        self._watchers = []

    # ---- selection -----------------------------------------------------------------------------------------

    def select(self, indices: Iterable[int]) -> None:
        """Select frames by run index (known frames only, sorted, no repeats)."""
        known = set(self.metadata)
        chosen = sorted({int(i) for i in indices} & known)
        if chosen != self.selected:
            self.selected = chosen

    def pick(self, index: int) -> None:
        """Select one clicked frame alone and make it the frame on show."""
        self.select([index])
        if index in self.metadata:
            self.frame = int(index)

    # ---- results as pandas / astropy -----------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """Return the quality table so far (a copy): one row per frame, flags and reasons included."""
        return self.quality.copy()

    def photometry(self, index: int) -> pd.DataFrame:
        """One finished frame's photometry as a DataFrame (:func:`rpf.products.phot_dataframe`)."""
        from rpf.products import phot_dataframe

        result = self.results.get(index)
        if result is None or result.phot is None:
            raise PhotometryError(f"night: frame {index} has no photometry (not finished, or failed)")
        return phot_dataframe(result.phot)

    def tables(self) -> list[Any]:
        """Return the photometry tables of the finished frames, in run order."""
        return [self.results[i].phot for i in sorted(self.results) if self.results[i].phot is not None]

    def position(
        self, *, name: str | None = None, index: int | None = None, row: int | None = None
    ) -> tuple[float, float]:
        """Return where a star is: by cross-match / catalogue name, or by row of a frame's table."""
        if name is not None:
            return target_position(self.tables(), name=name)
        if index is None or index not in self.results:
            raise PhotometryError(f"night: frame {index} has no photometry (not finished, or failed)")
        return target_position(self.results[index].phot, row=row)

    def lightcurve(
        self,
        ra: float | None = None,
        dec: float | None = None,
        *,
        name: str | None = None,
        comparison: Sequence[Any] | None = None,
        check: Any = None,
    ) -> StarLightCurve:
        """Return the light curve of the star at ``(ra, dec)`` (or named ``name``) over the frames so far.

        ``.points``, ``.comparison``, ``.check`` and ``.curves`` are astropy
        tables (``.to_pandas()`` for pandas).

        Raises
        ------
        rpf.errors.PhotometryError
            No solved frame yet, no star there, or too few comparison stars.
        """
        if self.stars is None:
            raise PhotometryError("night: no solved frame yet")
        if name is not None:
            ra, dec = self.position(name=name)
        if ra is None or dec is None:
            raise PhotometryError("night: give a position (ra, dec) or a name")
        return star_lightcurve(self.stars, ra=float(ra), dec=float(dec), comparison=comparison, check=check)

    def star_summary(self) -> pd.DataFrame:
        """Every star seen so far: number, position, frames, median magnitude and its scatter (for picking)."""
        columns = ("star", "ra", "dec", "n_frames", "mag", "rms")
        if self.stars is None or self.stars.n_stars == 0:
            return pd.DataFrame({c: pd.Series([], dtype="int64" if c in ("star", "n_frames") else float)
                                 for c in columns})
        m = self.stars.matrices
        ra, dec = self.stars.positions
        mag = np.where(m.present, m.mag, np.nan)
        n = np.sum(m.present, axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: stars seen once have no scatter
            median = np.nanmedian(mag, axis=1)
            rms = 1.4826 * np.nanmedian(np.abs(mag - median[:, None]), axis=1)
        return pd.DataFrame({"star": np.arange(self.stars.n_stars), "ra": ra, "dec": dec, "n_frames": n,
                             "mag": median, "rms": rms})  # fmt: skip
