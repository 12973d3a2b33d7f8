"""Which reference catalogue a frame needs, and fetching it once per field."""

from __future__ import annotations

import math
import re

from astropy.table import Table
from astropy.wcs import WCS

from rpf.catalogs import ServiceReport, get_reference
from rpf.config import CatalogConfig, PipelineConfig
from rpf.coords import parse_dec, parse_ra
from rpf.errors import CatalogError
from rpf.frame import FrameMeta
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState

__all__ = ["fetch_reference_for_field", "field_of", "reference_for_astrometry", "reference_report"]

_NONE = "reference catalogue: none ("


def field_of(meta: FrameMeta, header_wcs: WCS | None, config: PipelineConfig) -> tuple[float, float, float] | None:
    """Return ``(ra, dec, radius_deg)`` of the sky a frame may cover, or None.

    The centre comes from the configured pointing, else a celestial header
    WCS, else the header pointing; the radius is the half-diagonal of the
    frame plus the pointing search radius.
    """
    ast = config.astrometry
    ra = None if ast.ra is None else parse_ra(ast.ra)
    dec = None if ast.dec is None else parse_dec(ast.dec)
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
        return None, f"{_NONE}{exc})"
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
        return None, f"{_NONE}no pointing or pixel scale to define the field)"
    ra, dec, radius = field
    table, message = fetch_reference_for_field(ra, dec, radius, state.frame.meta.mjd_mid, ctx.config.catalogs)
    if table is not None and len(table) == 0:
        return None, message
    return table, message



def _status(reason: str) -> str:
    return "skipped: offline" if reason == "offline and not in the cache" else f"failed: {reason}"


def _failure(message: str) -> str:
    """Return the Gaia status told by a ``reference catalogue: none (...)`` log line."""
    text = re.sub(r" \(shared by \d+ frame\(s\)\)$", "", message).removeprefix(_NONE).removesuffix(")")
    found = re.search(r"gaia_dr3: (.*?)(?:; |$)", text)
    return _status(found[1]) if found else f"skipped: {text}"


def reference_report(state: FrameState, config: CatalogConfig) -> ServiceReport | None:
    """Return what the Gaia DR3 service gave a frame, for its ``services`` metadata.

    ``ok`` with the number of reference rows (and whether they came from the
    cache), ``failed: <why>`` when Gaia could not serve the field (the frame
    then has the Tycho-2 stars or no reference), ``skipped: offline``, or
    ``skipped: <why>`` when the field was unknown.  None when Gaia is not the
    configured reference (``catalog_file`` or ``reference = "tycho2"``).
    """
    if config.catalog_file or config.reference != "gaia_dr3":
        return None
    reference = state.reference
    if reference is not None and reference.meta.get("catalog") == "gaia_dr3":
        phot = state.phot
        matched = int((phot["cat_id"] != "").sum()) if phot is not None and "cat_id" in phot.colnames else 0
        return ServiceReport("gaia_dr3", "ok", len(reference), from_cache=bool(reference.meta.get("from_cache")),
                             n_matched=matched)
    if reference is not None:
        notes = [n for n in reference.meta.get("notes", []) if n.startswith("gaia_dr3: ")]
        reason = notes[0].removeprefix("gaia_dr3: ") if notes else "no Gaia rows"
        return ServiceReport("gaia_dr3", _status(reason))
    lines = [line for line in state.log if line.startswith(_NONE)]
    return ServiceReport("gaia_dr3", _failure(lines[-1]) if lines else "skipped: reference not fetched")
