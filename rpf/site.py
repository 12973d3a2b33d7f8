"""Observatory sites: a validated record, a few real presets and a resolver.

A site comes, in this order, from the frame's header (latitude, longitude,
elevation), from an observatory name or MPC code in the header that matches a
preset or a user's saved list, or from the configuration.  Longitudes are
east-positive degrees, elevations metres above sea level.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from rpf.config import HeaderDefaults
from rpf.errors import ConfigError
from rpf.frame import FrameMeta

__all__ = [
    "PRESET_OBSERVATORIES",
    "Observatory",
    "find_observatory",
    "load_observatories",
    "resolve_site",
    "save_observatories",
]


@dataclass(frozen=True)
class Observatory:
    """An observing site.

    Attributes
    ----------
    name : str
        Human-readable name.
    lat : float
        Geodetic latitude in degrees (-90..90).
    lon : float
        East longitude in degrees (-180..360; stored as given).
    elev : float
        Elevation in metres above sea level (-500..9000).
    mpc_code : str
        Minor Planet Center observatory code (three characters) or ``""``.
    """

    name: str
    lat: float
    lon: float
    elev: float = 0.0
    mpc_code: str = ""

    def __post_init__(self) -> None:
        values = (self.lat, self.lon, self.elev)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
            raise ConfigError(f"observatory {self.name!r}: latitude, longitude and elevation must be finite numbers")
        if not -90.0 <= self.lat <= 90.0:
            raise ConfigError(f"observatory {self.name!r}: latitude {self.lat} is outside -90..90 degrees")
        if not -180.0 <= self.lon <= 360.0:
            raise ConfigError(f"observatory {self.name!r}: longitude {self.lon} is outside -180..360 degrees")
        if not -500.0 <= self.elev <= 9000.0:
            raise ConfigError(f"observatory {self.name!r}: elevation {self.elev} m is outside -500..9000 m")
        code = self.mpc_code.strip()
        if code and (len(code) != 3 or not code.isalnum()):
            raise ConfigError(f"observatory {self.name!r}: MPC code {self.mpc_code!r} must be three letters/digits")


PRESET_OBSERVATORIES: tuple[Observatory, ...] = (
    Observatory("Observatoire de Haute-Provence", 43.9317, 5.7125, 650.0, "511"),
    Observatory("Pic du Midi", 42.9364, 0.1425, 2877.0, "586"),
    Observatory("Calern (Observatoire de la Cote d'Azur)", 43.7536, 6.9222, 1270.0, "010"),
    Observatory("Roque de los Muchachos, La Palma", 28.7606, -17.8814, 2326.0, "950"),
    Observatory("Teide Observatory, Tenerife", 28.3003, -16.5117, 2390.0, "954"),
    Observatory("La Silla (ESO)", -29.2567, -70.7300, 2400.0, "809"),
    Observatory("Cerro Tololo", -30.1692, -70.8065, 2207.0, "807"),
    Observatory("Kitt Peak", 31.9583, -111.6000, 2096.0, "695"),
    Observatory("Mauna Kea", 19.8261, -155.4747, 4190.0, "568"),
    Observatory("Siding Spring", -31.2733, 149.0617, 1149.0, "413"),
)
"""Real observatories available by name or MPC code."""


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def find_observatory(name_or_code: str, *, extra: Iterable[Observatory] = ()) -> Observatory:
    """Return the observatory whose name or MPC code matches.

    Parameters
    ----------
    name_or_code : str
        A name (case, spaces and punctuation ignored; a unique prefix is
        enough) or a three-character MPC code.
    extra : iterable of Observatory
        A user's saved sites, searched before the presets.

    Raises
    ------
    ConfigError
        No site, or several sites, match.
    """
    key = _key(name_or_code)
    sites = (*extra, *PRESET_OBSERVATORIES)
    if not key:
        raise ConfigError("empty observatory name")
    for site in sites:
        if key == _key(site.mpc_code) or key == _key(site.name):
            return site
    matches = [site for site in sites if _key(site.name).startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ConfigError(f"unknown observatory {name_or_code!r}")
    raise ConfigError(f"observatory {name_or_code!r} is ambiguous: {', '.join(s.name for s in matches)}")


def load_observatories(path: str | os.PathLike[str]) -> tuple[Observatory, ...]:
    """Read a saved list of sites (a JSON array of objects with the fields of :class:`Observatory`).

    Raises
    ------
    ConfigError
        The file cannot be read, is not such a list, or holds an invalid site.
    """
    path = Path(path)
    try:
        items = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read observatory list: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise ConfigError(f"{path}: an observatory list must be a JSON array of objects")
    try:
        return tuple(Observatory(**item) for item in items)
    except TypeError as exc:
        raise ConfigError(f"{path}: invalid observatory entry: {exc}") from exc


def save_observatories(sites: Iterable[Observatory], path: str | os.PathLike[str]) -> None:
    """Write sites as a JSON array readable by :func:`load_observatories`."""
    Path(path).write_text(json.dumps([asdict(site) for site in sites], indent=2))


def _from_values(name: str, lat: float | None, lon: float | None, elev: float | None) -> Observatory | None:
    if lat is None or lon is None:
        return None
    return Observatory(name or "site", float(lat), float(lon), float(elev or 0.0))


def resolve_site(
    meta: FrameMeta, config: HeaderDefaults | None = None, *, saved: Iterable[Observatory] = ()
) -> Observatory | None:
    """Return the frame's observing site, or ``None`` when nothing names one.

    Parameters
    ----------
    meta : FrameMeta
        Normalised header values (``site_lat``, ``site_lon``, ``site_elev``,
        ``observatory``).
    config : HeaderDefaults, optional
        Configured site coordinates or observatory name, used when the header
        has none.
    saved : iterable of Observatory
        A user's saved sites, matched by name or MPC code before the presets.

    Raises
    ------
    ConfigError
        The coordinates are invalid, or a configured observatory name is
        unknown.
    """
    saved = tuple(saved)
    site = _from_values(meta.observatory, meta.site_lat, meta.site_lon, meta.site_elev)
    if site is not None:
        return site
    if meta.observatory:
        try:
            return find_observatory(meta.observatory, extra=saved)
        except ConfigError:
            pass
    if config is None:
        return None
    site = _from_values(config.observatory, config.site_lat, config.site_lon, config.site_elev)
    if site is not None:
        return site
    if config.observatory:
        return find_observatory(config.observatory, extra=saved)
    return None
