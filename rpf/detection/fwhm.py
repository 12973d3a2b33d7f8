"""Robust seeing (FWHM) estimate from a random sample of clean, isolated stars.

Each star is fitted with a circular Moffat profile integrated over the
pixels (3x3 sub-sampling); the fits of all stars run together as one batched
Levenberg-Marquardt problem, so a few hundred stars take a fraction of a
second.  The Moffat family contains the Gaussian (large beta), so Gaussian
and Moffat stars are measured without bias.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep
from astropy.table import QTable
from scipy.spatial import cKDTree

from rpf.config import DetectionConfig
from rpf.errors import PhotometryError

__all__ = ["FwhmEstimate", "estimate_fwhm"]

_MIN_STARS = 3
_MIN_PEAK_SNR = 20.0
_MAX_PEAK_SNR_FRACTION = 0.98
_ISOLATION_FWHM = 4.0
_STAMP_FWHM = 1.5
_MIN_HALF = 4
_SUB = (np.arange(3) - 1.0) / 3.0
_BETA_RANGE = (1.5, 25.0)
_ALPHA_MIN_PX = 0.05
"""Smallest Moffat core radius the fit may take (pixels): far below any sampled star, and it keeps
``exp(-2 log_alpha)`` finite however far a Levenberg-Marquardt step throws a hopeless stamp."""
_ALPHA_MAX_STAMPS = 10.0
"""Largest Moffat core radius, in stamp widths (a flat profile: the stamp holds no star)."""
_N_ITER = 30
_TOLERANCE = 1e-6
_CLIP_SIGMA = 3.0


@dataclass(frozen=True)
class FwhmEstimate:
    """Seeing measured on the frame.

    Attributes
    ----------
    fwhm_px : float
        Clipped median FWHM in pixels.
    scatter_px : float
        Robust standard deviation of the per-star FWHMs.
    n_stars : int
        Number of stars that entered the median.
    """

    fwhm_px: float
    scatter_px: float
    n_stars: int


def estimate_fwhm(data_sub: np.ndarray, sources: QTable, *, config: DetectionConfig) -> FwhmEstimate:
    """Measure the seeing FWHM on unflagged, isolated, well-exposed stars.

    Parameters
    ----------
    data_sub : numpy.ndarray
        Background-subtracted 2-D image (ADU).
    sources : astropy.table.QTable
        Detections from :func:`rpf.detection.detect_sources`.
    config : DetectionConfig
        ``fwhm_max_stars`` caps the random sample drawn with ``seed``.

    Returns
    -------
    FwhmEstimate
        FWHM, its scatter and the number of stars used.

    Raises
    ------
    PhotometryError
        If fewer than three stars qualify or converge.
    """
    image = np.ascontiguousarray(data_sub, dtype=np.float32)
    finite = np.isfinite(image)
    if not finite.all():
        image = np.where(finite, image, np.float32(0.0))
    del finite
    noise = _noise(image)
    guess = _size_guess(image, sources)
    half = max(_MIN_HALF, int(np.ceil(_STAMP_FWHM * guess)))
    chosen = _select_stars(sources, image.shape, noise, guess, half, config)
    stamps = _stamps(image, sources["x"][chosen], sources["y"][chosen], half)
    fwhm = _fit_moffat_fwhm(stamps, half, guess)
    fwhm = fwhm[np.isfinite(fwhm) & (fwhm > 0.5) & (fwhm < 4.0 * half)]
    if fwhm.size < _MIN_STARS:
        raise PhotometryError(f"FWHM: only {fwhm.size} star(s) could be measured")
    median, scatter, kept = _clipped_median(fwhm)
    return FwhmEstimate(fwhm_px=median, scatter_px=scatter, n_stars=kept)


def _noise(image: np.ndarray) -> float:
    step = max(1, int(np.sqrt(image.size / 250_000)))
    sample = image[::step, ::step].ravel()
    return float(1.4826 * np.median(np.abs(sample - np.median(sample))))


def _size_guess(image: np.ndarray, sources: QTable) -> float:
    """Twice the median half-light radius of the brightest unflagged sources."""
    good = np.flatnonzero(np.asarray(sources["flags"]) == 0)
    if good.size < _MIN_STARS:
        raise PhotometryError(f"FWHM: only {good.size} unflagged source(s)")
    brightest = good[np.argsort(np.asarray(sources["flux_iso"])[good])[::-1][:200]]
    x = np.asarray(sources["x"], dtype=np.float64)[brightest]
    y = np.asarray(sources["y"], dtype=np.float64)[brightest]
    rmax = 6.0 * np.maximum(np.asarray(sources["a"], dtype=np.float64)[brightest], 1.0)
    radius, flag = sep.flux_radius(image, x, y, rmax, 0.5, subpix=5)
    radius = radius[(flag == 0) & np.isfinite(radius) & (radius > 0)]
    if radius.size == 0:
        raise PhotometryError("FWHM: no half-light radius could be measured")
    return float(2.0 * np.median(radius))


def _select_stars(
    sources: QTable, shape: tuple[int, int], noise: float, guess: float, half: int, config: DetectionConfig
) -> np.ndarray:
    x = np.asarray(sources["x"], dtype=np.float64)
    y = np.asarray(sources["y"], dtype=np.float64)
    peak = np.asarray(sources["peak"], dtype=np.float64)
    ok = np.asarray(sources["flags"]) == 0
    ok &= peak > _MIN_PEAK_SNR * noise
    ok &= peak < _MAX_PEAK_SNR_FRACTION * peak.max() if ok.sum() > _MIN_STARS else ok
    ny, nx = shape
    ok &= (x >= half) & (y >= half) & (x < nx - 1 - half) & (y < ny - 1 - half)
    if len(x) > 1:
        distance, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
        ok &= distance[:, 1] > _ISOLATION_FWHM * guess
    candidates = np.flatnonzero(ok)
    if candidates.size < _MIN_STARS:
        raise PhotometryError(f"FWHM: only {candidates.size} isolated, unflagged star(s) with SNR > {_MIN_PEAK_SNR}")
    rng = np.random.default_rng(config.seed)
    size = min(config.fwhm_max_stars, candidates.size)
    return np.sort(rng.choice(candidates, size=size, replace=False))


def _stamps(image: np.ndarray, x: np.ndarray, y: np.ndarray, half: int) -> np.ndarray:
    """Cut ``(N, 2*half+1, 2*half+1)`` stamps centred on the rounded positions, with the residual offsets."""
    cx = np.rint(np.asarray(x, dtype=np.float64)).astype(int)
    cy = np.rint(np.asarray(y, dtype=np.float64)).astype(int)
    offsets = np.arange(-half, half + 1)
    rows = cy[:, None, None] + offsets[None, :, None]
    cols = cx[:, None, None] + offsets[None, None, :]
    return image[rows, cols].astype(np.float64)


def _subpixel_grid(half: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel sample positions, pixel-major (9 samples per pixel), relative to the stamp centre."""
    centres = np.arange(-half, half + 1, dtype=np.float64)
    rows, cols = np.meshgrid(centres, centres, indexing="ij")
    sub_y, sub_x = np.broadcast_arrays(rows[..., None, None] + _SUB[:, None], cols[..., None, None] + _SUB[None, :])
    return sub_y.reshape(-1), sub_x.reshape(-1)


