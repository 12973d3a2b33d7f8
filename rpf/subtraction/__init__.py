"""Template subtraction (stdpipe SFFT) and the sources of the difference image.

See ``docs/transients.md``.
"""

from rpf.subtraction.candidates import CANDIDATE_COLUMNS, detect_difference, merge_candidates
from rpf.subtraction.difference import AlignedTemplate, Difference, align_template, subtract_template

__all__ = [
    "CANDIDATE_COLUMNS",
    "AlignedTemplate",
    "Difference",
    "align_template",
    "detect_difference",
    "merge_candidates",
    "subtract_template",
]
