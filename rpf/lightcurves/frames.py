"""One frame's calibrated catalogue as light curves need it, and finding a star in it.

A run hands each finished frame to its caller as a ``FrameResult`` (the
``FrameDone`` event's ``result``): a metadata dictionary and a photometry
table.  :meth:`FramePhotometry.from_result` takes what the light curves use
from it; :func:`target_position` turns a table row or a cross-match name into
the sky position that picks a star.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rpf.errors import PhotometryError

__all__ = ["NAME_COLUMNS", "FramePhotometry", "FrameRecord", "target_position"]

NAME_COLUMNS = ("vsx_name", "simbad_id", "cat_id", "qso_name", "skybot_name", "colibri_name")
"""Photometry-table columns searched, in this order, for a star's name."""


class FrameRecord(Protocol):
    """What a finished frame offers (``rpf.pipeline.FrameResult`` is one)."""

    path: str
    metadata: Mapping[str, Any]
    phot: Any


def _values(table: Any, name: str, dtype: type = float) -> np.ndarray:
    if name not in table.colnames:
        raise PhotometryError(f"light curves: catalogue has no {name!r} column")
    column = table[name]
    return np.asarray(getattr(column, "value", column), dtype=dtype)


def _optional(table: Any, name: str) -> np.ndarray | None:
    return _values(table, name) if name in table.colnames else None


def _text(table: Any, name: str) -> np.ndarray | None:
    if name not in table.colnames:
        return None
    values = np.asarray(table[name]).astype(str)
    return np.where(np.isin(np.char.lower(values), ["", "--", "nan", "none"]), "", values)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


