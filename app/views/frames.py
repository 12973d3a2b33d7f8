"""The frames of the run: one row each, patched as events arrive; a click shows that frame.

The selected rows are the frames chosen for a re-run (``Selection.frames``,
shared with the night view): a click chooses one frame and shows it, a
ctrl-click adds a frame, a shift-click a range.
"""

from __future__ import annotations

import panel as pn
import param

from app.models.session import Session
from app.views.style import HEADER_CSS, HOVER_CSS, column_options

__all__ = ["FramesTable"]

COLUMNS = (
    ("frame", "Frame", None, 140, "the science frame (stays in view when the table scrolls sideways)"),
    ("status", "Status", None, 72, "queued, running, done, failed or cancelled"),
    ("stage", "Stage", None, 96, "the last step reported"),
    ("progress", "Steps", None, 70, "steps done, of every step of a frame"),
    ("reused", "Reused", None, 72, "steps taken from the run before (a re-run computes only the others)"),
    ("sources", "Sources", "0", 76, "sources measured"),
    ("fwhm_arcsec", 'FWHM (")', "0.00", 84, "the stars' full width at half maximum, arcseconds"),
    ("zero_point", "ZP", "0.000", 70, "zero point (mag)"),
    ("zero_point_err", "±", "0.000", 58, "the zero point's error (mag)"),
    ("limiting_mag", "Lim. mag", "0.00", 80, "5-sigma limiting magnitude of a point source"),
    ("airmass", "Airmass", "0.00", 76, "airmass at mid-exposure"),
    ("wcs", "WCS", None, 64, "where the astrometric solution came from (header, solved, pointing)"),
    ("message", "Message", None, 320, "why a frame failed, or what was noted; hover a cell for all of it"),
)
"""The frames table's columns: name, header, number format (blank until known), width in px and the
header's tooltip.  With headers in 13 px type and no sort arrows every header is whole and all but
the message fit at 1,400 px; the frame's name is frozen on the left, so the message is read beside
it when scrolled to."""


class FramesTable(pn.viewable.Viewer):
    """Tabulator of the run's frames, updated row by row (``patch``), never redrawn per event."""

    session = param.ClassSelector(class_=Session)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        run = self.session.run
        options = column_options(COLUMNS, align="left")
        formatters = options.pop("formatters")
        self.table = pn.widgets.Tabulator(
            run.frames.copy(),
            show_index=False,
            layout="fit_data",
            disabled=True,
            selectable=True,
            **options,
            formatters={"progress": {"type": "progress", "max": run._n_stages, "legend": True}, **formatters},
            text_align={"reused": "left"},  # like the other numbers, not flush against the next column
            frozen_columns=["frame"],
            configuration={"columnDefaults": {"headerSort": False, "tooltip": True}},
            stylesheets=[HOVER_CSS, HEADER_CSS],
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
