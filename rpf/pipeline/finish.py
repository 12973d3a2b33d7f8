"""The end of a run, eager or on Dask: ``run_summary.csv``, ``lightcurves.csv``, ``extinction.json``.

Also ``night_quality.csv`` (:func:`rpf.night.night_quality`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rpf.config import TransientsConfig
from rpf.errors import PhotometryError
from rpf.lightcurves import FramePhotometry, build_lightcurves, write_lightcurves_csv
from rpf.night import night_quality, write_night_quality_csv
from rpf.pipeline.events import RunFinished
from rpf.pipeline.extinction import fit_night_extinction, write_extinction_json
from rpf.pipeline.state import FrameResult
from rpf.pipeline.summary import write_run_summary
from rpf.skymatch import match_radius_arcsec as radius_rule

__all__ = ["MAX_MATCH_RADIUS_ARCSEC", "MIN_MATCH_RADIUS_ARCSEC", "failed_result", "finish_run", "match_radius_arcsec"]

MIN_MATCH_RADIUS_ARCSEC = 2.0
"""Smallest radius (arcsec) for cross-identifying stars between frames."""
MAX_MATCH_RADIUS_ARCSEC = 10.0
"""Largest radius (arcsec) for cross-identifying stars between frames."""


def failed_result(path: str, message: str, status: str = "failed") -> FrameResult:
    """Return the result of a frame that never produced one (crashed or cancelled)."""
    meta = {"frame": Path(path).name, "path": path, "status": status, "error": message}
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

    Returns
    -------
    RunFinished
        With the paths of the run products, the night's extinction per band
        (when at least three frames of a band span an airmass range of 0.3)
        and messages about products not written.
    """
    metadata = [
        results[i].metadata if i in results else failed_result(p, f"{p}: cancelled", "cancelled").metadata
        for i, p in enumerate(paths)
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = write_run_summary(metadata, out_dir / "run_summary.csv")
    write_night_quality_csv(night_quality(metadata), out_dir / "night_quality.csv")
    messages: list[str] = []
    curves = None
    if lightcurves:
        done = [results[i] for i in sorted(results) if results[i].ok]
        curves, message = _write_lightcurves(done, out_dir, differential)
        if message:
            messages.append(message)
    if transients is not None:
        from rpf.pipeline.followup import write_run_targets

        written, notes = write_run_targets([results[i] for i in sorted(results)], out_dir, transients=transients)
        messages.extend(notes)
        messages.extend(f"{name.replace('_', '.')}: {path}" for name, path in written.items())
    fits, notes = fit_night_extinction(metadata)
    messages.extend(notes)
    extinction = write_extinction_json(fits, out_dir / "extinction.json") if fits else None
    n_ok = sum(r.ok for r in results.values())
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
    )


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
