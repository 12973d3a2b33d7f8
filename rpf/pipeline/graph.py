"""The one Dask graph builder: per-frame stage chains sharing masters and references.

Per frame, every stage is a ``dask.delayed`` task running
:func:`rpf.pipeline.frame.run_stage` on the state returned by the previous
task, and a last task writes the products with
:func:`rpf.pipeline.frame.finish_frame`, so only the small
:class:`~rpf.pipeline.state.FrameResult` ever needs to leave the workers.
The run context (configuration and master calibration frames) is built once,
as one task, and every frame's chain depends on it; frames of overlapping
fields share one reference-catalogue task, attached to each frame's state
just before astrometry.  The same functions run eagerly in
:func:`rpf.pipeline.frame.process_frame`.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning
from dask.base import tokenize
from dask.delayed import Delayed
from distributed import get_worker
from threadpoolctl import threadpool_limits

from rpf.config import PipelineConfig
from rpf.errors import RPFError
from rpf.io import check_input_file
from rpf.pipeline.context import RunContext
from rpf.pipeline.frame import StageFunction, finish_frame, run_stage
from rpf.pipeline.stages import STAGES
from rpf.pipeline.state import FrameResult, FrameState

__all__ = [
    "FieldGroup",
    "attach_reference",
    "build_frame_graph",
    "build_run_graph",
    "fetch_group_reference",
    "finish_task",
    "frame_field",
    "group_fields",
    "make_context",
    "stage_task",
]

Stages = Sequence[tuple[str, StageFunction]]
Fetched = tuple[Table | None, str]

REFERENCE_BEFORE = "astrometry"
"""The shared reference catalogue is attached to a frame just before this stage."""


@dataclass(frozen=True)
class FieldGroup:
    """Frames whose sky fields overlap enough to share one catalogue query.

    Attributes
    ----------
    ra, dec : float
        Centre of the query (degrees, ICRS).
    radius_deg : float
        Query radius covering every member's field.
    mjd : float or None
        Epoch of the query (proper motions).
    paths : tuple of str
        The member frames.
    """

    ra: float
    dec: float
    radius_deg: float
    mjd: float | None
    paths: tuple[str, ...]


def make_context(
    *,
    config: PipelineConfig,
    out_dir: str,
    bias: Sequence[str],
    dark: Sequence[str],
    flat: Sequence[str],
    threads: int = 1,
    topic: str | None = None,
) -> RunContext:
    """Build the run context, with the master calibration frames (a task run once per run).

    The masters are built (or loaded from the masters cache) on ``threads``
    threads: every frame waits for them, so the task may use the cores the
    frames will use.  The time taken and whether the cache answered are
    reported on ``topic`` (``{"kind": "masters", "seconds", "cache"}``).

    Raises
    ------
    rpf.errors.CalibrationError
        When a master cannot be built; every frame of the run then fails with it.
    """
    from rpf.calibration import MasterFrames, build_masters

    masters = MasterFrames()
    if bias or dark or flat:
        with threadpool_limits(limits=threads):
            masters = build_masters(bias=list(bias), dark=list(dark), flat=list(flat), config=config, threads=threads)
        _report(topic, {"kind": "masters", "seconds": masters.info.get("seconds"), "cache": masters.info.get("cache")})
    from rpf.pipeline.transient_steps import transient_context

    return RunContext(config=config, masters=masters, out_dir=Path(out_dir), **transient_context(config))


def _science_header(path: str) -> tuple[fits.Header, tuple[int, int]]:
    check_input_file(path)  # never open a FIFO: it would block the run before any frame starts
    with fits.open(path, lazy_load_hdus=True) as hdul:
        for hdu in hdul:
            if hdu.is_image and hdu.header.get("NAXIS", 0) == 2:
                header = hdu.header.copy()
                return header, (int(header["NAXIS2"]), int(header["NAXIS1"]))
    raise OSError(f"{path}: no 2-D image")


def frame_field(path: str, config: PipelineConfig) -> tuple[float, float, float, float | None] | None:
    """Return ``(ra, dec, radius_deg, mjd)`` of the sky a frame covers, from its header only.

    Returns None when the file cannot be read here or gives no pointing;
    such a frame then fetches its own reference in its astrometry stage.
    """
    import warnings

    from rpf.io import read_meta
    from rpf.pipeline.reference import field_of

    try:
        header, shape = _science_header(path)
        meta = read_meta(header, path=path, shape=shape, defaults=config.header)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header, naxis=2)
    except (OSError, ValueError, KeyError, TypeError, RPFError):
        return None
    found = field_of(meta, wcs, config)
    if found is None:
        return None
    ra, dec, radius = found
    return ra, dec, radius, meta.mjd_mid


def _separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    r1, d1, r2, d2 = (math.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def group_fields(
    fields: Mapping[str, tuple[float, float, float, float | None] | None], *, max_offset: float = 0.5
) -> list[FieldGroup]:
    """Group frames whose field centres lie close together (one query per group).

    A frame joins the first group whose centre is within ``max_offset`` times
    that group's first radius; the group's radius grows to cover it.

    Parameters
    ----------
    fields : mapping
        ``path -> (ra, dec, radius_deg, mjd)`` or None (frames with None are left out).
    max_offset : float
        Largest centre offset, as a fraction of the radius, to share a query.

    Returns
    -------
    list of FieldGroup
        In the order of the first member of each group.
    """
    groups: list[dict] = []
    for path, found in fields.items():
        if found is None:
            continue
        ra, dec, radius, mjd = found
        for group in groups:
            offset = _separation_deg(group["ra"], group["dec"], ra, dec)
            if offset <= max_offset * group["seed_radius"]:
                group["radius"] = max(group["radius"], offset + radius)
                group["paths"].append(path)
                break
        else:
            groups.append({"ra": ra, "dec": dec, "seed_radius": radius, "radius": radius, "mjd": mjd, "paths": [path]})
    return [FieldGroup(g["ra"], g["dec"], g["radius"], g["mjd"], tuple(g["paths"])) for g in groups]


def fetch_group_reference(group: FieldGroup, config: PipelineConfig) -> Fetched:
    """Fetch the reference catalogue of a field group (a task shared by its frames); never raises."""
    from rpf.pipeline.reference import fetch_reference_for_field

    table, message = fetch_reference_for_field(group.ra, group.dec, group.radius_deg, group.mjd, config.catalogs)
    return table, f"{message} (shared by {len(group.paths)} frame(s))"


def attach_reference(state: FrameState, fetched: Fetched) -> FrameState:
    """Give a frame the reference catalogue fetched for its field group."""
    if state.error is not None:
        return state
    table, message = fetched
    state = state.note(message)
    return state if table is None else state.evolve(reference=table)


def _report(topic: str | None, message: dict) -> None:
    if topic is None:
        return
    try:
        worker = get_worker()
    except ValueError:
        return
    worker.log_event(topic, message)


def stage_task(
    name: str,
    function: StageFunction,
    state: FrameState,
    ctx: RunContext,
    *,
    index: int,
    first: bool,
    topic: str | None,
    threads: int = 1,
) -> FrameState:
    """Run one stage with :func:`run_stage` and report it on the run's event topic.

    A stage after a failed one is skipped without a report.  Outside a Dask
    worker (eager or synchronous scheduler) nothing is reported.  A task
    runs on ``threads`` cores (OpenMP and BLAS limited to that many threads),
    whatever the worker's environment: one for a night, where the frames are
    the parallelism and a task that took every core would slow its worker's
    other threads and processes; more when a run has fewer frames than the
    cluster has cores (the cosmic-ray tiles then run in parallel).
    """
    if first:
        _report(topic, {"kind": "started", "path": state.path, "index": index, "time": time.time()})
    if state.error is not None:
        return state
    with threadpool_limits(limits=threads):
        new = run_stage(name, function, state, ctx)
    report = {"kind": "stage", "path": state.path, "index": index, "stage": name, "failed": new.error is not None}
    _report(topic, {**report, "seconds": new.timings.get(name)})
    return new


def finish_task(state: FrameState, ctx: RunContext, *, index: int, topic: str | None, threads: int = 1) -> FrameResult:
    """Write the frame's products with :func:`finish_frame`; report how long it took on the run's topic."""
    start = time.perf_counter()
    with threadpool_limits(limits=threads):
        result = finish_frame(state, ctx)
    _report(topic, {"kind": "products", "index": index, "seconds": round(time.perf_counter() - start, 4)})
    return result


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
    threads: int = 1,
) -> Delayed:
    """Return the delayed :class:`FrameResult` of one frame.

    Parameters
    ----------
    path : str or Path
        The raw science frame.
    ctx : RunContext or Delayed
        The run context, or the shared task that builds it.
    stages : sequence of (name, function)
        The ordered stages (default: the pipeline's :data:`STAGES`).
    reference : Delayed, optional
        The shared ``(table, message)`` reference task of the frame's field
        group, attached before the ``astrometry`` stage (or before the first
        stage when there is none).
    index : int
        Position of the frame in the run (carried by its events).
    topic : str, optional
        Event topic the workers report stage progress on.
    token : str, optional
        Makes the task keys unique to a run (default: random).
    threads : int
        Threads each of the frame's tasks may use (:func:`stage_task`).

    Returns
    -------
    Delayed
        ``finish_frame(state, ctx)``; computing it runs the chain.
    """
    path = str(path)
    key = tokenize(path, token or uuid.uuid4().hex)
    ctx_node = _as_delayed(ctx)
    state: FrameState | Delayed = FrameState(path=path)
    names = [name for name, _ in stages]
    attach_at = names.index(REFERENCE_BEFORE) if REFERENCE_BEFORE in names else 0
    for position, (name, function) in enumerate(stages):
        if reference is not None and position == attach_at:
            state = dask.delayed(attach_reference, pure=False)(state, reference, dask_key_name=f"reference-{key}")
        options = {"index": index, "first": position == 0, "topic": topic, "threads": threads,
                   "dask_key_name": f"{name}-{key}"}
        state = dask.delayed(stage_task, pure=False)(name, function, state, ctx_node, **options)
    return dask.delayed(finish_task, pure=False)(
        state, ctx_node, index=index, topic=topic, threads=threads, dask_key_name=f"finish-{key}"
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
    threads: int = 1,
    masters_threads: int = 1,
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
        Event topic for stage progress.
    threads : int
        Threads each frame task may use (:func:`rpf.pipeline.cluster.task_threads`).
    masters_threads : int
        Threads the masters task may use (every frame waits for it).

    Returns
    -------
    list of Delayed
        In the order of ``paths``.
    """
    paths = [str(p) for p in paths]
    token = uuid.uuid4().hex
    ctx = dask.delayed(make_context, pure=False)(
        config=config,
        out_dir=str(out_dir),
        bias=[str(p) for p in bias],
        dark=[str(p) for p in dark],
        flat=[str(p) for p in flat],
        threads=masters_threads,
        topic=topic,
        dask_key_name=f"context-{token}",
    )
    by_path: dict[str, Delayed] = {}
    if share_references:
        groups = group_fields({p: frame_field(p, config) for p in dict.fromkeys(paths)})
        for number, group in enumerate(groups):
            task = dask.delayed(fetch_group_reference, pure=False)(
                group, config, dask_key_name=f"catalogue-{number}-{token}"
            )
            by_path.update(dict.fromkeys(group.paths, task))
    graphs = []
    for i, p in enumerate(paths):
        # earlier frames first: a worker finishes the frame it holds before it starts
        # another, so results stream in order and a worker holds one frame per thread
        with dask.annotate(priority=len(paths) - i):
            graphs.append(
                build_frame_graph(
                    p, ctx, stages, reference=by_path.get(p), index=i, topic=topic, token=f"{token}-{i}",
                    threads=threads,
                )
            )
    return graphs

