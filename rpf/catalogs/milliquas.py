"""Quasars and AGN of the Million Quasars catalogue through VizieR ``VII/294``."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.catalogs.base import Cone
from rpf.catalogs.vizier import query_vizier
from rpf.catalogs.votable import plain_column
from rpf.config import CatalogConfig

__all__ = ["Milliquas"]


class Milliquas:
    """Milliquas v7 (VII/294/catalog): ``qso_name, qso_type, qso_z, qso_rmag, ra, dec``."""

    name = "milliquas"
    catalog = "VII/294/catalog"

    def signature(self, cone: Cone, config: CatalogConfig) -> str:
        """Cache key text: the VizieR table and columns."""
        return f"{self.catalog};Name,Type,z,Rmag"

    def fetch(self, cone: Cone, *, config: CatalogConfig) -> Table:
        """Query VizieR and return the renamed rows."""
        raw = query_vizier(self.catalog, ("Name", "Type", "z", "Rmag"), cone, service=self.name, config=config)
        out = Table()
        out["qso_name"] = plain_column(raw, "Name", dtype=str, fill="")
        out["qso_type"] = plain_column(raw, "Type", dtype=str, fill="")
        out["qso_z"] = plain_column(raw, "z", dtype=np.float64, fill=np.nan)
        out["qso_rmag"] = plain_column(raw, "Rmag", dtype=np.float64, fill=np.nan)
        out["ra"] = plain_column(raw, "_RAJ2000", dtype=np.float64, fill=np.nan)
        out["dec"] = plain_column(raw, "_DEJ2000", dtype=np.float64, fill=np.nan)
        return out[np.isfinite(out["ra"]) & np.isfinite(out["dec"])]
