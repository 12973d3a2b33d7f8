"""Stacks of simulated sequences: depth, zero point, astrometry, header, clipping, masks and variance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from transient_sims import (
    ZERO_POINT,
    empty_sky_depth,
    pipeline_context,
    reference_catalog,
    run_stages,
    simulate,
    stack_frame,
    write_calibrated,
)

from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.stacking import stack_frames

N_FRAMES = 4


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    """Four 60-s frames of one field with 3" dithers, their stack, and the pipeline run on each."""
    folder = tmp_path_factory.mktemp("stack")
    catalog, catalog_file = reference_catalog(folder)
    ctx = pipeline_context(folder, catalog_file)
    rng = np.random.default_rng(0)
    states = []
    for i in range(N_FRAMES):
        sim = simulate(catalog, seed=10 + i, offset_arcsec=rng.uniform(-3, 3, 2), minute=2 * i)
        states.append(run_stages(write_calibrated(sim, folder / f"frame{i}.fits"), ctx))
    frames = [stack_frame(s) for s in states]
    stack = stack_frames(frames)
    stack.write(folder / "stack.fits")
    return {"states": states, "frames": frames, "stack": stack, "stacked": run_stages(folder / "stack.fits", ctx)}


def test_stack_is_deeper_by_the_square_root_of_n(sequence):
    expected = 2.5 * np.log10(np.sqrt(N_FRAMES))
    single = np.mean([empty_sky_depth(s) for s in sequence["states"]])
    gain = empty_sky_depth(sequence["stacked"]) - single
    assert gain == pytest.approx(expected, rel=0.10)
    # the pipeline's own 5-sigma limit (background RMS and FWHM) agrees: the stack's noise stays white
    pipeline_gain = sequence["stacked"].limiting_mag - np.mean([s.limiting_mag for s in sequence["states"]])
    assert pipeline_gain == pytest.approx(expected, rel=0.10)


def test_stack_zero_point_and_astrometry_as_good_as_one_frame(sequence):
    states, stacked = sequence["states"], sequence["stacked"]
    zps = np.array([s.zero_point.zero_point for s in states])
    assert stacked.zero_point.zero_point == pytest.approx(np.median(zps), abs=0.01)
    assert stacked.zero_point.zero_point == pytest.approx(ZERO_POINT, abs=0.02)
    assert stacked.zero_point.zero_point_err <= 1.2 * np.median([s.zero_point.zero_point_err for s in states])
    assert stacked.wcs.rms_arcsec <= 1.2 * np.median([s.wcs.rms_arcsec for s in states])
    assert stacked.fwhm.fwhm_px <= 1.1 * np.median([s.fwhm.fwhm_px for s in states])


def test_stack_header_records_exposure_time_and_airmass(sequence):
    header, states = sequence["stack"].header, sequence["states"]
    meta = sequence["stacked"].frame.meta
    assert meta.exptime == header["EXPTIME"] == pytest.approx(N_FRAMES * 60.0)
    assert meta.mjd_mid == pytest.approx(np.mean([s.frame.meta.mjd_mid for s in states]), abs=1e-8)
    assert meta.mjd_start == pytest.approx(min(s.frame.meta.mjd_start for s in states), abs=1e-8)
    assert header["AIRMASS"] == pytest.approx(np.mean([s.airmass.airmass for s in states]), abs=1e-6)
    assert header["NCOMBINE"] == N_FRAMES and header["STKIM001"] == "frame0.fits"
    # summed frames: same gain in e-/ADU, read noise adds in quadrature
    assert meta.gain == pytest.approx(states[0].frame.meta.gain, rel=0.01)
    assert meta.read_noise == pytest.approx(np.sqrt(N_FRAMES) * states[0].frame.meta.read_noise, rel=0.01)


def test_variance_matches_the_noise_of_the_stack(sequence):
    stack, stacked = sequence["stack"], sequence["stacked"]
    image = stacked.image
    blank = (stacked.frame.mask == 0) & (np.abs(image) < 5 * stacked.background.global_rms)
    predicted = float(np.median(np.sqrt(stack.variance[blank])))
    residual = image[blank] - np.median(image[blank])
    assert predicted == pytest.approx(1.4826 * np.median(np.abs(residual)), rel=0.1)


def test_an_artefact_in_one_frame_is_clipped_and_masks_propagate(sequence):
    frames = list(sequence["frames"])
    trail = frames[1].data.copy()
    trail[200, 40:340] += 3000.0  # a satellite in frame 1 only, in frame 1's pixels
    bad = np.zeros(trail.shape, np.uint16)
    bad[50:60, 50:60] = SourceFlag.BAD_PIXEL
    frames[1] = dataclasses.replace(frames[1], data=trail, mask=frames[1].mask | bad)
    everywhere = [dataclasses.replace(f, mask=(f.mask if f.mask is not None else 0) | _corner(f.data.shape))
                  for f in frames]
    stack = stack_frames(everywhere, reference=0)
    clean = sequence["stack"]
    x, y = frames[0].wcs.world_to_pixel(frames[1].wcs.pixel_to_world(np.arange(60, 320), np.full(260, 200)))
    rows, cols = np.rint(y).astype(int), np.rint(x).astype(int)
    excess = stack.data[rows, cols] - clean.data[rows, cols]
    assert np.median(np.abs(excess)) < 3 * np.median(np.sqrt(clean.variance[rows, cols]))
    assert stack.rejected_fraction > clean.rejected_fraction
    assert (stack.mask[:8, :8] & SourceFlag.BAD_PIXEL).all() and np.isnan(stack.data[:8, :8]).all()
    assert np.mean(stack.coverage[12:372, 12:372] >= N_FRAMES - 1) > 0.999


def _corner(shape) -> np.ndarray:
    mask = np.zeros(shape, np.uint16)
    mask[:12, :12] = SourceFlag.BAD_PIXEL
    return mask


def test_stack_needs_two_aligned_frames(sequence):
    frame = sequence["frames"][0]
    with pytest.raises(PhotometryError, match="at least 2 frames"):
        stack_frames([frame])
    with pytest.raises(PhotometryError, match="no astrometric solution"):
        stack_frames([frame, dataclasses.replace(frame, name="nowcs.fits", wcs=None)])
