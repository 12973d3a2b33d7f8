"""One sky matcher and one match radius, for the zero point, the cross-matches and the light curves.

Matching rule (:func:`match_sky`): among the pairs of rows of the first and
second sets closer than the radius (a scalar, or one radius per row of the
second set), a pair is kept when its two rows are each other's nearest
partner ("mutual nearest"); the rows so matched are set aside and the rule
is applied again to the rest, until no pair is left.  This is the same as
taking the pairs nearest first and keeping a pair when neither row is
already used: every row of either set is matched at most once, to its
nearest partner when that partner is not closer to another row, else to
the nearest one still free.  Rows with a non-finite position never match.

Radius rule (:func:`match_radius_arcsec`):
``r = max(3 * wcs_rms, 0.5 * fwhm)`` clipped to ``[minimum, maximum]``.
Three times the astrometric RMS covers the position error of almost every
star (for two frames, each with RMS ``s``, give ``wcs_rms = s * sqrt(2)``,
the RMS of their difference); half a FWHM is the radius within which two
detections cannot be resolved neighbours.  When neither is known the radius
is ``maximum``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.spatial import cKDTree

__all__ = ["match_radius_arcsec", "match_sky", "pairs_within", "unit_vectors"]

_ARCSEC = math.pi / 180.0 / 3600.0


def unit_vectors(ra: ArrayLike, dec: ArrayLike) -> np.ndarray:
    """Return the ``(n, 3)`` Cartesian unit vectors of positions in degrees."""
    r, d = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])


def _radii(radius_arcsec: ArrayLike, n2: int) -> np.ndarray:
    radius = np.asarray(radius_arcsec, float)
    if radius.ndim == 0:
        if not (math.isfinite(float(radius)) and radius >= 0):
            msg = f"match radius must be a finite number >= 0 arcsec, got {float(radius)}"
            raise ValueError(msg)
        return np.full(n2, float(radius))
    if radius.shape != (n2,):
        msg = f"per-row match radii must have one value per row of the second set ({n2}), got shape {radius.shape}"
        raise ValueError(msg)
    return radius


def pairs_within(
    ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike, dec2: ArrayLike, *, radius_arcsec: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every pair of positions closer than the radius.

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : array_like
        Positions of the two sets (degrees).
    radius_arcsec : float or array_like
        One radius, or one per row of the second set (NaN: the row never matches).

    Returns
    -------
    i1, i2 : ndarray of int
        Row indices of each pair.
    separation_arcsec : ndarray of float
        Their great-circle separation.
    """
    ra1, dec1 = np.atleast_1d(np.asarray(ra1, float)), np.atleast_1d(np.asarray(dec1, float))
    ra2, dec2 = np.atleast_1d(np.asarray(ra2, float)), np.atleast_1d(np.asarray(dec2, float))
    radius = _radii(radius_arcsec, ra2.size)
    empty = np.empty(0, np.intp)
    good1 = np.flatnonzero(np.isfinite(ra1) & np.isfinite(dec1))
    good2 = np.flatnonzero(np.isfinite(ra2) & np.isfinite(dec2) & np.isfinite(radius))
    if good1.size == 0 or good2.size == 0:
        return empty, empty, np.empty(0)
    largest = float(np.max(radius[good2]))
    chord = 2.0 * math.sin(min(largest * _ARCSEC, math.pi) / 2.0)
    tree1 = cKDTree(unit_vectors(ra1[good1], dec1[good1]))
    tree2 = cKDTree(unit_vectors(ra2[good2], dec2[good2]))
    found = tree1.sparse_distance_matrix(tree2, chord, output_type="ndarray")
    i1, i2 = good1[found["i"].astype(np.intp)], good2[found["j"].astype(np.intp)]
    separation = 2.0 * np.arcsin(np.minimum(found["v"] / 2.0, 1.0)) / _ARCSEC
    keep = separation <= radius[i2]
    return i1[keep], i2[keep], separation[keep]


def match_sky(
    ra1: ArrayLike, dec1: ArrayLike, ra2: ArrayLike, dec2: ArrayLike, *, radius_arcsec: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Match two sets of sky positions one-to-one (mutual nearest within the radius, repeated).

    Parameters
    ----------
    ra1, dec1 : array_like
        First set (e.g. detections), degrees.
    ra2, dec2 : array_like
        Second set (e.g. a catalogue), degrees.
    radius_arcsec : float or array_like
        Match radius, or one per row of the second set (e.g. a catalogue's
        own position errors folded in).

    Returns
    -------
    i1, i2 : ndarray of int
        Matched rows, sorted by ``i1``; each row of either set at most once
        (see the module's matching rule).

    Raises
    ------
    ValueError
        A negative or non-finite scalar radius, or per-row radii of the wrong length.

    Examples
    --------
    >>> i1, i2 = match_sky([10.0, 10.001], [0.0, 0.0], [10.0003], [0.0], radius_arcsec=2.0)
    >>> i1.tolist(), i2.tolist()
    ([0], [0])
    """
    i1, i2, separation = pairs_within(ra1, dec1, ra2, dec2, radius_arcsec=radius_arcsec)
    order = np.lexsort((i2, i1, separation))
    i1, i2 = i1[order], i2[order]
    found1, found2 = [], []
    while i1.size:
        mutual = _first(i1) & _first(i2)
        found1.append(i1[mutual])
        found2.append(i2[mutual])
        free = ~np.isin(i1, i1[mutual]) & ~np.isin(i2, i2[mutual])
        i1, i2 = i1[free], i2[free]
    if not found1:
        return i1, i2
    i1, i2 = np.concatenate(found1), np.concatenate(found2)
    by_first = np.argsort(i1, kind="stable")
    return i1[by_first], i2[by_first]


def _first(index: np.ndarray) -> np.ndarray:
    """Return a mask of the first occurrence of each value (the nearest pair, the pairs being sorted)."""
    first = np.zeros(index.size, bool)
    first[np.unique(index, return_index=True)[1]] = True
    return first


def match_radius_arcsec(
    *, fwhm_arcsec: float | None, wcs_rms_arcsec: float | None, minimum: float, maximum: float
) -> float:
    """Return the match radius ``max(3 * wcs_rms, 0.5 * fwhm)`` clipped to ``[minimum, maximum]``.

    Unknown inputs (None, NaN, negative) are ignored; with neither known the
    radius is ``maximum``.

    Parameters
    ----------
    fwhm_arcsec : float or None
        Seeing FWHM of the detections.
    wcs_rms_arcsec : float or None
        RMS of the position differences being matched (the astrometric RMS
        against a catalogue; ``sqrt(2)`` times it between two frames).
    minimum, maximum : float
        Bounds of the radius (arcsec), ``0 < minimum <= maximum``.

    Raises
    ------
    ValueError
        Bounds that are not ``0 < minimum <= maximum``.

    Examples
    --------
    >>> match_radius_arcsec(fwhm_arcsec=3.0, wcs_rms_arcsec=0.8, minimum=1.0, maximum=10.0)
    2.4000000000000004
    """
    if not (0 < minimum <= maximum and math.isfinite(maximum)):
        msg = f"match radius bounds must satisfy 0 < minimum <= maximum, got {minimum}, {maximum}"
        raise ValueError(msg)
    terms = [3.0 * v for v in (wcs_rms_arcsec,) if v is not None and math.isfinite(v) and v >= 0]
    terms += [0.5 * v for v in (fwhm_arcsec,) if v is not None and math.isfinite(v) and v >= 0]
    radius = max(terms) if terms else maximum
    return float(min(max(radius, minimum), maximum))
