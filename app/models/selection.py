"""What the user is looking at: one frame of the run and some of its stars."""

from __future__ import annotations

import param

__all__ = ["Selection"]


class Selection(param.Parameterized):
    """The selected frame and stars, shared by every view of a session.

    Tables and plots write here (a row clicked, a box or lasso drawn) and
    read from here (highlights), so every view shows the same stars.
    """

    frame = param.Integer(default=None, allow_None=True, doc="Index of the selected frame in the run.")
    follow = param.Boolean(default=True, doc="Show each frame as it finishes (until a frame is picked).")
    stars = param.List(default=[], item_type=int, doc="Selected rows of the frame's photometry table.")

    @param.depends("frame", watch=True)
    def _new_frame(self) -> None:
        self.stars = []

    def pick_frame(self, index: int | None) -> None:
        """Select a frame by hand: stop following new frames."""
        self.follow = False
        self.frame = index

    def frame_finished(self, index: int) -> None:
        """A frame finished: show it if following (or if nothing is shown yet)."""
        if self.follow or self.frame is None:
            self.frame = index

    def pick_stars(self, rows: list[int]) -> None:
        """Select stars by their row in the photometry table (sorted, no repeats)."""
        rows = sorted({int(r) for r in rows})
        if rows != self.stars:
            self.stars = rows
