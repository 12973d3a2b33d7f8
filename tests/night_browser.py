"""Helpers for the night view's browser tests: a Panel server on a free port and Bokeh plot geometry.

Chromium is the system one (``/usr/bin/chromium``); no browser is downloaded.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

CHROMIUM = {"executable_path": "/usr/bin/chromium", "args": ["--no-sandbox"]}

PLOT_GEOMETRY = """([title, xs, ys]) => {
  for (const v of Bokeh.index.all_views()) {
    if (v.model.title && String(v.model.title.text).startsWith(title) && v.frame) {
      const r = v.el.getBoundingClientRect();
      const f = v.frame.bbox;
      return {frame: [r.left + f.left, r.top + f.top, f.width, f.height],
              points: xs.map((x, i) => [r.left + v.frame.x_scale.compute(x), r.top + v.frame.y_scale.compute(ys[i])])};
    }
  }
  return null;
}"""
"""Page coordinates of a Bokeh figure's frame and of data points in it, found by the start of the figure's title."""

RING_COUNT = """(title) => {
  for (const v of Bokeh.index.all_views()) {
    if (v.model.title && String(v.model.title.text).startsWith(title) && v.model.renderers) {
      let n = 0;
      for (const r of v.model.renderers) {
        const color = r.glyph && r.glyph.line_color;
        if (color && (color.value === "#ff9900" || color === "#ff9900")) n += r.data_source.get_length() || 0;
      }
      return n;
    }
  }
  return -1;
}"""
"""How many selection rings a figure (found by its title) draws in the browser."""


TITLES = """() => [...Bokeh.index.all_views()]
  .filter(v => v.model.title && v.frame).map(v => String(v.model.title.text))"""
"""The titles of the Bokeh figures in the page (drawn on canvas, so not in the DOM text)."""


DRAWN = """(title) => {
  for (const v of Bokeh.index.all_views()) {
    if (v.model.title && v.frame && String(v.model.title.text).startsWith(title)) {
      return v.model.renderers.filter(r => r.data_source).map(r => r.data_source.get_length() || 0);
    }
  }
  return null;
}"""
"""How many rows each renderer of a figure (found by the start of its title) draws in the browser."""


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(make: Callable[[], Any]) -> tuple[Any, str]:
    """Serve ``make()`` (one app per session) on 127.0.0.1; return the server thread and the page's URL."""
    import panel as pn

    port = free_port()
    server = pn.serve({"night": make}, port=port, address="127.0.0.1", threaded=True, show=False,
                      websocket_origin=f"127.0.0.1:{port}")  # fmt: skip
    return server, f"http://127.0.0.1:{port}/night"


def until(condition: Callable[[], Any], *, timeout: float, what: str, step: float = 0.2) -> Any:
    """Call ``condition`` until it returns something true; fail the test after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
