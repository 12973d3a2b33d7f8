"""Choose the reference-catalogue column that matches a frame's filter.

Johnson/Cousins ``U B V R I`` and SDSS ``u g r i z`` come from Gaia XP
synthetic photometry (``U_mag`` .. ``z_mag``), Gaia ``G``/``BP``/``RP`` from
the Gaia mean magnitudes, and ``V`` falls back to Tycho ``VT_mag`` when the
reference is the offline Tycho-2 catalogue.  Upper and lower case are distinct
(``R`` is Johnson/Cousins, ``r`` is SDSS) unless a system prefix
(``Johnson``, ``Bessell``, ``Cousins``, ``SDSS``, ``Sloan``) says which one.
Unfiltered or unknown filters use Gaia ``G``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from rpf.errors import ZeroPointError

__all__ = ["GAIA_COLUMNS", "BandChoice", "band_matches_filter", "choose_band"]

GAIA_COLUMNS = {"G": "phot_g_mean_mag", "BP": "phot_bp_mean_mag", "RP": "phot_rp_mean_mag"}
"""Gaia DR3 mean magnitude column of each Gaia band."""

_UPPER_PREFIXES = ("johnson", "bessell", "cousins", "jc", "ubvri")
_LOWER_PREFIXES = ("sdss", "sloan", "ps1", "panstarrs")
_CLEAR = {"", "clear", "c", "cl", "l", "lum", "luminance", "none", "open", "unknown", "unfiltered", "w", "white"}


@dataclass(frozen=True)
class BandChoice:
    """The reference column calibrating a filter.

    Attributes
    ----------
    name : str
        Band label (``"V"``, ``"r"``, ``"G"``, ``"VT"``).
    column : str
        Reference-table column holding the magnitudes.
    error_column : str or None
        Column of their uncertainties, when the reference has one.
    system : str
        ``"Johnson"``, ``"SDSS"``, ``"Gaia"`` or ``"Tycho"``.
    """

    name: str
    column: str
    error_column: str | None
    system: str


def _letter(filter_name: str) -> tuple[str, str | None]:
    """Split a filter name into its band letters and the system its prefix names."""
    text = filter_name.strip()
    low = text.lower()
    for prefix in (*_UPPER_PREFIXES, *_LOWER_PREFIXES, "gaia"):
        if low.startswith(prefix) and len(low) > len(prefix):
            rest = re.sub(r"^[\s_\-:.]+", "", text[len(prefix) :])
            system = "Johnson" if prefix in _UPPER_PREFIXES else "SDSS" if prefix in _LOWER_PREFIXES else "Gaia"
            return rest, system
    return text, None


def _candidate(filter_name: str) -> tuple[str, str]:
    letters, system = _letter(filter_name)
    letters = letters.rstrip("'’").strip()
    if letters.lower() in _CLEAR and system is None:
        return "G", "Gaia"
    if system == "Gaia" or letters.upper() in ("BP", "RP", "GBP", "GRP"):
        key = letters.upper().removeprefix("G") or "G"
        if key in GAIA_COLUMNS:
            return key, "Gaia"
    if letters in ("Rc", "RC", "R_c", "Ic", "IC", "I_c"):
        letters = letters[0].upper()
    if len(letters) != 1:
        raise ZeroPointError(f"filter {filter_name!r} does not name a known band")
    if system == "Johnson":
        letters = letters.upper()
    elif system == "SDSS":
        letters = letters.lower()
    if letters in "UBVRI":
        return letters, "Johnson"
    if letters in "ugriz":
        return letters, "SDSS"
    if letters == "G":
        return "G", "Gaia"
    raise ZeroPointError(f"filter {filter_name!r} does not name a known band")


def _error_column(column: str, available: Collection[str]) -> str | None:
    for name in (f"{column}_err", f"e_{column}", column.replace("_mag", "_mag_err")):
        if name in available:
            return name
    return None


def choose_band(filter_name: str, available: Collection[str], *, override: str | None = None) -> BandChoice:
    """Return the reference column that calibrates a filter.

    Parameters
    ----------
    filter_name : str
        The frame's filter (``"V"``, ``"Johnson R"``, ``"sdss_r"``, ``"r'"``,
        ``"Clear"``, ``"BP"`` ...).
    available : collection of str
        Columns of the reference table.
    override : str, optional
        A band (``"V"``) or a reference column (``"V_mag"``) that replaces the
        choice from the filter.

    Raises
    ------
    ZeroPointError
        The filter names no known band, or the reference lacks its column.
    """
    if override is not None and override in available:
        column = override
        name = next((k for k, v in GAIA_COLUMNS.items() if v == column), column.removesuffix("_mag"))
        system = "Gaia" if column in GAIA_COLUMNS.values() else "Tycho" if column == "VT_mag" else "override"
        return BandChoice(name, column, _error_column(column, available), system)
    name, system = _candidate(override if override is not None else filter_name)
    if system == "Gaia":
        column = GAIA_COLUMNS[name]
    else:
        column = f"{name}_mag"
    if column in available:
        return BandChoice(name, column, _error_column(column, available), system)
    if name == "V" and "VT_mag" in available:
        return BandChoice("VT", "VT_mag", _error_column("VT_mag", available), "Tycho")
    raise ZeroPointError(
        f"filter {filter_name!r} needs the reference column {column!r} ({system} {name}), "
        f"which the reference catalogue does not have"
    )


def band_matches_filter(filter_name: str, choice: BandChoice) -> bool:
    """Return True when ``choice`` is the filter's own band, so that no colour term is expected.

    An unfiltered, luminance or unknown filter, a filter that names no known
    band, a band forced to another one (``zeropoint.band``) and Johnson ``V``
    calibrated against Tycho ``V_T`` do not match.

    Parameters
    ----------
    filter_name : str
        The frame's filter.
    choice : BandChoice
        The reference column calibrating it.
    """
    letters, system = _letter(filter_name)
    if letters.rstrip("'’").strip().lower() in _CLEAR and system is None:
        return False
    try:
        name, system = _candidate(filter_name)
    except ZeroPointError:
        return False
    own_column = GAIA_COLUMNS[name] if system == "Gaia" else f"{name}_mag"
    return choice.column == own_column
