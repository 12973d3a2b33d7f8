"""Everything one browser session owns: inputs, settings, the run, the selection, a folder."""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import param

from app.models.accounts import Account, AccountStore
from app.models.inputs import Inputs
from app.models.pointing import Pointing
from app.models.run import NO_FRAMES, RunController
from app.models.selection import Selection
from app.models.settings import Settings
from app.options import ServeOptions
from rpf.config import PipelineConfig
from rpf.errors import ConfigError

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
    settings = param.ClassSelector(class_=Settings, doc="Every pipeline parameter of the next run.")
    pointing = param.ClassSelector(class_=Pointing, doc="Manual pointing and observatory (into the settings).")
    run = param.ClassSelector(class_=RunController, doc="The current run.")
    selection = param.ClassSelector(class_=Selection, doc="The frame and stars on screen.")
    account = param.ClassSelector(class_=Account, doc="Who is signed in; their saved settings.")
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
        settings = Settings(options.config)
        super().__init__(
            options=options, inputs=inputs, settings=settings, pointing=Pointing(settings=settings), run=run,
            selection=Selection(), folder=str(folder), **params,
            account=Account(store=AccountStore(options.accounts_file), settings=settings),
        )  # fmt: skip
        self.run.param.watch(self._frame_finished, "last_finished")
        self.run.param.watch(self._new_run, "frames")
        self.run.param.watch(self._update_shown, "finished")
        self.selection.param.watch(self._update_shown, "frame")
        self.inputs.param.watch(self._frames_chosen, "science")

    def _frames_chosen(self, event: param.parameterized.Event) -> None:
        if event.new and self.run.message == NO_FRAMES:
            self.run.message = ""  # answered: the frames are there now

    def _frame_finished(self, event: param.parameterized.Event) -> None:
        if event.new is not None:
            self.selection.frame_finished(event.new)

    def _new_run(self, _: param.parameterized.Event) -> None:
        self.selection.param.update(frame=None, follow=True, frames=[])
        self._update_shown()

    def _update_shown(self, *_: param.parameterized.Event) -> None:
        data = self.run.frame(self.selection.frame)
        if data is not self.shown:
            self.shown = data

    def config(self) -> PipelineConfig:
        """Return the configuration of the next run (with the demo's catalogue when the demo is loaded).

        Raises
        ------
        ConfigError
            A setting breaks its rule.
        """
        config = self.settings.to_config()
        if self.inputs.catalog_file:
            config = config.replace(catalogs={"catalog_file": self.inputs.catalog_file, "reference": "file"})
        return config

    def start_run(self) -> bool:
        """Start a run of the chosen frames; False (with ``run.message``) when it cannot start."""
        inputs = self.inputs
        try:
            config = self.config()
        except ConfigError as exc:
            self.run.message = f"fix the settings first: {exc}"
            return False
        return self.run.start(
            inputs.science, config=config, bias=inputs.bias, dark=inputs.dark, flat=inputs.flat
        )

    def rerun(self) -> bool:
        """Run the chosen frames (``selection.frames``; none chosen: all) again with the current settings.

        Only the steps whose inputs or parameters changed are computed
        (:meth:`RunController.rerun`); False with ``run.message`` when it cannot start.
        """
        try:
            config = self.config()
        except ConfigError as exc:
            self.run.message = f"fix the settings first: {exc}"
            return False
        return self.run.rerun(self.selection.frames, config=config)

    def close(self) -> None:
        """Release the session (its tab closed): cancel the run unless kept, then delete the session's files.

        A cancelled run still stops its frames in the background; the folder
        goes once its thread has finished (a daemon thread waits for it, never
        the caller).
        """
        kept = self.run.keep_on_close and self.run.running
        handle = self.run.close()
        if kept:
            return
        if handle is None or handle.done:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        threading.Thread(target=_delete_when_done, args=(handle, self.folder), daemon=True,
                         name="rpf-session-cleanup").start()  # fmt: skip


def _delete_when_done(handle: Any, folder: str, timeout: float = 600.0) -> None:
    try:
        handle.wait(timeout)
    except Exception:  # noqa: BLE001, S110 - the run's own error was shown already; the files go regardless
        pass
    shutil.rmtree(folder, ignore_errors=True)
