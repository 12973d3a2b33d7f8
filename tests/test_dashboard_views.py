"""The dashboard's result views over a finished simulated run, headless and in chromium.

One eager run of two small simulated frames (known stars, WCS, zero point)
feeds every check; the browser tests serve the image, photometry,
zero-point, magnitude-error and sky views of one session on 127.0.0.1 and
drive Debian's chromium with Playwright.
"""

from __future__ import annotations

import time
from pathlib import Path

import holoviews as hv
import numpy as np
import pytest
from astropy.io import fits
from browser_checks import CUT_TEXT
from dashboard_views import ViewsPage, eager_frames, new_session, show_frame

from app.models.frame_data import FrameData
from app.models.pixels import sky_hover_parameters
from app.views.image import ImageView
from rpf.pipeline import FrameResult, frame_pixels
from rpf.products.pixels import write_calibrated_fits

pytestmark = [
    pytest.mark.browser,  # scripts/test.sh runs these after the others, one at a time
    # Panel's Tabulator calls DataFrame.reset_index(inplace=True) (panel 1.9 with pandas 3.1)
    pytest.mark.filterwarnings("ignore:The inplace keyword:pandas.errors.Pandas4Warning"),
]

SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    hv.extension("bokeh", logo=False)
    return eager_frames(tmp_path_factory.mktemp("views"))


# --- headless --------------------------------------------------------------------------------


def test_frame_data_zero_point_quantities_follow_the_fit(frames):
    data = FrameData(frames[0].index, frames[0].result)
    meta = frames[0].result.metadata
    assert len(data.phot) == meta["n_sources"] > 20
    cal = data.calibrators
    used = cal[cal["used"]]
    assert len(used) == meta["n_calib_stars"]
    # catalogue = instrumental (per second) + zero point, within the fit's scatter
    offsets = used["cat_mag"] - used["inst"] - meta["zero_point"]
    assert abs(float(np.median(offsets))) < 3 * meta["zero_point_rms"]
    assert np.allclose(used["residual"], used["cat_mag"] - used["mag"], atol=1e-6)
    assert data.psf_image() is not None and data.psf_image().ndim == 2
    assert "sim_000" in data.text("log")


def test_sky_hover_parameters_give_the_wcs_position(frames):
    pixels = frame_pixels(frames[0].result)
    crpix1, crpix2, crval1, crval2, *cd = sky_hover_parameters(pixels.wcs)
    x, y = 100.0, 250.0
    u, v = x + 1 - crpix1, y + 1 - crpix2
    xi, eta = np.radians(cd[0] * u + cd[1] * v), np.radians(cd[2] * u + cd[3] * v)
    d0 = np.radians(crval2)
    den = np.cos(d0) - eta * np.sin(d0)
    ra = crval1 + np.degrees(np.arctan2(xi, den))
    dec = np.degrees(np.arctan2(eta * np.cos(d0) + np.sin(d0), np.hypot(xi, den)))
    truth = pixels.wcs.pixel_to_world(x, y)
    assert abs((ra - truth.ra.deg) * np.cos(d0)) * 3600 < 1.0 and abs(dec - truth.dec.deg) * 3600 < 1.0


def test_a_4096_frame_is_rasterised_to_the_plot_size(frames, tmp_path):
    rng = np.random.default_rng(1)
    image = rng.normal(1000, 10, (4096, 4096)).astype(np.float32)
    path = write_calibrated_fits(tmp_path / "big_calibrated.fits", image=image, mask=None, background=None,
                                 background_rms=None, header=fits.Header(), wcs=None)  # fmt: skip
    result = FrameResult(path=str(tmp_path / "big.fits"), status="ok", metadata={}, phot=frames[0].result.phot,
                         products={"calibrated": str(path)})  # fmt: skip
    session = new_session(tmp_path)
    view = ImageView(session=session)
    show_frame(session, type(frames[0])(run_id="r", path=result.path, index=0, result=result))
    assert view.pixels is not None and view.pixels.image.shape == (4096, 4096)
    figure = hv.render(view.plot())
    sources = [r.data_source for r in figure.renderers if "image" in r.data_source.data]
    assert sources
    drawn = np.asarray(sources[0].data["image"][0])
    assert drawn.size <= 800 * 800 and drawn.dtype == np.uint8


