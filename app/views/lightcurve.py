"""A star's light curve across the night: pick it, see it grow with each frame, export it.

A star is picked by clicking it in the stars plot (scatter against
magnitude: variables stand out), by typing a position or a name, or by a
photometry-table row in the dashboard.  The curve is the ensemble
differential magnitude with error bars; the comparison and check stars' own
curves (leave-one-out, centred on their means) and their scatter are shown
below it.  CSV and AAVSO Extended downloads.
"""

from __future__ import annotations

import math
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from app.models.lightcurve import LightCurveModel
from app.views.style import HOVER_CSS, column_options

__all__ = ["LightCurveView"]

COMPARISON_COLUMNS = (
    ("star_id", "Star", None, None, "the star's number in the night's star list"),
    ("role", "Role", None, None, "comparison (in the ensemble) or check star"),
    ("label", "Name", None, None, "the reference catalogue's identifier"),
    ("mag", "Mag", "0.000", None, "median calibrated magnitude"),
    ("color", "BP−RP", "0.00", None, "Gaia BP−RP colour"),
    ("n_frames", "Frames", "0", None, "frames in which the star was measured"),
    ("rms", "rms", "0.0000", None, "scatter about its mean against the ensemble without it (mag)"),
    ("median_err", "Median σ", "0.0000", None, "median photometric error (mag)"),
    ("chi2_dof", "χ²/dof", "0.00", None, "reduced χ² about its mean: about 1 when the scatter is the errors'"),
)
"""The comparison table's columns: name, header, number format, width (None: fitted) and the header's
tooltip."""


def _no_stars() -> pd.DataFrame:
    return pd.DataFrame(columns=[name for name, *_ in COMPARISON_COLUMNS])


def _hours(mjd: pd.Series, start: float) -> pd.Series:
    return (mjd.astype(float) - start) * 24.0


