"""Ensemble differential photometry: the comparison stars, their per-frame offset, their scatter.

Model: the instrumental magnitude of comparison star ``s`` in frame ``f`` is
``m[s, f] = M_s + O_f`` (``O_f`` the frame's transparency and zero point);
:func:`differential_offsets` solves it by weighted least squares (alternating
means, offsets averaging to zero).  A star's differential magnitude is
``m[t, f] - O_f``; each comparison star's own curve is taken against the
ensemble without it (leave one out), so its scatter is an honest test of the
errors.  :func:`select_comparison_stars` picks the ensemble (the rules are in
its docstring and in ``docs/lightcurves.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rpf.errors import PhotometryError
from rpf.flags import SourceFlag

__all__ = [
    "PERSISTENT_FLAGS",
    "TRANSIENT_FLAGS",
    "ComparisonCriteria",
    "calibration_scale",
    "clean_measurements",
    "differential_offsets",
    "leave_one_out_offsets",
    "reduced_chi2",
    "row_median",
    "select_comparison_stars",
    "usable",
]

PERSISTENT_FLAGS = SourceFlag.SATURATED | SourceFlag.BLENDED | SourceFlag.CROWDED | SourceFlag.EXTENDED
"""A star flagged so in any frame is never a comparison star (non-linear, or its light is shared)."""
TRANSIENT_FLAGS = SourceFlag.EDGE | SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL
"""A comparison star's measurement flagged so is left out of that frame only."""


@dataclass(frozen=True)
class ComparisonCriteria:
    """How comparison (and check) stars are chosen automatically.

    Attributes
    ----------
    n_max : int
        Most comparison stars in the ensemble.
    min_stars : int
        Fewest comparison stars; fewer qualifying is an error.
    min_coverage : float
        Fraction of the frames in which a comparison star must have a clean
        measurement.
    max_err : float
        Largest median magnitude error of a candidate (mag), unless fewer
        than ``min_stars + 1`` stars meet it.
    max_chi2 : float
        Largest reduced chi-square of a comparison star about the ensemble;
        worse stars are dropped one at a time, worst first.
    mag_window, color_window : float
        With a target: candidates within this many magnitudes (and this
        much BP-RP colour, when both colours are known) of the target; the
        windows double (up to three times) until enough stars qualify.
    exclusion_arcsec : float
        Stars closer than this to the target are never comparison stars
        (its light would leak into their apertures).
    """

    n_max: int = 12
    min_stars: int = 2
    min_coverage: float = 0.8
    max_err: float = 0.05
    max_chi2: float = 3.0
    mag_window: float = 1.5
    color_window: float = 0.5
    exclusion_arcsec: float = 15.0

    def __post_init__(self) -> None:
        if not (1 <= self.min_stars <= self.n_max and 0 < self.min_coverage <= 1 and self.max_err > 0
                and self.max_chi2 > 0 and self.mag_window > 0 and self.color_window > 0
                and self.exclusion_arcsec >= 0):
            raise PhotometryError(f"comparison criteria out of range: {self}")


