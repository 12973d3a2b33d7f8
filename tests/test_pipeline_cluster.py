"""A caller-owned cluster shared by runs, and events consumed from asyncio without blocking the loop."""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import pytest
from astropy.io import fits
from dask_toy_stages import TOY

import rpf.pipeline.runner as runner_module
from rpf.config import ExecutionConfig, PipelineConfig
from rpf.errors import ConfigError
from rpf.pipeline import RunRequest, start_cluster, start_run
from rpf.pipeline.events import FrameDone, RunFinished, RunStarted, StageDone

QUIET = {"output": {"png": False, "zip": False}}


def _toy_frames(folder, n, prefix="toy"):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{prefix}{i:02d}.fits"
        fits.writeto(path, np.full((16, 16), float(i), np.float32))
        paths.append(path)
    return paths


def _request(folder, n, prefix="toy"):
    return RunRequest(science=_toy_frames(folder / "raw", n, prefix), out_dir=folder / "out",
                      config=PipelineConfig().replace(**QUIET))


def test_runs_share_the_callers_cluster(dask_cluster, tmp_path, monkeypatch):
    """Two runs at once on one caller-owned cluster: neither starts a cluster of its own."""

    def no_new_cluster(*args, **kwargs):
        raise AssertionError("a run started a cluster although it was given a client")

    monkeypatch.setattr(runner_module, "open_client", no_new_cluster)
    monkeypatch.setenv("RPF_TOY_SLEEP", "0.05")
    handles = [start_run(_request(tmp_path / name, 3, name), client=dask_cluster.client, stages=TOY)
               for name in ("a", "b")]
    for handle in handles:
        finished = handle.wait(timeout=120)
        assert finished is not None and finished.ok and finished.n_frames == 3
    for handle, name in zip(handles, ("a", "b"), strict=True):
        events = handle.poll()
        started = events[0]
        assert isinstance(started, RunStarted) and started.scheduler == dask_cluster.info.scheduler
        assert started.dashboard == dask_cluster.info.dashboard and ":8787/" not in started.dashboard
        done = [e for e in events if isinstance(e, FrameDone)]
        assert sorted(e.path for e in done) == sorted(str(p) for p in (tmp_path / name / "raw").glob("*.fits"))
    assert len(dask_cluster.client.scheduler_info()["workers"]) == 2  # the cluster is still there


def test_aevents_stream_without_blocking_the_event_loop(dask_cluster, tmp_path, monkeypatch):
    """While the run goes on, a ticker on the same loop keeps ticking every 20 ms: nothing waits on the loop."""
    monkeypatch.setenv("RPF_TOY_SLEEP", "0.4")
    request = _request(tmp_path, 4)

    async def follow():
        handle = start_run(request, client=dask_cluster.client, stages=TOY)
        gaps, stop = [], asyncio.Event()

        async def ticker():
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.02)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        events = [event async for event in handle.aevents()]
        stop.set()
        await tick
        return events, gaps, handle

    events, gaps, handle = asyncio.run(follow())
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished) and events[-1].ok
    assert handle.done and handle.poll() == []
    for index in range(4):
        kinds = [e.kind for e in events if getattr(e, "index", None) == index]
        assert kinds[0] == "frame_started" and kinds[-1] == "frame_done"
        assert [e.stage for e in events if isinstance(e, StageDone) and e.index == index] == \
            ["load", "slow", "astrometry", "products"]
    assert len(gaps) > 40  # the run lasted more than ~1 s of ticks
    assert max(gaps) < 0.5, max(gaps)


def test_aevents_raise_what_stopped_the_run(tmp_path):
    request = RunRequest(science=[tmp_path / "a.fits"], out_dir=tmp_path / "out",
                         config=PipelineConfig().replace(execution={"scheduler": "nonsense"}))

    async def follow():
        return [event async for event in start_run(request).aevents()]

    with pytest.raises(ConfigError, match="must look like tcp://host:8786"):
        asyncio.run(follow())


def test_start_cluster_connects_to_a_scheduler_and_leaves_it_running(dask_cluster):
    address = dask_cluster.info.scheduler
    with start_cluster(ExecutionConfig(), scheduler=address) as remote:
        assert remote.info.scheduler == address and not remote.info.local and remote.info.n_workers == 2
        assert remote.client.submit(sum, [1, 2]).result(timeout=30) == 3
    assert dask_cluster.client.submit(sum, [3, 4]).result(timeout=30) == 7


def test_a_cluster_without_dashboard_binds_no_fixed_port():
    """Dask's scheduler starts its HTTP server on port 8787 even without a dashboard unless told otherwise."""
    with start_cluster(ExecutionConfig(n_workers=1, processes=False, dashboard_address=None)) as cluster:
        port = cluster.client.scheduler_info()["services"].get("dashboard")
        assert cluster.info.dashboard is None and port not in (None, 8787)


def test_a_local_cluster_leaves_this_process_environment_alone(monkeypatch):
    """Dask's nannies write OMP_NUM_THREADS=1 and PYTHONHASHSEED into the starting process: undone."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    before = dict(os.environ)
    with start_cluster(ExecutionConfig(n_workers=1, processes=True, dashboard_address=None)) as cluster:
        assert dict(os.environ) == before
        workers = cluster.client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("PYTHONHASHSEED")))
        assert list(workers.values()) == [("1", "6640")]  # the workers did get the nanny's settings
    assert dict(os.environ) == before
