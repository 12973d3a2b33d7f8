"""The one interface of the catalogue layer: cones in, tables out.

A :class:`Cone` describes what is asked (centre, radius, epoch, magnitude
limit); a :class:`Provider` turns a cone into an astropy ``Table`` with the
documented column names; :class:`CatalogResult` carries the table with where
it came from; :class:`ServiceReport` is what a frame's products say about
each service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from astropy.table import Table

from rpf.config import CatalogConfig
from rpf.errors import CatalogError

__all__ = ["CatalogResult", "Cone", "Provider", "ServiceReport", "angular_separation_deg"]


@dataclass(frozen=True)
class Cone:
    """A circle of sky to query.

    Attributes
    ----------
    ra, dec : float
        Centre in degrees (ICRS).
    radius_deg : float
        Radius in degrees.
    epoch_mjd : float or None
        Observation epoch (mid-exposure, UTC MJD); positions are propagated to it.
    mag_limit : float or None
        Faintest magnitude asked for (services that have one).
    site : tuple of float or None
        Observer ``(lat, lon, elev)`` in degrees, degrees east and metres.
    """

    ra: float
    dec: float
    radius_deg: float
    epoch_mjd: float | None = None
    mag_limit: float | None = None
    site: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.ra) and np.isfinite(self.dec) and -90 <= self.dec <= 90):
            msg = f"invalid cone centre ({self.ra}, {self.dec})"
            raise CatalogError(msg)
        if not (np.isfinite(self.radius_deg) and 0 < self.radius_deg <= 30):
            msg = f"invalid cone radius {self.radius_deg} deg (must be in (0, 30])"
            raise CatalogError(msg)

    def contains(self, other: Cone) -> bool:
        """Return True when ``other`` lies entirely inside this cone."""
        sep = float(angular_separation_deg(self.ra, self.dec, other.ra, other.dec))
        return sep + other.radius_deg <= self.radius_deg * (1 + 1e-9)


@dataclass(frozen=True)
class CatalogResult:
    """A provider's answer for one cone.

    Attributes
    ----------
    table : Table
        The rows, with the provider's documented column names and units.
    service : str
        Which service answered.
    from_cache : bool
        True when no request was made.
    elapsed_s : float
        Wall time of the query (or cache read).
    """

    table: Table
    service: str
    from_cache: bool
    elapsed_s: float


@dataclass(frozen=True)
class ServiceReport:
    """What one service contributed to a frame.

    Attributes
    ----------
    service : str
        Service name (``gaia_dr3``, ``simbad``, ``skybot``, ``vsx``, ``milliquas``, ``colibri``, ...).
    status : str
        ``"ok"``, ``"skipped: <why>"`` or ``"failed: <why>"``.
    n_rows : int
        Catalogue rows in the queried cone.
    elapsed_s : float
        Time spent on this service.
    from_cache : bool
        Served from the on-disk cache.
    n_matched : int
        Detections labelled by this service.
    """

    service: str
    status: str
    n_rows: int = 0
    elapsed_s: float = 0.0
    from_cache: bool = False
    n_matched: int = 0

    def to_dict(self) -> dict:
        """Return the report as JSON-serialisable values."""
        return {
            "service": self.service,
            "status": self.status,
            "n_rows": self.n_rows,
            "elapsed_s": round(self.elapsed_s, 4),
            "from_cache": self.from_cache,
            "n_matched": self.n_matched,
        }


class Provider(Protocol):
    """A remote catalogue: builds its query, parses its answer.

    ``signature`` names everything but the cone that changes the answer
    (columns, magnitude limit, epoch for moving objects, ...): it is part of
    the cache key.  ``fetch`` returns rows with ``ra``/``dec`` columns in
    degrees so that the cache can cut sub-cones.
    """

    name: str

    def signature(self, cone: Cone, config: CatalogConfig) -> str:
        """Return the cache-key text of a query (without the cone)."""
        ...

    def fetch(self, cone: Cone, *, config: CatalogConfig) -> Table:
        """Query the service; raise ``ServiceTimeout``/``ServiceUnavailable``/``CatalogError``."""
        ...


def angular_separation_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Return the great-circle distance in degrees (Vincenty formula, arrays broadcast)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    dlon = lon2 - lon1
    s1, c1, s2, c2 = np.sin(lat1), np.cos(lat1), np.sin(lat2), np.cos(lat2)
    num = np.hypot(c2 * np.sin(dlon), c1 * s2 - s1 * c2 * np.cos(dlon))
    den = s1 * s2 + c1 * c2 * np.cos(dlon)
    return np.degrees(np.arctan2(num, den))
