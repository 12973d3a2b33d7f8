"""The demo notebook ``docs/notebooks/demo_night.ipynb`` executed in a real kernel (nbclient).

The notebook writes the simulated demo night, shows the night app, runs the
night on a local Dask cluster from code and reads the results as pandas and
astropy objects; the test checks what its last cell printed against the
night's truth (:data:`app.models.night_demo.DEMO_DEFECTS`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.models.night_demo import DEMO_DEFECTS

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebooks" / "demo_night.ipynb"

pytestmark = [
    pytest.mark.browser,  # scripts/test.sh runs these after the others, one at a time
    # third-party deprecations inside jupyter_client / zmq's event loop handling
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def _result(cell) -> dict:
    return next(out["data"] for out in cell.outputs if out.output_type == "execute_result")


def _printed(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def test_demo_notebook_runs_and_reaches_the_results(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert not errors, errors
    # the app displayed itself as a Panel/Bokeh view
    shown = code[1].outputs
    assert any("application/vnd.holoviews_load.v0+json" in out.get("data", {}) or
               "application/vnd.holoviews_exec.v0+json" in out.get("data", {}) for out in shown), shown
    assert "'finished'" in _result(code[2])["text/plain"]
    assert "diff_mag" in _result(code[4])["text/html"]
    lines = _printed(code[-1]).splitlines()
    flags = ast.literal_eval(lines[0].removeprefix("flags: "))
    for index, codes in flags.items():
        if index in DEMO_DEFECTS:
            assert DEMO_DEFECTS[index] in codes.split(","), (index, codes)
        else:
            assert codes == "", (index, codes)
    words = lines[1].split()
    assert int(words[1]) == len(flags) - 1  # every solved frame
    assert int(words[4]) >= 2