@dataclass(frozen=True, eq=False)
class FramePhotometry:
    """The calibrated catalogue of one frame, as light curves need it.

    Attributes
    ----------
    frame : str
        Frame name.
    mjd : float or None
        Mid-exposure time.
    airmass : float or None
        Airmass.
    ra, dec : ndarray
        Source positions (degrees); non-finite positions are ignored.
    mag, mag_err : ndarray
        Calibrated magnitudes and their errors (NaN without a zero point).
    flags : ndarray
        Source flag bitmasks (:class:`rpf.flags.SourceFlag`).
    mag_inst, mag_inst_err : ndarray or None
        Instrumental magnitudes and their (photon-noise) errors; the ensemble
        differential photometry works on them.  None: taken as ``mag``,
        ``mag_err``.
    color : ndarray or None
        Catalogue colour (Gaia BP-RP) of the matched reference star, NaN
        when unmatched.
    cat_id : ndarray or None
        Reference-catalogue identifier ("" when unmatched).
    known_variable : ndarray or None
        True for sources cross-matched with a known variable star (VSX).
    band, filter : str or None
        Calibration band and the frame's filter.
    """

    frame: str
    mjd: float | None
    airmass: float | None
    ra: np.ndarray
    dec: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray
    flags: np.ndarray
    mag_inst: np.ndarray | None = None
    mag_inst_err: np.ndarray | None = None
    color: np.ndarray | None = None
    cat_id: np.ndarray | None = None
    known_variable: np.ndarray | None = None
    band: str | None = None
    filter: str | None = None

    def __post_init__(self) -> None:
        n = len(self.ra)
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, np.ndarray) and len(value) != n:
                raise PhotometryError(f"light curves: frame {self.frame}: {item.name} has {len(value)} rows, not {n}")
        defaults = {
            "mag_inst": self.mag,
            "mag_inst_err": self.mag_err,
            "color": np.full(n, np.nan),
            "cat_id": np.full(n, "", dtype=str),
            "known_variable": np.zeros(n, bool),
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @classmethod
    def from_table(
        cls,
        table: Any,
        *,
        frame: str,
        mjd: float | None,
        airmass: float | None,
        band: str | None = None,
        filter: str | None = None,  # noqa: A002 - the metadata key
    ) -> FramePhotometry:
        """Take the light-curve columns from a photometry table (units dropped).

        ``ra, dec, mag, mag_err`` are required; ``flags``, ``mag_inst``,
        ``mag_inst_err``, ``cat_bp_rp``, ``cat_id`` and ``vsx_name`` are used
        when present.
        """
        flags = _values(table, "flags", np.int64) if "flags" in table.colnames else np.zeros(len(table), np.int64)
        vsx = _text(table, "vsx_name")
        return cls(
            frame=frame,
            mjd=mjd,
            airmass=airmass,
            ra=_values(table, "ra"),
            dec=_values(table, "dec"),
            mag=_values(table, "mag"),
            mag_err=_values(table, "mag_err"),
            flags=flags,
            mag_inst=_optional(table, "mag_inst"),
            mag_inst_err=_optional(table, "mag_inst_err"),
            color=_optional(table, "cat_bp_rp"),
            cat_id=_text(table, "cat_id"),
            known_variable=None if vsx is None else vsx != "",
            band=band,
            filter=filter,
        )

    @classmethod
    def from_result(cls, result: FrameRecord) -> FramePhotometry:
        """Take a finished frame's catalogue and its time, airmass, band and filter from its metadata.

        Raises
        ------
        rpf.errors.PhotometryError
            A frame without a photometry table, or whose table lacks ``ra,
            dec, mag, mag_err``.
        """
        meta = result.metadata
        name = str(meta.get("frame") or Path(result.path).name)
        if result.phot is None:
            raise PhotometryError(f"light curves: frame {name} has no photometry table")
        return cls.from_table(
            result.phot,
            frame=name,
            mjd=_number(meta.get("mjd_mid")),
            airmass=_number(meta.get("airmass")),
            band=meta.get("band"),
            filter=meta.get("filter"),
        )

    @property
    def has_positions(self) -> bool:
        """True when at least one source has a finite sky position (the frame was solved)."""
        return bool(np.any(np.isfinite(self.ra) & np.isfinite(self.dec)))


def _normal(name: str) -> str:
    return " ".join(str(name).split()).casefold()


def target_position(
    phot: Any | Sequence[Any], *, row: int | None = None, name: str | None = None
) -> tuple[float, float]:
    """Return the sky position of a star picked by a table row or by name.

    Parameters
    ----------
    phot : table or sequence of tables
        One frame's photometry table (for ``row``), or the tables of the
        frames so far (for ``name``: every table is searched).
    row : int, optional
        Row index in the (first) table.
    name : str, optional
        A name from the cross-matches or the reference catalogue, compared
        case- and space-insensitively with :data:`NAME_COLUMNS`.

    Returns
    -------
    ra, dec : float
        Degrees (for a name: the median over the frames where it was found).

    Raises
    ------
    rpf.errors.PhotometryError
        Neither or both of ``row`` and ``name``, a row out of range or
        without a position, or a name found nowhere.
    """
    tables = list(phot) if isinstance(phot, list | tuple) else [phot]
    if (row is None) == (name is None):
        raise PhotometryError("light curves: pick a star by exactly one of row or name")
    if row is not None:
        table = tables[0]
        if not 0 <= row < len(table):
            raise PhotometryError(f"light curves: row {row} is outside the table's {len(table)} rows")
        ra, dec = float(_values(table, "ra")[row]), float(_values(table, "dec")[row])
        if not (np.isfinite(ra) and np.isfinite(dec)):
            raise PhotometryError(f"light curves: row {row} has no sky position (frame not solved)")
        return ra, dec
    wanted = _normal(name)
    ras, decs = [], []
    for table in tables:
        for column in NAME_COLUMNS:
            values = _text(table, column)
            if values is None:
                continue
            hit = np.flatnonzero([_normal(v) == wanted for v in values])
            ras.extend(_values(table, "ra")[hit])
            decs.extend(_values(table, "dec")[hit])
    position = np.array([ras, decs], float)
    position = position[:, np.all(np.isfinite(position), axis=0)]
    if position.shape[1] == 0:
        raise PhotometryError(f"light curves: no source named {name!r} in {len(tables)} frame(s)")
    return float(np.median(position[0])), float(np.median(position[1]))
