"""Master bias, dark-current rate and flat field from raw calibration frames."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from rpf.calibration.combine import combine_stack
from rpf.config import CalibrationConfig, HeaderDefaults, PipelineConfig
from rpf.errors import CalibrationError, FrameError
from rpf.flags import SourceFlag
from rpf.io import load_frame

__all__ = ["MasterFrames", "build_masters"]

_UNUSABLE = np.uint16(SourceFlag.SATURATED | SourceFlag.BAD_PIXEL)


class _Raw(NamedTuple):
    name: str
    data: np.ndarray
    exptime: float


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
        Provenance: frame counts, files, exposure times, parameters, warnings.
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
        config = config or CalibrationConfig()
        return _make_masters(
            bias=_memory_frames("bias", bias, 0.0),
            dark=_memory_frames("dark", dark, dark_exptimes),
            flat=_memory_frames("flat", flat, flat_exptimes),
            config=config,
            files={},
        )


def _memory_frames(kind: str, arrays: Sequence[np.ndarray] | np.ndarray, exptimes: Any) -> list[_Raw]:
    stack = [arrays] if isinstance(arrays, np.ndarray) and arrays.ndim == 2 else list(arrays)
    times = [float(exptimes)] * len(stack) if np.ndim(exptimes) == 0 else [float(t) for t in exptimes]
    if len(times) != len(stack):
        raise CalibrationError("", f"{len(stack)} {kind} frame(s) but {len(times)} exposure time(s)")
    pairs = enumerate(zip(stack, times, strict=True))
    return [_Raw(f"{kind}[{i}]", np.asarray(a, dtype=np.float32), t) for i, (a, t) in pairs]


def _check_shape(raw: _Raw, first: list[_Raw]) -> None:
    if raw.data.ndim != 2:
        raise CalibrationError(raw.name, f"calibration frame must be 2-D, got shape {raw.data.shape}")
    if not first:
        first.append(raw)
    elif raw.data.shape != first[0].data.shape:
        raise CalibrationError(
            raw.name, f"shape {raw.data.shape} differs from {first[0].data.shape} of {first[0].name}"
        )


def _central_median(image: np.ndarray) -> float:
    ny, nx = image.shape
    centre = image[ny // 4 : ny - ny // 4 or ny, nx // 4 : nx - nx // 4 or nx]
    finite = centre[np.isfinite(centre)]
    return float(np.median(finite)) if finite.size else float("nan")


def _dark_rates(
    frames: Iterable[_Raw], bias: np.ndarray | None, first: list[_Raw], exptimes: list[float]
) -> Iterator[np.ndarray]:
    for raw in frames:
        exptimes.append(raw.exptime)
        _check_shape(raw, first)
        if not raw.exptime > 0:
            raise CalibrationError(raw.name, f"dark frame exposure time must be > 0 s, got {raw.exptime}")
        level = raw.data - bias if bias is not None else raw.data
        yield level / np.float32(raw.exptime)


def _normalised_flats(
    frames: Iterable[_Raw],
    bias: np.ndarray | None,
    dark_rate: np.ndarray | None,
    first: list[_Raw],
    exptimes: list[float],
) -> Iterator[np.ndarray]:
    for raw in frames:
        exptimes.append(raw.exptime)
        _check_shape(raw, first)
        level = raw.data - bias if bias is not None else raw.data.copy()
        if dark_rate is not None:
            level -= dark_rate * np.float32(raw.exptime)
        median = _central_median(level)
        if not median > 0:
            raise CalibrationError(raw.name, f"flat level is not positive after bias/dark subtraction ({median})")
        yield level / np.float32(median)


def _make_masters(
    *,
    bias: Iterable[_Raw],
    dark: Iterable[_Raw],
    flat: Iterable[_Raw],
    config: CalibrationConfig,
    files: dict[str, list[str]],
) -> MasterFrames:
    """Combine raw frames (possibly lazily loaded) into masters, keeping one raw frame in memory at a time."""
    first: list[_Raw] = []
    combine = {"clip_sigma": config.clip_sigma, "method": config.combine}
    info: dict[str, Any] = {"combine": config.combine, "clip_sigma": config.clip_sigma, "flat_min": config.flat_min,
                            "files": files, "warnings": []}

    bias_stack = []
    for raw in bias:
        _check_shape(raw, first)
        bias_stack.append(raw.data)
    master_bias = combine_stack(bias_stack, **combine) if bias_stack else None
    info["n_bias"] = len(bias_stack)
    del bias_stack

    info["dark_exptimes"] = []
    rates = list(_dark_rates(dark, master_bias, first, info["dark_exptimes"]))
    dark_rate = combine_stack(rates, **combine) if rates else None
    info["n_dark"] = len(rates)
    if dark_rate is not None and master_bias is None:
        info["warnings"].append("dark frames used without a bias: the dark rate includes bias/exptime, exact only "
                                "for science exposures as long as the darks")
    del rates

    info["flat_exptimes"] = []
    normalised = list(_normalised_flats(flat, master_bias, dark_rate, first, info["flat_exptimes"]))
    master_flat = None
    if normalised:
        master_flat = combine_stack(normalised, **combine)
        master_flat /= np.float32(_central_median(master_flat))
        with np.errstate(invalid="ignore"):
            low = ~(master_flat >= config.flat_min)
        master_flat[low] = np.nan
        info["n_flat_masked"] = int(low.sum())
    info["n_flat"] = len(normalised)
    return MasterFrames(bias=master_bias, dark_rate=dark_rate, flat=master_flat, info=info)


def _load_raw(kind: str, paths: Sequence[str | os.PathLike[str]], defaults: HeaderDefaults) -> Iterator[_Raw]:
    for path in paths:
        try:
            frame = load_frame(path, defaults=defaults)
        except FrameError as exc:
            raise CalibrationError(str(path), f"cannot use {kind} frame: {exc.problem}") from exc
        data = frame.data
        if frame.mask is not None and (frame.mask & _UNUSABLE).any():
            data = np.where(frame.mask & _UNUSABLE, np.float32(np.nan), data)
        yield _Raw(str(path), data, frame.meta.exptime)


def build_masters(
    *,
    bias: Sequence[str | os.PathLike[str]] = (),
    dark: Sequence[str | os.PathLike[str]] = (),
    flat: Sequence[str | os.PathLike[str]] = (),
    config: PipelineConfig,
) -> MasterFrames:
    """Build master bias, dark-current rate and flat from FITS files.

    The master bias is the sigma-clipped combination of the bias frames.
    Each dark is bias-subtracted and divided by its own exposure time before
    combination, giving a rate in ADU/s.  Each flat is bias- and
    (exposure-scaled) dark-subtracted and normalised to median 1 in its
    central region before combination; the master flat is renormalised the
    same way and values below ``config.calibration.flat_min`` become NaN.
    Saturated and non-finite pixels of the raw frames are ignored.

    Parameters
    ----------
    bias, dark, flat : sequence of path
        Raw calibration files; any kind may be empty.
    config : rpf.config.PipelineConfig
        ``config.header`` gives keyword defaults, ``config.calibration`` the
        combination parameters.

    Returns
    -------
    MasterFrames
        Masters (``None`` for kinds without frames) and their provenance.

    Raises
    ------
    rpf.errors.CalibrationError
        A file is unreadable, has a different shape from the others, a dark
        has no positive exposure time, or a flat has no positive level; the
        message names the file.
    """
    no_exptime_needed = replace(config.header, exptime=config.header.exptime or 0.0)
    files = {"bias": [str(p) for p in bias], "dark": [str(p) for p in dark], "flat": [str(p) for p in flat]}
    return _make_masters(
        bias=_load_raw("bias", bias, no_exptime_needed),
        dark=_load_raw("dark", dark, config.header),
        flat=_load_raw("flat", flat, config.header if dark else no_exptime_needed),
        config=config.calibration,
        files=files,
    )
