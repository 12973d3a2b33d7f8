"""Browser messages applied in the kernel neither drop nor echo the app's own changes (JupyterLab, issue 13).

Rendered as in a notebook (a comm, the document on hold), a Python-side
change waits in the document's held events until it is pushed.  Panel's own
handler applies a browser message between ``hold`` and ``unhold``, which
dispatched and dropped that change (the night plots froze) and dispatched
Python's answers to the message as if the browser had sent them (a table's
new rows came back as an edit: a traceback in the cell).  With
:func:`app.comms.guard_comm_messages` each test passes; with Panel's handler
each fails.
"""

from __future__ import annotations

import threading

import panel as pn
import pytest
from panel.io.model import diff
from panel.io.state import state
from panel.models.comm_manager import CommManager

from app.comms import UPDATE_LOCK, guard_comm_messages


@pytest.fixture
def shown(monkeypatch):
    """A Markdown pane rendered for a notebook: (pane, its Bokeh model, document, ref)."""
    monkeypatch.setattr(pn.extension, "_loaded", True)
    guard_comm_messages()
    pane = pn.pane.Markdown("first")
    assert pane._repr_mimebundle_() is not None
    ref = next(iter(pane._models))
    _, root, doc, comm = state._views[ref]
    assert doc.callbacks.hold_value is not None  # the notebook's document is on hold
    doc.callbacks._held_events.clear()
    yield pane, root, doc, ref, comm
    pane._cleanup(root)


def _browser_sets_width(pane, root, ref, comm, width: int) -> None:
    """Apply a PATCH-DOC message from the browser (the root's width changed), as the client comm does."""
    event = {"kind": "ModelChanged", "model": {"id": root.id}, "attr": "width", "new": width}
    msg = {"header": {"msgtype": "PATCH-DOC", "msgid": f"browser-{width}"}, "metadata": {}, "_buffers": {},
           "content": {"events": [event]}}  # fmt: skip
    pane._on_msg(ref, CommManager(comm_id=comm.id, plot_id=ref), msg)


def test_unpushed_change_survives_a_browser_message(shown):
    pane, root, doc, ref, comm = shown
    root.text = "changed by the run"  # made, not yet pushed
    _browser_sets_width(pane, root, ref, comm, 321)
    assert root.width == 321  # the browser's change applied
    message = diff(doc)  # the next push
    assert message is not None
    assert [(e["attr"], e["new"]) for e in message.content["events"]] == [("text", "changed by the run")]


def test_browser_message_waits_for_the_apps_update(shown):
    pane, root, doc, ref, comm = shown
    browser = threading.Thread(target=_browser_sets_width, args=(pane, root, ref, comm, 222))
    with UPDATE_LOCK:
        browser.start()
        browser.join(0.5)
        assert browser.is_alive() and root.width != 222  # waiting for the update to end
        root.text = "one update, pushed whole"
    browser.join(10)
    assert root.width == 222
    assert [e.attr for e in doc.callbacks._held_events] == ["text"]


def test_what_a_browser_message_changes_in_python_is_pushed_not_echoed(shown):
    pane, root, doc, ref, comm = shown
    seen: list[str] = []
    doc.on_change(lambda event: seen.append(getattr(event, "attr", type(event).__name__)))
    root.on_change("width", lambda attr, old, new: setattr(root, "text", f"answer to {new}"))  # Python reacts
    _browser_sets_width(pane, root, ref, comm, 400)
    assert root.text == "answer to 400"
    assert seen == ["width"]  # the document's callbacks got the browser's change, not Python's answer as another
    message = diff(doc)
    assert message is not None and [e["attr"] for e in message.content["events"]] == ["text"]  # the answer is pushed


def test_a_tables_data_sent_before_its_new_rows_arrived_is_dropped():
    from bokeh.document import Document
    from bokeh.models import ColumnDataSource

    from app.comms import _drop_stale_tables

    doc = Document()
    source = ColumnDataSource({"frame": ["a", "b", "c"]})
    doc.add_root(source)
    events = [{"kind": "ModelChanged", "model": {"id": source.id}, "attr": "data", "new": {"frame": rows}}
              for rows in (["a", "b"], ["a", "b", "x"])]  # fmt: skip
    msg = {"content": {"events": list(events)}}
    _drop_stale_tables(doc, msg)
    assert msg["content"]["events"] == events[1:]  # the 2-row copy goes; an edit of the 3 rows stays
