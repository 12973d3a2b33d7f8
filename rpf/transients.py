"""Transient candidates: significant point sources that no catalogue explains."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.flags import SourceFlag

__all__ = ["CONTEXT_COLUMNS", "find_transient_candidates", "flag_transient_candidates", "within_reference_depth"]

_DISQUALIFY = (
    SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL
    | SourceFlag.EXTENDED | SourceFlag.NO_WCS
)

CONTEXT_COLUMNS = ("simbad_id", "simbad_otype", "vsx_name", "vsx_type", "colibri_name", "colibri_type")
"""Label columns copied into the transient list as context."""


def find_transient_candidates(
    phot: Table,
    labels: Table,
    *,
    reference_matched: np.ndarray,
    snr_min: float = 10.0,
    deep_enough: np.ndarray | None = None,
) -> tuple[Table, Table]:
    """Flag point-like SNR > ``snr_min`` detections with no reference counterpart.

    A detection is a candidate when its SNR exceeds ``snr_min``, it has no
    reference-catalogue match, it is not a known solar-system object
    (``skybot_name`` empty), its ``flags`` carry none of SATURATED,
    EDGE, COSMIC_RAY, BAD_PIXEL, EXTENDED, NO_WCS, and (when
    ``deep_enough`` is given) the reference goes deep enough to list it.

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
    deep_enough : ndarray of bool, optional
        True where the reference catalogue would list the detection if it were
        a known star (see :func:`within_reference_depth`); default: everywhere.

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
    if deep_enough is not None:
        candidate &= np.asarray(deep_enough, bool)
    out = phot.copy()
    out["flags"] = np.where(candidate, flags | int(SourceFlag.TRANSIENT_CANDIDATE), flags)
    out["transient_candidate"] = candidate
    keep = [c for c in ("id", "x", "y", "ra", "dec", "mag", "mag_err", "snr", "flags") if c in out.colnames]
    transients = Table(out[keep][candidate], copy=True)
    for column in CONTEXT_COLUMNS:
        if column in labels.colnames:
            transients[column] = np.asarray(labels[column])[candidate]
    return out, transients


_DEPTH_COLUMNS = (("phot_g_mean_mag", "cat_g"), ("VT_mag", "cat_mag"))
"""(reference column, photometry column) pairs whose limit defines the reference depth, first usable wins."""


def within_reference_depth(phot: Table, reference: Table, *, min_margin: float = 0.3) -> np.ndarray:
    """Return True where a detection is bright enough for the reference catalogue to list it.

    The reference is cut at a magnitude limit (Gaia G <= ``mag_limit``, the
    Tycho-2 depth, ...): a fainter detection lacks a counterpart because the
    reference stops there, not because it is new.  Each detection's magnitude
    on the reference scale is estimated as ``mag_inst + median(cat - mag_inst)``
    over the matched detections; it must be brighter than the faintest
    reference star by ``max(min_margin, 3 sigma)`` of that offset.

    Parameters
    ----------
    phot : Table
        Photometry with ``mag_inst`` and the matched reference magnitudes
        (``cat_g`` for Gaia G, else ``cat_mag``; NaN when unmatched).
    reference : Table
        The reference catalogue of the frame.
    min_margin : float
        Smallest margin (mag) kept above the reference limit.

    Returns
    -------
    ndarray of bool
        One value per detection; all False when fewer than 3 detections matched
        the reference (its depth cannot be related to the frame), all True when the
        reference has no usable magnitude column (nothing to judge the depth by).
    """
    n = len(phot)
    for ref_column, phot_column in _DEPTH_COLUMNS:
        if ref_column not in reference.colnames or phot_column not in phot.colnames or "mag_inst" not in phot.colnames:
            continue
        limit_values = np.asarray(reference[ref_column], float)
        if not np.isfinite(limit_values).any():
            continue
        cat = np.asarray(phot[phot_column], float)
        inst = np.asarray(phot["mag_inst"], float)
        pairs = np.isfinite(cat) & np.isfinite(inst)
        if np.count_nonzero(pairs) < 3:
            return np.zeros(n, bool)
        offsets = cat[pairs] - inst[pairs]
        offset = float(np.median(offsets))
        margin = max(min_margin, 3.0 * 1.4826 * float(np.median(np.abs(offsets - offset))))
        with np.errstate(invalid="ignore"):
            return (inst + offset) <= float(np.nanmax(limit_values)) - margin
    return np.ones(n, bool)


def flag_transient_candidates(phot: Table, *, reference: Table | None = None, snr_min: float = 10.0) -> Table:
    """Flag candidates in a photometry table that already holds ``cat_id`` and the label columns.

    ``cat_id`` (empty string = no reference counterpart) comes from the zero-point
    stage and the label columns from :func:`rpf.catalogs.crossmatch_sources`.  Without
    a ``cat_id`` column there was no reference catalogue, so nothing can be called
    new: every row gets ``transient_candidate = False``.  With ``reference``,
    detections fainter than the reference goes are not candidates
    (:func:`within_reference_depth`).

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
    deep = within_reference_depth(phot, reference) if reference is not None else None
    out, _ = find_transient_candidates(phot, phot, reference_matched=matched, snr_min=snr_min, deep_enough=deep)
    return out
