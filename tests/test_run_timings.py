"""RunFinished.timings: where a run's wall time went, on Dask and eagerly, and the CLI's line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from dask_toy_stages import toy_load, toy_slow

from rpf.config import PipelineConfig
from rpf.pipeline.eager import run_eager
from rpf.pipeline.events import RunFinished
from rpf.pipeline.request import RunRequest
from rpf.pipeline.runner import run
from rpf.pipeline.timings import describe_timings

PHASES = {"cluster", "submit", "masters", "frames", "finish", "close"}


def _write(path, value, exptime):
    fits.PrimaryHDU(np.full((16, 16), value, np.float32), header=fits.Header({"EXPTIME": exptime})).writeto(path)
    return path


@pytest.fixture
def job(tmp_path):
    calib = {
        "bias": [_write(tmp_path / f"b{i}.fits", 100.0 + i, 0.0) for i in range(3)],
        "flat": [_write(tmp_path / f"f{i}.fits", 1000.0 + i, 1.0) for i in range(3)],
    }
    frames = [_write(tmp_path / f"s{i}.fits", 500.0 + i, 10.0) for i in range(2)]
    config = PipelineConfig().replace(
        calibration={"cache_dir": str(tmp_path / "cache")},
        execution={"n_workers": 1, "processes": False, "dashboard_address": None},
        output={"png": False, "zip": False},
    )
    return frames, calib, config


def _check(finished: RunFinished, n_frames: int, phases: set[str], cache: str) -> None:
    timings = finished.timings
    assert phases <= set(timings) and timings["masters_cache"] == cache
    assert [f["index"] for f in timings["per_frame"]] == list(range(n_frames))
    for frame in timings["per_frame"]:
        assert {"wait", "stages", "products", "return"} <= set(frame)
        assert frame["stages"] >= 0.2  # the toy stage sleeps 0.2 s
        assert frame["wait"] >= 0 and frame["products"] > 0
    assert timings["total"] == pytest.approx(finished.seconds, abs=0.01)
    assert sum(timings[p] for p in phases if p != "masters") <= timings["total"] + 0.01
    json.dumps(finished.to_dict())
    assert "total" in describe_timings(timings)


def test_dask_and_eager_runs_account_for_their_time(job, tmp_path, monkeypatch):
    monkeypatch.setenv("RPF_TOY_SLEEP", "0.2")
    frames, calib, config = job
    stages = (("load", toy_load), ("slow", toy_slow))
    events = list(
        run(
            RunRequest(science=frames, config=config, out_dir=tmp_path / "dask", lightcurves=False, **calib),
            stages=stages,
        )
    )
    _check(events[-1], 2, PHASES, "built")
    again = list(
        run(
            RunRequest(science=frames, config=config, out_dir=tmp_path / "again", lightcurves=False, **calib),
            stages=stages,
        )
    )
    _check(again[-1], 2, PHASES, "loaded")  # the masters come from the cache the first run filled
    eager = list(run_eager(RunRequest(science=frames, config=config, out_dir=tmp_path / "eager", **calib)))
    assert eager[-1].timings["masters_cache"] == "loaded"
    assert {"masters", "frames", "finish"} <= set(eager[-1].timings)
