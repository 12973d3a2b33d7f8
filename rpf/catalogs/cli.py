"""``rpf catalog``: pre-fetch a field into the cache, list, import a file, clear.

``rpf/cli.py`` defines the command's arguments (so that ``rpf --help`` does not
import the catalogue layer) and dispatches to :func:`run_catalog_command`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from rpf.catalogs.base import Cone, angular_separation_deg
from rpf.catalogs.cache import CatalogCache
from rpf.catalogs.gaia import GaiaDR3, reference_columns
from rpf.catalogs.local import read_catalog_file
from rpf.catalogs.query import PROVIDERS, open_cache, query_service
from rpf.config import CatalogConfig, load_config
from rpf.errors import CatalogError, RPFError
from rpf.skymatch import unit_vectors

__all__ = ["run_catalog_command"]


def _config(args: argparse.Namespace) -> CatalogConfig:
    config = load_config(args.config).catalogs
    if args.cache_dir:
        config = dataclasses.replace(config, cache_dir=args.cache_dir)
    return config


def _fetch(args: argparse.Namespace, config: CatalogConfig) -> int:
    names = [s.strip() for s in args.services.split(",") if s.strip()]
    unknown = [s for s in names if s not in PROVIDERS]
    if unknown:
        print(f"rpf catalog: unknown service(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    cone = Cone(args.ra, args.dec, args.radius, epoch_mjd=args.mjd, mag_limit=config.mag_limit)
    cache = open_cache(config)
    failed = 0
    for name in names:
        start = time.perf_counter()
        try:
            result = query_service(PROVIDERS[name], cone, config=config, cache=cache)
        except CatalogError as exc:
            failed += 1
            print(f"{name}: failed: {exc}", file=sys.stderr)
            continue
        where = "cache" if result.from_cache else "service"
        print(f"{name}: {len(result.table)} rows from the {where} in {time.perf_counter() - start:.2f} s")
    return 2 if failed else 0


def _list(cache: CatalogCache) -> int:
    entries = cache.entries()
    print(f"cache: {cache.root} ({len(entries)} cones)")
    for e in entries:
        print(f"{e.service:10s} ra={e.ra:9.4f} dec={e.dec:+8.4f} r={e.radius_deg:7.4f} deg "
              f"rows={e.n_rows:7d} age={e.age_days:6.1f} d  {e.signature}")
    return 0


def _import(args: argparse.Namespace, config: CatalogConfig) -> int:
    table = read_catalog_file(args.file)
    if len(table) == 0:
        print(f"rpf catalog: {args.file} has no rows", file=sys.stderr)
        return 2
    ra, dec = np.asarray(table["ra"], float), np.asarray(table["dec"], float)
    if args.ra is None or args.dec is None:
        x, y, z = unit_vectors(ra, dec).T
        c_ra = float(np.degrees(np.arctan2(y.mean(), x.mean())) % 360.0)
        c_dec = float(np.degrees(np.arctan2(z.mean(), np.hypot(x.mean(), y.mean()))))
    else:
        c_ra, c_dec = args.ra, args.dec
    radius = args.radius or float(np.max(angular_separation_deg(c_ra, c_dec, ra, dec))) + 1e-6
    cone = Cone(c_ra, c_dec, radius, mag_limit=config.mag_limit)
    provider = GaiaDR3()
    keep = [c for c in table.colnames if c in set(reference_columns())]
    open_cache(config).store(provider.name, provider.signature(cone, config), cone, table[keep])
    print(f"imported {len(table)} rows as gaia_dr3 cone ra={c_ra:.4f} dec={c_dec:+.4f} r={radius:.4f} deg")
    return 0


def run_catalog_command(args: argparse.Namespace) -> int:
    """Run ``rpf catalog ...``; return the exit status (0 ok, 2 failure)."""
    try:
        config = _config(args)
        if args.catalog_command == "fetch":
            return _fetch(args, config)
        if args.catalog_command == "list":
            return _list(open_cache(config))
        if args.catalog_command == "import":
            return _import(args, config)
        removed = open_cache(config).clear(args.service, older_than_days=args.older_than)
        print(f"removed {removed} cached cones")
        return 0
    except RPFError as exc:
        print(f"rpf catalog: {exc}", file=sys.stderr)
        return 2

