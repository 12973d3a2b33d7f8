"""Pipeline adapters of the follow-up steps: template subtraction, targets, their products.

``subtraction`` (with ``transients.template``) and ``targets`` (with
targets) run after the cross-matches.  The run's targets are resolved and
the template is run through the pipeline once per run, on the driver
(:func:`transient_context`), before any frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.time import Time
from astropy.wcs import WCS

from rpf.config import CatalogConfig, PipelineConfig, TransientsConfig
from rpf.errors import ConfigError
from rpf.flags import SourceFlag
from rpf.pipeline.context import RunContext
from rpf.pipeline.state import FrameState
from rpf.products import write_catalog_csv
from rpf.targets import (
    TARGET_COLUMNS,
    FrameContext,
    Target,
    empty_aperture_factor,
    measure_targets,
    parse_target,
    read_targets_csv,
    target_resolver,
    unique_targets,
)

__all__ = [
    "TemplateImage",
    "parse_t0",
    "prepare_template",
    "run_targets",
    "subtraction_step",
    "targets_step",
    "transient_context",
    "write_transient_products",
]

_DIFF_COLUMNS = ("flux", "flux_err", "snr", "detected", "mag", "mag_err", "upper_limit")


@dataclass(frozen=True)
class TemplateImage:
    """A template after the pipeline: background-subtracted pixels on its own grid, with what subtraction needs."""

    name: str
    image: np.ndarray = field(repr=False)
    rms: np.ndarray = field(repr=False)
    mask: np.ndarray | None = field(repr=False)
    wcs: WCS = field(repr=False)
    fwhm_px: float
    gain: float
    exptime: float
    zero_point: float | None


def run_targets(config: TransientsConfig, catalogs: CatalogConfig) -> tuple[Target, ...]:
    """Return the run's targets: ``config.targets`` then ``config.targets_file``, names resolved.

    Raises
    ------
    ConfigError
        A bad position, an unreadable file, a name that cannot be resolved
        (offline and not cached, or unknown), or a name used twice.
    """
    resolve = target_resolver(catalogs)
    targets = [parse_target(text, resolve=resolve) for text in config.targets]
    if config.targets_file:
        targets += read_targets_csv(config.targets_file, resolve=resolve)
    return unique_targets(targets)


def parse_t0(value: str | None) -> float | None:
    """Return ``transients.t0`` as UTC MJD (an MJD number or an ISO date), or None.

    Raises
    ------
    ConfigError
        Neither an MJD nor an ISO date.
    """
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return float(Time(str(value).strip(), scale="utc").mjd)
    except ValueError as exc:
        raise ConfigError(f"transients.t0 = {value!r}: neither an MJD nor an ISO UTC date") from exc


def prepare_template(path: str, config: PipelineConfig) -> TemplateImage:
    """Run a calibrated template through the pipeline (no masters, no cross-match) and keep its pixels.

    Raises
    ------
    ConfigError
        The file is missing, or the pipeline fails on it, or it has no WCS.
    """
    from rpf.pipeline.frame import run_stage
    from rpf.pipeline.stages import STAGES

    if not Path(path).is_file():
        raise ConfigError(f"template {path}: file not found")
    plain = config.replace(catalogs={"crossmatch": ()}, transients={"targets": (), "targets_file": None,
                                                                     "template": None})
    ctx = RunContext(config=plain)
    state = FrameState(path=str(path))
    for name, function in STAGES:
        if name in ("subtraction", "targets"):
            continue
        state = run_stage(name, function, state, ctx)
    if state.error is not None:
        raise ConfigError(f"template {path}: {state.error}")
    if state.wcs is None or state.wcs.wcs is None:
        raise ConfigError(f"template {path}: no astrometric solution, it cannot be aligned")
    meta = state.frame.meta
    return TemplateImage(
        name=Path(path).name, image=state.image, rms=np.asarray(state.background.rms, np.float32),
        mask=state.frame.mask, wcs=state.wcs.wcs, fwhm_px=float(state.fwhm.fwhm_px), gain=float(meta.gain),
        exptime=float(meta.exptime),
        zero_point=float(state.zero_point.zero_point) if state.zero_point is not None else None,
    )


def transient_context(config: PipelineConfig) -> dict[str, Any]:
    """Return the :class:`RunContext` fields of the follow-up steps: ``targets`` and ``template``."""
    transients = config.transients
    parse_t0(transients.t0)
    return {
        "targets": run_targets(transients, config.catalogs),
        "template": prepare_template(transients.template, config) if transients.template else None,
    }


def subtraction_step(state: FrameState, ctx: RunContext) -> FrameState:
    """Subtract the run's template, detect on the difference and list its candidates beside the catalogue's."""
    from rpf.subtraction import align_template, detect_difference, merge_candidates, subtract_template

    template = ctx.template
    if template is None:
        return state.note("subtraction: no template")
    if state.wcs is None or state.wcs.wcs is None:
        return state.note("subtraction: skipped (no astrometric solution)")
    cfg = ctx.config.transients
    meta = state.frame.meta
    aligned = align_template(
        template.image, template_wcs=template.wcs, template_rms=template.rms, template_gain=template.gain,
        template_exptime=template.exptime, template_zero_point=template.zero_point, template_mask=template.mask,
        template_fwhm_px=template.fwhm_px, wcs=state.wcs.wcs, shape=state.frame.data.shape, exptime=meta.exptime,
        zero_point=state.zero_point.zero_point if state.zero_point is not None else None,
    )
    diff = subtract_template(
        state.image, aligned, science_rms=state.background.rms, gain=meta.gain, fwhm_px=state.fwhm.fwhm_px,
        mask=state.frame.mask, sources=state.phot, kernel_poly_order=cfg.kernel_poly_order,
        background_poly_order=cfg.background_poly_order,
    )
    found = detect_difference(diff, fwhm_px=state.fwhm.fwhm_px, threshold_sigma=cfg.difference_sigma,
                              wcs=state.wcs.wcs)
    phot = state.phot
    catalog = phot[np.asarray(phot["transient_candidate"], bool)] if "transient_candidate" in phot.colnames else []
    merged = merge_candidates(found, Table(catalog) if len(catalog) else Table({"x": [], "y": []}),
                              radius_px=state.fwhm.fwhm_px)
    if len(merged) and np.isfinite(np.asarray(merged["diff_flux"], float)).any() and state.zero_point is not None:
        flux = np.asarray(merged["diff_flux"], float) * np.asarray(merged["sign"])
        with np.errstate(invalid="ignore", divide="ignore"):
            merged["diff_mag"] = np.where(flux > 0, -2.5 * np.log10(flux / meta.exptime), np.nan) + \
                state.zero_point.zero_point
    message = (f"subtraction: {diff.method} against {template.name} in {diff.seconds:.1f} s; "
               f"{len(found)} difference candidates above {cfg.difference_sigma:g} sigma "
               f"({int(np.count_nonzero(np.asarray(found['sign']) < 0))} fading)")
    return state.evolve(difference=diff, difference_candidates=merged).note(message)


def _aperture_correction(phot: QTable, radius_fwhm: float) -> tuple[float, float, str]:
    corrections = phot.meta.get("aperture_correction") or {}
    for radius, factor in corrections.items():
        if math.isclose(float(radius), radius_fwhm):
            return radius_fwhm, float(factor), ""
    default = float(phot.meta.get("aperture_default_radius_fwhm", radius_fwhm))
    factor = float(corrections.get(default, 1.0)) if corrections else 1.0
    return default, factor, (f"; transients.aperture_fwhm {radius_fwhm:g} is not one of the measured radii, "
                             f"using {default:g} FWHM")


def _solar_system(state: FrameState, ctx: RunContext) -> tuple[dict, str]:
    from rpf.catalogs.names import locate_solar_system
    from rpf.site import resolve_site

    names = [t.name for t in ctx.targets if t.solar_system]
    if not names or state.wcs is None or state.wcs.wcs is None or state.frame.meta.mjd_mid is None:
        return {}, ""
    ny, nx = state.frame.data.shape
    scale = state.wcs.pixel_scale_arcsec or state.frame.meta.pixel_scale or 1.0
    site = resolve_site(state.frame.meta, ctx.config.header)
    located, status = locate_solar_system(
        names, ra=state.wcs.center_ra, dec=state.wcs.center_dec, radius_deg=0.5 * math.hypot(nx, ny) * scale / 3600,
        mjd=state.frame.meta.mjd_mid, site=(site.lat, site.lon, site.elev) if site is not None else None,
        config=ctx.config.catalogs,
    )
    missing = [n for n in names if n not in located]
    note = f"; SkyBoT {status}" + (f", not in the field: {', '.join(missing)}" if missing else "")
    return located, note


def targets_step(state: FrameState, ctx: RunContext) -> FrameState:
    """Measure every target by forced photometry: magnitude or upper limit, on the frame and its difference."""
    if not ctx.targets:
        return state.note("targets: none")
    cfg = ctx.config.transients
    meta = state.frame.meta
    fwhm = state.fwhm.fwhm_px
    radius, correction, radius_note = _aperture_correction(state.phot, cfg.aperture_fwhm)
    annulus = ctx.config.aperture.annulus_fwhm
    image = state.image
    xy = np.column_stack([np.asarray(state.phot["x"]), np.asarray(state.phot["y"])])
    bad = None if state.frame.mask is None else (state.frame.mask & np.uint16(SourceFlag.BAD_PIXEL)) != 0
    factor = empty_aperture_factor(image, radius_px=radius * fwhm, annulus_px=(annulus[0] * fwhm, annulus[1] * fwhm),
                                   avoid_xy=xy, avoid_radius_px=4 * fwhm, bad=bad)
    located, ss_note = _solar_system(state, ctx)
    context = FrameContext(frame=Path(state.path).name, mjd_mid=meta.mjd_mid, exptime=meta.exptime, fwhm_px=fwhm,
                           gain=meta.gain, band=state.band)
    common = {"wcs": state.wcs.wcs if state.wcs is not None else None, "context": context, "located": located,
              "zero_point": state.zero_point, "radius_fwhm": radius, "annulus_fwhm": annulus,
              "aperture_correction": correction, "detection_sigma": cfg.detection_sigma,
              "limit_sigma": cfg.limit_sigma}
    psf = state.psf
    table = measure_targets(
        ctx.targets, image, mask=state.frame.mask, sources_xy=xy, noise_factor=factor, psf_model=psf,
        rms=state.background.rms if psf is not None else None,
        psf_to_aperture=float(np.nan_to_num(state.phot.meta.get("psf_to_aperture", 1.0), nan=1.0)), **common,
    )
    if state.difference is not None:
        diff = state.difference
        on_diff = measure_targets(ctx.targets, diff.image, mask=np.where(diff.bad, SourceFlag.BAD_PIXEL, 0)
                                  .astype(np.uint16), **common)
        for name in _DIFF_COLUMNS:
            table[f"diff_{name}"] = on_diff[name]
    _frame_columns(table, state)
    n_detected = int(np.count_nonzero(table["detected"]))
    message = (f"targets: {len(table)} measured, {n_detected} detected at >= {cfg.detection_sigma:g} sigma, "
               f"limits at {cfg.limit_sigma:g} sigma; aperture {radius:g} FWHM, correction {correction:.3f}, "
               f"empty-aperture noise factor {factor:.2f}{radius_note}{ss_note}")
    return state.evolve(targets=table).note(message)


def _frame_columns(table: QTable, state: FrameState) -> None:
    """Add what a report needs to know of the frame to every row."""
    meta, header, zp = state.frame.meta, state.frame.header, state.zero_point
    n = len(table)
    values = {
        "observatory": meta.observatory or str(header.get("OBSERVAT", "")),
        "instrument": " ".join(str(header.get(k, "")).strip() for k in ("TELESCOP", "INSTRUME")).strip(),
        "filter": meta.filter,
        "exptime": float(meta.exptime),
        "ncombine": int(header.get("NCOMBINE", 1)),
        "reference_catalog": state.reference.meta.get("catalog", "") if state.reference is not None else "",
        "zero_point": float(zp.zero_point) if zp is not None else np.nan,
        "zero_point_err": float(zp.zero_point_err) if zp is not None else np.nan,
        "n_calib_stars": int(zp.n_calib_stars) if zp is not None else 0,
    }
    for name, value in values.items():
        table[name] = [value] * n


def write_transient_products(state: FrameState, base: Path) -> dict[str, str]:
    """Write ``<stem>_targets.csv``, ``<stem>_candidates.csv`` and ``<stem>_difference.fits`` when they exist."""
    written: dict[str, str] = {}
    if state.targets is not None:
        table = state.targets
        order = [c for c in TARGET_COLUMNS if c in table.colnames]
        write_catalog_csv(table[order + [c for c in table.colnames if c not in order]], f"{base}_targets.csv")
        written["targets"] = f"{base}_targets.csv"
    if state.difference is not None:
        write_catalog_csv(state.difference_candidates, f"{base}_candidates.csv")
        written["candidates"] = f"{base}_candidates.csv"
        diff = state.difference
        header = state.wcs.wcs.to_header(relax=True) if state.wcs is not None and state.wcs.wcs is not None else None
        fits.HDUList([
            fits.PrimaryHDU(diff.image, header=header),
            fits.ImageHDU(np.where(diff.bad, np.nan, diff.noise).astype(np.float32), name="NOISE"),
            fits.ImageHDU(diff.bad.astype(np.uint8), name="BAD"),
        ]).writeto(f"{base}_difference.fits", overwrite=True)
        written["difference"] = f"{base}_difference.fits"
    return written
