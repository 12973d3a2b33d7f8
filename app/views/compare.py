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
from app.views.style import HOVER_CSS

__all__ = ["CompareView"]

_MAG, _COUNT = "0.0000", "0"
COLUMNS = (
    ("frame", "Frame", None, 125),
    ("zero_point_a", "ZP A", _MAG, 85),
    ("zero_point_b", "ZP B", _MAG, 85),
    ("zero_point_diff", "ΔZP", _MAG, 78),
    ("n_sources_a", "Src A", _COUNT, 74),
    ("n_sources_b", "Src B", _COUNT, 74),
    ("n_calib_stars_a", "Cal A", _COUNT, 74),
    ("n_calib_stars_b", "Cal B", _COUNT, 74),
    ("n_matched", "Stars", _COUNT, 74),
    ("median_mag_diff", "Δmag", _MAG, 78),
    ("mag_diff_scatter", "σΔmag", _MAG, 100),
)
"""The per-frame table's columns (``_a``: the run before, ``_b``: the re-run): name, header, number
format (magnitudes to 0.1 mmag, counts whole; "–" where a run has no value) and width in px.  The
headers are short enough for all eleven columns inside 1,000 px without sort arrows; :data:`LEGEND`
spells them out."""

LEGEND = ("A: the run before, B: the re-run. ZP: zero point; Src: sources; Cal: calibrators; Stars: stars "
          "matched between the runs; Δmag: their median B − A and σΔmag its scatter (mag).")  # fmt: skip


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
        frames = comparison.frames.to_pandas()[[name for name, *_ in COLUMNS]]
        formatters = {name: NumberFormatter(format=fmt, nan_format="–", null_format="–")
                      for name, _, fmt, _ in COLUMNS if fmt}  # fmt: skip
        table = pn.widgets.Tabulator(frames, disabled=True, show_index=False, height=160, layout="fit_columns",
                                     titles={name: title for name, title, *_ in COLUMNS}, formatters=formatters,
                                     widths={name: width for name, *_, width in COLUMNS},
                                     configuration={"columnDefaults": {"headerSort": False}}, stylesheets=[HOVER_CSS],
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
