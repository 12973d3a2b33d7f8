"""Pointing-assisted plate solving by triangle hashing against a reference catalogue.

Triangles of bright sources and of reference stars are described by their
side ratios (invariant to shift, rotation, scale and mirroring).  Matching
triangles whose size agrees with the expected pixel scale give candidate
similarity transforms, which are verified by counting how many bright
sources land on a reference star.  The best one becomes a linear TAN WCS.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from rpf.astrometry.match import tangent_plane
from rpf.errors import AstrometryError

__all__ = ["solve_triangles"]

#: Bright sources used to build and verify triangles.
N_IMAGE = 30
#: Of which the brightest form the image triangles.
N_TRIANGLE = 25
#: Longest triangle side as a fraction of the shorter image side.
MAX_SIDE_FRACTION = 0.5
#: Reference stars kept per image area, per bright source used.
REFERENCE_DENSITY = 1.2
#: Tolerance on the side-ratio invariants.
RATIO_TOLERANCE = 0.012
#: Candidate transforms verified per batch.
BATCH = 512
#: Upper bound of reference triangles.
MAX_REF_TRIANGLES = 3_000_000


def _describe(points: np.ndarray, tri: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return invariants, longest side, canonical vertex order and orientation of triangles."""
    p = points[tri]
    opposite = np.stack([np.hypot(*(p[:, 1] - p[:, 2]).T), np.hypot(*(p[:, 0] - p[:, 2]).T),
                         np.hypot(*(p[:, 0] - p[:, 1]).T)], axis=1)
    order = np.argsort(opposite, axis=1)
    sides = np.take_along_axis(opposite, order, axis=1)
    canon = np.take_along_axis(tri, order, axis=1)
    q = points[canon]
    e1, e2 = q[:, 1] - q[:, 0], q[:, 2] - q[:, 0]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        feats = np.column_stack([sides[:, 0] / sides[:, 2], sides[:, 1] / sides[:, 2]])
    return feats, sides[:, 2], canon, np.sign(cross)


def _image_triangles(points: np.ndarray, *, min_side: float, max_side: float) -> np.ndarray:
    tri = np.array(list(itertools.combinations(range(min(len(points), N_TRIANGLE)), 3)), int).reshape(-1, 3)
    p = points[tri]
    sides = np.stack([np.hypot(*(p[:, a] - p[:, b]).T) for a, b in ((0, 1), (1, 2), (0, 2))], axis=1)
    return tri[(sides.min(axis=1) >= min_side) & (sides.max(axis=1) <= max_side)]


def _reference_triangles(points: np.ndarray, *, max_side: float, min_side: float) -> np.ndarray:
    tree = cKDTree(points)
    out = []
    total = 0
    for i, neighbours in enumerate(tree.query_ball_point(points, max_side)):
        nb = np.array([j for j in neighbours if j > i], int)
        if len(nb) < 2:
            continue
        j, k = np.array(list(itertools.combinations(nb, 2)), int).T
        d_ij = np.hypot(*(points[j] - points[i]).T)
        d_ik = np.hypot(*(points[k] - points[i]).T)
        d_jk = np.hypot(*(points[k] - points[j]).T)
        ok = (d_jk <= max_side) & (np.minimum(np.minimum(d_ij, d_ik), d_jk) >= min_side)
        out.append(np.column_stack([np.full(ok.sum(), i), j[ok], k[ok]]))
        total += int(ok.sum())
        if total > MAX_REF_TRIANGLES:
            break
    return np.concatenate(out) if out else np.zeros((0, 3), int)


def _select_reference(xi: np.ndarray, eta: np.ndarray, *, cell: float, quota: int) -> np.ndarray:
    """Return the indices of the brightest ``quota`` stars per square cell (input ordered brightest first)."""
    key = np.floor(xi / cell).astype(np.int64) * 1_000_003 + np.floor(eta / cell).astype(np.int64)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    rank = np.arange(len(key)) - np.repeat(starts, np.diff(np.r_[starts, len(key)]))
    return np.sort(order[rank < quota])


