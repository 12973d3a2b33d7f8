"""The light curve of one chosen star: calibrated, ensemble-differential, with its comparison and check stars.

:func:`star_lightcurve` works on the stars cross-identified so far
(:class:`~rpf.lightcurves.stars.NightStars`), so a dashboard can call it
again each time a frame is added.  Differential magnitudes are
``inst[s, f] - O_f + C_s``: the instrumental magnitude minus the ensemble's
frame offset (:mod:`rpf.lightcurves.ensemble`), put on the calibrated scale
by ``C_s``, the star's median of ``mag - inst + O_f`` over the frames with a
zero point (the ensemble's median when the star has none).  Their errors are
``hypot(inst_err, offset_err)``: photon noise and the ensemble's own error,
not the zero point's, which the ensemble removes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from rpf.atomic import atomic_path
from rpf.errors import PhotometryError
from rpf.lightcurves.ensemble import (
    ComparisonCriteria,
    calibration_scale,
    clean_measurements,
    differential_offsets,
    leave_one_out_offsets,
    reduced_chi2,
    row_median,
    select_comparison_stars,
)
from rpf.lightcurves.stars import NightStars
from rpf.skymatch import unit_vectors

__all__ = ["POINT_COLUMNS", "StarLightCurve", "star_lightcurve", "write_star_lightcurve_csv"]

POINT_COLUMNS = (
    "frame", "mjd", "jd", "airmass", "band", "filter", "mag", "mag_err", "mag_inst", "mag_inst_err", "flags",
    "diff_mag", "diff_mag_err", "offset", "offset_err", "n_comparison", "comparison_mag_inst",
    "check_mag_inst", "check_diff_mag", "check_diff_mag_err",
)
"""Columns of :attr:`StarLightCurve.points` (and of its CSV), in order."""

STAR_COLUMNS = ("star_id", "label", "role", "ra", "dec", "mag", "color", "n_frames", "rms", "median_err", "chi2_dof")
"""Columns of :attr:`StarLightCurve.comparison` and :attr:`StarLightCurve.check`."""


@dataclass(frozen=True, eq=False)
class StarLightCurve:
    """One star's light curve over the frames so far.

    Attributes
    ----------
    star_id : int
        The star's number in the :class:`NightStars` it came from.
    label : str
        Its reference-catalogue identifier, or its position.
    ra, dec : float
        Its mean position (degrees).
    points : astropy.table.Table
        One row per frame in which it was measured, in time order
        (:data:`POINT_COLUMNS`); ``jd = mjd + 2400000.5``; ``comparison_mag_inst``
        is the comparison star's instrumental magnitude when there is only one.
    comparison : astropy.table.Table
        One row per comparison star (:data:`STAR_COLUMNS`): its scatter
        ``rms`` and ``chi2_dof`` about its mean, against the ensemble
        without it.
    check : astropy.table.Table
        The check star (zero or one row, same columns), measured against the
        whole ensemble.
    curves : astropy.table.Table
        ``star_id, role, frame, mjd, mag_inst, diff_mag, diff_mag_err`` of every
        comparison and check star (to draw them).
    rms, chi2_dof : float
        The target's own scatter about its weighted mean (a variability index).
    """

    star_id: int
    label: str
    ra: float
    dec: float
    points: Table
    comparison: Table
    check: Table
    curves: Table
    rms: float
    chi2_dof: float


def _near(stars: NightStars, star: int, radius_arcsec: float) -> np.ndarray:
    xyz = unit_vectors(*stars.positions)
    cos = np.clip(xyz @ xyz[star], -1.0, 1.0)
    return np.degrees(np.arccos(cos)) * 3600.0 <= radius_arcsec


def _choose(
    stars: NightStars, target: int, comparison: Sequence[Any] | None, check: Any | None,
    criteria: ComparisonCriteria,
) -> tuple[np.ndarray, int | None]:
    m = stars.matrices
    exclude = m.known_variable | _near(stars, target, criteria.exclusion_arcsec)
    given_check = None if check is None else int(stars.resolve([check], what="check star")[0])
    if given_check is not None:
        exclude[given_check] = True
    if comparison is not None:
        comps = stars.resolve(comparison, what="comparison stars")
        if np.isin(target, comps) or (given_check is not None and np.isin(given_check, comps)):
            raise PhotometryError("comparison stars: the target or the check star is among them")
        if given_check is not None:
            return comps, given_check
        exclude[comps] = True
        auto = _auto(stars, target, exclude, replace(criteria, min_stars=1, n_max=1), quiet=True)
        return comps, (int(auto[0]) if len(auto) else None)
    chosen = _auto(stars, target, exclude, replace(criteria, n_max=criteria.n_max + (given_check is None)))
    if given_check is None and len(chosen) > criteria.min_stars:
        return chosen[1:], int(chosen[0])
    return chosen[: criteria.n_max], given_check


def _auto(stars: NightStars, target: int, exclude: np.ndarray, criteria: ComparisonCriteria, *,
          quiet: bool = False) -> np.ndarray:
    m = stars.matrices
    try:
        return select_comparison_stars(
            m.inst, m.inst_err, m.flags, criteria=criteria, target_mag=float(row_median(m.inst[target])[0]),
            target_color=float(m.color[target]), color=m.color, exclude=exclude,
        )
    except PhotometryError:
        if quiet:
            return np.empty(0, np.int64)
        raise


def _stats(stars: NightStars, chosen: np.ndarray, role: str, diff: np.ndarray, err: np.ndarray) -> Table:
    """Return the comparison or check stars' table: who they are and how much their curves scatter."""
    m = stars.matrices
    ra, dec = stars.positions
    finite = np.isfinite(diff) & np.isfinite(err)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rms = [np.std(d[k], ddof=1) if k.sum() > 1 else np.nan for d, k in zip(diff, finite, strict=True)]
    columns = [chosen, stars.labels(chosen), [role] * len(chosen), ra[chosen], dec[chosen],
               row_median(m.mag[chosen]) if len(chosen) else [], m.color[chosen], finite.sum(axis=1), rms,
               row_median(np.where(finite, err, np.nan)) if len(chosen) else [], reduced_chi2(diff, err)]
    return Table(columns, names=STAR_COLUMNS, dtype=[int, str, str, *[float] * 4, int, *[float] * 3])


