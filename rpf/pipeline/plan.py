"""Plan a run before anything is computed: product stems, provenance, and what an earlier run left to reuse.

For every frame :func:`plan_run` computes its provenance hashes
(:mod:`rpf.pipeline.provenance`) and, when the request allows reuse, looks
in the output folder for the newest result they match: the frame's whole
products (its ``<stem>_metadata.json`` records the same provenance, and
every product it lists is there: nothing is recomputed), else the latest
checkpoint (:mod:`rpf.pipeline.checkpoint`: the frame resumes after that
step).  Both runners, eager and on Dask, follow the same plan.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from astropy.table import QTable

from rpf.atomic import write_atomic
from rpf.errors import RPFError
from rpf.io.checks import check_input_file
from rpf.pipeline.checkpoint import CHECKPOINTS, checkpoint_file, frame_state_dir
from rpf.pipeline.fields import FieldGroup, plan_groups
from rpf.pipeline.outputs import file_digest
from rpf.pipeline.provenance import frame_provenance
from rpf.pipeline.request import RunRequest
from rpf.pipeline.state import FrameResult
from rpf.pipeline.stems import product_stems

__all__ = ["FramePlan", "RunPlan", "plan_run", "reused_result"]


@dataclass(frozen=True)
class FramePlan:
    """What a run does with one frame.

    Attributes
    ----------
    path : str
        The raw science frame.
    stem : str
        Its product stem.
    provenance : dict of str to str
        ``{"input": digest, step: hash, ..., "products": hash}`` (empty when the file cannot be read).
    resume_after : str or None
        The step whose checkpoint the frame resumes from (None: from the raw file).
    checkpoint : str or None
        That checkpoint's file.
    reused : FrameResult or None
        The frame's earlier result, reused whole (nothing is computed).
    """

    path: str
    stem: str
    provenance: dict[str, str] = field(default_factory=dict)
    resume_after: str | None = None
    checkpoint: str | None = None
    reused: FrameResult | None = None

    def reused_steps(self, names: Sequence[str]) -> tuple[str, ...]:
        """Return the steps of ``names`` this frame does not compute."""
        if self.reused is not None:
            return tuple(names)
        if self.resume_after is None:
            return ()
        return tuple(names[: list(names).index(self.resume_after) + 1])


@dataclass(frozen=True)
class RunPlan:
    """The plan of every frame of a run, in order, the messages about renamed products, and whether it reuses."""

    frames: tuple[FramePlan, ...]
    groups: dict[str, FieldGroup]
    messages: tuple[str, ...] = ()
    reuse: bool = True

    @property
    def stems(self) -> dict[str, str]:
        """``path -> product stem``."""
        return {f.path: f.stem for f in self.frames}

    @property
    def provenance(self) -> dict[str, dict[str, str]]:
        """``path -> provenance``."""
        return {f.path: f.provenance for f in self.frames}

    @property
    def needs_masters(self) -> bool:
        """True when some frame is calibrated this run (else the masters need not be built)."""
        return any(f.reused is None and f.resume_after is None for f in self.frames)


class _Digests:
    """File digests, remembered in ``<out>/.rpf/digests.json`` by path, size, time and inode.

    A night's raw and calibration frames are hashed once, not at every re-run.
    """

    def __init__(self, out_dir: Path) -> None:
        self.file = out_dir / ".rpf" / "digests.json"
        try:
            known = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        self.known: dict[str, list] = known if isinstance(known, dict) else {}
        self.used: dict[str, list] = {}

    def __call__(self, path: str) -> str | None:
        try:
            check_input_file(path)  # never read a FIFO: it would block the run
            stat = os.stat(path)
            key = os.path.abspath(path)
            stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
            entry = self.known.get(key)
            if isinstance(entry, list) and entry[:3] == stamp and isinstance(entry[-1], str):
                digest = entry[-1]
            else:
                digest = file_digest(path)
        except (OSError, RPFError):
            return None
        self.used[key] = [*stamp, digest]
        return digest

    def save(self) -> None:
        """Remember the digests of this run's files (never fatal)."""
        try:
            write_atomic(self.file, json.dumps(self.used))
        except OSError:
            pass


