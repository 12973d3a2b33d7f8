"""The reference catalogue of a field (the Gaia role) from the best available source."""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table

from rpf.catalogs.base import Cone
from rpf.catalogs.cache import cut_to_cone
from rpf.catalogs.gaia import GaiaDR3, propagate_to_epoch
from rpf.catalogs.local import read_catalog_file
from rpf.catalogs.query import open_cache, query_service
from rpf.config import CatalogConfig
from rpf.errors import CatalogError
from rpf.index_files import read_tycho2_cone

__all__ = ["band_column", "get_reference"]

log = logging.getLogger(__name__)

_GAIA_BANDS = {"G": "phot_g_mean_mag", "BP": "phot_bp_mean_mag", "RP": "phot_rp_mean_mag"}
_SYNTHETIC = ("U", "B", "V", "R", "I", "u", "g", "r", "i", "z")


def band_column(band: str, table: Table) -> str:
    """Return the reference column that serves ``band`` in ``table``.

    ``G``/``BP``/``RP`` map to the Gaia magnitudes, ``U B V R I u g r i z`` to
    the synthetic ``<band>_mag`` columns, and any band to ``VT_mag`` for a
    Tycho-2 table; any other band falls back to Gaia G.

    Raises
    ------
    CatalogError
        The table has no usable column for the band.
    """
    names = [_GAIA_BANDS.get(band.upper())] if band.upper() in _GAIA_BANDS else []
    if band in _SYNTHETIC:
        names.append(f"{band}_mag")
    names += ["VT_mag", "phot_g_mean_mag"]
    for name in names:
        if name and name in table.colnames and np.isfinite(np.asarray(table[name], float)).any():
            return name
    msg = f"reference catalogue {table.meta.get('catalog', '?')} has no magnitudes for band {band!r}"
    raise CatalogError(msg)


def _from_file(cone: Cone, config: CatalogConfig) -> Table:
    table = read_catalog_file(config.catalog_file)
    if "ref_epoch" in table.colnames and len(table):
        epoch_year = float(np.nanmedian(np.asarray(table["ref_epoch"], float)))
        table = propagate_to_epoch(table, cone.epoch_mjd, from_mjd=51544.5 + (epoch_year - 2000.0) * 365.25)
    out = cut_to_cone(table, cone)
    out.meta.update(table.meta)
    return out


def _from_tycho2(cone: Cone, config: CatalogConfig) -> Table:
    table = read_tycho2_cone(cone.ra, cone.dec, cone.radius_deg, index_dir=config.tycho2_dir)
    table.meta["catalog"] = "tycho2"
    return table


def get_reference(
    ra: float,
    dec: float,
    radius_deg: float,
    *,
    epoch_mjd: float | None = None,
    band: str | None = None,
    config: CatalogConfig,
) -> Table:
    """Return the reference stars of a field with Gaia DR3 column names.

    Sources, in order: ``config.catalog_file`` when set; ``tycho2`` when
    ``config.reference == "tycho2"``; else Gaia DR3 from the cache, then
    (unless ``config.offline``) from the Gaia archive; when Gaia cannot
    serve the field, the offline Tycho-2 stars.

    Parameters
    ----------
    ra, dec, radius_deg : float
        The field (degrees).
    epoch_mjd : float or None
        Observation epoch; Gaia positions are moved to it by proper motion.
    band : str or None
        Photometric band of the frame; ``meta['band_column']`` then names the
        column serving it (see :func:`band_column`).
    config : CatalogConfig
        Sources, cache, time limits.

    Returns
    -------
    Table
        ``source_id, ra, dec, pmra, pmdec, parallax, phot_g_mean_mag,
        phot_bp_mean_mag, phot_rp_mean_mag, ruwe, phot_variable_flag``,
        ``<band>_mag``/``<band>_mag_err`` for U B V R I u g r i z (Gaia XP
        synthetic photometry), or ``source_id, ra, dec, VT_mag`` for Tycho-2.
        ``meta``: ``catalog``, ``epoch_mjd``, ``from_cache``, ``notes``.

    Raises
    ------
    CatalogError
        No source can serve the field (the message says why for each).
    """
    cone = Cone(float(ra), float(dec), float(radius_deg), epoch_mjd=epoch_mjd, mag_limit=config.mag_limit)
    notes: list[str] = []
    if config.catalog_file:
        table = _from_file(cone, config)
    elif config.reference == "tycho2":
        table = _from_tycho2(cone, config)
    else:
        try:
            result = query_service(GaiaDR3(), cone, config=config, cache=open_cache(config))
            table = propagate_to_epoch(result.table, epoch_mjd)
            table.meta.update({"catalog": "gaia_dr3", "from_cache": result.from_cache})
        except CatalogError as gaia_error:
            notes.append(str(gaia_error))
            log.warning("%s; trying the offline Tycho-2 stars", gaia_error)
            try:
                table = _from_tycho2(cone, config)
            except CatalogError as tycho_error:
                msg = f"no reference catalogue for the field: {gaia_error}; {tycho_error}"
                raise CatalogError(msg) from tycho_error
    table.meta.setdefault("from_cache", False)
    table.meta["notes"] = notes
    if band is not None:
        try:
            table.meta["band_column"] = band_column(band, table)
        except CatalogError as exc:
            table.meta["band_column"] = None
            notes.append(str(exc))
    return table
