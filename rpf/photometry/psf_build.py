"""Empirical PSF (ePSF): star selection and a hybrid builder (analytic profile + stacked residual).

Stars are chosen without any quadratic loop: clean (no flag), away from the
edges, with no other detection within the stamp (a k-d tree query), then the
brightest ``max_stars``.  The model is an elliptical Moffat profile fitted to
all the stars' pixels at once and integrated over pixels
(:mod:`rpf.photometry.psf_analytic`), alternating with a refit of every star's
flux and position by the fast linear PSF fit, so the model is centred exactly
on its origin and sub-pixel registration is exact.  What the profile misses is
then stacked on a grid ``oversampling`` times finer than the pixels: a few
passes add to every node the weighted, sigma-clipped mean residual (data / flux
minus the current model at each pixel's exact offset) of the pixels nearest to
it, shrunk towards zero by its standard error and lightly smoothed, so noise
is not frozen into the model.  Finally the model is scaled to unit total flux,
its wings beyond the extent following the profile.  Everything is vectorised
(``numpy.bincount`` over all pixels of all stars).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy import ndimage
from scipy.spatial import cKDTree

from rpf.config import PSFConfig
from rpf.errors import PhotometryError
from rpf.flags import UNRELIABLE
from rpf.photometry.psf import fit_fluxes
from rpf.photometry.psf_analytic import MoffatShape, fit_moffat_shape
from rpf.photometry.psf_model import PsfModel

__all__ = ["PSF_STAR_REJECT_FLAGS", "build_psf", "select_psf_stars"]

PSF_STAR_REJECT_FLAGS = UNRELIABLE
"""Flags that exclude a source from building the ePSF."""

_CLIP = 4.0
_RESIDUAL_PASSES = 3
_SMOOTH_NODES = 0.5
_SHRINK_CHOICES = (0.0, 1.0, 4.0)
_RESIDUAL_FWHM = 2.5


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


def _group_medians(node: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Return the (lower) median of ``values`` within each node (0 for empty nodes)."""
    order = np.lexsort((values, node))
    counts = np.bincount(node, minlength=size)
    middle = np.cumsum(counts) - counts + (counts - 1) // 2
    out = np.zeros(size)
    out[counts > 0] = values[order][middle[counts > 0]]
    return out