class LightCurveView(pn.viewable.Viewer):
    """Star picker, light curve with error bars, comparison stars and downloads."""

    model = param.ClassSelector(class_=LightCurveModel, doc="The light curve shown.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        model = self.model
        self.text = pn.widgets.TextInput(
            label="Star", placeholder="RA Dec (degrees or hh:mm:ss ±dd:mm:ss) or a name", width=330,
        )
        self.show = pn.widgets.Button(label="Show light curve", color="primary", width=150, align="end")
        self.show.on_click(lambda _: model.pick_text(self.text.value))
        self.text.param.watch(lambda event: model.pick_text(event.new), "value")
        self.comparison = pn.widgets.TextInput(
            label="Comparison stars", placeholder="star numbers, comma-separated (empty: automatic)", width=330,
        )
        self.comparison.param.watch(self._comparison_typed, "value")
        self.obscode = pn.widgets.TextInput(label="AAVSO observer code", width=160)
        self.obscode.link(model, value="obscode")
        self.csv = pn.widgets.FileDownload(callback=lambda: model.download("csv"), filename="lightcurve.csv",
                                           label="Download CSV", color="success", disabled=True, width=170,
                                           align="end")  # fmt: skip
        self.aavso = pn.widgets.FileDownload(callback=lambda: model.download("aavso"), filename="aavso.txt",
                                             label="Download AAVSO", color="success", disabled=True,
                                             width=170, align="end")  # fmt: skip
        self.message = pn.pane.Markdown("", name="lightcurve-message", sizing_mode="stretch_width")
        self.comparisons = pn.widgets.Tabulator(
            _no_stars(), disabled=True, show_index=False, height=200, sizing_mode="stretch_width",
            **column_options(COMPARISON_COLUMNS),
            stylesheets=[HOVER_CSS],
        )  # fmt: skip
        self.stars_stream: hv.streams.Selection1D | None = None
        self._stars = pd.DataFrame()
        self.stars_plot = self._stars_plot()
        self.curve_plot = hv.DynamicMap(self._curve, streams={"curve": model.param.curve})
        self.others_plot = hv.DynamicMap(self._others, streams={"curve": model.param.curve})
        model.param.watch(self._curve_changed, ["curve", "message", "obscode"])
        self._curve_changed()

    # ---- star picking --------------------------------------------------------------------------------------

    def _stars_plot(self) -> hv.DynamicMap:
        night = self.model.night

        def stars(version: int) -> hv.Points:
            data = night.star_summary()
            data = data[np.isfinite(data["mag"]) & np.isfinite(data["rms"])].reset_index(drop=True)
            self._stars = data
            return hv.Points(data, kdims=["mag", "rms"], vdims=["star", "n_frames", "ra", "dec"]).opts(
                title="Stars: scatter vs magnitude (click one)", width=420, height=300, size=7, color="#555555",
                tools=["hover", "tap"], active_tools=["tap"], logy=False, xlabel="median calibrated mag",
                ylabel="scatter (mag, robust)", nonselection_alpha=0.6, framewise=True, show_grid=True, padding=0.05,
            )  # fmt: skip

        def target(curve: Any, version: int) -> hv.Points:
            data = self._stars
            if curve is None or not len(data):
                return hv.Points([], ["mag", "rms"])
            row = data[data["star"] == curve.star_id]
            return hv.Points(row, ["mag", "rms"]).opts(color=None, line_color="#ff9900", line_width=3, size=16,
                                                        fill_alpha=0.0)  # fmt: skip

        base = hv.DynamicMap(stars, streams={"version": night.param.version})
        self.stars_stream = hv.streams.Selection1D(source=base)
        self.stars_stream.add_subscriber(self._star_clicked)
        ring = hv.DynamicMap(target, streams={"curve": self.model.param.curve, "version": night.param.version})
        return base * ring

    def _star_clicked(self, index: list[int]) -> None:
        if len(index) == 1 and 0 <= index[0] < len(self._stars):
            self.model.pick_star(int(self._stars["star"].iloc[index[0]]))

    def _comparison_typed(self, event: param.parameterized.Event) -> None:
        text = event.new.replace(",", " ").split()
        if not all(t.isdigit() for t in text):
            self.model.message = f"comparison stars: numbers only (got {event.new!r})"
            return
        self.model.use_comparison([int(t) for t in text])

    # ---- drawing -------------------------------------------------------------------------------------------

    def _start(self, curve: Any) -> float:
        mjd = np.asarray(curve.points["mjd"], float)
        return float(math.floor(np.nanmin(mjd))) if np.isfinite(mjd).any() else 0.0

    def _curve(self, curve: Any) -> hv.Overlay:
        """Return the target's curve: error bars and points (always these two layers, empty without a curve)."""
        opts = {"width": 620, "height": 300, "invert_yaxis": True, "show_grid": True, "framewise": True, "padding": 0.1,
                "xlabel": "hours (UT)", "ylabel": "differential mag"}  # fmt: skip
        columns = ["hours", "diff_mag", "diff_mag_err", "frame", "mag"]
        data = pd.DataFrame({c: pd.Series([], dtype=object if c == "frame" else float) for c in columns})
        title = "Light curve: pick a star"
        if curve is not None and len(curve.points):
            data = curve.points.to_pandas()
            data["hours"] = _hours(data["mjd"], self._start(curve))
            data = data[np.isfinite(data["diff_mag"])][columns]
            title = f"{curve.label}: {len(data)} frames, rms {curve.rms:.3f} mag, chi2/dof {curve.chi2_dof:.2f}"
        bars = hv.ErrorBars(data, "hours", ["diff_mag", "diff_mag_err"]).opts(color="#1f77b4", framewise=True)
        points = hv.Scatter(data, "hours", ["diff_mag", "diff_mag_err", "frame", "mag"]).opts(
            size=8, color="#1f77b4", tools=["hover"], framewise=True)
        return (bars * points).opts(title=title, **opts)

    def _others(self, curve: Any) -> hv.Overlay:
        """Return the comparison stars' curves (grey) and the check star's (orange), each about its mean."""
        opts = {"width": 620, "height": 250, "invert_yaxis": True, "show_grid": True, "framewise": True, "padding": 0.1,
                "xlabel": "hours (UT)", "ylabel": "diff mag − mean"}  # fmt: skip
        title = "Comparison (grey) and check (orange) stars, each about its mean"
        empty = pd.DataFrame({"hours": pd.Series([], dtype=float), "offset": pd.Series([], dtype=float)})
        groups = {"comparison": [], "check": []}
        if curve is not None and len(curve.curves):
            data = curve.curves.to_pandas()
            data["hours"] = _hours(data["mjd"], self._start(curve))
            for _, group in data.groupby("star_id"):
                group = group[np.isfinite(group["diff_mag"])].sort_values("hours")
                if len(group):
                    group = group.assign(offset=group["diff_mag"] - group["diff_mag"].mean())
                    groups["check" if group["role"].iloc[0] == "check" else "comparison"].append(
                        group[["hours", "offset"]])
        layers = []
        for role, color, width in (("comparison", "#999999", 1), ("check", "#ff7f0e", 3)):
            frames = groups[role]
            points = pd.concat(frames, ignore_index=True) if frames else empty
            layers.append(hv.Path(frames or [empty], ["hours", "offset"]).opts(color=color, line_width=width))
            layers.append(hv.Scatter(points, "hours", "offset").opts(color=color, size=4, framewise=True))
        return hv.Overlay(layers).opts(title=title, **opts)

    def _curve_changed(self, *_: Any) -> None:
        model = self.model
        curve = model.curve
        table = model.comparison_table()
        if len(table):
            self.comparisons.value = table[[name for name, *_ in COMPARISON_COLUMNS if name in table.columns]]
        else:
            self.comparisons.value = _no_stars()
        self.csv.disabled = curve is None
        self.aavso.disabled = curve is None or not model.obscode.strip()
        if curve is not None:
            self.csv.filename = model.file_name("lightcurve.csv")
            self.aavso.filename = model.file_name("aavso.txt")
            n = len(curve.comparison)
            check = f", check star {curve.check['label'][0]}" if len(curve.check) else ""
            self.message.object = (f"**{model.target}** → star {curve.star_id} ({curve.label}), "
                                   f"{len(curve.points)} frames; ensemble of {n} comparison stars{check}")
        else:
            self.message.object = f"*{model.message}*" if model.message else "*Pick a star: click one, or type it.*"

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(self.text, self.show, self.comparison),
            self.message,
            pn.Row(pn.pane.HoloViews(self.stars_plot, name="lightcurve-stars"),
                   pn.Column(pn.pane.HoloViews(self.curve_plot, name="lightcurve-plot"),
                             pn.pane.HoloViews(self.others_plot, name="lightcurve-others"))),
            pn.pane.Markdown("#### Comparison and check stars (scatter against the ensemble without them)"),
            self.comparisons,
            pn.Row(self.obscode, self.csv, self.aavso),
            sizing_mode="stretch_width",
            name="lightcurve-view",
        )  # fmt: skip
