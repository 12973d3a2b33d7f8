"""Labels for detections from the catalogue services (SIMBAD, VSX, SkyBoT, Milliquas, Astro-Colibri).

Detections and service rows are matched by :func:`rpf.skymatch.match_sky`
(one-to-one, mutual nearest) within the frame's radius from
:func:`rpf.skymatch.match_radius_arcsec` (``max(3 * wcs_rms, 0.5 * FWHM)``
clipped to ``[match_radius_min_arcsec, match_radius_max_arcsec]``), widened
per row by the service's own position error where it gives one.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy.table import Table

from rpf.catalogs.base import Cone, ServiceReport, angular_separation_deg
from rpf.catalogs.colibri import MissingKey
from rpf.catalogs.query import PROVIDERS, NotCached, open_cache, query_service
from rpf.config import CatalogConfig
from rpf.errors import CatalogError
from rpf.skymatch import match_radius_arcsec, match_sky, unit_vectors

__all__ = ["LABEL_COLUMNS", "crossmatch_sources"]

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


def _positions(table: Table) -> tuple[np.ndarray, np.ndarray]:
    if "ra" not in table.colnames or "dec" not in table.colnames:
        return np.full(len(table), np.nan), np.full(len(table), np.nan)
    return (np.asarray(getattr(table["ra"], "value", table["ra"]), float),
            np.asarray(getattr(table["dec"], "value", table["dec"]), float))


def _field_cone(sources: Table, pad_arcsec: float, mjd: float | None, site) -> Cone | None:
    ra, dec = _positions(sources)
    ok = np.isfinite(ra) & np.isfinite(dec)
    if not ok.any():
        return None
    xyz = unit_vectors(ra[ok], dec[ok]).mean(axis=0)
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
    si, ri = match_sky(*_positions(sources), *_positions(rows), radius_arcsec=_service_radius(service, rows, radius))
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
    radius = match_radius_arcsec(fwhm_arcsec=fwhm_arcsec, wcs_rms_arcsec=wcs_rms_arcsec,
                                 minimum=config.match_radius_min_arcsec, maximum=config.match_radius_max_arcsec)
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
