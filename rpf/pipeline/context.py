"""The immutable context shared by every frame of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rpf.calibration import MasterFrames
from rpf.config import PipelineConfig

__all__ = ["RunContext"]


@dataclass(frozen=True)
class RunContext:
    """Configuration, master calibration frames and output folder of a run.

    Built once per run and shared (on Dask: scattered once) by every frame.
    """

    config: PipelineConfig = field(default_factory=PipelineConfig)
    masters: MasterFrames = field(default_factory=MasterFrames)
    out_dir: Path = Path("rpf_out")
