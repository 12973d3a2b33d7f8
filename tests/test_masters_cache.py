"""The masters cache: bit-identical masters, invalidation by content and parameters, LRU size limit."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rpf.calibration import build_masters
from rpf.calibration.cache import masters_key
from rpf.calibration.sources import file_sources
from rpf.config import HeaderDefaults, PipelineConfig
from rpf.errors import CalibrationError

SHAPE = (96, 128)


def _write(path: Path, data: np.ndarray, exptime: float, *, compress: bool = False) -> Path:
    header = fits.Header({"EXPTIME": exptime, "SATURATE": 65535})
    pixels = np.clip(np.round(data), 0, 65535).astype(np.uint16)
    if compress:
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(pixels, header=header, compression_type="RICE_1")]).writeto(
            path
        )
    else:
        fits.PrimaryHDU(pixels, header=header).writeto(path)
    return path


@pytest.fixture(scope="module")
def calib(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("raw")
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    bias = 900.0 + 0.1 * xx
    flat = 1.0 - 0.3 * (((xx - 64) / 128) ** 2 + ((yy - 48) / 96) ** 2)
    files: dict[str, list[Path]] = {"bias": [], "dark": [], "flat": []}
    for i in range(3):
        files["bias"].append(_write(root / f"bias{i}.fits", bias + rng.normal(0, 5, SHAPE), 0.0))
        files["dark"].append(_write(root / f"dark{i}.fits.fz", bias + 30.0 * 2 + rng.normal(0, 5, SHAPE), 30.0,
                                    compress=True))
        files["flat"].append(_write(root / f"flat{i}.fits", bias + 20000 * flat + rng.normal(0, 50, SHAPE), 2.0))
    return files


def _config(cache: Path | None, **calibration) -> PipelineConfig:
    return PipelineConfig().replace(calibration={"cache_dir": None if cache is None else str(cache), **calibration})


def _assert_identical(a, b) -> None:
    assert [name for name, _ in a.items()] == [name for name, _ in b.items()] == ["bias", "dark_rate", "flat"]
    for name, array in a.items():
        other = getattr(b, name)
        assert other.dtype == array.dtype == np.float32
        assert np.array_equal(array.view(np.uint32), other.view(np.uint32))  # bit for bit, NaN included


def test_cached_masters_equal_fresh_ones_bit_for_bit(calib, tmp_path):
    fresh = build_masters(**calib, config=_config(None), threads=1)
    assert fresh.info["cache"] == "off"
    centre = fresh.flat[24:72, 32:96]
    assert np.isfinite(fresh.flat).all() and float(np.median(centre)) == pytest.approx(1.0, abs=1e-6)
    built = build_masters(**calib, config=_config(tmp_path), threads=2)
    loaded = build_masters(**calib, config=_config(tmp_path))
    assert built.info["cache"] == "built" and loaded.info["cache"] == "loaded"
    assert built.info["cache_key"] == loaded.info["cache_key"]
    assert len(list(tmp_path.glob("*.npz"))) == 1
    _assert_identical(fresh, built)  # the number of threads does not change a bit
    _assert_identical(fresh, loaded)
    assert loaded.info["n_bias"] == 3 and loaded.info["dark_exptimes"] == [30.0] * 3


def test_changed_content_invalidates_and_a_touch_does_not(calib, tmp_path):
    files = {kind: [tmp_path / p.name for p in paths] for kind, paths in calib.items()}
    for kind, paths in calib.items():
        for source, copy in zip(paths, files[kind], strict=True):
            copy.write_bytes(source.read_bytes())
    cache = tmp_path / "cache"
    first = build_masters(**files, config=_config(cache))
    stat = files["bias"][1].stat()
    os.utime(files["bias"][1], ns=(stat.st_atime_ns + 10**9, stat.st_mtime_ns + 10**9))
    assert build_masters(**files, config=_config(cache)).info["cache"] == "loaded"  # same bytes, new time stamp
    with fits.open(files["bias"][1], mode="update") as hdul:
        hdul[0].data[10, 10] += 7  # a changed pixel, time stamp put back afterwards
    os.utime(files["bias"][1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = build_masters(**files, config=_config(cache))
    assert changed.info["cache"] == "built" and changed.info["cache_key"] != first.info["cache_key"]
    fresh = build_masters(**files, config=_config(None))
    _assert_identical(fresh, changed)


def test_parameters_and_file_lists_are_part_of_the_key(calib, tmp_path):
    base = build_masters(**calib, config=_config(tmp_path))
    other = build_masters(**calib, config=_config(tmp_path, clip_sigma=2.5))
    fewer = build_masters(bias=calib["bias"][:2], dark=calib["dark"], flat=calib["flat"], config=_config(tmp_path))
    keys = {base.info["cache_key"], other.info["cache_key"], fewer.info["cache_key"]}
    assert len(keys) == 3 and other.info["cache"] == fewer.info["cache"] == "built"
    flat_min = PipelineConfig().replace(calibration={"cache_dir": str(tmp_path), "flat_min": 0.5},
                                        header={"saturation": 60000.0})
    assert build_masters(**calib, config=flat_min).info["cache"] == "built"
    sources = {kind: file_sources(kind, paths, HeaderDefaults(exptime=0.0)) for kind, paths in calib.items()}
    config = PipelineConfig().calibration
    assert masters_key(sources, config=config, defaults=HeaderDefaults(exptime=0.0)) != masters_key(
        sources, config=config, defaults=HeaderDefaults(exptime=0.0, gain=2.0)
    )


def test_size_limit_evicts_the_least_recently_used(calib, tmp_path):
    one = build_masters(**calib, config=_config(None))
    entry_mb = sum(a.nbytes for _, a in one.items()) / 2**20
    limit = 2.5 * entry_mb  # room for two entries
    def masters(clip_sigma):
        return build_masters(**calib, config=_config(tmp_path, cache_max_mb=limit, clip_sigma=clip_sigma))

    a, b = masters(3.0), masters(3.5)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert masters(3.0).info["cache"] == "loaded"  # a is now the most recently used
    c = masters(4.0)
    names = {p.stem for p in tmp_path.glob("*.npz")}
    assert names == {a.info["cache_key"], c.info["cache_key"]}  # b was the least recently used
    assert b.info["cache_key"] not in names
    assert masters(3.5).info["cache"] == "built"


def test_foreign_files_links_and_corrupt_entries(calib, tmp_path):
    cache = tmp_path / "cache"
    built = build_masters(**calib, config=_config(cache))
    key = built.info["cache_key"]
    outside = tmp_path / "outside.npz"
    (cache / f"{key}.npz").rename(outside)
    (cache / f"{key}.npz").symlink_to(outside)  # a link is never followed: a miss, and the target survives
    (cache / "notes.txt").write_text("not an entry")
    rebuilt = build_masters(**calib, config=_config(cache, cache_max_mb=0.001))
    assert rebuilt.info["cache"] == "built"
    assert outside.exists() and (cache / "notes.txt").exists()
    (cache / f"{key}.npz").unlink()
    (cache / f"{key}.npz").write_bytes(b"PK\x03\x04 truncated")
    again = build_masters(**calib, config=_config(cache))
    assert again.info["cache"] == "built"
    _assert_identical(built, again)
    assert build_masters(**calib, config=_config(cache)).info["cache"] == "loaded"


def test_bad_files_are_named_before_any_pixel_is_read(calib, tmp_path):
    broken = tmp_path / "broken.fits"
    broken.write_bytes(b"SIMPLE  = T" + b" " * 100)
    with pytest.raises(CalibrationError) as info:
        build_masters(bias=calib["bias"], flat=[broken], config=_config(tmp_path))
    assert info.value.path == str(broken) and "cannot use flat frame" in info.value.problem
    assert not list(tmp_path.glob("*.npz"))
