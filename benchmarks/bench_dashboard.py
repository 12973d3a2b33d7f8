"""The dashboard's result views in chromium: latency, websocket bytes of a 4096² frame, memory over sessions.

Usage::

    flock /tmp/rpf-bench.lock .venv/bin/python benchmarks/bench_dashboard.py [--repeats 5] [--sessions 20]

The result views (image, photometry, zero point, magnitude vs error, sky) of
one session are served on 127.0.0.1 from this process (``tests/dashboard_views.py``)
over an eager run of two simulated 384² frames, and driven with Debian's
chromium through Playwright:

- ``frame_done_to_drawn_s``: from handing a ``FrameDone`` result to the
  session (on its event loop, as the run controller's poll does) to the
  browser holding that frame's detections, calibrators and table rows
  (goal < 1 s; the poll period, 0.2 s, comes on top in the dashboard);
  frames alternate, medians after a warm-up; with every result view in one
  page, and (``frame_done_to_drawn_run_page_s``) with the views the
  dashboard's Run page draws when it opens (image, photometry table, the
  zero-point tab: the other diagnostics tabs are drawn only when opened);
- ``websocket_bytes_4096``: bytes received over the websocket from showing a
  4096² frame in the image view until the page is idle (goal < 3 MB; the
  raw pixels are 64 MB);
- ``memory``: this server process's RSS after the first session and after
  ``--sessions`` sessions, each opened, shown both frames and closed (goal:
  within 10 %).

Results: ``benchmarks/results/bench_dashboard.json`` with the load
(``/proc/loadavg``) before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from astropy.io import fits

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from dashboard_views import ViewsPage, eager_frames, new_session, show_frame  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from app.models.frame_data import FrameData  # noqa: E402
from rpf.pipeline import FrameResult  # noqa: E402
from rpf.pipeline.events import FrameDone  # noqa: E402
from rpf.products.pixels import write_calibrated_fits  # noqa: E402

CHROMIUM = {"executable_path": "/usr/bin/chromium", "args": ["--no-sandbox"]}

DRAWN_JS = """
([n, ncal, firstId]) => {
  if (!window.Bokeh || !Bokeh.index) return false;
  let detections = false, calibrators = 0;
  const seen = new Set();
  for (const view of Bokeh.index.all_views()) {  // the plots on screen (not models a replaced plot left)
    for (const r of (view.model.renderers || [])) {
      const m = r.data_source;
      if (!m || seen.has(m.id) || m.type !== "ColumnDataSource" || m.data.row === undefined) continue;
      seen.add(m.id);
      if (m.data.snr !== undefined && m.data.x !== undefined && m.data.row.length === n) detections = true;
      if ((m.data.inst !== undefined || m.data.residual !== undefined) && m.data.row.length === ncal) calibrators++;
    }
  }
  // Panel draws widgets in shadow roots: the id in the first row of the tables, looked for through them
  const firsts = [];
  const find = (root) => {
    const cell = root.querySelector('.tabulator-row .tabulator-cell[tabulator-field="id"]');
    if (cell) firsts.push(cell.textContent.trim());
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) find(el.shadowRoot);
  };
  find(document);
  const cell = firsts.join("|");
  const table = firsts.includes(String(firstId));
  if (detections && calibrators >= 3 && table) { window.__drawn = Date.now() / 1000; return true; }
  return false;
}
"""


SEEN_JS = DRAWN_JS.replace("if (detections && calibrators >= 3 && table)", "return [detections, calibrators, "
                           "cell && cell.textContent, [...seen].length]; if (false)")
"""What the page shows when the results were not drawn (for the error message)."""


def _expected(event: FrameDone) -> list:
    data = FrameData(event.index, event.result)
    return [len(data.phot), len(data.calibrators), int(data.phot["id"].iloc[0])]


def _load() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def _idle(frames: list[tuple[float, int]], *, quiet: float, timeout: float, tab) -> None:
    start = time.time()
    while time.time() - start < timeout:
        tab.wait_for_timeout(250)
        last = frames[-1][0] if frames else start
        if time.time() - last > quiet:
            return


def latency(page: ViewsPage, url: str, events: list[FrameDone], repeats: int, browser) -> list[float]:
    """Seconds from a frame handed to the session to its results in the browser."""
    tab = browser.new_page(viewport={"width": 1300, "height": 1000})
    tab.goto(url, timeout=120_000)
    tab.wait_for_selector(".tabulator", timeout=120_000)
    session = len(page.sessions) - 1
    times = []
    for i in range(repeats + 1):
        event = events[i % 2]
        stamp = {}

        def give(s, event=event, stamp=stamp):
            stamp["t0"] = time.time()
            show_frame(s, event)

        page.run_in_session(session, give)
        try:
            tab.wait_for_function(DRAWN_JS, arg=_expected(event), timeout=120_000, polling=20)
        except Exception as exc:
            raise RuntimeError(f"results of frame {event.index} never drawn: expected {_expected(event)}, "
                               f"seen {tab.evaluate(SEEN_JS, _expected(event))}") from exc
        if i:  # the first one is the warm-up
            times.append(tab.evaluate("window.__drawn") - stamp["t0"])
    tab.close()
    return times


def big_frame(folder: Path, event: FrameDone) -> FrameDone:
    """A 4096² frame (sky, noise and stars) with the small frame's photometry table."""
    rng = np.random.default_rng(4)
    image = rng.normal(1000.0, 15.0, (4096, 4096)).astype(np.float32)
    for x, y in rng.uniform(20, 4076, (300, 2)).astype(int):
        image[y - 2 : y + 3, x - 2 : x + 3] += rng.uniform(200, 20000)
    path = write_calibrated_fits(folder / "big_calibrated.fits", image=image, mask=None, background=None,
                                 background_rms=None, header=fits.Header(), wcs=None)  # fmt: skip
    result = FrameResult(path=str(folder / "big.fits"), status="ok", metadata=dict(event.result.metadata),
                         phot=event.result.phot, products={"calibrated": str(path)})  # fmt: skip
    return FrameDone(run_id="bench", path=result.path, index=0, result=result)


