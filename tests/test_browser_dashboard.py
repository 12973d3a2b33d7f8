"""The served dashboard in Debian's chromium (Playwright): uploads, a live run, downloads, two sessions.

``rpf serve`` runs as a subprocess on 127.0.0.1 and a free port, with a
local Dask cluster of one single-threaded worker (frames run one after the
other, so later frames are still running when the first row turns done).
Select these tests with ``-m browser``; they are part of the normal run.
"""

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from browser_checks import CUT_TEXT

from app.models.inputs import write_demo_night

pytestmark = [pytest.mark.browser, pytest.mark.timeout(1200)]

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 300_000
"""Generous: on a busy machine the first page of a server takes a minute to render."""
SHOTS = os.environ.get("RPF_SCREENSHOTS")
"""Folder to keep the screenshots in (``docs/screenshots`` refreshes the documentation's)."""

if not Path(CHROMIUM).is_file():
    pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

SERVER_CONFIG = """\
[execution]
n_workers = 1
threads_per_worker = 1
processes = true
dashboard_address = "none"
[catalogs]
offline = true
reference = "file"
catalog_file = "{catalog}"
"""


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    return write_demo_night(tmp_path_factory.mktemp("night"), n_frames=3, size=256)


@pytest.fixture(scope="module")
def server(tmp_path_factory, night):
    folder = tmp_path_factory.mktemp("serve")
    config = folder / "serve.toml"
    config.write_text(SERVER_CONFIG.format(catalog=night["catalog"][0]))
    port = _free_port()
    data = folder / "data"
    command = [sys.executable, "-m", "rpf.cli", "serve", "--port", str(port), "--config", str(config),
               "--data-dir", str(data), "--max-upload-mb", "1", "--demo-frames", "2", "--demo-size", "256",
               "--accounts", str(folder / "accounts.sqlite")]  # fmt: skip
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(f"{url}/liveness", timeout=2)
            break
        except OSError:
            assert process.poll() is None, (folder / "serve.log").read_text()
            assert time.monotonic() < deadline, "rpf serve did not start"
            time.sleep(0.5)
    yield {"url": url, "data": data, "log": folder / "serve.log"}
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def _launch(playwright):
    # software WebGL (no GPU) stalls the renderer on a busy machine: Bokeh draws on a canvas instead
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = _launch(playwright)
    yield chromium
    chromium.close()


def _open(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server["url"])
    page.wait_for_selector("text=Load demo frames")
    page.wait_for_selector("text=Cluster: local cluster")
    return page


def _shot(page, name, folder):
    path = Path(SHOTS or folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


def _statuses(page):
    return page.locator('.tabulator-cell[tabulator-field="status"]').all_inner_texts()


def _wait_statuses(page, predicate, timeout=TIMEOUT_MS / 1000):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        page.bring_to_front()  # a page in the background is not repainted: its table would not move
        statuses = _statuses(page)
        seen.append(statuses)
        if statuses and predicate(statuses):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"frame statuses never matched; last seen {seen[-3:]}")


def _upload(page, role, paths):
    page.locator(".bk-tab", has_text=role.capitalize()).first.click()
    index = ["science", "bias", "dark", "flat"].index(role)
    page.locator("input[type=file]").nth(index).set_input_files([str(p) for p in paths])


def _download(page, text):
    with page.expect_download() as info:
        page.locator("button", has_text=text).first.click()
    return Path(info.value.path())


_PAINT = """cell => {
    const pen = document.createElement("canvas").getContext("2d");
    const rgba = colour => {
        pen.fillStyle = "rgba(1, 2, 3, 0.5)";
        const sentinel = pen.fillStyle;
        pen.fillStyle = colour;
        if (pen.fillStyle === sentinel) throw new Error("unreadable colour " + colour);
        pen.clearRect(0, 0, 1, 1);
        pen.fillRect(0, 0, 1, 1);
        return Array.from(pen.getImageData(0, 0, 1, 1).data);
    };
    const style = getComputedStyle(cell);
    return {background: rgba(style.backgroundColor), ink: rgba(style.color)};
}"""
"""A cell's background and text colours as RGBA bytes, whatever notation the browser computes."""


