"""Pipeline adapter for the catalogue cross-matches and transient candidates."""

from __future__ import annotations

import numpy as np

from rpf.catalogs import crossmatch_sources
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState
from rpf.site import resolve_site

__all__ = ["crossmatch_stage"]


def crossmatch_stage(state: FrameState, ctx: RunContext) -> FrameState:
    """Label every source with what the sky's catalogues know about it.

    A service that is offline, slow or failing is reported per frame and
    leaves its columns empty; it never fails the frame.
    """
    if state.wcs is None or state.wcs.wcs is None:
        return state.note("cross-match: skipped (no astrometric solution)")
    if not ctx.config.catalogs.crossmatch:
        return state.note("cross-match: no services configured")
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
    state = state.evolve(phot=phot, crossmatch=list(reports))
    for report in reports:
        state = state.note(f"cross-match {report.service}: {report.status} ({report.n_rows} rows)")
    return _flag_transients(state, ctx)


def _flag_transients(state: FrameState, ctx: RunContext) -> FrameState:
    from rpf.catalogs.transients import flag_transient_candidates

    phot = flag_transient_candidates(state.phot)
    n = int(np.count_nonzero(phot["transient_candidate"])) if "transient_candidate" in phot.colnames else 0
    return state.evolve(phot=phot).note(f"transient candidates: {n}")
