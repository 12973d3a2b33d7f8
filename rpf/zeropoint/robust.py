"""Robust weighted linear least squares with an additive scatter term.

Calibrators scatter more than their photon noise (catalogue errors, flat-field
residuals), so each point's variance is ``sigma_i**2 + s**2`` with ``s``
chosen so that the normalised residuals have unit spread: robustly (median of
the squared normalised residuals) while clipping, then from the reduced
chi-square of the kept points for the final covariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

__all__ = ["RobustFit", "robust_linear_fit"]

_MEDIAN_CHI2_1 = 0.454936423119572
"""Median of a chi-square distribution with one degree of freedom."""

_HUBER_C = 1.345


@dataclass(frozen=True)
class RobustFit:
    """Result of :func:`robust_linear_fit`.

    Attributes
    ----------
    params : ndarray
        Fitted parameters.
    covariance : ndarray
        Their covariance (includes the additive scatter).
    used : ndarray of bool
        Points kept by the clipping (all points for Huber).
    residuals : ndarray
        ``y - design @ params`` for every point.
    scatter : float
        Additive scatter ``s`` (same unit as ``y``).
    rms : float
        Root-mean-square residual of the kept points.
    """

    params: np.ndarray
    covariance: np.ndarray
    used: np.ndarray
    residuals: np.ndarray
    scatter: float
    rms: float


def _scatter(res: np.ndarray, sigma: np.ndarray, target: float, statistic: str) -> float:
    """Return the additive scatter making ``statistic(res**2 / (sigma**2 + s**2))`` equal ``target``."""

    def excess(s: float) -> float:
        z2 = res**2 / (sigma**2 + s**2)
        return (np.median(z2) if statistic == "median" else np.mean(z2)) - target

    if excess(0.0) <= 0:
        return 0.0
    upper = float(np.max(np.abs(res))) + 1e-12
    while excess(upper) > 0:
        upper *= 2.0
    return float(brentq(excess, 0.0, upper, xtol=1e-7))


def _solve(design: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    normal = design.T @ (design * weights[:, None])
    covariance = np.linalg.pinv(normal)
    return covariance @ (design.T @ (weights * y)), covariance


def robust_linear_fit(
    design: np.ndarray,
    y: np.ndarray,
    sigma: np.ndarray,
    *,
    clip_sigma: float = 3.0,
    max_iter: int = 10,
    method: str = "clip",
) -> RobustFit:
    """Fit ``y = design @ params`` robustly.

    Parameters
    ----------
    design : ndarray, shape (n, p)
        Design matrix.
    y : ndarray, shape (n,)
        Observations.
    sigma : ndarray, shape (n,)
        Their uncertainties (photon noise and catalogue errors).
    clip_sigma : float
        With ``method="clip"``, points whose normalised residual exceeds this
        are dropped (and may come back in a later iteration).
    max_iter : int
        Most iterations.
    method : str
        ``"clip"`` (iterative clipping) or ``"huber"`` (iteratively
        reweighted least squares with Huber weights, nothing dropped).

    Returns
    -------
    RobustFit
    """
    n, p = design.shape
    used = np.ones(n, bool)
    robust_weight = np.ones(n)
    scatter = 0.0
    params = np.zeros(p)
    for _ in range(max_iter):
        weights = robust_weight / (sigma**2 + scatter**2)
        params, _ = _solve(design[used], y[used], weights[used])
        res = y - design @ params
        scatter = _scatter(res[used], sigma[used], _MEDIAN_CHI2_1, "median")
        z = np.abs(res) / np.sqrt(sigma**2 + scatter**2)
        if method == "huber":
            new_weight = np.minimum(1.0, _HUBER_C / np.maximum(z, 1e-12))
            converged = np.allclose(new_weight, robust_weight, atol=1e-4)
            robust_weight = new_weight
        else:
            new_used = z <= clip_sigma
            if np.count_nonzero(new_used) <= p:
                break
            converged = np.array_equal(new_used, used)
            used = new_used
        if converged:
            break
    res = y - design @ params
    dof = max(np.count_nonzero(used) - p, 1)
    scatter = _scatter(res[used], sigma[used], dof / np.count_nonzero(used), "mean")
    weights = robust_weight / (sigma**2 + scatter**2)
    params, covariance = _solve(design[used], y[used], weights[used])
    res = y - design @ params
    rms = float(np.sqrt(np.mean(res[used] ** 2)))
    return RobustFit(params, covariance, used, res, scatter, rms)
