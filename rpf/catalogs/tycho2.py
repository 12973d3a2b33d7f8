"""Offline Tycho-2 stars with V_T magnitudes from astrometry.net index files.

The Debian ``astrometry-data-tycho2`` index files carry each star's
position and its ``MAG_VT`` tag-along column.  Each file holds a different
subset of Tycho-2 (one per quad scale), so all files are searched and the
union is kept (duplicates within 1 arcsec merged).  When
``rpf.astrometry.read_tycho2_cone`` exists it is used instead.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from rpf.errors import CatalogError

__all__ = ["read_tycho2", "tycho2_index_files"]


def tycho2_index_files(index_dir: str | Path) -> list[Path]:
    """Return the Tycho-2 index files in ``index_dir`` (finest scale first)."""
    return sorted(Path(index_dir).expanduser().glob("index-tycho2-*.fits"))


def _query_starkd(path: Path, ra: float, dec: float, radius_deg: float, workdir: Path) -> Table:
    out = workdir / f"{path.stem}.fits"
    cmd = ["query-starkd", "-r", repr(ra), "-d", repr(dec), "-R", repr(radius_deg), "-t", "MAG_VT", "-o", str(out),
           str(path)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        msg = f"tycho2: query-starkd failed on {path.name} ({exc})"
        raise CatalogError(msg) from exc
    if not out.exists():  # query-starkd writes nothing when the cone is empty
        return Table({"ra": np.array([], float), "dec": np.array([], float), "VT_mag": np.array([], float)})
    table = Table.read(out, format="fits")
    return Table({"ra": np.asarray(table["RA"], float), "dec": np.asarray(table["DEC"], float),
                  "VT_mag": np.asarray(table["MAG_VT"], float)})


def _unique(table: Table) -> Table:
    if len(table) < 2:
        return table
    from scipy.spatial import cKDTree

    ra, dec = np.radians(table["ra"]), np.radians(table["dec"])
    xyz = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    keep = np.ones(len(table), bool)
    for i, j in sorted(cKDTree(xyz).query_pairs(np.radians(1.0 / 3600.0))):
        if keep[i]:
            keep[j] = False
    return table[keep]


def _read_with_starkd(ra: float, dec: float, radius_deg: float, index_dir: str | Path) -> Table:
    files = tycho2_index_files(index_dir)
    if not files:
        msg = f"tycho2: no index-tycho2-*.fits files in {index_dir}"
        raise CatalogError(msg)
    if shutil.which("query-starkd") is None:
        msg = "tycho2: astrometry.net's query-starkd is not installed"
        raise CatalogError(msg)
    with tempfile.TemporaryDirectory(prefix="rpf-tycho2-") as tmp:
        parts = [_query_starkd(path, ra, dec, radius_deg, Path(tmp)) for path in files]
    table = _unique(vstack(parts))
    ids = np.round(np.mod(table["ra"], 360.0) * 1e6).astype(np.int64) * 200_000_000
    table["source_id"] = ids + np.round((table["dec"] + 90.0) * 1e6).astype(np.int64)
    return table["source_id", "ra", "dec", "VT_mag"]


def read_tycho2(ra: float, dec: float, radius_deg: float, *, index_dir: str | Path) -> Table:
    """Return Tycho-2 stars in a cone: ``source_id, ra, dec, VT_mag`` (deg, mag; J2000 positions).

    Raises
    ------
    CatalogError
        No index files, or the reader failed.
    """
    try:
        from rpf.astrometry import read_tycho2_cone
    except ImportError:
        read_tycho2_cone = None
    if read_tycho2_cone is not None:
        table = read_tycho2_cone(ra, dec, radius_deg, index_dir=index_dir)
    else:
        table = _read_with_starkd(ra, dec, radius_deg, index_dir)
    table = Table(table, copy=False)
    table["ra"].unit = table["dec"].unit = "deg"
    table["VT_mag"].unit = "mag"
    return table
