"""Running astrometry.net's ``solve-field`` on a star list, under a time limit."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning

from rpf.errors import AstrometryError

__all__ = ["SolveHints", "run_solve_field"]

#: Sources handed to astrometry.net (brightest first).
MAX_SOURCES = 300


@dataclass(frozen=True)
class SolveHints:
    """Optional pointing and scale hints for ``solve-field``."""

    ra: float | None = None
    dec: float | None = None
    radius_deg: float | None = None
    scale_low: float | None = None
    scale_high: float | None = None


def _hint_args(hints: SolveHints) -> list[str]:
    args = []
    if hints.ra is not None and hints.dec is not None and hints.radius_deg:
        args += ["--ra", repr(hints.ra), "--dec", repr(hints.dec), "--radius", repr(hints.radius_deg)]
    if hints.scale_low and hints.scale_high:
        args += ["--scale-units", "arcsecperpix", "--scale-low", repr(hints.scale_low),
                 "--scale-high", repr(hints.scale_high)]
    return args


def run_solve_field(
    xy: np.ndarray,
    *,
    shape: tuple[int, int],
    index_files: list[Path],
    workdir: Path,
    time_limit_s: float,
    hints: SolveHints = SolveHints(),  # noqa: B008 - frozen, immutable default
) -> WCS:
    """Solve a star list with ``solve-field`` and the given index files.

    Parameters
    ----------
    xy : numpy.ndarray
        ``(n, 2)`` 0-based pixel positions, brightest first.
    shape : tuple of int
        Image shape ``(ny, nx)``.
    index_files : list of pathlib.Path
        astrometry.net index files to search.
    workdir : pathlib.Path
        Scratch directory.
    time_limit_s : float
        CPU limit given to the engine; the process is killed 2 s after it (wall time).
    hints : SolveHints
        Pointing and pixel-scale hints.

    Returns
    -------
    astropy.wcs.WCS
        The solution (pixel convention of astropy; call with ``origin=0`` for 0-based pixels).

    Raises
    ------
    AstrometryError
        Tool missing, no index, no solution, or out of time.
    """
    tool = shutil.which("solve-field")
    if tool is None:
        msg = "solve-field (astrometry.net) is not installed"
        raise AstrometryError(msg)
    if not index_files:
        msg = "no astrometry.net index files to search"
        raise AstrometryError(msg)
    ny, nx = shape
    xy = np.asarray(xy, float)[:MAX_SOURCES]
    stars = workdir / "stars.xyls"
    flux = np.arange(len(xy), 0, -1, dtype=float)
    Table({"X": xy[:, 0] + 1.0, "Y": xy[:, 1] + 1.0, "FLUX": flux}).write(stars, format="fits", overwrite=True)
    config = workdir / "astrometry.cfg"
    limit = max(1, int(round(time_limit_s)))
    config.write_text(f"cpulimit {limit}\n" + "".join(f"index {p}\n" for p in index_files))
    out = workdir / "out"
    cmd = [tool, "--config", str(config), "--overwrite", "--no-plots", "--no-remove-lines", "--no-verify-uniformize",
           "--uniformize", "0", "-X", "X", "-Y", "Y", "-s", "FLUX", "--width", str(nx), "--height", str(ny),
           "--dir", str(out), "--crpix-center", "--tweak-order", "2", "--cpulimit", str(limit),
           "--new-fits", "none", "--index-xyls", "none", "--rdls", "none", "--match", "none", "--corr", "none",
           *_hint_args(hints), str(stars)]
    try:
        subprocess.run(cmd, capture_output=True, text=True, timeout=time_limit_s + 2.0, check=False)
    except subprocess.TimeoutExpired as exc:
        msg = f"astrometry.net did not finish within {time_limit_s:g} s"
        raise AstrometryError(msg) from exc
    solved = out / "stars.wcs"
    if not (out / "stars.solved").exists() or not solved.exists():
        msg = f"astrometry.net found no solution within {time_limit_s:g} s with {len(index_files)} index file(s)"
        raise AstrometryError(msg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(fits.getheader(solved), naxis=2, relax=True)
    wcs.pixel_shape = (nx, ny)
    return wcs
