"""The end of a run, eager or on Dask: ``run_summary.csv`` and ``lightcurves.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rpf.errors import PhotometryError
from rpf.lightcurves import FramePhotometry, build_lightcurves, write_lightcurves_csv
from rpf.pipeline.events import RunFinished
from rpf.pipeline.state import FrameResult
from rpf.pipeline.summary import write_run_summary

__all__ = ["failed_result", "finish_run"]


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
    """
    metadata = [
        results[i].metadata if i in results else failed_result(p, f"{p}: cancelled", "cancelled").metadata
        for i, p in enumerate(paths)
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = write_run_summary(metadata, out_dir / "run_summary.csv")
    messages: list[str] = []
    curves = None
    if lightcurves:
        done = [results[i] for i in sorted(results) if results[i].ok]
        curves, message = _write_lightcurves(done, out_dir, differential)
        if message:
            messages.append(message)
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
        messages=tuple(messages),
    )


def _write_lightcurves(results: list[FrameResult], out_dir: Path, differential: bool) -> tuple[Path | None, str]:
    frames = [f for f in (_light_table(r) for r in results) if f is not None]
    if len(frames) < 2:
        return None, ""
    try:
        table = build_lightcurves(frames, differential=differential)
    except PhotometryError as exc:
        return None, f"lightcurves.csv not written: {exc}"
    counts = table.group_by("star_id").groups.indices
    if len(counts) < 2 or max(counts[1:] - counts[:-1]) < 2:
        return None, "lightcurves.csv not written: no star seen in two frames (fields do not overlap)"
    return write_lightcurves_csv(table, out_dir / "lightcurves.csv"), ""
