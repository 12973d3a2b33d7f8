"""Zero-point fit of one frame and the extinction fit of a night.

The model of a calibrator is::

    mag_cat - mag_inst = zero_point + color_term * (BP - RP) + P(x, y)

with ``mag_inst = -2.5 log10(flux / exptime)`` (aperture-corrected flux) and
``P`` an optional polynomial over the field without constant term, so
``zero_point`` is the value at the field centre.  ``zero_point`` includes the
frame's atmospheric extinction; with a known ``k`` the above-atmosphere value
``zero_point + k * airmass`` is reported as ``zero_point_airless``.  Nothing is
rounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from astropy.table import QTable

from rpf.config import ZeroPointConfig
from rpf.errors import ZeroPointError
from rpf.skymatch import match_sky
from rpf.zeropoint.bands import band_matches_filter, choose_band
from rpf.zeropoint.colorterm import decide_color_term
from rpf.zeropoint.robust import robust_linear_fit
from rpf.zeropoint.select import select_calibrators

__all__ = ["ExtinctionFit", "ZeroPointFit", "calibration_offset", "fit_extinction", "fit_zero_point"]


@dataclass(frozen=True)
class ZeroPointFit:
    """The photometric calibration of one frame.

    Attributes
    ----------
    zero_point, zero_point_err : float
        Zero point at the field centre (includes extinction) and its 1-sigma error.
    color_term, color_term_err : float
        Colour-term coefficient (``err`` is 0 when it was fixed).
    color_index : str
        The colour of the colour term (``"BP-RP"``).
    color_term_fitted : bool
        Whether the colour term was fitted.
    color_ref : float
        Median calibrator colour, used for sources without a catalogue colour.
    spatial_terms : tuple of (int, int)
        Exponents ``(i, j)`` of the spatial terms ``u**i * v**j``.
    spatial_coeffs : tuple of float
        Their coefficients.
    spatial_norm : tuple of float
        ``(x0, y0, sx, sy)``: ``u = (x - x0) / sx``, ``v = (y - y0) / sy``.
    covariance : tuple of tuple of float
        Covariance of the fitted parameters in the order zero point,
        colour term (when fitted), spatial coefficients.
    extinction_k : float or None
        Extinction coefficient (mag/airmass) when configured.
    airmass : float or None
        The frame's airmass.
    zero_point_airless : float or None
        ``zero_point + extinction_k * airmass`` when both are known.
    n_calib_stars : int
        Calibrators kept by the robust fit.
    n_candidates : int
        Calibrators that passed the selection.
    rms : float
        RMS of the kept residuals (mag).
    scatter_extra : float
        Scatter beyond the photon and catalogue errors (mag).
    band : str
        Band label (``"V"``, ``"r"``, ``"G"``).
    band_column : str
        The reference column calibrated against.
    rejected : dict
        Selection rejections by reason.
    calibrators : QTable
        The candidates with ``used``, ``residual`` and ``mag_fit`` columns.
    color_term_reason : str
        Why the colour term was (not) fitted.
    """

    zero_point: float
    zero_point_err: float
    color_term: float
    color_term_err: float
    color_index: str
    color_term_fitted: bool
    color_ref: float
    spatial_terms: tuple[tuple[int, int], ...]
    spatial_coeffs: tuple[float, ...]
    spatial_norm: tuple[float, float, float, float]
    covariance: tuple[tuple[float, ...], ...]
    extinction_k: float | None
    airmass: float | None
    zero_point_airless: float | None
    n_calib_stars: int
    n_candidates: int
    rms: float
    scatter_extra: float
    band: str
    band_column: str
    rejected: dict = field(default_factory=dict, compare=False)
    calibrators: QTable = field(default_factory=QTable, compare=False, repr=False)
    color_term_reason: str = ""


def _spatial_terms(order: int) -> tuple[tuple[int, int], ...]:
    return tuple((i, d - i) for d in range(1, order + 1) for i in range(d, -1, -1))


def _spatial_columns(x: np.ndarray, y: np.ndarray, fit_terms, norm) -> np.ndarray:
    u = (np.asarray(x, float) - norm[0]) / norm[2]
    v = (np.asarray(y, float) - norm[1]) / norm[3]
    return np.column_stack([u**i * v**j for i, j in fit_terms]) if fit_terms else np.empty((u.size, 0))


def _gradient(fit: ZeroPointFit, x: np.ndarray, y: np.ndarray, color: np.ndarray) -> np.ndarray:
    """Return d(offset)/d(fitted parameters) for each source, shape (n, p)."""
    parts = [np.ones((np.size(x), 1))]
    if fit.color_term_fitted:
        parts.append(np.asarray(color, float).reshape(-1, 1))
    parts.append(_spatial_columns(x, y, fit.spatial_terms, fit.spatial_norm))
    return np.hstack(parts)


def calibration_offset(
    fit: ZeroPointFit, *, x: np.ndarray, y: np.ndarray, color: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``mag - mag_inst`` and its 1-sigma error at each source.

    Parameters
    ----------
    fit : ZeroPointFit
        The frame's calibration.
    x, y : ndarray
        Pixel positions (used by the spatial terms).
    color : ndarray
        ``BP - RP`` of each source; non-finite values take ``fit.color_ref``.

    Returns
    -------
    offset, offset_err : ndarray
        The full error propagation of the fitted parameters' covariance.
    """
    x, y = np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float))
    color = np.broadcast_to(np.asarray(color, float), x.shape)
    color = np.where(np.isfinite(color), color, fit.color_ref)
    spatial = _spatial_columns(x, y, fit.spatial_terms, fit.spatial_norm) @ np.asarray(fit.spatial_coeffs, float)
    offset = fit.zero_point + fit.color_term * color + spatial
    grad = _gradient(fit, x, y, color)
    cov = np.asarray(fit.covariance, float)
    variance = np.einsum("ij,jk,ik->i", grad, cov, grad)
    return offset, np.sqrt(np.maximum(variance, 0.0))


