"""The immutable context shared by every frame of a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpf.calibration import MasterFrames
from rpf.config import PipelineConfig
from rpf.errors import RPFError
from rpf.io import frame_stem

__all__ = ["RunContext", "make_context"]


@dataclass(frozen=True)
class RunContext:
    """Configuration, master calibration frames and output folder of a run.

    Built once per run and shared (on Dask: scattered once) by every frame.
    ``targets`` (resolved :class:`~rpf.targets.Target`) and ``template`` (a
    :class:`~rpf.pipeline.transient_steps.TemplateImage`) feed the follow-up
    steps (:func:`~rpf.pipeline.transient_steps.transient_context`).
    ``masters_error`` holds why the masters could not be built: every frame
    of the run then fails in its ``calibrate`` step with that message.
    ``stems`` maps each frame to its product stem (:func:`rpf.pipeline.stems.product_stems`),
    ``provenance`` each frame to its step hashes (:mod:`rpf.pipeline.provenance`);
    with ``checkpoints`` a frame's state is saved after the steps of
    :data:`rpf.pipeline.checkpoint.CHECKPOINTS`; with ``reuse`` a large product
    an earlier run wrote from the same pixels is not written again.
    ``iers_cache`` is the folder of astropy's Earth orientation table kept on
    disk (:mod:`rpf.earth_orientation`; beside the catalogue cache, set by
    :func:`make_context`; None: astropy parses its files): a place, not an
    input, so no step's checkpoint depends on it.
    """

    config: PipelineConfig = field(default_factory=PipelineConfig)
    masters: MasterFrames = field(default_factory=MasterFrames)
    out_dir: Path = Path("rpf_out")
    targets: tuple = ()
    template: Any = None
    masters_error: str | None = None
    stems: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    checkpoints: bool = False
    reuse: bool = False
    iers_cache: str | None = None

    def stem(self, path: str) -> str:
        """Return the product stem of a frame of the run (its file name's stem unless inputs collide)."""
        return self.stems.get(path) or frame_stem(path)


def make_context(
    *,
    config: PipelineConfig,
    out_dir: str | Path,
    bias: Sequence[str],
    dark: Sequence[str],
    flat: Sequence[str],
    threads: int | None = None,
    stems: Mapping[str, str] | None = None,
    provenance: Mapping[str, Mapping[str, str]] | None = None,
    checkpoints: bool = False,
    reuse: bool = False,
) -> RunContext:
    """Build the run context with the master calibration frames (once per run, eager or as a Dask task).

    Never raises for a bad calibration frame: the context then carries the
    error (``masters_error``), so that every frame fails with the same
    message and the run still writes its summary, eager or on Dask.  The
    follow-up fields (targets, template) come from
    :func:`~rpf.pipeline.transient_steps.transient_context`.  The masters
    are read and combined (or loaded from the masters cache) on ``threads``
    threads (None: every available core): every frame waits for them, so this task may use the cores the
    frames will use.
    """
    from rpf.calibration import build_masters

    masters, error = MasterFrames(), None
    if bias or dark or flat:
        try:
            masters = build_masters(bias=list(bias), dark=list(dark), flat=list(flat), config=config, threads=threads)
        except RPFError as exc:
            error = f"master calibration frames: {exc}"
    from rpf.pipeline.transient_steps import transient_context

    return RunContext(config=config, masters=masters, out_dir=Path(out_dir), masters_error=error,
                      stems=dict(stems or {}), provenance=dict(provenance or {}), checkpoints=checkpoints,
                      reuse=reuse, iers_cache=str(Path(config.catalogs.cache_dir).expanduser() / "iers"),
                      **transient_context(config))
