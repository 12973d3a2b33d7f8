"""AAVSO International Variable Star Index (VSX) through VizieR ``B/vsx/vsx``."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.catalogs.base import Cone
from rpf.catalogs.vizier import query_vizier
from rpf.catalogs.votable import plain_column
from rpf.config import CatalogConfig

__all__ = ["VSX"]


class VSX:
    """Variable stars: ``vsx_name, vsx_type, vsx_period`` (days), ``vsx_max, vsx_min, vsx_range`` (mag), ``ra, dec``."""

    name = "vsx"
    catalog = "B/vsx/vsx"

    def signature(self, cone: Cone, config: CatalogConfig) -> str:
        """Cache key text: the VizieR table and columns."""
        return f"{self.catalog};Name,Type,Period,max,min"

    def fetch(self, cone: Cone, *, config: CatalogConfig) -> Table:
        """Query VizieR and return the renamed rows."""
        raw = query_vizier(
            self.catalog, ("Name", "Type", "Period", "max", "min"), cone, service=self.name, config=config
        )
        out = Table()
        out["vsx_name"] = plain_column(raw, "Name", dtype=str, fill="")
        out["vsx_type"] = plain_column(raw, "Type", dtype=str, fill="")
        out["vsx_period"] = plain_column(raw, "Period", dtype=np.float64, fill=np.nan)
        out["vsx_max"] = plain_column(raw, "max", dtype=np.float64, fill=np.nan)
        out["vsx_min"] = plain_column(raw, "min", dtype=np.float64, fill=np.nan)
        out["ra"] = plain_column(raw, "_RAJ2000", dtype=np.float64, fill=np.nan)
        out["dec"] = plain_column(raw, "_DEJ2000", dtype=np.float64, fill=np.nan)
        out["vsx_range"] = np.array(
            [f"{a:.2f}-{b:.2f}" if np.isfinite(a) and np.isfinite(b) else ""
             for a, b in zip(out["vsx_max"], out["vsx_min"], strict=True)],
            dtype=str,
        ) if len(out) else np.array([], dtype=str)
        out["vsx_period"].unit = "d"
        return out[np.isfinite(out["ra"]) & np.isfinite(out["dec"])]