def _points(stars: NightStars, target: int, columns: dict[str, np.ndarray]) -> Table:
    """Return the target's rows: the frames it was measured in, in time order."""
    frames = np.flatnonzero(stars.matrices.present[target])
    info = [stars.frames[f] for f in frames]
    mjd = np.array([np.nan if f.mjd is None else f.mjd for f in info])
    table = Table({
        "frame": np.array([f.frame for f in info], dtype=str), "mjd": mjd, "jd": mjd + 2400000.5,
        "airmass": np.array([np.nan if f.airmass is None else f.airmass for f in info]),
        "band": np.array([f.band or "" for f in info], dtype=str),
        "filter": np.array([f.filter or "" for f in info], dtype=str),
        **{name: values[frames] for name, values in columns.items()},
    })
    table.sort("mjd")
    return table[list(POINT_COLUMNS)]


def star_lightcurve(
    stars: NightStars,
    *,
    ra: float,
    dec: float,
    comparison: Sequence[Any] | None = None,
    check: Any | None = None,
    criteria: ComparisonCriteria = ComparisonCriteria(),  # noqa: B008 - frozen
) -> StarLightCurve:
    """Return the calibrated and ensemble-differential light curve of the star at a position.

    Parameters
    ----------
    stars : NightStars
        The stars cross-identified over the frames so far.
    ra, dec : float
        The star's position (degrees; see :func:`rpf.lightcurves.target_position`
        for a table row or a name, :func:`rpf.coords.parse_position` for text).
    comparison : sequence, optional
        Comparison stars by star number or ``(ra, dec)``; default: chosen
        by :func:`~rpf.lightcurves.ensemble.select_comparison_stars` (not
        the target, its neighbours within ``criteria.exclusion_arcsec`` or
        known variables; similar brightness and colour; constant).
    check : int or (ra, dec), optional
        The check star; default: the best automatic candidate, left out of
        the ensemble (none when no candidate is spare).
    criteria : ComparisonCriteria
        Thresholds of the automatic choice.

    Returns
    -------
    StarLightCurve

    Raises
    ------
    rpf.errors.PhotometryError
        No star at the position, an unknown comparison or check star, or
        too few comparison stars.
    """
    target = stars.nearest(ra, dec)
    comps, check_star = _choose(stars, target, comparison, check, criteria)
    checks = np.array([] if check_star is None else [check_star], np.int64)
    m = stars.matrices
    inst, err = clean_measurements(m.inst, m.inst_err, m.flags)
    offset, offset_err = differential_offsets(inst, err, comps)
    scale = np.full(stars.n_stars, np.nan)
    needed = np.concatenate([[target], comps, checks])
    scale[needed] = calibration_scale(m.mag[needed], m.inst[needed], offset, np.arange(1, 1 + len(comps)))
    loo, loo_err = leave_one_out_offsets(inst, err, comps, offset)
    comp_diff, comp_err = inst[comps] - loo + scale[comps, None], np.hypot(err[comps], loo_err)
    check_diff = inst[checks] - offset + scale[checks, None]
    check_err = np.hypot(err[checks], offset_err)
    diff = m.inst[target] - offset + scale[target]
    diff_err = np.hypot(m.inst_err[target], offset_err)
    nan = np.full(stars.n_frames, np.nan)
    points = _points(stars, target, {
        "mag": m.mag[target], "mag_err": m.mag_err[target], "mag_inst": m.inst[target],
        "mag_inst_err": m.inst_err[target], "flags": m.flags[target], "diff_mag": diff, "diff_mag_err": diff_err,
        "offset": offset, "offset_err": offset_err, "n_comparison": np.isfinite(inst[comps]).sum(axis=0),
        "comparison_mag_inst": m.inst[comps[0]] if len(comps) == 1 else nan,
        "check_mag_inst": m.inst[check_star] if len(checks) else nan,
        "check_diff_mag": check_diff[0] if len(checks) else nan,
        "check_diff_mag_err": check_err[0] if len(checks) else nan,
    })
    rows = [(comps, "comparison", comp_diff, comp_err, m.inst[comps]), (checks, "check", check_diff, check_err,
                                                                         m.inst[checks])]
    good = np.isfinite(points["diff_mag"]) & np.isfinite(points["diff_mag_err"])
    star_ra, star_dec = stars.positions
    return StarLightCurve(
        star_id=target, label=stars.labels([target])[0], ra=float(star_ra[target]), dec=float(star_dec[target]),
        points=points, comparison=_stats(stars, comps, "comparison", comp_diff, comp_err),
        check=_stats(stars, checks, "check", check_diff, check_err), curves=_curves(stars, rows),
        rms=float(np.std(points["diff_mag"][good], ddof=1)) if good.sum() > 1 else float("nan"),
        chi2_dof=float(reduced_chi2(np.asarray(points["diff_mag"]), np.asarray(points["diff_mag_err"]))),
    )


def _curves(stars: NightStars, rows: list) -> Table:
    """Return the comparison and check stars' curves, one row per star and frame measured."""
    mjd = np.array([np.nan if f.mjd is None else f.mjd for f in stars.frames])
    star = np.concatenate([r[0] for r in rows])
    role = np.concatenate([[r[1]] * len(r[0]) for r in rows]).astype(str)
    diff, err, inst = (np.concatenate([r[k] for r in rows]) for k in (2, 3, 4))
    s, f = np.nonzero(np.isfinite(diff))
    names = np.array([frame.frame for frame in stars.frames], dtype=str)
    return Table([star[s], role[s], names[f], mjd[f], inst[s, f], diff[s, f], err[s, f]],
                 names=("star_id", "role", "frame", "mjd", "mag_inst", "diff_mag", "diff_mag_err"))


def write_star_lightcurve_csv(curve: StarLightCurve, path: str | os.PathLike[str]) -> Path:
    """Write the star's points (:data:`POINT_COLUMNS`) as CSV atomically; return the path."""
    with atomic_path(path) as temporary:
        curve.points.write(temporary, format="ascii.csv", overwrite=True)
    return Path(path)
