"""Pixel-integrated elliptical Moffat profile: evaluation and a shape fit to many stars at once.

The profile is ``(beta - 1) / pi * sqrt(det) * (1 + Q)**(-beta)`` with the
quadratic form ``Q = a dx**2 + b dx dy + c dy**2`` (``det = a c - b**2 / 4``),
so it integrates to one over the plane; a Gaussian is its limit of large
``beta``.  Values are integrated over each pixel by Gauss-Legendre quadrature,
as a detector (and :func:`rpf.simulate.psf.render_stars`) integrates the light.
The four shape parameters are fitted to the pixels of all PSF stars at once
(fluxes are solved linearly inside the fit, positions held), so the model's
centre is exactly its origin and its wings follow a physical profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

__all__ = ["MoffatShape", "fit_moffat_shape"]

_LOG_BETA_MAX = np.log(1e4)


@dataclass(frozen=True)
class MoffatShape:
    """Shape of an elliptical Moffat profile in unconstrained parameters.

    Attributes
    ----------
    log_a, log_c : float
        Half the logarithms of the ``dx**2`` and ``dy**2`` coefficients of ``Q``.
    t : float
        ``b = 2 tanh(t) sqrt(a c)`` (the cross term, so that ``Q`` stays positive).
    log_beta : float
        ``log(beta - 1)``.
    """

    log_a: float
    log_c: float
    t: float
    log_beta: float

    @classmethod
    def circular(cls, fwhm_px: float, beta: float = 3.0) -> MoffatShape:
        """Return the circular profile of the given FWHM (pixels) and exponent."""
        alpha = fwhm_px / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
        return cls(-np.log(alpha), -np.log(alpha), 0.0, float(np.log(beta - 1.0)))

    @property
    def vector(self) -> np.ndarray:
        """The parameters as an array."""
        return np.array([self.log_a, self.log_c, self.t, self.log_beta])

    @property
    def beta(self) -> float:
        """The Moffat exponent."""
        return 1.0 + float(np.exp(min(self.log_beta, _LOG_BETA_MAX)))

    @property
    def fwhm_px(self) -> float:
        """Diameter (pixels) of the circle with the area of the half-maximum ellipse."""
        a, c = np.exp(2 * self.log_a), np.exp(2 * self.log_c)
        det = a * c * (1.0 - np.tanh(self.t) ** 2)
        return float(2.0 * np.sqrt((2.0 ** (1.0 / self.beta) - 1.0) / np.sqrt(det)))

    def surface(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Return the unit-flux surface density at offsets ``(dx, dy)`` (pixels)."""
        a, c = np.exp(2 * self.log_a), np.exp(2 * self.log_c)
        b = 2.0 * np.tanh(self.t) * np.sqrt(a * c)
        det = a * c - 0.25 * b * b
        beta = self.beta
        q = a * dx * dx + b * dx * dy + c * dy * dy
        return (beta - 1.0) / np.pi * np.sqrt(det) * np.power(1.0 + q, -beta)

    def pixels(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Return the fraction of the light falling in unit pixels centred at offsets ``(dx, dy)``."""
        dx, dy = np.asarray(dx, float), np.asarray(dy, float)
        nodes, weights = np.polynomial.legendre.leggauss(4 if self.fwhm_px >= 2 else 6)
        nodes, weights = nodes / 2.0, weights / 2.0
        total = np.zeros(np.broadcast(dx, dy).shape)
        for ny, wy in zip(nodes, weights, strict=True):
            for nx, wx in zip(nodes, weights, strict=True):
                total += wy * wx * self.surface(dx + nx, dy + ny)
        return total


def _residuals(vector, dx, dy, values, weights, star, n_stars):
    shape = MoffatShape(*vector)
    model = shape.pixels(dx, dy)
    wm = weights * model
    num = np.bincount(star, weights=wm * values, minlength=n_stars)
    den = np.bincount(star, weights=wm * model, minlength=n_stars)
    flux = num / np.where(den > 0, den, 1.0)
    return np.sqrt(weights) * (values - flux[star] * model)


def fit_moffat_shape(
    dx: np.ndarray,
    dy: np.ndarray,
    values: np.ndarray,
    weights: np.ndarray,
    star: np.ndarray,
    *,
    start: MoffatShape,
) -> MoffatShape:
    """Fit one elliptical Moffat shape to the pixels of many stars (each with a free flux).

    Parameters
    ----------
    dx, dy : ndarray
        Pixel offsets from each pixel's star (1-D, one entry per pixel).
    values : ndarray
        Background-subtracted pixel values.
    weights : ndarray
        Inverse variances of the values.
    star : ndarray of int
        Index of each pixel's star.
    start : MoffatShape
        Starting shape.

    Returns
    -------
    MoffatShape
        The weighted least-squares shape (each star's flux solved linearly inside the fit).
    """
    n_stars = int(star.max()) + 1
    result = least_squares(
        _residuals,
        start.vector,
        args=(dx, dy, values, weights, star, n_stars),
        x_scale=np.array([0.05, 0.05, 0.05, 0.3]),
        diff_step=1e-4,
        max_nfev=60,
    )
    log_a, log_c, t, log_beta = result.x
    return MoffatShape(float(log_a), float(log_c), float(t), float(min(log_beta, _LOG_BETA_MAX)))