def websocket_bytes(folder: Path, event: FrameDone, browser) -> dict:
    """Bytes received by the page over the websocket while a 4096² frame is shown in the image view."""
    page = ViewsPage(lambda: new_session(folder / "ws"), views=("image",))
    url = page.start()
    tab = browser.new_page(viewport={"width": 1300, "height": 1000})
    frames: list[tuple[float, int]] = []
    tab.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append((time.time(), len(f)))))
    tab.goto(url, timeout=120_000)
    tab.wait_for_selector(".rpf-image-view", timeout=120_000)
    _idle(frames, quiet=2.0, timeout=30, tab=tab)
    before = len(frames)
    page.run_in_session(0, lambda s: show_frame(s, event))
    tab.locator(".rpf-image-view").get_by_text("big.fits").first.wait_for(timeout=120_000)  # pierces shadow roots
    _idle(frames, quiet=3.0, timeout=120, tab=tab)
    received = sum(n for _, n in frames[before:])
    tab.close()
    page.stop()
    return {"bytes": received, "messages": len(frames) - before, "raw_pixel_bytes": 4096 * 4096 * 4}


def memory(page: ViewsPage, url: str, events: list[FrameDone], n_sessions: int, browser) -> dict:
    """RSS after the first and after ``n_sessions`` sessions opened, shown both frames and closed."""
    rss = []
    process = psutil.Process()
    for i in range(n_sessions):
        context = browser.new_context(viewport={"width": 1300, "height": 1000})
        tab = context.new_page()
        tab.goto(url, timeout=120_000)
        tab.wait_for_selector(".tabulator", timeout=120_000)
        index = len(page.sessions) - 1
        for event in events:
            page.run_in_session(index, lambda s, event=event: show_frame(s, event))
            tab.wait_for_function(DRAWN_JS, arg=_expected(event), timeout=120_000, polling=50)
        context.close()
        deadline = time.time() + 30
        while page.closed < i + 1 and time.time() < deadline:
            time.sleep(0.2)
        gc.collect()
        rss.append(process.memory_info().rss)
    return {"rss_first_mb": rss[0] / 2**20, "rss_last_mb": rss[-1] / 2**20, "ratio": rss[-1] / rss[0],
            "sessions_closed": page.closed, "rss_mb": [r / 2**20 for r in rss]}  # fmt: skip


def main() -> None:
    """Run the three measurements and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_dashboard.json"))
    args = parser.parse_args()
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        import holoviews as hv

        events = eager_frames(folder)
        hv.renderer("bokeh").webgl = False
        page = ViewsPage(lambda: new_session(folder / "sessions"))
        url = page.start(check_unused_sessions_milliseconds=500, unused_session_lifetime_milliseconds=500)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**CHROMIUM)
            times = latency(page, url, events, args.repeats, browser)
            # the dashboard's Run page as it opens: image, photometry table and the zero-point tab (the other
            # diagnostics tabs are drawn only when opened)
            run_page = ViewsPage(lambda: new_session(folder / "run-page"), views=("image", "phot", "zp"))
            run_url = run_page.start()
            times_run_page = latency(run_page, run_url, events, args.repeats, browser)
            run_page.stop()
            ws = websocket_bytes(folder, big_frame(folder, events[0]), browser)
            mem = memory(page, url, events, args.sessions, browser)
            browser.close()
        page.stop()
    result = {
        "frame_done_to_drawn_s": {"median": statistics.median(times), "all": times, "goal": 1.0,
                                  "views": "image, photometry, zero point, magnitude vs error, sky"},
        "frame_done_to_drawn_run_page_s": {"median": statistics.median(times_run_page), "all": times_run_page,
                                           "goal": 1.0, "views": "image, photometry, zero point"},
        "websocket_bytes_4096": {**ws, "goal": 3_000_000},
        "memory": {**mem, "sessions": args.sessions, "goal_ratio": 1.10},
        "load_before": load_before,
        "load_after": _load(),
        "cpus": os.cpu_count(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
