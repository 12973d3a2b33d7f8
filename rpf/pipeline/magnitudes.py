"""Pipeline adapters for airmass, the zero point and PSF photometry."""

from __future__ import annotations

import numpy as np

from rpf.airmass import compute_airmass
from rpf.errors import ZeroPointError
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState
from rpf.site import resolve_site
from rpf.skymatch import match_radius_arcsec as match_radius
from rpf.skymatch import match_sky
from rpf.zeropoint import apply_zero_point, choose_band, fit_zero_point, limiting_magnitude

__all__ = ["calibrate_magnitudes", "match_radius_arcsec", "psf_stage"]


def match_radius_arcsec(state: FrameState, ctx: RunContext) -> float:
    """Match radius from the measured FWHM and the astrometric RMS, within the configured bounds."""
    scale = state.wcs.pixel_scale_arcsec or state.frame.meta.pixel_scale or 1.0
    catalogs = ctx.config.catalogs
    return match_radius(fwhm_arcsec=state.fwhm.fwhm_px * scale, wcs_rms_arcsec=state.wcs.rms_arcsec,
                        minimum=catalogs.match_radius_min_arcsec, maximum=catalogs.match_radius_max_arcsec)


def _airmass(state: FrameState, ctx: RunContext) -> FrameState:
    meta = state.frame.meta
    site = resolve_site(meta, ctx.config.header)
    ra = state.wcs.center_ra if state.wcs.wcs is not None else meta.ra
    dec = state.wcs.center_dec if state.wcs.wcs is not None else meta.dec
    result = compute_airmass(
        ra=ra, dec=dec, mjd_start=meta.mjd_start, exptime=meta.exptime, site=site, header_airmass=meta.airmass
    )
    value = f"{result.airmass:.4f}" if result.airmass is not None else "unknown"
    return state.evolve(airmass=result).note(f"airmass: {value} ({result.source}) {result.message}".rstrip())


def calibrate_magnitudes(state: FrameState, ctx: RunContext) -> FrameState:
    """Airmass, calibrator matching, zero-point fit and calibrated magnitudes.

    A frame without WCS or reference catalogue keeps its instrumental
    magnitudes; the log and metadata say why it has no zero point.
    """
    state = _airmass(state, ctx)
    meta = state.frame.meta
    if state.wcs.wcs is None:
        return state.note("WARNING zero point: not determined (no astrometric solution)")
    if state.reference is None or len(state.reference) == 0:
        why = next((line for line in reversed(state.log) if line.startswith("reference catalogue:")), "")
        return state.note(f"WARNING zero point: not determined (no reference catalogue){'; ' + why if why else ''}")
    try:
        choice = choose_band(meta.filter, state.reference.colnames, override=ctx.config.zeropoint.band)
    except ZeroPointError as exc:
        return state.note(f"WARNING zero point: not determined ({exc})")
    band = choice.column
    radius = match_radius_arcsec(state, ctx)
    phot_idx, ref_idx = match_sky(_values(state.phot, "ra"), _values(state.phot, "dec"),
                                  _values(state.reference, "ra"), _values(state.reference, "dec"), radius_arcsec=radius)
    phot = state.phot.copy()
    _attach_reference(phot, state.reference, phot_idx, ref_idx, band)
    airmass = state.airmass.airmass if state.airmass is not None else None
    try:
        fit = fit_zero_point(
            phot,
            state.reference,
            match_idx=(phot_idx, ref_idx),
            band=band,
            exptime=meta.exptime,
            airmass=airmass,
            config=ctx.config.zeropoint,
            filter_name=meta.filter,
        )
    except ZeroPointError as exc:
        return state.evolve(phot=phot, band=choice.name).note(
            f"WARNING zero point: not determined ({exc}); {len(phot_idx)} matches within {radius:.2f}\""
        )
    phot = apply_zero_point(phot, fit, exptime=meta.exptime, reference_colors=_colors(phot))
    limit = limiting_magnitude(
        fwhm_px=state.fwhm.fwhm_px,
        background_rms=state.background.global_rms,
        zero_point=fit.zero_point,
        exptime=meta.exptime,
    )
    return state.evolve(phot=phot, zero_point=fit, band=choice.name, limiting_mag=limit).note(
        f"zero point: {fit.zero_point:.4f} ± {fit.zero_point_err:.4f} in {choice.name} ({band}) "
        f"from {fit.n_calib_stars} stars "
        f"(rms {fit.rms:.3f}, colour term {fit.color_term:.3f} ± {fit.color_term_err:.3f}: {fit.color_term_reason}; "
        f"match radius {radius:.2f}\"); "
        f"limiting magnitude (5 sigma) {limit:.2f}"
    )


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
    """Build the ePSF and fit every source with it."""
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
