"""Sources on a difference image: what brightened or faded since the template, with significance."""

from __future__ import annotations

import numpy as np
import sep
from astropy.table import QTable, Table, vstack
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.subtraction.difference import Difference

__all__ = ["CANDIDATE_COLUMNS", "detect_difference", "merge_candidates"]

CANDIDATE_COLUMNS = ("id", "x", "y", "ra", "dec", "flux", "flux_err", "snr", "sign", "dipole", "flags")
"""Columns of the difference-image candidates (first, in this order)."""

_MIN_AREA = 5


def _extract(image: np.ndarray, noise: np.ndarray, bad: np.ndarray, threshold: float) -> Table:
    data = np.ascontiguousarray(image, dtype=np.float64)
    err = np.ascontiguousarray(np.where(np.isfinite(noise), noise, 1e30), dtype=np.float64)
    sep.set_extract_pixstack(max(300000, image.size // 4))
    found = sep.extract(data, threshold, err=err, mask=bad, minarea=_MIN_AREA)
    return Table(found)


def detect_difference(
    diff: Difference,
    *,
    fwhm_px: float,
    threshold_sigma: float = 5.0,
    wcs: WCS | None = None,
) -> QTable:
    """Detect positive and negative sources on a difference image.

    A candidate is a group of at least 5 connected pixels above
    ``threshold_sigma`` times the pixel noise (on the image smoothed by sep's
    default 3x3 kernel), whose flux in an aperture of radius 1 FWHM on the
    difference reaches ``threshold_sigma`` times its error.

    Parameters
    ----------
    diff : Difference
        The difference image and its noise.
    fwhm_px : float
        Science FWHM (pixels).
    threshold_sigma : float
        Detection and significance threshold.
    wcs : astropy.wcs.WCS, optional
        Science WCS, for ``ra, dec``.

    Returns
    -------
    astropy.table.QTable
        :data:`CANDIDATE_COLUMNS`: ``flux, flux_err`` (science ADU in the
        aperture, not aperture-corrected), ``snr`` (signed), ``sign`` (+1
        brighter than the template, -1 fainter), ``dipole`` (an opposite-sign
        candidate within 1.5 FWHM: a misalignment artefact more likely than a
        transient), ``flags`` (``EDGE`` when the aperture touches unreliable pixels).

    Raises
    ------
    PhotometryError
        Non-positive FWHM or threshold.
    """
    if not (fwhm_px > 0 and threshold_sigma > 0):
        raise PhotometryError(f"difference detection needs FWHM and threshold > 0 ({fwhm_px}, {threshold_sigma})")
    image = np.asarray(diff.image, np.float64)
    found = []
    for sign in (1, -1):
        table = _extract(sign * image, diff.noise, diff.bad, threshold_sigma)
        if len(table):
            found.append(Table({"x": table["x"], "y": table["y"], "sign": np.full(len(table), sign)}))
    rows = vstack(found) if found else Table({"x": [], "y": [], "sign": []}, dtype=(float, float, int))
    out = QTable()
    out["id"] = np.arange(1, len(rows) + 1)
    out["x"], out["y"] = np.asarray(rows["x"], float), np.asarray(rows["y"], float)
    if wcs is not None and len(rows):
        out["ra"], out["dec"] = wcs.all_pix2world(out["x"], out["y"], 0)
    else:
        out["ra"], out["dec"] = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    noise = np.ascontiguousarray(np.where(np.isfinite(diff.noise), diff.noise, 0.0), dtype=np.float64)
    if len(rows):
        flux, flux_err, aperture_flags = sep.sum_circle(
            np.ascontiguousarray(image), out["x"], out["y"], fwhm_px, err=noise, mask=diff.bad, subpix=0
        )
        touched = (np.asarray(aperture_flags, int) & int(sep.APER_TRUNC | sep.APER_HASMASKED)) != 0
    else:
        flux = flux_err = np.zeros(0)
        touched = np.zeros(0, bool)
    out["flux"], out["flux_err"] = flux, flux_err
    with np.errstate(invalid="ignore", divide="ignore"):
        out["snr"] = flux / flux_err
    out["sign"] = np.asarray(rows["sign"], int)
    out["dipole"] = _dipoles(out, 1.5 * fwhm_px)
    out["flags"] = np.where(touched, int(SourceFlag.EDGE), 0).astype(np.uint16)
    keep = np.asarray(out["snr"]) * np.asarray(out["sign"]) >= threshold_sigma
    out = out[keep]
    out["id"] = np.arange(1, len(out) + 1)
    out.meta.update(threshold_sigma=float(threshold_sigma), method=diff.method)
    return out


def _dipoles(table: QTable, radius: float) -> np.ndarray:
    n = len(table)
    dipole = np.zeros(n, bool)
    if n < 2:
        return dipole
    xy = np.column_stack([table["x"], table["y"]])
    sign = np.asarray(table["sign"])
    for i, neighbours in enumerate(cKDTree(xy).query_ball_point(xy, radius)):
        dipole[i] = any(sign[j] != sign[i] for j in neighbours)
    return dipole


def merge_candidates(
    difference: QTable, catalog: Table, *, radius_px: float
) -> QTable:
    """List difference-image and catalogue-based transient candidates side by side.

    Parameters
    ----------
    difference : astropy.table.QTable
        :func:`detect_difference` output.
    catalog : astropy.table.Table
        The frame's catalogue-based candidates (rows of the photometry with
        ``transient_candidate``): ``x, y`` (and ``ra, dec, snr``).
    radius_px : float
        Distance within which a row of each list is the same source.

    Returns
    -------
    astropy.table.QTable
        One row per source: ``origin`` (``"difference"``, ``"catalog"`` or
        ``"both"``), ``x, y, ra, dec``, ``diff_flux, diff_flux_err, diff_snr,
        sign, dipole`` (NaN/0 for catalogue-only rows) and ``catalog_snr``
        (NaN for difference-only rows), sorted by decreasing significance.
    """
    n_d, n_c = len(difference), len(catalog)
    d_xy = np.column_stack([difference["x"], difference["y"]]) if n_d else np.empty((0, 2))
    c_xy = np.column_stack([catalog["x"], catalog["y"]]) if n_c else np.empty((0, 2))
    pair = np.full(n_d, -1)
    if n_d and n_c:
        dist, idx = cKDTree(c_xy).query(d_xy, distance_upper_bound=radius_px)
        pair = np.where(np.isfinite(dist), idx, -1)
    matched = set(int(j) for j in pair if j >= 0)
    rows = []
    for i in range(n_d):
        j = int(pair[i])
        rows.append(("both" if j >= 0 else "difference", *d_xy[i], float(difference["ra"][i]),
                     float(difference["dec"][i]), float(difference["flux"][i]), float(difference["flux_err"][i]),
                     float(difference["snr"][i]), int(difference["sign"][i]), bool(difference["dipole"][i]),
                     float(catalog["snr"][j]) if j >= 0 and "snr" in catalog.colnames else np.nan))
    for j in range(n_c):
        if j in matched:
            continue
        rows.append(("catalog", *c_xy[j], _get(catalog, "ra", j), _get(catalog, "dec", j), np.nan, np.nan, np.nan,
                     0, False, _get(catalog, "snr", j)))
    names = ("origin", "x", "y", "ra", "dec", "diff_flux", "diff_flux_err", "diff_snr", "sign", "dipole",
             "catalog_snr")
    dtypes = (str, float, float, float, float, float, float, float, int, bool, float)
    table = QTable(rows=rows, names=names, dtype=dtypes) if rows else QTable(names=names, dtype=dtypes)
    if len(table):
        strength = np.fmax(np.abs(np.asarray(table["diff_snr"])), np.nan_to_num(np.asarray(table["catalog_snr"])))
        table = table[np.argsort(-np.nan_to_num(strength))]
    return table


def _get(table: Table, name: str, row: int) -> float:
    return float(table[name][row]) if name in table.colnames else np.nan
