"""The frames of the run: one row each, patched as events arrive; a click shows that frame."""

from __future__ import annotations

import panel as pn
import param

from app.models.session import Session

__all__ = ["FramesTable"]

TITLES = {
    "frame": "Frame", "status": "Status", "stage": "Last stage", "progress": "Progress", "sources": "Sources",
    "fwhm_arcsec": 'FWHM (")', "zero_point": "Zero point", "zero_point_err": "±", "limiting_mag": "Lim. mag",
    "airmass": "Airmass", "wcs": "WCS", "message": "Message",
}  # fmt: skip


class FramesTable(pn.viewable.Viewer):
    """Tabulator of the run's frames, updated row by row (``patch``), never redrawn per event."""

    session = param.ClassSelector(class_=Session)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        run = self.session.run
        self.table = pn.widgets.Tabulator(
            run.frames.copy(),
            show_index=False,
            layout="fit_columns",
            disabled=True,
            selectable=1,
            titles=TITLES,
            formatters={
                "progress": {"type": "progress", "max": run._n_stages, "legend": True},
                **{c: {"type": "money", "precision": 3, "symbol": ""} for c in ("zero_point", "zero_point_err")},
                **{c: {"type": "money", "precision": 2, "symbol": ""} for c in ("fwhm_arcsec", "limiting_mag", "airmass")},
                "sources": {"type": "money", "precision": 0, "symbol": ""},
            },  # fmt: skip
            widths={"message": 260, "frame": 150},
            height=210,
            sizing_mode="stretch_width",
            name="frames-table",
        )
        self.table.param.watch(self._picked, "selection")
        run.param.watch(self._replace, "frames")
        run.param.watch(self._patch, "changes")
        self.session.selection.param.watch(self._show_selected, "frame")

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
        if event.new and event.new[0] != self.session.selection.frame:
            self.session.selection.pick_frame(event.new[0])

    def _show_selected(self, event: param.parameterized.Event) -> None:
        wanted = [] if event.new is None else [event.new]
        if self.table.selection != wanted:
            self.table.selection = wanted

    def __panel__(self) -> pn.viewable.Viewable:
        follow = pn.widgets.Checkbox.from_param(
            self.session.selection.param.follow, name="Show each frame as it finishes"
        )
        return pn.Column(self.table, follow, sizing_mode="stretch_width")