def usable(inst: np.ndarray, err: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Return the ``(n_stars, n_frames)`` mask of clean, finite measurements with a positive error."""
    return np.isfinite(inst) & np.isfinite(err) & (err > 0) & ((flags & int(TRANSIENT_FLAGS | PERSISTENT_FLAGS)) == 0)


def row_median(values: np.ndarray) -> np.ndarray:
    """Median of each row over its finite values (NaN for a row without any); faster than ``np.nanmedian``."""
    values = np.atleast_2d(np.asarray(values, float))
    ordered = np.sort(np.where(np.isfinite(values), values, np.inf), axis=1)
    n = np.isfinite(values).sum(axis=1)
    low = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[:, None], axis=1)[:, 0]
    high = np.take_along_axis(ordered, np.maximum(n // 2, 0)[:, None], axis=1)[:, 0]
    return np.where(n > 0, 0.5 * (low + high), np.nan)


def clean_measurements(inst: np.ndarray, err: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``inst`` and ``err`` with the unusable measurements (:func:`usable`) set to NaN."""
    clean = usable(inst, err, flags)
    return np.where(clean, inst, np.nan), np.where(clean, err, np.nan)


def calibration_scale(mag: np.ndarray, inst: np.ndarray, offset: np.ndarray, comparison: np.ndarray) -> np.ndarray:
    """Per star, the constant putting ``inst - offset`` on the calibrated scale.

    The median over frames of ``mag - inst + offset`` (the frame's zero point
    with the ensemble's variation removed, plus the star's colour term);
    for a star never calibrated, the median of the comparison stars' values.
    """
    scale = row_median(mag - inst + offset) if mag.shape[1] else np.full(mag.shape[0], np.nan)
    return np.where(np.isfinite(scale), scale, row_median(scale[comparison][None])[0])


def _weights(mag: np.ndarray, err: np.ndarray) -> np.ndarray:
    good = np.isfinite(mag) & np.isfinite(err) & (err > 0)
    return np.where(good, 1.0 / np.where(good, err, 1.0) ** 2, 0.0)


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
    m, weight = mag[comparison], _weights(mag[comparison], err[comparison])
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


def leave_one_out_offsets(
    mag: np.ndarray, err: np.ndarray, comparison: np.ndarray, offset: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return each comparison star's frame offsets from the ensemble without it.

    With the star means ``m_s`` of the full solution, the offset without
    star ``c`` is the weighted mean of ``mag[s, f] - m_s`` over the others.

    Returns
    -------
    offset, offset_err : ndarray
        ``(len(comparison), n_frames)``; NaN where no other comparison star
        was measured.
    """
    m, weight = mag[comparison], _weights(mag[comparison], err[comparison])
    resid = np.where(weight > 0, m - np.nan_to_num(offset), 0.0)
    star_mean = (weight * resid).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-300)
    dev = np.where(weight > 0, m - star_mean[:, None], 0.0)
    total, summed = weight.sum(axis=0), (weight * dev).sum(axis=0)
    rest = total[None, :] - weight
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = (summed[None, :] - weight * dev) / rest
        loo_err = 1.0 / np.sqrt(rest)
    ok = rest > 1e-12 * np.maximum(total[None, :], 1e-300)
    return np.where(ok, loo, np.nan), np.where(ok, loo_err, np.nan)


def reduced_chi2(values: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Reduced chi-square of each row about its weighted mean (NaN with fewer than two points)."""
    weight = _weights(values, errors)
    v = np.where(weight > 0, values, 0.0)
    n = (weight > 0).sum(axis=-1)
    mean = (weight * v).sum(axis=-1) / np.maximum(weight.sum(axis=-1), 1e-300)
    chi2 = (weight * (v - mean[..., None]) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 1, chi2 / (n - 1), np.nan)


def _candidates(
    inst: np.ndarray, err: np.ndarray, flags: np.ndarray, criteria: ComparisonCriteria, exclude: np.ndarray
) -> np.ndarray:
    """Stars never flagged persistently, measured cleanly in enough frames, not excluded."""
    clean = usable(inst, err, flags)
    never = ~np.any((flags & int(PERSISTENT_FLAGS)) != 0, axis=1)
    enough = clean.sum(axis=1) >= np.ceil(criteria.min_coverage * inst.shape[1] - 1e-9)
    return np.flatnonzero(never & enough & ~exclude & (inst.shape[1] > 0))


def _reject_variable(
    inst: np.ndarray, err: np.ndarray, chosen: np.ndarray, criteria: ComparisonCriteria
) -> np.ndarray:
    """Drop the worst star while its reduced chi-square about the others exceeds the limit."""
    while len(chosen) > criteria.min_stars:
        offset, _ = differential_offsets(inst, err, chosen)
        loo, loo_err = leave_one_out_offsets(inst, err, chosen, offset)
        chi2 = reduced_chi2(inst[chosen] - loo, np.hypot(err[chosen], loo_err))
        chi2 = np.where(np.isfinite(chi2), chi2, np.inf)
        worst = int(np.argmax(chi2))
        if chi2[worst] <= criteria.max_chi2:
            break
        chosen = np.delete(chosen, worst)
    return chosen


def select_comparison_stars(
    inst: np.ndarray,
    err: np.ndarray,
    flags: np.ndarray,
    *,
    criteria: ComparisonCriteria = ComparisonCriteria(),  # noqa: B008 - frozen
    target_mag: float | None = None,
    target_color: float | None = None,
    color: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """Choose constant, unflagged comparison stars, similar to the target when one is given.

    Rules, in order:

    1. Candidates are never flagged ``SATURATED``, ``BLENDED``, ``CROWDED``
       or ``EXTENDED`` (:data:`PERSISTENT_FLAGS`), have a clean measurement
       in at least ``min_coverage`` of the frames, and are not excluded
       (``exclude``: the target, its neighbours, known variables).
    2. Candidates with a median error above ``max_err`` are dropped, unless
       fewer than ``min_stars + 1`` would remain.
    3. With a target magnitude: only stars within ``mag_window`` of it (and
       within ``color_window`` of its colour when both are known); the
       windows double, up to three times, until ``min_stars + 1`` qualify.
       Candidates are ranked by ``(dm / mag_window)**2 + (dc / color_window)**2``
       (an unknown colour counts as ``dc = color_window``); without a target,
       by median error (brightest first).
    4. Of the best ``3 * n_max``, the star whose curve against the others has
       the largest reduced chi-square is dropped while that exceeds
       ``max_chi2``; the best ``n_max`` remaining are returned, in rank order.

    Parameters
    ----------
    inst, err, flags : ndarray
        ``(n_stars, n_frames)`` instrumental magnitudes, errors and flags.
    criteria : ComparisonCriteria
        The thresholds.
    target_mag, target_color : float, optional
        The target's median magnitude (same scale as ``inst``) and colour.
    color : ndarray, optional
        Each star's colour (NaN when unknown).
    exclude : ndarray of bool, optional
        Stars that may not be chosen.

    Returns
    -------
    ndarray of int
        Star numbers, best first.

    Raises
    ------
    rpf.errors.PhotometryError
        When fewer than ``min_stars`` stars qualify.
    """
    n_stars, n_frames = inst.shape
    exclude = np.zeros(n_stars, bool) if exclude is None else exclude
    candidates = _candidates(inst, err, flags, criteria, exclude)
    masked_err = np.where(usable(inst, err, flags), err, np.nan)[candidates]
    median_err = row_median(masked_err) if len(candidates) else np.empty(0)
    bright = median_err <= criteria.max_err
    if bright.sum() >= criteria.min_stars + 1:
        candidates, median_err = candidates[bright], median_err[bright]
    if target_mag is not None and np.isfinite(target_mag) and len(candidates):
        candidates = _similar(inst, candidates, criteria, target_mag, target_color, color)
    else:
        candidates = candidates[np.argsort(median_err, kind="stable")]
    chosen = _reject_variable(inst, err, candidates[: 3 * criteria.n_max], criteria)
    if len(chosen) < criteria.min_stars:
        raise PhotometryError(
            f"differential photometry: {len(chosen)} constant unflagged star(s) measured in "
            f"{criteria.min_coverage:.0%} of {n_frames} frames; need {criteria.min_stars}"
        )
    return chosen[: criteria.n_max]


def _similar(
    inst: np.ndarray,
    candidates: np.ndarray,
    criteria: ComparisonCriteria,
    target_mag: float,
    target_color: float | None,
    color: np.ndarray | None,
) -> np.ndarray:
    """Candidates within the (widening) brightness and colour windows, closest first."""
    level = row_median(inst[candidates])
    dm = np.abs(level - target_mag)
    known = color is not None and target_color is not None and np.isfinite(target_color)
    dc = np.abs(color[candidates] - target_color) if known else np.full(len(candidates), np.nan)
    for widen in (1, 2, 4, 8):
        mag_ok = dm <= criteria.mag_window * widen
        color_ok = ~(dc > criteria.color_window * widen)  # unknown colours pass
        keep = mag_ok & color_ok
        if keep.sum() >= criteria.min_stars + 1:
            break
    score = (dm / criteria.mag_window) ** 2 + (np.where(np.isfinite(dc), dc, criteria.color_window)
                                               / criteria.color_window) ** 2
    order = np.argsort(np.where(keep, score, np.inf), kind="stable")
    return candidates[order[: int(keep.sum())]]
