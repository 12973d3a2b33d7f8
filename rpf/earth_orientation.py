"""Astropy's Earth orientation table (IERS), parsed once per data release and kept on disk.

Every altitude RPF computes (airmass, the Sun's altitude) goes through
astropy's IERS table: UT1-UTC and the polar motion.  Astropy parses it from
the text files of ``astropy-iers-data`` on first use in each process, which
takes 1-1.5 s, longer than the rest of a frame's airmass step.
:func:`use_cached_earth_orientation` keeps the columns astropy's lookups use
in a NumPy file (no pickle), keyed by astropy's version and the contents of
the IERS-A and IERS-B files (5 ms to hash), and installs the table
from it as the process's default (``IERS_Auto``): the same values, to the
bit, in about 20 ms.  A table already loaded, or set by the user, is left
alone; an unreadable cache file is parsed again and rewritten, and only
the :data:`KEEP` most recently written files are kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import astropy
import numpy as np
from astropy import units as u
from astropy.utils import iers

from rpf.atomic import atomic_path

__all__ = ["COLUMNS", "cache_file", "use_cached_earth_orientation"]

log = logging.getLogger(__name__)

COLUMNS = {
    "MJD": u.d,
    "UT1_UTC": u.s,
    "UT1Flag": None,
    "PM_x": u.arcsec,
    "PM_y": u.arcsec,
    "PolPMFlag": None,
    "dX_2000A": u.marcsec,
    "dY_2000A": u.marcsec,
    "NutFlag": None,
}
"""The columns astropy's IERS lookups read (``ut1_utc``, ``pm_xy``, ``dcip_xy`` and their sources) and their units."""

_META = ("predictive_index", "predictive_mjd")
KEEP = 3
"""Cache files kept (the most recently written): installations with other IERS releases may share the folder."""


def cache_file(cache_dir: str | os.PathLike[str]) -> Path:
    """Return the cache file of the installed IERS data: named by astropy's version and the IERS files' contents.

    Installations with the same data (two virtual environments, say) share one file.
    """
    digest = hashlib.blake2b(astropy.__version__.encode(), digest_size=10)
    for name in (iers.IERS_A_FILE, iers.IERS_B_FILE):
        digest.update(Path(name).read_bytes())
    return Path(cache_dir).expanduser() / f"iers-{digest.hexdigest()}.npz"


def _read(path: Path) -> iers.IERS_Auto:
    with np.load(path, allow_pickle=False) as saved:
        columns = {name: saved[name] * unit if unit is not None else saved[name] for name, unit in COLUMNS.items()}
        meta = {name: saved[name].item() for name in _META}
    table = iers.IERS_Auto(columns)
    table.meta.update(meta)
    return table


def _write(table: iers.IERS_Auto, path: Path) -> None:
    arrays = {name: np.asarray(table[name].value if unit is not None else table[name]) for name, unit in
              COLUMNS.items()}
    arrays.update({name: np.asarray(table.meta[name]) for name in _META})
    with atomic_path(path) as temporary, temporary.open("wb") as handle:
        np.savez(handle, **arrays)


def use_cached_earth_orientation(cache_dir: str | os.PathLike[str] | None) -> str:
    """Install astropy's default IERS table from the cache, parsing and caching it when needed.

    Parameters
    ----------
    cache_dir : str, os.PathLike or None
        Folder of the cache file (created when missing); None: nothing is done.

    Returns
    -------
    str
        ``"loaded"`` (from the cache), ``"built"`` (parsed and written),
        ``"present"`` (a table was already in use: left alone) or ``"off"``.
    """
    if cache_dir is None:
        return "off"
    if iers.IERS_Auto.iers_table is not None or iers.earth_orientation_table._value is not None:
        return "present"
    try:
        path = cache_file(cache_dir)
    except OSError as exc:  # the IERS data files are missing: astropy will say so when it needs them
        log.warning("IERS cache: %s", exc)
        return "off"
    if path.is_file():
        try:
            iers.IERS_Auto.iers_table = _read(path)
            return "loaded"
        except (OSError, ValueError, KeyError) as exc:
            log.warning("IERS cache %s unreadable (%s): parsing the IERS files again", path, exc)
    with iers.conf.set_temp("auto_download", False):
        table = iers.IERS_Auto.open()
    try:
        _write(table, path)
        files = sorted(path.parent.glob("iers-*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in files[KEEP:]:  # the oldest IERS releases
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("IERS cache %s not written: %s", path, exc)
    return "built"
