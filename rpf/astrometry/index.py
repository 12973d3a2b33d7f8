"""Temporary astrometry.net index built from a reference catalogue cone."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
from astropy.table import Table

from rpf.errors import AstrometryError

__all__ = ["build_index", "quad_range_arcmin"]


def quad_range_arcmin(*, shape: tuple[int, int], pixel_scale: float) -> tuple[float, float]:
    """Return the quad sizes (arcmin) suited to an image: 15-60 % of its shorter side."""
    side = min(shape) * pixel_scale / 60.0
    return 0.15 * side, 0.6 * side


def build_index(
    ra: np.ndarray,
    dec: np.ndarray,
    mag: np.ndarray,
    *,
    workdir: Path,
    quad_arcmin: tuple[float, float],
    time_limit_s: float,
) -> Path:
    """Build an astrometry.net index of the given stars with ``build-astrometry-index``.

    Parameters
    ----------
    ra, dec, mag : numpy.ndarray
        Reference stars (deg, deg, mag); brighter stars are preferred in quads.
    workdir : pathlib.Path
        Directory receiving the catalogue and the index.
    quad_arcmin : tuple of float
        Smallest and largest quad size (arcmin).
    time_limit_s : float
        Time limit of the build.

    Returns
    -------
    pathlib.Path
        The index file.

    Raises
    ------
    AstrometryError
        The tool is missing, failed or ran out of time.
    """
    tool = shutil.which("build-astrometry-index")
    if tool is None:
        msg = "build-astrometry-index (astrometry.net) is not installed"
        raise AstrometryError(msg)
    mag = np.where(np.isfinite(mag), mag, 99.0)
    catalog = workdir / "reference.fits"
    Table({"RA": np.asarray(ra, float), "DEC": np.asarray(dec, float), "MAG": mag}).write(catalog, overwrite=True)
    index = workdir / "index-rpf.fits"
    low, high = quad_arcmin
    nside = max(1, math.ceil(3518.0 / low))
    cmd = [tool, "-i", str(catalog), "-o", str(index), "-N", str(nside), "-l", f"{low:.4f}", "-u", f"{high:.4f}",
           "-S", "MAG", "-E", "-M", "-n", "12", "-r", "1", "-I", "1", "-t", str(workdir)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=time_limit_s, check=False)
    except subprocess.TimeoutExpired as exc:
        msg = f"building the index took longer than {time_limit_s:g} s"
        raise AstrometryError(msg) from exc
    if done.returncode != 0 or not index.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        msg = f"build-astrometry-index failed ({tail[0]})"
        raise AstrometryError(msg)
    return index
