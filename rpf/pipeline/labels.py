"""Steps ``crossmatch`` (catalogue labels of every source) and ``transients`` (candidates)."""

from __future__ import annotations

import numpy as np

from rpf.catalogs import crossmatch_sources
from rpf.pipeline.context import RunContext
from rpf.pipeline.reference import reference_report
from rpf.pipeline.state import FrameState
from rpf.site import resolve_site
from rpf.transients import flag_transient_candidates

__all__ = ["crossmatch_stage", "transients_stage"]


def crossmatch_stage(state: FrameState, ctx: RunContext) -> FrameState:
    """Label every source with what the sky's catalogues know about it.

    A service that is offline, slow or failing is reported per frame and
    leaves its columns empty; it never fails the frame.  The reports start
    with the Gaia DR3 reference (when it is the configured reference), so
    the metadata says why a frame has no zero point.
    """
    gaia = reference_report(state, ctx.config.catalogs)
    state = state.evolve(crossmatch=[gaia] if gaia is not None else [])
    if gaia is not None:
        state = state.note(f"reference gaia_dr3: {gaia.status} ({gaia.n_rows} rows, {gaia.n_matched} matched)")
    if state.wcs is None or state.wcs.wcs is None:
        return state.note("cross-match: skipped (no astrometric solution)")
    if ctx.config.catalogs.crossmatch:
        return _label(state, ctx)
    return state.note("cross-match: no services configured")


def _label(state: FrameState, ctx: RunContext) -> FrameState:
    meta = state.frame.meta
    site = resolve_site(meta, ctx.config.header)
    scale = state.wcs.pixel_scale_arcsec or meta.pixel_scale or 1.0
    labels, reports = crossmatch_sources(
        state.phot,
        mjd=meta.mjd_mid,
        site=(site.lat, site.lon, site.elev) if site is not None else None,
        fwhm_arcsec=state.fwhm.fwhm_px * scale,
        wcs_rms_arcsec=state.wcs.rms_arcsec,
        config=ctx.config.catalogs,
    )
    phot = state.phot.copy()
    for name in labels.colnames:
        phot[name] = labels[name]
    state = state.evolve(phot=phot, crossmatch=[*state.crossmatch, *reports])
    for report in reports:
        state = state.note(f"cross-match {report.service}: {report.status} ({report.n_rows} rows)")
    return state


def transients_stage(state: FrameState, ctx: RunContext) -> FrameState:
    """Flag significant unexplained detections, where the reference is deep enough to judge."""
    if state.wcs is None or state.wcs.wcs is None:
        return state.note("transient candidates: none sought (no astrometric solution)")
    phot = flag_transient_candidates(state.phot, reference=state.reference)
    n = int(np.count_nonzero(phot["transient_candidate"]))
    return state.evolve(phot=phot).note(f"transient candidates: {n}")
