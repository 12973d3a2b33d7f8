"""Catalogue tables as CSV with column-appropriate precision and empty missing values."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from rpf.errors import ProductError
from rpf.products.atomic import write_atomic

__all__ = ["write_catalog_csv"]

_COLUMN_FORMATS = {
    "ra": "%.8f",
    "dec": "%.8f",
    "x": "%.3f",
    "y": "%.3f",
    "mjd": "%.8f",
    "airmass": "%.4f",
}
"""Format of named columns; columns with ``mag`` in the name use ``%.4f``."""

_DTYPE_FORMATS = {4: "%.7g", 8: "%.10g", 2: "%.4g"}
"""Default format of float columns by item size (float32 keeps 7 digits, float64 10)."""


def _float_format(name: str, dtype: np.dtype) -> str:
    key = name.lower()
    if key in _COLUMN_FORMATS:
        return _COLUMN_FORMATS[key]
    if "mag" in key:
        return "%.4f"
    return _DTYPE_FORMATS.get(dtype.itemsize, "%.10g")


def _column_strings(name: str, column: Any) -> list[str]:
    values = np.ma.getdata(getattr(column, "value", column))
    missing = np.ma.getmaskarray(column)
    if np.ndim(values) != 1:
        raise ProductError(f"column {name!r} has shape {np.shape(values)}: only 1-D columns can go to CSV")
    values = np.asarray(values)
    if values.dtype.kind == "f":
        missing = missing | ~np.isfinite(values)
        text = np.char.mod(_float_format(name, values.dtype), np.where(missing, 0, values)).astype(object)
    elif values.dtype.kind == "S":
        text = np.char.decode(values, "utf-8").astype(object)
    else:
        text = values.astype(str).astype(object)
    text[missing] = ""
    return list(text)


def write_catalog_csv(table: Any, path: str | os.PathLike[str]) -> Path:
    """Write a table as CSV atomically.

    Floats get sensible precision (``ra``/``dec`` 8 decimals, ``x``/``y``
    3, magnitudes 4, other float32 7 and float64 10 significant digits);
    masked, NaN and infinite values are empty fields.  Units are dropped
    (plain column names in the header row).

    Parameters
    ----------
    table : astropy.table.Table or QTable or pandas.DataFrame
        The catalogue.
    path : str or os.PathLike
        Output file.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    rpf.errors.ProductError
        A column is not one-dimensional.
    """
    if not isinstance(table, Table):
        table = Table.from_pandas(table) if hasattr(table, "to_numpy") else Table(table)
    columns = [_column_strings(name, table[name]) for name in table.colnames]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.colnames)
    writer.writerows(zip(*columns, strict=True))
    return write_atomic(path, buffer.getvalue())
