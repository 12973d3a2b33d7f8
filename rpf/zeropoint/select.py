"""Calibrator selection: which detections may set the zero point.

A calibrator is a detection matched one-to-one to a reference star that is
unsaturated and unflagged, isolated in the reference catalogue, not known to
vary, has good Gaia astrometry (RUWE) and lies in the configured magnitude,
colour and signal-to-noise ranges.  Every rejection is counted by reason in
``table.meta['rejected']``.
"""

from __future__ import annotations

import numpy as np
from astropy.table import QTable

from rpf.config import ZeroPointConfig
from rpf.errors import ZeroPointError
from rpf.flags import UNRELIABLE
from rpf.skymatch import pairs_within
from rpf.zeropoint.bands import BandChoice

__all__ = ["REJECT_FLAGS", "select_calibrators"]

REJECT_FLAGS = UNRELIABLE
"""Source flags that exclude a detection from the calibrators."""

def _unique_pairs(phot_idx: np.ndarray, ref_idx: np.ndarray) -> np.ndarray:
    """Return a mask keeping pairs whose two indices each occur once."""
    _, inv1, cnt1 = np.unique(phot_idx, return_inverse=True, return_counts=True)
    _, inv2, cnt2 = np.unique(ref_idx, return_inverse=True, return_counts=True)
    return (cnt1[inv1] == 1) & (cnt2[inv2] == 1)


def _isolated(reference: QTable, mags: np.ndarray, ref_idx: np.ndarray, config: ZeroPointConfig) -> np.ndarray:
    """Return a mask: no reference neighbour within the isolation radius bright enough to matter."""
    if config.isolation_arcsec <= 0 or len(reference) < 2 or ref_idx.size == 0:
        return np.ones(ref_idx.size, bool)
    ra, dec = _column(reference, "ra"), _column(reference, "dec")
    owner, others, _ = pairs_within(ra[ref_idx], dec[ref_idx], ra, dec, radius_arcsec=config.isolation_arcsec)
    g = _column(reference, "phot_g_mean_mag") if "phot_g_mean_mag" in reference.colnames else mags
    limit = np.where(np.isfinite(g[ref_idx]), g[ref_idx] + config.isolation_dmag, np.inf)
    close = (others != ref_idx[owner]) & ~(g[others] > limit[owner])
    return np.bincount(owner, weights=close, minlength=ref_idx.size) == 0


def _variable(reference: QTable, ref_idx: np.ndarray) -> np.ndarray:
    out = np.zeros(ref_idx.size, bool)
    if "phot_variable_flag" in reference.colnames:
        flag = np.asarray(reference["phot_variable_flag"]).astype(str)[ref_idx]
        out |= np.char.upper(np.char.strip(flag)) == "VARIABLE"
    if "vsx_name" in reference.colnames:
        name = np.asarray(reference["vsx_name"]).astype(str)[ref_idx]
        out |= ~np.isin(np.char.strip(name), ("", "--", "nan", "None"))
    return out


def _column(table: QTable, name: str) -> np.ndarray:
    column = table[name]
    value = getattr(column, "value", column)
    return np.ma.filled(np.ma.asarray(value, float), np.nan)


