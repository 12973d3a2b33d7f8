"""Frame loading and header normalisation.

:func:`load_frame` reads any FITS image into a :class:`~rpf.frame.Frame`;
:func:`read_meta` turns a header of any common dialect into
:class:`~rpf.frame.FrameMeta`.
"""

from rpf.io.header import frame_stem, read_meta
from rpf.io.load import load_frame

__all__ = ["frame_stem", "load_frame", "read_meta"]
