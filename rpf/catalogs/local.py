"""A user's reference catalogue file with Gaia DR3 column names.

Formats by suffix: ``.csv``/``.txt`` (CSV), ``.ecsv``, ``.fits``/``.fit``
(optionally ``.gz``), ``.xml``/``.vot``/``.votable`` (VOTable) and
``.parquet``.  Column names are matched case-insensitively; ``ra`` and
``dec`` (degrees) are required, a missing ``source_id`` is numbered, and
missing photometric columns are filled with NaN.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table

from rpf.catalogs.gaia import reference_columns
from rpf.errors import CatalogError

__all__ = ["read_catalog_file"]

_FORMATS = {
    ".csv": "ascii.csv", ".txt": "ascii.csv", ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits",
    ".fts": "fits", ".xml": "votable", ".vot": "votable", ".votable": "votable", ".parquet": "parquet",
}


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        msg = f"{path}: unsupported catalogue format (use CSV, ECSV, FITS, VOTable or Parquet)"
        raise CatalogError(msg)
    return fmt


def read_catalog_file(path: str | Path) -> Table:
    """Read a reference catalogue file into RPF's reference columns.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    Table
        Reference columns (see :func:`rpf.catalogs.gaia.reference_columns`) plus
        any extra columns of the file; ``meta['catalog']`` is ``"file:<name>"``.

    Raises
    ------
    CatalogError
        Unreadable file, unknown format, or no ``ra``/``dec`` columns.
    """
    path = Path(path).expanduser()
    fmt = _format_of(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = Table.read(path, format=fmt)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        msg = f"{path}: cannot read catalogue ({exc})"
        raise CatalogError(msg) from exc
    lower = {name.lower(): name for name in raw.colnames}
    if "ra" not in lower or "dec" not in lower:
        msg = f"{path}: catalogue has no 'ra'/'dec' columns (Gaia DR3 names expected)"
        raise CatalogError(msg)
    out = Table()
    for name in reference_columns():
        source = lower.get(name.lower())
        if source is not None:
            column = raw[source]
            if name == "phot_variable_flag":
                out[name] = np.array([str(v) for v in np.ma.filled(column, "")], dtype=str)
            elif name == "source_id":
                out[name] = np.asarray(np.ma.filled(column, -1))
            else:
                out[name] = np.ma.filled(np.ma.asarray(column, dtype=float), np.nan)
        elif name == "source_id":
            out[name] = np.arange(len(raw), dtype=np.int64)
        elif name == "phot_variable_flag":
            out[name] = np.full(len(raw), "", dtype=str)
        else:
            out[name] = np.full(len(raw), np.nan)
    for name in raw.colnames:
        if name.lower() not in {c.lower() for c in out.colnames}:
            out[name] = raw[name]
    out.meta["catalog"] = f"file:{path.name}"
    return out