def plan_run(request: RunRequest, *, stages: Sequence[tuple[str, Any]]) -> RunPlan:
    """Return the plan of a (validated) request's frames.

    Parameters
    ----------
    request : RunRequest
        The run; with ``reuse`` the output folder is searched for matching results.
    stages : sequence of (name, function)
        The frames' steps before ``products``.

    Returns
    -------
    RunPlan
        One :class:`FramePlan` per frame, in the request's order.
    """
    paths = list(request.science)
    config = request.config
    stems, messages = product_stems(paths)
    groups = plan_groups(paths, config) if config.execution.share_references else {}
    digests: dict[str, str] = {}
    out_dir = Path(request.out_dir)
    remembered = _Digests(out_dir)
    calibration = {kind: [remembered(p) for p in getattr(request, kind)] for kind in ("bias", "dark", "flat")}
    names = [name for name, _ in stages]
    frames = []
    for path in paths:
        digest = remembered(path)
        plan = FramePlan(path=path, stem=stems[path])
        if digest is None:
            frames.append(plan)
            continue
        group = groups.get(path)
        provenance = frame_provenance(
            digest, config=config, stages=stages, calibration=calibration, path=path, stem=stems[path],
            cone=None if group is None else (group.ra, group.dec, group.radius_deg), file_digests=digests,
        )
        plan = replace(plan, provenance=provenance)
        if request.reuse:
            plan = _find_reusable(plan, out_dir, names, earlier=[Path(d) for d in request.reuse_from])
        frames.append(plan)
    remembered.save()
    return RunPlan(frames=tuple(frames), groups=groups, messages=messages, reuse=request.reuse)


def _find_reusable(plan: FramePlan, out_dir: Path, names: list[str], *, earlier: Sequence[Path] = ()) -> FramePlan:
    """Find the frame's whole result in ``out_dir``, else its latest matching checkpoint there or in ``earlier``."""
    result = reused_result(out_dir, plan.stem, plan.provenance, names=[*names, "products"])
    if result is not None:
        return replace(plan, reused=result)
    for stage in reversed(CHECKPOINTS):
        if stage not in names:
            continue
        for folder in (out_dir, *earlier):
            candidate = checkpoint_file(frame_state_dir(folder, plan.stem), stage, plan.provenance[stage])
            if candidate.is_file() and _complete(candidate):
                return replace(plan, resume_after=stage, checkpoint=str(candidate.absolute()))
    return plan


def _complete(checkpoint: Path) -> bool:
    """Return True when every array file the checkpoint refers to is there."""
    try:
        arrays = json.loads(checkpoint.with_suffix(".json").read_text(encoding="utf-8"))["arrays"]
        return all((checkpoint.parent / "arrays" / f"{name}.npy").is_file() for name in arrays)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def reused_result(out_dir: Path, stem: str, provenance: dict[str, str], *, names: Sequence[str]) -> FrameResult | None:
    """Return a frame's earlier result if its products match ``provenance`` and are all there, else None.

    The metadata is the file's, with ``reused_stages`` naming every step
    and their time this run 0; the catalogue is read from ``<stem>_phot.ecsv``.
    """
    meta_file = out_dir / f"{stem}_metadata.json"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("status") != "ok" or meta.get("provenance") != provenance:
        return None
    listed = meta.get("products")
    if not isinstance(listed, dict):
        return None
    products = {kind: out_dir / str(name) for kind, name in listed.items()}
    products["metadata"] = meta_file
    if (out_dir / f"{stem}_results.zip").is_file():
        products["zip"] = out_dir / f"{stem}_results.zip"
    if not all(p.is_file() and p.parent == out_dir for p in products.values()):
        return None
    phot = None
    if "phot_ecsv" in products:
        try:
            phot = QTable.read(products["phot_ecsv"], format="ascii.ecsv")
        except (OSError, ValueError):
            return None
    meta = {**meta, "reused_stages": list(names), "timings": dict.fromkeys(meta.get("timings") or {}, 0.0)}
    return FrameResult(path=meta.get("path") or "", status="ok", metadata=meta, phot=phot,
                       products={k: str(v) for k, v in products.items()})
