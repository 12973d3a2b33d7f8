"""The reference catalogue of a frame: which cone, fetched once, and what Gaia said, as values.

Every fetch goes through :func:`fetch_reference`, which returns a
:class:`ReferenceFetch`: the table (or None), the cone it was asked for, the
log line, and the Gaia DR3 status as a :class:`~rpf.catalogs.ServiceReport`
(``ok``, ``skipped: offline``, ``failed: <why>``) decided from the catalogue
layer's result, so nothing downstream reads it back from the log.

A run fetches the reference of each group of overlapping header fields once
(:func:`rpf.pipeline.fields.fetch_group_reference`, eager and on Dask alike)
and attaches it before astrometry; the ``reference`` step after astrometry
fetches again only when the solved field is not inside that cone (a wrong
header pointing, or a frame without any that was solved blind).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from astropy.table import Table
from astropy.wcs import WCS

from rpf.catalogs import ServiceReport, get_reference
from rpf.catalogs.query import NotCached
from rpf.config import CatalogConfig, PipelineConfig
from rpf.coords import parse_dec, parse_ra
from rpf.errors import CatalogError
from rpf.frame import FrameMeta
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState

__all__ = [
    "ReferenceFetch",
    "attach_reference",
    "fetch_reference",
    "field_of",
    "reference_for_astrometry",
    "reference_report",
    "reference_step",
    "separation_deg",
]

_GAIA = "gaia_dr3"
_MARGIN = 1.05
"""A solved field's cone is its half-diagonal times this."""


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


@dataclass(frozen=True)
class ReferenceFetch:
    """The reference catalogue fetched for one cone.

    Attributes
    ----------
    table : astropy.table.Table or None
        The reference stars (Gaia DR3 column names; may be empty), None when
        no source could serve the cone.
    cone : tuple of float
        ``(ra, dec, radius_deg)`` asked for.
    message : str
        The log line: what was used, or why nothing could be.
    gaia : ServiceReport or None
        What Gaia DR3 gave (``ok`` with the rows and whether they came from
        the cache, ``skipped: offline``, ``failed: <why>``); None when Gaia is
        not the configured reference (a catalogue file, or Tycho-2).
    """

    table: Table | None
    cone: tuple[float, float, float]
    message: str
    gaia: ServiceReport | None = None


def _causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _gaia_status(reason: str, *, offline: bool) -> str:
    return "skipped: offline" if offline else f"failed: {reason}"


def _gaia_report(config: CatalogConfig, table: Table | None, error: CatalogError | None) -> ServiceReport | None:
    """Return the Gaia DR3 status of one fetch, from the table it gave or the errors it raised."""
    if config.catalog_file or config.reference != _GAIA:
        return None
    if table is not None and table.meta.get("catalog") == _GAIA:
        return ServiceReport(_GAIA, "ok", len(table), from_cache=bool(table.meta.get("from_cache")))
    prefix = f"{_GAIA}: "
    if error is not None:
        gaia = next((e for e in _causes(error) if str(e).startswith(prefix)), error)
        reason = str(gaia).removeprefix(prefix)
        return ServiceReport(_GAIA, _gaia_status(reason, offline=isinstance(gaia, NotCached)))
    notes = [str(n) for n in (table.meta.get("notes") or []) if str(n).startswith(prefix)]
    if not notes:
        return ServiceReport(_GAIA, "failed: no Gaia rows")
    reason = notes[0].removeprefix(prefix)
    return ServiceReport(_GAIA, _gaia_status(reason, offline=reason == "offline and not in the cache"))


def fetch_reference(
    cone: tuple[float, float, float], *, mjd: float | None, config: CatalogConfig, purpose: str = ""
) -> ReferenceFetch:
    """Fetch the reference catalogue of a cone; never raises (the one place a run fetches it).

    Parameters
    ----------
    cone : tuple of float
        ``(ra, dec, radius_deg)``.
    mjd : float or None
        Epoch for the proper motions.
    config : CatalogConfig
        Sources, cache and time limits.
    purpose : str
        Appended to the log line (e.g. ``"(shared by 3 frame(s))"``).

    Returns
    -------
    ReferenceFetch
        The table or None, the log line and Gaia's status.
    """
    ra, dec, radius = cone
    suffix = f" {purpose}" if purpose else ""
    try:
        table = get_reference(ra, dec, radius, epoch_mjd=mjd, config=config)
    except CatalogError as exc:
        return ReferenceFetch(None, cone, f"reference catalogue: none ({exc}){suffix}", _gaia_report(config, None, exc))
    name = table.meta.get("catalog", "?")
    message = f"reference catalogue: {len(table)} stars from {name} within {radius:.2f} deg{suffix}"
    return ReferenceFetch(table, cone, message, _gaia_report(config, table, None))


