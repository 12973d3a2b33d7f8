"""Least-squares TAN (+ SIP) fit of a WCS to matched reference stars."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS, Sip

from rpf.astrometry.match import (
    Verification,
    from_tangent_plane,
    match_pixels,
    reference_in_frame,
    separation_rms_arcsec,
    tangent_plane,
    verify_wcs,
)
from rpf.errors import AstrometryError

__all__ = ["Refinement", "fit_wcs", "refine_wcs"]

#: Matches needed per fitted coefficient before SIP terms are fitted.
MATCHES_PER_TERM = 5
#: Matching radius of the final verification (arcsec; at least 2 px).
VERIFY_RADIUS_ARCSEC = 2.5
#: Most sources used in a refinement (brightest first).
MAX_SOURCES = 500


@dataclass(frozen=True)
class Refinement:
    """A refined WCS with its fit statistics and verification."""

    wcs: WCS
    n_matches: int
    rms_arcsec: float
    sip_order: int
    verification: Verification


def _terms(order: int, lowest: int) -> list[tuple[int, int]]:
    return [(p, total - p) for total in range(lowest, order + 1) for p in range(total, -1, -1)]


def _monomials(u: np.ndarray, v: np.ndarray, terms: list[tuple[int, int]]) -> np.ndarray:
    return np.column_stack([u**p * v**q for p, q in terms]) if terms else np.zeros((len(u), 0))


def _sip_matrix(coef: np.ndarray, terms: list[tuple[int, int]], order: int, norm: float) -> np.ndarray:
    out = np.zeros((order + 1, order + 1))
    for c, (p, q) in zip(coef, terms, strict=True):
        out[p, q] = c / norm ** (p + q)
    return out


def _inverse_sip(a: np.ndarray, b: np.ndarray, order: int, shape: tuple[int, int], norm: float) -> tuple:
    ny, nx = shape
    grid_u, grid_v = np.meshgrid(np.linspace(-nx / 2, nx / 2, 25), np.linspace(-ny / 2, ny / 2, 25))
    u, v = grid_u.ravel(), grid_v.ravel()
    fwd_terms = _terms(order, 2)
    f = sum(a[p, q] * u**p * v**q for p, q in fwd_terms)
    g = sum(b[p, q] * u**p * v**q for p, q in fwd_terms)
    big_u, big_v = u + f, v + g
    inv_order = order + 1
    terms = _terms(inv_order, 1)
    design = _monomials(big_u / norm, big_v / norm, terms)
    ap = np.linalg.lstsq(design, u - big_u, rcond=None)[0]
    bp = np.linalg.lstsq(design, v - big_v, rcond=None)[0]
    return _sip_matrix(ap, terms, inv_order, norm), _sip_matrix(bp, terms, inv_order, norm)


def fit_wcs(
    x: np.ndarray,
    y: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    *,
    shape: tuple[int, int],
    crval: tuple[float, float],
    sip_order: int = 0,
) -> WCS:
    """Fit a TAN WCS (with SIP terms of ``sip_order`` >= 2) to matched positions.

    The reference pixel is the image centre; ``crval`` is the first guess of
    its sky position and is iterated.  ``x, y`` are 0-based pixels.

    Raises
    ------
    AstrometryError
        Fewer than 3 positions.
    """
    if len(x) < 3:
        msg = f"too few matched stars to fit a WCS ({len(x)})"
        raise AstrometryError(msg)
    ny, nx = shape
    crpix = np.array([(nx + 1) / 2.0, (ny + 1) / 2.0])
    norm = max(nx, ny) / 2.0
    u, v = np.asarray(x, float) + 1 - crpix[0], np.asarray(y, float) + 1 - crpix[1]
    terms = _terms(sip_order, 2) if sip_order >= 2 else []
    design = np.column_stack([u / norm, v / norm, np.ones_like(u), _monomials(u / norm, v / norm, terms)])
    ra0, dec0 = float(crval[0]), float(crval[1])
    for _ in range(4):
        xi, eta = tangent_plane(np.asarray(ra, float), np.asarray(dec, float), ra0=ra0, dec0=dec0)
        cx = np.linalg.lstsq(design, xi, rcond=None)[0]
        ce = np.linalg.lstsq(design, eta, rcond=None)[0]
        new_ra, new_dec = from_tangent_plane(np.array([cx[2]]), np.array([ce[2]]), ra0=ra0, dec0=dec0)
        ra0, dec0 = float(new_ra[0]), float(new_dec[0])
    cd = np.array([[cx[0], cx[1]], [ce[0], ce[1]]]) / norm
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix = crpix
    wcs.wcs.crval = [ra0, dec0]
    wcs.wcs.cd = cd
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    if terms:
        dist = np.linalg.solve(cd, np.vstack([cx[3:], ce[3:]]))
        a = _sip_matrix(dist[0], terms, sip_order, norm)
        b = _sip_matrix(dist[1], terms, sip_order, norm)
        ap, bp = _inverse_sip(a, b, sip_order, shape, norm)
        wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
        wcs.sip = Sip(a, b, ap, bp, crpix)
    wcs.wcs.set()
    wcs.pixel_shape = (nx, ny)
    return wcs


def _usable_order(n: int, sip_order: int) -> int:
    order = sip_order
    while order >= 2 and n < MATCHES_PER_TERM * (3 + len(_terms(order, 2))):
        order -= 1
    return order if order >= 2 else 0


def refine_wcs(
    wcs: WCS,
    *,
    xy: np.ndarray,
    ref_ra: np.ndarray,
    ref_dec: np.ndarray,
    shape: tuple[int, int],
    sip_order: int,
    radius_px: float,
) -> Refinement:
    """Match, fit and re-match the sources to the reference (linear, then with SIP).

    ``xy`` (0-based pixels) and the reference are ordered brightest first.
    The matching radius starts at ``radius_px`` and shrinks to three times
    the fit RMS (at least 1.5 px); outliers beyond it are left out.  The
    result is verified within ``max(2 px, 2.5")``.

    Returns
    -------
    Refinement

    Raises
    ------
    AstrometryError
        Fewer than 6 matches.
    """
    xy = np.asarray(xy, float)[:MAX_SOURCES]
    ref_ra, ref_dec = np.asarray(ref_ra, float), np.asarray(ref_dec, float)
    current, radius = wcs, float(radius_px)
    scale = float(np.sqrt(abs(np.linalg.det(wcs.celestial.pixel_scale_matrix)))) * 3600.0
    order, n, rms = 0, 0, float("nan")
    for step in range(4):
        idx, ref_xy = reference_in_frame(current, ref_ra, ref_dec, shape=shape, margin_px=radius)
        keep = slice(0, 3 * len(xy))
        idx, ref_xy = idx[keep], ref_xy[keep]
        i_src, i_ref, _ = match_pixels(xy, ref_xy, radius_px=radius)
        n = len(i_src)
        if n < 6:
            msg = f"only {n} reference stars matched within {radius:.1f} px"
            raise AstrometryError(msg)
        order = _usable_order(n, sip_order) if step >= 2 else 0
        sel = idx[i_ref]
        center = current.all_pix2world([(shape[1] - 1) / 2.0], [(shape[0] - 1) / 2.0], 0)
        current = fit_wcs(xy[i_src, 0], xy[i_src, 1], ref_ra[sel], ref_dec[sel], shape=shape,
                          crval=(float(center[0][0]), float(center[1][0])), sip_order=order)
        ra_s, dec_s = current.all_pix2world(xy[i_src, 0], xy[i_src, 1], 0)
        rms = separation_rms_arcsec(ra_s, dec_s, ref_ra[sel], ref_dec[sel])
        scale = float(np.sqrt(abs(np.linalg.det(current.pixel_scale_matrix)))) * 3600.0
        radius = min(radius, max(3.0 * rms / scale, 1.5))
    verification = verify_wcs(current, xy=xy, ref_ra=ref_ra, ref_dec=ref_dec, shape=shape,
                              radius_px=max(2.0, VERIFY_RADIUS_ARCSEC / scale))
    return Refinement(current, n, rms, order, verification)