def _match(phot: QTable, reference: QTable, match_idx, radius_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    if match_idx is not None:
        phot_idx, ref_idx = match_idx
        return np.asarray(phot_idx, int), np.asarray(ref_idx, int)
    for table, name in ((phot, "photometry"), (reference, "reference")):
        if "ra" not in table.colnames or "dec" not in table.colnames:
            raise ZeroPointError(f"{name} table has no ra/dec to match on")
    coords = [np.asarray(getattr(t[c], "value", t[c]), float) for t in (phot, reference) for c in ("ra", "dec")]
    return match_sky(*coords, radius_arcsec=radius_arcsec)


def fit_zero_point(
    phot: QTable,
    reference: QTable,
    *,
    band: str,
    exptime: float,
    airmass: float | None = None,
    config: ZeroPointConfig,
    match_idx: tuple[np.ndarray, np.ndarray] | None = None,
    radius_arcsec: float = 2.0,
    filter_name: str | None = None,
) -> ZeroPointFit:
    """Fit the frame's zero point (and optionally colour and spatial terms).

    Parameters
    ----------
    phot : QTable
        Aperture photometry with ``x, y, ra, dec, flux, flux_err, snr, flags``.
    reference : QTable
        Reference catalogue with Gaia DR3 column names.
    band : str
        The frame's filter name (``"V"``, ``"sdss_r"``, ``"Clear"``) or a
        reference column (``"V_mag"``); ``config.band`` overrides it.
    exptime : float
        Exposure time in seconds (> 0).
    airmass : float, optional
        The frame's airmass (reported, and used with ``config.extinction_k``).
    config : ZeroPointConfig
        Selection and fit parameters.
    match_idx : (ndarray, ndarray), optional
        Matched ``(phot_idx, ref_idx)`` pairs; else matched on ra/dec.
    radius_arcsec : float
        Match radius when ``match_idx`` is not given (the pipeline gives the
        pairs, matched within the frame's :func:`rpf.skymatch.match_radius_arcsec`).
    filter_name : str, optional
        The frame's filter when ``band`` is a reference column; with
        ``config.fit_color_term = None`` a filter that is not the reference
        band gets a colour term (:mod:`rpf.zeropoint.colorterm`).

    Raises
    ------
    ZeroPointError
        Bad exposure time, unknown band, or too few calibrators (the message
        gives the rejections by reason).
    """
    if not exptime > 0:
        raise ZeroPointError(f"exposure time must be > 0 for a zero point (got {exptime})")
    override = config.band or (band if band in reference.colnames else None)
    choice = choose_band(band, reference.colnames, override=override)
    phot_idx, ref_idx = _match(phot, reference, match_idx, radius_arcsec)
    cal = select_calibrators(
        phot, reference, phot_idx=phot_idx, ref_idx=ref_idx, band=choice, exptime=exptime, config=config
    )
    if len(cal) < config.min_stars:
        reasons = ", ".join(f"{k}: {v}" for k, v in cal.meta["rejected"].items() if v)
        raise ZeroPointError(
            f"only {len(cal)} calibrators (need {config.min_stars}) among {cal.meta['n_matched']} "
            f"matched stars in {choice.column}; rejected: {reasons or 'none'}"
        )
    xs, ys = np.asarray(getattr(phot["x"], "value", phot["x"]), float), np.asarray(phot["y"], float)
    norm = (
        float((xs.max() + xs.min()) / 2),
        float((ys.max() + ys.min()) / 2),
        float(max((xs.max() - xs.min()) / 2, 1.0)),
        float(max((ys.max() - ys.min()) / 2, 1.0)),
    )
    terms = _spatial_terms(config.spatial_order)
    color = np.asarray(cal["color"], float)
    y = np.asarray(cal["mag_cat"] - cal["mag_inst"], float)
    sigma = np.hypot(np.asarray(cal["mag_inst_err"], float), np.asarray(cal["mag_cat_err"], float))
    spatial = _spatial_columns(cal["x"], cal["y"], terms, norm)
    named_filter = filter_name if filter_name is not None else (None if band in reference.colnames else band)
    decision = decide_color_term(
        configured=config.fit_color_term,
        has_color=bool(cal.meta.get("has_color", True)),
        band_matches=named_filter is None or band_matches_filter(named_filter, choice),
        band=choice.name,
        filter_name=named_filter,
        design=np.hstack([np.ones((len(cal), 1)), spatial]),
        y=y - config.color_term * color,
        sigma=sigma,
        color=color,
        clip_sigma=config.clip_sigma,
        max_iter=config.max_iter,
        method=config.robust,
    )
    parts = [np.ones((len(cal), 1))]
    fit_color = decision.fit
    if fit_color:
        parts.append(color[:, None])
    else:
        y = y - config.color_term * color
    parts.append(spatial)
    design = np.hstack(parts)
    result = robust_linear_fit(
        design, y, sigma, clip_sigma=config.clip_sigma, max_iter=config.max_iter, method=config.robust
    )
    n_used = int(np.count_nonzero(result.used))
    if n_used < config.min_stars:
        raise ZeroPointError(f"only {n_used} calibrators survive the robust fit (need {config.min_stars})")
    params, cov = result.params, result.covariance
    n_color = 1 if fit_color else 0
    color_term = float(params[1]) if n_color else float(config.color_term)
    color_term_err = float(np.sqrt(cov[1, 1])) if n_color else 0.0
    zero_point = float(params[0])
    k = config.extinction_k
    airless = zero_point + k * airmass if (k is not None and airmass is not None) else None
    table = cal.copy()
    table["used"] = result.used
    table["residual"] = result.residuals
    table["mag_fit"] = table["mag_inst"] + (y - result.residuals) + (0.0 if n_color else config.color_term * color)
    return ZeroPointFit(
        zero_point=zero_point,
        zero_point_err=float(np.sqrt(cov[0, 0])),
        color_term=color_term,
        color_term_err=color_term_err,
        color_index="BP-RP",
        color_term_fitted=bool(n_color),
        color_ref=float(np.median(color[result.used])),
        spatial_terms=terms,
        spatial_coeffs=tuple(float(c) for c in params[1 + n_color :]),
        spatial_norm=norm,
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
        extinction_k=k,
        airmass=airmass,
        zero_point_airless=airless,
        n_calib_stars=n_used,
        n_candidates=len(cal),
        rms=result.rms,
        scatter_extra=result.scatter,
        band=choice.name,
        band_column=choice.column,
        rejected=dict(cal.meta["rejected"]),
        calibrators=table,
        color_term_reason=decision.reason,
    )


class ExtinctionFit(NamedTuple):
    """Extinction fitted over a night: ``zero_point = zp0 - k * airmass``."""

    k: float
    k_err: float
    zp0: float
    zp0_err: float
    rms: float
    n_frames: int


def fit_extinction(
    frames_zp: np.ndarray,
    airmasses: np.ndarray,
    *,
    zp_err: np.ndarray | None = None,
    k: float | None = None,
    clip_sigma: float = 3.0,
) -> ExtinctionFit:
    """Fit the extinction coefficient from the zero points of a night's frames.

    Parameters
    ----------
    frames_zp : array-like
        Per-frame zero points (``ZeroPointFit.zero_point``) of one band.
    airmasses : array-like
        Their airmasses.
    zp_err : array-like, optional
        Their uncertainties (equal weights when omitted).
    k : float, optional
        A fixed coefficient: only ``zp0`` is fitted.
    clip_sigma : float
        Frames deviating more than this are dropped (clouds).

    Raises
    ------
    ZeroPointError
        Too few frames, or airmasses spanning too little to separate ``k``.
    """
    zp = np.asarray(frames_zp, float)
    x = np.asarray(airmasses, float)
    err = np.full(zp.size, 0.01) if zp_err is None else np.asarray(zp_err, float)
    good = np.isfinite(zp) & np.isfinite(x) & np.isfinite(err) & (err > 0)
    zp, x, err = zp[good], x[good], err[good]
    need = 1 if k is not None else 3
    if zp.size < need:
        raise ZeroPointError(f"{zp.size} frames with a zero point and an airmass; need at least {need}")
    if k is None and np.ptp(x) < 0.1:
        raise ZeroPointError(f"airmass spans only {np.ptp(x):.3f}; an extinction fit needs at least 0.1")
    if k is None:
        design, y = np.column_stack([np.ones(zp.size), -x]), zp
    else:
        design, y = np.ones((zp.size, 1)), zp + k * x
    fit = robust_linear_fit(design, y, err, clip_sigma=clip_sigma)
    zp0, zp0_err = float(fit.params[0]), float(np.sqrt(fit.covariance[0, 0]))
    k_fit, k_err = (float(fit.params[1]), float(np.sqrt(fit.covariance[1, 1]))) if k is None else (float(k), 0.0)
    return ExtinctionFit(k_fit, k_err, zp0, zp0_err, fit.rms, int(np.count_nonzero(fit.used)))
