"""Calibration steps: airmass, calibrators, zero_point, magnitudes, limiting_mag, and PSF photometry.

``calibrators`` chooses the band and matches the detections to the
reference stars (the catalogue columns go into the table); ``zero_point``
fits the zero point on those pairs; ``magnitudes`` applies it; and
``limiting_mag`` gives the 5-sigma point-source limit.  A frame that cannot
be calibrated keeps its instrumental magnitudes, and ``state.uncalibrated``
says why (the log and the metadata repeat it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rpf.airmass import compute_airmass
from rpf.earth_orientation import use_cached_earth_orientation
from rpf.errors import ZeroPointError
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState
from rpf.site import resolve_site
from rpf.skymatch import match_radius_arcsec as match_radius
from rpf.skymatch import match_sky
from rpf.zeropoint import apply_zero_point, choose_band, fit_zero_point, limiting_magnitude

__all__ = [
    "Calibrators",
    "airmass",
    "calibrators",
    "limiting_mag",
    "magnitudes",
    "match_radius_arcsec",
    "psf_stage",
    "zero_point",
]


@dataclass(frozen=True)
class Calibrators:
    """Detections matched to reference stars, for the zero point.

    Attributes
    ----------
    band : str
        The band the frame is calibrated in (e.g. ``"V"``).
    column : str
        The reference column serving it (e.g. ``"V_mag"``).
    phot_idx, ref_idx : numpy.ndarray
        Matched rows of the photometry and reference tables.
    radius_arcsec : float
        The match radius used.
    """

    band: str
    column: str
    phot_idx: np.ndarray
    ref_idx: np.ndarray
    radius_arcsec: float


def match_radius_arcsec(state: FrameState, ctx: RunContext) -> float:
    """Match radius from the measured FWHM and the astrometric RMS, within the configured bounds."""
    scale = state.wcs.pixel_scale_arcsec or state.frame.meta.pixel_scale or 1.0
    catalogs = ctx.config.catalogs
    return match_radius(fwhm_arcsec=state.fwhm.fwhm_px * scale, wcs_rms_arcsec=state.wcs.rms_arcsec,
                        minimum=catalogs.match_radius_min_arcsec, maximum=catalogs.match_radius_max_arcsec)


def airmass(state: FrameState, ctx: RunContext) -> FrameState:
    """Airmass of the frame: from the site, time and (solved) position, else the header.

    Astropy's IERS table comes from the cache beside the catalogues'
    (``ctx.iers_cache``), parsed only once per IERS data release.
    """
    meta = state.frame.meta
    use_cached_earth_orientation(ctx.iers_cache)
    site = resolve_site(meta, ctx.config.header)
    solved = state.wcs is not None and state.wcs.wcs is not None
    ra = state.wcs.center_ra if solved else meta.ra
    dec = state.wcs.center_dec if solved else meta.dec
    result = compute_airmass(
        ra=ra, dec=dec, mjd_start=meta.mjd_start, exptime=meta.exptime, site=site, header_airmass=meta.airmass
    )
    value = f"{result.airmass:.4f}" if result.airmass is not None else "unknown"
    return state.evolve(airmass=result).note(f"airmass: {value} ({result.source}) {result.message}".rstrip())


def _uncalibrated(state: FrameState, why: str, detail: str | None = None) -> FrameState:
    """Record why the frame has no zero point: ``state.uncalibrated``, a warning and its log line."""
    return state.evolve(uncalibrated=why).warn(f"zero point: not determined ({why}){'; ' + detail if detail else ''}")


def calibrators(state: FrameState, ctx: RunContext) -> FrameState:
    """Choose the band and match the detections to the reference stars (``cat_id, cat_mag, cat_*``)."""
    if state.wcs is None or state.wcs.wcs is None:
        return _uncalibrated(state, "no astrometric solution")
    if state.reference is None or len(state.reference) == 0:
        return _uncalibrated(state, "no reference catalogue", state.reference_note)
    try:
        choice = choose_band(state.frame.meta.filter, state.reference.colnames, override=ctx.config.zeropoint.band)
    except ZeroPointError as exc:
        return _uncalibrated(state, str(exc))
    radius = match_radius_arcsec(state, ctx)
    phot_idx, ref_idx = match_sky(_values(state.phot, "ra"), _values(state.phot, "dec"),
                                  _values(state.reference, "ra"), _values(state.reference, "dec"), radius_arcsec=radius)
    phot = state.phot.copy()
    _attach_reference(phot, state.reference, phot_idx, ref_idx, choice.column)
    found = Calibrators(choice.name, choice.column, phot_idx, ref_idx, radius)
    message = f"calibrators: {len(phot_idx)} matches within {radius:.2f}\" in {choice.name} ({choice.column})"
    return state.evolve(phot=phot, band=choice.name, calibrators=found).note(message)


def zero_point(state: FrameState, ctx: RunContext) -> FrameState:
    """Fit the zero point (and colour term, when configured) on the calibrators."""
    if state.calibrators is None:
        return state
    cal = state.calibrators
    meta = state.frame.meta
    try:
        fit = fit_zero_point(
            state.phot,
            state.reference,
            match_idx=(cal.phot_idx, cal.ref_idx),
            band=cal.column,
            exptime=meta.exptime,
            airmass=state.airmass.airmass if state.airmass is not None else None,
            config=ctx.config.zeropoint,
            filter_name=meta.filter,
        )
    except ZeroPointError as exc:
        return _uncalibrated(state, f"{exc}; {len(cal.phot_idx)} matches within {cal.radius_arcsec:.2f}\"")
    return state.evolve(zero_point=fit).note(
        f"zero point: {fit.zero_point:.4f} ± {fit.zero_point_err:.4f} in {cal.band} ({cal.column}) "
        f"from {fit.n_calib_stars} stars (rms {fit.rms:.3f}, colour term {fit.color_term:.3f} ± "
        f"{fit.color_term_err:.3f}: {fit.color_term_reason}; match radius {cal.radius_arcsec:.2f}\")"
    )


def magnitudes(state: FrameState, ctx: RunContext) -> FrameState:
    """Apply the zero point: calibrated ``mag, mag_err`` of every source."""
    if state.zero_point is None:
        return state.note("magnitudes: instrumental only (no zero point)")
    phot = apply_zero_point(state.phot, state.zero_point, exptime=state.frame.meta.exptime,
                            reference_colors=_colors(state.phot))
    return state.evolve(phot=phot).note(f"magnitudes: {len(phot)} sources calibrated in {state.band}")


def limiting_mag(state: FrameState, ctx: RunContext) -> FrameState:
    """Compute the 5-sigma point-source limit from the FWHM, the sky noise and the zero point."""
    if state.zero_point is None:
        return state.note("limiting magnitude: not determined (no zero point)")
    limit = limiting_magnitude(
        fwhm_px=state.fwhm.fwhm_px,
        background_rms=state.background.global_rms,
        zero_point=state.zero_point.zero_point,
        exptime=state.frame.meta.exptime,
    )
    return state.evolve(limiting_mag=limit).note(f"limiting magnitude (5 sigma): {limit:.2f}")


def _values(table, name: str) -> np.ndarray:
    column = table[name]
    return np.asarray(getattr(column, "value", column), float)


def _attach_reference(phot, reference, phot_idx: np.ndarray, ref_idx: np.ndarray, band: str) -> None:
    """Add ``cat_id, cat_mag`` and Gaia colours of the matched reference star."""
    n = len(phot)
    cat_id = np.full(n, "", dtype=object)
    cat_id[phot_idx] = [str(v) for v in np.asarray(reference["source_id"])[ref_idx]]
    phot["cat_id"] = cat_id.astype(str)
    for out, col in (("cat_mag", band), ("cat_g", "phot_g_mean_mag"), ("cat_bp", "phot_bp_mean_mag"),
                     ("cat_rp", "phot_rp_mean_mag")):
        values = np.full(n, np.nan)
        if col in reference.colnames:
            values[phot_idx] = np.asarray(reference[col], dtype=float)[ref_idx]
        phot[out] = values
    phot["cat_bp_rp"] = phot["cat_bp"] - phot["cat_rp"]


def _colors(phot) -> np.ndarray | None:
    """Catalogue ``BP - RP`` of each source (``nan`` when unmatched), for the colour term."""
    return np.asarray(phot["cat_bp_rp"], float) if "cat_bp_rp" in phot.colnames else None


def psf_stage(state: FrameState, ctx: RunContext) -> FrameState:
    """Build the ePSF and fit every source with it (with ``psf.enabled``)."""
    if not ctx.config.psf.enabled:
        return state.note("PSF photometry: not requested (psf.enabled is false)")
    from rpf.photometry import build_psf, psf_photometry

    model = build_psf(
        state.image,
        state.phot,
        fwhm_px=state.fwhm.fwhm_px,
        config=ctx.config.psf,
        mask=state.frame.mask,
        rms=state.background.global_rms,
        gain=state.frame.meta.gain,
    )
    phot = psf_photometry(
        state.image,
        state.phot,
        psf_model=model,
        rms=state.background.rms,
        gain=state.frame.meta.gain,
        mask=state.frame.mask,
        config=ctx.config.psf,
    )
    if state.zero_point is not None:
        exptime = state.frame.meta.exptime
        phot = apply_zero_point(phot, state.zero_point, exptime=exptime, reference_colors=_colors(phot))
    return state.evolve(phot=phot, psf=model).note(f"PSF photometry: {len(phot)} sources fitted")
