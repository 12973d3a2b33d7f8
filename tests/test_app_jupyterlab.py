"""The night app inside JupyterLab: a real ``jupyter lab`` server, the demo notebook opened in chromium.

The test starts JupyterLab on 127.0.0.1 (a free port, a token, no browser, a
temporary root folder holding a copy of ``docs/notebooks/demo_night.ipynb``),
runs the notebook's first cells from the page (Shift+Enter), and presses
"Run the night" in the output cell: the run goes through a local Dask
cluster and the output fills until every frame is finished, every quality
plot drawing a point per finished frame (counted in the page's Bokeh documents).  Screenshot:
``docs/screenshots/jupyterlab.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from night_browser import CHROMIUM, assert_quality_drawn, free_port, until

pytest.importorskip("jupyterlab")
pytest.importorskip("playwright")

pytestmark = pytest.mark.browser  # scripts/test.sh runs these after the others, one at a time

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebooks" / "demo_night.ipynb"
SHOTS = ROOT / "docs" / "screenshots"
TOKEN = "rpf-test-token"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def jupyterlab(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                           "checkForUpdates": False}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    port = free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
               "--allow-root", "--LabApp.extension_manager=readonly"]
    log = (tmp_path / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: server.poll() is not None or _answers(f"{base}/api/status?token={TOKEN}"), timeout=120,
              what="jupyter lab to answer")  # fmt: skip
        assert server.poll() is None, (tmp_path / "jupyterlab.log").read_text()
        yield base, tmp_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_night_app_runs_inside_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    base, _ = jupyterlab
    with sync_playwright() as p:
        browser = p.chromium.launch(**CHROMIUM)
        page = browser.new_page(viewport={"width": 1500, "height": 1800})
        errors: list[str] = []  # the browser's own errors: named in the failure (the intermittent plot freeze)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={TOKEN}", timeout=180_000)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=180_000)
        until(lambda: page.get_by_text("Python 3 (ipykernel) | Idle").count() > 0, timeout=180,
              what="the kernel to be idle", step=0.5)  # fmt: skip
        page.wait_for_timeout(2000)
        cells = page.locator(".jp-Notebook .jp-Cell")
        cells.nth(1).locator(".jp-InputArea-editor").click()  # pn.extension(...)
        page.keyboard.press("Shift+Enter")
        page.keyboard.press("Shift+Enter")  # app = NightApp.demo(); app
        run = page.get_by_role("button", name="Run the night")
        run.wait_for(timeout=300_000)
        assert cells.nth(2).get_by_role("button", name="Run the night").count() == 1  # in the output cell
        page.wait_for_timeout(1000)
        run.click()
        seen: list[int] = []

        def finished() -> bool:
            found = page.get_by_text("frames finished")
            if found.count():
                done = int(found.first.inner_text().split(" of ")[0])
                if not seen or seen[-1] != done:
                    seen.append(done)
            return bool(seen) and seen[-1] == 8

        until(finished, timeout=420, what="all 8 frames finished in the output cell", step=0.5)
        assert seen == sorted(seen)
        # every quality plot in the output cell draws a point per finished frame (not only the first)
        try:
            drawn = assert_quality_drawn(page, frames=8)
        except AssertionError as error:
            raise AssertionError(f"{error}; browser errors: {errors[-10:]}") from None
        assert min(drawn["plots"].values()) >= 6, drawn
        shown = cells.nth(2).locator(".jp-OutputArea").inner_text()
        assert "Traceback" not in shown, shown[:3000]  # nothing the kernel raised is printed in the cell
        items = page.locator("li").filter(has_text=".fits (")
        until(lambda: items.count() == 3, timeout=30, what="the three flagged frames listed")
        page.wait_for_timeout(1500)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "jupyterlab.png"))
        browser.close()