def _contrast(one, two):
    """WCAG contrast ratio of two opaque sRGB colours."""

    def luminance(rgb):
        c = [v / 255 for v in rgb[:3]]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _frozen_cells_hide_what_scrolls_under(page):
    """Scrolled sideways, each row's frozen name hides the cells beneath it, hovered or not, and stays legible."""
    frames = page.locator(".tabulator", has=page.locator('[tabulator-field="reused"]'))
    frames.locator(".tabulator-tableholder").evaluate("holder => { holder.scrollLeft = holder.scrollWidth; }")
    names = frames.locator('.tabulator-cell[tabulator-field="frame"]')
    for i in range(names.count()):
        still = names.nth(i).evaluate(_PAINT)
        names.nth(i).hover()
        hovered = names.nth(i).evaluate(_PAINT)
        assert still["background"][3] == 255 and hovered["background"][3] == 255, (i, still, hovered)  # opaque
        assert hovered["background"] != still["background"], (i, still, hovered)  # and the hover still shows
        assert _contrast(hovered["background"], hovered["ink"]) >= 4.5, (i, hovered)  # WCAG AA, not white on a tint


def test_upload_run_live_rows_and_downloads(browser, server, night, tmp_path):
    page = _open(browser, server)
    _upload(page, "science", night["science"])
    page.wait_for_selector("text=3 science")
    for role in ("bias", "dark", "flat"):
        _upload(page, role, night[role])
    page.wait_for_selector("text=3 science, 2 bias, 2 dark, 2 flat")
    page.get_by_role("button", name="Run", exact=True).click()
    seen = _wait_statuses(page, lambda s: "done" in s)
    first_done = seen[-1]
    assert {"queued", "running"} & set(first_done), first_done  # rows change live, not all at the end
    assert any("running" in s for s in seen)
    _shot(page, "run_live", tmp_path)
    _wait_statuses(page, lambda s: s == ["done"] * 3)
    page.wait_for_selector("text=Finished: 3/3 frame(s).")
    _shot(page, "run", tmp_path)
    _frozen_cells_hide_what_scrolls_under(page)
    phot = page.locator(".tabulator", has=page.locator('.tabulator-col[tabulator-field="mag_inst"]'))
    assert phot.locator(".tabulator-col-title").evaluate_all(CUT_TEXT) == []  # whole in the served theme too

    page.locator(".bk-tab", has_text="Products").first.click()
    frame_zip = _download(page, "Frame ZIP")
    (products,) = [p for p in Path(server["data"]).glob("session-*/runs/run-001") if (p / "sim_002_phot.csv").exists()]
    with zipfile.ZipFile(frame_zip) as bundle:
        names = bundle.namelist()
        phot = pd.read_csv(io.BytesIO(bundle.read("sim_002_phot.csv")))
    on_disk = {p.name for p in products.glob("sim_002*") if p.suffix != ".zip"}
    assert {"sim_002_phot.csv", "sim_002_metadata.json"} <= set(names) <= on_disk, (names, on_disk)
    assert phot.equals(pd.read_csv(products / "sim_002_phot.csv")) and len(phot) > 10

    page.wait_for_selector("text=Run ZIP")
    run_zip = zipfile.ZipFile(_download(page, "Run ZIP")).namelist()
    for stem in ("sim_000", "sim_001", "sim_002"):
        assert f"{stem}_phot.csv" in run_zip
    assert "run_summary.csv" in run_zip
    summary = pd.read_csv(_download(page, "Run summary CSV"))
    assert len(summary) == 3
    page.context.close()


