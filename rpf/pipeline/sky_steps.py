"""Aperture photometry and astrometry steps."""

from __future__ import annotations

import numpy as np

from rpf.astrometry import solve_wcs
from rpf.flags import SourceFlag
from rpf.photometry import aperture_photometry
from rpf.pipeline.context import RunContext
from rpf.pipeline.reference import reference_for_astrometry
from rpf.pipeline.state import FrameState

__all__ = ["astrometry", "photometry"]

NO_POINTING_HINT = "no astrometric solution and no pointing: give --ra/--dec (and --pixel-scale) to solve"
"""The frame's warning when it had no pointing and could not be solved blind."""


def photometry(state: FrameState, ctx: RunContext) -> FrameState:
    """Aperture photometry at every radius, aperture-corrected to total flux."""
    phot = aperture_photometry(
        state.image,
        state.sources,
        fwhm_px=state.fwhm.fwhm_px,
        rms=state.background.rms,
        gain=state.frame.meta.gain,
        mask=state.frame.mask,
        flat_noise=_flat_noise(ctx),
        config=ctx.config.aperture,
    )
    corr = phot.meta.get("aperture_correction", {})
    return state.evolve(phot=phot).note(f"aperture photometry: {len(phot)} sources; corrections {corr}")


def _flat_noise(ctx: RunContext) -> float:
    """Relative per-pixel noise of the master flat the frames were divided by (0 without one, or unknown)."""
    value = ctx.masters.info.get("flat_noise") if ctx.masters.flat is not None else None
    return float(value) if value is not None and np.isfinite(value) else 0.0


def _had_pointing(state: FrameState, ctx: RunContext) -> bool:
    meta, ast = state.frame.meta, ctx.config.astrometry
    return (meta.ra is not None and meta.dec is not None) or (ast.ra is not None and ast.dec is not None)


def astrometry(state: FrameState, ctx: RunContext) -> FrameState:
    """Find, verify and refine the WCS; give every source its sky position.

    The reference catalogue of the header field (attached by the run, else
    fetched here) helps solve and verify; without one, the offline Tycho-2
    index files do.
    """
    state = reference_for_astrometry(state, ctx)
    solution = solve_wcs(
        state.phot,
        shape=state.frame.data.shape,
        meta=state.frame.meta,
        header=state.frame.header,
        reference=state.reference if state.reference is not None and len(state.reference) else None,
        config=ctx.config.astrometry,
    )
    phot = state.phot.copy()
    if solution.wcs is not None:
        ra, dec = solution.wcs.all_pix2world(np.asarray(phot["x"]), np.asarray(phot["y"]), 0)
        phot["ra"], phot["dec"] = ra, dec
    else:
        phot["ra"] = np.full(len(phot), np.nan)
        phot["dec"] = np.full(len(phot), np.nan)
        phot["flags"] = phot["flags"] | np.uint16(SourceFlag.NO_WCS)
    rms = f"{solution.rms_arcsec:.3f}\"" if solution.rms_arcsec is not None else "n/a"
    msg = f"astrometry: {solution.source}, rms {rms}, {solution.n_matches} matches; {solution.message}"
    state = state.evolve(phot=phot, wcs=solution).note(msg)
    if _had_pointing(state, ctx):
        return state
    if solution.wcs is None:
        return state.warn(NO_POINTING_HINT)
    return state.warn(f"no pointing: solved without one ({solution.method}), centre RA {solution.center_ra:.5f}, "
                      f"Dec {solution.center_dec:+.5f}")
