"""Per-frame checkpoints: a frame's state after a step, on disk, keyed by that step's provenance hash.

A re-run whose hashes match a checkpoint resumes after that step instead of
starting from the raw file (:mod:`rpf.pipeline.plan`).  Checkpoints live in
``<out>/.rpf/state/<stem>/``: ``<step>-<hash>.pkl`` holds the state's small
parts, and every large array (the pixels, the mask, the background maps) is
stored once, by content, as ``arrays/<digest>.npy``, so the checkpoints of
one frame share its pixels (about 3.5 float32 frames on disk).  A frame
keeps one checkpoint per step: a new one replaces the old, and arrays no
checkpoint refers to any more are removed.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rpf.atomic import atomic_path, write_atomic
from rpf.pipeline.state import FrameState

__all__ = [
    "CHECKPOINTS",
    "STATE_DIR",
    "checkpoint_file",
    "frame_state_dir",
    "load_checkpoint",
    "resume_task",
    "save_checkpoint",
]

STATE_DIR = Path(".rpf") / "state"
"""Where, inside the output folder, the frames' checkpoints are kept."""

CHECKPOINTS = ("redetect", "photometry", "airmass")
"""The steps after which a frame's state is saved: each is the last step before one that
reads a configuration section no earlier step reads (aperture; astrometry and catalogs;
zeropoint).  The steps after ``airmass`` take less time than saving their state would
(``benchmarks/bench_rerun.py``), so a change of ``psf`` or ``output`` resumes there too."""

_EXTERNAL_BYTES = 1 << 16
_digests: dict[int, tuple[weakref.ref, str]] = {}


def frame_state_dir(out_dir: str | Path, stem: str) -> Path:
    """Return the checkpoint folder of a frame (by its product stem)."""
    return Path(out_dir) / STATE_DIR / stem


def checkpoint_file(directory: Path, stage: str, digest: str) -> Path:
    """Return the file of the checkpoint after ``stage`` with provenance hash ``digest``."""
    return directory / f"{stage}-{digest}.pkl"


def _array_digest(array: np.ndarray) -> str:
    known = _digests.get(id(array))
    if known is not None and known[0]() is array:
        return known[1]
    data = np.ascontiguousarray(array)
    digest = hashlib.blake2b(memoryview(data).cast("B"), digest_size=16)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    return _remember(array, digest.hexdigest())


def _remember(array: np.ndarray, digest: str) -> str:
    """Remember an array's digest while it lives (arrays are never changed in place between steps)."""
    key = id(array)
    _digests[key] = (weakref.ref(array, lambda _: _digests.pop(key, None)), digest)
    return digest


class _Pickler(pickle.Pickler):
    """Pickles a state with its large arrays stored once, by content, beside it."""

    def __init__(self, stream: io.BytesIO, arrays: Path) -> None:
        super().__init__(stream, protocol=pickle.HIGHEST_PROTOCOL)
        self.arrays = arrays
        self.used: set[str] = set()

    def persistent_id(self, obj: object) -> str | None:
        if type(obj) is not np.ndarray or obj.nbytes < _EXTERNAL_BYTES or obj.dtype.hasobject:
            return None
        digest = _array_digest(obj)
        target = self.arrays / f"{digest}.npy"
        if not target.exists():
            with atomic_path(target) as temporary:
                np.save(temporary, obj, allow_pickle=False)
        self.used.add(digest)
        return digest


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream: io.BufferedReader, arrays: Path) -> None:
        super().__init__(stream)
        self.arrays = arrays
        self.loaded: dict[str, np.ndarray] = {}

    def persistent_load(self, pid: str) -> np.ndarray:
        if pid not in self.loaded:
            array = np.load(self.arrays / f"{pid}.npy", allow_pickle=False)
            _remember(array, pid)  # saved again by a later checkpoint without hashing it again
            self.loaded[pid] = array
        return self.loaded[pid]


def save_checkpoint(state: FrameState, *, directory: Path, stage: str, digest: str) -> Path:
    """Save a frame's state after ``stage``; replace the frame's older checkpoint of that step.

    Parameters
    ----------
    state : FrameState
        The state after ``stage`` (not failed).
    directory : Path
        The frame's checkpoint folder (:func:`frame_state_dir`).
    stage : str
        The step just run.
    digest : str
        The step's provenance hash.

    Returns
    -------
    Path
        The checkpoint file.

    Raises
    ------
    OSError
        The folder cannot be written.
    """
    arrays = directory / "arrays"
    arrays.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, arrays)
    pickler.dump(state)
    target = checkpoint_file(directory, stage, digest)
    write_atomic(target.with_suffix(".json"), json.dumps({"stage": stage, "hash": digest,
                                                          "arrays": sorted(pickler.used)}))
    write_atomic(target, buffer.getvalue())
    for old in directory.glob(f"{stage}-*.pkl"):
        if old != target:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)
    _collect_arrays(directory)
    return target


def _collect_arrays(directory: Path) -> None:
    """Remove the arrays no checkpoint of the frame refers to."""
    used: set[str] = set()
    for sidecar in directory.glob("*.json"):
        try:
            used.update(json.loads(sidecar.read_text())["arrays"])
        except (OSError, ValueError, KeyError):
            return  # a checkpoint being replaced: collect next time
    for array in (directory / "arrays").glob("*.npy"):
        if array.stem not in used:
            array.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, *, reused: Sequence[str]) -> FrameState:
    """Return the state saved in a checkpoint, marked as reusing ``reused`` steps (their time this run: 0).

    Raises
    ------
    OSError, pickle.UnpicklingError
        The checkpoint is missing or damaged.
    """
    path = Path(path)
    with path.open("rb") as stream:
        state = _Unpickler(stream, path.parent / "arrays").load()
    if not isinstance(state, FrameState):
        raise pickle.UnpicklingError(f"{path}: not a frame state")
    timings = {**state.timings, **dict.fromkeys(reused, 0.0)}
    note = f"steps {', '.join(reused)} reused from checkpoint {path.name}"
    return state.evolve(timings=timings, reused=tuple(reused)).note(note)


def resume_task(path: str, checkpoint: str, reused: tuple[str, ...]) -> FrameState:
    """Return a frame's state from its checkpoint; a checkpoint that cannot be read is the frame's failure."""
    try:
        return load_checkpoint(checkpoint, reused=reused)
    except Exception as exc:  # noqa: BLE001 - a damaged cache file fails its frame, with the reason
        message = f"{path}: checkpoint {checkpoint} cannot be read ({type(exc).__name__}: {exc}); run with --force"
        return FrameState(path=path, error=message, failed_stage=reused[-1] if reused else None)
