"""The catalogue layer: the one place of RPF that touches the network.

Reference stars (Gaia DR3 with XP synthetic photometry, a user file, or the
offline Tycho-2 stars of :mod:`rpf.index_files`) and labels from SIMBAD,
SkyBoT, AAVSO VSX, Milliquas and Astro-Colibri, through one cached,
offline-first interface.  Matching positions is :mod:`rpf.skymatch`'s job and
selecting transient candidates :mod:`rpf.transients`'s; this package only
fetches, caches and reads catalogues.
"""

from rpf.catalogs.base import CatalogResult, Cone, Provider, ServiceReport
from rpf.catalogs.cache import CatalogCache
from rpf.catalogs.crossmatch import LABEL_COLUMNS, crossmatch_sources
from rpf.catalogs.gaia import propagate_to_epoch
from rpf.catalogs.local import read_catalog_file
from rpf.catalogs.query import PROVIDERS, NotCached, query_service
from rpf.catalogs.reference import band_column, get_reference

__all__ = [
    "LABEL_COLUMNS",
    "PROVIDERS",
    "CatalogCache",
    "CatalogResult",
    "Cone",
    "NotCached",
    "Provider",
    "ServiceReport",
    "band_column",
    "crossmatch_sources",
    "get_reference",
    "propagate_to_epoch",
    "query_service",
    "read_catalog_file",
]