def _node_means(node: np.ndarray, resid: np.ndarray, weight: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the weighted mean residual of each grid node, outliers rejected, and its standard error.

    ``weight`` is the inverse variance of each residual.  A residual is rejected
    when it is more than ``_CLIP`` times its expected spread (its own noise and
    the node's robust scatter, added in quadrature) from the node's median, so
    a neighbour's light in one bright star's stamp cannot dominate a node.
    """
    median = _group_medians(node, resid, size)
    scatter = 1.4826 * _group_medians(node, np.abs(resid - median[node]), size)
    keep = np.abs(resid - median[node]) <= _CLIP * np.sqrt(1.0 / weight + scatter[node] ** 2)
    wsum = np.bincount(node[keep], weights=weight[keep], minlength=size)
    count = np.bincount(node[keep], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nan_to_num(np.bincount(node[keep], weights=(weight * resid)[keep], minlength=size) / wsum)
        dev2 = np.bincount(node[keep], weights=(weight * (resid - mean[node]) ** 2)[keep], minlength=size) / wsum
        error = np.sqrt(np.maximum(1.0 / wsum, dev2 / np.maximum(count - 1, 1)))
    return mean, np.where(count > 1, error, np.inf)


def _grid_offsets(half: int, oversampling: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the offsets (native pixels) of the nodes of the oversampled grid."""
    axis = np.arange(-half * oversampling, half * oversampling + 1) / oversampling
    return np.meshgrid(axis, axis)


def _residual_map(
    offx: np.ndarray,
    offy: np.ndarray,
    resid: np.ndarray,
    weight: np.ndarray,
    *,
    half: int,
    oversampling: int,
    taper: np.ndarray,
    shrink: float,
) -> np.ndarray:
    """Return the stacked residual on the oversampled grid, each node shrunk towards zero by its noise.

    Every pixel goes to its nearest node; a node keeps ``mean * max(0, 1 - shrink * error**2 / mean**2)``
    (e.g. with ``shrink = 4`` nothing below two standard errors, significant structure almost
    whole), then the map is smoothed over half a node and tapered to zero by ``taper``.
    """
    n_nodes = 2 * half * oversampling + 1
    gx = np.round(offx * oversampling).astype(int) + half * oversampling
    gy = np.round(offy * oversampling).astype(int) + half * oversampling
    inside = (gx >= 0) & (gx < n_nodes) & (gy >= 0) & (gy < n_nodes)
    node = (gy * n_nodes + gx)[inside]
    mean, error = _node_means(node, resid[inside], weight[inside], n_nodes**2)
    with np.errstate(invalid="ignore", divide="ignore"):
        shrunk = np.nan_to_num(mean * np.clip(1.0 - shrink * error**2 / mean**2, 0.0, None))
    return taper * ndimage.gaussian_filter(shrunk.reshape(n_nodes, n_nodes), _SMOOTH_NODES, mode="constant")


def _taper(node_x: np.ndarray, node_y: np.ndarray, *, inner: float, outer: float) -> np.ndarray:
    """Return 1 within radius ``inner``, falling as a cosine to 0 at ``outer`` (native pixels)."""
    radius = np.hypot(node_x, node_y)
    phase = np.clip((radius - inner) / max(outer - inner, 1e-9), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * phase))

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
        fitted and stacked pixels (else background-only weights).

    Returns
    -------
    PsfModel
        Pixel-integrated model of unit total flux, ``fwhm_px`` that of the
        fitted profile; ``config.build_iterations`` bounds the alternations
        of profile fit and star refit (they stop once the profile settles).

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
    dy, dx = (a.ravel() for a in np.mgrid[-half : half + 1, -half : half + 1])
    px = np.round(x).astype(int)[:, None] + dx[None, :]
    py = np.round(y).astype(int)[:, None] + dy[None, :]
    values = data[py, px]
    usable = ~bad[py, px]
    flux = np.sum(np.where(usable, values, 0.0), axis=1)
    alive = flux > 0
    fit_radius = max(config.fit_radius_fwhm * fwhm_px, 1.5)
    shape_radius = max(2.0 * fwhm_px, 3.0)
    node_x, node_y = _grid_offsets(half, os_)
    shape = MoffatShape.circular(fwhm_px)
    model = _analytic_model(shape, node_x, node_y, os_, chosen.size)
    for _ in range(config.build_iterations):
        x, y, flux, alive = _refit_stars(data, x, y, flux, alive, model=model, rms=rms, gain=gain, bad=bad,
                                         radius=fit_radius)
        offx, offy = px - x[:, None], py - y[:, None]
        near = usable & alive[:, None] & (offx**2 + offy**2 <= shape_radius**2)
        star = np.broadcast_to(np.arange(x.size)[:, None], near.shape)[near]
        weight = _weights(flux[star], shape.pixels(offx[near], offy[near]), rms, gain)
        previous, shape = shape, fit_moffat_shape(offx[near], offy[near], values[near], weight, star, start=shape)
        model = _analytic_model(shape, node_x, node_y, os_, chosen.size)
        if np.max(np.abs(shape.vector - previous.vector)) < 1e-4:
            break
    x, y, flux, alive = _refit_stars(data, x, y, flux, alive, model=model, rms=rms, gain=gain, bad=bad,
                                     radius=fit_radius)
    if np.count_nonzero(alive) < config.min_stars:
        raise PhotometryError(f"only {np.count_nonzero(alive)} stars survived the ePSF fit (need {config.min_stars})")
    offx, offy = px - x[:, None], py - y[:, None]
    keep = usable & alive[:, None]
    star = np.broadcast_to(np.arange(x.size)[:, None], keep.shape)[keep]
    stack = _Stack(offx[keep], offy[keep], values[keep], flux[star], star,
                   _weights(flux[star], shape.pixels(offx[keep], offy[keep]), rms, gain), half)
    taper = _taper(node_x, node_y, inner=_RESIDUAL_FWHM * shape.fwhm_px, outer=(_RESIDUAL_FWHM + 1) * shape.fwhm_px)
    shrink = _chosen_shrink(stack, model, taper=taper, fit_radius=fit_radius)
    hybrid = model if shrink is None else _with_residual(stack, model, np.ones(star.size, bool), shrink, taper)
    out = PsfModel(hybrid.data, os_, shape.fwhm_px, int(np.count_nonzero(alive)))
    return _with_total(out, within=_native_sum(model))


@dataclass(frozen=True)
class _Stack:
    """Every usable stamp pixel of every PSF star (1-D arrays, one entry per pixel)."""

    offx: np.ndarray
    offy: np.ndarray
    values: np.ndarray
    flux: np.ndarray
    star: np.ndarray
    weight: np.ndarray
    half: int


def _with_residual(stack: _Stack, model: PsfModel, use: np.ndarray, shrink: float, taper: np.ndarray) -> PsfModel:
    """Return ``model`` plus the residual stacked from the pixels ``use`` (a few passes at exact offsets)."""
    offx, offy = stack.offx[use], stack.offy[use]
    normed = stack.values[use] / stack.flux[use]
    weight = stack.flux[use] ** 2 * stack.weight[use]
    hybrid = model
    for _ in range(_RESIDUAL_PASSES):
        resid = normed - hybrid.evaluate(offx, offy)
        correction = _residual_map(offx, offy, resid, weight, half=stack.half, oversampling=model.oversampling,
                                   taper=taper, shrink=shrink)
        hybrid = PsfModel(hybrid.data + correction, model.oversampling, model.fwhm_px, model.n_stars)
    return hybrid


def _chi2(stack: _Stack, model: PsfModel, use: np.ndarray) -> float:
    """Return the chi-square of the pixels ``use``, each star's flux refitted linearly with ``model``."""
    psf = model.evaluate(stack.offx[use], stack.offy[use])
    star, values, weight = stack.star[use], stack.values[use], stack.weight[use]
    den = np.bincount(star, weights=weight * psf * psf)
    flux = np.bincount(star, weights=weight * psf * values) / np.where(den > 0, den, 1.0)
    return float(np.sum(weight * (values - flux[star] * psf) ** 2))


def _chosen_shrink(stack: _Stack, model: PsfModel, *, taper: np.ndarray, fit_radius: float) -> float | None:
    """Return the residual shrinkage that best predicts held-out stars (None: the profile alone is best).

    Two-fold cross-validation: the residual is stacked from every other star and
    judged by the chi-square of the remaining stars' pixels within the fit radius.
    """
    inner = stack.offx**2 + stack.offy**2 <= fit_radius**2
    folds = [stack.star % 2 == k for k in (0, 1)]
    best, best_score = None, sum(_chi2(stack, model, inner & fold) for fold in folds)
    for shrink in _SHRINK_CHOICES:
        score = sum(
            _chi2(stack, _with_residual(stack, model, ~fold, shrink, taper), inner & fold) for fold in folds
        )
        if score < best_score:
            best, best_score = shrink, score
    return best


def _native_sum(model: PsfModel) -> float:
    """Return the sum of the model's native-grid samples at zero offset."""
    half = int(np.floor(model.radius_px))
    return float(model.data[:: model.oversampling, :: model.oversampling].sum()) if half else 0.0


def _with_total(model: PsfModel, *, within: float) -> PsfModel:
    """Return the model scaled so that its native-grid samples sum to ``within``.

    ``within`` is the analytic profile's light inside the model's extent, so the
    model keeps unit total flux, its wings beyond the extent following the profile.
    """
    total = _native_sum(model)
    if not total > 0:
        raise PhotometryError("the ePSF has no positive flux")
    return PsfModel(model.data * (within / total), model.oversampling, model.fwhm_px, model.n_stars)


def _weights(flux: np.ndarray, model: np.ndarray, rms: float, gain: float | None) -> np.ndarray:
    """Return inverse variances of pixels (background plus the star's photons when the gain is known)."""
    if gain is None:
        return np.full(np.shape(model), 1.0 / rms**2)
    return 1.0 / (rms**2 + np.clip(flux * model, 0.0, None) / gain)


def _analytic_model(shape: MoffatShape, node_x: np.ndarray, node_y: np.ndarray, oversampling: int,
                    n_stars: int) -> PsfModel:
    """Return the pixel-integrated profile sampled on the oversampled grid."""
    return PsfModel(shape.pixels(node_x, node_y), oversampling, shape.fwhm_px, n_stars)


def _refit_stars(data, x, y, flux, alive, *, model, rms, gain, bad, radius):
    """Refit every star's flux and position with the current model (stars that fail are dropped)."""
    fit = fit_fluxes(
        data, x, y, psf_model=model, rms=rms, gain=gain if gain is not None else 1e12, bad=bad, radius=radius,
        fit_positions=True, position_iterations=2,
    )
    alive = alive & fit.ok & (fit.flux > 0)
    return np.where(alive, fit.x, x), np.where(alive, fit.y, y), np.where(alive, fit.flux, flux), alive