def _moffat(params: np.ndarray, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Pixel-integrated circular Moffat plus constant, ``(N, pixels)`` for ``N`` parameter vectors."""
    amp, x0, y0, log_alpha, log_beta1, const = (params[:, i, None] for i in range(6))
    r2 = (grid[1][None] - x0) ** 2 + (grid[0][None] - y0) ** 2
    profile = (1.0 + r2 * np.exp(-2.0 * log_alpha)) ** (-(1.0 + np.exp(log_beta1)))
    return amp * profile.reshape(params.shape[0], -1, _SUB.size**2).mean(axis=2) + const


def _moffat_jacobian(params: np.ndarray, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Analytic derivatives of :func:`_moffat` with respect to its six parameters, ``(N, pixels, 6)``."""
    amp, x0, y0, log_alpha, log_beta1 = (params[:, i, None] for i in range(5))
    dx, dy = grid[1][None] - x0, grid[0][None] - y0
    inv_alpha2 = np.exp(-2.0 * log_alpha)
    u = 1.0 + (dx**2 + dy**2) * inv_alpha2
    beta = 1.0 + np.exp(log_beta1)
    profile = u ** (-beta)
    ratio = 2.0 * beta * inv_alpha2 * profile / u  # d(profile)/d(x0) = ratio * dx
    n, samples = params.shape[0], _SUB.size**2

    def pixel_mean(values: np.ndarray) -> np.ndarray:
        return values.reshape(n, -1, samples).mean(axis=2)

    jac = np.empty((n, dx.shape[1] // samples, 6))
    jac[:, :, 0] = pixel_mean(profile)
    jac[:, :, 1] = amp * pixel_mean(ratio * dx)
    jac[:, :, 2] = amp * pixel_mean(ratio * dy)
    jac[:, :, 3] = amp * pixel_mean(ratio * (u - 1.0) / inv_alpha2)
    jac[:, :, 4] = -amp * pixel_mean(profile * np.log(u)) * (beta - 1.0)
    jac[:, :, 5] = 1.0
    return jac


def _fit_moffat_fwhm(stamps: np.ndarray, half: int, guess: float) -> np.ndarray:
    """Batched Levenberg-Marquardt Moffat fit of every stamp; returns the FWHMs (NaN when rejected)."""
    n = stamps.shape[0]
    grid = _subpixel_grid(half)
    data = stamps.reshape(n, -1)
    beta0 = 3.0
    alpha0 = guess / (2.0 * np.sqrt(2.0 ** (1.0 / beta0) - 1.0))
    params = np.column_stack(
        [
            data.max(axis=1),
            np.zeros(n),
            np.zeros(n),
            np.full(n, np.log(alpha0)),
            np.full(n, np.log(beta0 - 1.0)),
            np.zeros(n),
        ]
    )
    lam = np.full(n, 1e-2)
    low, high = np.log(_BETA_RANGE[0] - 1.0), np.log(_BETA_RANGE[1] - 1.0)
    alpha_low, alpha_high = np.log(_ALPHA_MIN_PX), np.log(_ALPHA_MAX_STAMPS * (2 * half + 1))

    def residual(p: np.ndarray) -> np.ndarray:
        return _moffat(p, grid) - data

    current = residual(params)
    cost = (current**2).sum(axis=1)
    for _ in range(_N_ITER):
        jac = _moffat_jacobian(params, grid)
        jtj = np.einsum("npi,npj->nij", jac, jac)
        jtr = np.einsum("npi,np->ni", jac, current)
        diagonal = np.einsum("nii->ni", jtj)
        floor = 1e-12 * diagonal.max(axis=1, keepdims=True) + np.finfo(float).tiny
        damped = jtj + (lam[:, None] * diagonal + floor)[:, :, None] * np.eye(6)[None]
        try:
            delta = np.linalg.solve(damped, -jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:
            break
        trial = params + delta
        trial[:, 3] = np.clip(trial[:, 3], alpha_low, alpha_high)
        trial[:, 4] = np.clip(trial[:, 4], low, high)
        trial[:, 1:3] = np.clip(trial[:, 1:3], -half, half)
        trial_res = residual(trial)
        trial_cost = (trial_res**2).sum(axis=1)
        better = trial_cost < cost
        converged = np.all(~better | (cost - trial_cost < _TOLERANCE * cost))
        params[better] = trial[better]
        current[better] = trial_res[better]
        cost[better] = trial_cost[better]
        lam = np.where(better, lam * 0.3, lam * 10.0)
        if converged:
            break
    alpha = np.exp(params[:, 3])
    beta = 1.0 + np.exp(params[:, 4])
    fwhm = 2.0 * alpha * np.sqrt(2.0 ** (1.0 / beta) - 1.0)
    off_centre = np.hypot(params[:, 1], params[:, 2]) > 1.5
    at_bound = (params[:, 3] <= alpha_low) | (params[:, 3] >= alpha_high)
    fwhm[off_centre | at_bound | (params[:, 0] <= 0)] = np.nan
    return fwhm


def _clipped_median(values: np.ndarray) -> tuple[float, float, int]:
    kept = values
    for _ in range(5):
        median = np.median(kept)
        scatter = 1.4826 * np.median(np.abs(kept - median))
        if scatter == 0:
            break
        new = values[np.abs(values - median) <= _CLIP_SIGMA * scatter]
        if new.size == kept.size:
            break
        kept = new
    median = float(np.median(kept))
    return median, float(1.4826 * np.median(np.abs(kept - median))), int(kept.size)
