"""Object names to positions: SIMBAD identifiers, Astro-Colibri events, SkyBoT solar-system objects.

:func:`resolve_name` asks SIMBAD (TAP, ``ident`` joined with ``basic``)
and then Astro-Colibri (``GET <base>/event?trigger_id=<name>``); answers are
kept in ``<cache_dir>/names.sqlite``.  Offline (``config.offline``) only the
cache answers (even an expired entry), else :class:`NameNotResolved` says
so.  :func:`locate_solar_system` finds named asteroids or comets in the
SkyBoT answer of a frame's field at mid-exposure (the cone cache of
:mod:`rpf.catalogs.query`).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rpf.catalogs.base import Cone
from rpf.catalogs.http import request
from rpf.catalogs.query import PROVIDERS, query_service
from rpf.catalogs.votable import parse_votable, plain_column
from rpf.config import CatalogConfig
from rpf.errors import CatalogError

__all__ = ["NameNotResolved", "ResolvedName", "locate_solar_system", "resolve_name", "same_object_name"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS names (
    service TEXT NOT NULL, name TEXT NOT NULL, answer TEXT NOT NULL, fetched REAL NOT NULL,
    PRIMARY KEY (service, name)
);
"""


class NameNotResolved(CatalogError):
    """No service (or, offline, no cache entry) knows the name."""


@dataclass(frozen=True)
class ResolvedName:
    """Where a name points.

    Attributes
    ----------
    name : str
        The name asked for.
    identifier : str
        The service's identifier of the object (SIMBAD main identifier, Astro-Colibri source name).
    ra, dec : float
        ICRS position in degrees.
    kind : str
        Object type (SIMBAD ``otype``, Astro-Colibri event type).
    service : str
        ``"simbad"`` or ``"colibri"``.
    from_cache : bool
        Answered by the name cache.
    """

    name: str
    identifier: str
    ra: float
    dec: float
    kind: str
    service: str
    from_cache: bool = False


def _key(name: str) -> str:
    return " ".join(name.split()).lower()


class _NameCache:
    def __init__(self, root: str) -> None:
        self.path = Path(root).expanduser() / "names.sqlite"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(self.path, timeout=30.0) as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"name cache {self.path}: cannot be used ({exc})") from exc

    def get(self, service: str, name: str, *, max_age_days: float | None) -> dict | None:
        with sqlite3.connect(self.path, timeout=30.0) as db:
            row = db.execute(
                "SELECT answer, fetched FROM names WHERE service = ? AND name = ?", (service, _key(name))
            ).fetchone()
        if row is None or (max_age_days is not None and (time.time() - row[1]) / 86400.0 > max_age_days):
            return None
        return json.loads(row[0])

    def put(self, service: str, name: str, answer: dict) -> None:
        with sqlite3.connect(self.path, timeout=30.0) as db:
            db.execute(
                "INSERT OR REPLACE INTO names VALUES (?, ?, ?, ?)",
                (service, _key(name), json.dumps(answer), time.time()),
            )


def _adql_text(value: str) -> str:
    return value.replace("'", "''")


