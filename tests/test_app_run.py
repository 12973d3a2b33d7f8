"""The dashboard's session model driven from Python: simulated frames through a real LocalCluster, no Panel."""

import json
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from app.cluster import SharedCluster
from app.models.inputs import write_demo_night
from app.models.session import Session
from app.options import ServeOptions
from rpf.config import PipelineConfig
from rpf.pipeline import STAGE_NAMES
from rpf.pipeline.events import FrameDone, FrameStarted, RunFinished, RunStarted, StageDone

CONFIG = PipelineConfig().replace(
    execution={"n_workers": 1, "threads_per_worker": 1, "processes": False, "dashboard_address": None},
    catalogs={"offline": True},
)
"""One worker thread: frames run one after the other, so later frames are still queued when one finishes."""


@pytest.fixture(scope="module")
def cluster():
    shared = SharedCluster(CONFIG.execution)
    assert shared.wait(120).state == "ready", shared.status.message
    yield shared
    shared.close()


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    return write_demo_night(tmp_path_factory.mktemp("night"), n_frames=3, size=256)


def _session(tmp_path, cluster, night=None):
    session = Session(options=ServeOptions(config=CONFIG, data_dir=tmp_path / "data"), cluster=cluster)
    if night is not None:
        session.inputs.use_demo(night)
    return session


