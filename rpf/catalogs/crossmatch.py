"""One-to-one cross-matching of detections with the reference and label catalogues.

The match radius comes from the frame: ``r = max(3 * wcs_rms, 0.5 * FWHM)``
clipped to ``[match_radius_min_arcsec, match_radius_max_arcsec]``.  Pairs
closer than the radius are taken nearest first, and a detection or a
catalogue row is used at most once.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from rpf.catalogs.base import Cone, ServiceReport, angular_separation_deg
from rpf.catalogs.colibri import MissingKey
from rpf.catalogs.query import PROVIDERS, NotCached, open_cache, query_service
from rpf.config import CatalogConfig
from rpf.errors import CatalogError

__all__ = ["LABEL_COLUMNS", "crossmatch_sources", "match_radius_arcsec", "match_reference"]

log = logging.getLogger(__name__)

LABEL_COLUMNS: dict[str, tuple[tuple[str, str, type], ...]] = {
    "simbad": (("simbad_id", "simbad_id", str), ("simbad_otype", "simbad_otype", str)),
    "vsx": (("vsx_name", "vsx_name", str), ("vsx_type", "vsx_type", str), ("vsx_period", "vsx_period", float),
            ("vsx_range", "vsx_range", str)),
    "skybot": (("skybot_name", "skybot_name", str),),
    "milliquas": (("qso_name", "qso_name", str), ("qso_z", "qso_z", float)),
    "colibri": (("colibri_name", "colibri_name", str), ("colibri_type", "colibri_type", str)),
}
"""Per service: (label column, catalogue column, type) copied onto matched detections."""

_MAX_EXTRA_ARCSEC = 60.0


def match_radius_arcsec(fwhm_arcsec: float | None, wcs_rms_arcsec: float | None, *, config: CatalogConfig) -> float:
    """Return the cross-match radius of a frame in arcsec.

    ``max(3 * wcs_rms, 0.5 * fwhm)`` clipped to the configured bounds;
    unknown (None/NaN) inputs are ignored, and with neither known the upper
    bound is used.
    """
    terms = [3.0 * v for v in (wcs_rms_arcsec,) if v is not None and math.isfinite(v)]
    terms += [0.5 * v for v in (fwhm_arcsec,) if v is not None and math.isfinite(v)]
    radius = max(terms) if terms else config.match_radius_max_arcsec
    return float(np.clip(radius, config.match_radius_min_arcsec, config.match_radius_max_arcsec))


def _unit_vectors(ra, dec) -> np.ndarray:
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def match_reference(sources: Table, reference: Table, *, radius_arcsec) -> tuple[np.ndarray, np.ndarray]:
    """Match detections to catalogue rows one-to-one, nearest pairs first.

    Parameters
    ----------
    sources, reference : Table
        Tables with ``ra``/``dec`` in degrees (rows with NaN never match).
    radius_arcsec : float or array
        Match radius; an array gives one radius per ``reference`` row.

    Returns
    -------
    source_index, reference_index : ndarray of int
        Matched row pairs, sorted by source index.
    """
    empty = np.array([], dtype=np.intp)
    if len(sources) == 0 or len(reference) == 0:
        return empty, empty
    s_ra, s_dec = np.asarray(sources["ra"], float), np.asarray(sources["dec"], float)
    r_ra, r_dec = np.asarray(reference["ra"], float), np.asarray(reference["dec"], float)
    s_ok = np.flatnonzero(np.isfinite(s_ra) & np.isfinite(s_dec))
    r_ok = np.flatnonzero(np.isfinite(r_ra) & np.isfinite(r_dec))
    if len(s_ok) == 0 or len(r_ok) == 0:
        return empty, empty
    radius = np.broadcast_to(np.asarray(radius_arcsec, float), (len(reference),))[r_ok]
    chord = 2.0 * np.sin(np.radians(np.max(radius) / 3600.0) / 2.0)
    tree = cKDTree(_unit_vectors(r_ra[r_ok], r_dec[r_ok]))
    pairs = tree.query_ball_point(_unit_vectors(s_ra[s_ok], s_dec[s_ok]), chord)
    lengths = np.fromiter((len(p) for p in pairs), dtype=np.intp, count=len(pairs))
    if lengths.sum() == 0:
        return empty, empty
    si = np.repeat(np.arange(len(s_ok)), lengths)
    ri = np.concatenate([np.asarray(p, dtype=np.intp) for p in pairs if p])
    sep = angular_separation_deg(s_ra[s_ok][si], s_dec[s_ok][si], r_ra[r_ok][ri], r_dec[r_ok][ri]) * 3600.0
    keep = sep <= radius[ri]
    si, ri, sep = si[keep], ri[keep], sep[keep]
    used_s = np.zeros(len(s_ok), bool)
    used_r = np.zeros(len(r_ok), bool)
    out_s, out_r = [], []
    for k in np.argsort(sep, kind="stable"):
        if not used_s[si[k]] and not used_r[ri[k]]:
            used_s[si[k]] = used_r[ri[k]] = True
            out_s.append(s_ok[si[k]])
            out_r.append(r_ok[ri[k]])
    order = np.argsort(out_s)
    return np.asarray(out_s, dtype=np.intp)[order], np.asarray(out_r, dtype=np.intp)[order]


def _field_cone(sources: Table, pad_arcsec: float, mjd: float | None, site) -> Cone | None:
    ra, dec = np.asarray(sources["ra"], float), np.asarray(sources["dec"], float)
    ok = np.isfinite(ra) & np.isfinite(dec)
    if not ok.any():
        return None
    xyz = _unit_vectors(ra[ok], dec[ok]).mean(axis=0)
    c_ra = float(np.degrees(np.arctan2(xyz[1], xyz[0])) % 360.0)
    c_dec = float(np.degrees(np.arctan2(xyz[2], np.hypot(xyz[0], xyz[1]))))
    extent = float(np.max(angular_separation_deg(c_ra, c_dec, ra[ok], dec[ok])))
    # 10 % + 1 arcmin of margin so that the next frame of the same field is served by this cone
    radius = extent * 1.1 + 1.0 / 60.0 + pad_arcsec / 3600.0
    return Cone(round(c_ra, 4), round(c_dec, 4), min(round(radius, 4), 30.0), epoch_mjd=mjd, site=site)


def _empty_labels(n: int, services: tuple[str, ...]) -> Table:
    labels = Table()
    for service in services:
        for column, _, kind in LABEL_COLUMNS[service]:
            labels[column] = np.full(n, np.nan) if kind is float else np.full(n, "", dtype=object)
    return labels


def _service_radius(service: str, rows: Table, radius: float) -> np.ndarray | float:
    extra = {"skybot": "skybot_errpos", "colibri": "colibri_err_deg"}.get(service)
    if extra is None or extra not in rows.colnames:
        return radius
    err = np.asarray(rows[extra], float) * (3600.0 if service == "colibri" else 1.0)
    err = np.where(np.isfinite(err), err, 0.0)
    return np.maximum(radius, np.minimum(np.hypot(radius, err), _MAX_EXTRA_ARCSEC))


def _status(exc: CatalogError, service: str) -> str:
    if isinstance(exc, NotCached):
        return "skipped: offline"
    text = str(exc).removeprefix(f"{service}: ")
    if isinstance(exc, MissingKey):
        return "skipped: no Astro-Colibri user key (RPF_COLIBRI_UID)"
    return f"failed: {text}"


def _label_one(service: str, sources: Table, cone: Cone, radius: float, config: CatalogConfig, cache):
    start = time.perf_counter()
    if service in ("skybot", "colibri") and cone.epoch_mjd is None:
        return None, ServiceReport(service, "skipped: no observation epoch")
    if service == "colibri" and not config.colibri_uid:
        return None, ServiceReport(service, "skipped: no Astro-Colibri user key (RPF_COLIBRI_UID)")
    try:
        result = query_service(PROVIDERS[service], cone, config=config, cache=cache)
    except CatalogError as exc:
        return None, ServiceReport(service, _status(exc, service), elapsed_s=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - a label service must never break the frame
        log.exception("%s: unexpected failure", service)
        return None, ServiceReport(service, f"failed: {type(exc).__name__}", elapsed_s=time.perf_counter() - start)
    rows = result.table
    si, ri = match_reference(sources, rows, radius_arcsec=_service_radius(service, rows, radius))
    report = ServiceReport(service, "ok", len(rows), time.perf_counter() - start, result.from_cache, len(si))
    return (rows, si, ri), report


def crossmatch_sources(
    sources_radec_table: Table,
    *,
    mjd: float | None,
    site: tuple[float, float, float] | None,
    fwhm_arcsec: float | None,
    wcs_rms_arcsec: float | None,
    config: CatalogConfig,
) -> tuple[Table, list[ServiceReport]]:
    """Label detections with SIMBAD, VSX, SkyBoT, Milliquas and Astro-Colibri.

    The services in ``config.crossmatch`` are queried concurrently (cache
    first); a failing service is reported, never raised.

    Parameters
    ----------
    sources_radec_table : Table
        Detections with ``ra``/``dec`` (degrees; NaN when unknown).
    mjd : float or None
        Mid-exposure epoch (UTC MJD) for SkyBoT and Astro-Colibri.
    site : tuple of float or None
        Observer ``(lat, lon, elev)`` (degrees, degrees east, metres) for SkyBoT.
    fwhm_arcsec, wcs_rms_arcsec : float or None
        Measured seeing and astrometric RMS, which set the match radius.
    config : CatalogConfig
        Services, cache, offline mode, time limits.

    Returns
    -------
    labels : Table
        One row per input row: ``simbad_id, simbad_otype, vsx_name, vsx_type,
        vsx_period, vsx_range, skybot_name, qso_name, qso_z, colibri_name,
        colibri_type`` (empty strings / NaN when unmatched or not queried);
        ``meta['match_radius_arcsec']``.
    reports : list of ServiceReport
        One per configured service, in ``config.crossmatch`` order.
    """
    services = tuple(config.crossmatch)
    every = tuple(LABEL_COLUMNS)
    labels = _empty_labels(len(sources_radec_table), every)
    radius = match_radius_arcsec(fwhm_arcsec, wcs_rms_arcsec, config=config)
    labels.meta["match_radius_arcsec"] = radius
    cone = _field_cone(sources_radec_table, radius, mjd, site) if len(sources_radec_table) else None
    if cone is None:
        return labels, [ServiceReport(s, "skipped: no source coordinates") for s in services]
    try:
        cache = open_cache(config)
    except CatalogError as exc:
        return labels, [ServiceReport(s, f"failed: {exc}") for s in services]
    with ThreadPoolExecutor(max_workers=max(len(services), 1)) as pool:
        futures = [pool.submit(_label_one, s, sources_radec_table, cone, radius, config, cache) for s in services]
        outcomes = [f.result() for f in futures]
    reports = []
    for service, (matched, report) in zip(services, outcomes, strict=True):
        reports.append(report)
        if matched is None:
            continue
        rows, si, ri = matched
        for column, source, kind in LABEL_COLUMNS[service]:
            values = np.asarray(rows[source], float if kind is float else object)
            labels[column][si] = values[ri]
    for column in labels.colnames:
        if labels[column].dtype == object:
            labels[column] = labels[column].astype(str)
    return labels, reports
