"""Answering a cone from the cache, else from the service (and caching the answer).

Offline (``config.offline``) nothing is fetched: the cache answers, even
with an expired entry, or :class:`NotCached` is raised.  Online, a service
failure falls back to an expired cache entry when there is one.
"""

from __future__ import annotations

import logging
import time

from rpf.catalogs.base import CatalogResult, Cone, Provider
from rpf.catalogs.cache import CatalogCache, cut_to_cone
from rpf.catalogs.colibri import AstroColibri
from rpf.catalogs.gaia import GaiaDR3
from rpf.catalogs.milliquas import Milliquas
from rpf.catalogs.simbad import Simbad
from rpf.catalogs.skybot import SkyBoT
from rpf.catalogs.vsx import VSX
from rpf.config import CatalogConfig
from rpf.errors import CatalogError, ServiceUnavailable

__all__ = ["PROVIDERS", "NotCached", "open_cache", "query_service"]

log = logging.getLogger(__name__)

PROVIDERS: dict[str, Provider] = {
    p.name: p for p in (GaiaDR3(), Simbad(), SkyBoT(), VSX(), Milliquas(), AstroColibri())
}
"""Every remote catalogue by name."""


class NotCached(CatalogError):
    """Offline and the cache cannot answer the cone."""


def open_cache(config: CatalogConfig) -> CatalogCache:
    """Return the cache configured by ``config`` (``cache_dir``, ``cache_expiry_days``)."""
    return CatalogCache(config.cache_dir, expiry_days=config.cache_expiry_days)


def query_service(
    provider: Provider, cone: Cone, *, config: CatalogConfig, cache: CatalogCache | None = None
) -> CatalogResult:
    """Return a service's rows in ``cone``: cached when possible, fetched otherwise.

    Raises
    ------
    NotCached
        Offline and no cache entry covers the cone.
    ServiceTimeout, ServiceUnavailable, CatalogError
        The service failed and no cache entry (even expired) covers the cone.
    """
    cache = open_cache(config) if cache is None else cache
    start = time.perf_counter()
    signature = provider.signature(cone, config)
    table = cache.lookup(provider.name, signature, cone, allow_expired=config.offline)
    if table is not None:
        return CatalogResult(table, provider.name, True, time.perf_counter() - start)
    if config.offline:
        msg = f"{provider.name}: offline and not in the cache"
        raise NotCached(msg)
    try:
        table = provider.fetch(cone, config=config)
    except ServiceUnavailable as exc:
        stale = cache.lookup(provider.name, signature, cone, allow_expired=True)
        if stale is None:
            raise
        log.warning("%s; using an expired cache entry", exc)
        return CatalogResult(stale, provider.name, True, time.perf_counter() - start)
    cache.store(provider.name, signature, cone, table)
    return CatalogResult(cut_to_cone(table, cone), provider.name, False, time.perf_counter() - start)
