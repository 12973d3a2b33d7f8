"""A sequence and its stack: every frame through the pipeline, the co-add, then the pipeline on the co-add.

:func:`stack_eager` runs in this process (the frames' pixels are kept in
memory until they are co-added) and yields the same events as
:func:`rpf.pipeline.run_eager`, the stack being one more frame
(``stack.fits``) of the run.  The stack gets every product of a frame
(``stack_phot.csv``, ``stack_metadata.json``, ``stack_targets.csv``, ...) and
appears in ``run_summary.csv``, ``targets.csv`` and the report.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from rpf.calibration import MasterFrames, build_masters
from rpf.errors import RPFError
from rpf.pipeline.context import RunContext
from rpf.pipeline.events import Event, FrameDone, FrameFailed, FrameStarted, RunStarted, StageDone
from rpf.pipeline.finish import failed_result, finish_run
from rpf.pipeline.frame import finish_frame, process_frame, run_stage
from rpf.pipeline.request import RunRequest
from rpf.pipeline.stages import STAGES
from rpf.pipeline.state import FrameResult, FrameState
from rpf.pipeline.stems import product_stems
from rpf.stacking import StackFrame, stack_frames

__all__ = ["STACK_NAME", "stack_eager", "stack_frame_of"]

STACK_NAME = "stack.fits"
"""File name of the co-added image in the output folder."""


def stack_frame_of(state: FrameState) -> StackFrame:
    """Return what :func:`rpf.stacking.stack_frames` needs of a processed frame."""
    meta = state.frame.meta
    return StackFrame(
        name=Path(state.path).name, data=state.frame.data, wcs=state.wcs.wcs, header=state.frame.header,
        exptime=meta.exptime, mjd_start=meta.mjd_start, mjd_mid=meta.mjd_mid, gain=meta.gain,
        read_noise=meta.read_noise, background=state.background.level, rms=state.background.rms,
        mask=state.frame.mask, zero_point=state.zero_point.zero_point if state.zero_point is not None else None,
        airmass=state.airmass.airmass if state.airmass is not None else None, fwhm_px=state.fwhm.fwhm_px,
    )


def _done(run_id: str, index: int, result: FrameResult) -> Event:
    if result.ok:
        return FrameDone(run_id=run_id, path=result.path, index=index, result=result)
    return FrameFailed(run_id=run_id, path=result.path, index=index, message=result.error or "failed",
                       stage=result.metadata.get("failed_stage"), metadata=result.metadata)


def stack_eager(request: RunRequest) -> Iterator[Event]:
    """Process a request's frames, co-add those with a WCS, process the co-add; yield the run's events.

    The frames are weighted, clipped and resampled as ``transients.stack_clip_sigma``
    and ``transients.stack_resample`` say (:func:`rpf.stacking.stack_frames`).
    The stack is already calibrated: it is processed without master frames.
    Fewer than two frames with an astrometric solution make the stack fail
    (a ``FrameFailed`` event naming why); the frames' products are kept.
    """
    from rpf.pipeline.transient_steps import transient_context

    request.validate()
    paths, config, out_dir = request.science, request.config, request.out_dir
    bias, dark, flat = request.bias, request.dark, request.flat
    out = Path(out_dir)
    run_id = uuid.uuid4().hex[:12]
    start = time.perf_counter()
    stack_path = out / STACK_NAME
    all_paths = [*(str(p) for p in paths), str(stack_path)]
    yield RunStarted(run_id=run_id, n_frames=len(all_paths), out_dir=str(out))
    masters = build_masters(bias=bias, dark=dark, flat=flat, config=config)
    extras = transient_context(config)
    ctx = RunContext(config=config, masters=masters, out_dir=out, stems=product_stems(list(paths))[0], **extras)
    results: dict[int, FrameResult] = {}
    frames: list[StackFrame] = []
    for index, path in enumerate(all_paths[:-1]):
        yield FrameStarted(run_id=run_id, path=path, index=index)
        state = FrameState(path=path)
        for name, function in STAGES:
            state = run_stage(name, function, state, ctx)
            yield StageDone(run_id=run_id, path=path, index=index, stage=name,
                            seconds=state.timings.get(name), failed=state.error is not None)
        results[index] = finish_frame(state, ctx)
        if state.error is None and state.wcs is not None and state.wcs.wcs is not None:
            frames.append(stack_frame_of(state))
        yield _done(run_id, index, results[index])
    index = len(all_paths) - 1
    yield FrameStarted(run_id=run_id, path=str(stack_path), index=index)
    try:
        stack = stack_frames(frames, clip_sigma=config.transients.stack_clip_sigma,
                             resample=config.transients.stack_resample)
    except RPFError as exc:
        results[index] = failed_result(str(stack_path), f"{stack_path}: stack not made: {exc}")
    else:
        frames.clear()
        out.mkdir(parents=True, exist_ok=True)
        stack.write(stack_path)
        stack_ctx = RunContext(config=config, masters=MasterFrames(), out_dir=out, **extras)
        results[index] = process_frame(stack_path, stack_ctx)
    yield _done(run_id, index, results[index])
    yield finish_run(results, paths=all_paths, out_dir=out, run_id=run_id, seconds=time.perf_counter() - start,
                     transients=config.transients)
