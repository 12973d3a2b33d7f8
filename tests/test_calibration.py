"""Master frames and calibration against a known synthetic truth."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rpf.calibration import MasterFrames, build_masters, calibrate, combine_stack
from rpf.calibration.combine import _sort_stack
from rpf.config import CalibrationConfig, HeaderDefaults, PipelineConfig
from rpf.errors import CalibrationError
from rpf.flags import SourceFlag
from rpf.frame import Frame, FrameMeta

NY, NX = 192, 256
READ_NOISE = 8.0  # ADU
N_BIAS, DARK_TIMES, FLAT_LEVELS = 9, (30.0, 60.0, 60.0, 120.0, 120.0, 240.0, 240.0), (42000.0, 45000.0, 48000.0,
                                                                                      43000.0, 46000.0)
SCIENCE_EXPTIME = 90.0
CONFIG = PipelineConfig()


class Truth:
    """A bias pattern, a dark-current map with hot pixels, a vignetted flat and a sky with stars."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[:NY, :NX]
        self.bias = 1000.0 + 20.0 * np.sin(xx / 13.0) + 0.05 * yy
        self.dark_rate = np.full((NY, NX), 0.2)
        self.hot = (self.rng.integers(0, NY, 40), self.rng.integers(0, NX, 40))
        self.dark_rate[self.hot] = 25.0
        r2 = ((xx - NX / 2) / NX) ** 2 + ((yy - NY / 2) / NY) ** 2
        self.flat = 1.0 - 1.2 * r2
        self.flat[:6, :6] = 0.05  # dust / dead corner below flat_min
        self.flat /= np.median(self.flat[NY // 4 : NY - NY // 4, NX // 4 : NX - NX // 4])
        self.sky = 500.0 + 0.3 * xx
        for y, x in zip(self.rng.uniform(20, NY - 20, 15), self.rng.uniform(20, NX - 20, 15), strict=True):
            self.sky += 8000.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0**2))

    def noise(self) -> np.ndarray:
        return self.rng.normal(0.0, READ_NOISE, (NY, NX))

    def bias_frames(self) -> list[np.ndarray]:
        frames = [self.bias + self.noise() for _ in range(N_BIAS)]
        frames[3][10, 10] += 20000.0  # cosmic ray in one frame
        frames[5][50, 60] -= 900.0
        return frames

    def dark_frames(self) -> list[np.ndarray]:
        return [self.bias + self.dark_rate * t + self.noise() for t in DARK_TIMES]

    def flat_frames(self) -> list[np.ndarray]:
        return [self.bias + self.dark_rate * 2.0 + level * self.flat + self.noise() for level in FLAT_LEVELS]

    def science(self) -> np.ndarray:
        return self.bias + self.dark_rate * SCIENCE_EXPTIME + self.flat * self.sky + self.noise()


def _as_uint16_fits(path: Path, data: np.ndarray, exptime: float) -> Path:
    header = fits.Header({"EXPTIME": exptime, "SATURATE": 65535})
    fits.PrimaryHDU(np.clip(np.round(data), 0, 65535).astype(np.uint16), header=header).writeto(path)
    return path


def _frame(data: np.ndarray, exptime: float = SCIENCE_EXPTIME, mask: np.ndarray | None = None) -> Frame:
    meta = FrameMeta(path="/data/science.fits", stem="science", shape=data.shape, exptime=exptime)
    return Frame(data=data.astype(np.float32), header=fits.Header(), meta=meta, mask=mask)


@pytest.fixture(scope="module")
def truth() -> Truth:
    return Truth()


