"""Targets as users give them: ``RA,DEC[,name]`` strings, a CSV file, or a name to resolve."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from astropy.time import Time

from rpf.coords import parse_dec, parse_ra
from rpf.errors import ConfigError
from rpf.targets.model import Target

__all__ = ["SKYBOT_PREFIX", "parse_target", "read_targets_csv", "unique_targets"]

SKYBOT_PREFIX = "skybot:"
"""A name starting with this is a solar-system object located in each frame by SkyBoT."""

Resolver = Callable[[str], Target]


def _epoch(value: str, *, where: str) -> float:
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(Time(text, scale="utc").mjd)
    except ValueError as exc:
        raise ConfigError(f"{where}: epoch {value!r} is neither an MJD nor an ISO date") from exc


def _rate(value: str, *, where: str, what: str) -> float:
    try:
        rate = float(value) if value.strip() else 0.0
    except ValueError as exc:
        raise ConfigError(f"{where}: {what} {value!r} is not a number (arcsec per hour)") from exc
    if not math.isfinite(rate):
        raise ConfigError(f"{where}: {what} {value!r} is not finite")
    return rate


def _by_name(name: str, resolve: Resolver | None, *, where: str) -> Target:
    if name.lower().startswith(SKYBOT_PREFIX):
        body = name[len(SKYBOT_PREFIX):].strip()
        if not body:
            raise ConfigError(f"{where}: {name!r} names no solar-system object")
        return Target(name=body, solar_system=True, source="skybot")
    if resolve is None:
        raise ConfigError(f"{where}: {name!r} has no coordinates and no name resolver is available")
    return resolve(name)


def parse_target(text: str, *, resolve: Resolver | None = None, default_name: str | None = None) -> Target:
    """Return the target described by one ``--target`` value.

    ``"RA,DEC"`` or ``"RA,DEC,name"`` is a fixed position (RA in degrees or
    sexagesimal hours, Dec in degrees or sexagesimal degrees); text without a
    comma is a name: ``"skybot:<name>"`` is a solar-system object located per
    frame, anything else is given to ``resolve`` (SIMBAD, Astro-Colibri).

    Parameters
    ----------
    text : str
        The option's value.
    resolve : callable, optional
        ``resolve(name) -> Target`` (see :func:`rpf.targets.resolve_target`).
    default_name : str, optional
        Name of an unnamed position (default ``"RA,DEC"`` as given).

    Raises
    ------
    ConfigError
        Unreadable or out-of-range coordinates, an empty name, or a name
        that cannot be resolved (the resolver's error).
    """
    text = text.strip()
    where = f"target {text!r}"
    if "," not in text:
        if not text:
            raise ConfigError("target: empty value (use RA,DEC[,name] or a name)")
        return _by_name(text, resolve, where=where)
    parts = [p.strip() for p in text.split(",", 2)]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ConfigError(f"{where}: expected RA,DEC[,name]")
    try:
        ra, dec = parse_ra(parts[0]), parse_dec(parts[1])
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    name = parts[2] if len(parts) == 3 and parts[2] else (default_name or f"{parts[0]},{parts[1]}")
    return Target(name=name, ra=ra, dec=dec)


def read_targets_csv(path: str | os.PathLike[str], *, resolve: Resolver | None = None) -> tuple[Target, ...]:
    """Read targets from a CSV file with a header line.

    Columns: ``name`` (required), ``ra``, ``dec`` (degrees or sexagesimal;
    leave both empty to resolve the name, or write ``skybot:<name>``), and
    for a moving target ``epoch`` (MJD or ISO UTC date of ``ra, dec``),
    ``rate_ra`` (``dRA/dt cos Dec``) and ``rate_dec`` in arcsec per hour.
    Blank lines and lines starting with ``#`` are skipped.

    Raises
    ------
    ConfigError
        Unreadable file, missing ``name`` column, or a bad row (named by line).
    """
    path = Path(path)
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read targets ({exc.strerror})") from exc
    rows = list(csv.DictReader(lines))
    if not rows:
        raise ConfigError(f"{path}: no targets")
    header = {k.strip().lower() for k in rows[0] if k}
    if "name" not in header:
        raise ConfigError(f"{path}: the header must have a 'name' column (and ra, dec)")
    targets = []
    for number, raw in enumerate(rows, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"{path}, row {number}"
        name = row.get("name", "")
        if not name:
            raise ConfigError(f"{where}: empty name")
        if not row.get("ra") and not row.get("dec"):
            targets.append(_by_name(name, resolve, where=where))
            continue
        try:
            ra, dec = parse_ra(row.get("ra", "")), parse_dec(row.get("dec", ""))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        rate_ra = _rate(row.get("rate_ra", ""), where=where, what="rate_ra")
        rate_dec = _rate(row.get("rate_dec", ""), where=where, what="rate_dec")
        epoch = _epoch(row["epoch"], where=where) if row.get("epoch") else None
        try:
            targets.append(Target(name=name, ra=ra, dec=dec, epoch_mjd=epoch, rate_ra=rate_ra, rate_dec=rate_dec,
                                  source="file"))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
    return tuple(targets)


def unique_targets(targets: Sequence[Target]) -> tuple[Target, ...]:
    """Return ``targets`` in order, checking that their names are unique.

    Raises
    ------
    ConfigError
        Two targets share a name.
    """
    seen: set[str] = set()
    for target in targets:
        if target.name in seen:
            raise ConfigError(f"target name {target.name!r} is used twice")
        seen.add(target.name)
    return tuple(targets)
