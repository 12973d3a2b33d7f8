"""Frame loading, input checks and header normalisation.

:func:`check_input_file` rejects anything but a readable regular file
before it is opened; :func:`load_frame` reads any FITS image into a
:class:`~rpf.frame.Frame`; :func:`read_meta` turns a header of any common
dialect into :class:`~rpf.frame.FrameMeta`; :func:`capture_warnings`
collects the warnings a frame raises for its own log.
"""

from rpf.io.captured import capture_warnings
from rpf.io.checks import check_frame_shape, check_input_file, minimum_frame_side
from rpf.io.header import frame_stem, read_meta
from rpf.io.load import load_frame

__all__ = [
    "capture_warnings",
    "check_frame_shape",
    "check_input_file",
    "frame_stem",
    "load_frame",
    "minimum_frame_side",
    "read_meta",
]
