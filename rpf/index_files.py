"""The astrometry.net index files on disk, and the Tycho-2 stars they carry.

Read from below both the astrometry stage (which solves with the index files
and uses their stars as an offline reference) and the catalogue layer (which
serves the same stars as the offline reference catalogue): neither depends on
the other for it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from rpf.errors import IndexFileError
from rpf.skymatch import pairs_within

__all__ = ["index_files", "index_scale_range_arcmin", "read_tycho2_cone"]

#: Two entries closer than this are the same star (arcsec).
DUPLICATE_ARCSEC = 1.0


def index_files(index_dir: str | Path) -> list[Path]:
    """Return the astrometry.net index files (``index-*.fits``) of a directory, sorted by name."""
    folder = Path(index_dir).expanduser()
    return sorted(p for p in folder.glob("index-*.fits*") if p.is_file()) if folder.is_dir() else []


def index_scale_range_arcmin(path: Path) -> tuple[float, float]:
    """Return the quad-size range (arcmin) an index file was built for (``SCALE_L``/``SCALE_U``)."""
    from astropy.io import fits

    header = fits.getheader(path, 0)
    return float(header["SCALE_L"]) * 180 / np.pi * 60, float(header["SCALE_U"]) * 180 / np.pi * 60


def _query(path: Path, ra: float, dec: float, radius_deg: float, workdir: Path) -> Table:
    out = workdir / f"{path.name}.rd.fits"
    cmd = ["query-starkd", "-r", repr(float(ra)), "-d", repr(float(dec)), "-R", repr(float(radius_deg)),
           "-t", "MAG_VT", "-o", str(out), str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        msg = f"query-starkd failed on {path.name}: {done.stderr.strip()[-200:]}"
        raise IndexFileError(msg)
    if not out.exists():
        return Table({"ra": np.zeros(0), "dec": np.zeros(0), "VT_mag": np.zeros(0)})
    rows = Table.read(out, format="fits")
    return Table({"ra": np.asarray(rows["RA"], float), "dec": np.asarray(rows["DEC"], float),
                  "VT_mag": np.asarray(rows["MAG_VT"], float)})


def _deduplicate(table: Table) -> Table:
    ra, dec = np.asarray(table["ra"], float), np.asarray(table["dec"], float)
    first, second, _ = pairs_within(ra, dec, ra, dec, radius_arcsec=DUPLICATE_ARCSEC)
    drop = np.zeros(len(table), bool)
    drop[second[first < second]] = True
    return table[~drop]


def read_tycho2_cone(ra: float, dec: float, radius_deg: float, *, index_dir: str | Path) -> Table:
    """Return the Tycho-2 stars of a cone from the ``index-tycho2-*`` files of ``index_dir``.

    Every index file holds a different subset of the catalogue; the union
    is returned, duplicates merged, brightest first.

    Parameters
    ----------
    ra, dec : float
        Centre (deg, ICRS).
    radius_deg : float
        Cone radius (deg).
    index_dir : str or pathlib.Path
        Directory of the Debian ``astrometry-data-tycho2`` files.

    Returns
    -------
    astropy.table.Table
        ``source_id`` (int64, derived from the position: Tycho-2 numbers are
        not stored in the index files), ``ra``, ``dec`` (deg, J2000), ``VT_mag``.
        ``meta['catalog'] = "Tycho-2 (astrometry.net index)"``.

    Raises
    ------
    rpf.errors.IndexFileError
        No Tycho-2 index files, or ``query-starkd`` missing or failing (it is
        both an ``AstrometryError`` and a ``CatalogError``).
    """
    files = [p for p in index_files(index_dir) if p.name.startswith("index-tycho2-")]
    if not files:
        msg = f"no Tycho-2 index files (index-tycho2-*.fits) in {index_dir}"
        raise IndexFileError(msg)
    if shutil.which("query-starkd") is None:
        msg = "query-starkd (astrometry.net) is not installed"
        raise IndexFileError(msg)
    with tempfile.TemporaryDirectory(prefix="rpf-tycho2-") as tmp:
        table = vstack([_query(p, ra, dec, radius_deg, Path(tmp)) for p in files])
    if len(table):
        table = _deduplicate(table)
    table.sort("VT_mag")
    ra_key = np.round(np.mod(table["ra"], 360.0) * 1e5).astype(np.int64)
    table["source_id"] = ra_key * 100_000_000 + np.round((table["dec"] + 90.0) * 1e5).astype(np.int64)
    out = table["source_id", "ra", "dec", "VT_mag"]
    out["ra"].unit = out["dec"].unit = "deg"
    out["VT_mag"].unit = "mag"
    out.meta["catalog"] = "Tycho-2 (astrometry.net index)"
    return out
