"""What the user is looking at: one frame of the run and some of its stars.

Plots draw a subset of a frame's stars (the calibrators, the sources with a
magnitude, ...), so a plot's own point indices differ from the rows of the
photometry table.  :func:`rows_of_points` and :func:`points_of_rows`
translate between the two; every view stores rows, never point indices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import param

__all__ = ["Selection", "points_of_rows", "rows_of_points"]


def rows_of_points(point_rows: Sequence[int] | np.ndarray, indices: Iterable[int]) -> list[int]:
    """Return the table rows of some points of a plot (sorted, no repeats).

    Parameters
    ----------
    point_rows : sequence of int
        The table row of each point of the plot, in the plot's order.
    indices : iterable of int
        Indices of points in the plot (a box, lasso or tap selection);
        indices outside the plot are ignored.

    Examples
    --------
    >>> rows_of_points([4, 7, 9], [2, 0, 5])
    [4, 9]
    """
    rows = np.asarray(point_rows, dtype=int)
    index = np.asarray([int(i) for i in indices], dtype=int)
    index = index[(index >= 0) & (index < rows.size)]
    return sorted({int(r) for r in rows[index]})


def points_of_rows(point_rows: Sequence[int] | np.ndarray, rows: Iterable[int]) -> list[int]:
    """Return the indices of the points of a plot that show some table rows (in plot order).

    Examples
    --------
    >>> points_of_rows([4, 7, 9], [9, 5, 4])
    [0, 2]
    """
    wanted = np.asarray([int(r) for r in rows], dtype=int)
    return np.flatnonzero(np.isin(np.asarray(point_rows, dtype=int), wanted)).tolist()


class Selection(param.Parameterized):
    """The selected frame and stars, shared by every view of a session.

    Tables and plots write here (a row clicked, a box or lasso drawn) and
    read from here (highlights), so every view shows the same stars.
    """

    frame = param.Integer(default=None, allow_None=True, doc="Index of the selected frame in the run.")
    follow = param.Boolean(default=True, doc="Show each frame as it finishes (until a frame is picked).")
    stars = param.List(default=[], item_type=int, doc="Selected rows of the frame's photometry table.")
    frames = param.List(default=[], item_type=int, doc="Frames chosen (for a re-run): rows of a frames table.")

    @param.depends("frame", watch=True)
    def _new_frame(self) -> None:
        self.stars = []

    def pick_frame(self, index: int | None) -> None:
        """Select a frame by hand: stop following new frames."""
        self.follow = False
        self.frame = index

    def pick_frames(self, indices: Iterable[int]) -> None:
        """Choose frames (sorted, no repeats), e.g. those to run again."""
        chosen = sorted({int(i) for i in indices})
        if chosen != self.frames:
            self.frames = chosen

    def frame_finished(self, index: int) -> None:
        """Show a frame that finished if following (or if nothing is shown yet)."""
        if self.follow or self.frame is None:
            self.frame = index

    def pick_stars(self, rows: Iterable[int]) -> None:
        """Select stars by their row in the photometry table (sorted, no repeats)."""
        rows = sorted({int(r) for r in rows})
        if rows != self.stars:
            self.stars = rows

    def pick_points(self, point_rows: Sequence[int] | np.ndarray, indices: Iterable[int]) -> None:
        """Select the stars of some points of a plot (see :func:`rows_of_points`)."""
        self.pick_stars(rows_of_points(point_rows, indices))
