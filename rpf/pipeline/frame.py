"""One frame, start to finish: run the steps, time them, write the products.

:func:`run_stage` runs one step and records its time (a failure is recorded,
not raised); :func:`frame_steps` runs a frame's steps one after another and
yields after each, so an eager run reports every step as it ends;
:func:`finish_frame` is the ``products`` step.  :mod:`rpf.pipeline.graph`
chains the same functions as ``dask.delayed`` tasks, so the eager and the
distributed paths run exactly the same code.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from rpf.errors import RPFError
from rpf.io import capture_warnings
from rpf.pipeline.checkpoint import CHECKPOINTS, frame_state_dir, save_checkpoint
from rpf.pipeline.context import RunContext
from rpf.pipeline.fields import REFERENCE_BEFORE
from rpf.pipeline.reference import ReferenceFetch, attach_reference
from rpf.pipeline.stages import STAGES, stage_parameters
from rpf.pipeline.state import FrameResult, FrameState

__all__ = ["finish_frame", "frame_steps", "process_frame", "run_stage"]

log = logging.getLogger(__name__)

StageFunction = Callable[[FrameState, RunContext], FrameState]
Stages = Sequence[tuple[str, StageFunction]]
Emit = Callable[[str, dict], None]


def run_stage(name: str, function: StageFunction, state: FrameState, ctx: RunContext) -> FrameState:
    """Run one step, recording its time; a failure is recorded, not raised.

    A frame that failed in an earlier step passes through untouched, so a
    bad frame ends with ``status: "failed"`` and its message while the other
    frames of the run go on.

    Parameters
    ----------
    name : str
        Step name (used in timings, the log and events).
    function : callable
        The step, ``(state, ctx) -> state``.
    state : FrameState
        The frame so far.
    ctx : RunContext
        The run's configuration, masters and output folder.

    Returns
    -------
    FrameState
        The new state, with ``error`` set if the step failed.
    """
    if state.error is not None:
        return state
    start = time.perf_counter()
    with capture_warnings() as caught:
        try:
            new = function(state, ctx)
        except RPFError as exc:
            message = _naming(state.path, str(exc), name)
            new = state.evolve(error=message, failed_stage=name).note(f"ERROR {message}")
        except Exception as exc:  # noqa: BLE001 - a frame boundary: one bad frame must not stop the run
            detail = traceback.format_exc(limit=3)
            message = _naming(state.path, f"unexpected {type(exc).__name__}: {exc}", name)
            new = state.evolve(error=message, failed_stage=name).note(f"ERROR {message}\n{detail}")
    new = _noted_warnings(new, name, caught)
    elapsed = round(time.perf_counter() - start, 4)
    outcome = "FAILED" if new.error is not None else "done"
    new = new.note(f"stage {name}: {outcome} in {elapsed:.3f} s; parameters {stage_parameters(name, ctx.config)}")
    new = new.evolve(timings={**new.timings, name: elapsed})
    if ctx.checkpoints and new.error is None and name in CHECKPOINTS:
        new = _checkpoint(new, name, ctx)
    return new


_saver: ThreadPoolExecutor | None = None
_pending: dict[tuple[str, str], list[Future]] = {}
_pending_lock = threading.Lock()


def _checkpoint(state: FrameState, stage: str, ctx: RunContext) -> FrameState:
    """Save the state after a checkpoint step on a background thread (the frame's next steps go on meanwhile).

    Writing and flushing some 3.5 frames of arrays takes a few tenths of a
    second at 2048²; the frame's ``products`` step waits for its saves
    (:func:`wait_for_checkpoints`), so that a run never ends before them.
    A failure to save is logged, never fatal: a later run recomputes.
    """
    global _saver
    digest = ctx.provenance.get(state.path, {}).get(stage)
    if digest is None:
        return state
    directory = frame_state_dir(ctx.out_dir, ctx.stem(state.path))
    with _pending_lock:
        if _saver is None:  # one thread per process: a frame's checkpoints are written in order
            _saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rpf-checkpoint")
        future = _saver.submit(_save, state, directory, stage, digest)
        _pending.setdefault((str(ctx.out_dir), state.path), []).append(future)
    return state


def _save(state: FrameState, directory: Path, stage: str, digest: str) -> None:
    try:
        save_checkpoint(state, directory=directory, stage=stage, digest=digest)
    except OSError as exc:
        log.warning("%s: checkpoint after %s not saved: %s", state.path, stage, exc)


def wait_for_checkpoints(ctx: RunContext, path: str) -> None:
    """Wait until the checkpoints this process is saving for a frame are on disk."""
    with _pending_lock:
        futures = _pending.pop((str(ctx.out_dir), path), [])
    for future in futures:
        future.result()


def _noted_warnings(state: FrameState, stage: str, caught: list[str]) -> FrameState:
    """Record the Python warnings a step raised: the frame's warnings and log (and stderr), naming the file."""
    for text in caught:
        log.warning("%s: %s: %s", state.path, stage, text)
        state = state.warn(f"{stage}: {text}")
    return state


def _naming(path: str, message: str, stage: str) -> str:
    """Return an error message that names the file (and the step when it does not)."""
    return message if Path(path).name in message else f"{path}: {stage} failed: {message}"


def finish_frame(state: FrameState, ctx: RunContext) -> FrameResult:
    """Write the frame's products (also for a failed frame) and summarise it: the ``products`` step."""
    from rpf.pipeline.products import write_frame_products

    try:
        return write_frame_products(state, ctx)
    finally:
        wait_for_checkpoints(ctx, state.path)


def frame_steps(
    path: str | Path,
    ctx: RunContext,
    *,
    stages: Stages = STAGES,
    reference: Callable[[], ReferenceFetch] | None = None,
    start: FrameState | None = None,
) -> Generator[tuple[str, FrameState], None, FrameResult]:
    """Run a frame's steps in this process, yielding ``(step, state)`` as each one ends.

    Parameters
    ----------
    path : str or Path
        The raw science frame.
    ctx : RunContext
        Configuration, master calibration frames and output folder.
    stages : sequence of (name, function)
        The ordered steps (default: the pipeline's).
    reference : callable, optional
        Returns the reference catalogue of the frame's field group; called
        (once) just before the ``astrometry`` step, as the Dask graph attaches it.
    start : FrameState, optional
        A state resumed from a checkpoint (:func:`rpf.pipeline.checkpoint.load_checkpoint`):
        the steps it names in ``reused`` are not run.

    Returns
    -------
    FrameResult
        The generator's return value, after the ``products`` step.
    """
    state = FrameState(path=str(path)) if start is None else start
    for name, function in stages:
        if name in state.reused:
            continue
        if reference is not None and name == REFERENCE_BEFORE and state.error is None:
            state = attach_reference(state, reference())
        state = run_stage(name, function, state, ctx)
        yield name, state
    return finish_frame(state, ctx)


def process_frame(path: str | Path, ctx: RunContext | None = None, *, emit: Emit | None = None) -> FrameResult:
    """Process one frame eagerly and write its products.

    The frame's reference catalogue is fetched as a run of one frame would
    (see :func:`rpf.pipeline.run_eager` for many frames).

    Parameters
    ----------
    path : str or Path
        The raw science frame.
    ctx : RunContext, optional
        Configuration, master calibration frames and output folder
        (defaults: :class:`~rpf.config.PipelineConfig` defaults, no masters,
        ``./rpf_out``).
    emit : callable, optional
        Called as ``emit(step, info)`` after each step (progress).

    Returns
    -------
    FrameResult
        Status, contract metadata, the photometry table and product paths.

    Examples
    --------
    >>> from rpf.pipeline import RunContext, process_frame  # doctest: +SKIP
    >>> result = process_frame("m13.fits", RunContext(out_dir=Path("out")))  # doctest: +SKIP
    >>> result.metadata["fwhm_px"]  # doctest: +SKIP
    """
    from rpf.pipeline.fields import fetch_group_reference, plan_groups

    ctx = ctx or RunContext()
    group = plan_groups([str(path)], ctx.config).get(str(path))
    fetch = None if group is None else (lambda: fetch_group_reference(group, ctx.config))
    steps = frame_steps(path, ctx, reference=fetch)
    while True:
        try:
            name, state = next(steps)
        except StopIteration as done:
            result = done.value
            break
        if emit is not None:
            emit(name, {"path": state.path, "failed": state.failed_stage == name, "seconds": state.timings.get(name)})
    if emit is not None:
        emit("products", {"path": result.path, "failed": False, "seconds": result.metadata["timings"].get("products")})
    return result
