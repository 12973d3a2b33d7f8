"""Known solar-system objects in a field (IMCCE SkyBoT cone search), topocentric.

The observer is the configured MPC observatory code, else the frame's site
as geodetic ``"lon lat elev"`` (degrees east, degrees, metres); only when
neither is known is the geocentre (code 500) used, and the result says so
in ``meta['observer']``.  The epoch is the mid-exposure time.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from astropy.time import Time

from rpf.catalogs.base import Cone
from rpf.catalogs.http import request
from rpf.catalogs.votable import parse_votable, plain_column
from rpf.config import CatalogConfig
from rpf.errors import CatalogError

__all__ = ["SkyBoT", "observer_location"]


def observer_location(site: tuple[float, float, float] | None, mpc_code: str | None) -> str:
    """Return SkyBoT's ``-loc`` value: an MPC code, else geodetic coordinates, else ``"500"``."""
    if mpc_code:
        return str(mpc_code).strip()
    if site is not None and all(v is not None and np.isfinite(v) for v in site):
        lat, lon, elev = site
        return f"{lon:+.5f} {lat:+.5f} {elev:.0f}"
    return "500"


class SkyBoT:
    """Solar-system objects: ``skybot_name, skybot_class, skybot_vmag, skybot_errpos`` (arcsec), ``ra, dec``."""

    name = "skybot"

    def signature(self, cone: Cone, config: CatalogConfig) -> str:
        """Cache key text: epoch (to ~1 s) and observer -- moving objects depend on both."""
        if cone.epoch_mjd is None:
            msg = "skybot: the observation epoch is unknown"
            raise CatalogError(msg)
        return f"mjd={cone.epoch_mjd:.5f};loc={observer_location(cone.site, config.mpc_code)}"

    def fetch(self, cone: Cone, *, config: CatalogConfig) -> Table:
        """Query SkyBoT at the cone's epoch and return the renamed rows."""
        if cone.epoch_mjd is None:
            msg = "skybot: the observation epoch is unknown"
            raise CatalogError(msg)
        params = {
            "-ra": f"{cone.ra:.7f}",
            "-dec": f"{cone.dec:+.7f}",
            "-rd": f"{cone.radius_deg:.7f}",
            "-ep": f"{Time(cone.epoch_mjd, format='mjd', scale='utc').jd:.6f}",
            "-loc": observer_location(cone.site, config.mpc_code),
            "-filter": "0",
            "-objFilter": "111",
            "-refsys": "EQJ2000",
            "-output": "all",
            "-mime": "votable",
        }
        body = request(
            "GET", config.skybot_url, service=self.name, timeout_s=config.timeout_s, retries=config.retries,
            backoff_s=config.retry_backoff_s, down_s=config.service_down_s, params=params,
        )
        raw = parse_votable(body, service=self.name)
        number = plain_column(raw, "Num", dtype=str, fill="")
        name = plain_column(raw, "Name", dtype=str, fill="")
        out = Table()
        out["skybot_name"] = np.array(
            [f"({n}) {m}" if n and n != "-" else m for n, m in zip(number, name, strict=True)], dtype=str
        ) if len(name) else np.array([], dtype=str)
        out["skybot_class"] = plain_column(raw, "Class", dtype=str, fill="")
        out["skybot_vmag"] = plain_column(raw, "Mv", dtype=np.float64, fill=np.nan)
        out["skybot_errpos"] = plain_column(raw, "ErrPos", dtype=np.float64, fill=np.nan)
        out["ra"] = plain_column(raw, "_RAJ2000", dtype=np.float64, fill=np.nan)
        out["dec"] = plain_column(raw, "_DECJ2000", dtype=np.float64, fill=np.nan)
        out.meta["observer"] = params["-loc"]
        return out[np.isfinite(out["ra"]) & np.isfinite(out["dec"])]
