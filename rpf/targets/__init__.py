"""Follow-up targets: what they are, where they are, and forced photometry with upper limits.

See ``docs/transients.md``.
"""

from rpf.targets.forced import empty_aperture_factor, forced_photometry, limit_flux
from rpf.targets.measure import TARGET_COLUMNS, FrameContext, calibrate_forced, measure_targets, target_positions
from rpf.targets.model import Target
from rpf.targets.parse import SKYBOT_PREFIX, parse_target, read_targets_csv, unique_targets
from rpf.targets.resolve import resolve_target, target_resolver

__all__ = [
    "SKYBOT_PREFIX",
    "TARGET_COLUMNS",
    "FrameContext",
    "Target",
    "calibrate_forced",
    "empty_aperture_factor",
    "forced_photometry",
    "limit_flux",
    "measure_targets",
    "parse_target",
    "read_targets_csv",
    "resolve_target",
    "target_positions",
    "target_resolver",
    "unique_targets",
]
