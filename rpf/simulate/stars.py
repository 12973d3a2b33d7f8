"""From a catalogue (and extra sources) to pixel positions and fluxes of one frame."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from rpf.errors import ConfigError

__all__ = ["flux_from_mag", "frame_stars"]

_MAS_PER_DEG = 3.6e6


def flux_from_mag(mag: np.ndarray, *, color: np.ndarray, exptime: float, zp_frame: float, color_term: float):
    """Return calibrated fluxes (ADU): ``exptime * 10**(-0.4 * (m - zp_frame - color_term * c))``."""
    return exptime * 10 ** (-0.4 * (np.asarray(mag) - zp_frame - color_term * np.asarray(color)))


def _catalog_positions(catalog: Table, date_obs: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (ra, dec) moved by proper motion from ``ref_epoch`` to the observation."""
    ra = np.asarray(catalog["ra"], dtype=float)
    dec = np.asarray(catalog["dec"], dtype=float)
    if "pmra" not in catalog.colnames or "pmdec" not in catalog.colnames:
        return ra, dec
    epoch = np.asarray(catalog["ref_epoch"], dtype=float) if "ref_epoch" in catalog.colnames else 2016.0
    years = Time(date_obs, scale="utc").jyear - epoch
    pmra = np.nan_to_num(np.asarray(catalog["pmra"], dtype=float))
    pmdec = np.nan_to_num(np.asarray(catalog["pmdec"], dtype=float))
    dec_new = dec + pmdec * years / _MAS_PER_DEG
    ra_new = ra + pmra * years / _MAS_PER_DEG / np.cos(np.radians(dec))
    return ra_new % 360.0, dec_new


def _colors(table: Table) -> np.ndarray:
    """Return ``BP - RP`` of each row (0 where unknown)."""
    if "color" in table.colnames:
        return np.nan_to_num(np.asarray(table["color"], dtype=float))
    if "phot_bp_mean_mag" in table.colnames and "phot_rp_mean_mag" in table.colnames:
        bp = np.asarray(table["phot_bp_mean_mag"], dtype=float)
        rp = np.asarray(table["phot_rp_mean_mag"], dtype=float)
        return np.nan_to_num(bp - rp)
    return np.zeros(len(table))


def _extra_rows(extra: Table, wcs: WCS) -> Table:
    """Return the extra sources with x, y, ra, dec, mag, color and source_id."""
    if "mag" not in extra.colnames:
        msg = "extra_stars needs a 'mag' column"
        raise ConfigError(msg)
    if {"ra", "dec"} <= set(extra.colnames):
        ra, dec = np.asarray(extra["ra"], dtype=float), np.asarray(extra["dec"], dtype=float)
        x, y = wcs.all_world2pix(ra, dec, 0)
    elif {"x", "y"} <= set(extra.colnames):
        x, y = np.asarray(extra["x"], dtype=float), np.asarray(extra["y"], dtype=float)
        ra, dec = wcs.all_pix2world(x, y, 0)
    else:
        msg = "extra_stars needs either 'ra'/'dec' or 'x'/'y' columns"
        raise ConfigError(msg)
    n = len(extra)
    ids = np.asarray(extra["source_id"], dtype=np.int64) if "source_id" in extra.colnames else -1 - np.arange(n)
    out = Table()
    out["source_id"] = ids
    out["x"], out["y"], out["ra"], out["dec"] = x, y, ra, dec
    out["mag"] = np.asarray(extra["mag"], dtype=float)
    out["color"] = _colors(extra)
    out["is_extra"] = np.ones(n, dtype=bool)
    return out


def frame_stars(
    *,
    catalog: Table,
    band: str,
    wcs: WCS,
    shape: tuple[int, int],
    margin_px: float,
    date_obs: str,
    extra_stars: Table | None,
    star_mag_offsets: Mapping[int, float] | None,
) -> Table:
    """Return the sources falling on (or within ``margin_px`` of) the frame.

    Parameters
    ----------
    catalog : astropy.table.Table
        Stars with ``source_id``, ``ra``, ``dec`` and the ``band`` column.
    band : str
        Catalogue column giving each star's magnitude.
    wcs : astropy.wcs.WCS
        The true WCS of the frame.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    margin_px : float
        Keep stars up to this far outside the image (their wings fall on it).
    date_obs : str
        Observation time, for proper motions.
    extra_stars : astropy.table.Table or None
        Sources not in the catalogue (``x``/``y`` or ``ra``/``dec``, ``mag``,
        optional ``color`` and ``source_id``; default ids -1, -2, ...).
    star_mag_offsets : mapping or None
        ``source_id -> delta mag`` added to catalogue magnitudes.

    Returns
    -------
    astropy.table.Table
        ``source_id, x, y, ra, dec, mag, color, delta_mag, is_extra, in_frame``.

    Raises
    ------
    rpf.errors.ConfigError
        When the catalogue lacks a needed column.
    """
    missing = [c for c in ("source_id", "ra", "dec", band) if c not in catalog.colnames]
    if missing:
        msg = f"catalogue lacks column(s) {missing}; it has {catalog.colnames}"
        raise ConfigError(msg)
    ra, dec = _catalog_positions(catalog, date_obs)
    x, y = wcs.all_world2pix(ra, dec, 0)
    table = Table()
    table["source_id"] = np.asarray(catalog["source_id"], dtype=np.int64)
    table["x"], table["y"], table["ra"], table["dec"] = x, y, ra, dec
    table["mag"] = np.asarray(catalog[band], dtype=float)
    table["color"] = _colors(catalog)
    table["is_extra"] = np.zeros(len(table), dtype=bool)
    if extra_stars is not None and len(extra_stars):
        table = _vstack(table, _extra_rows(extra_stars, wcs))
    delta = np.zeros(len(table))
    for source_id, dm in (star_mag_offsets or {}).items():
        delta[table["source_id"] == int(source_id)] += float(dm)
    table["delta_mag"] = delta
    table["mag"] = table["mag"] + delta
    ny, nx = shape
    near = (
        (table["x"] > -0.5 - margin_px)
        & (table["x"] < nx - 0.5 + margin_px)
        & (table["y"] > -0.5 - margin_px)
        & (table["y"] < ny - 0.5 + margin_px)
        & np.isfinite(table["mag"])
    )
    table = table[near]
    table["in_frame"] = (table["x"] >= -0.5) & (table["x"] < nx - 0.5) & (table["y"] >= -0.5) & (table["y"] < ny - 0.5)
    return table


def _vstack(a: Table, b: Table) -> Table:
    """Stack two tables with the same columns."""
    out = Table()
    for name in a.colnames:
        out[name] = np.concatenate([np.asarray(a[name]), np.asarray(b[name])])
    return out
