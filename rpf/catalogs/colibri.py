"""Transient events near a field around the observation date (Astro-Colibri API).

The request is a JSON ``POST`` to the ``cone_search`` end point::

    {"uid": "<user key>", "filter": null,
     "time_range": {"min": "<ISO UTC>", "max": "<ISO UTC>"},
     "properties": {"type": "cone", "position": {"ra": <deg>, "dec": <deg>}, "radius": <deg>}}

and the answer's ``voevents`` list holds the events (``source_name``,
``trigger_id``, ``ra``, ``dec``, ``err`` in degrees, ``type``, ``time``).
The user key travels only in the request body: it is never logged, never
part of a cache key and never written to a product.
"""

from __future__ import annotations

import json
import math

import numpy as np
from astropy.table import Table
from astropy.time import Time

from rpf.catalogs.base import Cone
from rpf.catalogs.http import request
from rpf.catalogs.votable import empty_table
from rpf.config import CatalogConfig
from rpf.errors import CatalogError

__all__ = ["AstroColibri", "MissingKey"]

_COLUMNS = {
    "colibri_name": str, "colibri_type": str, "colibri_time": str, "colibri_err_deg": np.float64,
    "ra": np.float64, "dec": np.float64,
}


class MissingKey(CatalogError):
    """No Astro-Colibri user key is configured."""


def _window(cone: Cone, config: CatalogConfig) -> tuple[str, str]:
    if cone.epoch_mjd is None:
        msg = "colibri: the observation date is unknown"
        raise CatalogError(msg)
    day = math.floor(cone.epoch_mjd)
    lo = Time(day - config.colibri_window_days, format="mjd", scale="utc").isot
    hi = Time(day + 1 + config.colibri_window_days, format="mjd", scale="utc").isot
    return lo, hi


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class AstroColibri:
    """Astro-Colibri events: ``colibri_name, colibri_type, colibri_time, colibri_err_deg, ra, dec``."""

    name = "colibri"

    def signature(self, cone: Cone, config: CatalogConfig) -> str:
        """Cache key text: the UTC day window searched (never the key)."""
        lo, hi = _window(cone, config)
        return f"{lo[:10]}..{hi[:10]}"

    def fetch(self, cone: Cone, *, config: CatalogConfig) -> Table:
        """Query Astro-Colibri and return one row per event."""
        if not config.colibri_uid:
            msg = "colibri: no Astro-Colibri user key (set RPF_COLIBRI_UID or catalogs.colibri_uid)"
            raise MissingKey(msg)
        lo, hi = _window(cone, config)
        payload = {
            "uid": config.colibri_uid,
            "filter": None,
            "time_range": {"min": lo, "max": hi},
            "properties": {"type": "cone", "position": {"ra": cone.ra, "dec": cone.dec}, "radius": cone.radius_deg},
        }
        body = request(
            "POST", config.colibri_url, service=self.name, timeout_s=config.timeout_s, retries=config.retries,
            backoff_s=config.retry_backoff_s, down_s=config.service_down_s, json_body=payload,
        )
        try:
            answer = json.loads(body)
            events = answer.get("voevents") or []
            if not isinstance(events, list):
                raise TypeError("voevents is not a list")
        except (ValueError, TypeError, AttributeError) as exc:
            msg = f"colibri: malformed response ({type(exc).__name__})"
            raise CatalogError(msg) from exc
        return _events_table(events)


def _events_table(events: list) -> Table:
    rows = []
    for event in events:
        if not isinstance(event, dict):
            continue
        ra, dec = _float(event.get("ra")), _float(event.get("dec"))
        if not (np.isfinite(ra) and np.isfinite(dec)):
            continue
        name = str(event.get("source_name") or event.get("trigger_id") or "")
        rows.append((name, str(event.get("type") or ""), str(event.get("time") or ""),
                     _float(event.get("err")), ra, dec))
    if not rows:
        return empty_table(_COLUMNS)
    return Table(rows=rows, names=list(_COLUMNS), dtype=list(_COLUMNS.values()))
