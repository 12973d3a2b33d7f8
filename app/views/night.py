"""The night at a glance: per-frame quality plots with outliers flagged, linked to each other and a frames table.

Every plot draws one point per finished frame (red when it is an outlier in
that quantity, pink when flagged for another reason, the reasons in its
tooltip and listed under the plots) and redraws when :attr:`NightModel.version` moves.  A box,
lasso or tap selection in any plot sets :attr:`NightModel.selected` (through
a ``Selection1D`` stream per plot), which rings the same frames in every plot
and selects their rows in the table; a table selection does the same.  A
click on one point also sets :attr:`NightModel.frame` (the dashboard opens
that frame).
"""

from __future__ import annotations

import math
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from app.models.night import NightModel
from app.views.style import HOVER_CSS, column_options

__all__ = ["NightView", "PLOTS"]

PLOTS = (
    # name (also the flag code), x, y, y label, title, invert y
    ("zero_point", "airmass", "zero_point", "zero point (mag)", "Zero point vs airmass", False),
    ("fwhm", "hours", "fwhm_arcsec", "FWHM (arcsec)", "Seeing (FWHM) vs time", False),
    ("background", "hours", "background_level", "background (ADU)", "Sky background vs time", False),
    ("sources", "hours", "n_sources", "sources", "Number of sources vs time", False),
    ("limiting_mag", "hours", "limiting_mag", "limiting mag", "Limiting magnitude vs time", True),
    ("wcs_rms", "hours", "wcs_rms_arcsec", "RMS (arcsec)", "Astrometric RMS vs time", False),
)
"""The quality plots: one point per frame."""

TABLE_COLUMNS = (
    ("frame", "Frame", None, 140, "the science frame (stays in view when the table scrolls sideways)"),
    ("status", "Status", None, None, "ok or failed"),
    ("flags", "Flags", None, 140, "why the frame is flagged (codes; 'Reasons' says it in words)"),
    ("airmass", "Airmass", "0.00", None, "airmass at mid-exposure"),
    ("zero_point", "ZP", "0.000", None, "zero point (mag)"),
    ("zp_residual", "ZP − fit", "0.000", None,
     "the zero point minus the night's extinction line (or, without one, its median), mag"),
    ("fwhm_arcsec", 'FWHM (")', "0.00", None, "the stars' full width at half maximum, arcseconds"),
    ("background_level", "Sky (ADU)", "0.0", None, "median sky background, ADU"),
    ("n_sources", "Sources", "0", None, "sources measured"),
    ("limiting_mag", "Lim. mag", "0.00", None, "5-sigma limiting magnitude of a point source"),
    ("wcs_rms_arcsec", 'WCS rms (")', "0.000", None, "scatter of the astrometric fit, arcseconds"),
    ("reasons", "Reasons", None, 320, "why the frame is flagged, in words; hover a cell for all of it"),
)
"""The frames table's columns: name, header, number format, width in px (None: as wide as the header
with its sort arrow, or the numbers) and the header's tooltip.  Numbers come first and the reasons
last, beside the frozen frame name when scrolled to."""
OK_COLOR, OUTLIER_COLOR, OTHER_COLOR = "#1f77b4", "#d62728", "#f2a7a7"
"""Points: a good frame, an outlier in the plotted quantity, a frame flagged for another reason."""
HOVER = ["frame", "flags", "reasons"]
PLOT_OPTS = {"width": 400, "height": 230, "size": 9, "tools": ["hover", "tap", "box_select", "lasso_select"],
             "active_tools": ["box_select", "tap"], "nonselection_alpha": 1.0, "selection_alpha": 1.0,
             "line_color": "white", "framewise": True, "show_grid": True, "padding": 0.1}  # fmt: skip


