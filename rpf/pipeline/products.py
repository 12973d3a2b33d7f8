"""Turn a finished frame state into the contract's products and summary."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import QTable

from rpf import __version__
from rpf.pipeline.context import RunContext
from rpf.pipeline.stages import stage_parameters
from rpf.pipeline.state import FrameResult, FrameState
from rpf.products import (
    with_units,
    write_atomic,
    write_calibrated_fits,
    write_catalog_csv,
    write_catalog_ecsv,
    write_header_text,
    write_metadata_json,
    write_preview_png,
    write_wcs_products,
    write_zip,
)

__all__ = ["frame_metadata", "write_frame_products"]

UNZIPPED = frozenset({"calibrated"})
"""Products left out of the per-frame ZIP: the pixels (17 MB at 2048², 1.6 s to deflate) stay beside it."""

PHOT_COLUMNS = ("id", "x", "y", "ra", "dec", "flux", "flux_err", "mag_inst", "mag", "mag_err", "snr", "flags")
"""Contract columns of ``<stem>_phot.csv``, first and in this order."""


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if not math.isfinite(value) else value


def frame_metadata(state: FrameState, ctx: RunContext) -> dict[str, Any]:
    """Build the contract's ``<stem>_metadata.json`` dictionary for a frame."""
    meta = state.frame.meta if state.frame is not None else None
    wcs = state.wcs
    zp = state.zero_point
    fwhm_px = _num(state.fwhm.fwhm_px) if state.fwhm is not None else None
    scale = _num(getattr(wcs, "pixel_scale_arcsec", None)) or (meta.pixel_scale if meta else None)
    out: dict[str, Any] = {
        "frame": Path(state.path).name,
        "path": str(state.path),
        "status": "failed" if state.error else "ok",
        "error": state.error,
        "failed_stage": state.failed_stage,
        "filter": meta.filter if meta else None,
        "band": state.band,
        "date_obs": meta.date_obs if meta else None,
        "mjd_mid": meta.mjd_mid if meta else None,
        "exptime": meta.exptime if meta else None,
        "airmass": _num(getattr(state.airmass, "airmass", None)),
        "airmass_source": getattr(state.airmass, "source", None),
        "fwhm_px": fwhm_px,
        "fwhm_measured": bool(state.fwhm.n_stars) if state.fwhm is not None else None,
        "fwhm_arcsec": fwhm_px * scale if (fwhm_px and scale) else None,
        "pixel_scale_arcsec": scale,
        "center_ra": _num(getattr(wcs, "center_ra", None)),
        "center_dec": _num(getattr(wcs, "center_dec", None)),
        "wcs_source": getattr(wcs, "source", "none"),
        "wcs_rms_arcsec": _num(getattr(wcs, "rms_arcsec", None)),
        "wcs_message": getattr(wcs, "message", None),
        "zero_point": _num(getattr(zp, "zero_point", None)),
        "zero_point_err": _num(getattr(zp, "zero_point_err", None)),
        "color_term": _num(getattr(zp, "color_term", None)),
        "color_term_err": _num(getattr(zp, "color_term_err", None)),
        "color_term_fitted": getattr(zp, "color_term_fitted", None),
        "flux_measurement": state.phot.meta.get("flux_measurement") if state.phot is not None else None,
        "extinction_k": _num(getattr(zp, "extinction_k", None)),
        "n_calib_stars": int(getattr(zp, "n_calib_stars", 0) or 0),
        "zero_point_rms": _num(getattr(zp, "rms", None)),
        "reference_catalog": state.reference.meta.get("catalog") if state.reference is not None else None,
        "limiting_mag": _num(state.limiting_mag),
        "n_sources": len(state.phot) if state.phot is not None else 0,
        "n_cosmic_pixels": state.cosmic_pixels,
        "background_level": _num(getattr(state.background, "global_level", None)),
        "background_rms": _num(getattr(state.background, "global_rms", None)),
        "aperture_correction": state.phot.meta.get("aperture_correction") if state.phot is not None else None,
        "services": [r.to_dict() for r in state.crossmatch],
        "warnings": list(dict.fromkeys(state.warnings)),
        "uncalibrated": state.uncalibrated,
        "software_version": __version__,
        "parameters": ctx.config.to_dict(),
        "timings": dict(state.timings),
        "stem": ctx.stem(state.path),
        "provenance": dict(ctx.provenance.get(state.path, {})),
        "reused_stages": list(state.reused),
    }
    if ctx.masters_error is not None:
        out["masters_error"] = ctx.masters_error
    return out