def test_rerun_two_frames_with_a_changed_parameter(browser, server, tmp_path):
    """Demo frames, a run, a zero-point parameter changed, both frames chosen and re-run, the runs compared."""
    from rpf.pipeline import STAGE_NAMES, STAGE_SECTIONS

    first_reader = next(i for i, name in enumerate(STAGE_NAMES) if "zeropoint" in STAGE_SECTIONS[name])
    page = _open(browser, server)
    page.get_by_role("button", name="Load demo frames").click()
    page.wait_for_selector("text=2 science")
    page.get_by_role("button", name="Run", exact=True).click()
    _wait_statuses(page, lambda s: s == ["done"] * 2)
    page.wait_for_selector("text=Finished: 2/2 frame(s).")
    reused = '.tabulator-cell[tabulator-field="reused"]'
    assert page.locator(reused).all_inner_texts() == ["0", "0"]

    page.locator(".bk-tab", has_text="Settings").first.click()
    page.get_by_text("zeropoint", exact=True).click()
    field = page.locator(".bk-input-group", has_text="clip_sigma").locator("input:visible").first
    field.fill("2.5")
    field.press("Enter")
    page.locator(".bk-tab", has_text="Run").first.click()
    rows = page.locator(".tabulator-row", has_text=".fits")
    rows.nth(0).click()
    rows.nth(1).click(modifiers=["Control"])
    page.get_by_role("button", name="Re-run 2 chosen frame(s)").click()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while page.locator(reused).all_inner_texts() != [str(first_reader)] * 2 or _statuses(page) != ["done"] * 2:
        assert time.monotonic() < deadline, (page.locator(reused).all_inner_texts(), _statuses(page))
        time.sleep(0.3)
    page.wait_for_selector("text=Finished: 2/2 frame(s).")
    page.wait_for_timeout(1500)  # for the picture only: the re-run frame's pixels arrive after its markers
    _shot(page, "rerun", tmp_path)
    frames = page.locator(".tabulator", has=page.locator('[tabulator-field="reused"]'))
    titles = [t for t in frames.locator(".tabulator-col-title").all_inner_texts() if t.strip()]
    assert titles[:5] == ["Frame", "Status", "Stage", "Steps", "Reused"] and "Lim. mag" in titles, titles
    cut = frames.locator(".tabulator-col-title").evaluate_all(CUT_TEXT)
    assert cut == [], cut  # no header shortened to "R…"
    box = frames.bounding_box()
    wcs = frames.locator('.tabulator-col[tabulator-field="wcs"]').bounding_box()
    assert wcs["x"] + wcs["width"] <= box["x"] + box["width"] + 1  # every number in view at 1400 px
    frames.locator(".tabulator-tableholder").evaluate("holder => { holder.scrollLeft = holder.scrollWidth; }")
    message = frames.locator('.tabulator-cell[tabulator-field="message"]').first.bounding_box()
    name = frames.locator('.tabulator-cell[tabulator-field="frame"]').first
    assert message["x"] + message["width"] <= box["x"] + box["width"] + 1  # scrolled to the message...
    assert name.inner_text() == "sim_000.fits" and abs(name.bounding_box()["x"] - box["x"]) < 2  # ...beside its frame
    _shot(page, "rerun_message", tmp_path)
    page.locator(".bk-tab", has_text="Compare").first.click()
    page.wait_for_selector("text=zeropoint.clip_sigma")
    page.get_by_text("2 frame(s)").first.wait_for()
    assert page.get_by_text("2.5", exact=True).count() >= 1  # the new value beside the old one
    table = page.locator(".tabulator", has=page.locator('[tabulator-field="zero_point_a"]'))
    _shot(page, "compare", tmp_path)
    titles = [t for t in table.locator(".tabulator-col-title").all_inner_texts() if t.strip()]
    assert titles[:4] == ["Frame", "ZP A", "ZP B", "ΔZP"] and "Src B" in titles, titles
    cut = table.locator(".tabulator-col-title").evaluate_all(CUT_TEXT)
    assert cut == [], cut  # no header shortened to "Z…"
    counts = table.locator('.tabulator-cell[tabulator-field="n_sources_b"]').all_inner_texts()
    assert len(counts) == 2 and all(c.isdigit() and int(c) > 0 for c in counts), counts  # whole numbers
    zero_points = table.locator('.tabulator-cell[tabulator-field="zero_point_b"]').all_inner_texts()
    assert all(len(z.split(".")[1]) == 4 and abs(float(z) - 23.0) < 0.05 for z in zero_points), zero_points
    box, last = table.bounding_box(), table.locator(".tabulator-col").last.bounding_box()
    assert last["x"] + last["width"] <= box["x"] + box["width"] + 1  # every column inside the table
    page.context.close()


def _account(page, name, password, button):
    page.get_by_placeholder("account name").fill(name)
    page.get_by_placeholder("8 characters or more").fill(password)
    page.get_by_role("button", name=button, exact=True).click()


def _clip_sigma(page):
    page.locator(".bk-tab", has_text="Settings").first.click()
    field = page.locator(".bk-input-group", has_text="clip_sigma").locator("input:visible")
    if not field.count():
        page.get_by_text("zeropoint", exact=True).click()  # open the section's card (a second click closes it)
    return field.first


