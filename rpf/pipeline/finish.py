"""The end of a run, eager or on Dask: ``run_summary.csv``, ``lightcurves.csv``, ``extinction.json``.

Also ``night_quality.csv`` (:func:`rpf.night.night_quality`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rpf.atomic import write_atomic
from rpf.config import TransientsConfig
from rpf.errors import PhotometryError
from rpf.io import frame_stem
from rpf.lightcurves import FramePhotometry, build_lightcurves, write_lightcurves_csv
from rpf.night import night_quality, write_night_quality_csv
from rpf.pipeline.events import RunFinished
from rpf.pipeline.extinction import fit_night_extinction, write_extinction_json
from rpf.pipeline.outputs import utc_now, write_manifest
from rpf.pipeline.state import FrameResult
from rpf.pipeline.summary import write_run_summary
from rpf.products import write_metadata_json
from rpf.skymatch import match_radius_arcsec as radius_rule

__all__ = ["MAX_MATCH_RADIUS_ARCSEC", "MIN_MATCH_RADIUS_ARCSEC", "failed_result", "finish_run", "match_radius_arcsec"]

MIN_MATCH_RADIUS_ARCSEC = 2.0
"""Smallest radius (arcsec) for cross-identifying stars between frames."""
MAX_MATCH_RADIUS_ARCSEC = 10.0
"""Largest radius (arcsec) for cross-identifying stars between frames."""


def failed_result(path: str, message: str, status: str = "failed", *, worker_lost: bool = False) -> FrameResult:
    """Return the result of a frame that never produced one (crashed, lost with its worker, or cancelled)."""
    meta = {"frame": Path(path).name, "path": path, "status": status, "error": message}
    if worker_lost:
        meta["worker_lost"] = True
    return FrameResult(path=path, status=status, metadata=meta, error=message)


def _light_table(result: FrameResult) -> FramePhotometry | None:
    phot = result.phot
    if phot is None or not {"ra", "dec", "mag", "mag_err"} <= set(phot.colnames):
        return None
    meta = result.metadata
    return FramePhotometry.from_table(
        phot, frame=meta.get("frame", Path(result.path).name), mjd=meta.get("mjd_mid"), airmass=meta.get("airmass")
    )


def _median(metadata: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [float(m[key]) for m in metadata if isinstance(m.get(key), int | float) and math.isfinite(m[key])]
    return statistics.median(values) if values else None


def match_radius_arcsec(metadata: Sequence[Mapping[str, Any]]) -> float:
    """Cross-identification radius for a run's light curves, from its frames' seeing and astrometry.

    The one radius rule (:func:`rpf.skymatch.match_radius_arcsec`) with the
    median FWHM and ``sqrt(2)`` times the median WCS RMS (the scatter of a
    star's position between two frames), within
    [:data:`MIN_MATCH_RADIUS_ARCSEC`, :data:`MAX_MATCH_RADIUS_ARCSEC`].

    Parameters
    ----------
    metadata : sequence of mapping
        The ok frames' metadata (``fwhm_arcsec``, ``wcs_rms_arcsec``).
    """
    rms = _median(metadata, "wcs_rms_arcsec")
    return radius_rule(fwhm_arcsec=_median(metadata, "fwhm_arcsec"),
                       wcs_rms_arcsec=None if rms is None else math.sqrt(2.0) * rms,
                       minimum=MIN_MATCH_RADIUS_ARCSEC, maximum=MAX_MATCH_RADIUS_ARCSEC)


def finish_run(
    results: dict[int, FrameResult],
    *,
    paths: Sequence[str],
    out_dir: Path,
    run_id: str,
    seconds: float,
    lightcurves: bool = True,
    differential: bool = False,
    cancelled: bool = False,
    transients: TransientsConfig | None = None,
    stems: Mapping[str, str] | None = None,
    started: str | None = None,
    notes: Sequence[str] = (),
) -> RunFinished:
    """Write the run's products and return the closing event.

    Parameters
    ----------
    results : dict of int to FrameResult
        The finished frames by index in ``paths`` (missing = cancelled).
    paths : sequence of str
        Every frame of the run, in order.
    out_dir : Path
        Products folder.
    run_id : str
        The run's identifier.
    seconds : float
        Wall time of the run.
    lightcurves, differential : bool
        Write ``lightcurves.csv`` (with ensemble differential magnitudes).
    cancelled : bool
        Whether the run was cancelled.
    transients : TransientsConfig, optional
        With targets: ``targets.csv`` and the follow-up report (``report.txt``, ``report.json``).
    stems : mapping, optional
        ``path -> product stem`` (default: each file's stem).
    started : str, optional
        When the run started (ISO UTC), for the manifest.
    notes : sequence of str
        Messages of the run's plan (renamed products), first in ``messages``.

    Returns
    -------
    RunFinished
        With the paths of the run products, the night's extinction per band
        (when at least three frames of a band span an airmass range of 0.3)
        and messages about products not written.
    """
    stems = dict(stems or {}) or {p: frame_stem(p) for p in paths}
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {i: _with_record(r, out_dir, stems.get(r.path) or frame_stem(r.path)) for i, r in results.items()}
    metadata = [
        results[i].metadata if i in results else failed_result(p, f"{p}: cancelled", "cancelled").metadata
        for i, p in enumerate(paths)
    ]
    summary = write_run_summary(metadata, out_dir / "run_summary.csv")
    run_files = [summary, write_night_quality_csv(night_quality(metadata), out_dir / "night_quality.csv")]
    messages: list[str] = list(notes)
    details = _run_problems(metadata)
    messages.extend(details.get("problems", ()))
    curves = None
    if lightcurves:
        done = [results[i] for i in sorted(results) if results[i].ok]
        curves, message = _write_lightcurves(done, out_dir, differential)
        if message:
            messages.append(message)
    if transients is not None:
        from rpf.pipeline.followup import write_run_targets

        written, target_notes = write_run_targets([results[i] for i in sorted(results)], out_dir,
                                                  transients=transients)
        messages.extend(target_notes)
        messages.extend(f"{name.replace('_', '.')}: {path}" for name, path in written.items())
        run_files.extend(written.values())
    fits, fit_notes = fit_night_extinction(metadata)
    messages.extend(fit_notes)
    extinction = write_extinction_json(fits, out_dir / "extinction.json") if fits else None
    run_files.extend(p for p in (curves, extinction) if p is not None)
    n_ok = sum(r.ok for r in results.values())
    n_reused = sum("products" in (r.metadata.get("reused_stages") or ()) for r in results.values())
    manifest, superseded = write_manifest(
        out_dir, run_id=run_id, started=started or utc_now(), results=results, paths=list(paths), stems=stems,
        run_files=run_files, details={"cancelled": cancelled, "messages": messages, **details},
    )
    if superseded:
        messages.append(f"{len(superseded)} file(s) of an earlier run moved to {out_dir / '.rpf' / 'superseded'}: "
                        + ", ".join(superseded[:5]) + (" ..." if len(superseded) > 5 else ""))
    return RunFinished(
        run_id=run_id,
        n_frames=len(paths),
        n_ok=n_ok,
        n_failed=len(results) - n_ok,
        n_cancelled=len(paths) - len(results),
        seconds=round(seconds, 3),
        cancelled=cancelled,
        summary_csv=str(summary),
        lightcurves_csv=None if curves is None else str(curves),
        extinction_json=None if extinction is None else str(extinction),
        extinction=tuple(f.to_dict() for f in fits),
        messages=tuple(messages),
        n_reused=n_reused,
        manifest=str(manifest),
    )


def _with_record(result: FrameResult, out_dir: Path, stem: str) -> FrameResult:
    """Give a frame that never reached its products (a lost worker, a crash) its metadata and log."""
    if result.products or result.status == "cancelled":
        return result
    meta = {**result.metadata, "stem": stem}
    log_path = write_atomic(out_dir / f"{stem}.log", f"ERROR {result.error}\n")
    meta["products"] = {"log": log_path.name}
    meta_path = write_metadata_json(meta, out_dir / f"{stem}_metadata.json")
    return replace(result, metadata=meta, products={"log": str(log_path), "metadata": str(meta_path)})


def _run_problems(metadata: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Run-level failures: the masters (one message, not one per frame), frames lost with their worker."""
    out: dict[str, Any] = {"problems": []}
    masters = next((m["masters_error"] for m in metadata if m.get("masters_error")), None)
    if masters:
        out["masters_error"] = masters
        out["problems"].append(f"the run's calibration failed: {masters}")
    lost = [m.get("path") for m in metadata if m.get("worker_lost")]
    if lost:
        out["frames_lost"] = lost
        out["problems"].append(f"{len(lost)} frame(s) lost with their worker: {', '.join(map(str, lost))}")
    return out


def _write_lightcurves(results: list[FrameResult], out_dir: Path, differential: bool) -> tuple[Path | None, str]:
    frames = [f for f in (_light_table(r) for r in results) if f is not None]
    if len(frames) < 2:
        return None, ""
    radius = match_radius_arcsec([r.metadata for r in results])
    try:
        table = build_lightcurves(frames, radius_arcsec=radius, differential=differential)
    except PhotometryError as exc:
        return None, f"lightcurves.csv not written: {exc}"
    counts = table.group_by("star_id").groups.indices
    if len(counts) < 2 or max(counts[1:] - counts[:-1]) < 2:
        return None, "lightcurves.csv not written: no star seen in two frames (fields do not overlap)"
    return write_lightcurves_csv(table, out_dir / "lightcurves.csv"), ""
