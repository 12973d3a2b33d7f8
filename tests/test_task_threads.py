"""A lone frame's tasks get the cluster's spare cores; a night keeps one thread per task."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits
from dask_toy_stages import toy_load, toy_threads

from rpf.config import PipelineConfig
from rpf.pipeline.cluster import Capacity, cluster_capacity, open_client, task_threads
from rpf.pipeline.request import RunRequest
from rpf.pipeline.runner import run

STAGES = (("load", toy_load), ("threads", toy_threads))
CORES = len(os.sched_getaffinity(0))


def test_threads_are_the_free_cores_shared_by_the_tasks_running_at_once():
    two_cores = Capacity(slots=2, cores=2, host_cores=2)
    assert task_threads(two_cores, tasks=1) == 2  # a lone frame: both cores
    assert task_threads(two_cores, tasks=2) == task_threads(two_cores, tasks=16) == 1  # a night: one each
    hosts = Capacity(slots=16, cores=32, host_cores=8)  # 2 one-thread workers per core pair on 4 hosts
    assert task_threads(hosts, tasks=1) == 8  # never more than one host
    assert task_threads(hosts, tasks=4) == 8
    assert task_threads(hosts, tasks=8) == 4
    assert task_threads(hosts, tasks=100) == 2
    assert task_threads(Capacity(slots=2, cores=2, host_cores=2, busy=1), tasks=1) == 1  # another run holds a core
    assert task_threads(Capacity(slots=0, cores=0, host_cores=1), tasks=3) == 1  # no worker yet


def _frames(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"toy_{i}.fits"
        fits.PrimaryHDU(np.full((8, 8), float(i), np.float32), header=fits.Header({"EXPTIME": 1.0})).writeto(path)
        paths.append(path)
    return paths


def _openmp_threads_seen(out, paths):
    seen = []
    for path in paths:
        log = (out / f"{path.stem}.log").read_text()
        seen.append(int(log.split("openmp threads ")[1].split()[0]))
    return seen


@pytest.mark.timeout(300)
def test_lone_frame_gets_every_core_and_a_night_one_each(tmp_path):
    """Two one-thread worker processes (started with OMP_NUM_THREADS=1): the limit is seen inside the task."""
    config = PipelineConfig().replace(
        execution={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None},
        catalogs={"offline": True, "crossmatch": ()},
        output={"png": False, "zip": False},
    )
    with open_client(config.execution) as client:
        client.wait_for_workers(2)
        capacity = cluster_capacity(client)
        assert capacity.slots == 2 and capacity.cores == capacity.host_cores == CORES
        lone = _frames(tmp_path / "lone", 1)
        events = list(
            run(RunRequest(science=lone, config=config, out_dir=tmp_path / "out1"), client=client, stages=STAGES)
        )
        assert events[-1].n_ok == 1
        assert _openmp_threads_seen(tmp_path / "out1", lone) == [CORES]  # 2 on this 2-core machine
        night = _frames(tmp_path / "night", 2 * 2 + 1)
        events = list(
            run(RunRequest(science=night, config=config, out_dir=tmp_path / "out2"), client=client, stages=STAGES)
        )
        assert events[-1].n_ok == len(night)
        assert set(_openmp_threads_seen(tmp_path / "out2", night)) == {max(1, CORES // 2)}  # 1 here
        fixed = config.replace(execution={"task_threads": 1})
        events = list(
            run(RunRequest(science=lone, config=fixed, out_dir=tmp_path / "out3"), client=client, stages=STAGES)
        )
        assert events[-1].n_ok == 1 and _openmp_threads_seen(tmp_path / "out3", lone) == [1]
