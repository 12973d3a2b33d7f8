"""Empirical PSF (ePSF): star selection and an iterative residual-stacking builder.

Stars are chosen without any quadratic loop: clean (no flag), away from the
edges, with no other detection within the stamp (a k-d tree query), then the
brightest ``max_stars``.  The builder stacks the stars' normalised pixels on a
grid ``oversampling`` times finer than the pixels: each iteration adds to
every grid node the weighted, sigma-clipped mean residual (data / flux minus
the current model at each pixel's exact offset) of the pixels nearest to it,
scales every sub-pixel phase of the grid to unit sum,
moves the stars by the grid's centroid offset (so
that the model stays centred without resampling it), renormalises it and refits every star's
flux and position with the fast linear PSF fit.  Everything is vectorised
(``numpy.bincount`` over all pixels of all stars).
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from rpf.config import PSFConfig
from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.photometry.psf import fit_fluxes
from rpf.photometry.psf_model import PsfModel, normalised

__all__ = ["PSF_STAR_REJECT_FLAGS", "build_psf", "select_psf_stars"]

PSF_STAR_REJECT_FLAGS = (
    SourceFlag.SATURATED
    | SourceFlag.EDGE
    | SourceFlag.BLENDED
    | SourceFlag.COSMIC_RAY
    | SourceFlag.BAD_PIXEL
    | SourceFlag.CROWDED
    | SourceFlag.EXTENDED
)
"""Flags that exclude a source from building the ePSF."""

_CLIP = 3.0


def _values(table: Table, name: str) -> np.ndarray:
    column = table[name]
    return np.asarray(getattr(column, "value", column), float)


def select_psf_stars(
    sources: Table, *, shape: tuple[int, int], half_size: int, fwhm_px: float, max_stars: int
) -> np.ndarray:
    """Return indices of clean, isolated, bright sources to build the ePSF from (brightest first)."""
    x, y = _values(sources, "x"), _values(sources, "y")
    flags = np.asarray(sources["flags"]).astype(np.int64) if "flags" in sources.colnames else np.zeros(x.size, int)
    brightness = _values(sources, "flux") if "flux" in sources.colnames else _values(sources, "peak")
    margin = half_size + 2
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(brightness) & (brightness > 0)
    ok &= (flags & int(PSF_STAR_REJECT_FLAGS)) == 0
    ok &= (x >= margin) & (x <= shape[1] - 1 - margin) & (y >= margin) & (y <= shape[0] - 1 - margin)
    finite = np.isfinite(x) & np.isfinite(y)
    if np.count_nonzero(finite) > 1:
        tree = cKDTree(np.column_stack([x[finite], y[finite]]))
        distance, _ = tree.query(np.column_stack([x, y])[finite], k=2)
        nearest = np.full(x.size, np.inf)
        nearest[finite] = distance[:, 1]
        ok &= nearest > half_size + 1.5 * fwhm_px
    candidates = np.flatnonzero(ok)
    return candidates[np.argsort(-brightness[candidates])][:max_stars]


def _measure_fwhm(data: np.ndarray, oversampling: int) -> float:
    """Return the FWHM (native pixels) as the diameter of the area above half maximum."""
    above = np.count_nonzero(data >= 0.5 * data.max())
    return float(2.0 * np.sqrt(above / np.pi) / oversampling)


def _node_means(node: np.ndarray, resid: np.ndarray, weight: np.ndarray, size: int) -> np.ndarray:
    """Return the weighted, sigma-clipped mean residual of each grid node."""
    keep = np.ones(node.size, bool)
    mean = np.zeros(size)
    for _ in range(3):
        wsum = np.bincount(node[keep], weights=weight[keep], minlength=size)
        count = np.bincount(node[keep], minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(node[keep], weights=(weight * resid)[keep], minlength=size) / wsum
            dev2 = np.bincount(node[keep], weights=(weight * (resid - mean[node]) ** 2)[keep], minlength=size) / wsum
            scale = np.sqrt(dev2[node] * (wsum[node] / np.maximum(count[node], 1)) / weight)
        mean = np.nan_to_num(mean)
        new_keep = keep & ~(np.abs(resid - mean[node]) > _CLIP * scale)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return mean


def _phase_normalised(grid: np.ndarray, oversampling: int) -> np.ndarray:
    """Return the grid scaled so that, for every sub-pixel phase, its native-grid samples sum to one.

    Each phase is fed by different stars, so without this their relative
    scales would drift freely between iterations.
    """
    out = grid.copy()
    for py in range(oversampling):
        for px in range(oversampling):
            total = out[py::oversampling, px::oversampling].sum()
            if total > 0:
                out[py::oversampling, px::oversampling] /= total
    return out


def _centroid(grid: np.ndarray, fwhm_px: float, oversampling: int) -> tuple[float, float]:
    """Return the grid's centroid within one FWHM of its centre, in native pixels from the centre."""
    n = grid.shape[0]
    centre = (n - 1) / 2.0
    yy, xx = np.mgrid[:n, :n]
    inside = np.hypot(xx - centre, yy - centre) <= fwhm_px * oversampling
    w = np.where(inside, np.clip(grid, 0.0, None), 0.0)
    total = w.sum() * oversampling
    return float((w * (xx - centre)).sum() / total), float((w * (yy - centre)).sum() / total)