# --- in chromium -----------------------------------------------------------------------------

ROWS = ".tabulator-row"
"""Rows of the photometry table: Panel renders widgets in shadow roots, which ``document.querySelectorAll``
does not enter, so rows are counted with Playwright locators (they pierce shadow roots)."""


def _until(condition, *, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


FIND_SOURCES = """
() => {
  // the data sources of the plots on screen (not models a replaced plot left in the document)
  const out = [], seen = new Set();
  for (const view of Bokeh.index.all_views()) {
    for (const r of (view.model.renderers || [])) {
      const m = r.data_source;
      if (!m || seen.has(m.id) || m.type !== "ColumnDataSource") continue;
      seen.add(m.id);
      if (m.data.row !== undefined && m.data.selected_row === undefined) {
        const cols = Object.keys(m.data).sort();
        out.push({id: m.id, cols: cols, rows: Array.from(m.data.row), selected: Array.from(m.selected.indices)});
      }
    }
  }
  return out;
}
"""


@pytest.fixture(scope="module")
def served(frames, tmp_path_factory):
    hv.renderer("bokeh").webgl = False  # software GL in headless chromium stalls screenshots
    folder = tmp_path_factory.mktemp("sessions")
    # image, table and sky in one page (with the zero-point and magnitude plots too, chromium froze on load here)
    page = ViewsPage(lambda: new_session(folder), views=("image", "phot", "zp", "sky"))
    url = page.start()
    with sync_api.sync_playwright() as playwright:
        args = ["--no-sandbox", "--disable-gpu"]
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        tab = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(url, timeout=60_000)
        tab.wait_for_selector(".tabulator", timeout=60_000)
        page.run_in_session(0, lambda s: show_frame(s, frames[0]))
        tab.locator(ROWS).first.wait_for(timeout=60_000)
        image = page.sessions[0]["views"]["image"]
        _until(lambda: image.pixels is not None and image.status == "", timeout=60, what="the image's pixels loaded")
        yield {"page": page, "tab": tab, "errors": errors, "frames": frames}
        browser.close()
    page.stop()


def _sources(tab) -> list[dict]:
    return tab.evaluate(FIND_SOURCES)


def _detections(sources: list[dict]) -> dict:
    return next(s for s in sources if {"x", "y", "snr", "id"} <= set(s["cols"]))


def test_views_fill_with_the_frame(served):
    tab, frame = served["tab"], served["frames"][0]
    n = frame.result.metadata["n_sources"]
    tab.wait_for_function(f"({FIND_SOURCES})().some(s => s.rows.length === {n})", timeout=60_000)
    sources = _sources(tab)
    assert len(_detections(sources)["rows"]) == n
    assert tab.locator(".rpf-sky-view").get_by_text("Sky view offline").is_visible()  # no internet here
    assert not [e for e in served["errors"] if "aladin" in e.lower()]


def test_table_shows_whole_values_and_headers(served):
    """Every header and cell of the photometry table whole (no "149.90…"), RA/Dec to the catalogue's 6 decimals."""
    tab = served["tab"]
    phot = FrameData(0, served["frames"][0].result).phot
    table = tab.locator(".rpf-photometry-view .tabulator").first
    _until(lambda: table.locator('.tabulator-cell[tabulator-field="ra"]').count() > 0, timeout=60, what="rows")
    cut = table.locator(".tabulator-col-title, .tabulator-cell").evaluate_all(CUT_TEXT)
    assert cut == [], cut
    shown = table.locator('.tabulator-cell[tabulator-field="ra"]').all_inner_texts()
    ids = [int(t) for t in table.locator('.tabulator-cell[tabulator-field="id"]').all_inner_texts()]
    truth = phot.set_index("id").loc[ids, "ra"].to_numpy()
    assert all(len(t.split(".")[1]) == 6 for t in shown), shown
    assert np.allclose([float(t) for t in shown], truth, atol=5.1e-7, rtol=0), (shown, truth)


def test_table_row_click_highlights_the_star_everywhere(served):
    tab, page = served["tab"], served["page"]
    session = page.sessions[0]["session"]
    cal = FrameData(0, served["frames"][0].result).calibrators
    on_page = [int(r) for r in cal[cal["used"]]["row"] if int(r) < tab.locator(ROWS).count()]
    assert on_page, "no zero-point calibrator on the table's first page"
    row = on_page[0]  # a calibrator: in the image and in every zero-point plot
    tab.locator(ROWS).nth(row).click()
    _until(lambda: session.selection.stars == [row], timeout=30, what="the clicked star selected")

    def highlighted() -> bool:
        holding = [s for s in _sources(tab) if row in s["rows"]]
        return len(holding) >= 2 and all([s["rows"][i] for i in s["selected"]] == [row] for s in holding)

    # the image's detections and reference stars and each zero-point plot's points: the same star selected
    try:
        _until(highlighted, timeout=30, what="the star selected in every plot that shows it")
    except AssertionError as exc:
        shown = [(s["cols"], len(s["rows"]), [s["rows"][i] for i in s["selected"]]) for s in _sources(tab)]
        raise AssertionError(f"{exc}: row {row}; sources {shown}") from None


def test_box_select_on_the_image_selects_table_rows(served):
    tab, page = served["tab"], served["page"]
    session = page.sessions[0]["session"]
    phot = FrameData(0, served["frames"][0].result).phot
    box = (50.0, 200.0, 60.0, 250.0)  # x0, x1, y0, y1 in pixels
    inside = phot.index[phot["x"].between(box[0], box[1]) & phot["y"].between(box[2], box[3])].tolist()
    assert len(inside) >= 2
    tab.locator(".rpf-image-view").first.scroll_into_view_if_needed()
    corners = tab.evaluate(DATA_TO_SCREEN, [box[0], box[2], box[1], box[3]])
    tab.mouse.move(corners[0], corners[1])
    tab.mouse.down()
    tab.mouse.move((corners[0] + corners[2]) / 2, (corners[1] + corners[3]) / 2, steps=5)
    tab.mouse.move(corners[2], corners[3], steps=5)
    tab.mouse.up()
    wanted = f"the boxed stars {sorted(inside)} selected"
    _until(lambda: session.selection.stars == sorted(inside), timeout=30, what=wanted)
    table = page.sessions[0]["views"]["phot"].table
    # the table turns to the page of the first selected star when none was on the page shown
    first_page = min(inside) // table.page_size + 1
    _until(lambda: table.page == first_page, timeout=30, what=f"the table on page {first_page}")
    shown = [r for r in inside if r // table.page_size + 1 == first_page]  # drawn selected in the browser
    _until(lambda: tab.locator(f"{ROWS}.tabulator-selected").count() == len(shown), timeout=30,
           what="the selected rows drawn")  # fmt: skip
    _until(lambda: sorted(table.selection) == sorted(inside), timeout=30, what="the table's selection")
    assert session.selection.stars == sorted(inside)  # not undone by the table's page


DATA_TO_SCREEN = """
([x0, y0, x1, y1]) => {
  const plot = [...Bokeh.index.all_views()].find((v) => v.frame && v.model.renderers && v.model.renderers.some(
      (r) => r.data_source && r.data_source.data.snr !== undefined));
  for (const tool of plot.model.toolbar.tools) {
    if (tool.type === "BoxSelectTool") tool.active = true;  // the mouse drag below draws a box
  }
  const rect = plot.el.getBoundingClientRect();
  const f = plot.frame.bbox, xr = plot.model.x_range, yr = plot.model.y_range;
  const sx = (x) => rect.left + f.left + (x - xr.start) / (xr.end - xr.start) * f.width;
  const sy = (y) => rect.top + f.top + (1 - (y - yr.start) / (yr.end - yr.start)) * f.height;
  return [sx(x0), sy(y0), sx(x1), sy(y1)];
}
"""


@pytest.mark.parametrize(("view", "name"), [("image", "image"), ("photometry", "table"),
                                             ("zero-point", "zeropoint"), ("sky", "sky")])  # fmt: skip
def test_screenshots(served, view, name):
    """Screenshots of the views for docs/ (after the tests above: stars selected, so the highlight shows)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"result_{name}.png"
    element = served["tab"].locator(f".rpf-{view}-view").first
    element.scroll_into_view_if_needed()
    element.screenshot(path=str(path))
    box = element.bounding_box()
    assert box["width"] > 300 and box["height"] > 150
    assert path.stat().st_size > 5_000