def _drive(session, *, timeout=180.0, on_events=None):
    """Poll as the page's periodic callback does; return every event applied, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while session.run.running and time.monotonic() < deadline:
        events = session.run.poll()
        seen.extend(events)
        if events and on_events is not None:
            on_events(events)
        time.sleep(0.05)
    assert not session.run.running, "the run did not finish in time"
    return seen


def test_run_streams_rows_in_event_order(tmp_path, cluster, night):
    session = _session(tmp_path, cluster, night)
    assert session.start_run(), session.run.message
    assert list(session.run.frames["status"]) == ["queued"] * 3
    snapshots = []

    def snapshot(events):
        if any(isinstance(e, FrameDone) for e in events):
            snapshots.append(list(session.run.frames["status"]))

    events = _drive(session, on_events=snapshot)
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    for index in range(3):
        mine = [e for e in events if getattr(e, "index", None) == index]
        assert isinstance(mine[0], FrameStarted) and isinstance(mine[-1], FrameDone)
        stages = [e.stage for e in mine if isinstance(e, StageDone)]
        assert stages[-1] == "products" and set(stages) <= set(STAGE_NAMES)
    # the first frame's results were in the table while later frames had not finished
    assert snapshots[0].count("done") == 1
    assert {"queued", "running"} & set(snapshots[0])
    frames = session.run.frames
    assert list(frames["status"]) == ["done"] * 3 and session.run.state == "finished"
    assert list(frames["frame"]) == [Path(p).name for p in night["science"]]
    assert (frames["progress"] == len(STAGE_NAMES)).all()
    for index, row in frames.iterrows():
        data = session.run.frame(index)
        metadata = json.loads(Path(data.products["metadata"]).read_text())
        assert row["zero_point"] == pytest.approx(metadata["zero_point"])
        assert row["sources"] == len(pd.read_csv(data.products["phot"]))
    assert session.selection.frame == 2 and session.shown is session.run.frame(2)
    summary = session.run.summary
    assert summary.n_ok == 3 and Path(summary.summary_csv).is_file()


def test_cancel_keeps_finished_frames_and_cancels_the_rest(tmp_path, cluster, night):
    session = _session(tmp_path, cluster, night)
    assert session.start_run()
    _drive(session, timeout=60, on_events=lambda events: session.run.cancel())
    assert session.run.state == "cancelled" and session.run.summary.cancelled
    statuses = list(session.run.frames["status"])
    assert "cancelled" in statuses and "queued" not in statuses and "running" not in statuses


def test_failing_frame_gets_its_message_and_the_others_go_on(tmp_path, cluster, night):
    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"SIMPLE  =                    T" + b" " * 50 + b"this is not a FITS header" * 10)
    session = _session(tmp_path, cluster, night)
    session.inputs.science = [night["science"][0], str(bad)]
    assert session.start_run()
    _drive(session)
    frames = session.run.frames
    assert list(frames["status"]) == ["done", "failed"]
    assert "broken.fits" in frames.loc[1, "message"] and session.run.state == "finished"
    assert session.run.frame(1) is None and session.run.frame(0) is not None


def test_bad_settings_and_no_frames_are_messages_not_errors(tmp_path, cluster, night):
    session = _session(tmp_path, cluster)
    assert not session.start_run() and "science frames" in session.run.message
    session.inputs.use_demo(night)
    assert session.run.message == ""  # the frames came: the note went
    session.settings.sections["aperture"].annulus_fwhm = [3.0]
    assert not session.start_run()
    assert session.run.message.startswith("fix the settings first: aperture.annulus_fwhm")
    assert session.run.state == "idle"


def test_two_sessions_run_at_once_on_the_shared_cluster(tmp_path, cluster, night):
    first, second = _session(tmp_path, cluster, night), _session(tmp_path, cluster)
    second.inputs.science = [night["science"][1]]
    assert first.start_run() and second.start_run()
    assert first.folder != second.folder
    while first.run.running or second.run.running:
        first.run.poll()
        second.run.poll()
        time.sleep(0.05)
    assert list(first.run.frames["status"]) == ["done"] * 3 and list(second.run.frames["status"]) == ["done"]
    assert Path(first.run.out_dir).parent != Path(second.run.out_dir).parent
    assert second.run.frame(0).products["phot"].startswith(second.folder)


def test_unreachable_scheduler_is_a_message(tmp_path):
    shared = SharedCluster(CONFIG.execution, scheduler="tcp://127.0.0.1:9", timeout=2)
    status = shared.wait(60)
    assert status.state == "failed" and "127.0.0.1:9" in status.message and shared.client is None
    session = _session(tmp_path, shared)
    session.inputs.science = ["a.fits"]
    assert not session.start_run() and session.run.message == status.message


def test_closing_the_session_cancels_its_run_and_deletes_its_files(tmp_path, cluster, night):
    session = _session(tmp_path, cluster, night)
    assert session.start_run()
    handle = session.run._handle
    folder = Path(session.folder)
    assert folder.is_dir()
    session.close()
    finished = handle.wait(60)
    assert finished is not None and finished.cancelled
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists()


def test_models_import_no_ui_package():
    import subprocess

    code = (
        "import sys, app.models.session, app.models.settings, app.models.pointing, app.cluster\n"
        "print(','.join(sorted(n for n in ('panel', 'bokeh', 'holoviews') if n in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""



def test_rerun_of_chosen_frames_computes_only_what_changed_and_compares(tmp_path, cluster, night):
    from rpf.pipeline import STAGE_SECTIONS

    session = _session(tmp_path, cluster, night)
    assert not session.rerun() and "run the frames once first" in session.run.message
    assert session.start_run()
    _drive(session)
    before = {i: session.run.frame(i) for i in range(3)}
    first_folder = session.run.out_dir
    old_sigma = session.settings.sections["zeropoint"].clip_sigma
    session.settings.sections["zeropoint"].clip_sigma = old_sigma - 0.5
    session.selection.pick_frames([2, 0])
    assert session.rerun(), session.run.message
    assert session.selection.frames == []  # a new run: nothing chosen in it yet
    events = _drive(session)
    frames = session.run.frames
    assert list(frames["frame"]) == [Path(night["science"][i]).name for i in (0, 2)]
    assert list(frames["status"]) == ["done", "done"] and session.run.out_dir != first_folder
    first_reader = next(i for i, name in enumerate(STAGE_NAMES) if "zeropoint" in STAGE_SECTIONS[name])
    for index in (0, 1):
        mine = [e for e in events if isinstance(e, StageDone) and e.index == index]
        assert [e.stage for e in mine if e.reused] == list(STAGE_NAMES[:first_reader])
        assert [e.stage for e in mine if not e.reused] == list(STAGE_NAMES[first_reader:])
    assert list(frames["reused"]) == [first_reader, first_reader]
    assert any("reused" in line for line in session.run.log)
    comparison = session.run.comparison
    assert comparison is not None and len(comparison.frames) == 2
    assert comparison.parameters["zeropoint.clip_sigma"] == (old_sigma, old_sigma - 0.5)
    assert comparison.summary["n_matched"] > 0
    for row in comparison.frames:
        old = before[0 if row["frame"] == frames.loc[0, "frame"] else 2]
        assert row["zero_point_a"] == pytest.approx(old.result.metadata["zero_point"])
    # the run before is left as it was: it is the other side of the comparison
    assert all(Path(data.products["phot"]).is_file() for data in before.values())
