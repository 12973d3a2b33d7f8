"""Master calibration frames (bias, dark rate, flat) and their application.

Building masters (:func:`build_masters`, I/O) is split from applying them
(:func:`calibrate`, pure) so that masters are built once per run and shared
by every science frame.
"""

from rpf.calibration.apply import calibrate, fill_bad_pixels
from rpf.calibration.combine import combine_stack
from rpf.calibration.masters import MasterFrames, build_masters

__all__ = ["MasterFrames", "build_masters", "calibrate", "combine_stack", "fill_bad_pixels"]
