"""Per-target follow-up reports: a text block in the style of a GCN circular and the same numbers as JSON.

The input is the run-level target table (``targets.csv``: one row per frame
and target, with the columns of :func:`rpf.targets.measure_targets` and the
frame's ``observatory, instrument, filter, exptime, ncombine,
reference_catalog, zero_point, zero_point_err, n_calib_stars``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from astropy.time import Time

from rpf.products import write_atomic

__all__ = ["circular_text", "follow_up_reports", "write_reports"]


def _num(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    text = str(value).strip()
    return "" if text.lower() in ("nan", "none", "--") else text


def _measurement(row, t0_mjd: float | None) -> dict[str, Any]:
    mjd = _num(row["mjd_mid"])
    detected = bool(row["detected"]) and _num(row["mag"]) is not None
    return {
        "frame": _text(row["frame"]),
        "mjd_mid": mjd,
        "utc_mid": Time(mjd, format="mjd", scale="utc").isot if mjd is not None else None,
        "hours_since_t0": (mjd - t0_mjd) * 24.0 if (mjd is not None and t0_mjd is not None) else None,
        "filter": _text(row["filter"]) if "filter" in row.colnames else "",
        "band": _text(row["band"]) if "band" in row.colnames else "",
        "exptime_s": _num(row["exptime"]) if "exptime" in row.colnames else None,
        "ncombine": int(row["ncombine"]) if "ncombine" in row.colnames and _num(row["ncombine"]) else 1,
        "detected": detected,
        "mag": _num(row["mag"]) if detected else None,
        "mag_err": _num(row["mag_err"]) if detected else None,
        "upper_limit": _num(row["upper_limit"]),
        "limit_sigma": _num(row["limit_sigma"]) if "limit_sigma" in row.colnames else None,
        "snr": _num(row["snr"]),
        "flags": int(row["flags"]),
        "zero_point": _num(row["zero_point"]) if "zero_point" in row.colnames else None,
        "zero_point_err": _num(row["zero_point_err"]) if "zero_point_err" in row.colnames else None,
        "n_calib_stars": int(_num(row["n_calib_stars"]) or 0) if "n_calib_stars" in row.colnames else 0,
    }


def _usable(row) -> bool:
    """Return True for a row with a magnitude or a limit, not a moving target on a stack (clipped out of it)."""
    if "moving" in row.colnames and "ncombine" in row.colnames and _moving(row["moving"]) and int(row["ncombine"]) > 1:
        return False
    return _num(row["upper_limit"]) is not None or (bool(row["detected"]) and _num(row["mag"]) is not None)


def _moving(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1")


def follow_up_reports(targets: Table, *, t0_mjd: float | None = None) -> list[dict[str, Any]]:
    """Return one report (JSON-serialisable numbers) per target, measurements in time order.

    Parameters
    ----------
    targets : astropy.table.Table
        The run's target table (see the module docstring).
    t0_mjd : float, optional
        Reference time (trigger, discovery) as UTC MJD; adds ``hours_since_t0``.

    Returns
    -------
    list of dict
        ``target, ra, dec, t0_utc, observatory, instrument, reference_catalog,
        measurements`` (frames with a position on the image: every frame and
        the stacks, each with ``detected``, ``mag, mag_err`` or the
        ``upper_limit``; a moving target's rows on stacks are left out: it is
        clipped out of a sidereal stack) and ``best`` (the detection of
        highest SNR, else the deepest limit).
    """
    reports = []
    for name in dict.fromkeys(str(n) for n in targets["target"]):
        rows = targets[np.asarray(targets["target"], str) == name]
        rows = rows[np.argsort(np.nan_to_num(np.asarray(rows["mjd_mid"], float), nan=np.inf))]
        measured = [_measurement(r, t0_mjd) for r in rows if _usable(r)]
        first = rows[0]
        detections = [m for m in measured if m["detected"]]
        if detections:
            best = max(detections, key=lambda m: m["snr"] or 0.0)
        elif measured:
            best = max(measured, key=lambda m: m["upper_limit"] or -np.inf)
        else:
            best = None
        reports.append({
            "target": name,
            "ra": _num(first["ra"]),
            "dec": _num(first["dec"]),
            "t0_utc": Time(t0_mjd, format="mjd", scale="utc").isot if t0_mjd is not None else None,
            "observatory": _text(first["observatory"]) if "observatory" in rows.colnames else "",
            "instrument": _text(first["instrument"]) if "instrument" in rows.colnames else "",
            "reference_catalog": _text(first["reference_catalog"]) if "reference_catalog" in rows.colnames else "",
            "n_frames": len(rows),
            "measurements": measured,
            "best": best,
        })
    return reports


def _mag_text(m: dict[str, Any]) -> str:
    if m["detected"]:
        return f"{m['mag']:.2f} +/- {m['mag_err']:.2f}"
    sigma = f"{m['limit_sigma']:g}" if m["limit_sigma"] else "3"
    return f"> {m['upper_limit']:.2f} ({sigma} sigma)"


def circular_text(report: dict[str, Any]) -> str:
    """Return the circular-style text block of one target report (see :func:`follow_up_reports`)."""
    name = report["target"]
    where = " at ".join(p for p in (report["instrument"], report["observatory"]) if p) or "our telescope"
    measurements = report["measurements"]
    if not measurements:
        return f"{name}: the target fell on none of the {report['n_frames']} frames (or they had no calibration).\n"
    first = measurements[0]
    t0 = report["t0_utc"]
    start = f"starting at {first['utc_mid']} UTC (mid-exposure)" if first["utc_mid"] else "on an unknown date"
    if t0 and first["hours_since_t0"] is not None:
        start += f", {first['hours_since_t0']:.2f} h after T0 ({t0} UTC)"
    lines = [f"{name}: optical follow-up with {where}", ""]
    lines.append(
        f"We observed the position of {name} (RA, Dec = {report['ra']:.5f}, {report['dec']:+.5f} deg) "
        f"with {where}, {start}."
    )
    best = report["best"]
    if best["detected"]:
        lines.append(f"The source is detected at {best['filter'] or best['band']} = {_mag_text(best)} mag "
                     f"(SNR {best['snr']:.1f}, {best['frame']}).")
    else:
        lines.append(f"The source is not detected; the deepest limit is {best['filter'] or best['band']} "
                     f"{_mag_text(best)} mag ({best['frame']}).")
    lines += ["", f"{'T-T0 (h)' if t0 else 'UTC mid-exposure':>23}  {'Filter':<7}{'Exp (s)':>9}  Mag"]
    for m in measurements:
        when = f"{m['hours_since_t0']:.3f}" if (t0 and m["hours_since_t0"] is not None) else (m["utc_mid"] or "?")
        exposure = f"{m['exptime_s']:.0f}" if m["exptime_s"] else "?"
        if m["ncombine"] > 1:
            exposure = f"{m['ncombine']}x{m['exptime_s'] / m['ncombine']:.0f}"
        lines.append(f"{when:>23}  {(m['filter'] or m['band']):<7}{exposure:>9}  {_mag_text(m)}")
    catalog = report["reference_catalog"] or "the reference catalogue"
    zps = [m["zero_point"] for m in measurements if m["zero_point"] is not None]
    calibration = f"Magnitudes are calibrated against {catalog} ({first['band'] or first['filter']})"
    if zps:
        n_stars = [m["n_calib_stars"] for m in measurements if m["n_calib_stars"]]
        calibration += (f", zero points {min(zps):.3f} to {max(zps):.3f} from {min(n_stars, default=0)} to "
                        f"{max(n_stars, default=0)} stars per frame")
    lines += ["", calibration + "; they are not corrected for Galactic extinction. "
              "Upper limits are from the local background noise at the position."]
    return "\n".join(lines) + "\n"


def write_reports(
    targets: Table, out_dir: str | Path, *, t0_mjd: float | None = None
) -> tuple[Path, Path]:
    """Write ``report.txt`` (every target's circular block) and ``report.json`` (the numbers) to ``out_dir``."""
    out = Path(out_dir)
    reports = follow_up_reports(targets, t0_mjd=t0_mjd)
    text = "\n\n".join(circular_text(r) for r in reports)
    write_atomic(out / "report.txt", text)
    write_atomic(out / "report.json", json.dumps({"t0_mjd": t0_mjd, "targets": reports}, indent=2) + "\n")
    return out / "report.txt", out / "report.json"

