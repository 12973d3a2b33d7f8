"""Fast forced PSF photometry: every source's flux in one sparse linear solve.

With a fixed PSF and fixed positions the image model is linear in the
fluxes (and in an optional constant background per group of overlapping
sources), so all sources are fitted at once by weighted linear least squares:
the design matrix has one column per source holding the PSF over the pixels
within ``fit_radius_fwhm`` of it.  Its normal matrix is block diagonal, one
block per group of overlapping sources, so neighbours are grouped
automatically (connected components) and each block is solved and inverted
exactly.  Pixel weights are ``1 / (rms**2 + model / gain)``, with the model
from a first background-weighted pass (data-based weights would bias the
fluxes).  With ``fit_positions`` the PSF is linearised in the positions
(``f P(x - dx) ~ f P - f dx dP/dx``) and refined for a few iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import QTable, Table
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from rpf.config import PSFConfig
from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.photometry.psf_model import PsfModel

__all__ = ["ForcedFit", "fit_fluxes", "psf_photometry"]

_STEP = 0.05
_MAX_SHIFT = 0.5
_DENSE_LIMIT = 64


def _values(table: Table, name: str) -> np.ndarray:
    column = table[name]
    return np.asarray(getattr(column, "value", column), float)


def _offsets(radius: float) -> tuple[np.ndarray, np.ndarray]:
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = dx**2 + dy**2 <= radius**2
    return dx[inside], dy[inside]


def _stamps(x, y, ox, oy, shape, bad):
    """Return (star, pixel flat index, dx, dy, own offset index) of every usable pixel near every source."""
    cx, cy = np.round(x).astype(np.int64), np.round(y).astype(np.int64)
    px, py = cx[:, None] + ox[None, :], cy[:, None] + oy[None, :]
    star = np.broadcast_to(np.arange(x.size)[:, None], px.shape)
    offset = np.broadcast_to(np.arange(ox.size)[None, :], px.shape)
    ok = (px >= 0) & (px < shape[1]) & (py >= 0) & (py < shape[0])
    ok[ok] = ~bad[py[ok], px[ok]]
    return star[ok], (py * shape[1] + px)[ok], (px - x[:, None])[ok], (py - y[:, None])[ok], offset[ok]


def _block_inverse(normal: sparse.csr_matrix, labels: np.ndarray) -> tuple[list, list]:
    """Return (index arrays, inverse blocks) of the block-diagonal normal matrix."""
    order = np.argsort(labels, kind="stable")
    sizes = np.bincount(labels)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    indices, inverses = [], []
    permuted = normal[order][:, order].tocoo()
    comp = labels[order][permuted.row]
    size_of_entry = sizes[comp]
    for size in np.unique(sizes):
        comps = np.flatnonzero(sizes == size)
        rank = np.full(sizes.size, -1)
        rank[comps] = np.arange(comps.size)
        sel = size_of_entry == size
        if size > _DENSE_LIMIT:
            for c in comps:
                idx = order[starts[c] : starts[c + 1]]
                block = normal[idx][:, idx].toarray()
                indices.append(idx[None, :])
                inverses.append(np.linalg.pinv(block, hermitian=True)[None])
            continue
        blocks = np.zeros((comps.size, size, size))
        c = comp[sel]
        blocks[rank[c], permuted.row[sel] - starts[c], permuted.col[sel] - starts[c]] = permuted.data[sel]
        try:
            inverse = np.linalg.inv(blocks)
        except np.linalg.LinAlgError:
            inverse = np.linalg.pinv(blocks, hermitian=True)
        idx = order[starts[comps][:, None] + np.arange(size)[None, :]]
        indices.append(idx)
        inverses.append(inverse)
    return indices, inverses


def _solve(design: sparse.csr_matrix, data: np.ndarray, weights: np.ndarray):
    """Return (parameters, their variances, the fitted model per pixel row)."""
    weighted = design.multiply(weights[:, None]).tocsr()
    normal = (design.T @ weighted).tocsr()
    rhs = weighted.T @ data
    _, labels = connected_components(normal, directed=False)
    params = np.full(design.shape[1], np.nan)
    variance = np.full(design.shape[1], np.nan)
    for idx, inverse in zip(*_block_inverse(normal, labels), strict=True):
        params[idx] = np.einsum("bij,bj->bi", inverse, rhs[idx])
        variance[idx] = np.einsum("bii->bi", inverse)
    return params, variance, design @ np.nan_to_num(params)


class _Problem:
    """Pixels around the sources and the pieces of the design matrix."""

    def __init__(self, data, rms, bad, x, y, psf_model, radius, with_background):
        self.n = x.size
        # the source's own pixels: within the fit radius; decide which sources can be fitted
        ox, oy = _offsets(radius)
        star, flat, dx, dy, _ = _stamps(x, y, ox, oy, data.shape, bad)
        psf = psf_model.evaluate(dx, dy)
        self.npix = np.bincount(star, minlength=self.n)
        coverage = np.bincount(star, weights=psf, minlength=self.n)
        full = psf_model.evaluate(ox[None, :] - (x - np.round(x))[:, None], oy[None, :] - (y - np.round(y))[:, None])
        self.active = (self.npix >= 3) & (coverage >= 0.5 * full.sum(axis=1))
        self.pixels = np.unique(flat[self.active[star]])
        # every fitted pixel a source's PSF reaches (its own and its neighbours'), so blends are modelled fully
        reach = max(int(np.floor(psf_model.radius_px)), int(np.ceil(radius)))
        sq = np.arange(-reach, reach + 1)
        ox_all, oy_all = np.tile(sq, sq.size), np.repeat(sq, sq.size)
        star, flat, dx, dy, offset = _stamps(x, y, ox_all, oy_all, data.shape, bad)
        pos = np.clip(np.searchsorted(self.pixels, flat), 0, max(self.pixels.size - 1, 0))
        keep = self.active[star] & (self.pixels[pos] == flat) if self.pixels.size else np.zeros(star.size, bool)
        self.star, self.row, self.dx, self.dy = star[keep], pos[keep], dx[keep], dy[keep]
        self.own = (ox_all[offset[keep]] ** 2 + oy_all[offset[keep]] ** 2) <= radius**2
        self.psf = psf_model.evaluate(self.dx, self.dy)
        self.data = data.ravel()[self.pixels]
        self.var_bkg = (rms.ravel()[self.pixels] if rms.ndim else np.full(self.pixels.size, float(rms))) ** 2
        self.column = np.cumsum(self.active) - 1
        self.n_active = int(np.count_nonzero(self.active))
        self.groups = self._groups() if with_background else None

    def _groups(self) -> np.ndarray:
        shape = (self.pixels.size, self.n_active)
        stars = sparse.csr_matrix((np.ones(self.row.size), (self.row, self.column[self.star])), shape=shape)
        _, labels = connected_components(stars.T @ stars, directed=False)
        return labels

    def design(self, psf_model: PsfModel | None = None) -> sparse.csr_matrix:
        """Flux columns, position columns (when a model is given) and background columns."""
        rows, cols, vals = [self.row], [self.column[self.star]], [self.psf]
        n_params = self.n_active
        if psf_model is not None:
            gx = (psf_model.evaluate(self.dx - _STEP, self.dy) - psf_model.evaluate(self.dx + _STEP, self.dy)) / (
                2 * _STEP
            )
            gy = (psf_model.evaluate(self.dx, self.dy - _STEP) - psf_model.evaluate(self.dx, self.dy + _STEP)) / (
                2 * _STEP
            )
            rows += [self.row, self.row]
            cols += [n_params + self.column[self.star], 2 * n_params + self.column[self.star]]
            vals += [gx, gy]
            n_params *= 3
        if self.groups is not None:
            pix_group = np.zeros(self.pixels.size, np.int64)
            pix_group[self.row] = self.groups[self.column[self.star]]
            rows.append(np.arange(self.pixels.size))
            cols.append(n_params + pix_group)
            vals.append(np.ones(self.pixels.size))
            n_params += int(self.groups.max()) + 1
        shape = (self.pixels.size, n_params)
        coo = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape)
        return coo.tocsr()


def _fit(problem: _Problem, gain: float, model: np.ndarray | None, psf_model: PsfModel | None):
    design = problem.design(psf_model)
    source_var = 0.0 if model is None else np.maximum(model, 0.0) / gain
    weights = 1.0 / (problem.var_bkg + source_var)
    params, variance, fitted = _solve(design, problem.data, weights)
    return params, variance, fitted, weights


@dataclass(frozen=True)
class ForcedFit:
    """Per-source results of :func:`fit_fluxes` (``nan`` where no fit was possible).

    Attributes
    ----------
    flux, flux_err : ndarray
        Fitted flux (in units of the PSF's normalisation: total flux for built models) and its 1-sigma error.
    chi2 : ndarray
        Reduced chi-square over the source's pixels.
    npix : ndarray
        Pixels fitted.
    x, y : ndarray
        Final positions (refined with ``fit_positions``).
    background : ndarray or None
        Local background of the source's group (with ``fit_background``).
    ok : ndarray of bool
        Sources with a valid fit.
    """

    flux: np.ndarray
    flux_err: np.ndarray
    chi2: np.ndarray
    npix: np.ndarray
    x: np.ndarray
    y: np.ndarray
    background: np.ndarray | None
    ok: np.ndarray


def fit_fluxes(
    data: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    psf_model: PsfModel,
    rms: float | np.ndarray,
    gain: float,
    bad: np.ndarray,
    radius: float,
    fit_positions: bool = False,
    position_iterations: int = 3,
    fit_background: bool = False,
) -> ForcedFit:
    """Fit the PSF at every position at once (the engine of :func:`psf_photometry`).

    Parameters
    ----------
    data : ndarray
        Background-subtracted image.
    x, y : ndarray
        Source positions (0-based pixels); non-finite positions fail.
    psf_model : PsfModel
        The PSF.
    rms : float or ndarray
        Background noise per pixel.
    gain : float
        Gain in e-/ADU.
    bad : ndarray of bool
        Pixels to ignore.
    radius : float
        Radius (pixels) of the pixels fitted around each source.
    fit_positions : bool
        Refine positions by linearising the PSF.
    position_iterations : int
        Refinement iterations.
    fit_background : bool
        Fit a constant background per group of overlapping sources.
    """
    rms = np.asarray(rms, float)
    x, y = np.asarray(x, float).copy(), np.asarray(y, float).copy()
    finite = np.isfinite(x) & np.isfinite(y)
    x[~finite], y[~finite] = -1e6, -1e6
    if fit_positions:
        for _ in range(position_iterations):
            problem = _Problem(data, rms, bad, x, y, psf_model, radius, fit_background)
            if problem.n_active == 0:
                break
            params, _, _, _ = _fit(problem, gain, None, psf_model)
            m = problem.n_active
            flux = params[:m]
            shift = np.zeros((2, m))
            good = flux > 0
            shift[:, good] = np.clip(params[m : 3 * m].reshape(2, m)[:, good] / flux[good], -_MAX_SHIFT, _MAX_SHIFT)
            x[problem.active] += shift[0]
            y[problem.active] += shift[1]
    problem = _Problem(data, rms, bad, x, y, psf_model, radius, fit_background)
    if problem.n_active == 0:
        nan = np.full(x.size, np.nan)
        background = nan.copy() if fit_background else None
        return ForcedFit(nan, nan.copy(), nan.copy(), np.zeros(x.size, int), nan.copy(), nan.copy(), background,
                         np.zeros(x.size, bool))
    _, _, model, _ = _fit(problem, gain, None, None)
    params, variance, fitted, weights = _fit(problem, gain, model, None)
    m, n = problem.n_active, problem.n
    column = problem.column[problem.star][problem.own]
    chi = ((problem.data - fitted) ** 2 * weights)[problem.row[problem.own]]
    chi2 = np.bincount(column, weights=chi, minlength=m)
    npix = np.bincount(column, minlength=m)
    out = {name: np.full(n, np.nan) for name in ("flux", "flux_err", "chi2")}
    out["flux"][problem.active] = params[:m]
    out["flux_err"][problem.active] = np.sqrt(variance[:m])
    out["chi2"][problem.active] = chi2 / np.maximum(npix - 1, 1)
    ok = problem.active & finite & np.isfinite(out["flux"]) & np.isfinite(out["flux_err"])
    background = None
    if problem.groups is not None:
        background = np.full(n, np.nan)
        background[problem.active] = params[m:][problem.groups]
        background[~ok] = np.nan
    out["flux"][~ok], out["flux_err"][~ok] = np.nan, np.nan
    npix_all = np.zeros(n, int)
    npix_all[problem.active] = npix
    x[~ok], y[~ok] = np.nan, np.nan
    return ForcedFit(out["flux"], out["flux_err"], out["chi2"], npix_all, x, y, background, ok)


def psf_photometry(
    data_sub: np.ndarray,
    sources: Table,
    *,
    psf_model: PsfModel,
    rms: float | np.ndarray,
    gain: float,
    mask: np.ndarray | None = None,
    config: PSFConfig,
) -> QTable:
    """Fit the PSF to every source at once.

    Parameters
    ----------
    data_sub : ndarray
        Background-subtracted image (ADU).
    sources : Table
        Sources with ``x, y`` (0-based pixels) and optionally ``flags``.
    psf_model : PsfModel
        The ePSF (see :func:`rpf.photometry.psf_build.build_psf`).
    rms : float or ndarray
        Background noise per pixel (ADU), scalar or a map like ``data_sub``.
    gain : float
        Gain in e-/ADU (the sources' photon noise is ``model / gain``).
    mask : ndarray, optional
        Non-zero for pixels to ignore.
    config : PSFConfig
        Fit radius, background and position options.

    Returns
    -------
    QTable
        A copy of ``sources`` with ``psf_flux, psf_flux_err`` (ADU, total
        flux for a model of unit total flux such as ``build_psf``'s), ``psf_chi2`` (reduced, over the source's
        pixels), ``psf_npix``, with ``fit_positions`` also ``x_psf, y_psf``,
        with ``fit_background`` also ``psf_bkg``; ``PSF_FAILED`` is set in
        ``flags`` where no fit was possible.

    Raises
    ------
    PhotometryError
        Inconsistent inputs.
    """
    data = np.asarray(data_sub, float)
    rms = np.asarray(rms, float)
    if data.ndim != 2 or (rms.ndim and rms.shape != data.shape):
        raise PhotometryError("psf_photometry needs a 2-D image and a scalar or same-shape rms")
    if not gain > 0:
        raise PhotometryError(f"psf_photometry needs gain > 0 (got {gain})")
    bad = ~np.isfinite(data) | (~np.isfinite(rms) if rms.ndim else np.zeros(data.shape, bool))
    if mask is not None:
        bad |= np.asarray(mask) != 0
    fit = fit_fluxes(
        data,
        _values(sources, "x"),
        _values(sources, "y"),
        psf_model=psf_model,
        rms=rms,
        gain=gain,
        bad=bad,
        radius=max(config.fit_radius_fwhm * psf_model.fwhm_px, 1.5),
        fit_positions=config.fit_positions,
        position_iterations=config.position_iterations,
        fit_background=config.fit_background,
    )
    out = QTable(sources, copy=True)
    out["psf_flux"], out["psf_flux_err"], out["psf_chi2"], out["psf_npix"] = fit.flux, fit.flux_err, fit.chi2, fit.npix
    if config.fit_positions:
        out["x_psf"], out["y_psf"] = fit.x, fit.y
    if fit.background is not None:
        out["psf_bkg"] = fit.background
    n = len(out)
    flags = np.asarray(out["flags"]).astype(np.uint16) if "flags" in out.colnames else np.zeros(n, np.uint16)
    out["flags"] = np.where(fit.ok, flags, flags | np.uint16(SourceFlag.PSF_FAILED)).astype(np.uint16)
    return out
