"""One star's light curve across the night, kept up to date as frames arrive, and its exports.

:class:`LightCurveModel` holds the chosen star (a position, however it was
picked: typed RA/Dec, a cross-match name, a table row, a star number) and the
comparison stars (automatic ensemble, or the user's), and recomputes the
curve with :func:`rpf.lightcurves.star_lightcurve` whenever the night gets a
frame.  No Panel here.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import param

from app.models.night import NightModel
from rpf.coords import parse_position
from rpf.errors import ConfigError, PhotometryError, ProductError
from rpf.lightcurves import StarLightCurve, aavso_extended

__all__ = ["LightCurveModel", "parse_target"]


def parse_target(text: str) -> tuple[float, float] | None:
    """Return ``(ra, dec)`` when ``text`` is a position (decimal degrees or sexagesimal), else None (a name).

    Two numbers (``150.1 20.05``, ``150.1, +20.05``) or two sexagesimal
    fields (``10:00:24 +20:03:00``, ``10h00m24s +20d03m00s``) are a position
    (:func:`rpf.coords.parse_position`); anything else is taken as a name.

    Raises
    ------
    rpf.errors.ConfigError
        A position out of range.
    """
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if len(parts) == 6 and all(re.fullmatch(r"[+-]?\d+(\.\d*)?", p) for p in parts):
        parts = [":".join(parts[:3]), ":".join(parts[3:])]
    if len(parts) != 2:
        return None
    numeric = r"[+-]?\d+(\.\d*)?"
    sexagesimal = r"[+-]?\d{1,3}[:hd]\d{1,2}[:m']\d{1,2}(\.\d*)?[s\"]?"
    if not all(re.fullmatch(numeric, p) or re.fullmatch(sexagesimal, p) for p in parts):
        return None
    try:
        coord = parse_position(parts[0], parts[1])
    except ValueError as exc:
        raise ConfigError(f"position {text!r}: {exc}") from exc
    return float(coord.ra.deg), float(coord.dec.deg)


class LightCurveModel(param.Parameterized):
    """The light curve of the chosen star over the night so far.

    Parameters
    ----------
    night : NightModel
        The night the stars come from (the curve follows its ``version``).
    """

    night = param.ClassSelector(class_=NightModel, doc="The night being reduced.")
    ra = param.Number(default=None, allow_None=True, doc="Chosen star's RA (degrees).")
    dec = param.Number(default=None, allow_None=True, doc="Chosen star's Dec (degrees).")
    target = param.String(default="", doc="How the star was picked, in words (its name or position).")
    comparison = param.List(default=[], doc="User-chosen comparison stars (star numbers); empty: automatic ensemble.")
    curve = param.ClassSelector(class_=StarLightCurve, default=None, allow_None=True, doc="The current curve.")
    message = param.String(default="", doc="Why there is no curve, in words.")
    obscode = param.String(default="", doc="AAVSO observer code for the report.")
    starid = param.String(default="", doc="Star name for the AAVSO report (default: the picked name or the label).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.night.param.watch(self._refresh, "version")

    # ---- picking -------------------------------------------------------------------------------------------

    def pick_position(self, ra: float, dec: float, *, label: str | None = None) -> None:
        """Follow the star at ``(ra, dec)`` (degrees)."""
        self.param.update(ra=float(ra), dec=float(dec), target=label or f"RA {ra:.5f}, Dec {dec:+.5f}",
                          comparison=[])  # fmt: skip
        self._refresh()

    def pick_text(self, text: str) -> bool:
        """Follow a star typed as a position (see :func:`parse_target`) or a cross-match / catalogue name."""
        text = text.strip()
        if not text:
            self.message = "type a position (RA Dec) or a name"
            return False
        try:
            position = parse_target(text)
            if position is None:
                position = self.night.position(name=text)
                self.starid = text
        except (ConfigError, PhotometryError) as exc:
            self.message = str(exc)
            return False
        self.pick_position(*position, label=text)
        return True

    def pick_row(self, index: int, row: int) -> bool:
        """Follow the star in row ``row`` of frame ``index``'s photometry table."""
        try:
            ra, dec = self.night.position(index=index, row=row)
        except PhotometryError as exc:
            self.message = str(exc)
            return False
        self.pick_position(ra, dec)
        return True

    def pick_star(self, star: int) -> bool:
        """Follow star number ``star`` of the night's cross-identified stars."""
        stars = self.night.stars
        if stars is None or not 0 <= star < stars.n_stars:
            self.message = f"no star number {star}"
            return False
        ra, dec = stars.positions
        self.pick_position(float(ra[star]), float(dec[star]), label=f"star {star}")
        return True

    def use_comparison(self, stars: Sequence[int]) -> None:
        """Use these stars (numbers) as the comparison ensemble; an empty list goes back to automatic."""
        self.comparison = [int(s) for s in stars]
        self._refresh()

    # ---- the curve -----------------------------------------------------------------------------------------

    def _refresh(self, *_: Any) -> None:
        if self.ra is None or self.dec is None:
            return
        try:
            curve = self.night.lightcurve(self.ra, self.dec, comparison=self.comparison or None)
        except PhotometryError as exc:
            self.param.update(curve=None, message=str(exc))
            return
        self.param.update(curve=curve, message="")

    def points(self) -> pd.DataFrame:
        """Return the target's points (one row per frame) as a DataFrame (empty without a curve)."""
        return pd.DataFrame() if self.curve is None else self.curve.points.to_pandas()

    def comparison_table(self) -> pd.DataFrame:
        """Return the comparison and check stars with their scatter (``rms``, ``chi2_dof``)."""
        if self.curve is None:
            return pd.DataFrame()
        tables = [self.curve.comparison.to_pandas(), self.curve.check.to_pandas()]
        return pd.concat([t for t in tables if len(t)], ignore_index=True) if any(len(t) for t in tables) else tables[0]

    def curves(self) -> pd.DataFrame:
        """Return the comparison and check stars' own curves (``star_id, role, frame, mjd, diff_mag, ...``)."""
        return pd.DataFrame() if self.curve is None else self.curve.curves.to_pandas()

    # ---- exports -------------------------------------------------------------------------------------------

    def _need_curve(self) -> StarLightCurve:
        if self.curve is None:
            raise PhotometryError(self.message or "no light curve: pick a star first")
        return self.curve

    def csv_text(self) -> str:
        """Return the curve as CSV: the columns of :func:`rpf.lightcurves.write_star_lightcurve_csv`."""
        buffer = io.StringIO()
        self._need_curve().points.write(buffer, format="ascii.csv")
        return buffer.getvalue()

    def aavso_text(self) -> str:
        """Return the curve as an AAVSO Extended File Format report.

        Raises
        ------
        rpf.errors.ProductError
            No observer code, or a field that breaks the format's limits.
        """
        curve = self._need_curve()
        if not self.obscode.strip():
            raise ProductError("AAVSO report: type your AAVSO observer code first")
        starid = (self.starid or curve.label)[:30]
        return aavso_extended(curve, obscode=self.obscode.strip(), starid=starid)

    def file_name(self, suffix: str) -> str:
        """Return a download name for the curve (``<label>_lightcurve.csv`` or ``<label>_aavso.txt``)."""
        label = re.sub(r"[^A-Za-z0-9+._-]+", "_", self.curve.label if self.curve is not None else "star")
        return f"{label}_{suffix}"

    def download(self, kind: str) -> io.BytesIO:
        """Return the CSV (``kind="csv"``) or AAVSO (``kind="aavso"``) export as bytes for a download button."""
        text = self.csv_text() if kind == "csv" else self.aavso_text()
        return io.BytesIO(text.encode())
