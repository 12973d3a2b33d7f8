"""Apply a frame's calibration to every flux of the photometry table.

The same calibration reaches ``flux`` (default aperture), every
``flux_r<k>`` (each already aperture-corrected to total flux) and
``psf_flux``.  PSF fluxes are first put on the aperture-corrected scale with
the median ``flux / psf_flux`` of clean bright stars (recorded in
``meta['psf_to_aperture']``).  ``mag_err`` adds in quadrature the flux error
(photon, background and read noise) and the calibration error at the
source (zero point, colour term and spatial terms with their covariance).
Nothing is rounded.
"""

from __future__ import annotations

import re

import numpy as np
from astropy.table import QTable

from rpf.flags import SourceFlag
from rpf.zeropoint.fit import ZeroPointFit, calibration_offset
from rpf.zeropoint.select import REJECT_FLAGS

__all__ = ["apply_zero_point", "psf_to_aperture_ratio"]

_MAG = 2.5 / np.log(10.0)


def _values(table: QTable, name: str) -> np.ndarray:
    column = table[name]
    return np.ma.filled(np.ma.asarray(getattr(column, "value", column), float), np.nan)


def _magnitudes(
    flux: np.ndarray, flux_err: np.ndarray, exptime: float, offset: np.ndarray, offset_err: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = flux > 0
        mag = np.where(positive, -2.5 * np.log10(np.where(positive, flux, 1.0) / exptime) + offset, np.nan)
        err = np.where(positive, np.hypot(_MAG * flux_err / np.where(positive, flux, 1.0), offset_err), np.nan)
    return mag, err


def psf_to_aperture_ratio(phot: QTable, *, min_snr: float = 20.0) -> float:
    """Return the median ``flux / psf_flux`` of clean stars with SNR above ``min_snr``.

    Returns ``nan`` when fewer than three stars qualify.
    """
    flux, psf = _values(phot, "flux"), _values(phot, "psf_flux")
    flags = np.asarray(phot["flags"]).astype(np.int64) if "flags" in phot.colnames else np.zeros(len(phot), int)
    snr = _values(phot, "snr") if "snr" in phot.colnames else flux / _values(phot, "flux_err")
    good = (flags & int(REJECT_FLAGS)) == 0
    good &= (flux > 0) & (psf > 0) & np.isfinite(flux) & np.isfinite(psf) & (snr >= min_snr)
    if np.count_nonzero(good) < 3:
        return float("nan")
    return float(np.median(flux[good] / psf[good]))


def _calibrator_rows(fit: ZeroPointFit, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``zp_used`` and ``zp_residual`` per photometry row from the fit's calibrator table."""
    used = np.zeros(n, bool)
    residual = np.full(n, np.nan)
    table = fit.calibrators
    if len(table) and "phot_idx" in table.colnames:
        rows = np.asarray(table["phot_idx"], int)
        used[rows] = np.asarray(table["used"], bool)
        residual[rows] = np.asarray(table["residual"], float)
    return used, residual


def apply_zero_point(
    phot: QTable,
    fit: ZeroPointFit,
    *,
    exptime: float,
    reference_colors: np.ndarray | None = None,
) -> QTable:
    """Return a copy of ``phot`` with calibrated magnitudes.

    Parameters
    ----------
    phot : QTable
        Photometry with ``x, y, flux, flux_err`` and optionally
        ``flux_r<k>, flux_err_r<k>`` and ``psf_flux, psf_flux_err``.
    fit : ZeroPointFit
        The frame's calibration.
    exptime : float
        Exposure time in seconds.
    reference_colors : ndarray, optional
        ``BP - RP`` of each row (``nan`` when unmatched); missing colours take
        the calibrators' median colour.

    Returns
    -------
    QTable
        Adds ``mag, mag_err``, ``mag_r<k>, mag_err_r<k>``, ``psf_mag,
        psf_mag_err`` (when PSF fluxes exist), ``cal_color`` (the colour used)
        and ``cal_offset`` (``mag - mag_inst``), ``zp_used`` (the source was
        a calibrator kept by the fit) and ``zp_residual`` (catalogue minus
        calibrated magnitude of the calibrator candidates, else NaN); when
        a colour term is applied, sources without a catalogue colour get
        the ``NO_COLOR`` flag.  ``meta`` gains the calibration numbers.
    """
    out = phot.copy()
    colors = np.full(len(out), np.nan) if reference_colors is None else np.asarray(reference_colors, float)
    offset, offset_err = calibration_offset(fit, x=_values(out, "x"), y=_values(out, "y"), color=colors)
    out["cal_color"] = np.where(np.isfinite(colors), colors, fit.color_ref)
    out["cal_offset"] = offset
    out["zp_used"], out["zp_residual"] = _calibrator_rows(fit, len(out))
    if "flags" in out.colnames and (fit.color_term_fitted or fit.color_term != 0.0):
        flags = np.asarray(out["flags"]).astype(np.uint16)
        out["flags"] = np.where(np.isfinite(colors), flags, flags | np.uint16(SourceFlag.NO_COLOR)).astype(np.uint16)
    out["mag"], out["mag_err"] = _magnitudes(
        _values(out, "flux"), _values(out, "flux_err"), exptime, offset, offset_err
    )
    for name in phot.colnames:
        found = re.fullmatch(r"flux_r(\d+)", name)
        if found and f"flux_err_r{found.group(1)}" in phot.colnames:
            k = found.group(1)
            out[f"mag_r{k}"], out[f"mag_err_r{k}"] = _magnitudes(
                _values(out, name), _values(out, f"flux_err_r{k}"), exptime, offset, offset_err
            )
    if "psf_flux" in phot.colnames:
        ratio = psf_to_aperture_ratio(phot)
        scale = ratio if np.isfinite(ratio) else 1.0
        out["psf_mag"], out["psf_mag_err"] = _magnitudes(
            _values(out, "psf_flux") * scale, _values(out, "psf_flux_err") * scale, exptime, offset, offset_err
        )
        out.meta["psf_to_aperture"] = ratio
    out.meta.update(
        zero_point=fit.zero_point,
        zero_point_err=fit.zero_point_err,
        color_term=fit.color_term,
        color_term_err=fit.color_term_err,
        color_index=fit.color_index,
        color_term_fitted=fit.color_term_fitted,
        color_term_reason=fit.color_term_reason,
        extinction_k=fit.extinction_k,
        n_calib_stars=fit.n_calib_stars,
        zero_point_rms=fit.rms,
        band=fit.band,
    )
    return out
