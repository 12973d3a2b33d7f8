"""Turning the stage inputs into arrays and hints for the solvers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from rpf.config import AstrometryConfig
from rpf.coords import parse_dec, parse_ra
from rpf.errors import AstrometryError
from rpf.flags import SourceFlag
from rpf.frame import FrameMeta

__all__ = ["Hints", "reference_arrays", "solver_hints", "source_positions"]

#: Flags whose sources are left out of the matching (when enough others remain).
_UNUSABLE = int(SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL | SourceFlag.EXTENDED)
#: Magnitude columns tried, in order, to rank reference stars.
_MAG_COLUMNS = ("phot_g_mean_mag", "VT_mag", "V_mag", "G_mag", "R_mag", "r_mag", "g_mag", "BT_mag", "mag")


@dataclass(frozen=True)
class Hints:
    """Pointing and pixel scale known before solving, with where they came from."""

    ra: float | None
    dec: float | None
    pixel_scale: float | None
    origin: str


def _values(column: object) -> np.ndarray:
    return np.asarray(getattr(column, "value", column), float)


def source_positions(sources: Table) -> np.ndarray:
    """Return ``(n, 2)`` 0-based ``x, y`` of the usable sources, brightest first."""
    x, y = _values(sources["x"]), _values(sources["y"])
    flux_name = next((n for n in ("flux", "flux_iso", "flux_auto", "peak") if n in sources.colnames), None)
    flux = _values(sources[flux_name]) if flux_name else np.zeros(len(x))
    good = np.isfinite(x) & np.isfinite(y)
    if "flags" in sources.colnames:
        clean = good & ((np.asarray(sources["flags"]).astype(np.int64) & _UNUSABLE) == 0)
        good = clean if clean.sum() >= 5 else good
    idx = np.flatnonzero(good)
    order = np.argsort(-np.nan_to_num(flux[idx], nan=-np.inf), kind="stable")
    return np.column_stack([x[idx[order]], y[idx[order]]])


def reference_arrays(reference: Table | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Return ``(ra, dec)`` of the reference stars brightest first, or None without a usable table."""
    if reference is None or len(reference) == 0 or not {"ra", "dec"} <= set(reference.colnames):
        return None
    ra, dec = _values(reference["ra"]), _values(reference["dec"])
    name = next((n for n in _MAG_COLUMNS if n in reference.colnames), None)
    if name is None:
        name = next((n for n in reference.colnames if n.endswith("_mag")), None)
    mag = _values(reference[name]) if name else np.zeros(len(ra))
    good = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    order = good[np.argsort(np.nan_to_num(mag[good], nan=np.inf), kind="stable")]
    return ra[order], dec[order]


def solver_hints(config: AstrometryConfig, meta: FrameMeta, fallback: tuple[float, float, float] | None) -> Hints:
    """Return the pointing and scale: config first, then the header values, then a rejected header WCS.

    Raises
    ------
    AstrometryError
        A non-positive pixel scale.
    rpf.errors.ConfigError
        A configured angle cannot be read (a validated configuration always can).
    """
    origins = []
    ra = dec = None
    if config.ra is not None and config.dec is not None:
        ra, dec = parse_ra(config.ra), parse_dec(config.dec)
        origins.append("pointing from config")
    elif meta.ra is not None and meta.dec is not None:
        ra, dec = float(meta.ra), float(meta.dec)
        origins.append("pointing from header")
    elif fallback is not None:
        ra, dec = fallback[0], fallback[1]
        origins.append("pointing from the rejected header WCS")
    scale = config.pixel_scale or meta.pixel_scale
    if scale:
        origins.append("scale from " + ("config" if config.pixel_scale else "header"))
    elif fallback is not None:
        scale = fallback[2]
        origins.append("scale from the rejected header WCS")
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        msg = f"pixel scale {scale} is not positive"
        raise AstrometryError(msg)
    return Hints(ra, dec, float(scale) if scale else None, ", ".join(origins))
