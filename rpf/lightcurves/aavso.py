"""A star's light curve in the AAVSO Extended File Format (version 1.2).

The file is a block of ``#KEY=value`` parameter lines (``TYPE=EXTENDED``,
``OBSCODE``, ``SOFTWARE``, ``DELIM``, ``DATE``, ``OBSTYPE``) followed by
one observation per line, fields separated by the delimiter:
``STARID, DATE, MAGNITUDE, MAGERR, FILTER, TRANS, MTYPE, CNAME, CMAG, KNAME,
KMAG, AMASS, GROUP, CHART, NOTES``; a missing optional value is ``na``.
RPF writes JD dates (mid-exposure), standardised magnitudes (``MTYPE=STD``:
the ensemble differential magnitude on the catalogue-calibrated scale),
``CNAME=ENSEMBLE`` with ``CMAG=na`` for an ensemble of several comparison
stars (the comparison star's label and instrumental magnitude for a single
one), and the check star's label and instrumental magnitude in
``KNAME``/``KMAG``.  Field lengths follow the specification's limits; see
``docs/lightcurves.md``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from rpf import __version__
from rpf.atomic import write_atomic
from rpf.errors import ProductError, ZeroPointError
from rpf.lightcurves.target import StarLightCurve
from rpf.zeropoint import choose_band

__all__ = ["AAVSO_FIELDS", "aavso_extended", "aavso_filter", "write_aavso_extended"]

AAVSO_FIELDS = ("STARID", "DATE", "MAGNITUDE", "MAGERR", "FILTER", "TRANS", "MTYPE", "CNAME", "CMAG", "KNAME",
                "KMAG", "AMASS", "GROUP", "CHART", "NOTES")
"""The data fields of one observation, in order."""

_LIMITS = {"STARID": 30, "DATE": 16, "MAGNITUDE": 8, "MAGERR": 6, "CNAME": 20, "CMAG": 8, "KNAME": 20, "KMAG": 8,
           "AMASS": 7, "GROUP": 5, "CHART": 20, "NOTES": 100}
_JOHNSON = {"U", "B", "V", "R", "I", "J", "H", "K"}
_SDSS = {"u": "SU", "g": "SG", "r": "SR", "i": "SI", "z": "SZ"}
_CLEAR = {"V": "CV", "R": "CR"}
_BAND_COLUMNS = ("U_mag", "B_mag", "V_mag", "R_mag", "I_mag", "u_mag", "g_mag", "r_mag", "i_mag", "z_mag",
                 "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag")


def aavso_filter(band: str, filter_name: str | None) -> str:
    """Return the AAVSO filter code of frames calibrated in ``band`` through ``filter_name``.

    Johnson-Cousins ``UBVRI`` (and ``JHK``) keep their letter, SDSS
    ``ugriz`` become ``SU SG SR SI SZ``, and an unfiltered (clear) frame
    calibrated in V or R becomes ``CV`` or ``CR``.

    Raises
    ------
    rpf.errors.ProductError
        A band with no AAVSO code (e.g. Gaia G, Tycho VT): pass the code explicitly.
    """
    try:
        through = choose_band(filter_name or "", _BAND_COLUMNS).name
    except ZeroPointError:
        through = None
    if through == band and band in _JOHNSON:
        return band
    if through == band and band in _SDSS:
        return _SDSS[band]
    if through == "G" and band in _CLEAR:
        return _CLEAR[band]
    raise ProductError(f"AAVSO: no filter code for band {band!r} through filter {filter_name!r}; "
                       "give filter_code (e.g. 'V', 'CV', 'SG')")


def _number(value: float, decimals: int, limit: int) -> str:
    """Format a finite number with a decimal point, fewer decimals if needed to fit; ``na`` otherwise."""
    if value is None or not math.isfinite(value):
        return "na"
    for places in range(decimals, 0, -1):
        text = f"{value:.{places}f}"
        if len(text) <= limit:
            return text
    return "na"


def _field(name: str, value: str, delim: str) -> str:
    text = str(value).strip() or "na"
    if delim in text or "#" in text[:1] or "\n" in text:
        raise ProductError(f"AAVSO: {name} {text!r} contains the delimiter {delim!r}, a newline or a leading '#'")
    if len(text) > _LIMITS.get(name, 999):
        raise ProductError(f"AAVSO: {name} {text!r} is longer than {_LIMITS[name]} characters")
    return text


def aavso_extended(
    curve: StarLightCurve,
    *,
    obscode: str,
    starid: str | None = None,
    filter_code: str | None = None,
    chart: str = "na",
    group: str = "na",
    transformed: bool = False,
    delim: str = ",",
    obstype: str = "CCD",
    software: str | None = None,
    notes: str | None = None,
) -> str:
    """Return the light curve as an AAVSO Extended File Format report.

    One observation per point with a finite differential magnitude.

    Parameters
    ----------
    curve : StarLightCurve
        The star's light curve (its ``diff_mag``, ``diff_mag_err``).
    obscode : str
        The observer's AAVSO code.
    starid : str, optional
        The star's AAVSO name or designation (default: the curve's label).
    filter_code : str, optional
        AAVSO filter code (default: from each point's band and filter, :func:`aavso_filter`).
    chart : str
        AAVSO sequence (chart) ID of the comparison magnitudes, or ``na``.
    group : str
        Grouping identifier (at most 5 characters) or ``na``.
    transformed : bool
        Whether the magnitudes were transformed to the standard system (``TRANS``).
    delim : str
        Field delimiter: one printable ASCII character other than ``#`` and space.
    obstype : str
        ``OBSTYPE`` (``CCD``, ``DSLR``, ``CMOS``, ``PEP``).
    software : str, optional
        ``SOFTWARE`` (default: ``RPF <version>``).
    notes : str, optional
        ``NOTES`` of every line (default: the ensemble's size, or ``na``).

    Returns
    -------
    str
        The report, one line per parameter and per observation.

    Raises
    ------
    rpf.errors.ProductError
        A bad delimiter, a field too long or containing the delimiter, no
        filter code, or no observation to report.
    """
    if len(delim) != 1 or not 32 < ord(delim) < 127 or delim == "#":
        raise ProductError(f"AAVSO: delimiter {delim!r} must be one printable ASCII character other than '#' and space")
    points = curve.points[np.isfinite(curve.points["diff_mag"])]
    if len(points) == 0:
        raise ProductError(f"AAVSO: {curve.label} has no differential magnitude to report")
    ensemble = len(curve.comparison) != 1
    cname = "ENSEMBLE" if ensemble else str(curve.comparison["label"][0])
    kname = str(curve.check["label"][0]) if len(curve.check) else "na"
    note = notes if notes is not None else (f"ensemble of {len(curve.comparison)} comparison stars" if ensemble
                                            else "na")
    head = [
        "#TYPE=EXTENDED",
        f"#OBSCODE={obscode}",
        f"#SOFTWARE={software or f'RPF {__version__}'}"[:265],
        f"#DELIM={delim}",
        "#DATE=JD",
        f"#OBSTYPE={obstype}",
        "#" + delim.join(AAVSO_FIELDS),
    ]
    lines = []
    for row in points:
        cmag = "na" if ensemble else _number(float(row["comparison_mag_inst"]), 3, _LIMITS["CMAG"])
        kmag = _number(float(row["check_mag_inst"]), 3, _LIMITS["KMAG"]) if kname != "na" else "na"
        values = {
            "STARID": starid or curve.label,
            "DATE": _number(float(row["jd"]), 6, _LIMITS["DATE"]),
            "MAGNITUDE": _number(float(row["diff_mag"]), 4, _LIMITS["MAGNITUDE"]),
            "MAGERR": _number(float(row["diff_mag_err"]), 4, _LIMITS["MAGERR"]),
            "FILTER": filter_code or aavso_filter(str(row["band"]), str(row["filter"])),
            "TRANS": "YES" if transformed else "NO",
            "MTYPE": "STD",
            "CNAME": cname,
            "CMAG": cmag,
            "KNAME": kname if kmag != "na" else "na",
            "KMAG": kmag,
            "AMASS": _number(float(row["airmass"]), 4, _LIMITS["AMASS"]),
            "GROUP": group,
            "CHART": chart,
            "NOTES": note,
        }
        if values["DATE"] == "na" or values["MAGNITUDE"] == "na":
            continue
        lines.append(delim.join(_field(k, values[k], delim) for k in AAVSO_FIELDS))
    return "\n".join(head + lines) + "\n"


def write_aavso_extended(curve: StarLightCurve, path: str | os.PathLike[str], **options: object) -> Path:
    """Write :func:`aavso_extended` to ``path`` (``.txt``, ``.csv`` or ``.tsv``) atomically; return the path."""
    path = Path(path)
    if path.suffix.lower() not in {".txt", ".csv", ".tsv"}:
        raise ProductError(f"AAVSO: {path.name}: the file name must end in .txt, .csv or .tsv")
    return write_atomic(path, aavso_extended(curve, **options).encode("ascii"))
