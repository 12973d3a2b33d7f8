"""Whether a frame's zero point needs a colour term.

A filter that is not the reference band (unfiltered, luminance, unknown, or
a band calibrated against another one) has a colour term by construction, so
it is always fitted.  For a filter that matches the reference band, the term
is fitted only when the calibrators ask for it: the Bayesian information
criterion of the fit with a term linear in ``BP - RP`` must beat the fit
without it by more than ``BIC_MARGIN`` ("very strong" evidence), so that a
frame without a real colour term gets one by chance in about 1 frame in 10^4
(a chi-square of one degree of freedom beyond ``ln n + 10``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rpf.zeropoint.robust import robust_linear_fit

__all__ = ["BIC_MARGIN", "ColorDecision", "decide_color_term"]

BIC_MARGIN = 10.0
"""BIC improvement a colour term must bring on a frame whose filter matches the reference band."""


@dataclass(frozen=True)
class ColorDecision:
    """Whether to fit a colour term, and why.

    Attributes
    ----------
    fit : bool
        Fit the colour term.
    reason : str
        Why (for the log and the metadata).
    delta_bic : float
        BIC without the term minus BIC with it (positive favours the term); NaN when not tested.
    """

    fit: bool
    reason: str
    delta_bic: float = float("nan")


def decide_color_term(
    *,
    configured: bool | None,
    has_color: bool,
    band_matches: bool,
    band: str,
    filter_name: str | None,
    design: np.ndarray,
    y: np.ndarray,
    sigma: np.ndarray,
    color: np.ndarray,
    clip_sigma: float,
    max_iter: int,
    method: str,
) -> ColorDecision:
    """Decide whether to fit a colour term.

    Parameters
    ----------
    configured : bool or None
        ``zeropoint.fit_color_term``: ``True``/``False`` decide; ``None`` asks the data.
    has_color : bool
        The reference catalogue has BP and RP.
    band_matches : bool
        The filter is the reference band (:func:`rpf.zeropoint.bands.band_matches_filter`).
    band, filter_name : str
        Names for the reason.
    design : numpy.ndarray
        Design matrix of the fit without the colour term ``(n, p)``.
    y, sigma : numpy.ndarray
        Calibrator ``mag_cat - mag_inst`` and their errors.
    color : numpy.ndarray
        Calibrator ``BP - RP``.
    clip_sigma, max_iter, method : float, int, str
        The robust fit's settings.

    Returns
    -------
    ColorDecision
    """
    if not has_color:
        return ColorDecision(False, "the reference catalogue has no BP-RP colours")
    if configured is not None:
        return ColorDecision(bool(configured), "zeropoint.fit_color_term is set")
    if not band_matches:
        return ColorDecision(True, f"filter {filter_name!r} is not the reference band {band}")
    without = robust_linear_fit(design, y, sigma, clip_sigma=clip_sigma, max_iter=max_iter, method=method)
    used = without.used
    n = int(np.count_nonzero(used))
    if n <= design.shape[1] + 2:
        return ColorDecision(False, "too few calibrators to test a colour term")
    weights = 1.0 / (sigma[used] ** 2 + without.scatter**2)
    chi2_without = float(np.sum(weights * without.residuals[used] ** 2))
    extended = np.column_stack([design[used], color[used]])
    normal = extended.T @ (extended * weights[:, None])
    params = np.linalg.pinv(normal) @ (extended.T @ (weights * y[used]))
    chi2_with = float(np.sum(weights * (y[used] - extended @ params) ** 2))
    delta_bic = chi2_without - chi2_with - np.log(n)
    if delta_bic > BIC_MARGIN:
        return ColorDecision(True, f"significant colour trend of the residuals (BIC gain {delta_bic:.1f})", delta_bic)
    return ColorDecision(False, f"no significant colour trend (BIC gain {delta_bic:.1f})", delta_bic)
