"""Cosmic-ray detection against the simulator's injected hits."""

import numpy as np
import pytest
from scipy import ndimage

from rpf.background import estimate_background
from rpf.config import BackgroundConfig, CosmicsConfig
from rpf.cosmics import CosmicRays, clean_cosmic_rays, tile_windows
from rpf.errors import ConfigError, PhotometryError
from rpf.flags import SourceFlag
from rpf.simulate import InstrumentModel, simulate_frame

INSTRUMENT = InstrumentModel()
TILED = CosmicsConfig(tile_size=256, tile_margin=32)


def _clean(data, bkg, config, mask=None):
    return clean_cosmic_rays(
        data,
        gain=INSTRUMENT.gain,
        read_noise=INSTRUMENT.read_noise,
        saturation=INSTRUMENT.saturation,
        mask=mask,
        background=bkg,
        config=config,
    )


@pytest.fixture(scope="module")
def frame():
    """A 1024² frame cleaned in 16 tiles of 256² (the results the accuracy tests check)."""
    sim = simulate_frame(seed=21, shape=(1024, 1024), n_cosmic_rays=60, instrument=INSTRUMENT)
    data = sim.calibrated()
    bkg = estimate_background(data, fwhm_px=sim.truth.fwhm_px, config=BackgroundConfig())
    return data, sim.truth, bkg, _clean(data, bkg, TILED)


@pytest.fixture(scope="module")
def saturated_frame():
    """A frame with saturated stars, flagged as the loader does, and its whole-frame result."""
    sim = simulate_frame(seed=23, shape=(640, 640), n_cosmic_rays=40, instrument=INSTRUMENT, zero_point=26.0)
    data = sim.calibrated()
    flags = np.where(sim.raw >= INSTRUMENT.saturation, np.uint16(SourceFlag.SATURATED), np.uint16(0))
    bkg = estimate_background(data, mask=flags, fwhm_px=sim.truth.fwhm_px, config=BackgroundConfig())
    whole = _clean(data, bkg, CosmicsConfig(tile_size=None), mask=flags)
    return data, flags, bkg, whole


def test_tiles_cover_the_frame_once():
    cover = np.zeros((1000, 777), int)
    for rows, cols, core_rows, core_cols in tile_windows(cover.shape, tile_size=256, margin=32):
        assert rows.stop - rows.start <= 256 + 2 * 32 and cols.stop - cols.start <= 256 + 2 * 32
        cover[rows, cols][core_rows, core_cols] += 1
    assert (cover == 1).all()
    assert len(list(tile_windows((1000, 777), tile_size=None, margin=32))) == 1


@pytest.mark.parametrize(
    "config",
    [TILED, CosmicsConfig(tile_size=200, tile_margin=32, workers=2), CosmicsConfig(tile_size=128, tile_margin=16)],
)
def test_tiled_result_equals_whole_frame(saturated_frame, config):
    data, flags, bkg, whole = saturated_frame
    assert (flags != 0).sum() > 50 and whole.n_pixels > 0
    tiled = _clean(data, bkg, config, mask=flags)
    assert np.array_equal(tiled.mask, whole.mask)
    assert np.array_equal(tiled.clean, whole.clean)
    assert tiled.n_pixels == whole.n_pixels


def test_masked_neighbours_are_not_taken_for_hits(saturated_frame):
    data, flags, bkg, whole = saturated_frame
    around = ndimage.binary_dilation(flags != 0, iterations=2) & (flags == 0)
    assert whole.mask[around].sum() <= 0.05 * around.sum()


def test_non_finite_pixels_stay_and_hits_are_still_found():
    sim = simulate_frame(seed=24, shape=(512, 512), n_cosmic_rays=30, instrument=INSTRUMENT)
    data = sim.calibrated()
    data[100:110, 200:400] = np.nan
    result = _clean(data, None, TILED)
    assert np.isnan(result.clean[100:110, 200:400]).all()
    assert not result.mask[100:110, 200:400].any()
    labels, n_hits = ndimage.label(sim.truth.cr_mask & np.isfinite(data), structure=np.ones((3, 3)))
    assert ndimage.maximum(result.mask, labels, index=np.arange(1, n_hits + 1)).mean() >= 0.9


def test_bad_tiling_and_mask_shape():
    with pytest.raises(ConfigError):
        CosmicsConfig(tile_size=16)
    with pytest.raises(PhotometryError):
        clean_cosmic_rays(
            np.zeros((64, 64), np.float32),
            gain=1.5,
            read_noise=5.0,
            saturation=1e5,
            mask=np.zeros((32, 32), bool),
            config=CosmicsConfig(),
        )


def test_recovers_injected_hits(frame):
    _, truth, _, result = frame
    assert isinstance(result, CosmicRays)
    labels, n_hits = ndimage.label(truth.cr_mask, structure=np.ones((3, 3)))
    found = ndimage.maximum(result.mask, labels, index=np.arange(1, n_hits + 1))
    assert n_hits >= 50
    assert found.mean() >= 0.9
    assert result.n_pixels == int(result.mask.sum())


