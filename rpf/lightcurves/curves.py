"""``lightcurves.csv``: every star of a run in every frame, optionally ensemble-differential.

Stars are cross-identified with :func:`rpf.lightcurves.cross_identify`;
ensemble differential photometry (:mod:`rpf.lightcurves.ensemble`) removes,
per frame, the offset of a set of comparison stars (chosen automatically as
bright, unflagged, constant stars measured in nearly every frame, or given by
the user) from the instrumental magnitudes and puts the result on the
calibrated scale (see :mod:`rpf.lightcurves.target`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from rpf.atomic import atomic_path
from rpf.lightcurves.ensemble import (
    ComparisonCriteria,
    calibration_scale,
    clean_measurements,
    differential_offsets,
    select_comparison_stars,
)
from rpf.lightcurves.frames import FramePhotometry
from rpf.lightcurves.stars import NightStars, time_order

__all__ = ["LIGHTCURVE_COLUMNS", "build_lightcurves", "write_lightcurves_csv"]

LIGHTCURVE_COLUMNS = ("star_id", "ra", "dec", "frame", "mjd", "airmass", "mag", "mag_err", "flags")
"""The contract's columns of ``lightcurves.csv``, in order."""


def build_lightcurves(
    frames: Sequence[FramePhotometry],
    *,
    radius_arcsec: float = 2.0,
    differential: bool = False,
    comparison: Sequence[Any] | None = None,
    n_comparison: int = 20,
) -> Table:
    """Return one row per (star, frame) in which the star was measured.

    Parameters
    ----------
    frames : sequence of FramePhotometry
        Calibrated catalogues of overlapping fields.
    radius_arcsec : float
        Cross-identification radius.
    differential : bool
        Add ensemble differential magnitudes (``diff_mag``, ``diff_mag_err``)
        and a ``comparison`` column marking the comparison stars.
    comparison : sequence, optional
        Comparison stars given by star number or ``(ra, dec)``; default:
        chosen automatically (the brightest that qualify, see
        :func:`~rpf.lightcurves.ensemble.select_comparison_stars`).
    n_comparison : int
        Most comparison stars chosen automatically.

    Returns
    -------
    astropy.table.Table
        :data:`LIGHTCURVE_COLUMNS` (star position = mean over frames), sorted
        by star then time; ``meta['comparison']`` lists the comparison stars.

    Raises
    ------
    rpf.errors.PhotometryError
        An unknown comparison star, or too few comparison stars.
    """
    stars = NightStars(radius_arcsec=radius_arcsec).extend(frames[i] for i in time_order(frames))
    m = stars.matrices
    stars_of, cols = np.nonzero(m.present)
    star_ra, star_dec = stars.positions
    table = Table(
        {
            "star_id": stars_of,
            "ra": star_ra[stars_of],
            "dec": star_dec[stars_of],
            "frame": np.array([stars.frames[c].frame for c in cols], dtype=str),
            "mjd": np.array([np.nan if stars.frames[c].mjd is None else stars.frames[c].mjd for c in cols]),
            "airmass": np.array([np.nan if stars.frames[c].airmass is None else stars.frames[c].airmass for c in cols]),
            "mag": m.mag[stars_of, cols],
            "mag_err": m.mag_err[stars_of, cols],
            "flags": m.flags[stars_of, cols],
        }
    )
    if differential:
        inst, err = clean_measurements(m.inst, m.inst_err, m.flags)
        chosen = (
            stars.resolve(comparison, what="comparison stars")
            if comparison is not None
            else select_comparison_stars(inst, err, m.flags, criteria=ComparisonCriteria(n_max=n_comparison),
                                         exclude=m.known_variable)
        )
        offset, offset_err = differential_offsets(inst, err, chosen)
        scale = calibration_scale(m.mag, m.inst, offset, chosen)
        table["diff_mag"] = m.inst[stars_of, cols] - offset[cols] + scale[stars_of]
        table["diff_mag_err"] = np.hypot(m.inst_err[stars_of, cols], offset_err[cols])
        table["comparison"] = np.isin(stars_of, chosen)
        table.meta["comparison"] = [int(s) for s in chosen]
    table.sort(["star_id", "mjd"])
    return table


def write_lightcurves_csv(table: Table, path: str | os.PathLike[str]) -> Path:
    """Write the light-curve table as CSV atomically; return the path."""
    out = Table(table, copy=False)
    out.meta = {}
    with atomic_path(path) as temporary:
        out.write(temporary, format="ascii.csv", overwrite=True)
    return Path(path)
