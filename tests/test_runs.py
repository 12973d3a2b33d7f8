"""Each run owns its output folder (issue 11 items 3, 5, 7 and the run-level part of 12).

Colliding stems, an unusable ``--out``, the manifest and stale products, the
lock between two real processes, masters failures, deterministic failures
not retried and lost workers recorded on a real Dask cluster of worker
processes, and Ctrl-C of a real ``rpf run``.  Most runs use the cheap steps
of ``tests/run_toy_stages.py``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import dask
import numpy as np
import pytest
from astropy.io import fits
from distributed import Client, LocalCluster
from run_toy_stages import BAD, KILL, TOY

from rpf.cli import main
from rpf.config import PipelineConfig
from rpf.errors import ConfigError
from rpf.pipeline import RunRequest, run, run_eager
from rpf.pipeline.events import FrameDone, FrameFailed, RunFinished
from rpf.pipeline.image_steps import calibrate_frame
from rpf.pipeline.outputs import lock_output
from rpf.pipeline.stems import product_stems
from rpf.simulate import write_demo_dataset

QUIET = {"output": {"png": False, "zip": False}}
ROOT = Path(__file__).parents[1]


def _frame(path: Path, value: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(np.full((16, 16), value, np.float32))
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(_bytes(hdu)))
    else:
        hdu.writeto(path)
    return path


def _bytes(hdu: fits.PrimaryHDU) -> bytes:
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def _finished(events) -> RunFinished:
    assert isinstance(events[-1], RunFinished)
    return events[-1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"}


# ---------------------------------------------------------------- item 3: unique stems

def test_product_stems_are_unique_whatever_the_order():
    paths = ["a/x.fits", "b/x.fits", "y.fits", "y.fits.gz", "z.fit", "z.fits", "w.fits"]
    stems, messages = product_stems(paths)
    assert stems == {"a/x.fits": "a_x", "b/x.fits": "b_x", "y.fits": "y_fits", "y.fits.gz": "y_fits_gz",
                     "z.fit": "z_fit", "z.fits": "z_fits", "w.fits": "w"}
    assert product_stems(paths[::-1])[0] == stems
    assert len(messages) == 6 and messages[0] == "a/x.fits: products named a_x_* (x_* is shared by 2 inputs)"
    # a disambiguated name that another input already has is made unique with a hash of the path
    crowded, _ = product_stems(["a/x.fits", "b/x.fits", "a_x.fits"])
    assert crowded["a_x.fits"] == "a_x" and len(set(crowded.values())) == 3
    assert crowded["a/x.fits"].startswith("a_x_")


def test_colliding_inputs_get_their_own_products(tmp_path):
    values = {"a/x.fits": 1.0, "b/x.fits": 2.0, "y.fits": 3.0, "y.fits.gz": 4.0, "z.fit": 5.0, "z.fits": 6.0}
    paths = [_frame(tmp_path / "raw" / name, value) for name, value in values.items()]
    out = tmp_path / "out"
    events = list(run_eager(RunRequest(science=paths, out_dir=out, config=PipelineConfig().replace(**QUIET)),
                            stages=TOY))
    finished = _finished(events)
    assert (finished.n_ok, finished.n_failed) == (6, 0)
    stems, _ = product_stems([str(p) for p in paths])
    assert len(set(stems.values())) == 6
    for path, value in zip(paths, values.values(), strict=True):
        meta = json.loads((out / f"{stems[str(path)]}_metadata.json").read_text())
        assert meta["path"] == str(path) and meta["limiting_mag"] == value and meta["stem"] == stems[str(path)]
    assert sum("products named" in m for m in finished.messages) == 6
    rows = list(csv.DictReader((out / "run_summary.csv").read_text().splitlines()))
    assert sorted(r["stem"] for r in rows) == sorted(stems.values())


# ---------------------------------------------------------------- item 5: unusable --out

def test_unusable_out_is_refused_before_any_frame(tmp_path, capsys):
    frame = _frame(tmp_path / "f.fits", 1.0)
    (tmp_path / "file").write_text("not a folder")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    cases = {tmp_path / "file": "is a file", tmp_path / "file" / "sub": "which is a file",
             loop / "sub": "symbolic links", tmp_path / "dangling": "broken symbolic link"}
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for out, problem in cases.items():
        assert main(["run", str(frame), "--out", str(out), "--eager", "--offline"]) == 2
        err = capsys.readouterr().err
        assert "rpf: configuration error: output folder" in err and problem in err and str(out) in err
        assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "f.fits", "file", "loop"]


def test_read_only_out_is_refused():
    """Run as an unprivileged user (root may write anywhere): a read-only folder is refused, exit 2."""
    root = Path(tempfile.mkdtemp(prefix="rpf-readonly-"))  # pytest's folders are private to their owner
    try:
        root.chmod(0o755)
        frame = _frame(root / "f.fits", 1.0)
        home = root / "home"
        home.mkdir(mode=0o777)
        home.chmod(0o777)
        out = root / "readonly"
        out.mkdir()
        out.chmod(0o555)
        command = [sys.executable, "-m", "rpf.cli", "run", str(frame), "--out", str(out), "--eager", "--offline"]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env = {**_env(), "HOME": str(home), "MPLCONFIGDIR": str(home), "XDG_CACHE_HOME": str(home)}
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=home)
        assert done.returncode == 2, done.stderr
        assert f"output folder {out} is not writable" in done.stderr and "Traceback" not in done.stderr
        assert list(out.iterdir()) == []
    finally:
        shutil.rmtree(root)


# ---------------------------------------------------------------- item 7: manifest, stale products, lock

def _manifest_matches_the_folder(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["name"]: f for f in manifest["files"]}
    for name, entry in listed.items():
        data = (out / name).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    return manifest


def test_manifest_and_no_stale_product(tmp_path):
    frames = [_frame(tmp_path / "raw" / f"f{i}.fits", float(i)) for i in range(2)]
    out = tmp_path / "out"
    out.mkdir()
    (out / "f0_phot.csv").write_text("an older run's catalogue\n")
    (out / "lightcurves.csv").write_text("an older run's light curves of 8 frames\n")
    (out / "notes.txt").write_text("the user's own file\n")
    config = PipelineConfig().replace(**QUIET)
    first = _finished(list(run_eager(RunRequest(science=frames, out_dir=out, config=config), stages=TOY)))
    manifest = _manifest_matches_the_folder(out)
    assert manifest["run_id"] == first.run_id and first.manifest == str(out / "manifest.json")
    assert [f["status"] for f in manifest["frames"]] == ["ok", "ok"]
    visible = {p.name for p in out.iterdir() if p.is_file()} - {"manifest.json", "notes.txt"}
    assert visible == {f["name"] for f in manifest["files"]}
    superseded = out / ".rpf" / "superseded" / first.run_id
    assert sorted(p.name for p in superseded.iterdir()) == ["f0_phot.csv", "lightcurves.csv"]
    assert (out / "notes.txt").exists() and any("moved to" in m for m in first.messages)

    # a run of one frame: the other frame's products leave the folder; the kept frame is reused whole
    second = _finished(list(run_eager(RunRequest(science=frames[:1], out_dir=out, config=config), stages=TOY)))
    manifest = _manifest_matches_the_folder(out)
    assert second.n_reused == 1 and manifest["frames"][0]["reused_stages"] == ["load", "products"]
    assert not list(out.glob("f1*")) and (out / ".rpf" / "superseded" / second.run_id / "f1_metadata.json").exists()
    assert {f["frame"] for f in manifest["files"]} == {str(frames[0]), None}

    # the frame now fails: its earlier products do not stay beside its failure
    frames[0].write_bytes(b"SIMPLE  = garbage")
    third = _finished(list(run_eager(RunRequest(science=frames[:1], out_dir=out, config=config), stages=TOY)))
    assert third.n_failed == 1
    meta = json.loads((out / "f0_metadata.json").read_text())
    assert meta["status"] == "failed" and "f0.fits" in meta["error"]
    _manifest_matches_the_folder(out)


HOLD = """
import sys
from rpf.pipeline.outputs import lock_output
with lock_output(sys.argv[1], run_id="holder"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_process_is_refused_while_a_run_holds_the_folder(tmp_path):
    out = tmp_path / "out"
    frame = _frame(tmp_path / "f.fits", 1.0)
    with subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          env=_env(), text=True) as holder:
        try:
            assert holder.stdout.readline().strip() == "locked"
            second = subprocess.run([sys.executable, "-m", "rpf.cli", "run", str(frame), "--out", str(out), "--eager",
                                     "--offline"], capture_output=True, text=True, timeout=120, env=_env())
            assert second.returncode == 2
            assert f"output folder {out} is in use by run holder (process {holder.pid}" in second.stderr
            assert not (out / "run_summary.csv").exists() and not (out / "f_metadata.json").exists()
            # in this process too
            with pytest.raises(ConfigError, match="in use by run holder"):
                list(run_eager(RunRequest(science=[frame], out_dir=out), stages=TOY))
        finally:
            holder.kill()  # SIGKILL: the system releases the lock with the process
            holder.wait()
    with lock_output(out, run_id="after"):
        pass