def _catalogue(phot: QTable) -> QTable:
    """Return the catalogue product: a new table with units, the contract's columns first.

    ``mag, mag_err`` are NaN when the frame has no zero point.
    """
    if "mag" not in phot.colnames:
        phot = QTable(phot, copy=False)
        phot["mag"] = phot["mag_err"] = np.full(len(phot), np.nan)
    return with_units(phot, first=PHOT_COLUMNS)


_NOT_IN_ECSV = ("timings", "parameters", "products", "provenance", "reused_stages", "product_keys", "product_stamps")


def _ecsv_meta(state: FrameState, ctx: RunContext) -> dict[str, Any]:
    """Return the frame's metadata for the ECSV header (no timings, parameters or product list)."""
    return {k: v for k, v in frame_metadata(state, ctx).items() if k not in _NOT_IN_ECSV}


def write_frame_products(state: FrameState, ctx: RunContext) -> FrameResult:
    """Write every product of one frame atomically and return its summary (the ``products`` step).

    A failed frame still gets its metadata, log and ZIP so that the user
    sees what went wrong; no product is half-written after a crash.  The
    step's time (``timings["products"]``) covers everything but the log,
    the metadata and the ZIP, which record it.
    """
    start = time.perf_counter()
    out_dir = Path(ctx.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / ctx.stem(state.path)
    written: dict[str, str] = {}
    keys = _product_keys(state, ctx)
    kept = _kept(base, keys) if ctx.reuse else set()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="rpf-products") as pool:
        # the zero-point figure (matplotlib, ~0.14 s at 2048²) and the pixels (~0.25 s) are
        # written while the catalogues, header and preview are
        optional = pool.submit(_stage_products, state, base, ctx)
        pixels = pool.submit(_pixel_product, state, base, ctx, "calibrated" in kept)
        phot = _write_main_products(state, base, ctx, written, keep_image="image" in kept)
        written.update(optional.result())
        written.update(pixels.result())
    elapsed = round(time.perf_counter() - start, 4)
    state = state.evolve(timings={**state.timings, "products": elapsed}).note(
        f"stage products: done in {elapsed:.3f} s; parameters {stage_parameters('products', ctx.config)['output']}"
    )
    metadata = frame_metadata(state, ctx)
    write_atomic(f"{base}.log", "\n".join(state.log) + "\n")
    written["log"] = f"{base}.log"
    metadata["products"] = {k: Path(v).name for k, v in written.items()}
    metadata["product_keys"] = {k: v for k, v in keys.items() if k in written}
    metadata["product_stamps"] = {k: _stamp(written[k]) for k in metadata["product_keys"]}
    write_metadata_json(metadata, f"{base}_metadata.json")
    written["metadata"] = f"{base}_metadata.json"
    if ctx.config.output.zip:
        write_zip([v for k, v in written.items() if k not in UNZIPPED], f"{base}_results.zip")
        written["zip"] = f"{base}_results.zip"
    return FrameResult(
        path=state.path,
        status=metadata["status"],
        metadata=metadata,
        phot=phot,
        products=written,
        error=state.error,
    )


