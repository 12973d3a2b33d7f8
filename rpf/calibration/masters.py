"""Master bias, dark-current rate and flat field from raw calibration frames.

Masters are built once per run (or loaded from the masters cache,
:mod:`rpf.calibration.cache`) and shared by every science frame.  Each kind
is read several files at a time and combined in row chunks on a thread pool
as large as the caller may use (:func:`rpf.threads.available_threads`: every
core eagerly, the graph's thread limit in a Dask task); the result does not
depend on the number of threads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rpf.calibration.cache import cache_folder, load_masters, masters_key, store_masters
from rpf.calibration.combine import combine_stack
from rpf.calibration.noise import master_noise
from rpf.calibration.sources import Source, array_sources, file_sources, read_pixels
from rpf.config import CalibrationConfig, PipelineConfig
from rpf.errors import CalibrationError
from rpf.threads import available_threads

__all__ = ["MasterFrames", "build_masters"]

_KINDS = ("bias", "dark", "flat")


@dataclass(frozen=True, eq=False)
class MasterFrames:
    """Master calibration frames shared by every science frame of a run.

    Attributes
    ----------
    bias : numpy.ndarray or None
        2-D float32 master bias (ADU).
    dark_rate : numpy.ndarray or None
        2-D float32 dark current (ADU/s), bias-subtracted when a bias was given.
    flat : numpy.ndarray or None
        2-D float32 flat normalised to median 1 in the central region; NaN
        where the flat is below ``flat_min`` (those pixels are masked).
    info : dict
        Provenance: frame counts, files, exposure times, parameters, warnings;
        and the per-pixel noise of each master (:mod:`rpf.calibration.noise`,
        None with fewer than two frames): ``bias_noise_adu``,
        ``dark_rate_noise_adu_s`` and ``flat_noise`` (relative, at the
        central level).
    """

    bias: np.ndarray | None = None
    dark_rate: np.ndarray | None = None
    flat: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shapes = {name: m.shape for name, m in self.items()}
        for name, shape in shapes.items():
            if len(shape) != 2:
                raise CalibrationError("", f"master {name} must be 2-D, got shape {shape}")
        if len(set(shapes.values())) > 1:
            raise CalibrationError("", f"master frames have different shapes: {shapes}")

    def items(self) -> list[tuple[str, np.ndarray]]:
        """Return ``(name, array)`` for each master present."""
        pairs = (("bias", self.bias), ("dark_rate", self.dark_rate), ("flat", self.flat))
        return [(name, array) for name, array in pairs if array is not None]

    @property
    def shape(self) -> tuple[int, int] | None:
        """Shape of the masters, ``None`` when there are none."""
        present = self.items()
        return present[0][1].shape if present else None

    @classmethod
    def from_arrays(
        cls,
        *,
        bias: Sequence[np.ndarray] | np.ndarray = (),
        dark: Sequence[np.ndarray] | np.ndarray = (),
        dark_exptimes: Sequence[float] | float = (),
        flat: Sequence[np.ndarray] | np.ndarray = (),
        flat_exptimes: Sequence[float] | float = 0.0,
        config: CalibrationConfig | None = None,
    ) -> MasterFrames:
        """Build masters from raw calibration images held in memory.

        Parameters
        ----------
        bias, dark, flat : sequence of 2-D arrays, 3-D array or 2-D array
            Raw frames (ADU) of each kind; a single 2-D array is a stack of one.
        dark_exptimes, flat_exptimes : float or sequence of float
            Exposure times (s), one per frame or one for all.
        config : rpf.config.CalibrationConfig, optional
            Combination parameters (defaults when omitted).

        Returns
        -------
        MasterFrames
            The same masters :func:`build_masters` makes from files.
        """
        sources = {
            "bias": array_sources("bias", bias, 0.0),
            "dark": array_sources("dark", dark, dark_exptimes),
            "flat": array_sources("flat", flat, flat_exptimes),
        }
        return _combine_masters(sources, config=config or CalibrationConfig(), threads=available_threads())


def _check_shapes(sources: Mapping[str, Sequence[Source]]) -> None:
    first: Source | None = None
    for kind in _KINDS:
        for source in sources[kind]:
            if first is None:
                first = source
            elif source.shape != first.shape:
                raise CalibrationError(
                    source.name, f"shape {source.shape} differs from {first.shape} of {first.name}"
                )
        if kind == "dark":
            for source in sources[kind]:
                if not source.exptime > 0:
                    raise CalibrationError(
                        source.name, f"dark frame exposure time must be > 0 s, got {source.exptime}"
                    )


def _central_median(image: np.ndarray) -> float:
    ny, nx = image.shape
    centre = image[ny // 4 : ny - ny // 4 or ny, nx // 4 : nx - nx // 4 or nx]
    finite = centre[np.isfinite(centre)]
    return float(np.median(finite)) if finite.size else float("nan")


def _prepared(
    sources: Sequence[Source], pool: ThreadPoolExecutor, prepare: Callable[[Source, np.ndarray], np.ndarray]
) -> list[np.ndarray]:
    """Read the frames of one kind on the pool, each turned into what is combined."""
    return list(pool.map(lambda source: prepare(source, read_pixels(source)), sources))


def _combine_masters(
    sources: Mapping[str, Sequence[Source]], *, config: CalibrationConfig, threads: int
) -> MasterFrames:
    """Combine the raw frames of each kind into masters (bias first, the dark with it, the flat with both)."""
    _check_shapes(sources)
    combine = {"clip_sigma": config.clip_sigma, "method": config.combine, "threads": threads}
    info: dict[str, Any] = {"combine": config.combine, "clip_sigma": config.clip_sigma, "flat_min": config.flat_min,
                            "warnings": []}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        frames = _prepared(sources["bias"], pool, lambda source, data: data)
        master_bias = combine_stack(frames, **combine) if frames else None
        info["n_bias"] = len(frames)
        info["bias_noise_adu"] = _noise(frames, config)

        def dark_rate(source: Source, data: np.ndarray) -> np.ndarray:
            level = data - master_bias if master_bias is not None else data
            return level / np.float32(source.exptime)

        frames = _prepared(sources["dark"], pool, dark_rate)
        dark_rate_map = combine_stack(frames, **combine) if frames else None
        info["n_dark"] = len(frames)
        info["dark_rate_noise_adu_s"] = _noise(frames, config)
        info["dark_exptimes"] = [s.exptime for s in sources["dark"]]
        if dark_rate_map is not None and master_bias is None:
            info["warnings"].append("dark frames used without a bias: the dark rate includes bias/exptime, exact only "
                                    "for science exposures as long as the darks")

        def normalised_flat(source: Source, data: np.ndarray) -> np.ndarray:
            level = data - master_bias if master_bias is not None else data
            if dark_rate_map is not None:
                level -= dark_rate_map * np.float32(source.exptime)
            median = _central_median(level)
            if not median > 0:
                raise CalibrationError(
                    source.name, f"flat level is not positive after bias/dark subtraction ({median})"
                )
            return level / np.float32(median)

        frames = _prepared(sources["flat"], pool, normalised_flat)
        info["flat_exptimes"] = [s.exptime for s in sources["flat"]]
        info["n_flat"] = len(frames)
        info["flat_noise"] = _noise(frames, config)
        master_flat = None
        if frames:
            master_flat = combine_stack(frames, **combine)
            master_flat /= np.float32(_central_median(master_flat))
            with np.errstate(invalid="ignore"):
                low = ~(master_flat >= config.flat_min)
            master_flat[low] = np.nan
            info["n_flat_masked"] = int(low.sum())
        del frames
    return MasterFrames(bias=master_bias, dark_rate=dark_rate_map, flat=master_flat, info=info)


def _noise(frames: Sequence[np.ndarray], config: CalibrationConfig) -> float | None:
    """Per-pixel noise of the master of ``frames`` (None when it cannot be measured: fewer than two frames)."""
    value = master_noise(frames, clip_sigma=config.clip_sigma, method=config.combine)
    return value if np.isfinite(value) else None


def build_masters(
    *,
    bias: Sequence[str | os.PathLike[str]] = (),
    dark: Sequence[str | os.PathLike[str]] = (),
    flat: Sequence[str | os.PathLike[str]] = (),
    config: PipelineConfig,
    threads: int | None = None,
) -> MasterFrames:
    """Build master bias, dark-current rate and flat from FITS files, or load them from the cache.

    The master bias is the sigma-clipped combination of the bias frames.
    Each dark is bias-subtracted and divided by its own exposure time before
    combination, giving a rate in ADU/s.  Each flat is bias- and
    (exposure-scaled) dark-subtracted and normalised to median 1 in its
    central region before combination; the master flat is renormalised the
    same way and values below ``config.calibration.flat_min`` become NaN.
    Saturated and non-finite pixels of the raw frames are ignored.

    With ``config.calibration.cache_dir`` set (the default), masters built
    from the same files (by content) with the same parameters are loaded
    from the cache instead, bit for bit the same.

    Parameters
    ----------
    bias, dark, flat : sequence of path
        Raw calibration files; any kind may be empty.
    config : rpf.config.PipelineConfig
        ``config.header`` gives keyword defaults, ``config.calibration`` the
        combination parameters and the cache.
    threads : int, optional
        Threads to read, hash and combine with (default: as many as OpenMP
        may use here, :func:`rpf.threads.available_threads`).

    Returns
    -------
    MasterFrames
        Masters (``None`` for kinds without frames) and their provenance;
        ``info["cache"]`` is ``"loaded"``, ``"built"`` (and stored) or
        ``"off"``, ``info["seconds"]`` the time taken.

    Raises
    ------
    rpf.errors.CalibrationError
        A file is unreadable, has a different shape from the others, a dark
        has no positive exposure time, or a flat has no positive level; the
        message names the file.
    """
    start = time.perf_counter()
    threads = threads or available_threads()
    calibration = config.calibration
    no_exptime_needed = replace(config.header, exptime=config.header.exptime or 0.0)
    sources = {
        "bias": file_sources("bias", bias, no_exptime_needed),
        "dark": file_sources("dark", dark, config.header),
        "flat": file_sources("flat", flat, config.header if dark else no_exptime_needed),
    }
    files = {kind: [s.name for s in sources[kind]] for kind in _KINDS}
    folder = cache_folder(calibration) if any(files.values()) else None
    key = None
    if folder is not None:
        key = masters_key(sources, config=calibration, defaults=config.header, threads=threads)
        found = load_masters(folder, key)
        if found is not None:
            arrays, info = found
            info = {**info, "files": files, "cache": "loaded", "cache_key": key}
            return MasterFrames(**arrays, info={**info, "seconds": round(time.perf_counter() - start, 4)})
    masters = _combine_masters(sources, config=calibration, threads=threads)
    info = {**masters.info, "files": files, "cache": "off" if key is None else "built"}
    if key is not None:
        info["cache_key"] = key
        store_masters(folder, key, dict(masters.items()), info, max_mb=calibration.cache_max_mb)
    return replace(masters, info={**info, "seconds": round(time.perf_counter() - start, 4)})
