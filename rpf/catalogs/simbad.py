"""SIMBAD objects (main identifier, object type, B and V) through SIMBAD's TAP service."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.catalogs.base import Cone
from rpf.catalogs.http import request
from rpf.catalogs.votable import parse_votable, plain_column
from rpf.config import CatalogConfig

__all__ = ["Simbad"]


class Simbad:
    """Cone search of ``basic`` joined with ``allfluxes``.

    Columns: ``simbad_id, simbad_otype, ra, dec, B_mag, V_mag``.
    """

    name = "simbad"

    def signature(self, cone: Cone, config: CatalogConfig) -> str:
        """Cache key text (the query does not depend on anything but the cone)."""
        return "basic+allfluxes-v1"

    def fetch(self, cone: Cone, *, config: CatalogConfig) -> Table:
        """Query SIMBAD and return the renamed rows."""
        adql = (
            'SELECT b.main_id, b.ra, b.dec, b.otype, f."B", f."V" '
            "FROM basic AS b LEFT OUTER JOIN allfluxes AS f ON f.oidref = b.oid "
            f"WHERE CONTAINS(POINT('ICRS', b.ra, b.dec), CIRCLE('ICRS', {cone.ra:.8f}, {cone.dec:.8f}, "
            f"{cone.radius_deg:.8f})) = 1"
        )
        body = request(
            "POST", config.simbad_url, service=self.name, timeout_s=config.timeout_s, retries=config.retries,
            backoff_s=config.retry_backoff_s, down_s=config.service_down_s,
            data={"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "votable", "QUERY": adql},
        )
        raw = parse_votable(body, service=self.name)
        out = Table()
        out["simbad_id"] = plain_column(raw, "main_id", dtype=str, fill="")
        out["simbad_otype"] = plain_column(raw, "otype", dtype=str, fill="")
        out["ra"] = plain_column(raw, "ra", dtype=np.float64, fill=np.nan)
        out["dec"] = plain_column(raw, "dec", dtype=np.float64, fill=np.nan)
        out["B_mag"] = plain_column(raw, "B", dtype=np.float64, fill=np.nan)
        out["V_mag"] = plain_column(raw, "V", dtype=np.float64, fill=np.nan)
        return out[np.isfinite(out["ra"]) & np.isfinite(out["dec"])]
