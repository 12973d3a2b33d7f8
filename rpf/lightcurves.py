"""Light curves: stars cross-identified across frames, optionally ensemble-differential.

Pure functions over per-frame catalogues (no Dask, no I/O except
:func:`write_lightcurves_csv`).  Stars are identified by sky position:
frames are taken in time order and each source joins a known star when the
two are mutual nearest neighbours within the match radius
(:func:`rpf.skymatch.match_sky`: one source per star per frame), otherwise it
starts a new star, so a transient gets its own star from the frame it first
appears in.  Ensemble differential photometry removes, per frame, the mean
offset of a set of comparison stars (chosen automatically as bright,
unflagged, constant stars present in every frame, or given by the user).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from rpf.errors import PhotometryError
from rpf.skymatch import match_sky, unit_vectors

__all__ = [
    "LIGHTCURVE_COLUMNS",
    "FramePhotometry",
    "build_lightcurves",
    "cross_identify",
    "differential_offsets",
    "select_comparison_stars",
    "write_lightcurves_csv",
]

LIGHTCURVE_COLUMNS = ("star_id", "ra", "dec", "frame", "mjd", "airmass", "mag", "mag_err", "flags")
"""The contract's columns of ``lightcurves.csv``, in order."""


def _values(table: Any, name: str, dtype: type = float) -> np.ndarray:
    if name not in table.colnames:
        raise PhotometryError(f"light curves: catalogue has no {name!r} column")
    column = table[name]
    return np.asarray(getattr(column, "value", column), dtype=dtype)


@dataclass(frozen=True)
class FramePhotometry:
    """The calibrated catalogue of one frame, as light curves need it.

    Attributes
    ----------
    frame : str
        Frame name.
    mjd : float or None
        Mid-exposure time.
    airmass : float or None
        Airmass.
    ra, dec : ndarray
        Source positions (degrees); non-finite positions are ignored.
    mag, mag_err : ndarray
        Calibrated magnitudes and their errors.
    flags : ndarray
        Source flag bitmasks (:class:`rpf.flags.SourceFlag`).
    """

    frame: str
    mjd: float | None
    airmass: float | None
    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray
    flags: np.ndarray

    @classmethod
    def from_table(cls, table: Any, *, frame: str, mjd: float | None, airmass: float | None) -> FramePhotometry:
        """Take ``ra, dec, mag, mag_err, flags`` from a photometry table (units dropped)."""
        flags = _values(table, "flags", np.int64) if "flags" in table.colnames else np.zeros(len(table), np.int64)
        return cls(
            frame=frame,
            mjd=mjd,
            airmass=airmass,
            ra=_values(table, "ra"),
            dec=_values(table, "dec"),
            mag=_values(table, "mag"),
            mag_err=_values(table, "mag_err"),
            flags=flags,
        )


def _time_order(frames: Sequence[FramePhotometry]) -> list[int]:
    return sorted(range(len(frames)), key=lambda i: (frames[i].mjd is None, frames[i].mjd or 0.0, i))


