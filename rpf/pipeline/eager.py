"""Many frames in this process, one after another, with the same events as on Dask.

For debugging (``rpf run --eager``) and for small jobs without a cluster.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from rpf.calibration import MasterFrames, build_masters
from rpf.config import PipelineConfig
from rpf.pipeline.context import RunContext
from rpf.pipeline.events import Event, FrameDone, FrameFailed, FrameStarted, RunStarted, StageDone
from rpf.pipeline.finish import finish_run
from rpf.pipeline.frame import process_frame
from rpf.pipeline.timings import RunClock

__all__ = ["run_eager"]


def _collect(events: list[Event], stage: str, info: dict, *, run_id: str, index: int) -> None:
    events.append(
        StageDone(
            run_id=run_id, path=info["path"], index=index, stage=stage, seconds=info["seconds"], failed=info["failed"]
        )
    )


def run_eager(
    paths: Sequence[str | Path],
    *,
    config: PipelineConfig | None = None,
    out_dir: str | Path,
    bias: Sequence[str | Path] = (),
    dark: Sequence[str | Path] = (),
    flat: Sequence[str | Path] = (),
) -> Iterator[Event]:
    """Process frames one by one in this process, yielding the run's events.

    Parameters are those of :func:`rpf.pipeline.run` without the cluster.
    """
    config = config or PipelineConfig()
    run_id = uuid.uuid4().hex[:12]
    clock = RunClock()
    yield RunStarted(run_id=run_id, n_frames=len(paths), out_dir=str(out_dir))
    masters = MasterFrames()
    if bias or dark or flat:
        masters = build_masters(bias=bias, dark=dark, flat=flat, config=config)
        clock.masters(masters.info.get("seconds"), masters.info.get("cache"))
    from rpf.pipeline.transient_steps import transient_context

    ctx = RunContext(config=config, masters=masters, out_dir=Path(out_dir), **transient_context(config))
    results = {}
    clock.begin("frames")
    for index, path in enumerate(paths):
        yield FrameStarted(run_id=run_id, path=str(path), index=index)
        stages: list[Event] = []

        emit = partial(_collect, stages, run_id=run_id, index=index)
        start = time.perf_counter()
        result = process_frame(path, ctx, emit=emit)
        seconds = time.perf_counter() - start
        compute = sum((result.metadata.get("timings") or {}).values())
        clock.frame(index, wait=0.0, stages=compute, products=seconds - compute)
        yield from stages
        results[index] = result
        if result.ok:
            yield FrameDone(run_id=run_id, path=str(path), index=index, result=result)
        else:
            yield FrameFailed(
                run_id=run_id,
                path=str(path),
                index=index,
                message=result.error or "failed",
                stage=result.metadata.get("failed_stage"),
                metadata=result.metadata,
            )
    clock.end("frames")
    clock.begin("finish")
    finished = finish_run(
        results,
        paths=[str(p) for p in paths],
        out_dir=Path(out_dir),
        run_id=run_id,
        seconds=0.0,
        transients=config.transients,
    )
    clock.end("finish")
    yield replace(finished, seconds=round(clock.total(), 3), timings=clock.to_dict())
