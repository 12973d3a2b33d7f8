"""Detection steps: detect, fwhm, background_refine, redetect.

The first detection filters with the FWHM guessed from the configured
seeing; the FWHM is then measured on those detections; with an automatic
background mesh the background is re-estimated with a box fitted to that
FWHM; and the sources are detected again when the background changed or
the measured FWHM differs from the guess by more than 10 %.  Each is its
own step (own time, event and log line); a step with nothing to do says so.
"""

from __future__ import annotations

import numpy as np
from astropy.table import QTable

from rpf.background import choose_box_size, estimate_background
from rpf.detection import FwhmEstimate, detect_sources, estimate_fwhm
from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.pipeline.context import RunContext
from rpf.pipeline.image_steps import fwhm_guess
from rpf.pipeline.state import FrameState

__all__ = ["background_refine", "detect", "fwhm", "redetect"]

REDETECT_FWHM_CHANGE = 0.1
"""Detect again when the measured FWHM differs from the detection filter's by more than this fraction."""

_NOT_CLEAN = (
    SourceFlag.SATURATED
    | SourceFlag.EDGE
    | SourceFlag.COSMIC_RAY
    | SourceFlag.BAD_PIXEL
    | SourceFlag.BLENDED
    | SourceFlag.CROWDED
)


def _bad_pixels(state: FrameState) -> np.ndarray | None:
    mask = state.frame.mask
    return None if mask is None else (mask & np.uint16(SourceFlag.BAD_PIXEL)) != 0


def _detection_image(state: FrameState, bad: np.ndarray | None) -> np.ndarray:
    """Return the background-subtracted image with ``bad`` and non-finite pixels set to 0 (a new array)."""
    image = state.image
    image[~np.isfinite(image)] = 0.0
    if bad is not None:
        image[bad] = 0.0
    return image


def _detect(state: FrameState, ctx: RunContext, fwhm_px: float) -> FrameState:
    bad = _bad_pixels(state)
    sources = detect_sources(
        _detection_image(state, bad),
        rms=state.background.rms,
        mask=bad,
        pixel_flags=state.frame.mask,
        fwhm_px=fwhm_px,
        config=ctx.config.detection,
    )
    return state.evolve(sources=sources, detected_with=(float(fwhm_px), int(state.background.box_size)))


def detect(state: FrameState, ctx: RunContext) -> FrameState:
    """Detect sources with a filter of the FWHM guessed from the configured seeing."""
    guess = fwhm_guess(state, ctx)
    state = _detect(state, ctx, guess)
    return state.note(f"detection: {len(state.sources)} sources (filter FWHM {guess:.2f} px, guessed)")


def _moment_fwhm(sources: QTable, n_brightest: int = 10) -> float | None:
    """Return a rough FWHM from the second moments of the brightest clean detections, or None."""
    clean = np.flatnonzero((np.asarray(sources["flags"]) & int(_NOT_CLEAN)) == 0)
    if clean.size == 0:
        return None
    brightest = clean[np.argsort(np.asarray(sources["flux_iso"])[clean])[::-1][:n_brightest]]
    sizes = 2.355 * np.sqrt(np.asarray(sources["a"])[brightest] * np.asarray(sources["b"])[brightest])
    sizes = sizes[np.isfinite(sizes) & (sizes > 1.0)]
    return float(np.median(sizes)) if sizes.size else None


def fwhm(state: FrameState, ctx: RunContext) -> FrameState:
    """Measure the FWHM on the detections.

    A field too sparse (or too crowded) for :func:`~rpf.detection.estimate_fwhm`
    does not fail the frame: the FWHM then comes from the second moments of
    the brightest clean detections, else from the configured seeing, with a
    warning in the log and ``fwhm_measured: false`` in the metadata.
    """
    image = _detection_image(state, _bad_pixels(state))
    try:
        found = estimate_fwhm(image, state.sources, config=ctx.config.detection)
    except PhotometryError as exc:
        moments = _moment_fwhm(state.sources)
        if moments is not None:
            value, how = moments, "2.355 sqrt(a b) of the brightest clean detections"
        else:
            value = fwhm_guess(state, ctx)
            how = f"the guess from detection.seeing_arcsec {ctx.config.detection.seeing_arcsec}\" (else 3 px)"
        estimate = FwhmEstimate(fwhm_px=value, scatter_px=float("nan"), n_stars=0)
        return state.evolve(fwhm=estimate).warn(f"FWHM not measured ({exc}); using {value:.2f} px from {how}")
    return state.evolve(fwhm=found).note(f"FWHM: {found.fwhm_px:.2f} px from {found.n_stars} stars")


def background_refine(state: FrameState, ctx: RunContext) -> FrameState:
    """Re-estimate the background with a mesh fitted to the measured FWHM (automatic box size only)."""
    if ctx.config.background.box_size is not None:
        return state.note(f"background refine: not needed (background.box_size {ctx.config.background.box_size})")
    box = choose_box_size(state.frame.data.shape, fwhm_px=state.fwhm.fwhm_px)
    if box == state.background.box_size:
        return state.note(f"background refine: not needed (box {box} px fits the FWHM)")
    bkg = estimate_background(
        state.frame.data, mask=state.frame.mask, fwhm_px=state.fwhm.fwhm_px, config=ctx.config.background
    )
    return state.evolve(background=bkg).note(f"background refine: box {bkg.box_size} px, rms {bkg.global_rms:.3f} ADU")


def redetect(state: FrameState, ctx: RunContext) -> FrameState:
    """Detect again with the measured FWHM, when the background or the FWHM changed enough."""
    used_fwhm, used_box = state.detected_with
    measured = state.fwhm.fwhm_px
    if used_box == state.background.box_size and abs(measured - used_fwhm) <= REDETECT_FWHM_CHANGE * used_fwhm:
        return state.note(f"redetection: not needed (FWHM {measured:.2f} px within 10 % of the filter's)")
    state = _detect(state, ctx, measured)
    return state.note(f"redetection: {len(state.sources)} sources with FWHM {measured:.2f} px")
