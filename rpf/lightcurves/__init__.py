"""Light curves: stars cross-identified across frames, ensemble differential photometry, exports.

Pure functions over per-frame catalogues (no Dask, no I/O except the
writers).  For a run's frames as they finish (``FrameDone`` results)::

    stars = NightStars(radius_arcsec=r)                 # once per run
    stars = stars.add(FramePhotometry.from_result(res))  # per finished, solved frame
    curve = star_lightcurve(stars, ra=ra, dec=dec)       # the chosen star, cheap
    write_aavso_extended(curve, path, obscode="XYZ")

See ``docs/lightcurves.md``.
"""

from rpf.lightcurves.aavso import AAVSO_FIELDS, aavso_extended, aavso_filter, write_aavso_extended
from rpf.lightcurves.curves import LIGHTCURVE_COLUMNS, build_lightcurves, write_lightcurves_csv
from rpf.lightcurves.ensemble import ComparisonCriteria, differential_offsets, select_comparison_stars
from rpf.lightcurves.frames import NAME_COLUMNS, FramePhotometry, FrameRecord, target_position
from rpf.lightcurves.stars import NightStars, StarMatrices, cross_identify, night_stars
from rpf.lightcurves.target import POINT_COLUMNS, StarLightCurve, star_lightcurve, write_star_lightcurve_csv

__all__ = [
    "AAVSO_FIELDS",
    "LIGHTCURVE_COLUMNS",
    "NAME_COLUMNS",
    "POINT_COLUMNS",
    "ComparisonCriteria",
    "FramePhotometry",
    "FrameRecord",
    "NightStars",
    "StarLightCurve",
    "StarMatrices",
    "aavso_extended",
    "aavso_filter",
    "build_lightcurves",
    "cross_identify",
    "differential_offsets",
    "night_stars",
    "select_comparison_stars",
    "star_lightcurve",
    "target_position",
    "write_aavso_extended",
    "write_lightcurves_csv",
    "write_star_lightcurve_csv",
]
