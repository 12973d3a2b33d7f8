"""Sky <-> pixel matching and verification of a WCS against a reference catalogue."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS
from scipy.spatial import cKDTree

__all__ = [
    "Verification",
    "from_tangent_plane",
    "match_pixels",
    "reference_in_frame",
    "separation_rms_arcsec",
    "tangent_plane",
    "verify_wcs",
]

#: Bright sources used to judge a solution.
N_VERIFY = 100


@dataclass(frozen=True)
class Verification:
    """How well a WCS maps the bright sources onto the reference stars.

    Attributes
    ----------
    n_matches : int
        One-to-one matches within the radius.
    matched_fraction : float
        ``n_matches / min(bright sources, reference stars in the frame)``.
    rms_arcsec : float or None
        RMS separation of the matches (arcsec).
    n_reference : int
        Reference stars inside the frame.
    ok : bool
        Enough matches for the WCS to be trusted: at least 6, 20 % of the
        bright sources, and well above the matches expected by chance.
    """

    n_matches: int
    matched_fraction: float
    rms_arcsec: float | None
    n_reference: int
    ok: bool


def tangent_plane(ra: np.ndarray, dec: np.ndarray, *, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Return gnomonic ``(xi, eta)`` in degrees (xi towards east) about ``(ra0, dec0)``."""
    a, d = np.radians(ra), np.radians(dec)
    a0, d0 = math.radians(ra0), math.radians(dec0)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a - a0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.cos(d) * np.sin(a - a0) / cos_c
        eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a - a0)) / cos_c
    xi = np.where(cos_c > 0, xi, np.nan)
    eta = np.where(cos_c > 0, eta, np.nan)
    return np.degrees(xi), np.degrees(eta)


def from_tangent_plane(xi: np.ndarray, eta: np.ndarray, *, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(ra, dec)`` in degrees of gnomonic ``(xi, eta)`` (degrees) about ``(ra0, dec0)``."""
    x, y = np.radians(xi), np.radians(eta)
    a0, d0 = math.radians(ra0), math.radians(dec0)
    rho = np.hypot(x, y)
    c = np.arctan(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        sin_d = np.cos(c) * np.sin(d0) + np.where(rho > 0, y * np.sin(c) * np.cos(d0) / rho, 0.0)
        dec = np.arcsin(np.clip(sin_d, -1.0, 1.0))
        ra = a0 + np.arctan2(x * np.sin(c), rho * np.cos(d0) * np.cos(c) - y * np.sin(d0) * np.sin(c))
    return np.mod(np.degrees(ra), 360.0), np.degrees(dec)


def match_pixels(
    xy_src: np.ndarray, xy_ref: np.ndarray, *, radius_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return one-to-one nearest matches ``(i_src, i_ref, distance_px)`` within ``radius_px``."""
    empty = np.array([], int)
    if len(xy_src) == 0 or len(xy_ref) == 0:
        return empty, empty, np.array([], float)
    dist, idx = cKDTree(xy_ref).query(xy_src, distance_upper_bound=radius_px)
    i_src = np.flatnonzero(np.isfinite(dist))
    i_ref, dist = idx[i_src], dist[i_src]
    order = np.argsort(dist, kind="stable")
    _, first = np.unique(i_ref[order], return_index=True)
    keep = np.sort(order[first])
    return i_src[keep], i_ref[keep], dist[keep]


def reference_in_frame(
    wcs: WCS, ref_ra: np.ndarray, ref_dec: np.ndarray, *, shape: tuple[int, int], margin_px: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(indices, xy)`` of the reference stars falling on the image (0-based pixels)."""
    ny, nx = shape
    center = wcs.all_pix2world([(nx - 1) / 2.0], [(ny - 1) / 2.0], 0)
    scale = math.sqrt(abs(np.linalg.det(wcs.celestial.pixel_scale_matrix)))
    xi, eta = tangent_plane(np.asarray(ref_ra, float), np.asarray(ref_dec, float), ra0=center[0][0], dec0=center[1][0])
    near = np.flatnonzero(np.hypot(xi, eta) < 0.75 * math.hypot(nx, ny) * scale + margin_px * scale)
    if len(near) == 0:
        return near, np.zeros((0, 2))
    x, y = wcs.all_world2pix(np.asarray(ref_ra)[near], np.asarray(ref_dec)[near], 0, quiet=True)
    inside = (x > -margin_px) & (x < nx - 1 + margin_px) & (y > -margin_px) & (y < ny - 1 + margin_px)
    inside &= np.isfinite(x) & np.isfinite(y)
    return near[inside], np.column_stack([x[inside], y[inside]])


def verify_wcs(
    wcs: WCS,
    *,
    xy: np.ndarray,
    ref_ra: np.ndarray,
    ref_dec: np.ndarray,
    shape: tuple[int, int],
    radius_px: float,
) -> Verification:
    """Match the brightest sources to the brightest reference stars in the frame.

    ``xy`` (0-based pixels) and the reference are ordered brightest first.

    Returns
    -------
    Verification
    """
    bright = np.asarray(xy, float)[:N_VERIFY]
    idx, ref_xy = reference_in_frame(wcs, ref_ra, ref_dec, shape=shape)
    ref_xy = ref_xy[: 2 * max(len(bright), 1)]
    i_src, i_ref, _ = match_pixels(bright, ref_xy, radius_px=radius_px)
    n = len(i_src)
    denom = max(min(len(bright), len(ref_xy)), 1)
    rms = None
    if n:
        ra_s, dec_s = wcs.all_pix2world(bright[i_src, 0], bright[i_src, 1], 0)
        sel = idx[: len(ref_xy)][i_ref]
        rms = separation_rms_arcsec(ra_s, dec_s, np.asarray(ref_ra)[sel], np.asarray(ref_dec)[sel])
    fraction = n / denom
    ny, nx = shape
    chance = len(bright) * min(1.0, len(ref_xy) * np.pi * radius_px**2 / (nx * ny))
    ok = n >= 6 and fraction >= 0.2 and n >= chance + 3.0 * np.sqrt(chance) + 3.0
    return Verification(n, fraction, rms, len(idx), bool(ok))


def separation_rms_arcsec(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray) -> float:
    """Return the RMS angular separation (arcsec) of paired positions in degrees."""
    d1, d2 = np.radians(dec1), np.radians(dec2)
    dra = np.radians(np.asarray(ra1) - np.asarray(ra2))
    hav = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin(dra / 2) ** 2
    sep = 2 * np.arcsin(np.sqrt(np.clip(hav, 0.0, 1.0)))
    return float(np.degrees(np.sqrt(np.mean(sep**2))) * 3600.0)
