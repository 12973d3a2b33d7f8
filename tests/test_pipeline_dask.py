"""Many frames on Dask: graph, local and remote clusters, events, resilience, cancel."""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pytest
from astropy.io import fits
from dask_toy_stages import TIMED, TOY
from distributed import Client

from rpf.config import ExecutionConfig, PipelineConfig
from rpf.errors import ConfigError
from rpf.pipeline import RunRequest, run_eager
from rpf.pipeline.cluster import cluster_info, open_client, resolve_scheduler
from rpf.pipeline.events import FrameDone, FrameFailed, RunFinished, RunStarted, StageDone
from rpf.pipeline.fields import frame_field, group_fields
from rpf.pipeline.graph import build_run_graph
from rpf.pipeline.runner import _Run, run, start_run

DASK = str(Path(sys.executable).parent / "dask")
DEPLOY = Path(__file__).parents[1] / "deploy"


QUIET = {"output": {"png": False, "zip": False}}


def _toy_frames(folder: Path, n: int, *, corrupt: bool = False) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"toy{i:02d}.fits"
        fits.writeto(path, np.full((32, 32), float(i), np.float32), overwrite=True)
        paths.append(path)
    if corrupt:
        bad = folder / "corrupt.fits"
        bad.write_bytes(b"SIMPLE  = this is not a FITS file")
        paths.insert(1, bad)
    return paths


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _check_stream(events, n_frames):
    """Every frame: started before its single terminal event; run events first and last."""
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert not any(isinstance(e, RunStarted | RunFinished) for e in events[1:-1])
    seen: dict[int, list[str]] = {}
    for e in events[1:-1]:
        seen.setdefault(e.index, []).append(e.kind)
        json.dumps(e.to_dict())
    json.dumps(events[0].to_dict()), json.dumps(events[-1].to_dict())
    for kinds in seen.values():
        assert kinds[0] == "frame_started"
        assert kinds.count("frame_started") == 1
        assert sum(k in ("frame_done", "frame_failed") for k in kinds) == 1
        assert kinds[-1] in ("frame_done", "frame_failed")
    assert len(seen) == n_frames


# --- remote cluster: a real scheduler and two worker processes ----------------------------


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """`dask scheduler` + two `dask worker --nthreads 1` on 127.0.0.1 (random ports), configured by
    ``deploy/dask.yaml`` as a deployed cluster is (one frame per worker thread)."""
    folder = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "RPF_TOY_SLEEP": "0.8", "PYTHONPATH": path, "DASK_CONFIG": str(DEPLOY)}
    log = open(folder / "cluster.log", "w")  # noqa: SIM115 - closed at teardown
    cmd = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    procs = [subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)]
    try:
        for i in range(2):
            cmd = [DASK, "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
            cmd += ["--name", f"w{i}", "--local-directory", str(folder / f"w{i}")]
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env))
        client = Client(address, timeout=60)
        client.wait_for_workers(2, timeout=90)
        yield client
        client.close()
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def test_remote_run_streams_and_isolates_a_corrupt_frame(remote, tmp_path):
    paths = _toy_frames(tmp_path / "raw", 4, corrupt=True)
    config = PipelineConfig().replace(execution={"scheduler": remote.scheduler.address}, **QUIET)
    events = list(run(RunRequest(science=paths, out_dir=tmp_path / "out", config=config), stages=TOY))
    _check_stream(events, len(paths))
    assert events[0].scheduler == remote.scheduler.address
    done = {e.path: e for e in events if isinstance(e, FrameDone)}
    failed = [e for e in events if isinstance(e, FrameFailed)]
    assert len(done) == 4 and len(failed) == 1, [e.message for e in failed]
    assert "corrupt.fits" in failed[0].message and failed[0].stage == "load"
    stages = [e.stage for e in events if isinstance(e, StageDone) and e.path == str(paths[0])]
    assert stages == ["load", "slow", "astrometry", "products"]
    for i, path in enumerate(p for p in paths if p.name != "corrupt.fits"):
        assert done[str(path)].metadata["limiting_mag"] == pytest.approx(float(i))
    # results streamed: the first frame arrived well before the run ended
    first_done = min(e.time for e in done.values())
    assert events[-1].time - first_done > 0.5
    finished = events[-1]
    assert (finished.n_ok, finished.n_failed) == (4, 1)
    rows = list(csv.DictReader(Path(finished.summary_csv).read_text().splitlines()))
    assert [r["frame"] for r in rows] == [p.name for p in paths]
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "ok", "ok"]
    assert "corrupt.fits" in rows[1]["error"]
    # the remote cluster is left running
    assert len(remote.scheduler_info()["workers"]) == 2


