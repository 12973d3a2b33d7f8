"""The one Dask graph builder: per-frame step chains sharing masters and references.

Per frame, the steps run as a chain of ``dask.delayed`` tasks, each running
a group of consecutive steps (:data:`rpf.pipeline.stages.TASK_GROUPS`) with
:func:`rpf.pipeline.frame.run_stage` on the state returned by the previous
task; every step reports its own event on the run's topic as it ends.  A
last task writes the products with :func:`rpf.pipeline.frame.finish_frame`,
so only the small :class:`~rpf.pipeline.state.FrameResult` ever needs to
leave the workers.  The run context (configuration and master calibration
frames) is built once, as one task, and every frame's chain depends on it;
frames of overlapping fields share one reference-catalogue task, attached to
each frame's state just before astrometry.  The same functions run eagerly
in :func:`rpf.pipeline.eager.run_eager`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import dask
from dask.base import tokenize
from dask.delayed import Delayed
from distributed import get_worker
from threadpoolctl import threadpool_limits

from rpf.config import PipelineConfig
from rpf.pipeline.checkpoint import resume_task
from rpf.pipeline.context import RunContext, make_context
from rpf.pipeline.fields import REFERENCE_BEFORE, fetch_group_reference, frame_field, group_fields
from rpf.pipeline.finish import failed_result
from rpf.pipeline.frame import StageFunction, finish_frame, run_stage
from rpf.pipeline.plan import FramePlan, RunPlan
from rpf.pipeline.reference import ReferenceFetch, attach_reference
from rpf.pipeline.stages import STAGES, TASK_GROUPS
from rpf.pipeline.state import FrameResult, FrameState

__all__ = [
    "build_frame_graph", "build_run_graph", "context_task", "finish_task", "steps_task", "task_chunks",
]

Stages = Sequence[tuple[str, StageFunction]]


def _report(topic: str | None, message: dict) -> None:
    if topic is None:
        return
    try:
        worker = get_worker()
    except ValueError:
        return
    worker.log_event(topic, message)


def steps_task(
    steps: Stages,
    state: FrameState,
    ctx: RunContext,
    *,
    reference: ReferenceFetch | None = None,
    index: int,
    first: bool,
    topic: str | None,
    threads: int = 1,
) -> FrameState:
    """Run consecutive steps with :func:`run_stage`, reporting each one on the run's event topic.

    ``reference`` (the frame's field-group catalogue) is attached just
    before the ``astrometry`` step.  Steps after a failed one are skipped
    without a report.  Outside a Dask worker (synchronous scheduler) nothing
    is reported.  A task runs on ``threads`` cores (OpenMP and BLAS limited
    to that many threads), whatever the worker's environment: one for a
    night, where the frames are the parallelism and a task that took every
    core would slow its worker's other threads and processes; more when a
    run has fewer frames than the cluster has cores
    (:func:`rpf.pipeline.cluster.task_threads`).
    """
    if first:
        _report(topic, {"kind": "started", "path": state.path, "index": index, "time": time.time()})
    with threadpool_limits(limits=threads):
        for name, function in steps:
            if state.error is not None:
                break
            if reference is not None and name == REFERENCE_BEFORE:
                state = attach_reference(state, reference)
            state = run_stage(name, function, state, ctx)
            report = {"kind": "stage", "path": state.path, "index": index, "stage": name}
            _report(topic, {**report, "failed": state.failed_stage == name, "seconds": state.timings.get(name)})
    return state


def context_task(*, threads: int = 1, topic: str | None = None, **request) -> RunContext:
    """Build the run context with :func:`make_context` on ``threads`` threads; report the masters' time on ``topic``.

    The report is ``{"kind": "masters", "seconds", "cache"}`` (whether the
    masters cache answered); nothing is reported without calibration frames.
    Never raises: a context that cannot be built (a deterministic failure,
    not worth a retry) is a context whose ``masters_error`` says why, so
    every frame fails with that message.
    """
    try:
        with threadpool_limits(limits=threads):
            ctx = make_context(threads=threads, **request)
    except Exception as exc:  # noqa: BLE001 - becomes every frame's error, never a task retry
        keep = ("config", "out_dir", "stems", "provenance")
        ctx = RunContext(**{k: request[k] for k in keep if request.get(k) is not None},
                         masters_error=f"run context: {type(exc).__name__}: {exc}")
    if ctx.masters.info:
        _report(topic, {"kind": "masters", "seconds": ctx.masters.info.get("seconds"),
                        "cache": ctx.masters.info.get("cache")})
    return ctx


def finish_task(state: FrameState, ctx: RunContext, *, index: int, topic: str | None, threads: int = 1) -> FrameResult:
    """Write the frame's products with :func:`finish_frame`; report how long it took on the run's topic.

    Never raises: a failure to write the products is the frame's failure
    (only the loss of a worker makes Dask retry a task).
    """
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=threads):
            result = finish_frame(state, ctx)
    except Exception as exc:  # noqa: BLE001 - deterministic: a failed frame, never a task retry
        message = f"{state.path}: products failed: {type(exc).__name__}: {exc}"
        result = failed_result(state.path, message)
    _report(topic, {"kind": "products", "index": index, "seconds": round(time.perf_counter() - start, 4)})
    return result


def task_chunks(stages: Stages, groups: Sequence[Sequence[str]] = TASK_GROUPS) -> list[list[tuple[str, StageFunction]]]:
    """Split the ordered steps into tasks: consecutive steps of one group share a task.

    A step in no group is a task of its own, and ``astrometry`` always
    starts a task (the shared reference is attached there).
    """
    group_of = {name: i for i, group in enumerate(groups) for name in group}
    chunks: list[list[tuple[str, StageFunction]]] = []
    previous = None
    for name, function in stages:
        group = group_of.get(name)
        if chunks and group is not None and group == previous and name != REFERENCE_BEFORE:
            chunks[-1].append((name, function))
        else:
            chunks.append([(name, function)])
        previous = group
    return chunks


def _as_delayed(value: RunContext | Delayed) -> Delayed:
    return value if isinstance(value, Delayed) else dask.delayed(value, name=f"rpf-context-{tokenize(value)}")


def build_frame_graph(
    path: str | Path,
    ctx: RunContext | Delayed,
    stages: Stages = STAGES,
    *,
    reference: Delayed | None = None,
    index: int = 0,
    topic: str | None = None,
    token: str | None = None,
    groups: Sequence[Sequence[str]] = TASK_GROUPS,
    threads: int = 1,
    start: FramePlan | None = None,
) -> Delayed:
    """Return the delayed :class:`FrameResult` of one frame.

    Parameters
    ----------
    path : str or Path
        The raw science frame.
    ctx : RunContext or Delayed
        The run context, or the shared task that builds it.
    stages : sequence of (name, function)
        The ordered steps (default: the pipeline's :data:`STAGES`), run in
        the tasks of :func:`task_chunks`.
    reference : Delayed, optional
        The shared :class:`~rpf.pipeline.reference.ReferenceFetch` task of
        the frame's field group, attached before the ``astrometry`` step.
    index : int
        Position of the frame in the run (carried by its events).
    topic : str, optional
        Event topic the workers report step progress on.
    token : str, optional
        Makes the task keys unique to a run (default: random).
    groups : sequence of sequence of str
        Steps that share a task when consecutive (default :data:`TASK_GROUPS`; ``()``: a task per step).
    threads : int
        Threads each of the frame's tasks may use (:func:`steps_task`).
    start : FramePlan, optional
        With a checkpoint to resume from (:mod:`rpf.pipeline.plan`): the
        chain starts from it with the steps after it.

    Returns
    -------
    Delayed
        :func:`finish_task` (task ``products-…``); computing it runs the chain.
    """
    path = str(path)
    key = tokenize(path, token or uuid.uuid4().hex)
    ctx_node = _as_delayed(ctx)
    state: FrameState | Delayed = FrameState(path=path)
    if start is not None and start.checkpoint is not None:
        names = [name for name, _ in stages]
        reused = start.reused_steps(names)
        state = dask.delayed(resume_task, pure=False)(path, start.checkpoint, reused, dask_key_name=f"resume-{key}")
        stages = [(name, function) for name, function in stages if name not in reused]
    for position, chunk in enumerate(task_chunks(stages, groups)):
        attach = reference if reference is not None and chunk[0][0] == REFERENCE_BEFORE else None
        options = {"index": index, "first": position == 0, "topic": topic, "threads": threads,
                   "dask_key_name": f"{chunk[0][0]}-{key}"}
        state = dask.delayed(steps_task, pure=False)(tuple(chunk), state, ctx_node, reference=attach, **options)
    return dask.delayed(finish_task, pure=False)(
        state, ctx_node, index=index, topic=topic, threads=threads, dask_key_name=f"products-{key}"
    )


def build_run_graph(
    paths: Iterable[str | Path],
    *,
    config: PipelineConfig,
    out_dir: str | Path,
    bias: Sequence[str | Path] = (),
    dark: Sequence[str | Path] = (),
    flat: Sequence[str | Path] = (),
    stages: Stages = STAGES,
    share_references: bool = True,
    topic: str | None = None,
    groups: Sequence[Sequence[str]] = TASK_GROUPS,
    threads: int = 1,
    masters_threads: int = 1,
    plan: RunPlan | None = None,
) -> list[Delayed]:
    """Return one delayed :class:`FrameResult` per frame, sharing the context and references.

    The context (with the masters) is one task; with ``share_references``
    the frames' headers are read here to group overlapping fields, and each
    group gets one reference-catalogue task.  Each frame's tasks carry a
    Dask priority falling with its position, so frames run depth first.

    Parameters
    ----------
    paths : iterable of str or Path
        Raw science frames.
    config : PipelineConfig
        Every parameter of the run.
    out_dir : str or Path
        Products folder.
    bias, dark, flat : sequence of str or Path
        Raw calibration frames for the masters.
    stages : sequence of (name, function)
        The ordered per-frame stages.
    share_references : bool
        Query the reference catalogue once per field group.
    topic : str, optional
        Event topic for step progress.
    groups : sequence of sequence of str
        Steps that share a task (see :func:`build_frame_graph`).
    threads : int
        Threads each frame task may use (:func:`rpf.pipeline.cluster.task_threads`).
    masters_threads : int
        Threads the context task (the masters) may use: every frame waits for it.
    plan : RunPlan, optional
        The run's plan (:func:`rpf.pipeline.plan.plan_run`): product stems,
        provenance (checkpoints are then saved), frames reused whole (left
        out) and frames resumed from a checkpoint; the masters are not built
        when no frame is calibrated.

    Returns
    -------
    list of Delayed
        In the order of ``paths``, without the frames the plan reuses whole.
    """
    paths = [str(p) for p in paths]
    token = uuid.uuid4().hex
    frame_plans = {f.path: f for f in plan.frames} if plan is not None else {}
    masters = plan is None or plan.needs_masters
    ctx = dask.delayed(context_task, pure=False)(
        config=config,
        out_dir=str(out_dir),
        bias=[str(p) for p in bias] if masters else [],
        dark=[str(p) for p in dark] if masters else [],
        flat=[str(p) for p in flat] if masters else [],
        threads=masters_threads,
        topic=topic,
        stems=plan.stems if plan is not None else None,
        provenance=plan.provenance if plan is not None else None,
        checkpoints=plan is not None,
        reuse=plan is not None and plan.reuse,
        dask_key_name=f"context-{token}",
    )
    by_path: dict[str, Delayed] = {}
    if share_references:
        field_groups = group_fields({p: frame_field(p, config) for p in dict.fromkeys(paths)})
        for number, group in enumerate(field_groups):
            task = dask.delayed(fetch_group_reference, pure=False)(
                group, config, dask_key_name=f"catalogue-{number}-{token}"
            )
            by_path.update(dict.fromkeys(group.paths, task))
    graphs = []
    for i, p in enumerate(paths):
        frame_plan = frame_plans.get(p)
        if frame_plan is not None and frame_plan.reused is not None:
            continue
        # earlier frames first: a worker finishes the frame it holds before it starts
        # another, so results stream in order and a worker holds one frame per thread
        with dask.annotate(priority=len(paths) - i):
            graphs.append(
                build_frame_graph(p, ctx, stages, reference=by_path.get(p), index=i, topic=topic, token=f"{token}-{i}",
                                  groups=groups, threads=threads, start=frame_plan)
            )
    return graphs

