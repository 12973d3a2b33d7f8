"""The frames of the run: one row each, patched as events arrive; a click shows that frame.

The selected rows are the frames chosen for a re-run (``Selection.frames``,
shared with the night view): a click chooses one frame and shows it, a
ctrl-click adds a frame, a shift-click a range.
"""

from __future__ import annotations

import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from app.models.session import Session

__all__ = ["FramesTable"]

TITLES = {
    "frame": "Frame", "status": "Status", "stage": "Last stage", "progress": "Steps", "reused": "Reused",
    "sources": "Sources",
    "fwhm_arcsec": 'FWHM (")', "zero_point": "Zero point", "zero_point_err": "±", "limiting_mag": "Lim. mag",
    "airmass": "Airmass", "wcs": "WCS", "message": "Message",
}  # fmt: skip


def _number(pattern: str) -> NumberFormatter:
    """Numbers with a fixed precision; blank until the frame has them (no "NaN")."""
    return NumberFormatter(format=pattern, nan_format="", null_format="")


class FramesTable(pn.viewable.Viewer):
    """Tabulator of the run's frames, updated row by row (``patch``), never redrawn per event."""

    session = param.ClassSelector(class_=Session)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        run = self.session.run
        self.table = pn.widgets.Tabulator(
            run.frames.copy(),
            show_index=False,
            layout="fit_data_stretch",
            disabled=True,
            selectable=True,
            titles=TITLES,
            formatters={
                "progress": {"type": "progress", "max": run._n_stages, "legend": True},
                **{c: _number("0.000") for c in ("zero_point", "zero_point_err")},
                **{c: _number("0.00") for c in ("fwhm_arcsec", "limiting_mag", "airmass")},
                "sources": _number("0"),
            },
            widths={"message": 320, "frame": 130, "progress": 95, "reused": 115},
            height=210,
            sizing_mode="stretch_width",
            name="frames-table",
        )
        self._syncing = False
        self.table.param.watch(self._picked, "selection")
        run.param.watch(self._replace, "frames")
        run.param.watch(self._patch, "changes")
        self.session.selection.param.watch(self._show_chosen, "frames")

    def _replace(self, event: param.parameterized.Event) -> None:
        self.table.value = event.new.copy()

    def _patch(self, event: param.parameterized.Event) -> None:
        columns: dict[str, list] = {}
        for index, values in event.new:
            for column, value in values.items():
                columns.setdefault(column, []).append((index, value))
        if columns:
            self.table.patch(columns, as_index=True)

    def _picked(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        selection = self.session.selection
        selection.pick_frames(event.new)
        added = [i for i in event.new if i not in (event.old or [])]
        if added and added[-1] != selection.frame:
            selection.pick_frame(added[-1])

    def _show_chosen(self, event: param.parameterized.Event) -> None:
        if sorted(self.table.selection) != event.new:
            self._syncing = True
            try:
                self.table.selection = list(event.new)
            finally:
                self._syncing = False

    def __panel__(self) -> pn.viewable.Viewable:
        follow = pn.widgets.Checkbox.from_param(
            self.session.selection.param.follow, name="Show each frame as it finishes"
        )
        return pn.Column(self.table, follow, sizing_mode="stretch_width")