def test_killed_worker_still_yields_every_frame(remote, tmp_path):
    remote.wait_for_workers(2, timeout=60)
    paths = _toy_frames(tmp_path / "raw", 8)
    request = RunRequest(science=paths, out_dir=tmp_path / "out", config=PipelineConfig().replace(**QUIET))
    handle = start_run(request, client=remote, stages=TOY)
    for event in handle.events(timeout=60):
        if isinstance(event, StageDone) and event.stage == "load":
            break
    pids = remote.run(os.getpid)
    busy = remote.processing()
    victim = next(w for w, keys in busy.items() if keys) if any(busy.values()) else next(iter(pids))
    os.kill(pids[victim], signal.SIGKILL)
    finished = handle.wait(timeout=120)
    assert finished is not None and handle.done
    assert (finished.n_ok, finished.n_failed, finished.n_cancelled) == (8, 0, 0)
    assert all((tmp_path / "out" / f"{p.stem}_metadata.json").exists() for p in paths)


def test_cancel_stops_the_tasks(remote, tmp_path):
    """After a cancel, no frame that was not already running at that moment runs.

    With the deployment's ``worker-saturation: 1.0`` each worker thread holds one frame, and a
    frame's next task is only scheduled when its previous one ends, so at most the frames in
    flight at the cancel (one per worker thread, two here) can still finish; every other frame
    is reported cancelled, no task of the run is left on the scheduler, and the run ends at once.
    (The test once saw three frames finish after the cancel, on a scheduler with Dask's default
    saturation of 1.1, which lets a one-thread worker hold two frames.)
    """
    remote.wait_for_workers(2, timeout=60)
    threads = sum(w["nthreads"] for w in remote.scheduler_info()["workers"].values())
    paths = _toy_frames(tmp_path / "raw", 12)
    request = RunRequest(science=paths, out_dir=tmp_path / "out", config=PipelineConfig().replace(**QUIET))
    handle = start_run(request, client=remote, stages=TOY)
    for event in handle.events(timeout=60):
        if isinstance(event, FrameDone):
            break
    t0 = time.perf_counter()
    handle.cancel()
    at_cancel = set((tmp_path / "out").glob("*_metadata.json"))  # frames may finish together: count them here
    finished = handle.wait(timeout=30)
    assert time.perf_counter() - t0 < 10
    assert finished.cancelled and finished.n_ok + finished.n_failed + finished.n_cancelled == 12
    time.sleep(3.0)  # long enough for the cancelled frames to have finished, had they run on
    written = set((tmp_path / "out").glob("*_metadata.json"))
    assert len(written - at_cancel) <= threads
    assert finished.n_cancelled >= 12 - len(written)
    leftover = remote.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks])
    assert not [k for k in leftover if k.startswith(("slow-", "load-", "products-"))]
    statuses = [r["status"] for r in csv.DictReader(Path(finished.summary_csv).read_text().splitlines())]
    assert statuses.count("cancelled") == finished.n_cancelled


# --- graph structure ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from rpf.simulate import write_demo_dataset

    folder = tmp_path_factory.mktemp("demo")
    paths = write_demo_dataset(folder / "raw", n_frames=3, seed=3, shape=(512, 512))
    config = PipelineConfig().replace(
        catalogs={"catalog_file": str(paths["catalog"]), "reference": "file", "offline": True}, **QUIET
    )
    return folder, paths, config


