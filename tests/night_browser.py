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


QUALITY_DRAWN = """(titles) => {
  const models = [];
  for (const doc of Bokeh.documents) {
    const all = doc._all_models ? [...doc._all_models.values()] : [...doc.all_models];
    models.push(...all);
  }
  // only figures on show (a replaced figure may linger in a document's models)
  const shown = new Set();
  if (Bokeh.index && Bokeh.index.all_views) { for (const v of Bokeh.index.all_views()) shown.add(v.model); }
  const finite = (v) => v !== null && v !== undefined && Number.isFinite(Number(v));
  const plots = {};
  for (const title of titles) {
    const counts = models
      .filter(m => m.title && m.renderers && String(m.title.text).startsWith(title))
      .filter(m => shown.size === 0 || shown.has(m))
      .flatMap(m => m.renderers)
      .filter(r => r.data_source && r.data_source.data && "frame" in r.data_source.data)
      .map(r => r.data_source.get_length() || 0);
    plots[title] = counts.length ? Math.max(...counts) : -1;
  }
  const table = {};
  for (const m of models) {
    const data = m.source && m.source.data;
    if (data && "fwhm_arcsec" in data && "wcs_rms_arcsec" in data) {
      for (const [name, values] of Object.entries(data)) {
        table[name] = [...values].filter(finite).length;
      }
      table.rows = m.source.get_length() || 0;
      table.both_airmass_zero_point = [...data.airmass]
        .filter((a, i) => finite(a) && finite(data.zero_point[i])).length;
    }
  }
  return {plots, table};
}"""
"""Across every Bokeh document in the page (a served page or JupyterLab's output cells): how many frame
points each quality plot (found by the start of its title) draws, and how many finite values each
column of the frames table holds."""


def assert_quality_drawn(page: Any, *, frames: int | None, timeout: float = 30.0) -> dict:
    """Wait until every quality plot draws one point per finished frame that has its quantity.

    The expected counts come from the frames table in the same page (which
    updates independently of the plots); ``frames`` is how many rows it must hold
    (None: any number, at least one).
    Returns the last counts.
    """
    from app.views.night import PLOTS

    titles = {spec[0]: spec[4] for spec in PLOTS}
    columns = {spec[0]: spec[2] for spec in PLOTS}
    state: dict = {}

    def drawn() -> bool:
        state.update(page.evaluate(QUALITY_DRAWN, list(titles.values())))
        table = state.get("table", {})
        if not table.get("rows") or (frames is not None and table["rows"] != frames):
            return False
        expected = {name: table["both_airmass_zero_point"] if name == "zero_point" else table.get(columns[name])
                    for name in titles}  # fmt: skip
        state["expected"] = expected
        return all(state["plots"][titles[name]] == expected[name] for name in titles)

    try:
        until(drawn, timeout=timeout, what=f"every quality plot to draw its finished frames ({frames} rows)")
    except AssertionError as error:
        raise AssertionError(f"{error}: {state}") from None
    assert all(v > 0 for v in state["expected"].values()), state
    return state


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