def _similarities(zi: np.ndarray, zr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``zr = a zi + b`` for batches of 3 complex points."""
    mi, mr = zi.mean(axis=1, keepdims=True), zr.mean(axis=1, keepdims=True)
    a = np.sum((zr - mr) * np.conj(zi - mi), axis=1) / np.sum(np.abs(zi - mi) ** 2, axis=1)
    return a, mr[:, 0] - a * mi[:, 0]


def _to_wcs(a: complex, b: complex, parity: int, *, ra0: float, dec0: float, scale: float,
            shape: tuple[int, int]) -> WCS:
    ny, nx = shape
    cd = np.array([[a.real, -a.imag], [a.imag, a.real]]) @ np.diag([float(parity), 1.0]) * scale / 3600.0
    q0 = -b / a
    x0 = (nx - 1) / 2.0 + parity * q0.real / scale
    y0 = (ny - 1) / 2.0 + q0.imag / scale
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra0, dec0]
    wcs.wcs.crpix = [x0 + 1.0, y0 + 1.0]
    wcs.wcs.cd = cd
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.set()
    wcs.pixel_shape = (nx, ny)
    return wcs


def solve_triangles(
    xy: np.ndarray,
    ref_ra: np.ndarray,
    ref_dec: np.ndarray,
    *,
    shape: tuple[int, int],
    ra0: float,
    dec0: float,
    pixel_scale: float,
    scale_tolerance: float,
    search_radius_deg: float,
    time_limit_s: float,
) -> WCS:
    """Find a linear TAN WCS near a pointing by triangle hashing (any rotation, mirrored too).

    Parameters
    ----------
    xy : numpy.ndarray
        ``(n, 2)`` 0-based pixel positions, brightest first.
    ref_ra, ref_dec : numpy.ndarray
        Reference stars (deg), brightest first.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    ra0, dec0 : float
        Approximate pointing (deg).
    pixel_scale : float
        Approximate pixel scale (arcsec/px).
    scale_tolerance : float
        Fractional uncertainty of the pixel scale.
    search_radius_deg : float
        Largest distance of the true centre from the pointing.
    time_limit_s : float
        Give up after this long.

    Returns
    -------
    astropy.wcs.WCS
        Linear TAN solution (to be refined).

    Raises
    ------
    AstrometryError
        Too few stars, or no verified match within the time limit.
    """
    start = time.monotonic()
    ny, nx = shape
    img = np.asarray(xy, float)[:N_IMAGE]
    if len(img) < 5:
        msg = f"only {len(img)} sources to match"
        raise AstrometryError(msg)
    centre = np.array([(nx - 1) / 2.0, (ny - 1) / 2.0])
    pts = (img - centre) * pixel_scale
    field = min(nx, ny) * pixel_scale
    radius = search_radius_deg * 3600.0 + 0.5 * math.hypot(nx, ny) * pixel_scale * (1 + scale_tolerance)
    xi, eta = tangent_plane(np.asarray(ref_ra, float), np.asarray(ref_dec, float), ra0=ra0, dec0=dec0)
    xi, eta = xi * 3600.0, eta * 3600.0
    near = np.flatnonzero(np.isfinite(xi) & (np.hypot(xi, eta) <= radius))
    cell = field / 2.0
    quota = max(2, math.ceil(REFERENCE_DENSITY * len(img) * cell**2 / (nx * ny * pixel_scale**2)))
    chosen = near[_select_reference(xi[near], eta[near], cell=cell, quota=quota)]
    if len(chosen) < 5:
        msg = f"only {len(chosen)} reference stars within {search_radius_deg:g} deg of the pointing"
        raise AstrometryError(msg)
    ref = np.column_stack([xi[chosen], eta[chosen]])
    min_side = 0.05 * field
    img_tri = _image_triangles(pts, min_side=min_side, max_side=MAX_SIDE_FRACTION * field)
    fi, li, ci, si = _describe(pts, img_tri)
    ref_tri = _reference_triangles(ref, max_side=MAX_SIDE_FRACTION * field * (1 + scale_tolerance),
                                   min_side=min_side * (1 - scale_tolerance))
    if len(ref_tri) == 0 or len(img_tri) == 0:
        msg = "no usable triangles of stars"
        raise AstrometryError(msg)
    fr, lr, cr, sr = _describe(ref, ref_tri)
    pairs = cKDTree(fi).sparse_distance_matrix(cKDTree(fr), RATIO_TOLERANCE, output_type="ndarray")
    ratio = lr[pairs["j"]] / li[pairs["i"]]
    good = np.abs(ratio - 1.0) <= scale_tolerance * 1.05
    pairs = pairs[good][np.argsort(pairs["v"][good], kind="stable")]
    ref_tree = cKDTree(ref)
    tol = max(2.0, 3.0 * pixel_scale)
    target = max(8, len(img) // 2)
    best = (0, None)
    z_all = pts[:, 0] + 1j * pts[:, 1]
    for first in range(0, len(pairs), BATCH):
        if time.monotonic() - start > time_limit_s:
            break
        batch = pairs[first:first + BATCH]
        parity = (si[batch["i"]] * sr[batch["j"]]).astype(int)
        parity[parity == 0] = 1
        vi = pts[ci[batch["i"]]]
        zi = parity[:, None] * vi[..., 0] + 1j * vi[..., 1]
        vr = ref[cr[batch["j"]]]
        a, b = _similarities(zi, vr[..., 0] + 1j * vr[..., 1])
        plausible = (np.abs(np.abs(a) - 1.0) <= scale_tolerance * 1.1) & (np.abs(b) <= radius)
        if not plausible.any():
            continue
        a, b, parity = a[plausible], b[plausible], parity[plausible]
        z = a[:, None] * (parity[:, None] * z_all.real + 1j * z_all.imag) + b[:, None]
        dist, _ = ref_tree.query(np.column_stack([z.real.ravel(), z.imag.ravel()]), distance_upper_bound=tol)
        counts = np.isfinite(dist).reshape(z.shape).sum(axis=1)
        k = int(np.argmax(counts))
        if counts[k] > best[0]:
            best = (int(counts[k]), (complex(a[k]), complex(b[k]), int(parity[k])))
        if best[0] >= target:
            break
    n, found = best
    if found is None or n < max(5, min(8, len(img) // 3)):
        msg = (f"triangle matching found no consistent solution ({n} of {len(img)} sources at best, "
               f"{len(pairs)} triangle candidates, {time.monotonic() - start:.1f} s)")
        raise AstrometryError(msg)
    a, b, parity = found
    return _to_wcs(a, b, parity, ra0=ra0, dec0=dec0, scale=pixel_scale, shape=shape)
