"""Shared helpers of the transient tests: simulated calibrated frames run through the pipeline stages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from rpf.config import PipelineConfig
from rpf.pipeline.context import RunContext
from rpf.pipeline.frame import run_stage
from rpf.pipeline.stages import STAGES
from rpf.pipeline.state import FrameState
from rpf.simulate import field_catalog, simulate_frame, write_fits
from rpf.stacking import StackFrame
from rpf.targets import empty_aperture_factor, forced_photometry

SHAPE = (384, 384)
CENTER = (150.0, 20.0)
ZERO_POINT = 23.0


def reference_catalog(folder: Path, *, seed: int = 0) -> tuple[Table, Path]:
    """A dense random field (20000 stars/deg², enough calibrators on a small frame) and its CSV file."""
    catalog = field_catalog(CENTER, SHAPE, 1.0, seed, stars_per_deg2=20000)
    path = folder / "reference.csv"
    catalog.write(path, format="ascii.csv", overwrite=True)
    return catalog, path


def pipeline_context(folder: Path, catalog_file: Path, **sections) -> RunContext:
    config = PipelineConfig().replace(
        catalogs={"offline": True, "catalog_file": str(catalog_file), "reference": "file", "crossmatch": (),
                  "cache_dir": str(folder / "cache")},
        output={"png": False, "zip": False},
        astrometry={"time_limit_s": 5},
        **sections,
    )
    return RunContext(config=config, out_dir=folder / "out")


def write_calibrated(sim, path: Path) -> Path:
    """Write the frame as it is after bias, dark and flat (so the run needs no master frames).

    ``SATURATE`` becomes the lowest calibrated value a saturated raw pixel can have (hot pixels aside).
    """
    header = sim.header.copy()
    truth = sim.truth
    floor = np.percentile(truth.bias + truth.dark_rate * truth.exptime, 99.9)
    header["SATURATE"] = float((float(header["SATURATE"]) - floor) / np.max(truth.flat))
    return write_fits(sim.calibrated(), path, header)


def simulate(catalog: Table, *, seed: int, offset_arcsec=(0.0, 0.0), minute: int = 0, **kwargs):
    center = (CENTER[0] + offset_arcsec[0] / 3600.0, CENTER[1] + offset_arcsec[1] / 3600.0)
    return simulate_frame(catalog=catalog, seed=seed, shape=SHAPE, center=center, zero_point=ZERO_POINT,
                          date_obs=f"2026-03-15T22:{minute:02d}:00", n_cosmic_rays=20, **kwargs)


def run_stages(path: Path, ctx: RunContext) -> FrameState:
    """Run every per-frame stage eagerly and return the final state (pixels included)."""
    state = FrameState(path=str(path))
    for name, function in STAGES:
        state = run_stage(name, function, state, ctx)
    assert state.error is None, state.error
    return state


def stack_frame(state: FrameState) -> StackFrame:
    meta = state.frame.meta
    return StackFrame(
        name=Path(state.path).name, data=state.frame.data, wcs=state.wcs.wcs, header=state.frame.header,
        exptime=meta.exptime, mjd_start=meta.mjd_start, mjd_mid=meta.mjd_mid, gain=meta.gain,
        read_noise=meta.read_noise, background=state.background.level, rms=state.background.rms,
        mask=state.frame.mask, zero_point=state.zero_point.zero_point, airmass=state.airmass.airmass,
        fwhm_px=state.fwhm.fwhm_px,
    )


def empty_sky_depth(state: FrameState, *, sigma: float = 5.0, n: int = 600, seed: int = 1) -> float:
    """The ``sigma`` point-source limit (mag) measured by forced photometry at random empty positions.

    The noise comes from the pixels themselves (local annulus noise times the
    frame's empty-aperture factor), not from the pipeline's noise model.
    """
    image = state.image
    fwhm = state.fwhm.fwhm_px
    xy = np.column_stack([state.phot["x"], state.phot["y"]])
    factor = empty_aperture_factor(image, radius_px=fwhm, annulus_px=(4 * fwhm, 6 * fwhm), avoid_xy=xy,
                                   avoid_radius_px=4 * fwhm, n_apertures=1000)
    rng = np.random.default_rng(seed)
    margin = 7 * fwhm
    x = rng.uniform(margin, SHAPE[1] - margin, n)
    y = rng.uniform(margin, SHAPE[0] - margin, n)
    far = np.min(np.hypot(x[:, None] - xy[None, :, 0], y[:, None] - xy[None, :, 1]), axis=1) > 4 * fwhm
    correction = state.phot.meta["aperture_correction"][1.0]
    forced = forced_photometry(image, x[far], y[far], fwhm_px=fwhm, gain=state.frame.meta.gain, radius_fwhm=1.0,
                               annulus_fwhm=(4.0, 6.0), aperture_correction=correction, noise_factor=factor,
                               limit_sigma=sigma)
    flux = float(np.nanmedian(forced["flux_limit"]))
    return -2.5 * np.log10(flux / state.frame.meta.exptime) + state.zero_point.zero_point
