"""Keep the kernel's plot updates when the browser talks to it at the same time (Jupyter only).

In a notebook, Panel keeps the Bokeh document on hold: a Python-side change
waits in the document's held events until the plot or widget that made it
pushes them over the comm.  When a message from the browser arrives (a
resize, a range, a click), Panel applies it between ``doc.hold()`` and
``doc.unhold()``; ``unhold`` dispatches *every* held event and empties the
list, so a Python-side change made but not yet pushed is never sent.  Since
ipykernel 7, JupyterLab hands comm messages to a subshell thread while the
run's periodic callback may run on another thread, so this happens in the
middle of an update: the night plots in JupyterLab stopped updating in
about one run in three (issue 13).

:func:`guard_comm_messages` wraps Panel's handler so that a browser message
waits while the app applies its run's events (:data:`UPDATE_LOCK`) and
leaves the held Python-side events for the next push.  Nothing changes in a
served page (Panel does not use this handler there).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

__all__ = ["UPDATE_LOCK", "guard_comm_messages"]

UPDATE_LOCK = threading.RLock()
"""Held while the app changes its views from a run's events and while a browser message is applied."""


def guard_comm_messages() -> None:
    """Wrap Panel's notebook message handler (once per process; objects displayed afterwards use it)."""
    from panel.viewable import Renderable

    handler = Renderable._on_msg
    if getattr(handler, "rpf_guarded", False):
        return

    @functools.wraps(handler)
    def on_msg(self: Any, ref: str, manager: Any, msg: Any) -> None:
        from panel.io.state import state

        view = state._views.get(ref)
        callbacks = view[2].callbacks if view is not None else None
        with UPDATE_LOCK:
            pending = list(callbacks._held_events) if callbacks is not None else []
            if callbacks is not None:
                callbacks._held_events = []
            try:
                handler(self, ref, manager, msg)
            finally:
                if callbacks is not None and pending:
                    callbacks._held_events = pending + list(callbacks._held_events)

    on_msg.rpf_guarded = True  # type: ignore[attr-defined]
    Renderable._on_msg = on_msg  # type: ignore[method-assign]

