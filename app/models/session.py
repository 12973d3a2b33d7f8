"""Everything one browser session owns: inputs, settings, the run, the selection, a folder."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import param

from app.models.inputs import Inputs
from app.models.run import RunController
from app.models.selection import Selection
from app.options import ServeOptions
from rpf.config import PipelineConfig

__all__ = ["Session"]


class Session(param.Parameterized):
    """One model instance per browser session (tested headless, no Panel).

    Parameters
    ----------
    options : ServeOptions
        The server's settings (data folder, roots, upload limit, base configuration).
    cluster : object
        The server's shared cluster (:class:`app.cluster.SharedCluster`).
    """

    options = param.ClassSelector(class_=ServeOptions, doc="The server's settings.")
    inputs = param.ClassSelector(class_=Inputs, doc="Frames chosen for the next run.")
    run = param.ClassSelector(class_=RunController, doc="The current run.")
    selection = param.ClassSelector(class_=Selection, doc="The frame and stars on screen.")
    folder = param.String(default="", doc="This session's uploads and products.")
    shown = param.Parameter(default=None, doc="FrameData of the selected frame, once it finished (else None).")

    def __init__(self, *, options: ServeOptions, cluster: Any, **params: Any) -> None:
        folder = Path(options.data_dir) / f"session-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True, exist_ok=True)
        inputs = Inputs(
            upload_dir=str(folder / "uploads"),
            max_upload_mb=options.max_upload_mb,
            roots=[str(r) for r in options.roots],
        )
        run = RunController(cluster=cluster, folder=str(folder / "runs"))
        super().__init__(
            options=options, inputs=inputs, run=run, selection=Selection(), folder=str(folder), **params
        )
        self.run.param.watch(self._frame_finished, "last_finished")
        self.run.param.watch(self._new_run, "frames")
        self.run.param.watch(self._update_shown, "finished")
        self.selection.param.watch(self._update_shown, "frame")

    def _frame_finished(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.selection.frame_finished(event.new)

    def _new_run(self, _: param.parameterized.Event) -> None:
        self.selection.param.update(frame=None, follow=True)
        self._update_shown()

    def _update_shown(self, *_: param.parameterized.Event) -> None:
        data = self.run.frame(self.selection.frame)
        if data is not self.shown:
            self.shown = data

    def config(self) -> PipelineConfig:
        """The configuration of the next run (with the demo's catalogue when the demo is loaded)."""
        config = self.options.config
        if self.inputs.catalog_file:
            config = config.replace(catalogs={"catalog_file": self.inputs.catalog_file, "reference": "file"})
        return config

    def start_run(self) -> bool:
        """Start a run of the chosen frames; False (with ``run.message``) when it cannot start."""
        inputs = self.inputs
        return self.run.start(
            inputs.science, config=self.config(), bias=inputs.bias, dark=inputs.dark, flat=inputs.flat
        )

    def close(self) -> None:
        """The browser tab closed: cancel the run (unless kept) and delete the session's files."""
        self.run.close()
        if not (self.run.keep_on_close and self.run.running):
            shutil.rmtree(self.folder, ignore_errors=True)
