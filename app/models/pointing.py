"""Manual pointing (RA/Dec, scale, rotation, flip) and the observatory, written into the settings.

Frames that will not plate-solve need the telescope's pointing: the user
types it here in any form :mod:`rpf.coords` reads (degrees, ``hh:mm:ss``,
``dd:mm:ss``) and it lands in the ``astrometry`` section (``mode = "manual"``
makes it the WCS itself).  The observatory comes from the presets of
:mod:`rpf.site` or is added by the user, and fills the ``header`` section's
site fields.
"""

from __future__ import annotations

from typing import Any

import param

from app.models.settings import Settings
from rpf.coords import parse_position
from rpf.errors import ConfigError
from rpf.site import PRESET_OBSERVATORIES, Observatory

__all__ = ["Pointing"]


class Pointing(param.Parameterized):
    """What the user says about where the telescope pointed and where it stands.

    Parameters
    ----------
    settings : Settings
        The session's settings, written by :meth:`apply` and :meth:`choose_observatory`.
    """

    settings = param.ClassSelector(class_=Settings, doc="The session's settings.")
    ra = param.String(default="", doc="Right ascension: degrees, or hours as hh:mm:ss / 'hh mm ss'.")
    dec = param.String(default="", doc="Declination: degrees or dd:mm:ss.")
    pixel_scale = param.Number(default=None, allow_None=True, bounds=(0, 3600), inclusive_bounds=(False, True),
                               doc="Pixel scale (arcsec/pixel).")  # fmt: skip
    rotation_deg = param.Number(default=0.0, bounds=(-360, 360), doc="Position angle of the frame's y axis (deg).")
    flip = param.Boolean(default=False, doc="The frame is mirrored (East and West swapped).")
    manual = param.Boolean(default=False, doc="Use this pointing as the WCS itself (frames that will not solve).")
    observatories = param.List(default=list(PRESET_OBSERVATORIES), item_type=Observatory,
                               doc="Presets and the sites added in this session.")  # fmt: skip
    observatory = param.String(default="", doc="Name of the chosen observatory ('' = from the frame headers).")
    message = param.String(default="", doc="The outcome of the last action, in words.")

    def apply(self) -> bool:
        """Write the pointing into the ``astrometry`` (and ``header.pixel_scale``) settings.

        Empty RA and Dec clear the pointing.  Returns False, with
        :attr:`message` saying why, when a value cannot be read.
        """
        try:
            if self.ra.strip() or self.dec.strip():
                position = parse_position(self.ra, self.dec)
                ra, dec = float(position.ra.deg), float(position.dec.deg)
            else:
                ra = dec = None
        except (ConfigError, ValueError) as exc:
            self.message = f"pointing not applied: {exc}"
            return False
        if self.manual and (ra is None or self.pixel_scale is None):
            self.message = "pointing not applied: a manual WCS needs RA, Dec and the pixel scale"
            return False
        astrometry: dict[str, Any] = {"ra": ra, "dec": dec, "pixel_scale": self.pixel_scale,
                                      "rotation_deg": self.rotation_deg, "flip": self.flip}  # fmt: skip
        sections = self.settings.sections
        if self.manual:
            astrometry["mode"] = "manual"
        elif sections["astrometry"].mode == "manual":
            astrometry["mode"] = "auto"
        sections["astrometry"].param.update(**astrometry)
        sections["header"].pixel_scale = self.pixel_scale
        where = "cleared" if ra is None else f"RA {ra:.5f}°, Dec {dec:+.5f}°"
        self.message = f"pointing {where}" + (" (manual WCS)" if self.manual else "")
        return True

    def choose_observatory(self, name: str) -> Observatory | None:
        """Put a site's name and coordinates into the ``header`` settings ('' clears them).

        Raises
        ------
        ConfigError
            No site of that name.
        """
        header = self.settings.sections["header"]
        if not name:
            header.param.update(observatory="", site_lat=None, site_lon=None, site_elev=None)
            self.param.update(observatory="", message="observatory: taken from the frame headers")
            return None
        site = next((s for s in self.observatories if s.name == name), None)
        if site is None:
            raise ConfigError(f"unknown observatory {name!r}")
        header.param.update(observatory=site.name, site_lat=site.lat, site_lon=site.lon, site_elev=site.elev)
        self.param.update(observatory=site.name, message=f"observatory: {site.name}")
        return site

    def add_observatory(self, name: str, lat: float, lon: float, elev: float = 0.0, mpc_code: str = "") -> bool:
        """Add a site (validated by :class:`rpf.site.Observatory`) and choose it; False with a message if refused."""
        try:
            if not name.strip():
                raise ConfigError("an observatory needs a name")
            site = Observatory(name.strip(), float(lat), float(lon), float(elev), mpc_code.strip())
        except (ConfigError, TypeError, ValueError) as exc:
            self.message = f"observatory not added: {exc}"
            return False
        self.observatories = [*(s for s in self.observatories if s.name != site.name), site]
        self.choose_observatory(site.name)
        return True