def test_graph_shares_context_and_one_reference_per_field(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("RPF_TOY_SLEEP", "0")
    _, paths, config = demo
    science = [str(p) for p in paths["science"]]
    far = tmp_path / "far.fits"
    with fits.open(science[0]) as hdul:
        for hdu in hdul:
            for key in ("CRVAL1", "RA", "OBJCTRA"):
                if key in hdu.header and isinstance(hdu.header[key], float):
                    hdu.header[key] = (hdu.header[key] + 30.0) % 360
        hdul.writeto(far)
    fields = {p: frame_field(p, config) for p in [*science, str(far)]}
    assert all(f is not None for f in fields.values())
    groups = group_fields(fields)
    assert [len(g.paths) for g in groups] == [3, 1]

    graphs = build_run_graph([*science, str(far)], config=config, out_dir=tmp_path / "out", stages=TOY)
    keys = {str(k) for g in graphs for k in g.dask}
    assert sum(k.startswith("context-") for k in keys) == 1
    assert sum(k.startswith("catalogue-") for k in keys) == 2
    assert sum(k.startswith("slow-") for k in keys) == 4
    results = dask.compute(*graphs, scheduler="sync")
    assert all(r.ok for r in results)
    assert all(r.metadata["reference_catalog"] is not None for r in results)
    log = (tmp_path / "out" / f"{Path(science[1]).stem}.log").read_text()
    assert "shared by 3 frame(s)" in log


def test_scheduler_address_resolution(monkeypatch):
    monkeypatch.delenv("RPF_SCHEDULER", raising=False)
    assert resolve_scheduler(ExecutionConfig()) is None
    monkeypatch.setenv("RPF_SCHEDULER", "tcp://10.0.0.1:8786")
    assert resolve_scheduler(ExecutionConfig()) == "tcp://10.0.0.1:8786"
    assert resolve_scheduler(ExecutionConfig(scheduler="tcp://a:1")) == "tcp://a:1"
    assert resolve_scheduler(ExecutionConfig(scheduler="tcp://a:1"), "tcp://b:2") == "tcp://b:2"
    with pytest.raises(ConfigError):
        resolve_scheduler(ExecutionConfig(scheduler="nonsense"))


def test_unreachable_scheduler_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot connect"):
        with open_client(ExecutionConfig(), scheduler=f"tcp://127.0.0.1:{_free_port()}", timeout=2):
            pass


# --- local cluster, the real pipeline: Dask equals eager ------------------------------------


def _comparable(meta):
    skip = {"timings", "products", "parameters", "path", "product_stamps"}  # stamps: when each file was written
    out = {k: v for k, v in meta.items() if k not in skip}
    out["services"] = [{k: v for k, v in s.items() if k != "elapsed_s"} for s in out.get("services", [])]
    return out


def test_local_cluster_equals_eager_and_isolates_a_corrupt_frame(demo, tmp_path, dask_cluster):
    folder, paths, config = demo
    corrupt = tmp_path / "corrupt.fits"
    shutil.copy(paths["science"][0], corrupt)
    corrupt.write_bytes(corrupt.read_bytes()[:5000])
    science = [*paths["science"][:2], corrupt]
    calib = {k: paths[k] for k in ("bias", "dark", "flat")}

    client = dask_cluster.client
    info = cluster_info(client)
    assert info.local and info.n_workers == 2 and info.dashboard.startswith("http")
    environ = client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("MALLOC_TRIM_THRESHOLD_")))
    assert set(environ.values()) == {("1", None)}  # one BLAS thread; glibc's adaptive malloc trimming
    profiling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    assert set(profiling.values()) == {False}  # no stack sampling thread in the way of the steps
    lazy_events = list(run(RunRequest(science=science, out_dir=tmp_path / "dask", config=config, **calib),
                           client=client))
    eager_events = list(run_eager(RunRequest(science=science, out_dir=tmp_path / "eager", config=config, **calib)))
    for events in (lazy_events, eager_events):
        _check_stream(events, 3)
        failed = [e for e in events if isinstance(e, FrameFailed)]
        assert len(failed) == 1 and "corrupt.fits" in failed[0].message and failed[0].stage == "load"
    # the same steps, in the same order, for every frame
    def steps(events):
        return {i: [e.stage for e in events if isinstance(e, StageDone) and e.index == i] for i in range(3)}
    assert steps(lazy_events) == steps(eager_events)
    assert steps(eager_events)[0][-1] == "products" and steps(eager_events)[1][0] == "load"
    done = {e.path: e for e in lazy_events if isinstance(e, FrameDone)}
    eager_done = {e.path: e for e in eager_events if isinstance(e, FrameDone)}
    assert set(done) == set(eager_done) == {str(p) for p in paths["science"][:2]}
    for path, event in done.items():
        lazy, eager = event.result, eager_done[path].result
        assert len(pickle.dumps(lazy)) < 512 * 512 * 4  # no image came back
        assert _comparable(lazy.metadata) == _comparable(eager.metadata)
        assert lazy.phot.colnames == eager.phot.colnames
        for name in eager.phot.colnames:
            a, b = np.asarray(eager.phot[name]), np.asarray(lazy.phot[name])
            if a.dtype.kind == "f":
                np.testing.assert_allclose(b, a, rtol=1e-9, equal_nan=True)
            else:
                assert np.array_equal(a, b)
        assert event.zero_point == eager.metadata["zero_point"] is not None
        stem = Path(path).stem
        assert (tmp_path / "dask" / f"{stem}.log").read_text().count("shared by 2 frame(s)") == 1
        assert (tmp_path / "eager" / f"{stem}.log").read_text().count("shared by 2 frame(s)") == 1
    lazy_rows = list(csv.DictReader(Path(lazy_events[-1].summary_csv).read_text().splitlines()))
    eager_rows = list(csv.DictReader(Path(eager_events[-1].summary_csv).read_text().splitlines()))
    assert [(r["frame"], r["status"], r["error"]) for r in lazy_rows] == \
        [(r["frame"], r["status"], r["error"]) for r in eager_rows]


