"""A user's reference catalogue file with Gaia DR3 column names.

Formats by suffix: ``.csv``/``.txt`` (CSV), ``.ecsv``, ``.fits``/``.fit``
(optionally ``.gz``), ``.xml``/``.vot``/``.votable`` (VOTable) and
``.parquet``.  Column names are matched case-insensitively; ``ra`` and
``dec`` (degrees) are required, a missing ``source_id`` is numbered, and
missing photometric columns are filled with NaN.

The file is checked as a whole when it is read (a run reads it once, up
front, and every frame reuses that reading): a missing, empty or
non-regular file, an unreadable format, no rows, no ``ra``/``dec``, a
value that is not a number in a numeric column, or a position off the sky
raises a :class:`~rpf.errors.CatalogError` naming the file (and the column
and row).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table

from rpf.catalogs.gaia import reference_columns
from rpf.errors import CatalogError
from rpf.input_files import input_file_problem

__all__ = ["read_catalog_file"]

_FORMATS = {
    ".csv": "ascii.csv", ".txt": "ascii.csv", ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits",
    ".fts": "fits", ".xml": "votable", ".vot": "votable", ".votable": "votable", ".parquet": "parquet",
}
_TEXT_COLUMNS = frozenset({"phot_variable_flag", "source_id"})
_NUMERIC_EXTRAS = ("ref_epoch",)
_LIMITS = {"ra": (0.0, 360.0), "dec": (-90.0, 90.0)}


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        msg = f"{path}: unsupported catalogue format (use CSV, ECSV, FITS, VOTable or Parquet)"
        raise CatalogError(msg)
    return fmt


def _numbers(column, *, path: Path, name: str) -> np.ndarray:
    """Return a column as float64 (masked -> NaN); raise naming the first value that is not a number."""
    filled = np.ma.filled(np.ma.asarray(column), np.nan) if np.ma.isMaskedArray(column) else np.asarray(column)
    try:
        return np.asarray(filled, dtype=float)
    except (ValueError, TypeError):
        pass
    for row, value in enumerate(filled):
        try:
            float(value)
        except (ValueError, TypeError):
            msg = f"catalogue {path}: column {name!r} row {row + 1} is {str(value)!r}, not a number"
            raise CatalogError(msg) from None
    msg = f"catalogue {path}: column {name!r} is not numeric"
    raise CatalogError(msg)


def _check_positions(out: Table, *, path: Path) -> None:
    for name, (low, high) in _LIMITS.items():
        values = np.asarray(out[name], float)
        bad = np.flatnonzero(~((values >= low) & (values <= high)))
        if bad.size:
            row = int(bad[0])
            msg = (
                f"catalogue {path}: column {name!r} row {row + 1} is {values[row]:g}, not a position in degrees "
                f"within {low:g}..{high:g} ({bad.size} such row(s))"
            )
            raise CatalogError(msg)


def _check_path(path: Path) -> None:
    problem = input_file_problem(path)
    if problem is not None:
        msg = f"catalogue {path}: {problem}"
        raise CatalogError(msg)


def _read_raw(path: Path) -> Table:
    fmt = _format_of(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = Table.read(path, format=fmt)
    except Exception as exc:  # noqa: BLE001 - every reader failure of a user file is a bad catalogue
        msg = f"catalogue {path}: cannot be read as {fmt} ({type(exc).__name__}: {exc})"
        raise CatalogError(msg) from exc
    if len(raw) == 0:
        msg = f"catalogue {path}: no rows"
        raise CatalogError(msg)
    return raw


@functools.lru_cache(maxsize=8)
def _read_checked(path: Path, mtime_ns: int, size: int) -> Table:
    """Read and check a catalogue file once per version of it (``mtime_ns`` and ``size`` key the cache)."""
    raw = _read_raw(path)
    lower = {name.lower(): name for name in raw.colnames}
    missing = [c for c in ("ra", "dec") if c not in lower]
    if missing:
        msg = (
            f"catalogue {path}: no 'ra'/'dec' columns (no {' nor '.join(repr(c) for c in missing)}; Gaia DR3 "
            f"names expected, found {', '.join(raw.colnames[:12])})"
        )
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
                out[name] = _numbers(column, path=path, name=source)
        elif name == "source_id":
            out[name] = np.arange(len(raw), dtype=np.int64)
        elif name == "phot_variable_flag":
            out[name] = np.full(len(raw), "", dtype=str)
        else:
            out[name] = np.full(len(raw), np.nan)
    _check_positions(out, path=path)
    known = {c.lower() for c in out.colnames}
    for name in raw.colnames:
        if name.lower() in _NUMERIC_EXTRAS:
            out[name] = _numbers(raw[name], path=path, name=name)
        elif name.lower() not in known:
            out[name] = raw[name]
    out.meta["catalog"] = f"file:{path.name}"
    return out


def read_catalog_file(path: str | Path) -> Table:
    """Read and check a reference catalogue file into RPF's reference columns.

    A file is read and checked once per process and version (path,
    modification time, size); later calls return a copy of that reading,
    so a run can check the file up front and every frame reuse it.

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
        Missing, empty, non-regular or unreadable file, unknown format, no
        rows, no ``ra``/``dec`` columns, a value that is not a number in a
        numeric column, or ``ra``/``dec`` off the sky; the message names the
        file, and the column and row when one is at fault.
    """
    file = Path(path).expanduser()
    _format_of(file)
    _check_path(file)
    info = file.stat()
    return _read_checked(file.resolve(), info.st_mtime_ns, info.st_size).copy()
