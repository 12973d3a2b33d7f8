"""Reading the VOTable answers of TAP, VizieR and SkyBoT services."""

from __future__ import annotations

import io
import warnings

import numpy as np
from astropy.io import votable
from astropy.io.votable.exceptions import VOWarning
from astropy.table import MaskedColumn, Table

from rpf.errors import CatalogError

__all__ = ["empty_table", "parse_votable", "plain_column"]


def parse_votable(body: bytes, *, service: str) -> Table | None:
    """Return the first table of a VOTable answer, or None when it holds none.

    Raises
    ------
    CatalogError
        The body is not a VOTable, or the service reports an error in it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VOWarning)
            document = votable.parse(io.BytesIO(body), verify="ignore")
    except Exception as exc:  # noqa: BLE001 - the XML parser raises many types for a bad body
        msg = f"{service}: malformed response (not a VOTable: {type(exc).__name__})"
        raise CatalogError(msg) from exc
    infos = list(document.infos) + [info for res in document.resources for info in res.infos]
    for info in infos:
        if info.name == "QUERY_STATUS" and str(info.value).upper() == "ERROR":
            text = (info.content or "").strip() or "error"
            msg = f"{service}: service error: {text[:200]}"
            raise CatalogError(msg)
    tables = list(document.iter_tables())
    if not tables:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tables[0].to_table(use_names_over_ids=True)


def plain_column(table: Table | None, name: str, *, dtype, fill) -> np.ndarray:
    """Return column ``name`` as a plain array (masked values -> ``fill``), or ``fill`` when absent."""
    n = 0 if table is None else len(table)
    if table is None or name not in table.colnames:
        return np.full(n, fill, dtype=dtype)
    col = table[name]
    if dtype is str:
        values = [
            "" if (isinstance(col, MaskedColumn) and col.mask[i]) else _text(v) for i, v in enumerate(col)
        ]
        return np.array(values, dtype=str) if values else np.array([], dtype=str)
    data = np.ma.filled(np.ma.asarray(col).astype(dtype), fill)
    return np.asarray(data, dtype=dtype)


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return str(value).strip()


def empty_table(columns: dict[str, type]) -> Table:
    """Return a zero-row table with the given column names and dtypes."""
    return Table({name: np.array([], dtype=dtype) for name, dtype in columns.items()})
