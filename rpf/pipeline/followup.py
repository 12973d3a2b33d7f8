"""The end of a run with targets: ``targets.csv`` (every frame's measurements) and the follow-up report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from rpf.config import TransientsConfig
from rpf.pipeline.state import FrameResult
from rpf.products import write_catalog_csv
from rpf.report import write_reports
from rpf.targets import TARGET_COLUMNS

__all__ = ["write_run_targets"]


def _filled(table: Table) -> Table:
    """Return the table with empty CSV cells as NaN (numbers), "" (text) or 0 (integers), not masked."""
    out = Table(table, copy=False, masked=False)
    for name in out.colnames:
        column = table[name]
        if getattr(column, "mask", None) is not None and np.any(column.mask):
            kind = column.dtype.kind
            out[name] = column.filled(np.nan if kind == "f" else "" if kind in "US" else 0)
    return out


def write_run_targets(
    results: Sequence[FrameResult], out_dir: Path, *, transients: TransientsConfig
) -> tuple[dict[str, str], list[str]]:
    """Gather the frames' ``<stem>_targets.csv`` into ``targets.csv`` and write ``report.txt``/``report.json``.

    Returns
    -------
    products : dict
        ``{"targets_csv": path, "report_txt": path, "report_json": path}`` of what was written.
    messages : list of str
        Why nothing was written, when nothing was.
    """
    from rpf.pipeline.transient_steps import parse_t0

    tables = []
    for result in results:
        path = result.products.get("targets")
        if result.ok and path and Path(path).is_file():
            table = Table.read(path, format="ascii.csv")
            if len(table):
                tables.append(table)
    if not tables:
        return {}, []
    table = _filled(vstack(tables, metadata_conflicts="silent"))
    table = table[np.lexsort((np.nan_to_num(np.asarray(table["mjd_mid"], float), nan=np.inf),
                              np.asarray(table["target"], str)))]
    order = [c for c in TARGET_COLUMNS if c in table.colnames]
    csv = write_catalog_csv(table[order + [c for c in table.colnames if c not in order]], out_dir / "targets.csv")
    text, data = write_reports(table, out_dir, t0_mjd=parse_t0(transients.t0))
    return {"targets_csv": str(csv), "report_txt": str(text), "report_json": str(data)}, []