def _product_keys(state: FrameState, ctx: RunContext) -> dict[str, str]:
    """Return what the large products' content depends on.

    The pixels and the WCS (the ``astrometry`` hash) and, for the preview,
    the sources drawn on it.
    """
    anchor = ctx.provenance.get(state.path, {}).get("astrometry")
    if anchor is None or state.error is not None:
        return {}
    keys = {"calibrated": anchor}
    if state.phot is not None:
        xy = np.ascontiguousarray([np.asarray(state.phot["x"], float), np.asarray(state.phot["y"], float)])
        keys["image"] = f"{anchor}:{hashlib.sha256(xy.tobytes()).hexdigest()[:16]}"
    return keys


def _stamp(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def _kept(base: Path, keys: dict[str, str]) -> set[str]:
    """Return the large products an earlier run wrote from the same inputs, untouched since (not written again)."""
    try:
        previous = json.loads(Path(f"{base}_metadata.json").read_text(encoding="utf-8"))
        old_keys, stamps, names = previous["product_keys"], previous["product_stamps"], previous["products"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    kept = set()
    for kind, key in keys.items():
        try:
            path = base.parent / names[kind]
            if old_keys.get(kind) == key and path.name.startswith(base.name) and stamps.get(kind) == _stamp(path):
                kept.add(kind)
        except (OSError, KeyError, TypeError, AttributeError):
            continue
    return kept


def _pixel_product(state: FrameState, base: Path, ctx: RunContext, keep: bool = False) -> dict[str, str]:
    """``<stem>_calibrated.fits`` of a frame that got through its steps (``output.calibrated_fits``).

    With ``keep`` the earlier run's file, made from the same pixels and WCS, stays as it is.
    """
    if not ctx.config.output.calibrated_fits or state.error is not None or state.frame is None:
        return {}
    if keep:
        return {"calibrated": f"{base}_calibrated.fits"}
    bkg = state.background
    solution = state.wcs
    path = write_calibrated_fits(
        f"{base}_calibrated.fits",
        image=state.frame.data,
        mask=state.frame.mask,
        background=None if bkg is None else bkg.level,
        background_rms=None if bkg is None else bkg.global_rms,
        header=state.frame.header,
        wcs=None if solution is None else solution.wcs,
        rms_map=None if bkg is None else bkg.rms,
    )
    return {"calibrated": str(path)}


def _write_main_products(state: FrameState, base: Path, ctx: RunContext, written: dict[str, str], *,
                         keep_image: bool = False) -> QTable | None:
    """Write the catalogues, header, WCS and preview; record them in ``written``; return the catalogue.

    With ``keep_image`` the earlier run's preview (same pixels, same sources) stays as it is.
    """
    phot = None
    if state.phot is not None and state.error is None:
        phot = _catalogue(state.phot)
        write_catalog_csv(phot, f"{base}_phot.csv")
        written["phot"] = f"{base}_phot.csv"
        write_catalog_ecsv(phot, f"{base}_phot.ecsv", meta=_ecsv_meta(state, ctx))
        written["phot_ecsv"] = f"{base}_phot.ecsv"
    if state.frame is not None:
        write_header_text(state.frame.header, f"{base}_header.txt")
        written["header"] = f"{base}_header.txt"
    if state.wcs is not None and state.wcs.wcs is not None:
        write_wcs_products(state.wcs.wcs, base)
        written["wcs"] = f"{base}_wcs.fits"
        written["wcs_header"] = f"{base}_wcs_header.txt"
    if ctx.config.output.png and state.frame is not None and state.background is not None and state.error is None:
        if not keep_image:
            xy = np.column_stack([state.phot["x"], state.phot["y"]]) if state.phot is not None else np.empty((0, 2))
            write_preview_png(state.image, xy, f"{base}_image.png", title=base.name)
        written["image"] = f"{base}_image.png"
    return phot


def _stage_products(state: FrameState, base: Path, ctx: RunContext) -> dict[str, str]:
    """Products of optional stages: zero-point plot, PSF model, transients."""
    from rpf.pipeline.extras import write_optional_products

    return write_optional_products(state, base, ctx)
