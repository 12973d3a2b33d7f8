"""The immutable context shared by every frame of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpf.calibration import MasterFrames
from rpf.config import PipelineConfig

__all__ = ["RunContext"]


@dataclass(frozen=True)
class RunContext:
    """Configuration, master calibration frames and output folder of a run.

    Built once per run and shared (on Dask: scattered once) by every frame.
    ``targets`` (resolved :class:`~rpf.targets.Target`) and ``template`` (a
    :class:`~rpf.pipeline.transient_steps.TemplateImage`) feed the follow-up
    steps (:func:`~rpf.pipeline.transient_steps.transient_context`).
    """

    config: PipelineConfig = field(default_factory=PipelineConfig)
    masters: MasterFrames = field(default_factory=MasterFrames)
    out_dir: Path = Path("rpf_out")
    targets: tuple = ()
    template: Any = None