def test_account_settings_saved_in_one_session_come_back_in_another(browser, server, tmp_path):
    """Register, change a setting, save, change the password, sign out; a new tab signs in and finds the setting."""
    page = _open(browser, server)
    _account(page, "vega_obs", "correct horse", "Register")
    page.get_by_text("Signed in as").wait_for()
    field = _clip_sigma(page)
    default = field.input_value()
    field.fill("2.7")
    field.press("Enter")
    page.get_by_role("button", name="Save my settings").click()
    page.get_by_text("your settings are saved").wait_for()
    _shot(page, "account", tmp_path)
    page.locator(".card-header", has_text="Password").first.click()  # the card opens
    page.get_by_label("Current password").fill("correct horse")
    page.get_by_label("New password").fill("battery staple")
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("your password is changed").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("signed out").wait_for()
    assert page.get_by_placeholder("8 characters or more").input_value() == ""  # the password is not kept
    page.context.close()

    page = _open(browser, server)  # a new session starts from the server's settings
    assert _clip_sigma(page).input_value() == default != "2.7"
    _account(page, "vega_obs", "correct horse", "Sign in")  # the password before the change
    page.get_by_text("wrong name or password").wait_for()
    _account(page, "vega_obs", "battery staple", "Sign in")
    page.get_by_text("your settings restored").wait_for()
    assert _clip_sigma(page).input_value() == "2.7"
    page.context.close()


def test_two_sessions_run_at_once(browser, server, tmp_path):
    """Two tabs, each its own session: both runs go to the shared cluster together and both finish."""
    pages = [_open(browser, server) for _ in range(2)]
    for page in pages:
        page.get_by_role("button", name="Load demo frames").click()
        page.wait_for_selector("text=2 science")
    for page in pages:
        page.get_by_role("button", name="Run", exact=True).click()
    for page in pages:
        page.wait_for_selector("text=Running:")
    for page in pages:
        _wait_statuses(page, lambda s: s == ["done"] * 2)
        page.wait_for_selector("text=Finished: 2/2 frame(s).")
    sessions = {p.parents[2].name for p in Path(server["data"]).glob("session-*/runs/run-001/run_summary.csv")}
    assert len(sessions) >= 2
    for page in pages:
        page.context.close()


def test_rejected_uploads_each_have_their_message(browser, server, tmp_path):
    page = _open(browser, server)
    good = tmp_path / "good.fits"
    fits.PrimaryHDU(np.zeros((8, 8), np.float32)).writeto(good)
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"these bytes are not a FITS file" * 4)
    notes = tmp_path / "notes.txt"
    notes.write_text("observing log")
    _upload(page, "science", [good, junk, notes])
    messages = page.locator(".rpf-messages")
    page.wait_for_selector("text=junk.fits: rejected")
    page.wait_for_selector("text=notes.txt: rejected")
    text = messages.inner_text()
    assert "junk.fits: rejected: not a FITS file (it does not start with SIMPLE = T)" in text
    assert "notes.txt: rejected: not a FITS file name" in text
    assert "good.fits: added as science" in text
    page.wait_for_selector("text=1 science")
    assert "Traceback" not in page.content()
    _shot(page, "inputs", tmp_path)
    page.locator(".bk-tab", has_text="Settings").first.click()
    page.get_by_text("detection", exact=True).click()
    page.wait_for_selector("text=threshold_sigma (sigma)")
    _shot(page, "settings", tmp_path)
    page.context.close()


BOKEH_CLOSED_EARLY = "    assert self._session is not None\n"
"""Bokeh's own race (not ours): a tab closed before its session was attached (``bokeh/server/connection.py``)."""


def _not_ours(text: str) -> bool:
    """Bokeh's race above, or Tornado failing to write to the websocket of a tab already closed.

    The latter ("Task exception was never retrieved ... WebSocketClosedError", every frame in
    ``tornado/websocket.py``) happens when a test closes its tab while the server pushes an update.
    """
    if "bokeh/server/connection.py" in text and BOKEH_CLOSED_EARLY in text:
        return True
    files = re.findall(r'File "([^"]+)"', text)
    closed = "WebSocketClosedError" in text or "StreamClosedError" in text
    return bool(files) and closed and all(f.endswith("tornado/websocket.py") for f in files)


def test_no_traceback_in_the_server_log_for_user_errors(server):
    log = Path(server["log"]).read_text()
    tracebacks = log.split("Traceback (most recent call last):")[1:]
    ours = [text for text in tracebacks if not _not_ours(text)]
    assert not ours, log[-3000:]


def test_chromium_found_by_setup_script():
    script = Path(__file__).parents[1] / "scripts" / "setup.sh"
    out = subprocess.run(["bash", str(script), "--check-browser"], capture_output=True, text=True)
    assert out.returncode == 0 and shutil.which("chromium") in out.stdout
