"""One frame, start to finish: run the stages, time them, write the products.

:func:`process_frame` is the eager entry point (notebooks, tests, one frame
from the CLI).  :func:`run_stage` and :func:`finish_frame` are the task
functions that :mod:`rpf.pipeline.graph` chains as ``dask.delayed`` calls,
so the eager and the distributed paths run exactly the same code.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from rpf.errors import RPFError
from rpf.io import capture_warnings
from rpf.pipeline.context import RunContext
from rpf.pipeline.stages import STAGES, stage_parameters
from rpf.pipeline.state import FrameResult, FrameState

__all__ = ["finish_frame", "process_frame", "run_stage"]

log = logging.getLogger(__name__)

StageFunction = Callable[[FrameState, RunContext], FrameState]
Emit = Callable[[str, dict], None]


def run_stage(name: str, function: StageFunction, state: FrameState, ctx: RunContext) -> FrameState:
    """Run one stage, recording its time; a failure is recorded, not raised.

    A frame that failed in an earlier stage passes through untouched, so a
    bad frame ends with ``status: "failed"`` and its message while the other
    frames of the run go on.

    Parameters
    ----------
    name : str
        Stage name (used in timings, the log and events).
    function : callable
        The stage, ``(state, ctx) -> state``.
    state : FrameState
        The frame so far.
    ctx : RunContext
        The run's configuration, masters and output folder.

    Returns
    -------
    FrameState
        The new state, with ``error`` set if the stage failed.
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
    return new.evolve(timings={**new.timings, name: elapsed})


def _noted_warnings(state: FrameState, stage: str, caught: list[str]) -> FrameState:
    """Write the Python warnings a stage raised to the frame's log (and stderr), naming the file."""
    for text in caught:
        log.warning("%s: %s: %s", state.path, stage, text)
        state = state.note(f"WARNING {stage}: {text}")
    return state


def _naming(path: str, message: str, stage: str) -> str:
    """Return an error message that names the file (and the stage when it does not)."""
    return message if Path(path).name in message else f"{path}: {stage} failed: {message}"


def finish_frame(state: FrameState, ctx: RunContext) -> FrameResult:
    """Write the frame's products (also for a failed frame) and summarise it."""
    from rpf.pipeline.products import write_frame_products

    return write_frame_products(state, ctx)


def process_frame(path: str | Path, ctx: RunContext | None = None, *, emit: Emit | None = None) -> FrameResult:
    """Process one frame eagerly and write its products.

    Parameters
    ----------
    path : str or Path
        The raw science frame.
    ctx : RunContext, optional
        Configuration, master calibration frames and output folder
        (defaults: :class:`~rpf.config.PipelineConfig` defaults, no masters,
        ``./rpf_out``).
    emit : callable, optional
        Called as ``emit(stage, info)`` after each stage (progress).

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
    ctx = ctx or RunContext()
    state = FrameState(path=str(path))
    for name, function in STAGES:
        state = run_stage(name, function, state, ctx)
        if emit is not None:
            emit(name, {"path": state.path, "failed": state.error is not None, "seconds": state.timings.get(name)})
    return finish_frame(state, ctx)
