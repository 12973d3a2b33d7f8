"""Apply the browser's messages in a Jupyter kernel without losing or echoing the app's own changes.

In a notebook, Panel keeps the Bokeh document on hold: a Python-side change
waits in the document's held events until the plot or widget that made it
pushes them over the comm.  Panel applies a message from the browser (a
resize, a range, a selection) between ``doc.hold()`` and ``doc.unhold()``,
and ``unhold`` dispatches *every* held event to the document's callbacks:

- a Python-side change made but not yet pushed is never sent (the night
  plots in JupyterLab stopped updating in about one run in three);
- it reaches Panel's comm callbacks as if the browser had made it, and a
  table's own new rows came back as an edit of the old ones
  (``ValueError: Must have equal len keys and value`` printed in the cell);
- the changes the browser's message causes in Python are dispatched the
  same way while the document is not on hold.

Since ipykernel 7, JupyterLab hands comm messages to a subshell thread while
the run's periodic callback may run on another, so this happens in the
middle of an update.  :func:`guard_comm_messages` replaces Panel's handler:
the browser's events go to the callbacks with the document still on hold (so
what they change in Python is held and pushed, never echoed), the app's held
events stay for the next push, a table's data the browser sent before it got
the run's new rows is dropped, and the message waits while the app applies
its run's events (:data:`UPDATE_LOCK`).  A served page does not use this
handler.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

__all__ = ["UPDATE_LOCK", "guard_comm_messages"]

UPDATE_LOCK = threading.RLock()
"""Held while the app changes its views from a run's events and while a browser message is applied."""


def _apply(self: Any, ref: str, manager: Any, msg: Any) -> None:
    """Apply one browser message to the document of ``ref`` (Panel's ``Renderable._on_msg``, replaced)."""
    from bokeh.core.serialization import DeserializationError
    from bokeh.document.callbacks import invoke_with_curdoc
    from panel.io.model import patch_cds_msg
    from panel.io.state import state

    with UPDATE_LOCK:
        if ref not in state._views:
            return
        root, doc, comm = state._views[ref][1:]
        patch_cds_msg(root, msg)
        _drop_stale_tables(doc, msg)
        patch = manager.assemble(msg)
        callbacks = doc.callbacks
        policy, pending = callbacks.hold_value, list(callbacks._held_events)
        callbacks._hold, callbacks._held_events = "collect", []
        try:
            patch.apply_to_document(doc, comm.id if comm else None)
        except DeserializationError:
            self.param.warning("Comm received message that could not be deserialized.")
        finally:
            received = callbacks._held_events
            callbacks._hold, callbacks._held_events = policy or "combine", pending
        for event in received:
            if event.callback_invoker is not None:
                invoke_with_curdoc(doc, event.callback_invoker)
            invoke_with_curdoc(doc, functools.partial(_notify, callbacks, event))
        if policy is None:
            callbacks.unhold()


def _drop_stale_tables(doc: Any, msg: Any) -> None:
    """Drop the browser's copies of a table's data whose row count is no longer the table's.

    The browser sent them before it received the rows the run added since;
    applied, Panel would write them over the new rows and fail.
    """
    from bokeh.models import ColumnDataSource

    def stale(event: dict) -> bool:
        if event.get("kind") != "ModelChanged" or event.get("attr") != "data":
            return False
        model = doc.get_model_by_id((event.get("model") or {}).get("id", ""))
        if not isinstance(model, ColumnDataSource) or not isinstance(event.get("new"), dict):
            return False
        rows = {len(v) for v in event["new"].values() if isinstance(v, list)}
        return bool(rows) and rows != {len(next(iter(model.data.values()), []))}

    content = msg.get("content")
    if isinstance(content, dict) and isinstance(content.get("events"), list):
        content["events"] = [event for event in content["events"] if not stale(event)]


def _notify(callbacks: Any, event: Any) -> None:
    for callback in callbacks.change_callbacks():
        callback(event)


def guard_comm_messages() -> None:
    """Replace Panel's notebook message handler (once per process; objects displayed afterwards use it)."""
    from panel.viewable import Renderable

    if Renderable._on_msg is not _apply:
        Renderable._on_msg = _apply  # type: ignore[method-assign]
