"""``run_summary.csv``: one row per frame with the contract's metadata keys."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rpf.atomic import write_atomic
from rpf.products.metadata import to_jsonable

__all__ = ["SUMMARY_COLUMNS", "summary_rows", "write_run_summary"]

SUMMARY_COLUMNS = (
    "frame",
    "status",
    "error",
    "filter",
    "band",
    "date_obs",
    "mjd_mid",
    "exptime",
    "airmass",
    "fwhm_px",
    "fwhm_arcsec",
    "pixel_scale_arcsec",
    "center_ra",
    "center_dec",
    "wcs_source",
    "wcs_rms_arcsec",
    "zero_point",
    "zero_point_err",
    "color_term",
    "n_calib_stars",
    "limiting_mag",
    "n_sources",
    "software_version",
    "parameters",
    "timings",
)
"""The first columns, in this order; other metadata keys follow alphabetically."""


def _cell(value: Any) -> str:
    value = to_jsonable(value, where="run summary")
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def summary_rows(metadata: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[dict[str, str]]]:
    """Return the header and the text rows of the run summary.

    Parameters
    ----------
    metadata : iterable of mapping
        One contract metadata dictionary per frame (failed frames included).

    Returns
    -------
    columns : list of str
        :data:`SUMMARY_COLUMNS` then every other key seen, sorted.
    rows : list of dict
        Cells as text: numbers as written by Python, nested values as JSON,
        missing values empty.
    """
    metadata = list(metadata)
    extra = sorted({key for meta in metadata for key in meta} - set(SUMMARY_COLUMNS))
    columns = [*SUMMARY_COLUMNS, *extra]
    rows = [{col: _cell(meta.get(col)) for col in columns} for meta in metadata]
    return columns, rows


def write_run_summary(metadata: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write ``run_summary.csv`` atomically (a crash never leaves half a file).

    Parameters
    ----------
    metadata : iterable of mapping
        One contract metadata dictionary per frame.
    path : str or Path
        The CSV file to write.

    Returns
    -------
    Path
        ``path``.
    """
    columns, rows = summary_rows(metadata)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_atomic(path, buffer.getvalue())