def test_frames_run_depth_first_on_the_free_cores(tmp_path, monkeypatch):
    """One worker thread finishes a frame before it starts the next; each task, running alone, sees every core.

    (A night on as many worker threads as cores keeps one thread per task: ``tests/test_task_threads.py``.)
    """
    monkeypatch.setenv("RPF_TOY_SLEEP", "0.2")
    paths = _toy_frames(tmp_path / "raw", 5)
    config = PipelineConfig().replace(
        execution={"n_workers": 1, "threads_per_worker": 1, "processes": False, "dashboard_address": None}, **QUIET
    )
    with open_client(config.execution) as client:
        events = list(run(RunRequest(science=paths, out_dir=tmp_path / "out", config=config), client=client,
                          stages=TIMED))
    assert events[-1].n_ok == 5
    spans = []
    for path in paths:
        log = (tmp_path / "out" / f"{path.stem}.log").read_text()
        start = float(log.split("toy start ")[1].split(";")[0])
        end = float(log.split("toy end ")[1].split()[0])
        assert f"openmp threads {len(os.sched_getaffinity(0))}" in log
        spans.append((start, end))
    # depth first: each frame ends before the next one starts, in the order given
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)), spans


def test_automatic_worker_count_is_one_per_core_and_no_more_than_frames(tmp_path):
    cores = len(os.sched_getaffinity(0))
    assert ExecutionConfig().local_workers == cores and ExecutionConfig(n_workers=3).local_workers == 3

    def workers(n_frames, config=None):
        config = config or PipelineConfig()
        request = RunRequest(science=[tmp_path / f"{i}.fits" for i in range(n_frames)], out_dir=tmp_path, config=config)
        return _Run(request, client=None, stages=TOY)._execution()

    lone = workers(1)
    assert lone.n_workers == 1 and lone.processes is False  # a thread of this process: no worker process to start
    assert workers(cores + 3).n_workers == cores and workers(cores + 3).processes is True
    assert workers(1, PipelineConfig().replace(execution={"n_workers": 5})).n_workers == 5
