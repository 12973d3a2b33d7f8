"""On-disk cache of master frames, keyed by the content of their raw frames and the parameters.

Layout of the cache folder (``CalibrationConfig.cache_dir``, default
``~/.cache/rpf/masters``)::

    <key>.npz    the masters (bias, dark_rate, flat) and their provenance (JSON)

``key`` is the SHA-256 of the raw files' bytes (in the order given, per
kind), the combination parameters and the header defaults, so a changed
file (its content, whatever its time stamp), another file list or another
parameter is a miss, and touching a file without changing it is a hit.
There is no index: an entry's name is its key (64 hexadecimal digits),
nothing read from the folder is ever used as a path, and symbolic links are
ignored.  Entries are written atomically and a read refreshes the entry's
time stamp; when the folder holds more than ``cache_max_mb`` the least
recently used entries are deleted.  An unreadable entry is deleted and
counts as a miss.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import stat
import zipfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rpf.atomic import atomic_path
from rpf.calibration.sources import Source
from rpf.config import CalibrationConfig, HeaderDefaults

__all__ = ["CACHE_FORMAT", "cache_folder", "evict", "load_masters", "masters_key", "store_masters"]

log = logging.getLogger(__name__)

CACHE_FORMAT = 2
"""Bumped whenever the way masters are built changes, so older entries stop matching."""

_KEY = re.compile(r"[0-9a-f]{64}")
_NAMES = ("bias", "dark_rate", "flat")
_BLOCK = 1 << 22


def cache_folder(config: CalibrationConfig) -> Path | None:
    """Return the cache folder (``~`` expanded), or None when caching is off."""
    return None if config.cache_dir is None else Path(config.cache_dir).expanduser()


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def masters_key(
    sources: Mapping[str, Sequence[Source]], *, config: CalibrationConfig, defaults: HeaderDefaults, threads: int = 1
) -> str:
    """Return the cache key of the masters built from ``sources`` with these parameters.

    Parameters
    ----------
    sources : mapping
        ``{"bias": [...], "dark": [...], "flat": [...]}`` of file sources.
    config : rpf.config.CalibrationConfig
        ``combine``, ``clip_sigma`` and ``flat_min`` enter the key.
    defaults : rpf.config.HeaderDefaults
        Header defaults (exposure time, saturation, ...) enter the key.
    threads : int
        Files hashed at once (hashing releases the GIL).

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    ordered = [(kind, source.name) for kind in ("bias", "dark", "flat") for source in sources.get(kind, ())]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        digests = list(pool.map(_file_digest, [name for _, name in ordered]))
    parameters = {
        "format": CACHE_FORMAT,
        "calibration": {k: getattr(config, k) for k in ("combine", "clip_sigma", "flat_min")},
        "header": dataclasses.asdict(defaults),
        "files": [[kind, digest] for (kind, _), digest in zip(ordered, digests, strict=True)],
    }
    return hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()


def _entry(folder: Path, key: str) -> Path:
    if not _KEY.fullmatch(key):
        raise ValueError(f"not a masters cache key: {key!r}")
    return folder / f"{key}.npz"


def _is_entry(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and path.suffix == ".npz" and _KEY.fullmatch(path.stem) is not None


def load_masters(folder: Path, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """Return ``(arrays, info)`` of a cached entry, or None when there is none (or it is unreadable).

    Reading an entry refreshes its time stamp (least recently used eviction).
    """
    path = _entry(folder, key)
    if not _is_entry(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in _NAMES if name in stored.files}
            info = json.loads(str(stored["info"]))
        os.utime(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        log.warning("masters cache entry %s unreadable (%s): removed", path.name, exc)
        path.unlink(missing_ok=True)
        return None
    return arrays, info


def store_masters(
    folder: Path, key: str, arrays: Mapping[str, np.ndarray], info: Mapping[str, Any], *, max_mb: float
) -> Path | None:
    """Write an entry atomically, then evict down to ``max_mb``; return its path (None if larger than the limit).

    A cache that cannot be written (read-only, full disk) is logged and skipped: the run goes on.
    """
    size = sum(a.nbytes for a in arrays.values())
    if size > max_mb * 2**20:
        return None
    path = _entry(folder, key)
    try:
        with atomic_path(path) as partial, partial.open("wb") as handle:
            np.savez(handle, info=np.array(json.dumps(dict(info), default=str)), **arrays)
    except OSError as exc:
        log.warning("masters not cached in %s: %s", folder, exc)
        return None
    evict(folder, max_mb=max_mb, keep=path)
    return path


def evict(folder: Path, *, max_mb: float, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used entries until the folder's entries hold at most ``max_mb``.

    Parameters
    ----------
    folder : Path
        The cache folder; only regular files named ``<key>.npz`` count.
    max_mb : float
        Size limit in MiB.
    keep : Path, optional
        An entry never deleted (the one just written).

    Returns
    -------
    list of Path
        The entries deleted, oldest first.
    """
    try:
        candidates = [path for path in folder.iterdir() if _is_entry(path)]
    except OSError:
        return []
    entries = []
    for path in candidates:
        try:
            info = path.lstat()
        except OSError:
            continue
        entries.append((info.st_mtime_ns, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, path in sorted(entries):
        if total <= max_mb * 2**20:
            break
        if keep is not None and path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size
        removed.append(path)
    return removed
