"""A re-run beside the run before it: zero points, counts and per-star magnitude differences per frame."""

from __future__ import annotations

import html
import math
from typing import Any

import holoviews as hv
import panel as pn
import param
from bokeh.models.widgets.tables import NumberFormatter

from app.models.session import Session

__all__ = ["CompareView"]

SHOWN = ("frame", "zero_point_a", "zero_point_b", "zero_point_diff", "n_sources_a", "n_sources_b",
         "n_calib_stars_a", "n_calib_stars_b", "n_matched", "median_mag_diff", "mag_diff_scatter")  # fmt: skip
"""Columns of the per-frame table (``_a``: the run before, ``_b``: the re-run)."""

TITLES = {
    "frame": "Frame", "zero_point_a": "ZP A", "zero_point_b": "ZP B", "zero_point_diff": "ΔZP",
    "n_sources_a": "Src A", "n_sources_b": "Src B", "n_calib_stars_a": "Cal A", "n_calib_stars_b": "Cal B",
    "n_matched": "Stars", "median_mag_diff": "Δmag", "mag_diff_scatter": "σΔmag",
}  # fmt: skip
"""Headers of :data:`SHOWN`, short enough for eleven columns at 1400 px (:data:`LEGEND` spells them out)."""

LEGEND = ("A: the run before, B: the re-run. ZP: zero point; Src: sources; Cal: calibrators; Stars: stars "
          "matched between the runs; Δmag: their median B − A and σΔmag its scatter (mag).")  # fmt: skip

FORMATS = {
    **dict.fromkeys(("zero_point_a", "zero_point_b", "zero_point_diff", "median_mag_diff", "mag_diff_scatter"),
                    "0.0000"),
    **dict.fromkeys(("n_sources_a", "n_sources_b", "n_calib_stars_a", "n_calib_stars_b", "n_matched"), "0"),
}  # fmt: skip
"""Number formats: magnitudes to 0.1 mmag, counts whole (a frame missing from a run: blank)."""


WIDTHS = {
    "frame": 125, "zero_point_a": 85, "zero_point_b": 85, "zero_point_diff": 78, "n_sources_a": 74,
    "n_sources_b": 74, "n_calib_stars_a": 74, "n_calib_stars_b": 74, "n_matched": 74, "median_mag_diff": 78,
    "mag_diff_scatter": 100,
}  # fmt: skip
"""Column widths (px): every header whole and all eleven columns inside 1,000 px (no sort arrows)."""


def _value(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def parameters_text(parameters: dict[str, tuple[Any, Any]]) -> str:
    """Markdown list of the parameters that differ between the two runs."""
    if not parameters:
        return "Same parameters in both runs."
    lines = [f"- `{name}`: {_value(a)} → **{_value(b)}**" for name, (a, b) in parameters.items()]
    return "Parameters changed:\n\n" + "\n".join(lines)


class CompareView(pn.viewable.Viewer):
    """The comparison of the session's last re-run with the run before it (empty until there is one)."""

    session = param.ClassSelector(class_=Session)

    def _view(self, comparison: Any) -> pn.viewable.Viewable:
        if comparison is None:
            return pn.pane.Markdown(
                "After a re-run (choose frames, change settings, press Re-run) the two runs are compared here: "
                "zero points, counts and each star's magnitude difference.", styles={"color": "#666"})  # fmt: skip
        summary = comparison.summary
        head = (
            f"**{summary['n_frames']} frame(s)** in both runs · {summary['n_matched']} stars matched · "
            f"median Δzero point {_value(summary['median_zero_point_diff'])} mag · median Δmag "
            f"{_value(summary['median_mag_diff'])} (scatter {_value(summary['mag_diff_scatter'])}) · "
            f"sources {summary['n_sources_a']} → {summary['n_sources_b']}"
        )
        frames = comparison.frames.to_pandas()[list(SHOWN)]
        formatters = {c: NumberFormatter(format=f, nan_format="–", null_format="–") for c, f in FORMATS.items()}
        table = pn.widgets.Tabulator(frames, disabled=True, show_index=False, height=160, layout="fit_columns",
                                     titles=TITLES, formatters=formatters, widths=WIDTHS,
                                     configuration={"columnDefaults": {"headerSort": False}},
                                     sizing_mode="stretch_width", name="compare-frames")  # fmt: skip
        stars = comparison.stars.to_pandas()
        scatter = hv.Points(stars, kdims=["mag_a", "mag_diff"], vdims=["frame", "mag_diff_sigma"]).opts(
            size=4, alpha=0.6, color="#1f77b4", tools=["hover"], xlabel="magnitude (run before)",
            ylabel="re-run − before (mag)", frame_width=420, frame_height=220, title="Per-star difference",
        )  # fmt: skip
        zero = hv.HLine(0).opts(color="#888", line_dash="dashed")
        return pn.Column(
            pn.pane.Markdown(head), pn.pane.Markdown(parameters_text(comparison.parameters)), table,
            pn.pane.Markdown(LEGEND, styles={"color": "#666", "font-size": "12px"}),
            pn.pane.HoloViews(scatter * zero), sizing_mode="stretch_width",
        )  # fmt: skip

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(pn.panel(pn.bind(self._view, self.session.run.param.comparison)),
                         sizing_mode="stretch_width", css_classes=["rpf-compare-view"])  # fmt: skip
