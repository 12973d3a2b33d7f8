"""The catalogue layer: the one place of RPF that touches the network.

Reference stars (Gaia DR3 with XP synthetic photometry, a user file, or the
offline Tycho-2 stars) and labels from SIMBAD, SkyBoT, AAVSO VSX, Milliquas
and Astro-Colibri, through one cached, offline-first interface.
"""

from rpf.catalogs.base import CatalogResult, Cone, Provider, ServiceReport
from rpf.catalogs.cache import CatalogCache
from rpf.catalogs.crossmatch import LABEL_COLUMNS, crossmatch_sources, match_radius_arcsec, match_reference
from rpf.catalogs.gaia import propagate_to_epoch
from rpf.catalogs.local import read_catalog_file
from rpf.catalogs.query import PROVIDERS, NotCached, query_service
from rpf.catalogs.reference import band_column, get_reference
from rpf.catalogs.transients import find_transient_candidates, flag_transient_candidates, within_reference_depth
from rpf.catalogs.tycho2 import read_tycho2

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
    "find_transient_candidates",
    "flag_transient_candidates",
    "get_reference",
    "match_radius_arcsec",
    "match_reference",
    "propagate_to_epoch",
    "query_service",
    "read_catalog_file",
    "read_tycho2",
    "within_reference_depth",
]
