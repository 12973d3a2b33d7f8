"""The per-frame stages, in order, each ``(state, ctx) -> state``.

These thin adapters call the pure stage functions of the library with the
right section of the configuration.  They are module-level so that they
pickle to Dask workers; :mod:`rpf.pipeline.graph` wraps each one in a
``dask.delayed`` task, and :func:`rpf.pipeline.frame.process_frame` calls
them one after another for eager use.
"""

from __future__ import annotations

import numpy as np
from astropy.table import QTable

from rpf.astrometry import solve_wcs
from rpf.background import choose_box_size, estimate_background
from rpf.calibration import calibrate
from rpf.config import PipelineConfig
from rpf.cosmics import clean_cosmic_rays
from rpf.detection import FwhmEstimate, detect_sources, estimate_fwhm
from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.io import load_frame, minimum_frame_side
from rpf.photometry import aperture_photometry
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState

__all__ = ["STAGES", "STAGE_SECTIONS", "stage_parameters"]

STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "load": ("header",),
    "calibrate": ("calibration",),
    "background": ("background",),
    "cosmic_rays": ("cosmics",),
    "detect": ("detection", "background"),
    "photometry": ("aperture",),
    "astrometry": ("astrometry",),
    "zero_point": ("zeropoint", "catalogs"),
    "psf": ("psf",),
    "crossmatch": ("catalogs",),
    "subtraction": ("transients",),
    "targets": ("transients", "aperture", "catalogs"),
}
"""The configuration sections each stage reads (written to the frame's log)."""


def stage_parameters(name: str, config: PipelineConfig) -> dict[str, dict]:
    """Return the configuration sections a stage uses, without secrets.

    Parameters
    ----------
    name : str
        Stage name (a key of :data:`STAGE_SECTIONS`).
    config : PipelineConfig
        The run's configuration.

    Returns
    -------
    dict
        ``{section: {parameter: value}}``; API keys are blanked.
    """
    values = config.to_dict()
    return {section: values[section] for section in STAGE_SECTIONS.get(name, ())}


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
        state = state.note(f"WARNING {warning}")
    return state.evolve(frame=frame)


def calibrate_frame(state: FrameState, ctx: RunContext) -> FrameState:
    """Subtract bias and exposure-scaled dark, divide by the flat."""
    info = ", ".join(k for k in ("bias", "dark_rate", "flat") if getattr(ctx.masters, k) is not None)
    frame = calibrate(state.frame, ctx.masters, config=ctx.config.calibration)
    return state.evolve(frame=frame).note(f"calibration: applied {info or 'nothing (no master frames)'}")


def _fwhm_guess(state: FrameState, ctx: RunContext) -> float:
    scale = state.frame.meta.pixel_scale
    if scale:
        return ctx.config.detection.seeing_arcsec / scale
    return 3.0


