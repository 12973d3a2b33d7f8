"""What a follow-up observation is pointed at: a fixed or a moving target."""

from __future__ import annotations

import math
from dataclasses import dataclass

import astropy.units as u
from astropy.coordinates import SkyCoord

from rpf.errors import ConfigError

__all__ = ["Target"]

_HOURS_PER_DAY = 24.0


@dataclass(frozen=True)
class Target:
    """A source to measure in every frame, whether or not it is detected.

    Attributes
    ----------
    name : str
        Name used in the products (unique within a run).
    ra, dec : float or None
        ICRS position in degrees at ``epoch_mjd`` (any epoch for a fixed
        target); None for a solar-system object located per frame by SkyBoT.
    epoch_mjd : float or None
        Epoch (UTC MJD) of ``ra, dec`` for a moving target.
    rate_ra : float
        Apparent motion ``d(RA)/dt * cos(Dec)`` in arcsec per hour.
    rate_dec : float
        Apparent motion ``d(Dec)/dt`` in arcsec per hour.
    solar_system : bool
        Located in each frame by name in the SkyBoT answer at mid-exposure.
    source : str
        Where the target came from: ``"user"``, ``"file"``, ``"simbad"``,
        ``"colibri"`` or ``"skybot"``.
    """

    name: str
    ra: float | None = None
    dec: float | None = None
    epoch_mjd: float | None = None
    rate_ra: float = 0.0
    rate_dec: float = 0.0
    solar_system: bool = False
    source: str = "user"

    def __post_init__(self) -> None:
        if not str(self.name).strip():
            raise ConfigError("target: a target needs a name")
        if self.solar_system:
            return
        if self.ra is None or self.dec is None:
            raise ConfigError(f"target {self.name!r}: RA and Dec are required (or a solar-system name)")
        if not (math.isfinite(self.ra) and 0.0 <= self.ra < 360.0):
            raise ConfigError(f"target {self.name!r}: RA {self.ra!r} is out of range (0 to 360 degrees)")
        if not (math.isfinite(self.dec) and -90.0 <= self.dec <= 90.0):
            raise ConfigError(f"target {self.name!r}: Dec {self.dec!r} is out of range (-90 to +90 degrees)")
        for what, rate in (("rate_ra", self.rate_ra), ("rate_dec", self.rate_dec)):
            if not math.isfinite(rate):
                raise ConfigError(f"target {self.name!r}: {what} {rate!r} is not finite")
        if self.moving and self.epoch_mjd is None:
            raise ConfigError(f"target {self.name!r}: a moving target needs the epoch of its position")

    @property
    def moving(self) -> bool:
        """True for a target with a rate of motion or located by SkyBoT."""
        return self.solar_system or self.rate_ra != 0.0 or self.rate_dec != 0.0

    def position_at(self, mjd: float | None) -> tuple[float, float]:
        """Return ``(ra, dec)`` in degrees at ``mjd`` (UTC MJD, e.g. the mid-exposure time).

        A fixed target is where it is; a moving one is moved along a great
        circle by its rates times the time since ``epoch_mjd``.

        Raises
        ------
        ConfigError
            A solar-system target (use :func:`rpf.targets.locate_solar_system`),
            or a moving target without the frame's time.
        """
        if self.solar_system:
            raise ConfigError(f"target {self.name!r}: a solar-system target is located per frame by SkyBoT")
        if not self.moving:
            return float(self.ra), float(self.dec)
        if mjd is None or not math.isfinite(mjd):
            raise ConfigError(f"target {self.name!r}: a moving target needs the frame's mid-exposure time")
        hours = (float(mjd) - float(self.epoch_mjd)) * _HOURS_PER_DAY
        east = math.radians(self.rate_ra * hours / 3600.0)
        north = math.radians(self.rate_dec * hours / 3600.0)
        return _offset(float(self.ra), float(self.dec), east, north)


def _offset(ra: float, dec: float, east: float, north: float) -> tuple[float, float]:
    """Move ``(ra, dec)`` by the arc ``hypot(east, north)`` (radians) towards position angle ``atan2(east, north)``."""
    if east == 0.0 and north == 0.0:
        return ra, dec
    moved = SkyCoord(ra * u.deg, dec * u.deg).directional_offset_by(
        math.atan2(east, north) * u.rad, math.hypot(east, north) * u.rad
    )
    return float(moved.ra.deg) % 360.0, float(moved.dec.deg)
