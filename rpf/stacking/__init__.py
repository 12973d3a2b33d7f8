"""Co-adding a sequence of calibrated frames aligned on their WCS (``reproject``).

See ``docs/transients.md``.
"""

from rpf.stacking.combine import Stack, StackFrame, stack_frames

__all__ = ["Stack", "StackFrame", "stack_frames"]
