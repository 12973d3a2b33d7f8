"""RPF, the RAPAS Photometry Factory: raw FITS frames to calibrated photometry."""

from rpf._version import __version__
from rpf.config import PipelineConfig, load_config

__all__ = ["PipelineConfig", "__version__", "load_config"]
