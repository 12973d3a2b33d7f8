"""The astrometry stage: header WCS, pointing-assisted and blind solving, manual WCS."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from rpf.astrometry.header import header_wcs
from rpf.astrometry.index import build_index, quad_range_arcmin
from rpf.astrometry.inputs import Hints, reference_arrays, solver_hints, source_positions
from rpf.astrometry.manual import manual_wcs
from rpf.astrometry.match import tangent_plane, verify_wcs
from rpf.astrometry.refine import Refinement, refine_wcs
from rpf.astrometry.solution import WcsSolution, wcs_geometry
from rpf.astrometry.solve_field import SolveHints, run_solve_field
from rpf.astrometry.triangles import solve_triangles
from rpf.config import AstrometryConfig
from rpf.errors import AstrometryError
from rpf.frame import FrameMeta
from rpf.index_files import index_files, index_scale_range_arcmin, read_tycho2_cone
from rpf.skymatch import unit_vectors

__all__ = ["solve_wcs"]

Reference = tuple[np.ndarray, np.ndarray]


class _Clock:
    def __init__(self, limit_s: float) -> None:
        self.start, self.limit = time.monotonic(), limit_s

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return max(self.limit - self.elapsed(), 0.0)


#: Fewest reference stars inside the frame to verify a header WCS (else it is kept unverified).
MIN_VERIFY_STARS = 8


def _radius_px(scale_arcsec: float) -> float:
    return max(5.0, 10.0 / scale_arcsec)


def _result(wcs: WCS, source: str, method: str, refinement: Refinement | None, *, shape: tuple[int, int],
            message: str, clock: _Clock) -> WcsSolution:
    geo = wcs_geometry(wcs, shape=shape)
    stats = {}
    if refinement is not None:
        stats = {"rms_arcsec": refinement.rms_arcsec, "n_matches": refinement.n_matches,
                 "matched_fraction": refinement.verification.matched_fraction}
    return WcsSolution(wcs=wcs, source=source, method=method, pixel_scale_arcsec=geo.pixel_scale_arcsec,
                       center_ra=geo.center_ra, center_dec=geo.center_dec, rotation_deg=geo.rotation_deg,
                       flipped=geo.flipped, message=message, elapsed_s=clock.elapsed(), **stats)


def _failure(notes: list[str], clock: _Clock) -> WcsSolution:
    return WcsSolution(wcs=None, source="none", message="could not solve: " + "; ".join(notes),
                       elapsed_s=clock.elapsed())


def _refine(wcs: WCS, xy: np.ndarray, ref: Reference, *, shape: tuple[int, int], config: AstrometryConfig,
            radius_px: float | None = None) -> Refinement:
    scale = wcs_geometry(wcs, shape=shape).pixel_scale_arcsec
    refinement = refine_wcs(wcs, xy=xy, ref_ra=ref[0], ref_dec=ref[1], shape=shape,
                            sip_order=config.sip_order if config.refine else 0,
                            radius_px=radius_px or _radius_px(scale))
    if not refinement.verification.ok:
        v = refinement.verification
        msg = (f"verification failed: {v.n_matches} bright sources matched ({v.matched_fraction:.0%}) "
               f"of {v.n_reference} reference stars in the frame")
        raise AstrometryError(msg)
    return refinement


def _tycho_reference(ra: float, dec: float, radius_deg: float, config: AstrometryConfig) -> Reference | None:
    try:
        table = read_tycho2_cone(ra, dec, radius_deg, index_dir=config.index_dir)
    except AstrometryError:
        return None
    return reference_arrays(table)


def _check_covered(ra: float, dec: float, ref: Reference | None, *, min_radius_deg: float) -> None:
    """Raise when the reference stars lie around another part of the sky than ``(ra, dec)``.

    A header WCS with too few reference stars in its frame is kept
    unverified only if the reference covers where it points; one that
    points elsewhere (e.g. a placeholder at RA = Dec = 0) is rejected.  A
    sparse reference (a few Tycho-2 stars) says little about the area that
    was queried, so the covered radius is at least ``min_radius_deg``.
    """
    if ref is None:
        return
    vec = unit_vectors(ref[0], ref[1])
    mean = vec.mean(axis=0)
    centre = mean / np.linalg.norm(mean)
    radius = max(np.degrees(np.arccos(np.clip(vec @ centre, -1.0, 1.0))).max(), min_radius_deg)
    distance = float(np.degrees(np.arccos(np.clip(np.dot(centre, unit_vectors(ra, dec)[0]), -1.0, 1.0))))
    if distance > radius:
        msg = (f"the header WCS points {distance:.2f} deg from the centre of the reference catalogue, "
               f"outside its {radius:.2f} deg radius")
        raise AstrometryError(msg)


def _half_diagonal_deg(shape: tuple[int, int], scale: float) -> float:
    return 0.5 * math.hypot(*shape) * scale / 3600.0


def _try_header(wcs: WCS, xy: np.ndarray, ref: Reference | None, *, shape: tuple[int, int],
                config: AstrometryConfig, clock: _Clock) -> WcsSolution:
    geo = wcs_geometry(wcs, shape=shape)
    checked_against = "the reference catalogue"
    if ref is None:
        ref = _tycho_reference(geo.center_ra, geo.center_dec, _half_diagonal_deg(shape, geo.pixel_scale_arcsec),
                               config)
        checked_against = "Tycho-2 stars"
    in_frame = 0 if ref is None else verify_wcs(wcs, xy=xy, ref_ra=ref[0], ref_dec=ref[1], shape=shape,
                                                radius_px=_radius_px(geo.pixel_scale_arcsec)).n_reference
    if in_frame < MIN_VERIFY_STARS:
        reach = _half_diagonal_deg(shape, geo.pixel_scale_arcsec) + config.search_radius_deg
        _check_covered(geo.center_ra, geo.center_dec, ref, min_radius_deg=reach)
        return _result(wcs, "header", "header", None, shape=shape, clock=clock,
                       message=f"header WCS valid; not verified ({in_frame} stars of {checked_against} in the "
                               f"frame, {MIN_VERIFY_STARS} needed: no reference catalogue covers the field)")
    refinement = _refine(wcs, xy, ref, shape=shape, config=config)
    kept = refinement.wcs if config.refine else wcs
    what = f"refined (SIP order {refinement.sip_order})" if config.refine else "kept as written"
    message = (f"header WCS verified against {checked_against}: {refinement.n_matches} matches, "
               f"RMS {refinement.rms_arcsec:.3f}\"; {what}")
    return _result(kept, "header", "header", refinement, shape=shape, message=message, clock=clock)


def _index_dir_files(config: AstrometryConfig, shape: tuple[int, int], scale: float | None) -> list[Path]:
    files = index_files(config.index_dir)
    if scale is None:
        return files
    side = min(shape) * scale / 60.0
    diag = math.hypot(*shape) * scale / 60.0
    usable = []
    for path in files:
        low, high = index_scale_range_arcmin(path)
        if high >= 0.1 * side and low <= diag:
            usable.append(path)
    return usable


def _solve_index_dir(xy: np.ndarray, hints: Hints, *, shape: tuple[int, int], config: AstrometryConfig,
                     clock: _Clock, assisted: bool) -> WCS:
    files = _index_dir_files(config, shape, hints.pixel_scale)
    if not files:
        fov = "" if hints.pixel_scale is None else f" for a {min(shape) * hints.pixel_scale / 60:.1f}' field"
        msg = f"no suitable astrometry.net index files in {config.index_dir}{fov}"
        raise AstrometryError(msg)
    solve_hints = SolveHints()
    if hints.pixel_scale:
        tol = config.scale_tolerance
        solve_hints = SolveHints(scale_low=hints.pixel_scale * (1 - tol), scale_high=hints.pixel_scale * (1 + tol))
    if assisted and hints.ra is not None:
        radius = config.search_radius_deg + _half_diagonal_deg(shape, hints.pixel_scale or 1.0)
        solve_hints = SolveHints(hints.ra, hints.dec, radius, solve_hints.scale_low, solve_hints.scale_high)
    if clock.left() < 1.0:
        msg = "time limit reached"
        raise AstrometryError(msg)
    with tempfile.TemporaryDirectory(prefix="rpf-anet-") as tmp:
        return run_solve_field(xy, shape=shape, index_files=files, workdir=Path(tmp), time_limit_s=clock.left(),
                               hints=solve_hints)


def _solve_with_reference(xy: np.ndarray, ref: Reference, hints: Hints, *, shape: tuple[int, int],
                          config: AstrometryConfig, clock: _Clock) -> tuple[WCS, str]:
    if config.pointing_solver == "triangles":
        wcs = solve_triangles(xy, ref[0], ref[1], shape=shape, ra0=hints.ra, dec0=hints.dec,
                              pixel_scale=hints.pixel_scale, scale_tolerance=config.scale_tolerance,
                              search_radius_deg=config.search_radius_deg, time_limit_s=clock.left())
        return wcs, "triangles"
    radius = config.search_radius_deg + _half_diagonal_deg(shape, hints.pixel_scale)
    xi, eta = tangent_plane(ref[0], ref[1], ra0=hints.ra, dec0=hints.dec)
    near = np.flatnonzero(np.hypot(xi, eta) <= radius * 1.05)
    with tempfile.TemporaryDirectory(prefix="rpf-index-") as tmp:
        index = build_index(ref[0][near], ref[1][near], np.arange(len(near), dtype=float), workdir=Path(tmp),
                            quad_arcmin=quad_range_arcmin(shape=shape, pixel_scale=hints.pixel_scale),
                            time_limit_s=max(clock.left(), 1.0))
        tol = config.scale_tolerance
        solve_hints = SolveHints(hints.ra, hints.dec, radius, hints.pixel_scale * (1 - tol),
                                 hints.pixel_scale * (1 + tol))
        wcs = run_solve_field(xy, shape=shape, index_files=[index], workdir=Path(tmp),
                              time_limit_s=max(clock.left(), 1.0), hints=solve_hints)
    return wcs, "astrometry.net-index"


def _solve(xy: np.ndarray, ref: Reference | None, hints: Hints, *, shape: tuple[int, int],
           config: AstrometryConfig, clock: _Clock, notes: list[str]) -> WcsSolution | None:
    assisted = hints.ra is not None and hints.dec is not None and hints.pixel_scale is not None
    if assisted and ref is not None:
        try:
            wcs, method = _solve_with_reference(xy, ref, hints, shape=shape, config=config, clock=clock)
            refinement = _refine(wcs, xy, ref, shape=shape, config=config)
            message = (f"solved near the pointing ({hints.origin}) by {method}: {refinement.n_matches} matches, "
                       f"RMS {refinement.rms_arcsec:.3f}\"")
            return _result(refinement.wcs, "solved", method, refinement, shape=shape, message=message, clock=clock)
        except AstrometryError as exc:
            notes.append(f"pointing-assisted solve: {exc}")
    elif ref is None:
        notes.append("no reference catalogue for this field offline")
    elif not assisted:
        notes.append("no pointing or pixel scale for a pointing-assisted solve")
    for assisted_pass in ((True, False) if assisted else (False,)):
        label = "astrometry.net with pointing hint" if assisted_pass else "astrometry.net blind"
        try:
            wcs = _solve_index_dir(xy, hints, shape=shape, config=config, clock=clock, assisted=assisted_pass)
        except AstrometryError as exc:
            notes.append(f"{label}: {exc}")
            continue
        method = "astrometry.net-" + ("hinted" if assisted_pass else "blind")
        return _finish_index_solution(wcs, xy, ref, shape=shape, config=config, clock=clock, method=method,
                                      label=label)
    return None


def _finish_index_solution(wcs: WCS, xy: np.ndarray, ref: Reference | None, *, shape: tuple[int, int],
                           config: AstrometryConfig, clock: _Clock, method: str, label: str) -> WcsSolution:
    geo = wcs_geometry(wcs, shape=shape)
    if ref is None:
        ref = _tycho_reference(geo.center_ra, geo.center_dec, _half_diagonal_deg(shape, geo.pixel_scale_arcsec),
                               config)
    if ref is not None:
        try:
            refinement = _refine(wcs, xy, ref, shape=shape, config=config)
        except AstrometryError as exc:
            message = f"solved by {label}; not refined ({exc})"
            return _result(wcs, "solved", method, None, shape=shape, message=message, clock=clock)
        message = f"solved by {label}: {refinement.n_matches} matches, RMS {refinement.rms_arcsec:.3f}\""
        return _result(refinement.wcs, "solved", method, refinement, shape=shape, message=message, clock=clock)
    return _result(wcs, "solved", method, None, shape=shape, clock=clock,
                   message=f"solved by {label}; not verified (no reference stars)")


def _manual(xy: np.ndarray, ref: Reference | None, meta: FrameMeta, *, shape: tuple[int, int],
            config: AstrometryConfig, clock: _Clock) -> WcsSolution:
    hints = solver_hints(config, meta, None)
    if hints.ra is None or hints.pixel_scale is None:
        return _failure(["manual mode needs ra, dec and pixel_scale (config or header)"], clock)
    wcs = manual_wcs(ra=hints.ra, dec=hints.dec, pixel_scale=hints.pixel_scale, shape=shape,
                     rotation_deg=config.rotation_deg, flip=config.flip)
    message = f"manual WCS ({hints.origin}, rotation {config.rotation_deg:g} deg, flip {config.flip})"
    if ref is None:
        return _result(wcs, "manual", "manual", None, shape=shape, message=message, clock=clock)
    check = verify_wcs(wcs, xy=xy, ref_ra=ref[0], ref_dec=ref[1], shape=shape,
                       radius_px=_radius_px(hints.pixel_scale))
    solution = _result(wcs, "manual", "manual", None, shape=shape, clock=clock,
                       message=f"{message}; {check.n_matches} bright sources on reference stars")
    return WcsSolution(**{**solution.__dict__, "n_matches": check.n_matches, "rms_arcsec": check.rms_arcsec,
                          "matched_fraction": check.matched_fraction})


def solve_wcs(
    sources: Table,
    *,
    shape: tuple[int, int],
    meta: FrameMeta,
    header: fits.Header,
    reference: Table | None = None,
    config: AstrometryConfig,
) -> WcsSolution:
    """Find, verify and refine the WCS of a frame from its detected sources.

    ``auto``: a valid header WCS is verified against the reference (or
    Tycho-2 stars) and refined; an invalid or unverified one is reported
    and replaced by a pointing-assisted solve (triangle matching against
    the reference), then astrometry.net with the installed index files
    (with the pointing hint, then blind), all within ``config.time_limit_s``.
    ``header`` only checks the header; ``solve`` ignores it; ``manual``
    builds the WCS from the configured centre, scale, rotation and flip.

    Parameters
    ----------
    sources : astropy.table.Table
        ``x, y`` (0-based pixels), ``flux`` (or ``flux_iso``), optional ``flags``.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    meta : rpf.frame.FrameMeta
        Pointing (``ra``, ``dec``) and ``pixel_scale`` from the header, when known.
    header : astropy.io.fits.Header
        The frame header (its WCS, if any).
    reference : astropy.table.Table, optional
        Reference stars ``ra, dec`` and a magnitude column covering the field.
    config : rpf.config.AstrometryConfig
        Mode, hints, limits.

    Returns
    -------
    WcsSolution
        ``source == "none"`` and a ``"could not solve: ..."`` message on failure.
    """
    clock = _Clock(config.time_limit_s)
    shape = (int(shape[0]), int(shape[1]))
    xy = source_positions(sources)
    ref = reference_arrays(reference)
    try:
        if config.mode == "manual":
            return _manual(xy, ref, meta, shape=shape, config=config, clock=clock)
        hints = solver_hints(config, meta, None)
    except AstrometryError as exc:
        return _failure([str(exc)], clock)
    notes: list[str] = []
    fallback = None
    if config.mode in ("auto", "header"):
        try:
            wcs = header_wcs(header, shape=shape)
        except AstrometryError as exc:
            notes.append(f"header WCS not used: {exc}")
        else:
            try:
                return _try_header(wcs, xy, ref, shape=shape, config=config, clock=clock)
            except AstrometryError as exc:
                notes.append(f"header WCS rejected: {exc}")
                geo = wcs_geometry(wcs, shape=shape)
                fallback = (geo.center_ra, geo.center_dec, geo.pixel_scale_arcsec)
    if config.mode == "header":
        return _failure(notes, clock)
    if len(xy) < 5:
        return _failure([*notes, f"only {len(xy)} usable sources"], clock)
    if fallback is not None:
        hints = solver_hints(config, meta, fallback)
    header_notes = list(notes)
    solution = _solve(xy, ref, hints, shape=shape, config=config, clock=clock, notes=notes)
    if solution is None:
        return _failure(notes, clock)
    notes = header_notes
    if notes:
        return WcsSolution(**{**solution.__dict__, "message": "; ".join([*notes, solution.message])})
    return solution
