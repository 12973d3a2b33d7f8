"""One finished frame as the views need it: tables and numbers, no pixels.

Built from a :class:`rpf.pipeline.FrameResult` (small, already in the
session); the pixels are loaded separately (:mod:`app.models.pixels`) and
only for the frame on screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.wcs import WCS

from rpf.products import phot_dataframe

__all__ = ["PHOT_VIEW_COLUMNS", "FrameData"]

PHOT_VIEW_COLUMNS = (
    "id", "x", "y", "ra", "dec", "mag", "mag_err", "snr", "flags", "mag_inst", "cat_mag",
    "simbad_id", "simbad_otype", "vsx_name", "skybot_name", "qso_name", "colibri_name",
)  # fmt: skip
"""Columns of the photometry table, in this order (the CSV download has them all)."""


@dataclass(frozen=True, eq=False)
class FrameData:
    """A finished frame: metadata, photometry, zero-point calibrators, product paths.

    Parameters
    ----------
    index : int
        Position of the frame in its run.
    result : FrameResult
        What the pipeline returned for it.
    """

    index: int
    result: Any = field(repr=False)

    @property
    def name(self) -> str:
        """The frame's file name."""
        return Path(self.result.path).name

    @property
    def metadata(self) -> dict[str, Any]:
        """The contract's metadata dictionary."""
        return self.result.metadata

    @property
    def products(self) -> dict[str, str]:
        """Product kind -> path."""
        return dict(self.result.products)

    def number(self, key: str) -> float:
        """Return a metadata value as a float (NaN when missing)."""
        value = self.metadata.get(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    @cached_property
    def phot(self) -> pd.DataFrame:
        """The photometry table (:func:`rpf.products.phot_dataframe`; row ``i`` is star ``i`` of every selection)."""
        return phot_dataframe(self.result.phot).reset_index(drop=True)

    @cached_property
    def calibrators(self) -> pd.DataFrame:
        """Stars matched to the reference catalogue, with the zero-point quantities.

        Columns ``row`` (into :attr:`phot`), ``cat_mag``, ``inst`` (instrumental
        magnitude per second), ``mag``, ``residual`` (catalogue - calibrated),
        ``bp_rp`` (the calibration colour, when known) and ``used`` (in the fit, when the pipeline says).
        """
        phot = self.phot
        if "cat_mag" not in phot or "mag_inst" not in phot:
            return pd.DataFrame(columns=["row", "cat_mag", "inst", "mag", "residual", "bp_rp", "used"])
        exptime = self.number("exptime")
        per_second = 2.5 * math.log10(exptime) if exptime > 0 else 0.0
        ok = np.isfinite(phot["cat_mag"].to_numpy(float)) & np.isfinite(phot["mag_inst"].to_numpy(float))
        rows = phot[ok]
        color = next((rows[c] for c in ("cal_color", "cat_bp_rp") if c in rows), pd.Series(np.nan, index=rows.index))
        residual = rows["zp_residual"] if "zp_residual" in rows else rows["cat_mag"] - rows["mag"]
        used = rows["zp_used"].astype(bool) if "zp_used" in rows else pd.Series(True, index=rows.index)
        return pd.DataFrame(
            {
                "row": rows.index.to_numpy(),
                "cat_mag": rows["cat_mag"].to_numpy(float),
                "inst": rows["mag_inst"].to_numpy(float) + per_second,
                "mag": rows["mag"].to_numpy(float),
                "residual": residual.to_numpy(float),
                "bp_rp": color.to_numpy(float),
                "used": used.to_numpy(bool),
            }
        )

    @cached_property
    def wcs(self) -> WCS | None:
        """The frame's astrometric solution (from its ``_wcs.fits`` product), or None."""
        path = self.products.get("wcs")
        if not path or not Path(path).is_file():
            return None
        with fits.open(path) as hdul:
            wcs = WCS(hdul[0].header)
        return wcs if wcs.has_celestial else None

    def text(self, kind: str, *, limit: int = 200_000) -> str:
        """Return a text product (``log``, ``header``, ...) or an empty string when absent."""
        path = self.products.get(kind)
        if not path or not Path(path).is_file():
            return ""
        return Path(path).read_text(errors="replace")[-limit:]

    def psf_image(self) -> np.ndarray | None:
        """Return the PSF model image when PSF photometry ran, else None."""
        path = self.products.get("psf")
        if not path or not Path(path).is_file():
            return None
        with fits.open(path) as hdul:
            hdu = next((h for h in hdul if getattr(h, "data", None) is not None and h.data.ndim == 2), None)
            return None if hdu is None else np.asarray(hdu.data, dtype=np.float32)
