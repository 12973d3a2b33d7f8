"""Transient candidates: significant point sources that no catalogue explains."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.flags import SourceFlag

__all__ = ["CONTEXT_COLUMNS", "find_transient_candidates", "flag_transient_candidates"]

_DISQUALIFY = (
    SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL
    | SourceFlag.EXTENDED | SourceFlag.NO_WCS
)

CONTEXT_COLUMNS = ("simbad_id", "simbad_otype", "vsx_name", "vsx_type", "colibri_name", "colibri_type")
"""Label columns copied into the transient list as context."""


def find_transient_candidates(
    phot: Table, labels: Table, *, reference_matched: np.ndarray, snr_min: float = 10.0
) -> tuple[Table, Table]:
    """Flag point-like SNR > ``snr_min`` detections with no reference counterpart.

    A detection is a candidate when its SNR exceeds ``snr_min``, it has no
    reference-catalogue match, it is not a known solar-system object
    (``skybot_name`` empty), and its ``flags`` carry none of SATURATED,
    EDGE, COSMIC_RAY, BAD_PIXEL, EXTENDED, NO_WCS.

    Parameters
    ----------
    phot : Table
        Photometry with ``snr`` and ``flags`` (and usually ``id, x, y, ra, dec, mag``).
    labels : Table
        Output of :func:`rpf.catalogs.crossmatch_sources`, row-aligned with ``phot``.
    reference_matched : ndarray of bool
        True where a detection matched the reference catalogue.
    snr_min : float
        Significance threshold.

    Returns
    -------
    phot : Table
        A copy with ``TRANSIENT_CANDIDATE`` set in ``flags`` and a boolean
        ``transient_candidate`` column.
    transients : Table
        The candidates (photometry columns present among ``id, x, y, ra, dec,
        mag, mag_err, snr, flags``) with SIMBAD/VSX/Astro-Colibri context.
    """
    n = len(phot)
    matched = np.asarray(reference_matched, bool)
    if matched.shape != (n,) or len(labels) != n:
        msg = "phot, labels and reference_matched must have the same length"
        raise ValueError(msg)
    flags = np.asarray(phot["flags"], dtype=np.int64)
    snr = np.nan_to_num(np.asarray(phot["snr"], float), nan=0.0)
    skybot = np.asarray(labels["skybot_name"], str) if "skybot_name" in labels.colnames else np.full(n, "")
    candidate = (snr > snr_min) & ~matched & (skybot == "") & ((flags & int(_DISQUALIFY)) == 0)
    out = phot.copy()
    out["flags"] = np.where(candidate, flags | int(SourceFlag.TRANSIENT_CANDIDATE), flags)
    out["transient_candidate"] = candidate
    keep = [c for c in ("id", "x", "y", "ra", "dec", "mag", "mag_err", "snr", "flags") if c in out.colnames]
    transients = Table(out[keep][candidate], copy=True)
    for column in CONTEXT_COLUMNS:
        if column in labels.colnames:
            transients[column] = np.asarray(labels[column])[candidate]
    return out, transients


def flag_transient_candidates(phot: Table, *, snr_min: float = 10.0) -> Table:
    """Flag candidates in a photometry table that already holds ``cat_id`` and the label columns.

    ``cat_id`` (empty string = no reference counterpart) comes from the zero-point
    stage and the label columns from :func:`rpf.catalogs.crossmatch_sources`.  Without
    a ``cat_id`` column there was no reference catalogue, so nothing can be called
    new: every row gets ``transient_candidate = False``.

    Returns
    -------
    Table
        A copy with ``TRANSIENT_CANDIDATE`` in ``flags`` and a ``transient_candidate``
        column; ``phot[phot["transient_candidate"]]`` is the transient list.
    """
    if "cat_id" not in phot.colnames:
        out = phot.copy()
        out["transient_candidate"] = np.zeros(len(phot), bool)
        return out
    matched = np.asarray(phot["cat_id"], str) != ""
    out, _ = find_transient_candidates(phot, phot, reference_matched=matched, snr_min=snr_min)
    return out