def test_cleaned_pixels_are_restored(frame):
    data, truth, bkg, result = frame
    hit = result.mask & truth.cr_mask & ((truth.noise_free - truth.sky) < 3 * np.median(bkg.rms))
    before = np.abs(data - truth.noise_free)[hit]
    after = np.abs(result.clean - truth.noise_free)[hit]
    assert np.median(after) < 3 * np.median(bkg.rms)
    assert np.median(after) < 0.1 * np.median(before)


def test_star_cores_are_not_altered(frame):
    data, truth, bkg, result = frame
    core = (truth.noise_free - truth.sky) > 30 * np.median(bkg.rms)
    real_hit = ndimage.binary_dilation(truth.cr_mask, iterations=2)
    changed = (result.clean != data) & core & ~real_hit
    assert changed.sum() <= 0.002 * core.sum()
    assert not (result.clean != data)[~result.mask].any()


def test_disabled_returns_data_and_empty_mask(frame):
    data = frame[0]
    result = clean_cosmic_rays(data, gain=1.5, read_noise=6.0, saturation=65535.0, config=CosmicsConfig(enabled=False))
    assert result.n_pixels == 0 and not result.mask.any()
    assert np.array_equal(result.clean, data)
    assert not np.shares_memory(result.clean, data)  # a copy: the next stages may write to it


def test_masked_pixels_are_left_alone_and_input_untouched():
    sim = simulate_frame(seed=22, shape=(256, 256), n_cosmic_rays=20)
    data = sim.calibrated()
    before = data.copy()
    mask = sim.truth.cr_mask.astype(np.uint16) * 16
    result = clean_cosmic_rays(data, gain=1.5, read_noise=6.0, saturation=65535.0, mask=mask, config=CosmicsConfig())
    assert np.array_equal(data, before)
    assert not (result.mask & sim.truth.cr_mask).any()
    assert np.array_equal(result.clean[sim.truth.cr_mask], data[sim.truth.cr_mask])


def test_bad_gain():
    with pytest.raises(PhotometryError):
        clean_cosmic_rays(
            np.zeros((32, 32), np.float32), gain=0.0, read_noise=5.0, saturation=1e5, config=CosmicsConfig()
        )


def test_default_workers_follow_the_openmp_limit():
    from threadpoolctl import threadpool_limits

    from rpf.threads import available_threads

    with threadpool_limits(limits=1, user_api="openmp"):
        assert available_threads() == 1  # one tile at a time inside a one-core Dask task
    with threadpool_limits(limits=2, user_api="openmp"):
        assert available_threads() == 2  # a lone frame's task given two cores


@pytest.fixture(scope="module")
def lifelike():
    """A 512² star field with lifelike cosmic rays: spots, long and curved tracks, showers, faint hits."""
    from rpf.simulate.cosmics import realistic_cosmic_rays

    instrument = InstrumentModel(seed=5)
    sim = simulate_frame(seed=5, shape=(512, 512), n_cosmic_rays=0, instrument=instrument)
    cosmics = realistic_cosmic_rays((512, 512), n_hits=80, rng=np.random.default_rng(11))
    raw = np.minimum(sim.raw + np.round(cosmics.image), instrument.saturation)
    t = sim.truth
    data = ((raw - t.bias - t.dark_rate * t.exptime) / t.flat).astype(np.float32)
    bkg = estimate_background(data, fwhm_px=3.0, config=BackgroundConfig())
    charge = cosmics.image / t.flat
    return data, bkg, cosmics, charge, float(np.median(bkg.rms))


def test_two_iterations_and_growing_find_what_four_iterations_find(lifelike):
    """The default (niter 2, grow_sigma 3) against the earlier version's 4 iterations on lifelike cosmic rays."""
    data, bkg, cosmics, charge, noise = lifelike
    masks = {
        name: _clean(data, bkg, CosmicsConfig(**changes)).mask
        for name, changes in {"default": {}, "niter_4": {"niter": 4, "grow_sigma": None},
                              "niter_2_plain": {"grow_sigma": None}}.items()
    }
    tracks = cosmics.mask(0.0, ("track", "worm", "cluster")) & (charge > 5 * noise)
    assert tracks.sum() > 500
    recovered = {name: (mask & tracks).sum() / tracks.sum() for name, mask in masks.items()}
    # 4 iterations find track edges that 2 miss ...
    assert (masks["niter_4"] & ~masks["niter_2_plain"]).sum() > 0
    assert recovered["niter_4"] > recovered["niter_2_plain"]
    # ... growing finds those and more, for the cost of one dilation
    assert (masks["niter_4"] & ~masks["default"]).sum() <= 0.01 * masks["niter_4"].sum()
    assert recovered["default"] >= recovered["niter_4"] + 0.05
    away = ~ndimage.binary_dilation(cosmics.image > 0, structure=np.ones((3, 3), bool))
    assert (masks["default"] & away).sum() <= (masks["niter_4"] & away).sum() + 2
    assert CosmicsConfig().niter == 2 and CosmicsConfig().grow_sigma == 3.0