def _simbad(name: str, config: CatalogConfig) -> dict | None:
    adql = (
        "SELECT TOP 1 b.main_id, b.ra, b.dec, b.otype FROM ident AS i JOIN basic AS b ON b.oid = i.oidref "
        f"WHERE i.id = '{_adql_text(name)}'"
    )
    body = request(
        "POST", config.simbad_url, service="simbad", timeout_s=config.timeout_s, retries=config.retries,
        backoff_s=config.retry_backoff_s,
        data={"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "votable", "QUERY": adql},
    )
    raw = parse_votable(body, service="simbad")
    ra = plain_column(raw, "ra", dtype=np.float64, fill=np.nan)
    dec = plain_column(raw, "dec", dtype=np.float64, fill=np.nan)
    if len(ra) == 0 or not (np.isfinite(ra[0]) and np.isfinite(dec[0])):
        return None
    return {
        "identifier": str(plain_column(raw, "main_id", dtype=str, fill="")[0]),
        "ra": float(ra[0]), "dec": float(dec[0]), "kind": str(plain_column(raw, "otype", dtype=str, fill="")[0]),
    }


def _colibri_event_url(config: CatalogConfig) -> str:
    base = config.colibri_url.rstrip("/")
    return base.rsplit("/", 1)[0] + "/event" if base.endswith("cone_search") else base + "/event"


def _colibri(name: str, config: CatalogConfig) -> dict | None:
    body = request(
        "GET", _colibri_event_url(config), service="colibri", timeout_s=config.timeout_s, retries=config.retries,
        backoff_s=config.retry_backoff_s, params={"trigger_id": name},
    )
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise CatalogError("colibri: malformed response (not JSON)") from exc
    if not isinstance(event, dict):
        return None
    try:
        ra, dec = float(event.get("ra")), float(event.get("dec"))
    except (TypeError, ValueError):
        return None
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return None
    return {
        "identifier": str(event.get("source_name") or event.get("trigger_id") or name),
        "ra": ra, "dec": dec, "kind": str(event.get("type") or ""),
    }


_SERVICES = (("simbad", _simbad), ("colibri", _colibri))


def resolve_name(name: str, *, config: CatalogConfig) -> ResolvedName:
    """Return the position of a named object (SIMBAD, then Astro-Colibri), cached.

    Parameters
    ----------
    name : str
        A SIMBAD identifier (``"M 31"``, ``"SN 2023ixf"``, ``"V* RR Lyr"``) or
        an Astro-Colibri trigger id.
    config : CatalogConfig
        End points, time limits, cache folder and expiry, ``offline``.

    Raises
    ------
    NameNotResolved
        Offline and not in the cache, or unknown to every service (the
        message lists what each service answered).
    """
    name = " ".join(str(name).split())
    if not name:
        raise NameNotResolved("an empty name cannot be resolved")
    cache = _NameCache(config.cache_dir)
    for service, _ in _SERVICES:
        hit = cache.get(service, name, max_age_days=None if config.offline else config.cache_expiry_days)
        if hit is not None:
            return ResolvedName(name=name, service=service, from_cache=True, **hit)
    if config.offline:
        raise NameNotResolved(
            f"target {name!r}: offline and not in the name cache ({cache.path}); resolve it once online "
            "or give its position as RA,DEC"
        )
    outcomes = []
    for service, ask in _SERVICES:
        try:
            answer = ask(name, config)
        except CatalogError as exc:
            outcomes.append(f"{service}: {exc}")
            continue
        if answer is None:
            outcomes.append(f"{service}: unknown name")
            continue
        cache.put(service, name, answer)
        return ResolvedName(name=name, service=service, **answer)
    raise NameNotResolved(f"target {name!r} could not be resolved ({'; '.join(outcomes)})")


def same_object_name(asked: str, listed: str) -> bool:
    """Return True when a user's name designates a SkyBoT object name such as ``"(433) Eros"``.

    ``"Eros"``, ``"433"``, ``"(433) Eros"`` and ``"433 Eros"`` all designate it
    (case and spacing ignored).
    """
    def norm(text: str) -> str:
        return " ".join(text.replace("(", " ").replace(")", " ").split()).lower()

    want, have = norm(asked), norm(listed)
    if not want:
        return False
    found = re.fullmatch(r"(\d+) (.+)", have)
    parts = {have} | ({found.group(1), found.group(2)} if found else set())
    return want in parts


def locate_solar_system(
    names: Sequence[str],
    *,
    ra: float,
    dec: float,
    radius_deg: float,
    mjd: float,
    site: tuple[float, float, float] | None,
    config: CatalogConfig,
) -> tuple[dict[str, tuple[float, float]], str]:
    """Find named solar-system objects in a field at an epoch (SkyBoT, cached).

    Parameters
    ----------
    names : sequence of str
        Object names (``"Eros"``, ``"433"``, ``"(433) Eros"``, ``"2019 AB1"``).
    ra, dec, radius_deg : float
        The frame's field.
    mjd : float
        Mid-exposure time (UTC MJD).
    site : tuple of float or None
        Observer ``(lat, lon, elev)`` for topocentric positions.
    config : CatalogConfig
        Catalogue settings.

    Returns
    -------
    located : dict
        ``{name: (ra, dec)}`` for the names found in the field.
    status : str
        ``"ok"`` or why SkyBoT could not answer (the names are then not located).
    """
    if not names:
        return {}, "ok"
    try:
        result = query_service(
            PROVIDERS["skybot"], Cone(ra, dec, radius_deg, epoch_mjd=mjd, site=site), config=config
        )
    except CatalogError as exc:
        return {}, f"skybot: {exc}"
    table = result.table
    located = {}
    for name in names:
        for row in range(len(table)):
            if same_object_name(name, str(table["skybot_name"][row])):
                located[name] = (float(table["ra"][row]), float(table["dec"][row]))
                break
    return located, "ok"
