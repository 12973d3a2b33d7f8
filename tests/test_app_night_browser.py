"""The night view in chromium: it fills while a real Dask run finishes frames, selections link, a star's curve opens.

The page is :class:`app.notebook.NightApp` on the simulated demo night (eight
256x256 frames, three of them spoiled), served by Panel on 127.0.0.1; the
run goes through :func:`rpf.pipeline.start_run` on a local Dask cluster
(one worker thread).  Screenshots go to ``docs/screenshots/night_*.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

import aavso_spec
import numpy as np
import pytest
from browser_checks import CUT_TEXT
from night_browser import CHROMIUM, DRAWN, PLOT_GEOMETRY, RING_COUNT, TITLES, assert_quality_drawn, serve, until

pytest.importorskip("playwright")
pn = pytest.importorskip("panel")

from app.models.night_demo import demo_config, write_night_demo  # noqa: E402
from app.notebook import NOTEBOOK_EXECUTION, NightApp  # noqa: E402
from app.views.night import PLOTS  # noqa: E402
from rpf.pipeline import RunRequest  # noqa: E402

pytestmark = [
    pytest.mark.browser,  # scripts/test.sh runs these after the others, one at a time
    # third-party deprecations raised while Bokeh/Panel serve the page (pandas 3 in bokeh's from_df, Panel 2 names)
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

SHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
FWHM_TITLE = "Seeing (FWHM) vs time"


@pytest.fixture(scope="module")
def page_and_app(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("night_browser")
    demo = write_night_demo(folder / "frames")
    config = demo_config(demo).replace(execution=NOTEBOOK_EXECUTION)
    apps: list[NightApp] = []

    def make() -> NightApp:
        request = RunRequest(science=demo.science, bias=demo.bias, dark=demo.dark, flat=demo.flat,
                             out_dir=str(folder / f"out{len(apps)}"), config=config)  # fmt: skip
        apps.append(NightApp(request=request, demo_night=demo))
        return apps[-1]

    server, url = serve(make)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(**CHROMIUM)
            page = browser.new_page(viewport={"width": 1400, "height": 2300}, accept_downloads=True)
            page.goto(url, timeout=180_000)
            page.get_by_role("button", name="Run the night").wait_for(timeout=180_000)
            yield page, apps, demo
            browser.close()
    finally:
        server.stop()


def _summary(page) -> str:
    found = page.get_by_text("frames finished")
    return found.first.inner_text() if found.count() else ""


def test_night_view_fills_while_frames_finish(page_and_app):
    page, apps, demo = page_and_app
    page.get_by_role("button", name="Run the night").click()
    n = len(demo.science)
    seen: list[int] = []
    shot_taken = False
    partial: dict = {}
    end = time.monotonic() + 240
    while time.monotonic() < end:
        text = _summary(page)
        if text:
            done = int(text.split(" of ")[0])
            if not seen or seen[-1] != done:
                seen.append(done)
            if 3 <= done < n and not shot_taken:
                page.screenshot(path=str(SHOTS / "night_filling.png"), full_page=True)
                shot_taken = True
            if 4 <= done < n and not partial:
                # mid-run, after the extinction line and the outlier limits appeared: every plot keeps drawing
                partial = assert_quality_drawn(page, frames=None)
            if done == n:
                break
        time.sleep(0.25)
    assert seen and seen[-1] == n, (seen, apps[-1].run.state, apps[-1].run.message, apps[-1].night.finished)
    assert any(0 < k < n for k in seen), f"the page never showed a partly finished night: {seen}"
    assert seen == sorted(seen)
    app = apps[-1]
    until(lambda: app.run.state == "finished", timeout=30, what="the run to finish")
    assert partial, "the plots were never checked while the night was filling"
    drawn = assert_quality_drawn(page, frames=n)
    for name, *_, title, _ in PLOTS:
        assert drawn["plots"][title] == len(app.night_view._shown[name]), (name, drawn)
    # one table row per frame in the page, the defects listed with their reasons
    until(lambda: page.locator(".tabulator-row").filter(has_text="night_0").count() >= n, timeout=20,
          what="a table row per frame")  # fmt: skip
    table = page.locator(".tabulator", has=page.locator('.tabulator-cell[tabulator-field="zp_residual"]'))
    assert table.locator(".tabulator-col-title").evaluate_all(CUT_TEXT) == []  # every header whole
    zero_points = [z for z in table.locator('.tabulator-cell[tabulator-field="zero_point"]').all_inner_texts() if z]
    assert zero_points and all(len(z.split(".")[1]) == 3 for z in zero_points), zero_points  # mag to 0.001
    items = page.locator("li").filter(has_text=".fits (")
    flagged = [items.nth(k).inner_text() for k in range(items.count())]
    assert len(flagged) == len(demo.defects), flagged
    for index, code in demo.defects.items():
        assert any(f"night_{index:02d}.fits" in line and code in line for line in flagged), flagged
    assert any("below the extinction line" in line for line in flagged)
    assert any("no astrometric solution" in line for line in flagged)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "night_view.png"), full_page=True)


def test_box_selection_links_plots_and_table(page_and_app):
    page, apps, _ = page_and_app
    app = apps[-1]
    data = app.night_view._shown["fwhm"]
    geometry = page.evaluate(PLOT_GEOMETRY, [FWHM_TITLE, data["hours"].tolist(), data["fwhm_arcsec"].tolist()])
    left, top, width, height = geometry["frame"]
    right = left + 0.5 * width
    page.mouse.move(left + 3, top + 3)
    page.mouse.down()
    page.mouse.move(right, top + height - 3, steps=8)
    page.mouse.up()
    inside = [int(data["index"].iloc[k]) for k, (x, y) in enumerate(geometry["points"])
              if left + 3 <= x <= right and top + 3 <= y <= top + height - 3]  # fmt: skip
    assert 0 < len(inside) < len(data), "the box should hold some frames, not all"
    until(lambda: app.night.selected == sorted(inside), timeout=15, what=f"frames {inside} selected in the model")
    # the same frames ringed in another plot and selected in the table, in the browser
    ringed = int(app.night_view._shown["zero_point"]["index"].isin(inside).sum())
    until(lambda: page.evaluate(RING_COUNT, "Zero point vs airmass") == ringed, timeout=15,
          what=f"{ringed} rings in the zero-point plot")  # fmt: skip
    until(lambda: page.locator(".tabulator-row.tabulator-selected").count() == len(inside), timeout=15,
          what="the selected rows in the frames table")  # fmt: skip
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "night_linked.png"), full_page=True)
    # a click on one point selects that frame alone and makes it the frame on show
    data = app.night_view._shown["sources"]
    k = int(np.argmax(data["n_sources"].to_numpy()))
    geometry = page.evaluate(PLOT_GEOMETRY, ["Number of sources vs time", [data["hours"].iloc[k]],
                                             [data["n_sources"].iloc[k]]])  # fmt: skip
    page.mouse.click(*geometry["points"][0])
    index = int(data["index"].iloc[k])
    until(lambda: app.night.frame == index and app.night.selected == [index], timeout=15,
          what=f"frame {index} picked by a click")  # fmt: skip
    until(lambda: page.locator(".tabulator-row.tabulator-selected").count() == 1, timeout=15,
          what="one selected table row")  # fmt: skip


def test_click_a_star_shows_its_light_curve_and_exports(page_and_app, tmp_path):
    page, apps, demo = page_and_app
    app = apps[-1]
    star = app.night.stars.nearest(*demo.variable)
    stars = app.lightcurve_view._stars
    row = stars[stars["star"] == star].iloc[0]
    title = "Stars: scatter vs magnitude (click one)"
    geometry = page.evaluate(PLOT_GEOMETRY, [title, [float(row["mag"])], [float(row["rms"])]])
    page.mouse.click(*geometry["points"][0])
    until(lambda: app.lightcurve_model.curve is not None and app.lightcurve_model.curve.star_id == star,
          timeout=20, what="the variable's light curve")  # fmt: skip
    curve = app.lightcurve_model.curve
    title = f"{curve.label}: {len(curve.points)} frames"
    until(lambda: any(t.startswith(title) for t in page.evaluate(TITLES)), timeout=15,
          what="the light curve's title in the page")  # fmt: skip
    assert len(curve.points) == len(demo.science) - 1
    # the points and error bars are drawn, and the comparison and check stars' curves
    until(lambda: max(page.evaluate(DRAWN, title) or [0]) == len(curve.points), timeout=15,
          what="the light curve's points drawn")  # fmt: skip
    n_others = int(np.isfinite(np.asarray(curve.curves["diff_mag"], float)).sum())
    until(lambda: sum(page.evaluate(DRAWN, "Comparison (grey)") or [0]) >= n_others, timeout=15,
          what="the comparison stars' curves drawn")  # fmt: skip
    until(lambda: page.locator(".tabulator-row").filter(has_text="comparison").count() == len(curve.comparison),
          timeout=15, what="the comparison stars' rows")  # fmt: skip
    page.get_by_label("AAVSO observer code").fill("TST01")
    page.get_by_label("AAVSO observer code").press("Enter")
    until(lambda: app.lightcurve_model.obscode == "TST01", timeout=10, what="the observer code")
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / "night_lightcurve.png"), full_page=True)
    with page.expect_download(timeout=20_000) as download:
        page.get_by_role("button", name="Download AAVSO").click()
    params, rows = aavso_spec.parse(Path(download.value.path()).read_text())
    assert params["OBSCODE"] == "TST01" and len(rows) == len(curve.points)
    with page.expect_download(timeout=20_000) as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("frame,mjd,jd") and len(lines) == len(curve.points) + 1