def attach_reference(state: FrameState, fetched: ReferenceFetch) -> FrameState:
    """Give a frame a fetched reference catalogue, its cone and Gaia's status (a failed frame passes)."""
    if state.error is not None:
        return state
    state = state.note(fetched.message)
    return state.evolve(reference=fetched.table, reference_cone=fetched.cone, reference_status=fetched.gaia,
                        reference_note=fetched.message)


def _skipped(state: FrameState, config: CatalogConfig, why: str) -> FrameState:
    """Record that no reference could be asked for (a frame whose sky position is unknown)."""
    status = None if config.catalog_file or config.reference != _GAIA else ServiceReport(_GAIA, f"skipped: {why}")
    message = f"reference catalogue: none ({why})"
    return state.evolve(reference_status=status, reference_note=message).note(message)


def reference_for_astrometry(state: FrameState, ctx: RunContext) -> FrameState:
    """Before astrometry: the header field's reference, unless the run already attached (or tried) it.

    A run attaches the reference of the frame's field group; a frame whose
    header could not be read where the run was planned fetches its own here.
    """
    try:  # read here in every run, so that astropy's warnings about the header's WCS reach the frame's log
        header_wcs = WCS(state.frame.header, naxis=2)
    except Exception:  # noqa: BLE001 - malformed WCS keywords: the astrometry stage reports them
        header_wcs = None
    if state.reference is not None or state.reference_cone is not None:
        return state
    cone = field_of(state.frame.meta, header_wcs, ctx.config)
    if cone is None:
        return _skipped(state, ctx.config.catalogs, "no pointing or pixel scale to define the field")
    return attach_reference(state, fetch_reference(cone, mjd=state.frame.meta.mjd_mid, config=ctx.config.catalogs))


def separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance between two sky positions (degrees in, degrees out)."""
    r1, d1, r2, d2 = (math.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def solved_cone(state: FrameState) -> tuple[float, float, float]:
    """Return the cone of the frame's solved field: WCS centre, half-diagonal (with a 5 % margin)."""
    solution = state.wcs
    ny, nx = state.frame.data.shape
    scale = solution.pixel_scale_arcsec or state.frame.meta.pixel_scale
    return float(solution.center_ra), float(solution.center_dec), _MARGIN * math.hypot(nx, ny) / 2 * scale / 3600.0


def covers(outer: tuple[float, float, float] | None, inner: tuple[float, float, float]) -> bool:
    """Return True when the cone ``outer`` contains the cone ``inner`` (an unknown ``outer`` is trusted)."""
    if outer is None:
        return True
    return separation_deg(outer[0], outer[1], inner[0], inner[1]) + inner[2] <= outer[2] * (1 + 1e-9)


def reference_step(state: FrameState, ctx: RunContext) -> FrameState:
    """Make sure the reference catalogue covers the field the astrometry found.

    A reference fetched for the header pointing is kept when its cone holds
    the solved field; otherwise (a wrong pointing, or none and a blind
    solve) the catalogue is fetched for the solved field, whatever the header
    said.  Without an astrometric solution nothing changes.
    """
    solution = state.wcs
    if solution is None or solution.wcs is None:
        return state.note("reference: no astrometric solution; the reference catalogue is not used")
    cone = solved_cone(state)
    if state.reference is not None and covers(state.reference_cone, cone):
        name = state.reference.meta.get("catalog", "?")
        return state.note(f"reference: {len(state.reference)} stars from {name} cover the solved field")
    fetched = fetch_reference(cone, mjd=state.frame.meta.mjd_mid, config=ctx.config.catalogs,
                              purpose="for the solved field")
    state = state.note(fetched.message).evolve(reference_note=fetched.message)
    if fetched.table is None and state.reference is not None:
        return state.evolve(reference_status=fetched.gaia or state.reference_status)
    return state.evolve(reference=fetched.table, reference_cone=cone, reference_status=fetched.gaia)


def reference_report(state: FrameState, config: CatalogConfig) -> ServiceReport | None:
    """Return what the Gaia DR3 service gave a frame, for its ``services`` metadata.

    The status recorded when the reference was fetched (``ok``, ``failed:
    <why>``, ``skipped: offline``, ``skipped: <why>`` when the field was
    unknown), with the number of detections matched to Gaia stars; None when
    Gaia is not the configured reference (``catalog_file`` or ``reference =
    "tycho2"``).
    """
    if config.catalog_file or config.reference != _GAIA:
        return None
    status = state.reference_status
    if status is None:
        return ServiceReport(_GAIA, "skipped: reference not fetched")
    phot = state.phot
    matched = 0
    if status.status == "ok" and phot is not None and "cat_id" in phot.colnames:
        matched = int((phot["cat_id"] != "").sum())
    return ServiceReport(_GAIA, status.status, status.n_rows, from_cache=status.from_cache, n_matched=matched)
