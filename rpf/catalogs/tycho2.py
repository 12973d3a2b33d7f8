"""Offline Tycho-2 stars with V_T magnitudes from astrometry.net index files.

The Debian ``astrometry-data-tycho2`` index files carry each star's
position and its ``MAG_VT`` tag-along column; :mod:`rpf.astrometry.tycho`
reads them (all scales, duplicates merged).  This module gives that reader
the catalogue layer's units and error type.
"""

from __future__ import annotations

from pathlib import Path

from astropy.table import Table

from rpf.astrometry.tycho import read_tycho2_cone

__all__ = ["read_tycho2"]


def read_tycho2(ra: float, dec: float, radius_deg: float, *, index_dir: str | Path) -> Table:
    """Return Tycho-2 stars in a cone: ``source_id, ra, dec, VT_mag`` (deg, mag; J2000 positions).

    Raises
    ------
    CatalogError
        No index files, or the reader failed (``IndexFileError`` is a ``CatalogError``).
    """
    table = Table(read_tycho2_cone(ra, dec, radius_deg, index_dir=index_dir), copy=False)
    table["ra"].unit = table["dec"].unit = "deg"
    table["VT_mag"].unit = "mag"
    return table
