"""Gaia DR3 sources and XP synthetic photometry from the Gaia archive (TAP).

One ADQL query joins ``gaiadr3.gaia_source`` with
``gaiadr3.synthetic_photometry_gspc`` (Johnson-Kron-Cousins U B V R I and
SDSS u g r i z from the XP spectra), so a frame taken through any of those
filters calibrates in its own band.  Rows are cached at the Gaia epoch
(J2016.0); :func:`propagate_to_epoch` moves them to the observation epoch.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.catalogs.base import Cone
from rpf.catalogs.http import request
from rpf.catalogs.votable import parse_votable, plain_column
from rpf.config import CatalogConfig

__all__ = ["GAIA_EPOCH_MJD", "GaiaDR3", "SYNTHETIC_BANDS", "propagate_to_epoch", "reference_columns"]

GAIA_EPOCH_MJD = 57388.5
"""J2016.0, the reference epoch of Gaia DR3 positions."""

SYNTHETIC_BANDS = {
    "U": "u_jkc", "B": "b_jkc", "V": "v_jkc", "R": "r_jkc", "I": "i_jkc",
    "u": "u_sdss", "g": "g_sdss", "r": "r_sdss", "i": "i_sdss", "z": "z_sdss",
}
"""RPF band name -> prefix of its ``synthetic_photometry_gspc`` columns."""

_SOURCE_COLUMNS = (
    "source_id", "ra", "dec", "pmra", "pmdec", "parallax", "phot_g_mean_mag", "phot_bp_mean_mag",
    "phot_rp_mean_mag", "ruwe", "phot_variable_flag",
)
_FLOAT_COLUMNS = (
    "ra", "dec", "pmra", "pmdec", "parallax", "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag", "ruwe",
)
_UNITS = {
    "ra": "deg", "dec": "deg", "pmra": "mas / yr", "pmdec": "mas / yr", "parallax": "mas",
    "phot_g_mean_mag": "mag", "phot_bp_mean_mag": "mag", "phot_rp_mean_mag": "mag",
}
_MAG_PER_FLUX = 2.5 / np.log(10.0)


def reference_columns() -> tuple[str, ...]:
    """Return the column names of a Gaia reference table, in order."""
    bands = tuple(f"{b}_mag" for b in SYNTHETIC_BANDS) + tuple(f"{b}_mag_err" for b in SYNTHETIC_BANDS)
    return _SOURCE_COLUMNS + bands


def _adql(cone: Cone, mag_limit: float) -> str:
    synth = ", ".join(
        f"s.{p}_mag, s.{p}_flux, s.{p}_flux_error" for p in SYNTHETIC_BANDS.values()
    )
    source = ", ".join(f"g.{c}" for c in _SOURCE_COLUMNS)
    return (
        f"SELECT {source}, {synth} "
        "FROM gaiadr3.gaia_source AS g "
        "LEFT OUTER JOIN gaiadr3.synthetic_photometry_gspc AS s ON s.source_id = g.source_id "
        f"WHERE 1 = CONTAINS(POINT('ICRS', g.ra, g.dec), CIRCLE('ICRS', {cone.ra:.8f}, {cone.dec:.8f}, "
        f"{cone.radius_deg:.8f})) AND g.phot_g_mean_mag <= {mag_limit:.3f}"
    )


def to_reference(raw: Table | None) -> Table:
    """Rename a Gaia archive answer to RPF's reference columns (J2016.0 positions)."""
    out = Table()
    out["source_id"] = plain_column(raw, "source_id", dtype=np.int64, fill=-1)
    for name in _FLOAT_COLUMNS:
        out[name] = plain_column(raw, name, dtype=np.float64, fill=np.nan)
    out["phot_variable_flag"] = plain_column(raw, "phot_variable_flag", dtype=str, fill="")
    for band, prefix in SYNTHETIC_BANDS.items():
        mag = plain_column(raw, f"{prefix}_mag", dtype=np.float64, fill=np.nan)
        flux = plain_column(raw, f"{prefix}_flux", dtype=np.float64, fill=np.nan)
        flux_err = plain_column(raw, f"{prefix}_flux_error", dtype=np.float64, fill=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(flux > 0, _MAG_PER_FLUX * flux_err / flux, np.nan)
        out[f"{band}_mag"] = mag
        out[f"{band}_mag_err"] = err
    for name in out.colnames:
        if name.endswith("_mag") or name.endswith("_mag_err"):
            out[name].unit = "mag"
        elif name in _UNITS:
            out[name].unit = _UNITS[name]
    return out


def propagate_to_epoch(table: Table, epoch_mjd: float | None, *, from_mjd: float = GAIA_EPOCH_MJD) -> Table:
    """Return a copy with ``ra``/``dec`` moved by the proper motion to ``epoch_mjd``.

    A linear tangent-plane propagation (``dec += pmdec dt``,
    ``ra += pmra dt / cos dec``); rows without proper motion keep their
    position.  ``meta['epoch_mjd']`` records the epoch of the positions.
    """
    out = table.copy()
    if epoch_mjd is None or len(out) == 0 or "pmra" not in out.colnames:
        out.meta["epoch_mjd"] = from_mjd if epoch_mjd is None else epoch_mjd
        return out
    years = (float(epoch_mjd) - from_mjd) / 365.25
    pmra = np.nan_to_num(np.asarray(out["pmra"], float))
    pmdec = np.nan_to_num(np.asarray(out["pmdec"], float))
    dec0 = np.asarray(out["dec"], float)
    dec = dec0 + pmdec * years / 3.6e6
    cosd = np.maximum(np.cos(np.radians(dec0)), 1e-6)
    ra = np.mod(np.asarray(out["ra"], float) + pmra * years / 3.6e6 / cosd, 360.0)
    out["ra"] = ra
    out["dec"] = np.clip(dec, -90.0, 90.0)
    out["ra"].unit = out["dec"].unit = "deg"
    out.meta["epoch_mjd"] = float(epoch_mjd)
    return out


class GaiaDR3:
    """Gaia DR3 + XP synthetic photometry through the archive's TAP ``sync`` end point."""

    name = "gaia_dr3"

    def signature(self, cone: Cone, config: CatalogConfig) -> str:
        """Cache key text: the magnitude limit (positions are cached at J2016.0)."""
        limit = config.mag_limit if cone.mag_limit is None else cone.mag_limit
        return f"gspc-v1;G<={limit:.2f}"

    def fetch(self, cone: Cone, *, config: CatalogConfig) -> Table:
        """Run the ADQL query and return J2016.0 rows with reference column names."""
        limit = config.mag_limit if cone.mag_limit is None else cone.mag_limit
        body = request(
            "POST", config.gaia_url, service=self.name, timeout_s=config.timeout_s, retries=config.retries,
            backoff_s=config.retry_backoff_s, down_s=config.service_down_s,
            data={"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "votable", "QUERY": _adql(cone, limit)},
        )
        return to_reference(parse_votable(body, service=self.name))
