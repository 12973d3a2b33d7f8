"""Star plots linked to the session's selection: a box, lasso or tap selects rows; selected rows light up.

Every star plot (image overlay, zero-point panels, magnitude vs error) is
built by :func:`linked_points`: the points of the frame on screen, redrawn
with the selected rows as the Bokeh source's selected indices (drawn in the
highlight style, the others dimmed), and a ``Selection1D`` stream that
writes what the user selects back to the session's
:class:`~app.models.selection.Selection` as table rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn

from app.models.frame_data import FrameData
from app.models.selection import points_of_rows
from app.models.session import Session

__all__ = ["HIGHLIGHT", "SELECT_TOOLS", "linked_points", "session_streams", "when_frame"]

HIGHLIGHT = {"selection_line_color": "#ff2d55", "selection_line_width": 3.0, "selection_line_alpha": 1.0}
"""Style of the selected stars (the same in every plot)."""

SELECT_TOOLS = ["hover", "box_select", "lasso_select", "tap"]
"""Tools of a plot whose points select stars."""

StarTable = Callable[[FrameData], pd.DataFrame]


def session_streams(session: Session) -> tuple[hv.streams.Params, hv.streams.Params]:
    """Return the session's two streams, ``shown`` (the frame on screen) and ``stars`` (the selected rows).

    Every plot of a session uses these same two stream objects, so that a new
    frame or a new selection refreshes each plot once, however many layers
    it has.
    """
    streams = getattr(session, "_plot_streams", None)
    if streams is None:  # kept on the session (a dict keyed by it would keep it alive: the streams refer to it)
        streams = (
            hv.streams.Params(parameterized=session, parameters=["shown"]),
            hv.streams.Params(parameterized=session.selection, parameters=["stars"]),
        )
        session._plot_streams = streams
    return streams


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=float) for c in columns})


def linked_points(
    session: Session,
    table: StarTable,
    *,
    kdims: list[str],
    vdims: list[str],
    points_opts: dict[str, Any],
    selects: bool = True,
) -> hv.DynamicMap:
    """Return the points of the frame on screen, linked to the session's selected stars.

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
    selects : bool
        A selection drawn on these points selects their rows (False: the
        points only show the selection).
    """
    columns = [*kdims, "row", *vdims]
    latest: dict[str, Any] = {"frame": None, "data": _empty(columns)}

    def data_of(shown: FrameData | None) -> pd.DataFrame:
        if shown is not latest["frame"]:
            latest["data"] = _empty(columns) if shown is None else table(shown)[columns].reset_index(drop=True)
            latest["frame"] = shown
        return latest["data"]

    def points(shown: FrameData | None, stars: list[int]) -> hv.Points:
        data = data_of(shown)
        selected = points_of_rows(data["row"].to_numpy(int), stars)
        return hv.Points(data, kdims=kdims, vdims=["row", *vdims]).opts(selected=selected)

    dots = hv.DynamicMap(points, streams=list(session_streams(session))).opts(**HIGHLIGHT, **points_opts)
    if selects:
        picked = hv.streams.Selection1D(source=dots)

        def rows_picked(index: list[int]) -> None:
            session.selection.pick_points(latest["data"]["row"].to_numpy(int), index)

        picked.add_subscriber(rows_picked)
    return dots


def when_frame(session: Session, empty: str, *objects: Any, **params: Any) -> pn.Column:
    """Show ``objects`` while a finished frame is on screen, else the ``empty`` note.

    The plots stay in the page (hidden), so their streams and links live on.
    """
    has_frame = pn.bind(lambda shown: shown is not None, session.param.shown)
    no_frame = pn.bind(lambda shown: shown is None, session.param.shown)
    return pn.Column(
        pn.pane.Markdown(empty, visible=no_frame, styles={"color": "#666"}),
        pn.Column(*objects, visible=has_frame),
        **params,
    )