def cross_identify(
    frames: Sequence[FramePhotometry], *, radius_arcsec: float = 2.0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Give every source of every frame a star number by sky position.

    Parameters
    ----------
    frames : sequence of FramePhotometry
        The catalogues (any order; matched in time order).
    radius_arcsec : float
        Match radius.

    Returns
    -------
    ids : list of ndarray
        Per frame (in the input order), the star number of each source
        (-1 for sources without a finite position).
    ra, dec : ndarray
        Mean position of each star (degrees).
    """
    sums = np.empty((0, 3))
    ids: list[np.ndarray] = [np.full(len(f.ra), -1, np.int64) for f in frames]
    for i in _time_order(frames):
        frame = frames[i]
        good = np.flatnonzero(np.isfinite(frame.ra) & np.isfinite(frame.dec))
        xyz = unit_vectors(frame.ra[good], frame.dec[good])
        star = np.full(len(good), -1, np.int64)
        if len(sums):
            star_ra, star_dec = _radec(sums)
            source, known = match_sky(frame.ra[good], frame.dec[good], star_ra, star_dec, radius_arcsec=radius_arcsec)
            star[source] = known
        new = star < 0
        star[new] = np.arange(len(sums), len(sums) + new.sum())
        sums = np.vstack([sums, np.zeros((new.sum(), 3))])
        np.add.at(sums, star, xyz)
        ids[i][good] = star
    if not len(sums):
        return ids, np.empty(0), np.empty(0)
    ra, dec = _radec(sums)
    return ids, ra, dec


def _radec(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean direction (degrees) of sums of unit vectors."""
    unit = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return np.degrees(np.arctan2(unit[:, 1], unit[:, 0])) % 360.0, np.degrees(np.arcsin(np.clip(unit[:, 2], -1, 1)))


def _matrices(
    frames: Sequence[FramePhotometry], ids: list[np.ndarray], n_stars: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = (n_stars, len(frames))
    mag, err = np.full(shape, np.nan), np.full(shape, np.nan)
    flags = np.zeros(shape, np.int64)
    for f, (frame, star) in enumerate(zip(frames, ids, strict=True)):
        ok = star >= 0
        mag[star[ok], f], err[star[ok], f], flags[star[ok], f] = frame.mag[ok], frame.mag_err[ok], frame.flags[ok]
    return mag, err, flags


def differential_offsets(
    mag: np.ndarray, err: np.ndarray, comparison: np.ndarray, *, iterations: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ensemble offsets of the comparison stars.

    Solves ``mag[s, f] = m_s + offset_f`` for the comparison stars by
    alternating weighted means (the offsets average to zero).

    Parameters
    ----------
    mag, err : ndarray
        ``(n_stars, n_frames)`` magnitudes and errors (NaN where absent).
    comparison : ndarray of int
        Star numbers of the comparison stars.
    iterations : int
        Alternations of the solution.

    Returns
    -------
    offset, offset_err : ndarray
        Per frame (NaN for a frame without any comparison star).
    """
    m, e = mag[comparison], err[comparison]
    weight = np.where(np.isfinite(m) & np.isfinite(e) & (e > 0), 1.0 / np.where(e > 0, e, 1.0) ** 2, 0.0)
    m = np.where(weight > 0, m, 0.0)
    total = weight.sum(axis=0)
    offset = np.zeros(mag.shape[1])
    for _ in range(iterations):
        star_mean = (weight * (m - offset)).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-300)
        offset = (weight * (m - star_mean[:, None])).sum(axis=0) / np.maximum(total, 1e-300)
        offset -= np.average(offset, weights=total) if total.sum() > 0 else 0.0
    with np.errstate(divide="ignore"):
        offset_err = np.where(total > 0, 1.0 / np.sqrt(total), np.nan)
    return np.where(total > 0, offset, np.nan), offset_err


def select_comparison_stars(
    mag: np.ndarray,
    err: np.ndarray,
    flags: np.ndarray,
    *,
    n_max: int = 20,
    max_err: float = 0.05,
    max_chi2: float = 3.0,
) -> np.ndarray:
    """Choose constant, bright, unflagged stars present in every frame.

    Candidates are the stars measured (finite magnitude, no flag) in every
    frame, brightest first (smallest median error, at most ``max_err``
    unless fewer than three qualify); stars whose reduced chi-square about
    the ensemble solution exceeds ``max_chi2`` are dropped one at a time,
    worst first, until all remaining ones are constant.

    Returns
    -------
    ndarray of int
        Star numbers of the comparison stars.

    Raises
    ------
    rpf.errors.PhotometryError
        When fewer than two stars qualify.
    """
    complete = np.all(np.isfinite(mag) & np.isfinite(err) & (err > 0) & (flags == 0), axis=1)
    candidates = np.flatnonzero(complete)
    median_err = np.median(err[candidates], axis=1) if len(candidates) else np.empty(0)
    order = candidates[np.argsort(median_err)]
    bright = order[np.sort(median_err) <= max_err]
    chosen = (bright if len(bright) >= 3 else order)[: 3 * n_max]
    while len(chosen) > 2:
        offset, _ = differential_offsets(mag, err, chosen)
        resid = mag[chosen] - offset
        mean = np.average(resid, axis=1, weights=1 / err[chosen] ** 2)
        chi2 = np.mean(((resid - mean[:, None]) / err[chosen]) ** 2, axis=1)
        worst = int(np.argmax(chi2))
        if chi2[worst] <= max_chi2:
            break
        chosen = np.delete(chosen, worst)
    if len(chosen) < 2:
        raise PhotometryError(
            f"differential photometry: {len(chosen)} constant unflagged star(s) in all {mag.shape[1]} frames; need 2"
        )
    return chosen[:n_max]


def _user_comparison(comparison: Sequence[Any], ra: np.ndarray, dec: np.ndarray, radius_arcsec: float) -> np.ndarray:
    chosen = []
    for item in comparison:
        if np.ndim(item) == 0:
            star = int(item)
            if not 0 <= star < len(ra):
                raise PhotometryError(f"differential photometry: no star number {star}")
        else:
            c_ra, c_dec = (float(v) for v in item)
            _, found = match_sky([c_ra], [c_dec], ra, dec, radius_arcsec=radius_arcsec)
            if found.size == 0:
                raise PhotometryError(f"differential photometry: no star within {radius_arcsec}\" of {c_ra}, {c_dec}")
            star = int(found[0])
        chosen.append(star)
    if len(chosen) < 1:
        raise PhotometryError("differential photometry: empty list of comparison stars")
    return np.array(chosen, np.int64)


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
        chosen automatically (:func:`select_comparison_stars`).
    n_comparison : int
        Most comparison stars chosen automatically.

    Returns
    -------
    astropy.table.Table
        :data:`LIGHTCURVE_COLUMNS` (star position = mean over frames), sorted
        by star then time; ``meta['comparison']`` lists the comparison stars.
    """
    ids, star_ra, star_dec = cross_identify(frames, radius_arcsec=radius_arcsec)
    mag, err, flags = _matrices(frames, ids, len(star_ra))
    present = np.zeros(mag.shape, bool)
    for f, star in enumerate(ids):
        present[star[star >= 0], f] = True
    stars, cols = np.nonzero(present)
    mjd = np.array([np.nan if f.mjd is None else f.mjd for f in frames])
    airmass = np.array([np.nan if f.airmass is None else f.airmass for f in frames])
    table = Table(
        {
            "star_id": stars,
            "ra": star_ra[stars],
            "dec": star_dec[stars],
            "frame": np.array([frames[c].frame for c in cols], dtype=str),
            "mjd": mjd[cols],
            "airmass": airmass[cols],
            "mag": mag[stars, cols],
            "mag_err": err[stars, cols],
            "flags": flags[stars, cols],
        }
    )
    if differential:
        chosen = (
            _user_comparison(comparison, star_ra, star_dec, radius_arcsec)
            if comparison is not None
            else select_comparison_stars(mag, err, flags, n_max=n_comparison)
        )
        offset, offset_err = differential_offsets(mag, err, chosen)
        table["diff_mag"] = mag[stars, cols] - offset[cols]
        table["diff_mag_err"] = np.hypot(err[stars, cols], offset_err[cols])
        table["comparison"] = np.isin(stars, chosen)
        table.meta["comparison"] = [int(s) for s in chosen]
    table.sort(["star_id", "mjd"])
    return table


def write_lightcurves_csv(table: Table, path: str | os.PathLike[str]) -> Path:
    """Write the light-curve table as CSV atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    out = Table(table, copy=False)
    out.meta = {}
    out.write(partial, format="ascii.csv", overwrite=True)
    os.replace(partial, path)
    return path
