"""A night's quality at a glance: one row per frame and automatic outlier flags with their reasons.

:func:`night_quality` takes the frames' metadata dictionaries (those of the
``FrameDone``/``FrameFailed`` events so far, or of ``run_summary.csv``) and
returns the per-frame table a night view draws: time, airmass, zero point
with the night's extinction line and the frame's residual from it, FWHM,
background, number of sources, limiting magnitude, astrometric RMS and WCS
source, and ``flags``/``reasons`` saying why a frame is an outlier.
Statistics are robust (median and MAD over the night's ok frames of the same
filter), so a few bad frames do not hide themselves; the thresholds are the
fields of :class:`QualityThresholds` (documented in ``docs/night.md``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from rpf.atomic import atomic_path
from rpf.errors import ConfigError
from rpf.pipeline.extinction import NightExtinction, fit_night_extinction

__all__ = ["QUALITY_COLUMNS", "QUALITY_FLAGS", "NightQuality", "QualityThresholds", "metadata_number",
           "night_quality", "write_night_quality_csv"]

QUALITY_COLUMNS = (
    "frame", "status", "flagged", "flags", "reasons", "date_obs", "mjd", "airmass", "filter", "band", "exptime",
    "zero_point", "zero_point_err", "zp_line", "zp_residual", "extinction_k", "extinction_k_err",
    "fwhm_arcsec", "fwhm_px", "background_level", "background_rms", "n_sources", "n_calib_stars",
    "limiting_mag", "wcs_source", "wcs_rms_arcsec",
)
"""Columns of the quality table and of ``night_quality.csv``, in order."""

QUALITY_FLAGS = ("failed", "astrometry", "no_zero_point", "zero_point", "fwhm", "background", "sources",
                 "limiting_mag", "wcs_rms")
"""The flag codes, in the order they are tested."""


@dataclass(frozen=True)
class QualityThresholds:
    """When a frame is flagged as an outlier.

    A quantity ``q`` is compared with the night's median ``m`` over the ok
    frames of the same filter, in units of the robust scatter
    ``s = max(1.4826 * MAD, floor)``; a frame is flagged when ``q`` is more
    than ``n_sigma * s`` away on the bad side.  Statistical flags need at
    least ``min_frames`` such frames.

    Attributes
    ----------
    n_sigma : float
        Robust standard deviations beyond which a frame is an outlier.
    min_frames : int
        Fewest ok frames of a filter for the statistical flags.
    zero_point_floor : float
        Smallest scatter (mag) of the zero-point residuals from the
        extinction line (or from the median when ``k`` is not fitted);
        flagged on both sides (clouds below, a wrong calibration above).
    fwhm_floor : float
        Smallest FWHM scatter, as a fraction of the median (flagged when larger).
    background_floor : float
        Smallest background scatter, as a fraction of the median (flagged when brighter).
    sources_floor : float
        Smallest scatter of the number of sources, as a fraction of the
        median (flagged when fewer).
    min_sources : int
        A frame with fewer sources is flagged whatever the night does.
    limiting_mag_floor : float
        Smallest scatter (mag) of the limiting magnitude (flagged when shallower).
    wcs_rms_floor : float
        Smallest scatter (arcsec) of the astrometric RMS (flagged when larger).
    """

    n_sigma: float = 4.0
    min_frames: int = 5
    zero_point_floor: float = 0.03
    fwhm_floor: float = 0.1
    background_floor: float = 0.1
    sources_floor: float = 0.1
    min_sources: int = 10
    limiting_mag_floor: float = 0.1
    wcs_rms_floor: float = 0.1

    def __post_init__(self) -> None:
        numbers = [self.n_sigma, self.zero_point_floor, self.fwhm_floor, self.background_floor,
                   self.sources_floor, self.limiting_mag_floor, self.wcs_rms_floor]
        if not all(math.isfinite(v) and v > 0 for v in numbers) or self.min_frames < 2 or self.min_sources < 0:
            raise ConfigError(f"quality thresholds out of range: {self}")


@dataclass(frozen=True, eq=False)
class NightQuality:
    """The quality table of a night and what it was judged against.

    Attributes
    ----------
    table : astropy.table.Table
        One row per frame, in time order (:data:`QUALITY_COLUMNS`).
    extinction : tuple of NightExtinction
        The extinction line per band (``zero_point = zp0 - k * airmass``).
    limits : dict
        ``{filter: {quantity: {"median", "sigma", "limit", "side"}}}``, the
        numbers behind the statistical flags (for drawing them).
    thresholds : QualityThresholds
        The thresholds used.
    """

    table: Table
    extinction: tuple[NightExtinction, ...]
    limits: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    thresholds: QualityThresholds = QualityThresholds()

    @property
    def flagged(self) -> list[str]:
        """Names of the flagged frames."""
        return [str(f) for f in self.table["frame"][self.table["flagged"]]]


def metadata_number(value: Any) -> float:
    """Return a metadata value as a float, NaN when it is missing, not a number or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _rows(metadata: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for meta in metadata:
        row = {name: metadata_number(meta.get(name)) for name in (
            "airmass", "exptime", "zero_point", "zero_point_err", "fwhm_arcsec", "fwhm_px", "background_level",
            "background_rms", "n_sources", "n_calib_stars", "limiting_mag", "wcs_rms_arcsec")}
        row["mjd"] = metadata_number(meta.get("mjd_mid"))
        for name in ("frame", "status", "date_obs", "filter", "band", "wcs_source"):
            row[name] = "" if meta.get(name) is None else str(meta.get(name))
        row["failed_stage"], row["error"] = meta.get("failed_stage"), meta.get("error")
        row["codes"], row["why"] = [], []
        rows.append(row)
    return rows


def _robust(values: np.ndarray, floor: float) -> tuple[float, float]:
    median = float(np.median(values))
    return median, max(1.4826 * float(np.median(np.abs(values - median))), floor)


def _flag(row: dict, code: str, why: str) -> None:
    row["codes"].append(code)
    row["why"].append(why)


_CHECKS = (
    # code, quantity, floor attribute, relative floor, bad side (+1: high is bad, -1: low, 0: both), unit, text
    ("fwhm", "fwhm_arcsec", "fwhm_floor", True, +1, '"', "FWHM"),
    ("background", "background_level", "background_floor", True, +1, " ADU", "background"),
    ("sources", "n_sources", "sources_floor", True, -1, "", "number of sources"),
    ("limiting_mag", "limiting_mag", "limiting_mag_floor", False, -1, " mag", "limiting magnitude"),
    ("wcs_rms", "wcs_rms_arcsec", "wcs_rms_floor", False, +1, '"', "astrometric RMS"),
)


def _statistical(rows: list[dict], thresholds: QualityThresholds) -> dict[str, dict[str, Any]]:
    """Flag the outliers of one filter's ok frames; return the limits used."""
    limits: dict[str, dict[str, Any]] = {}
    for code, key, floor_name, relative, side, unit, text in _CHECKS:
        quantity = "fwhm_px" if key == "fwhm_arcsec" and all(math.isnan(r[key]) for r in rows) else key
        have = [r for r in rows if not math.isnan(r[quantity])]
        if len(have) < thresholds.min_frames:
            continue
        values = np.array([r[quantity] for r in have])
        floor = getattr(thresholds, floor_name)
        median, sigma = _robust(values, floor * abs(float(np.median(values))) if relative else floor)
        limit = median + side * thresholds.n_sigma * sigma
        limits[quantity] = {"median": median, "sigma": sigma, "limit": limit, "side": "high" if side > 0 else "low"}
        unit = "px" if quantity == "fwhm_px" else unit
        for r in have:
            if side * (r[quantity] - limit) > 0:
                _flag(r, code, f"{text} {r[quantity]:.4g}{unit} {'above' if side > 0 else 'below'} the limit "
                               f"{limit:.4g}{unit} (night median {median:.4g}{unit})")
    return limits


def _zero_points(rows: list[dict], fits: dict[str, NightExtinction], thresholds: QualityThresholds) -> dict | None:
    """Residuals from the extinction line (or the median), flagged beyond ``n_sigma``; return the limits."""
    have = [r for r in rows if not math.isnan(r["zero_point"])]
    for r in have:
        fit = fits.get(r["band"])
        if fit is not None and not math.isnan(r["airmass"]):
            r["zp_line"] = fit.zp0 - fit.k * r["airmass"]
            r["extinction_k"], r["extinction_k_err"] = fit.k, fit.k_err
    if len(have) < thresholds.min_frames:
        for r in have:
            r["zp_residual"] = r["zero_point"] - r["zp_line"]
        return None
    median_zp = float(np.median([r["zero_point"] for r in have]))
    for r in have:
        if math.isnan(r["zp_line"]):
            r["zp_line"] = median_zp
        r["zp_residual"] = r["zero_point"] - r["zp_line"]
    center, sigma = _robust(np.array([r["zp_residual"] for r in have]), thresholds.zero_point_floor)
    limit = thresholds.n_sigma * sigma
    reference = "the extinction line" if fits else "the night's median"
    for r in have:
        offset = r["zp_residual"] - center
        if abs(offset) > limit:
            _flag(r, "zero_point", f"zero point {abs(offset):.3f} mag {'below' if offset < 0 else 'above'} "
                                   f"{reference} (limit {limit:.3f} mag)")
    return {"median": center, "sigma": sigma, "limit": limit, "side": "both"}


def night_quality(
    metadata: Iterable[Mapping[str, Any]],
    *,
    thresholds: QualityThresholds = QualityThresholds(),  # noqa: B008 - frozen
) -> NightQuality:
    """Return the per-frame quality table of a night with its outliers flagged.

    Flags (codes in ``flags``, comma-separated; sentences in ``reasons``,
    ``; ``-separated):

    - ``failed``: the frame failed (the stage and message are the reason);
    - ``astrometry``: no astrometric solution (``wcs_source`` ``none``);
    - ``no_zero_point``: solved but not calibrated;
    - ``zero_point``: residual from the band's extinction line (fitted by
      :func:`rpf.pipeline.extinction.fit_night_extinction`, else from the
      median zero point) beyond ``n_sigma`` robust sigmas (either side);
    - ``fwhm``, ``background``, ``wcs_rms``: above the median by more than
      ``n_sigma`` robust sigmas; ``sources``, ``limiting_mag``: below it;
      ``sources`` also below ``min_sources``.

    Parameters
    ----------
    metadata : iterable of mapping
        One contract metadata dictionary per frame (failed frames included).
    thresholds : QualityThresholds
        The thresholds.

    Returns
    -------
    NightQuality
    """
    metadata = list(metadata)
    rows = _rows(metadata)
    for r in rows:
        for name in ("zp_line", "zp_residual", "extinction_k", "extinction_k_err"):
            r[name] = math.nan
    fits, _ = fit_night_extinction(metadata)
    by_band = {f.band: f for f in fits}
    limits: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["status"] != "ok":
            stage = f" in {r['failed_stage']}" if r["failed_stage"] else ""
            _flag(r, "failed", f"{r['status'] or 'failed'}{stage}: {r['error'] or 'no message'}")
        elif r["wcs_source"] in ("", "none"):
            _flag(r, "astrometry", "no astrometric solution")
        elif math.isnan(r["zero_point"]):
            _flag(r, "no_zero_point", "no zero point")
    ok = [r for r in rows if r["status"] == "ok"]
    for name in sorted({r["filter"] for r in ok}):
        group = [r for r in ok if r["filter"] == name]
        limits[name] = _statistical(group, thresholds)
        zp_limits = _zero_points(group, by_band, thresholds)
        if zp_limits is not None:
            limits[name]["zp_residual"] = zp_limits
    for r in ok:
        if not math.isnan(r["n_sources"]) and r["n_sources"] < thresholds.min_sources and "sources" not in r["codes"]:
            _flag(r, "sources", f"{int(r['n_sources'])} sources, fewer than {thresholds.min_sources}")
    return NightQuality(table=_table(rows), extinction=tuple(fits), limits=limits, thresholds=thresholds)


def _table(rows: list[dict]) -> Table:
    order = sorted(range(len(rows)), key=lambda i: (math.isnan(rows[i]["mjd"]), rows[i]["mjd"], i))
    rows = [rows[i] for i in order]
    for r in rows:
        pairs = sorted(zip(r["codes"], r["why"], strict=True), key=lambda pair: QUALITY_FLAGS.index(pair[0]))
        r["codes"], r["why"] = [p[0] for p in pairs], [p[1] for p in pairs]
    data: dict[str, list] = {name: [] for name in QUALITY_COLUMNS}
    for r in rows:
        for name in QUALITY_COLUMNS:
            if name == "flagged":
                data[name].append(bool(r["codes"]))
            elif name == "flags":
                data[name].append(",".join(r["codes"]))
            elif name == "reasons":
                data[name].append("; ".join(r["why"]))
            else:
                data[name].append(r[name])
    strings = {"frame", "status", "flags", "reasons", "date_obs", "filter", "band", "wcs_source"}
    dtypes = [str if n in strings else bool if n == "flagged" else float for n in QUALITY_COLUMNS]
    return Table(data, names=QUALITY_COLUMNS, dtype=dtypes)


def write_night_quality_csv(quality: NightQuality, path: str | os.PathLike[str]) -> Path:
    """Write the quality table as CSV atomically (missing values empty); return the path."""
    table = Table(quality.table, copy=True)
    for name in table.colnames:
        if table[name].dtype.kind == "f":
            table[name] = [("" if math.isnan(v) else repr(float(v))) for v in table[name]]
    with atomic_path(path) as temporary:
        table.write(temporary, format="ascii.csv", overwrite=True)
    return Path(path)
