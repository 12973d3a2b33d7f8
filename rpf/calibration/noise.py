"""How noisy a master calibration frame is, measured from the frames it was combined from.

A master bias, dark or flat carries the noise of the frames that made it
(read noise, dark current, the flats' photon noise), reduced by their
number.  Every science pixel inherits it: the bias and dark noise as an
additive pixel-to-pixel noise (the sky noise map measured on the
calibrated image already holds it), the flat's as a multiplicative one,
which grows with a star's own flux and which no sky statistic sees.

The noise of one frame is measured on its central region from double
differences (two frames of the stack, neighbouring pixels): the fixed
patterns (bias structure, pixel response, vignetting) and smooth
differences between the frames (illumination, level) cancel, leaving
``4 sigma**2``.  For a stack of ``n`` the combination (sigma clipping then
median or mean) reduces the variance by ``n / efficiency``; the
efficiency of the combination is found by running it on a seeded Gaussian
stack (1 for a plain mean, about 1.2-1.5 for a median of a few frames).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rpf.calibration.combine import combine_stack

__all__ = ["combine_efficiency", "master_noise", "single_frame_noise"]

_CENTRE = 512
_TRIAL_PIXELS = 128


def single_frame_noise(frames: Sequence[np.ndarray]) -> float:
    """Per-pixel noise of one frame of a stack (same units as the frames), NaN with fewer than two.

    Parameters
    ----------
    frames : sequence of 2-D arrays
        The frames as they enter the combination (e.g. flats normalised to 1).

    Returns
    -------
    float
        Median over consecutive frame pairs of ``1.4826 MAD / 2`` of the
        frame difference's neighbouring-pixel difference, in the central
        ``512 x 512`` pixels at most.
    """
    if len(frames) < 2:
        return float("nan")
    ny, nx = np.shape(frames[0])
    y0, x0 = max((ny - _CENTRE) // 2, 0), max((nx - _CENTRE) // 2, 0)
    block = (slice(y0, y0 + min(ny, _CENTRE)), slice(x0, x0 + min(nx, _CENTRE)))
    sigmas = []
    for first, second in zip(frames[:-1], frames[1:], strict=True):
        diff = np.asarray(first[block], np.float64) - np.asarray(second[block], np.float64)
        double = (diff[:, 1:] - diff[:, :-1]).ravel()
        double = double[np.isfinite(double)]
        if double.size:
            sigmas.append(1.4826 * np.median(np.abs(double - np.median(double))) / 2.0)
    return float(np.median(sigmas)) if sigmas else float("nan")


def combine_efficiency(n: int, *, clip_sigma: float, method: str) -> float:
    """Variance of a combined pixel over that of one frame, times ``n`` (Gaussian noise, seeded trial).

    Parameters
    ----------
    n : int
        Frames combined.
    clip_sigma, method : float, str
        The combination's parameters (:func:`rpf.calibration.combine.combine_stack`).

    Returns
    -------
    float
        1 for one frame; otherwise measured on ``n`` seeded Gaussian frames
        of ``128 x 128`` pixels.
    """
    if n <= 1:
        return 1.0
    rng = np.random.default_rng(n)
    stack = rng.normal(0.0, 1.0, (n, _TRIAL_PIXELS, _TRIAL_PIXELS)).astype(np.float32)
    combined = combine_stack(stack, clip_sigma=clip_sigma, method=method)
    return float(np.var(combined) * n)


def master_noise(frames: Sequence[np.ndarray], *, clip_sigma: float, method: str) -> float:
    """Per-pixel noise of the master combined from ``frames`` (NaN with fewer than two frames).

    Parameters
    ----------
    frames : sequence of 2-D arrays
        The frames as they enter the combination.
    clip_sigma, method : float, str
        The combination's parameters.

    Returns
    -------
    float
        ``single_frame_noise * sqrt(efficiency / n)``.
    """
    n = len(frames)
    if n < 2:
        return float("nan")
    single = single_frame_noise(frames)
    return float(single * np.sqrt(combine_efficiency(n, clip_sigma=clip_sigma, method=method) / n))
