"""Catalogue tables as CSV with column-appropriate precision and empty missing values."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from rpf.atomic import write_atomic
from rpf.errors import ProductError

__all__ = ["write_catalog_csv", "write_catalog_ecsv"]

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


def _formatted(values: np.ndarray, fmt: str, missing: Any) -> list[str]:
    """``fmt % value`` of each float, "" where ``missing`` or not finite.

    A Python loop: 3x faster than ``np.char.mod``.  ``missing`` is a mask or
    ``np.ma.nomask`` (a column without one: no array of False is made).
    """
    text = [fmt % v for v in values.tolist()]
    blank = ~np.isfinite(values)
    if missing is not np.ma.nomask:
        blank |= missing
    for i in np.flatnonzero(blank):
        text[i] = ""
    return text


def _column_strings(name: str, column: Any) -> list[str]:
    values = np.ma.getdata(getattr(column, "value", column))
    if np.ndim(values) != 1:
        raise ProductError(f"column {name!r} has shape {np.shape(values)}: only 1-D columns can go to CSV")
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return _formatted(values, _float_format(name, values.dtype), np.ma.getmask(column))
    missing = np.ma.getmaskarray(column)
    if values.dtype.kind == "S":
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


def _ecsv_datatype(values: np.ndarray) -> str:
    kind = values.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iuf":
        return str(values.dtype)
    return "string"


def _ecsv_strings(values: np.ndarray) -> list[str]:
    kind = values.dtype.kind
    if kind == "f":  # the shortest text that reads back to the same value (nan, inf as such)
        return list(map(repr, values.tolist()))
    if kind == "S":
        return list(np.char.decode(values, "utf-8"))
    return list(values.astype(str))


def write_catalog_ecsv(table: Table, path: str | os.PathLike[str], *, meta: dict[str, Any] | None = None) -> Path:
    """Write a catalogue as ECSV 1.0 atomically: every column with its unit and description, and metadata.

    Floats keep every digit (they read back equal, NaN as NaN); empty text
    reads back masked.  ``QTable.read(path)`` gives the same columns, units,
    dtypes and metadata.  Written here rather than with astropy's writer,
    which took 0.4 s for a 512² frame's catalogue (its pure-Python YAML and
    per-cell formatting); this takes a few ms per thousand rows.

    Parameters
    ----------
    table : astropy.table.Table or QTable
        The catalogue (1-D columns; quantities keep their unit).
    path : str or os.PathLike
        Output file (``<stem>_phot.ecsv``).
    meta : dict, optional
        Metadata for the header (converted with :func:`rpf.products.to_jsonable`),
        merged over the table's own ``meta``.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    rpf.errors.ProductError
        A column is not one-dimensional.
    """
    import yaml

    from rpf.products.metadata import to_jsonable

    datatypes, columns = [], []
    for name in table.colnames:
        column = table[name]
        values = np.asarray(np.ma.getdata(getattr(column, "value", column)))
        if values.ndim != 1:
            raise ProductError(f"column {name!r} has shape {values.shape}: only 1-D columns can go to ECSV")
        entry = {"name": name, "datatype": _ecsv_datatype(values)}
        unit = getattr(column, "unit", None)
        if unit is not None:
            entry["unit"] = unit.to_string()
        if column.info.description:
            entry["description"] = str(column.info.description)
        datatypes.append(entry)
        text = _ecsv_strings(values)
        for i in np.flatnonzero(np.ma.getmaskarray(column)):
            text[i] = ""
        columns.append(text)
    header = {"delimiter": ",", "datatype": datatypes,
              "meta": to_jsonable({**table.meta, **(meta or {})}, where="ecsv meta"), "schema": "astropy-2.0"}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    lines = yaml.dump(header, Dumper=dumper, default_flow_style=None, sort_keys=False, width=1000).splitlines()
    buffer = io.StringIO()
    buffer.write("# %ECSV 1.0\n# ---\n" + "".join(f"# {line}\n" for line in lines))
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.colnames)
    writer.writerows(zip(*columns, strict=True))
    return write_atomic(path, buffer.getvalue())
