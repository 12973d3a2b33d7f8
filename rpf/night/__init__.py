"""A whole night: per-frame quality with outlier flags, and two runs compared.

``night_quality(metadata)`` -> :class:`NightQuality` (written at the end of a
run as ``night_quality.csv``); ``compare_runs(results_a, results_b)`` ->
:class:`RunComparison`.  See ``docs/night.md``.
"""

from rpf.night.compare import RunComparison, compare_runs
from rpf.night.quality import (
    QUALITY_COLUMNS,
    QUALITY_FLAGS,
    NightQuality,
    QualityThresholds,
    night_quality,
    write_night_quality_csv,
)

__all__ = [
    "QUALITY_COLUMNS",
    "QUALITY_FLAGS",
    "NightQuality",
    "QualityThresholds",
    "RunComparison",
    "compare_runs",
    "night_quality",
    "write_night_quality_csv",
]
