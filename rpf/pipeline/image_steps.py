"""The pixel steps of a frame: load, calibrate, background, cosmic rays.

Each step is ``(state, ctx) -> state``, module-level so it pickles to Dask
workers, and calls one library stage with its section of the configuration.
"""

from __future__ import annotations

import numpy as np

from rpf.background import estimate_background
from rpf.calibration import calibrate
from rpf.cosmics import clean_cosmic_rays
from rpf.errors import CalibrationError
from rpf.flags import SourceFlag
from rpf.io import load_frame, minimum_frame_side
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState

__all__ = ["background", "calibrate_frame", "cosmic_rays", "fwhm_guess", "load"]


def load(state: FrameState, ctx: RunContext) -> FrameState:
    """Read the raw frame and normalise its header."""
    frame = load_frame(state.path, defaults=ctx.config.header, min_side=minimum_frame_side(ctx.config))
    meta = frame.meta
    state = state.note(
        f"load: {state.path}: {meta.shape[1]}x{meta.shape[0]} px, exptime {meta.exptime} s, "
        f"filter {meta.filter}, gain {meta.gain} e-/ADU, read noise {meta.read_noise} e-, "
        f"saturation {meta.saturation} ADU, pixel scale {meta.pixel_scale} arcsec/px"
    )
    for warning in meta.warnings:
        state = state.warn(warning)
    return state.evolve(frame=frame)


def calibrate_frame(state: FrameState, ctx: RunContext) -> FrameState:
    """Subtract bias and exposure-scaled dark, divide by the flat.

    Raises
    ------
    rpf.errors.CalibrationError
        The run's master frames could not be built (every frame fails with it).
    """
    if ctx.masters_error is not None:
        raise CalibrationError(state.path, ctx.masters_error)
    info = ", ".join(k for k in ("bias", "dark_rate", "flat") if getattr(ctx.masters, k) is not None)
    frame = calibrate(state.frame, ctx.masters, config=ctx.config.calibration)
    return state.evolve(frame=frame).note(f"calibration: applied {info or 'nothing (no master frames)'}")


def fwhm_guess(state: FrameState, ctx: RunContext) -> float:
    """Return the FWHM (px) expected from ``detection.seeing_arcsec`` and the pixel scale (else 3 px)."""
    scale = state.frame.meta.pixel_scale
    if scale:
        return ctx.config.detection.seeing_arcsec / scale
    return 3.0


def background(state: FrameState, ctx: RunContext) -> FrameState:
    """First background estimate, with the FWHM guessed from the seeing."""
    bkg = estimate_background(
        state.frame.data, mask=state.frame.mask, fwhm_px=fwhm_guess(state, ctx), config=ctx.config.background
    )
    msg = f"background: box {bkg.box_size} px, level {bkg.global_level:.2f}, rms {bkg.global_rms:.3f} ADU"
    return state.evolve(background=bkg).note(msg)


def cosmic_rays(state: FrameState, ctx: RunContext) -> FrameState:
    """Detect and clean cosmic-ray hits (L.A.Cosmic)."""
    meta = state.frame.meta
    cr = clean_cosmic_rays(
        state.frame.data,
        gain=meta.gain,
        read_noise=meta.read_noise,
        saturation=meta.saturation,
        mask=state.frame.mask,
        background=state.background,
        config=ctx.config.cosmics,
    )
    mask = np.zeros(state.frame.data.shape, np.uint16) if state.frame.mask is None else state.frame.mask.copy()
    mask[cr.mask] |= np.uint16(SourceFlag.COSMIC_RAY)
    frame = state.frame.with_data(cr.clean, mask=mask)  # the uncleaned pixels are not kept
    message = f"cosmic rays: {cr.n_pixels} pixels flagged and cleaned"
    return state.evolve(cosmic_pixels=cr.n_pixels, frame=frame).note(message)
