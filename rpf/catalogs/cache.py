"""Persistent on-disk cache of catalogue answers.

Layout of the cache folder (``CatalogConfig.cache_dir``, default
``~/.cache/rpf/catalogs``)::

    index.sqlite            one row per cached cone
    <service>/<key>.parquet the rows of that cone (Parquet)

An entry is keyed by service, query signature (columns, magnitude limit,
epoch for moving objects, ...) and cone.  A request is answered by any
unexpired entry of the same service and signature whose cone contains the
requested cone; the rows are then cut to the requested cone.  Each file's
SHA-256 is kept in the index: a file that is missing, altered or unreadable
is dropped and reported as a miss, so it is fetched again.

The index is data, possibly shared by several users: a ``path`` that does
not resolve to a regular file inside the cache folder (``../..``, an
absolute path, a symbolic link leading out) is never read nor deleted; its
row is dropped with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
import uuid
from dataclasses import astuple, dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from rpf.atomic import atomic_path
from rpf.catalogs.base import Cone, angular_separation_deg
from rpf.errors import CatalogError

__all__ = ["CacheEntry", "CatalogCache"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    signature TEXT NOT NULL,
    ra REAL NOT NULL,
    dec REAL NOT NULL,
    radius_deg REAL NOT NULL,
    fetched REAL NOT NULL,
    n_rows INTEGER NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS by_query ON entries (service, signature);
"""


@dataclass(frozen=True)
class CacheEntry:
    """One cached cone (a row of the index)."""

    key: str
    service: str
    signature: str
    ra: float
    dec: float
    radius_deg: float
    fetched: float
    n_rows: int
    path: str
    sha256: str

    @property
    def age_days(self) -> float:
        """Age of the entry in days."""
        return (time.time() - self.fetched) / 86400.0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cut_to_cone(table: Table, cone: Cone) -> Table:
    """Return the rows of ``table`` (``ra``/``dec`` in degrees) inside ``cone``."""
    if len(table) == 0:
        return table.copy()
    sep = angular_separation_deg(cone.ra, cone.dec, np.asarray(table["ra"], float), np.asarray(table["dec"], float))
    return table[sep <= cone.radius_deg]


class CatalogCache:
    """The cache folder and its SQLite index.

    Parameters
    ----------
    root : str or path
        Cache folder (``~`` expanded, created when missing).
    expiry_days : float
        Entries older than this are not served (unless ``allow_expired``).
    """

    def __init__(self, root: str | os.PathLike[str], *, expiry_days: float = 30.0) -> None:
        self.root = Path(root).expanduser()
        self.expiry_days = float(expiry_days)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            msg = f"catalogue cache {self.root}: cannot be used ({exc})"
            raise CatalogError(msg) from exc

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.root / "index.sqlite", timeout=30.0)

    def entries(self, service: str | None = None) -> list[CacheEntry]:
        """Return the index rows, optionally of one service."""
        query = "SELECT key, service, signature, ra, dec, radius_deg, fetched, n_rows, path, sha256 FROM entries"
        args: tuple = ()
        if service is not None:
            query += " WHERE service = ?"
            args = (service,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY fetched", args).fetchall()
        return [CacheEntry(*row) for row in rows]

    def lookup(self, service: str, signature: str, cone: Cone, *, allow_expired: bool = False) -> Table | None:
        """Return the cached rows inside ``cone``, or None on a miss.

        The smallest unexpired containing cone is used.  A damaged file is
        removed (with a warning) and the next candidate tried.
        """
        with self._connect() as db:
            rows = db.execute(
                "SELECT key, service, signature, ra, dec, radius_deg, fetched, n_rows, path, sha256 "
                "FROM entries WHERE service = ? AND signature = ? ORDER BY radius_deg",
                (service, signature),
            ).fetchall()
        for entry in (CacheEntry(*row) for row in rows):
            if not allow_expired and entry.age_days > self.expiry_days:
                continue
            if not Cone(entry.ra, entry.dec, entry.radius_deg).contains(cone):
                continue
            table = self._read(entry)
            if table is not None:
                return cut_to_cone(table, cone)
        return None

    def _entry_file(self, relative: str) -> Path | None:
        """Return the resolved ``<service>/<name>.parquet`` file inside the cache folder, else None.

        ``..``, absolute paths and symbolic links leading elsewhere (even to
        ``index.sqlite``) are refused.
        """
        root = self.root.resolve()
        path = (root / relative).resolve()
        return path if path.suffix == ".parquet" and path.parent.parent == root else None

    def _refuse(self, entry_key: str, relative: str) -> None:
        log.warning(
            "catalogue cache %s: index entry %s points outside the cache files (%r): entry dropped, "
            "nothing read or deleted",
            self.root, entry_key, relative,
        )
        self._forget(entry_key)

    def _read(self, entry: CacheEntry) -> Table | None:
        path = self._entry_file(entry.path)
        if path is None:
            self._refuse(entry.key, entry.path)
            return None
        try:
            if _sha256(path) != entry.sha256:
                raise ValueError("checksum mismatch")
            table = Table.read(path, format="parquet")
            if len(table) != entry.n_rows:
                raise ValueError("row count mismatch")
        except (OSError, ValueError) as exc:
            log.warning("catalogue cache: %s is damaged (%s); it will be fetched again", path, exc)
            self.remove(entry.key)
            return None
        return table

    def store(self, service: str, signature: str, cone: Cone, table: Table) -> CacheEntry:
        """Write ``table`` (the full answer for ``cone``) and index it."""
        key = uuid.uuid4().hex
        relative = Path(service) / f"{key}.parquet"
        path = self._entry_file(str(relative))
        if path is None or path.parent.name != service:
            msg = f"catalogue cache: service name {service!r} is not a plain folder name"
            raise CatalogError(msg)
        path.parent.mkdir(parents=True, exist_ok=True)
        clean = table.copy(copy_data=False)
        clean.meta = {k: v for k, v in table.meta.items() if isinstance(v, str | int | float | bool)}
        with atomic_path(path) as temporary:
            clean.write(temporary, format="parquet", overwrite=True)
        entry = CacheEntry(
            key, service, signature, cone.ra, cone.dec, cone.radius_deg, time.time(), len(table),
            str(relative), _sha256(path),
        )
        with self._connect() as db:
            db.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", astuple(entry))
        return entry

    def _forget(self, key: str) -> str | None:
        """Delete one index row; return its ``path``."""
        with self._connect() as db:
            row = db.execute("SELECT path FROM entries WHERE key = ?", (key,)).fetchone()
            db.execute("DELETE FROM entries WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def remove(self, key: str) -> None:
        """Delete one entry and its file (only a cache file inside the cache folder)."""
        relative = self._forget(key)
        if relative is None:
            return
        path = self._entry_file(relative)
        if path is None:
            log.warning("catalogue cache %s: entry %s pointed outside the cache files (%r): file left alone",
                        self.root, key, relative)
        elif path.is_file():
            path.unlink()

    def clear(self, service: str | None = None, *, older_than_days: float | None = None) -> int:
        """Delete entries (all, of one service, or older than a limit); return how many."""
        doomed = [
            e for e in self.entries(service) if older_than_days is None or e.age_days > older_than_days
        ]
        for entry in doomed:
            self.remove(entry.key)
        return len(doomed)