@pytest.fixture(scope="module")
def files(truth: Truth, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("calib")
    return {
        "bias": [_as_uint16_fits(root / f"bias{i}.fits", d, 0.0) for i, d in enumerate(truth.bias_frames())],
        "dark": [_as_uint16_fits(root / f"dark{i}.fits", d, t)
                 for i, (d, t) in enumerate(zip(truth.dark_frames(), DARK_TIMES, strict=True))],
        "flat": [_as_uint16_fits(root / f"flat{i}.fits", d, 2.0) for i, d in enumerate(truth.flat_frames())],
    }


@pytest.fixture(scope="module")
def masters(files: dict[str, list[Path]]) -> MasterFrames:
    return build_masters(bias=files["bias"], dark=files["dark"], flat=files["flat"], config=CONFIG)


def test_master_bias_recovers_pattern_within_noise(masters: MasterFrames, truth: Truth) -> None:
    residual = masters.bias - truth.bias
    # median of N Gaussian values: sigma * sqrt(pi/2) / sqrt(N); +0.3 ADU rms from rounding to integers
    expected = np.hypot(READ_NOISE * np.sqrt(np.pi / 2 / N_BIAS), 0.29)
    assert masters.bias.dtype == np.float32
    assert abs(float(np.mean(residual))) < 0.1
    assert 0.85 * expected < float(np.std(residual)) < 1.15 * expected
    assert abs(residual[10, 10]) < 5 * expected and abs(residual[50, 60]) < 5 * expected
    assert masters.info["n_bias"] == N_BIAS


def test_master_dark_is_a_rate_from_mixed_exposures(masters: MasterFrames, truth: Truth) -> None:
    residual = masters.dark_rate - truth.dark_rate
    # each rate has noise ~ READ_NOISE / t; the median over the stack is dominated by the longer exposures
    assert float(np.std(residual)) < READ_NOISE / 60.0
    np.testing.assert_allclose(masters.dark_rate[truth.hot], 25.0, atol=0.5)
    assert masters.info["dark_exptimes"] == list(DARK_TIMES)


def test_master_flat_normalised_and_low_pixels_masked(masters: MasterFrames, truth: Truth) -> None:
    flat = masters.flat
    centre = flat[NY // 4 : NY - NY // 4, NX // 4 : NX - NX // 4]
    assert float(np.nanmedian(centre)) == pytest.approx(1.0, abs=1e-6)
    assert np.isnan(flat[:6, :6]).all()
    assert int(np.isnan(flat).sum()) == 36 == masters.info["n_flat_masked"]
    good = np.isfinite(flat)
    # noise of a flat pixel ~ READ_NOISE / level / sqrt(N) ~ 1e-4
    assert float(np.std((flat - truth.flat)[good])) < 5e-4


def test_calibrated_frame_recovers_truth_within_noise(masters: MasterFrames, truth: Truth) -> None:
    raw = _frame(np.round(truth.science()))
    before = raw.data.copy()
    result = calibrate(raw, masters, config=CONFIG.calibration)
    np.testing.assert_array_equal(raw.data, before)
    assert result is not raw and result.data.dtype == np.float32
    good = np.isfinite(masters.flat)
    chi = ((result.data - truth.sky) * truth.flat / READ_NOISE)[good]
    assert abs(float(np.mean(chi))) < 0.05
    assert 0.95 < float(np.std(chi)) < 1.15
    hot = np.zeros((NY, NX), bool)
    hot[truth.hot] = True
    assert float(np.max(np.abs(chi[hot[good]]))) < 5.0  # hot pixels removed by the exposure-scaled dark


def test_masked_flat_pixels_are_bad_and_filled_or_nan(masters: MasterFrames, truth: Truth) -> None:
    raw = _frame(truth.science())
    filled = calibrate(raw, masters, config=CalibrationConfig())
    assert ((filled.mask[:6, :6] & SourceFlag.BAD_PIXEL) > 0).all()
    assert np.isfinite(filled.data).all()
    assert float(np.max(np.abs(filled.data[:6, :6] - truth.sky[:6, :6]))) < 100.0
    kept_nan = calibrate(raw, masters, config=CalibrationConfig(bad_pixel_fill="nan"))
    assert np.isnan(kept_nan.data[:6, :6]).all()
    assert ((kept_nan.mask & SourceFlag.BAD_PIXEL) > 0).sum() == 36


def test_any_subset_of_masters(truth: Truth) -> None:
    raw = _frame(truth.science())
    bias_only = MasterFrames(bias=truth.bias.astype(np.float32))
    np.testing.assert_allclose(calibrate(raw, bias_only, config=CONFIG.calibration).data,
                               raw.data - truth.bias.astype(np.float32), rtol=1e-6)
    dark_only = MasterFrames(dark_rate=truth.dark_rate.astype(np.float32))
    np.testing.assert_allclose(calibrate(raw, dark_only, config=CONFIG.calibration).data,
                               raw.data - truth.dark_rate * SCIENCE_EXPTIME, rtol=1e-5)
    nothing = calibrate(raw, MasterFrames(), config=CONFIG.calibration)
    np.testing.assert_array_equal(nothing.data, raw.data)


def test_no_overflow_near_65535(tmp_path: Path) -> None:
    bias = [np.full((NY, NX), 1000.0)] * 3
    near_full = np.full((NY, NX), 65534.0)
    path = _as_uint16_fits(tmp_path / "bright.fits", near_full, 10.0)
    from rpf.io import load_frame

    frame = load_frame(path, defaults=HeaderDefaults())
    masters = MasterFrames.from_arrays(bias=np.stack(bias).astype(np.uint16))
    result = calibrate(frame, masters, config=CONFIG.calibration)
    np.testing.assert_allclose(result.data, 64534.0)
    stack = [np.full((4, 5), 65535, np.uint16)] * 5
    np.testing.assert_array_equal(combine_stack(stack, clip_sigma=3.0, method="mean"), 65535.0)


def test_from_arrays_matches_build_masters(masters: MasterFrames, files: dict[str, list[Path]]) -> None:
    def read(paths: list[Path]) -> list[np.ndarray]:
        return [fits.getdata(p).astype(np.float32) for p in paths]

    memory = MasterFrames.from_arrays(bias=read(files["bias"]), dark=read(files["dark"]), dark_exptimes=DARK_TIMES,
                                      flat=read(files["flat"]), flat_exptimes=2.0)
    for name, array in masters.items():
        np.testing.assert_allclose(getattr(memory, name), array, rtol=1e-6, equal_nan=True)


def test_shape_mismatch_and_unreadable_files_name_the_file(files: dict[str, list[Path]], tmp_path: Path) -> None:
    small = _as_uint16_fits(tmp_path / "small_dark.fits", np.zeros((10, 10)), 30.0)
    with pytest.raises(CalibrationError) as info:
        build_masters(bias=files["bias"][:3], dark=[small], config=CONFIG)
    assert info.value.path == str(small) and "differs from" in info.value.problem
    broken = tmp_path / "broken_flat.fits"
    broken.write_bytes(b"not a fits file at all")
    with pytest.raises(CalibrationError) as info:
        build_masters(flat=[broken], config=CONFIG)
    assert info.value.path == str(broken) and "cannot use flat frame" in info.value.problem
    zero_dark = _as_uint16_fits(tmp_path / "zero_dark.fits", np.zeros((NY, NX)), 0.0)
    with pytest.raises(CalibrationError, match="exposure time") as info:
        build_masters(dark=[zero_dark], config=CONFIG)
    assert info.value.path == str(zero_dark) and "cannot use dark frame" in info.value.problem
    with pytest.raises(CalibrationError, match="exposure time must be > 0"):
        MasterFrames.from_arrays(dark=[np.zeros((NY, NX))], dark_exptimes=0.0)


def test_calibrate_rejects_mismatched_master(truth: Truth) -> None:
    with pytest.raises(CalibrationError) as info:
        calibrate(_frame(truth.science()), MasterFrames(flat=np.ones((10, 10), np.float32)), config=CONFIG.calibration)
    assert info.value.path == "/data/science.fits" and "master flat" in info.value.problem


def test_combine_stack_clips_outliers_and_ignores_nan() -> None:
    rng = np.random.default_rng(3)
    stack = rng.normal(100.0, 5.0, (11, 40, 50)).astype(np.float32)
    stack[2, :, 7] = 1e5
    stack[4, 3, :] = np.nan
    for method, efficiency in (("median", np.sqrt(np.pi / 2)), ("mean", 1.0)):
        combined = combine_stack(stack, clip_sigma=3.0, method=method)
        expected = 5.0 * efficiency / np.sqrt(11)
        assert np.isfinite(combined).all()
        assert float(np.max(np.abs(combined[:, 7] - 100.0))) < 5 * expected
        assert 0.8 * expected < float(np.std(combined)) < 1.2 * expected
    with pytest.raises(ValueError, match="shape"):
        combine_stack([np.zeros((3, 3)), np.zeros((3, 4))], clip_sigma=3.0, method="median")


def test_combine_stack_chunks_agree_with_whole_stack_median() -> None:
    rng = np.random.default_rng(5)
    stack = rng.normal(0.0, 1.0, (5, 1100, 1000)).astype(np.float32)  # larger than one 16 MiB chunk
    median = np.median(stack, axis=0)
    mad = 1.4826 * np.median(np.abs(stack - median), axis=0)
    clipped = np.where(np.abs(stack - median) <= 3.0 * mad, stack, np.nan)
    np.testing.assert_allclose(combine_stack(stack, clip_sigma=3.0, method="median"),
                               np.nanmedian(clipped, axis=0), atol=1e-6)


def test_combine_stack_2048_square_10_frames_without_copying_the_stack() -> None:
    frames = [np.full((2048, 2048), 1000 + i, np.uint16) for i in range(10)]
    tracemalloc.start()
    combined = combine_stack(frames, clip_sigma=3.0, method="median")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert combined.shape == (2048, 2048) and combined.dtype == np.float32
    np.testing.assert_array_equal(combined, 1004.5)
    assert peak < 0.75 * 10 * 2048 * 2048 * 4  # far less than one float32 copy of the stack


def test_sorting_network_sorts_like_numpy_and_small_stacks_give_the_median() -> None:
    rng = np.random.default_rng(8)
    for n in (1, 2, 3, 4, 7, 12, 25, 32, 40):  # 40: past the network, numpy's sort
        stack = rng.normal(size=(n, 30, 20)).astype(np.float32)
        stack[0, 0, :4] = np.inf
        ordered = stack.copy()
        _sort_stack(ordered)
        np.testing.assert_array_equal(ordered, np.sort(stack, axis=0))
        finite = rng.normal(size=(n, 30, 20)).astype(np.float32)
        np.testing.assert_array_equal(
            combine_stack(finite, clip_sigma=1e6, method="median"), np.median(finite, axis=0).astype(np.float32)
        )
