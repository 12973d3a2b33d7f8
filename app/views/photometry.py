"""The photometry table of the frame on screen: filters, pages, rows linked to the plots."""

from __future__ import annotations

import pandas as pd
import panel as pn
import param

from app.models.frame_data import PHOT_VIEW_COLUMNS
from app.models.session import Session
from app.views.style import HEADER_CSS, HOVER_CSS, column_options

__all__ = ["PhotTable"]

COLUMNS = (
    ("id", "#", None, 56, "source number in the frame, from 1"),
    ("x", "x", "0.00", 76, "0-based column of the centroid (pixel (0, 0) is the centre of the first pixel)"),
    ("y", "y", "0.00", 76, "0-based row of the centroid"),
    ("ra", "RA (°)", "0.000000", 112, "right ascension, ICRS, degrees"),
    ("dec", "Dec (°)", "0.000000", 108, "declination, ICRS, degrees"),
    ("mag", "Mag", "0.000", 76, "calibrated magnitude in the frame's band"),
    ("mag_err", "σ mag", "0.000", 84, "1-sigma error of the magnitude, calibration included"),
    ("snr", "S/N", "0.0", 70, "signal-to-noise ratio"),
    ("flags", "Flags", None, 80, "source flag bits (docs/flags.md); 0 is clean"),
    ("mag_inst", "Inst. mag", "0.000", 112, "instrumental magnitude, -2.5 log10(counts)"),
    ("cat_mag", "Ref. mag", "0.000", 100, "reference catalogue magnitude of the matched star"),
    ("simbad_id", "SIMBAD", None, 150, "SIMBAD main identifier"),
    ("simbad_otype", "Type", None, 70, "SIMBAD object type"),
    ("vsx_name", "VSX", None, 130, "AAVSO VSX variable star"),
    ("skybot_name", "SkyBoT", None, 130, "solar-system object at the frame's epoch (SkyBoT)"),
    ("qso_name", "Quasar", None, 130, "Milliquas quasar (VizieR VII/294)"),
    ("colibri_name", "Colibri", None, 130, "Astro-Colibri transient event"),
)
"""The table's columns: name, header, number format (None: shown as is), width in px and the header's
tooltip.  Widths hold the whole value (RA and Dec to 6 decimals, ~0.02") and the header with its
filter box; the table scrolls sideways, with the source number frozen at the left."""


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
        options = column_options(COLUMNS)
        self._formatters = options.pop("formatters")  # per frame, for the float columns it has
        self.table = pn.widgets.Tabulator(
            pd.DataFrame({c: [] for c in PHOT_VIEW_COLUMNS[:9]}),
            show_index=False,
            layout="fit_data",
            disabled=True,
            selectable=True,
            **options,
            frozen_columns=["id"],
            configuration={"columnDefaults": {"tooltip": True}},
            pagination="remote",
            page_size=12,
            header_filters=True,
            stylesheets=[HOVER_CSS, HEADER_CSS],
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
            formatters={c: f for c, f in self._formatters.items() if c in shown and phot[c].dtype.kind == "f"},
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
