"""Metadata dictionaries as strict JSON (numpy values, NaN as null, ISO dates)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from astropy.time import Time
from astropy.units import Quantity

from rpf.atomic import write_atomic
from rpf.errors import ProductError

__all__ = ["to_jsonable", "write_metadata_json"]


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def to_jsonable(value: Any, *, where: str = "metadata") -> Any:
    """Return ``value`` as plain JSON types.

    The one JSON conversion of RPF: metadata files, the ECSV header, the run
    summary and every event's ``to_dict`` use it.  numpy scalars and arrays
    become numbers and lists, non-finite floats ``None``, dates and
    :class:`astropy.time.Time` ISO strings, quantities their value, paths
    strings, bytes UTF-8 text, enums their value, dataclasses dicts.

    Raises
    ------
    rpf.errors.ProductError
        A value of another type (named by its key path).
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), where=where)
    if isinstance(value, Quantity):
        return to_jsonable(value.value, where=where)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), where=where)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Time):
        return to_jsonable(value.utc.isot, where=where)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, where=where)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), where=where)
    raise ProductError(f"{where}: cannot write a {type(value).__name__} to JSON")


def write_metadata_json(meta: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a metadata dictionary as indented, strict JSON atomically.

    Parameters
    ----------
    meta : mapping
        The metadata (see :func:`to_jsonable` for the accepted values).
    path : str or os.PathLike
        Output file.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    text = json.dumps(to_jsonable(meta), indent=2, allow_nan=False, ensure_ascii=False)
    return write_atomic(path, text + "\n")
