"""Star plots linked to the session's selection: a box or lasso selects rows, rows are ringed.

Every star plot (image overlay, zero-point panels, magnitude vs error) is
built by :func:`linked_points`: points of the frame on screen, a
``Selection1D`` stream that writes the chosen rows to the session's
:class:`~app.models.selection.Selection`, and a ring around the selected
stars redrawn from it.  Only the small ring element changes on a selection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn

from app.models.frame_data import FrameData
from app.models.session import Session

__all__ = ["HIGHLIGHT", "linked_points", "when_frame"]

HIGHLIGHT = {"color": "#ff2d55", "line_width": 3, "size": 20}
"""Style of the ring around selected stars (the same in every plot)."""

StarTable = Callable[[FrameData], pd.DataFrame]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=float) for c in columns})


def linked_points(
    session: Session,
    table: StarTable,
    *,
    kdims: list[str],
    vdims: list[str],
    points_opts: dict[str, Any],
) -> hv.Overlay:
    """Return linked points (and their selection ring) for the frame on screen.

    Parameters
    ----------
    session : Session
        Gives the frame on screen (``shown``) and the selection.
    table : callable
        ``FrameData -> DataFrame`` with a ``row`` column (the photometry row of
        each point) and the ``kdims``/``vdims`` columns.
    kdims, vdims : list of str
        Axes and hover columns of the points (``row`` is added to ``vdims``).
    points_opts : dict
        HoloViews options of the points.
    """
    columns = [*kdims, "row", *vdims]
    latest: dict[str, pd.DataFrame] = {"data": _empty(columns)}
    frame_stream = hv.streams.Params(parameterized=session, parameters=["shown"])

    def points(shown: FrameData | None) -> hv.Points:
        data = _empty(columns) if shown is None else table(shown)[columns]
        latest["data"] = data
        return hv.Points(data, kdims=kdims, vdims=["row", *vdims])

    def ring(shown: FrameData | None, stars: list[int]) -> hv.Points:
        data = _empty(columns) if shown is None or not stars else table(shown)
        picked = data[data["row"].isin(stars)]
        ringed = pd.DataFrame({k: picked[k].to_numpy(float) for k in kdims})
        ringed["selected_row"] = picked["row"].to_numpy(int)
        return hv.Points(ringed, kdims=kdims, vdims=["selected_row"])

    dots = hv.DynamicMap(points, streams=[frame_stream]).opts(**points_opts)
    rings = hv.DynamicMap(
        ring, streams=[frame_stream, hv.streams.Params(parameterized=session.selection, parameters=["stars"])]
    ).opts(
        marker="circle",
        fill_alpha=0,
        line_color=HIGHLIGHT["color"],
        line_width=HIGHLIGHT["line_width"],
        size=HIGHLIGHT["size"],
        tools=[],
    )
    picked = hv.streams.Selection1D(source=dots)

    def rows_picked(index: list[int]) -> None:
        data = latest["data"]
        index = [i for i in index if 0 <= i < len(data)]
        session.selection.pick_stars(data["row"].to_numpy(int)[np.asarray(index, int)].tolist())

    picked.add_subscriber(rows_picked)
    return dots * rings


def when_frame(session: Session, empty: str, *objects: Any) -> pn.Column:
    """Show ``objects`` while a finished frame is on screen, else the ``empty`` note.

    The plots stay in the page (hidden), so their streams and links live on.
    """
    has_frame = pn.bind(lambda shown: shown is not None, session.param.shown)
    no_frame = pn.bind(lambda shown: shown is None, session.param.shown)
    return pn.Column(*objects)