def background(state: FrameState, ctx: RunContext) -> FrameState:
    """First background estimate, with the FWHM guessed from the seeing."""
    bkg = estimate_background(
        state.frame.data, mask=state.frame.mask, fwhm_px=_fwhm_guess(state, ctx), config=ctx.config.background
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


def _bad_pixels(state: FrameState) -> np.ndarray | None:
    mask = state.frame.mask
    return None if mask is None else (mask & np.uint16(SourceFlag.BAD_PIXEL)) != 0


def _measure_fwhm(
    state: FrameState, image: np.ndarray, sources: QTable, ctx: RunContext
) -> tuple[FwhmEstimate, str]:
    """Measure the FWHM.

    A field too sparse (or too crowded) for :func:`~rpf.detection.estimate_fwhm`
    does not fail the frame: the FWHM then comes from the second moments of
    the brightest clean detections, else from the configured seeing, with a
    warning in the log and ``fwhm_measured: false`` in the metadata.
    """
    try:
        fwhm = estimate_fwhm(image, sources, config=ctx.config.detection)
    except PhotometryError as exc:
        moments = _moment_fwhm(sources)
        if moments is not None:
            value, how = moments, "2.355 sqrt(a b) of the brightest clean detections"
        else:
            value = _fwhm_guess(state, ctx)
            how = f"the guess from detection.seeing_arcsec {ctx.config.detection.seeing_arcsec}\" (else 3 px)"
        note = f"WARNING FWHM not measured ({exc}); using {value:.2f} px from {how}"
        return FwhmEstimate(fwhm_px=value, scatter_px=float("nan"), n_stars=0), note
    return fwhm, f"FWHM {fwhm.fwhm_px:.2f} px from {fwhm.n_stars} stars"


_NOT_CLEAN = (
    SourceFlag.SATURATED
    | SourceFlag.EDGE
    | SourceFlag.COSMIC_RAY
    | SourceFlag.BAD_PIXEL
    | SourceFlag.BLENDED
    | SourceFlag.CROWDED
)


def _moment_fwhm(sources: QTable, n_brightest: int = 10) -> float | None:
    """Return a rough FWHM from the second moments of the brightest clean detections, or None."""
    clean = np.flatnonzero((np.asarray(sources["flags"]) & int(_NOT_CLEAN)) == 0)
    if clean.size == 0:
        return None
    brightest = clean[np.argsort(np.asarray(sources["flux_iso"])[clean])[::-1][:n_brightest]]
    sizes = 2.355 * np.sqrt(np.asarray(sources["a"])[brightest] * np.asarray(sources["b"])[brightest])
    sizes = sizes[np.isfinite(sizes) & (sizes > 1.0)]
    return float(np.median(sizes)) if sizes.size else None


def _detection_image(state: FrameState, bad: np.ndarray | None) -> np.ndarray:
    """Return the background-subtracted image with ``bad`` and non-finite pixels set to 0 (a new array)."""
    image = state.image
    image[~np.isfinite(image)] = 0.0
    if bad is not None:
        image[bad] = 0.0
    return image


def detect(state: FrameState, ctx: RunContext) -> FrameState:
    """Detect sources, measure the FWHM and refine the background with it."""
    cfg = ctx.config
    bad = _bad_pixels(state)
    image = _detection_image(state, bad)
    sources = detect_sources(
        image,
        rms=state.background.rms,
        mask=bad,
        pixel_flags=state.frame.mask,
        fwhm_px=_fwhm_guess(state, ctx),
        config=cfg.detection,
    )
    fwhm, how = _measure_fwhm(state, image, sources, ctx)
    state = state.evolve(sources=sources, fwhm=fwhm).note(f"detection: {len(sources)} sources; {how}")
    refined = False
    if cfg.background.box_size is None:
        box = choose_box_size(state.frame.data.shape, fwhm_px=fwhm.fwhm_px)
        if box != state.background.box_size:
            image = None  # free it while the maps are rebuilt
            bkg = estimate_background(
                state.frame.data, mask=state.frame.mask, fwhm_px=fwhm.fwhm_px, config=cfg.background
            )
            state = state.evolve(background=bkg).note(f"background: refined with box {bkg.box_size} px")
            refined = True
            image = _detection_image(state, bad)
    guess = _fwhm_guess(state, ctx)
    if not refined and abs(fwhm.fwhm_px - guess) <= 0.1 * guess:
        return state  # the first pass already used this background and (nearly) this filter
    sources = detect_sources(
        image,
        rms=state.background.rms,
        mask=bad,
        pixel_flags=state.frame.mask,
        fwhm_px=fwhm.fwhm_px,
        config=cfg.detection,
    )
    state = state.evolve(sources=sources).note(f"detection: {len(sources)} sources with FWHM {fwhm.fwhm_px:.2f} px")
    return state


def photometry(state: FrameState, ctx: RunContext) -> FrameState:
    """Aperture photometry at every radius, aperture-corrected to total flux."""
    phot = aperture_photometry(
        state.image,
        state.sources,
        fwhm_px=state.fwhm.fwhm_px,
        rms=state.background.rms,
        gain=state.frame.meta.gain,
        mask=state.frame.mask,
        config=ctx.config.aperture,
    )
    corr = phot.meta.get("aperture_correction", {})
    return state.evolve(phot=phot).note(f"aperture photometry: {len(phot)} sources; corrections {corr}")


def astrometry(state: FrameState, ctx: RunContext) -> FrameState:
    """Find, verify and refine the WCS; give every source its sky position."""
    from rpf.pipeline.reference import reference_for_astrometry

    reference, ref_msg = reference_for_astrometry(state, ctx)
    if ref_msg:
        state = state.note(ref_msg)
    solution = solve_wcs(
        state.phot,
        shape=state.frame.data.shape,
        meta=state.frame.meta,
        header=state.frame.header,
        reference=reference,
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
    return state.evolve(phot=phot, wcs=solution, reference=reference).note(msg)


def calibrate_magnitudes(state: FrameState, ctx: RunContext) -> FrameState:
    """Airmass, reference catalogue, zero point and calibrated magnitudes."""
    from rpf.pipeline.magnitudes import calibrate_magnitudes as run

    return run(state, ctx)


def psf_photometry(state: FrameState, ctx: RunContext) -> FrameState:
    """Build an ePSF and fit every source (with ``psf.enabled``)."""
    if not ctx.config.psf.enabled:
        return state.note("PSF photometry: not requested (psf.enabled is false)")
    from rpf.pipeline.magnitudes import psf_stage

    return psf_stage(state, ctx)


def crossmatch(state: FrameState, ctx: RunContext) -> FrameState:
    """Label sources with SIMBAD, SkyBoT, VSX, quasars and Astro-Colibri."""
    from rpf.pipeline.labels import crossmatch_stage

    return crossmatch_stage(state, ctx)


def subtraction(state: FrameState, ctx: RunContext) -> FrameState:
    """Subtract the run's template (``transients.template``) and list the difference-image candidates."""
    from rpf.pipeline.transient_steps import subtraction_step

    return subtraction_step(state, ctx)


def targets(state: FrameState, ctx: RunContext) -> FrameState:
    """Measure the run's targets by forced photometry: magnitude or upper limit (frame and difference image)."""
    from rpf.pipeline.transient_steps import targets_step

    return targets_step(state, ctx)


STAGES = (
    ("load", load),
    ("calibrate", calibrate_frame),
    ("background", background),
    ("cosmic_rays", cosmic_rays),
    ("detect", detect),
    ("photometry", photometry),
    ("astrometry", astrometry),
    ("zero_point", calibrate_magnitudes),
    ("psf", psf_photometry),
    ("crossmatch", crossmatch),
    ("subtraction", subtraction),
    ("targets", targets),
)
"""The ordered per-frame stages; products are written after the last one."""