def build_psf(
    data_sub: np.ndarray,
    sources: Table,
    *,
    fwhm_px: float,
    config: PSFConfig,
    mask: np.ndarray | None = None,
    rms: float | None = None,
    gain: float | None = None,
) -> PsfModel:
    """Build an empirical PSF from well-chosen stars.

    Parameters
    ----------
    data_sub : ndarray
        Background-subtracted image (ADU).
    sources : Table
        Detections with ``x, y`` (0-based), ``flags`` and ``flux`` (or ``peak``).
    fwhm_px : float
        Image FWHM in pixels (sets the model half-size ``size_fwhm * fwhm``).
    config : PSFConfig
        Oversampling, size, star counts and builder iterations.
    mask : ndarray, optional
        Non-zero for bad pixels (left out of the stacking).
    rms : float, optional
        Background noise per pixel (ADU); estimated from the image when omitted.
    gain : float, optional
        Gain (e-/ADU); with ``rms`` it sets inverse-variance weights of the
        stacked pixels (else each star is weighted by its flux).

    Raises
    ------
    PhotometryError
        Fewer than ``config.min_stars`` usable stars, or no positive model.
    """
    if not fwhm_px > 0:
        raise PhotometryError(f"cannot build a PSF without a positive FWHM (got {fwhm_px})")
    data = np.asarray(data_sub, float)
    half = max(int(np.ceil(config.size_fwhm * fwhm_px)), 3)
    chosen = select_psf_stars(sources, shape=data.shape, half_size=half, fwhm_px=fwhm_px, max_stars=config.max_stars)
    if chosen.size < config.min_stars:
        raise PhotometryError(f"only {chosen.size} clean isolated stars to build the PSF (need {config.min_stars})")
    bad = ~np.isfinite(data) if mask is None else (np.asarray(mask) != 0) | ~np.isfinite(data)
    if rms is None:
        sample = data[~bad][:: max(1, data.size // 200_000)]
        rms = float(1.4826 * np.median(np.abs(sample - np.median(sample))))
    x, y = _values(sources, "x")[chosen], _values(sources, "y")[chosen]
    os_ = config.oversampling
    n_nodes = 2 * half * os_ + 1
    dy, dx = (a.ravel() for a in np.mgrid[-half : half + 1, -half : half + 1])
    px = np.round(x).astype(int)[:, None] + dx[None, :]
    py = np.round(y).astype(int)[:, None] + dy[None, :]
    values = data[py, px]
    usable = ~bad[py, px]
    flux = np.sum(np.where(usable, values, 0.0), axis=1)
    alive = flux > 0
    grid = np.zeros((n_nodes, n_nodes))
    model = None
    for _ in range(config.build_iterations):
        offx, offy = px - x[:, None], py - y[:, None]
        gx = np.round(offx * os_).astype(int) + half * os_
        gy = np.round(offy * os_).astype(int) + half * os_
        inside = usable & alive[:, None] & (gx >= 0) & (gx < n_nodes) & (gy >= 0) & (gy < n_nodes)
        norm = values / np.where(alive, flux, 1.0)[:, None]
        predicted = model.evaluate(offx, offy) if model is not None else np.zeros_like(norm)
        if gain is not None:
            star_var = np.clip(predicted, 0.0, None) * flux[:, None] / gain
            weight = flux[:, None] ** 2 / (rms**2 + star_var)
        else:
            weight = np.broadcast_to(flux[:, None], norm.shape)
        node = (gy * n_nodes + gx)[inside]
        grid = grid + _node_means(node, (norm - predicted)[inside], weight[inside], n_nodes**2).reshape(grid.shape)
        grid = _phase_normalised(grid, os_)
        model = normalised(PsfModel(grid, os_, _measure_fwhm(grid, os_), int(np.count_nonzero(alive))))
        grid = model.data
        fit = fit_fluxes(
            data,
            x,
            y,
            psf_model=model,
            rms=rms,
            gain=gain if gain is not None else 1e12,
            bad=bad,
            radius=max(config.fit_radius_fwhm * fwhm_px, 1.5),
            fit_positions=True,
            position_iterations=1,
        )
        alive &= fit.ok & (fit.flux > 0)
        x = np.where(alive, fit.x, x)
        y = np.where(alive, fit.y, y)
        flux = np.where(alive, fit.flux, flux)
        shift_x, shift_y = _centroid(grid, fwhm_px, os_)
        x, y = x + shift_x, y + shift_y
    if np.count_nonzero(alive) < config.min_stars:
        raise PhotometryError(f"only {np.count_nonzero(alive)} stars survived the ePSF fit (need {config.min_stars})")
    return model
