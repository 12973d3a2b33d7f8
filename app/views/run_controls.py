"""Run, Re-run and Cancel, the run's state, and the one message box a failure lands in."""

from __future__ import annotations

import panel as pn
import param

from app.models.session import Session

__all__ = ["RunControls"]

STATE_TEXT = {
    "idle": "Ready.",
    "running": "Running: {done}/{n} frame(s) finished.",
    "cancelling": "Cancelling the unfinished frames ...",
    "finished": "Finished: {done}/{n} frame(s).",
    "cancelled": "Cancelled: {done}/{n} frame(s) finished.",
    "failed": "The run stopped.",
}


RERUN_HELP = (
    "Re-run: choose frames in the frames table (click, ctrl-click) or the night view, change settings, "
    "press Re-run; only the steps whose inputs changed are computed, and the 'Compare runs' page sets the new "
    "run beside the one before."
)


class RunControls(pn.viewable.Viewer):
    """Buttons and status of the session's run."""

    session = param.ClassSelector(class_=Session)
    cluster_message = param.String(default="", doc="The shared cluster's state.")
    cluster_ready = param.Boolean(default=False)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        run = self.session.run
        self.run_button = pn.widgets.Button(name="Run", button_type="primary", sizing_mode="stretch_width")
        self.cancel_button = pn.widgets.Button(name="Cancel", button_type="danger", sizing_mode="stretch_width")
        self.rerun_button = pn.widgets.Button(name="Re-run all frames", button_type="success",
                                              sizing_mode="stretch_width")
        self.all_button = pn.widgets.Button(name="Choose all", sizing_mode="stretch_width")
        self.run_button.on_click(lambda _: self.session.start_run())
        self.rerun_button.on_click(lambda _: self.session.rerun())
        self.all_button.on_click(lambda _: self.session.selection.pick_frames([]))
        self.cancel_button.on_click(lambda _: run.cancel())
        run.param.watch(self._buttons, ["state"])
        self.session.selection.param.watch(self._buttons, ["frames"])
        self.param.watch(self._buttons, ["cluster_ready"])
        self._buttons()

    def _buttons(self, *_: param.parameterized.Event) -> None:
        run = self.session.run
        running = run.running
        self.run_button.disabled = running or not self.cluster_ready
        self.cancel_button.disabled = not running
        chosen = len(self.session.selection.frames)
        self.rerun_button.name = f"Re-run {chosen} chosen frame(s)" if chosen else "Re-run all frames"
        self.rerun_button.disabled = running or not self.cluster_ready or run.state == "idle"
        self.all_button.disabled = not chosen

    def _state(self, state: str, finished: int, frames: object) -> str:
        n = len(self.session.run.frames)
        return STATE_TEXT[state].format(done=finished, n=n)

    def _message(self, message: str) -> pn.viewable.Viewable:
        if not message:
            return pn.Spacer(height=0)
        return pn.pane.Alert(message, alert_type="danger", name="run-message", sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        run = self.session.run
        return pn.Column(
            pn.Row(self.run_button, self.cancel_button, sizing_mode="stretch_width"),
            pn.Row(self.rerun_button, self.all_button, sizing_mode="stretch_width"),
            pn.pane.Markdown(RERUN_HELP, styles={"font-size": "12px", "color": "#555"}),
            pn.widgets.Checkbox.from_param(run.param.keep_on_close, name="Keep running if this tab closes"),
            pn.pane.Markdown(pn.bind(self._state, run.param.state, run.param.finished, run.param.frames)),
            pn.panel(pn.bind(self._message, run.param.message)),
            pn.pane.Markdown(self.param.cluster_message, styles={"font-size": "12px", "color": "#555"}),
            sizing_mode="stretch_width",
        )
