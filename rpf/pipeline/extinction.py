"""The night's extinction: ``k`` fitted from the zero points of a run's frames, per band.

Each frame's zero point includes its atmospheric extinction
(``zero_point = zp0 - k * airmass``), so a run with enough frames of one band
over a wide enough range of airmass measures ``k`` with
:func:`rpf.zeropoint.fit_extinction` (robust, clouded frames clipped).  The
result is a run product, ``extinction.json``, and a field of
:class:`~rpf.pipeline.events.RunFinished`; frames are not re-calibrated with it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rpf.atomic import write_atomic
from rpf.errors import ZeroPointError
from rpf.zeropoint import fit_extinction

__all__ = ["MIN_AIRMASS_SPAN", "MIN_FRAMES", "NightExtinction", "fit_night_extinction", "write_extinction_json"]

MIN_FRAMES = 3
"""Fewest frames of a band with a zero point and an airmass for a fit."""

MIN_AIRMASS_SPAN = 0.3
"""Smallest airmass range of those frames for a fit."""


@dataclass(frozen=True)
class NightExtinction:
    """Extinction of one band over a run: ``zero_point = zp0 - k * airmass``.

    Attributes
    ----------
    band : str
        The band the frames were calibrated in.
    k, k_err : float
        Extinction coefficient (mag/airmass) and its 1-sigma error.
    zp0, zp0_err : float
        Zero point above the atmosphere (airmass 0) and its error.
    rms : float
        RMS of the kept frames' zero points about the line (mag).
    n_frames : int
        Frames kept by the robust fit.
    n_candidates : int
        Frames offered to the fit.
    airmass_min, airmass_max : float
        Airmass range of the offered frames.
    frames : tuple of str
        The offered frames.
    """

    band: str
    k: float
    k_err: float
    zp0: float
    zp0_err: float
    rms: float
    n_frames: int
    n_candidates: int
    airmass_min: float
    airmass_max: float
    frames: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the fit as JSON-serialisable values."""
        out = asdict(self)
        out["frames"] = list(self.frames)
        return out


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _by_band(metadata: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[str, float, float, float | None]]]:
    """Group the ok frames having a zero point and an airmass by band."""
    groups: dict[str, list[tuple[str, float, float, float | None]]] = {}
    for meta in metadata:
        zp, airmass = _number(meta.get("zero_point")), _number(meta.get("airmass"))
        if meta.get("status") != "ok" or zp is None or airmass is None or not meta.get("band"):
            continue
        err = _number(meta.get("zero_point_err"))
        groups.setdefault(str(meta["band"]), []).append((str(meta.get("frame")), zp, airmass, err))
    return groups


def fit_night_extinction(
    metadata: Iterable[Mapping[str, Any]],
    *,
    min_frames: int = MIN_FRAMES,
    min_airmass_span: float = MIN_AIRMASS_SPAN,
) -> tuple[list[NightExtinction], list[str]]:
    """Fit ``k`` per band from the frames' contract metadata.

    Parameters
    ----------
    metadata : iterable of mapping
        One metadata dictionary per frame (``status, band, zero_point,
        zero_point_err, airmass, frame``); failed frames and frames without a
        zero point or an airmass are left out.
    min_frames : int
        Fewest usable frames of a band.
    min_airmass_span : float
        Smallest airmass range of a band's frames.

    Returns
    -------
    fits : list of NightExtinction
        One per band that could be fitted, in band order.
    messages : list of str
        Why a band with enough frames was not fitted.
    """
    fits: list[NightExtinction] = []
    messages: list[str] = []
    for band, rows in sorted(_by_band(metadata).items()):
        names = tuple(r[0] for r in rows)
        zp, airmass = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
        errors = [r[3] for r in rows]
        span = float(np.ptp(airmass))
        if len(rows) < min_frames:
            continue
        if span < min_airmass_span:
            messages.append(f"extinction in {band}: not fitted (airmass spans {span:.2f}; need {min_airmass_span})")
            continue
        zp_err = None if any(e is None or e <= 0 for e in errors) else np.array(errors, float)
        try:
            fit = fit_extinction(zp, airmass, zp_err=zp_err)
        except ZeroPointError as exc:
            messages.append(f"extinction in {band}: not fitted ({exc})")
            continue
        fits.append(
            NightExtinction(
                band=band,
                k=fit.k,
                k_err=fit.k_err,
                zp0=fit.zp0,
                zp0_err=fit.zp0_err,
                rms=fit.rms,
                n_frames=fit.n_frames,
                n_candidates=len(rows),
                airmass_min=float(airmass.min()),
                airmass_max=float(airmass.max()),
                frames=names,
            )
        )
    return fits, messages


def write_extinction_json(fits: Iterable[NightExtinction], path: str | os.PathLike[str]) -> Path:
    """Write ``{"bands": [...]}`` with one fit per band, atomically; return the path."""
    model = "zero_point = zp0 - k * airmass"
    return write_atomic(path, json.dumps({"model": model, "bands": [f.to_dict() for f in fits]}, indent=2) + "\n")
