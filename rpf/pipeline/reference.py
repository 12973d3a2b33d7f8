"""Which reference catalogue a frame needs, and fetching it once per field."""

from __future__ import annotations

import math

from astropy.coordinates import Angle
from astropy.table import Table
from astropy.wcs import WCS

from rpf.catalogs import get_reference
from rpf.config import CatalogConfig, PipelineConfig
from rpf.errors import CatalogError
from rpf.frame import FrameMeta
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState

__all__ = ["fetch_reference_for_field", "field_of", "reference_for_astrometry"]


def _angle(value: str | float | None, unit: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        return Angle(text, unit=unit).degree


def field_of(meta: FrameMeta, header_wcs: WCS | None, config: PipelineConfig) -> tuple[float, float, float] | None:
    """Return ``(ra, dec, radius_deg)`` of the sky a frame may cover, or None.

    The centre comes from the configured pointing, else a celestial header
    WCS, else the header pointing; the radius is the half-diagonal of the
    frame plus the pointing search radius.
    """
    ast = config.astrometry
    ra = _angle(ast.ra, "hourangle") if isinstance(ast.ra, str) and ":" in ast.ra else _angle(ast.ra, "deg")
    dec = _angle(ast.dec, "deg")
    ny, nx = meta.shape
    scale = ast.pixel_scale or meta.pixel_scale
    if (ra is None or dec is None) and header_wcs is not None and header_wcs.has_celestial:
        try:
            ra, dec = (float(v) for v in header_wcs.celestial.all_pix2world((nx - 1) / 2, (ny - 1) / 2, 0))
        except Exception:  # noqa: BLE001 - an unusable header WCS just means no centre from it
            ra = dec = None
    if ra is None or dec is None:
        ra, dec = meta.ra, meta.dec
    if ra is None or dec is None or not scale:
        return None
    half_diag = math.hypot(nx, ny) / 2 * scale / 3600.0
    return float(ra), float(dec), half_diag + min(ast.search_radius_deg, 2.0)


def fetch_reference_for_field(
    ra: float, dec: float, radius_deg: float, mjd: float | None, config: CatalogConfig
) -> tuple[Table | None, str]:
    """Fetch the reference catalogue of a field; never raises.

    Returns
    -------
    table : Table or None
        The reference stars (Gaia DR3 column names) or None.
    message : str
        What was used, or why nothing could be.
    """
    try:
        table = get_reference(ra, dec, radius_deg, epoch_mjd=mjd, config=config)
    except CatalogError as exc:
        return None, f"reference catalogue: none ({exc})"
    name = table.meta.get("catalog", "?")
    return table, f"reference catalogue: {len(table)} stars from {name} within {radius_deg:.2f} deg"


def reference_for_astrometry(state: FrameState, ctx: RunContext) -> tuple[Table | None, str]:
    """Return the reference catalogue for a frame (prefetched or fetched now)."""
    if state.reference is not None:
        return state.reference, ""
    try:
        header_wcs = WCS(state.frame.header, naxis=2)
    except Exception:  # noqa: BLE001 - malformed WCS keywords: the astrometry stage reports them
        header_wcs = None
    field = field_of(state.frame.meta, header_wcs, ctx.config)
    if field is None:
        return None, "reference catalogue: none (no pointing or pixel scale to define the field)"
    ra, dec, radius = field
    table, message = fetch_reference_for_field(ra, dec, radius, state.frame.meta.mjd_mid, ctx.config.catalogs)
    if table is not None and len(table) == 0:
        return None, message
    return table, message

