"""Targets given by name, through the catalogue layer's name resolution."""

from __future__ import annotations

from collections.abc import Callable

from rpf.catalogs.names import NameNotResolved, resolve_name
from rpf.config import CatalogConfig
from rpf.errors import ConfigError
from rpf.targets.model import Target

__all__ = ["resolve_target", "target_resolver"]


def resolve_target(name: str, *, config: CatalogConfig) -> Target:
    """Return a fixed target at the position SIMBAD or Astro-Colibri give for ``name``.

    Raises
    ------
    ConfigError
        The name cannot be resolved (offline and not cached, or unknown);
        the message says which.
    """
    try:
        found = resolve_name(name, config=config)
    except NameNotResolved as exc:
        raise ConfigError(str(exc)) from exc
    return Target(name=name, ra=found.ra % 360.0, dec=found.dec, source=found.service)


def target_resolver(config: CatalogConfig) -> Callable[[str], Target]:
    """Return ``resolve(name) -> Target`` for :func:`rpf.targets.parse_target` and friends."""
    return lambda name: resolve_target(name, config=config)