# ---------------------------------------------------------------- item 12, run level

def test_masters_failure_is_recorded_once_for_the_run(tmp_path):
    frames = [_frame(tmp_path / "raw" / f"f{i}.fits", float(i)) for i in range(2)]
    bias = tmp_path / "bias.fits"
    bias.write_text("not a FITS file")
    config = PipelineConfig().replace(**QUIET)
    request = RunRequest(science=frames, out_dir=tmp_path / "out", bias=[bias], config=config)
    finished = _finished(list(run_eager(request, stages=(*TOY, ("calibrate", calibrate_frame)))))
    assert finished.n_failed == 2
    run_level = [m for m in finished.messages if m.startswith("the run's calibration failed")]
    assert len(run_level) == 1 and "bias.fits" in run_level[0]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "bias.fits" in manifest["masters_error"]
    for frame in frames:
        meta = json.loads((tmp_path / "out" / f"{frame.stem}_metadata.json").read_text())
        assert meta["failed_stage"] == "calibrate" and "bias.fits" in meta["error"]
        assert (tmp_path / "out" / f"{frame.stem}.log").exists()


@pytest.fixture(scope="module")
def strict_cluster():
    """One worker process; a task whose worker dies is not tried again (``allowed-failures = 0``)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_deterministic_failure_is_not_retried_on_dask(strict_cluster, tmp_path):
    good = _frame(tmp_path / "good.fits", 1.0)
    bad = _frame(tmp_path / "bad.fits", 2.0)
    config = PipelineConfig().replace(output={"png": False, "zip": False, "calibrated_fits": False},
                                      execution={"retries": 2})
    events = list(run(RunRequest(science=[good, bad], out_dir=tmp_path / "out", config=config),
                      client=strict_cluster, stages=BAD))
    finished = _finished(events)
    assert (finished.n_ok, finished.n_failed) == (1, 1)
    failed = next(e for e in events if isinstance(e, FrameFailed))
    assert failed.path == str(bad) and "bad.fits: products failed: RuntimeError" in failed.message
    assert len(bad.with_suffix(".uses").read_text().splitlines()) == 1  # one attempt, not 1 + retries
    meta = json.loads((tmp_path / "out" / "bad_metadata.json").read_text())
    assert meta["status"] == "failed" and "products failed" in meta["error"]


def test_lost_worker_is_recorded_in_the_run(strict_cluster, tmp_path):
    """A frame whose worker dies (once is enough here): failed, with its metadata and log, and named by the run.

    (With the default ``allowed-failures`` the task is retried on a new worker, and the other frames
    go on: ``tests/test_pipeline_dask.py::test_killed_worker_still_yields_every_frame``.)
    """
    frames = [_frame(tmp_path / "kill.fits", 2.0)]
    config = PipelineConfig().replace(**QUIET)
    events = list(run(RunRequest(science=frames, out_dir=tmp_path / "out", config=config), client=strict_cluster,
                      stages=KILL))
    finished = _finished(events)
    assert not [e for e in events if isinstance(e, FrameDone)] and finished.n_failed == 1
    lost = next(e for e in events if isinstance(e, FrameFailed))
    assert "kill.fits" in lost.message and "KilledWorker" in lost.message
    assert any("lost with their worker" in m and "kill.fits" in m for m in finished.messages)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["frames_lost"] == [str(frames[0])]
    meta = json.loads((tmp_path / "out" / "kill_metadata.json").read_text())
    assert meta["worker_lost"] is True and (tmp_path / "out" / "kill.log").read_text().startswith("ERROR")


def test_ctrl_c_writes_the_summary_of_the_finished_frames(tmp_path):
    paths = write_demo_dataset(tmp_path / "raw", n_frames=2, seed=2, shape=(160, 160))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "rpf.cli", "run", *map(str, paths["science"]), "--out", str(out), "--eager",
               "--offline", "--catalog", str(paths["catalog"])]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=_env())
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("rpf: done"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.communicate(timeout=120)[1]
    err = "".join(lines) + rest
    assert proc.returncode == 2, err
    assert "interrupted" in err and "Traceback" not in err
    rows = list(csv.DictReader((out / "run_summary.csv").read_text().splitlines()))
    assert [r["status"] for r in rows] == ["ok", "cancelled"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cancelled"] is True and manifest["frames"][0]["status"] == "ok"