def select_calibrators(
    phot: QTable,
    reference: QTable,
    *,
    phot_idx: np.ndarray,
    ref_idx: np.ndarray,
    band: BandChoice,
    exptime: float,
    config: ZeroPointConfig,
) -> QTable:
    """Return the candidate calibrators with their quantities for the fit.

    Parameters
    ----------
    phot : QTable
        Aperture photometry (``x, y, flux, flux_err, snr, flags``).
    reference : QTable
        Reference catalogue with Gaia DR3 column names.
    phot_idx, ref_idx : ndarray of int
        Matched pairs; pairs whose detection or reference star appears more
        than once are dropped.
    band : BandChoice
        The reference column to calibrate against.
    exptime : float
        Exposure time in seconds.
    config : ZeroPointConfig
        Ranges and limits.

    Returns
    -------
    QTable
        One row per accepted calibrator: ``phot_idx, ref_idx, source_id, x, y,
        mag_cat, mag_cat_err, color, mag_inst, mag_inst_err`` where
        ``mag_inst = -2.5 log10(flux / exptime)``; ``meta['rejected']`` counts
        rejections by reason and ``meta['n_matched']`` the one-to-one matches.

    Raises
    ------
    ZeroPointError
        A required column is missing.
    """
    for name in ("x", "y", "flux", "flux_err", "flags"):
        if name not in phot.colnames:
            raise ZeroPointError(f"photometry table lacks the column {name!r}")
    if band.column not in reference.colnames:
        raise ZeroPointError(f"reference catalogue lacks the column {band.column!r}")
    has_color = {"phot_bp_mean_mag", "phot_rp_mean_mag"} <= set(reference.colnames)
    phot_idx, ref_idx = np.asarray(phot_idx, int), np.asarray(ref_idx, int)
    unique = _unique_pairs(phot_idx, ref_idx)
    phot_idx, ref_idx = phot_idx[unique], ref_idx[unique]

    flux, flux_err = _column(phot, "flux")[phot_idx], _column(phot, "flux_err")[phot_idx]
    snr = _column(phot, "snr")[phot_idx] if "snr" in phot.colnames else flux / flux_err
    flags = np.asarray(phot["flags"]).astype(np.int64)[phot_idx]
    mag_cat = _column(reference, band.column)[ref_idx]
    mag_cat_err = _column(reference, band.error_column)[ref_idx] if band.error_column else np.zeros(ref_idx.size)
    if has_color:
        color = (_column(reference, "phot_bp_mean_mag") - _column(reference, "phot_rp_mean_mag"))[ref_idx]
    else:  # e.g. Tycho-2 V_T offline: no colour index, no colour cut or term
        color = np.zeros(ref_idx.size)
    ruwe = _column(reference, "ruwe")[ref_idx] if "ruwe" in reference.colnames else np.ones(ref_idx.size)

    tests = {
        "flux": (flux > 0) & np.isfinite(flux) & (flux_err > 0) & np.isfinite(flux_err),
        "flags": (flags & int(REJECT_FLAGS)) == 0,
        "magnitude": (mag_cat >= config.mag_range[0]) & (mag_cat <= config.mag_range[1]),
        "colour": (color >= config.color_range[0]) & (color <= config.color_range[1]),
        "ruwe": ~(ruwe > config.max_ruwe),
        "snr": snr >= config.min_snr,
        "variable": ~_variable(reference, ref_idx),
    }
    keep = np.ones(ref_idx.size, bool)
    rejected = {}
    for reason, ok in tests.items():
        rejected[reason] = int(np.count_nonzero(keep & ~ok))
        keep &= ok
    iso = np.ones(ref_idx.size, bool)
    iso[keep] = _isolated(reference, _column(reference, band.column), ref_idx[keep], config)
    rejected["neighbour"] = int(np.count_nonzero(keep & ~iso))
    keep &= iso
    rejected["duplicate_match"] = int(np.count_nonzero(~unique))

    with np.errstate(divide="ignore", invalid="ignore"):
        mag_inst = -2.5 * np.log10(flux / exptime)
        mag_inst_err = 2.5 / np.log(10.0) * flux_err / flux
    source_id = (
        np.asarray(reference["source_id"])[ref_idx] if "source_id" in reference.colnames else ref_idx.astype(np.int64)
    )
    out = QTable(
        {
            "phot_idx": phot_idx[keep],
            "ref_idx": ref_idx[keep],
            "source_id": source_id[keep],
            "x": _column(phot, "x")[phot_idx][keep],
            "y": _column(phot, "y")[phot_idx][keep],
            "mag_cat": mag_cat[keep],
            "mag_cat_err": np.nan_to_num(mag_cat_err[keep], nan=0.0),
            "color": color[keep],
            "mag_inst": mag_inst[keep],
            "mag_inst_err": mag_inst_err[keep],
        }
    )
    out.meta["rejected"] = rejected
    out.meta["n_matched"] = int(ref_idx.size)
    out.meta["has_color"] = has_color
    return out
