"""Two runs of the same frames with different parameters, side by side.

:func:`compare_runs` pairs the frames of two runs by name, the stars of each
pair of frames by sky position (``rpf.skymatch.match_sky``, radius from the
two frames' FWHM and astrometric RMS), and returns per-star magnitude
differences, per-frame zero points and counts, a summary, and the
configuration parameters that differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from rpf.lightcurves import FrameRecord
from rpf.night.quality import metadata_number
from rpf.skymatch import match_radius_arcsec, match_sky

__all__ = ["FRAME_COLUMNS", "STAR_COLUMNS", "RunComparison", "compare_runs"]

FRAME_COLUMNS = (
    "frame", "status_a", "status_b", "zero_point_a", "zero_point_b", "zero_point_diff", "n_sources_a",
    "n_sources_b", "n_calib_stars_a", "n_calib_stars_b", "fwhm_arcsec_a", "fwhm_arcsec_b", "limiting_mag_a",
    "limiting_mag_b", "n_matched", "n_only_a", "n_only_b", "median_mag_diff", "mag_diff_scatter", "radius_arcsec",
)
"""Columns of :attr:`RunComparison.frames` (``_diff`` = b - a)."""

STAR_COLUMNS = ("frame", "ra", "dec", "mag_a", "mag_b", "mag_err_a", "mag_err_b", "mag_diff", "mag_diff_sigma",
                "flags_a", "flags_b")
"""Columns of :attr:`RunComparison.stars` (``mag_diff = mag_b - mag_a``, ``mag_diff_sigma`` in combined errors)."""


@dataclass(frozen=True, eq=False)
class RunComparison:
    """Run ``b`` against run ``a``.

    Attributes
    ----------
    frames : astropy.table.Table
        One row per frame present in both runs (:data:`FRAME_COLUMNS`).
    stars : astropy.table.Table
        One row per star matched in a frame of both runs (:data:`STAR_COLUMNS`).
    summary : dict
        ``n_frames``, ``only_a``, ``only_b`` (frame names in one run only),
        ``n_matched``, ``median_zero_point_diff``, ``median_mag_diff``,
        ``mag_diff_scatter`` (1.4826 MAD), ``median_abs_sigma`` (of
        ``mag_diff_sigma``), ``n_sources_a``, ``n_sources_b``.
    parameters : dict
        ``{"section.name": (value_a, value_b)}`` for every configuration
        parameter that differs (from the first common frame's metadata).
    """

    frames: Table
    stars: Table
    summary: dict[str, Any]
    parameters: dict[str, tuple[Any, Any]]


def _name(record: FrameRecord) -> str:
    return str(record.metadata.get("frame") or Path(record.path).name)


def _column(phot: Any, name: str, n: int) -> np.ndarray:
    if phot is None or name not in phot.colnames:
        return np.full(n, np.nan)
    column = phot[name]
    return np.asarray(getattr(column, "value", column), float)


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _differences(meta_a: Mapping[str, Any], meta_b: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    a, b = _flat(meta_a.get("parameters") or {}), _flat(meta_b.get("parameters") or {})
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _radius(meta_a: Mapping[str, Any], meta_b: Mapping[str, Any], radius_arcsec: float | None) -> float:
    if radius_arcsec is not None:
        return float(radius_arcsec)
    fwhm = np.nanmax([metadata_number(m.get("fwhm_arcsec")) for m in (meta_a, meta_b)] + [-1.0])
    rms = math.hypot(*(metadata_number(m.get("wcs_rms_arcsec")) for m in (meta_a, meta_b)))
    return match_radius_arcsec(fwhm_arcsec=fwhm if fwhm > 0 else None, wcs_rms_arcsec=rms, minimum=0.5, maximum=5.0)


def _pair(name: str, a: FrameRecord, b: FrameRecord, column: str, radius: float) -> tuple[dict, dict]:
    n_a = 0 if a.phot is None else len(a.phot)
    n_b = 0 if b.phot is None else len(b.phot)
    i_a, i_b = match_sky(_column(a.phot, "ra", n_a), _column(a.phot, "dec", n_a), _column(b.phot, "ra", n_b),
                         _column(b.phot, "dec", n_b), radius_arcsec=radius)
    mag_a, mag_b = _column(a.phot, column, n_a)[i_a], _column(b.phot, column, n_b)[i_b]
    err_a, err_b = _column(a.phot, f"{column}_err", n_a)[i_a], _column(b.phot, f"{column}_err", n_b)[i_b]
    diff = mag_b - mag_a
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = diff / np.hypot(err_a, err_b)
    stars = {
        "frame": [name] * len(i_a), "ra": _column(a.phot, "ra", n_a)[i_a], "dec": _column(a.phot, "dec", n_a)[i_a],
        "mag_a": mag_a, "mag_b": mag_b, "mag_err_a": err_a, "mag_err_b": err_b, "mag_diff": diff,
        "mag_diff_sigma": sigma, "flags_a": _column(a.phot, "flags", n_a)[i_a],
        "flags_b": _column(b.phot, "flags", n_b)[i_b],
    }
    finite = diff[np.isfinite(diff)]
    ma, mb = a.metadata, b.metadata
    frame = {
        "frame": name, "status_a": str(ma.get("status", "")), "status_b": str(mb.get("status", "")),
        **{f"{k}_{s}": metadata_number(m.get(k)) for k in ("zero_point", "n_sources", "n_calib_stars",
                                                           "fwhm_arcsec", "limiting_mag")
           for s, m in (("a", ma), ("b", mb))},
        "n_matched": len(i_a), "n_only_a": n_a - len(i_a), "n_only_b": n_b - len(i_b),
        "median_mag_diff": float(np.median(finite)) if finite.size else math.nan,
        "mag_diff_scatter": _mad(finite), "radius_arcsec": radius,
    }
    frame["zero_point_diff"] = frame["zero_point_b"] - frame["zero_point_a"]
    return frame, stars


def _mad(values: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(values - np.median(values)))) if values.size else math.nan


def compare_runs(
    a: Sequence[FrameRecord],
    b: Sequence[FrameRecord],
    *,
    column: str = "mag",
    radius_arcsec: float | None = None,
) -> RunComparison:
    """Compare two runs of the same frames frame by frame and star by star.

    Parameters
    ----------
    a, b : sequence of FrameRecord
        The finished (or failed) frames of each run (``FrameDone`` results,
        or anything with ``path``, ``metadata`` and ``phot``).
    column : str
        Magnitude column compared (its error is ``<column>_err``), e.g.
        ``mag``, ``mag_inst`` or ``psf_mag``.
    radius_arcsec : float, optional
        Star match radius; default per frame,
        ``max(3 * hypot(rms_a, rms_b), 0.5 * fwhm)`` within [0.5, 5] arcsec.

    Returns
    -------
    RunComparison
    """
    by_a, by_b = {_name(r): r for r in a}, {_name(r): r for r in b}
    common = [n for n in by_a if n in by_b]
    frames, stars = [], {name: [] for name in STAR_COLUMNS}
    for name in common:
        radius = _radius(by_a[name].metadata, by_b[name].metadata, radius_arcsec)
        frame, matched = _pair(name, by_a[name], by_b[name], column, radius)
        frames.append(frame)
        for key in STAR_COLUMNS:
            stars[key].extend(matched[key])
    frame_table = Table(rows=[[f[c] for c in FRAME_COLUMNS] for f in frames], names=FRAME_COLUMNS) if frames else \
        Table(names=FRAME_COLUMNS, dtype=[str, str, str, *[float] * 17])
    star_table = Table(stars, names=STAR_COLUMNS, dtype=[str, *[float] * 10])
    diff = np.asarray(star_table["mag_diff"], float)
    diff = diff[np.isfinite(diff)]
    sigma = np.asarray(star_table["mag_diff_sigma"], float)
    sigma = sigma[np.isfinite(sigma)]
    zp = np.asarray(frame_table["zero_point_diff"], float)
    zp = zp[np.isfinite(zp)]
    summary = {
        "n_frames": len(common),
        "only_a": [n for n in by_a if n not in by_b],
        "only_b": [n for n in by_b if n not in by_a],
        "n_matched": len(star_table),
        "median_zero_point_diff": float(np.median(zp)) if zp.size else math.nan,
        "median_mag_diff": float(np.median(diff)) if diff.size else math.nan,
        "mag_diff_scatter": _mad(diff),
        "median_abs_sigma": float(np.median(np.abs(sigma))) if sigma.size else math.nan,
        "n_sources_a": int(np.nansum(frame_table["n_sources_a"])) if frames else 0,
        "n_sources_b": int(np.nansum(frame_table["n_sources_b"])) if frames else 0,
    }
    parameters = _differences(by_a[common[0]].metadata, by_b[common[0]].metadata) if common else {}
    return RunComparison(frames=frame_table, stars=star_table, summary=summary, parameters=parameters)
