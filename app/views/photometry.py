"""The photometry table of the frame on screen: filters, pages, rows linked to the plots."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from app.models.frame_data import PHOT_VIEW_COLUMNS
from app.models.session import Session

__all__ = ["PhotTable"]

FLOAT_FORMAT = {"type": "money", "symbol": "", "precision": 3}


def _empty_column(values: pd.Series) -> bool:
    """Return True when a column holds nothing to show (all NaN or blank, e.g. cross-matches offline)."""
    if values.dtype.kind == "f":
        return bool(values.isna().all())
    return bool((values.astype(str).str.strip().isin(["", "nan", "None", "--"])).all())


class PhotTable(pn.viewable.Viewer):
    """Tabulator of sources; a click selects a star, a plot selection selects rows."""

    session = param.ClassSelector(class_=Session)
    only_selected = param.Boolean(default=False, doc="Show only the selected stars.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(
            pd.DataFrame({c: [] for c in PHOT_VIEW_COLUMNS[:9]}),
            show_index=False,
            layout="fit_columns",
            disabled=True,
            selectable=True,
            pagination="remote",
            page_size=12,
            header_filters=True,
            sizing_mode="stretch_width",
        )
        self.table.param.watch(self._picked, "selection")
        self.session.param.watch(self._frame, "shown")
        self.session.selection.param.watch(self._selected, "stars")
        self.param.watch(self._filter, "only_selected")

    def _frame(self, event: param.parameterized.Event) -> None:
        if event.new is None:
            self.table.value = pd.DataFrame({c: [] for c in PHOT_VIEW_COLUMNS[:9]})
            return
        phot = event.new.phot
        shown = [c for c in PHOT_VIEW_COLUMNS if c in phot and not _empty_column(phot[c])]
        self.table.param.update(
            value=phot[shown],
            formatters={c: FLOAT_FORMAT for c in shown if phot[c].dtype.kind == "f" and c not in ("ra", "dec")}
            | {c: {"type": "money", "symbol": "", "precision": 6} for c in ("ra", "dec")},
        )

    def _picked(self, event: param.parameterized.Event) -> None:
        self.session.selection.pick_stars(list(event.new))

    def _selected(self, event: param.parameterized.Event) -> None:
        if sorted(self.table.selection) != event.new:
            self.table.selection = list(event.new)
            self._turn_to(event.new)
        self._filter()

    def _turn_to(self, rows: list[int]) -> None:
        """Show the page of the first selected star when none of them is on the page shown (no sorting)."""
        if not rows or self.only_selected or self.table.sorters:
            return
        positions = self.table.value.index.get_indexer(rows)
        positions = positions[positions >= 0]
        size = self.table.page_size
        page = self.table.page or 1
        if positions.size and not ((positions // size) + 1 == page).any():
            self.table.page = int(positions.min() // size) + 1

    def _filter(self, *_: param.parameterized.Event) -> None:
        stars = set(self.session.selection.stars)
        self.table.filters = [lambda df: df[df.index.isin(stars)]] if self.only_selected else []

    def _caption(self, stars: list[int]) -> str:
        return f"**{len(stars)} star(s) selected**" if stars else "Click a row, or draw a box/lasso on a plot."

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(
                pn.pane.Markdown(pn.bind(self._caption, self.session.selection.param.stars)),
                pn.widgets.Checkbox.from_param(self.param.only_selected, label="only selected"),
            ),
            self.table,
            sizing_mode="stretch_width",
            css_classes=["rpf-photometry-view"],
        )
