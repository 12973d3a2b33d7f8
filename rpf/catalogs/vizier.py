"""VizieR cone searches (the ``viz-bin/votable`` interface)."""

from __future__ import annotations

from astropy.table import Table

from rpf.catalogs.base import Cone
from rpf.catalogs.http import request
from rpf.catalogs.votable import parse_votable
from rpf.config import CatalogConfig

__all__ = ["query_vizier"]


def query_vizier(
    catalog: str, columns: tuple[str, ...], cone: Cone, *, service: str, config: CatalogConfig
) -> Table | None:
    """Cone-search one VizieR table; positions come back as ``_RAJ2000``/``_DEJ2000`` (deg).

    Parameters
    ----------
    catalog : str
        VizieR table, e.g. ``"B/vsx/vsx"``.
    columns : tuple of str
        VizieR column names to return.
    cone : Cone
        Where to search.
    service : str
        Name used in messages.
    config : CatalogConfig
        End point, time limit and retries.

    Returns
    -------
    Table or None
        The rows, or None when VizieR found nothing.
    """
    params = {
        "-source": catalog,
        "-c": f"{cone.ra:.7f} {cone.dec:+.7f}",
        "-c.eq": "J2000",
        "-c.rd": f"{cone.radius_deg:.7f}",
        "-out": ",".join(columns),
        "-out.add": "_RAJ,_DEJ",
        "-out.max": "unlimited",
        "-oc.form": "d",
    }
    body = request(
        "GET", config.vizier_url, service=service, timeout_s=config.timeout_s, retries=config.retries,
        backoff_s=config.retry_backoff_s, down_s=config.service_down_s, params=params,
    )
    return parse_votable(body, service=service)