def plot_frame(quality: pd.DataFrame, code: str) -> pd.DataFrame:
    """Return the quality table with what a plot needs: hours since the night's first UT midnight, colours.

    A frame flagged ``code`` (the plot's quantity) is red, one flagged for
    another reason pink, a good one blue.
    """
    data = quality.copy()
    mjd = data["mjd"].astype(float)
    start = math.floor(float(mjd.min())) if mjd.notna().any() else 0.0
    data["hours"] = (mjd - start) * 24.0
    codes = data["flags"].fillna("").str.split(",")
    data["color"] = [OUTLIER_COLOR if code in c else OTHER_COLOR if any(c) else OK_COLOR for c in codes]
    data["flags"] = data["flags"].fillna("").replace("", "ok")
    data["reasons"] = data["reasons"].fillna("").replace("", "-")
    return data


class NightView(pn.viewable.Viewer):
    """The quality plots, the flagged frames with their reasons and the frames table of one night."""

    night = param.ClassSelector(class_=NightModel, doc="The night shown.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._shown: dict[str, pd.DataFrame] = {}
        self.streams: dict[str, hv.streams.Selection1D] = {}
        self.plots = {spec[0]: self._plot(spec) for spec in PLOTS}
        self.table = pn.widgets.Tabulator(
            self._table_value(), disabled=True, selectable=True, show_index=False, height=260,
            sizing_mode="stretch_width", layout="fit_data",
            **column_options(TABLE_COLUMNS),
            frozen_columns=["frame"],
            configuration={"columnDefaults": {"tooltip": True}},
            stylesheets=[HOVER_CSS],
        )  # fmt: skip
        self.table.param.watch(self._table_selected, "selection")
        self.flagged = pn.pane.Markdown(self._flagged_text(), sizing_mode="stretch_width", name="night-flagged")
        self.summary = pn.pane.Markdown(self._summary_text(), name="night-summary")
        self.night.param.watch(self._new_frames, "version")
        self.night.param.watch(self._selected, "selected")

    # ---- plots ---------------------------------------------------------------------------------------------

    def _plot(self, spec: tuple) -> hv.DynamicMap:
        name, x, y, label, title, invert = spec

        def points(version: int) -> hv.Points:
            data = plot_frame(self.night.quality, name)
            data = data[np.isfinite(data[x].astype(float)) & np.isfinite(data[y].astype(float))]
            data = data.reset_index(drop=True)
            self._shown[name] = data
            return hv.Points(data, kdims=[x, y], vdims=["index", "color", *HOVER]).opts(
                color="color", title=self._title(name, title), ylabel=label, invert_yaxis=invert,
                xlabel="airmass" if x == "airmass" else "hours (UT)", **PLOT_OPTS,
            )  # fmt: skip

        def extras(version: int) -> hv.Segments:
            return self._extras(name, x, y)

        def rings(selected: list[int], version: int) -> hv.Points:
            data = self._shown.get(name, pd.DataFrame({x: [], y: [], "index": []}))
            data = data[data["index"].isin(selected)][[x, y]]
            return hv.Points(data, kdims=[x, y]).opts(
                color=None, line_color="#ff9900", line_width=3, size=18, fill_alpha=0.0, tools=[],
            )

        version = {"version": self.night.param.version}
        base = hv.DynamicMap(points, streams=version)
        stream = hv.streams.Selection1D(source=base)
        stream.add_subscriber(lambda index, name=name: self._plot_selected(name, index))
        self.streams[name] = stream
        ring = hv.DynamicMap(rings, streams={"selected": self.night.param.selected, **version})
        return (hv.DynamicMap(extras, streams=version) * base * ring).opts(show_legend=False)

    def _title(self, name: str, title: str) -> str:
        if name != "zero_point" or not self.night.extinction:
            return title
        fits = ", ".join(f"k({f['band']}) = {f['k']:.3f} ± {f['k_err']:.3f}" for f in self.night.extinction)
        return f"{title} · {fits}"

    def _extras(self, name: str, x: str, y: str) -> hv.Segments:
        """Return the extinction lines (zero point) or the outlier limits (others) to draw behind the points.

        Always one ``Segments`` element, empty until a fit or a limit exists:
        an overlay whose layers change in number between updates stops the
        DynamicMap from updating in the browser.
        """
        rows: list[tuple[float, float, float, float]] = []
        if name == "zero_point":
            airmass = self.night.quality["airmass"].astype(float)
            if airmass.notna().any():
                x0, x1 = float(airmass.min()) - 0.05, float(airmass.max()) + 0.05
                rows = [(x0, f["zp0"] - f["k"] * x0, x1, f["zp0"] - f["k"] * x1) for f in self.night.extinction]
            style = {"color": "#2ca02c", "line_width": 2, "line_dash": "solid"}
        else:
            values = plot_frame(self.night.quality, name)[x].astype(float).dropna()
            if len(values):
                x0, x1 = float(values.min()), float(values.max())
                for limits in self.night.limits.values():
                    limit = limits.get(y, {}).get("limit")
                    if limit is not None and math.isfinite(limit):
                        rows.append((x0, float(limit), x1, float(limit)))
            style = {"color": "#d62728", "line_width": 1, "line_dash": "dashed"}
        ends = [x, y, f"{x}_end", f"{y}_end"]
        return hv.Segments(pd.DataFrame(rows, columns=ends, dtype=float), kdims=ends).opts(tools=[], **style)

    def _plot_selected(self, name: str, positions: list[int]) -> None:
        data = self._shown.get(name)
        if data is None:
            return
        chosen = [int(data["index"].iloc[p]) for p in positions if 0 <= p < len(data)]
        if len(chosen) == 1:
            self.night.pick(chosen[0])
        else:
            self.night.select(chosen)

    # ---- table and text ------------------------------------------------------------------------------------

    def _table_value(self) -> pd.DataFrame:
        data = self.night.quality
        return data[["index", *(name for name, *_ in TABLE_COLUMNS)]].reset_index(drop=True)

    def _table_selected(self, event: param.parameterized.Event) -> None:
        value = self.table.value
        chosen = [int(value["index"].iloc[p]) for p in event.new if 0 <= p < len(value)]
        if sorted(chosen) != self.night.selected:
            if len(chosen) == 1:
                self.night.pick(chosen[0])
            else:
                self.night.select(chosen)

    def _selected(self, _: param.parameterized.Event | None = None) -> None:
        value = self.table.value
        rows = [int(p) for p in np.flatnonzero(value["index"].isin(self.night.selected))]
        if rows != sorted(self.table.selection):
            self.table.selection = rows

    def _flagged_text(self) -> str:
        data = self.night.quality
        flagged = data[data["flagged"].astype(bool)]
        if not len(flagged):
            return "**Flagged frames:** none so far"
        lines = [f"- **{row.frame}** ({row.flags}): {row.reasons}" for row in flagged.itertuples()]
        return "**Flagged frames**\n\n" + "\n".join(lines)

    def _summary_text(self) -> str:
        night = self.night
        fits = "; ".join(f"extinction k = {f['k']:.3f} ± {f['k_err']:.3f} mag/airmass in {f['band']} "
                         f"({f['n_frames']} frames)" for f in night.extinction)  # fmt: skip
        flagged = int(night.quality["flagged"].astype(bool).sum())
        return (f"**{night.finished} of {night.n_frames} frames** finished · {flagged} flagged"
                + (f" · {fits}" if fits else ""))

    def _new_frames(self, _: param.parameterized.Event) -> None:
        self.table.value = self._table_value()
        self._selected()
        self.flagged.object = self._flagged_text()
        self.summary.object = self._summary_text()

    def __panel__(self) -> pn.viewable.Viewable:
        plots = [pn.pane.HoloViews(self.plots[spec[0]], name=f"night-{spec[0]}", linked_axes=False)
                 for spec in PLOTS]
        return pn.Column(
            self.summary,
            pn.FlexBox(*plots),
            self.flagged,
            pn.pane.Markdown("#### Frames (select rows, or drag a box / click points in the plots)"),
            self.table,
            sizing_mode="stretch_width",
            name="night-view",
        )
