"""The columns of a frame's photometry table: units, meaning, and the rows a dashboard streams.

:data:`COLUMNS` documents every column the pipeline writes (``docs/columns.md``
is generated from it and a test keeps the two equal): its unit (None for a
plain number, text or flag) and what it holds.  Per-aperture columns
(``flux_r0``, ``mag_err_r2``, ...) are documented once by their pattern.
:func:`with_units` gives a table those units (a ``QTable`` in memory, an ECSV
on disk); :func:`phot_dataframe` turns it into a ``pandas.DataFrame`` with
the same column names, plain numbers, for streaming.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COLUMNS", "column_doc", "phot_dataframe", "with_units"]

_ADU = "adu"
COLUMNS: dict[str, tuple[str | None, str]] = {
    "id": (None, "source number in the frame, from 1"),
    "x": ("pix", "0-based column of the centroid (pixel (0, 0) is the centre of the first pixel)"),
    "y": ("pix", "0-based row of the centroid"),
    "ra": ("deg", "right ascension (ICRS); NaN without an astrometric solution"),
    "dec": ("deg", "declination (ICRS); NaN without an astrometric solution"),
    "flux": (_ADU, "background-subtracted counts in the default aperture, corrected to total flux"),
    "flux_err": (
        _ADU,
        "1-sigma error of flux: sky, read and master bias/dark noise, source photons, master-flat noise on the "
        "source's light, local-background and aperture-correction errors",
    ),
    "mag_inst": ("mag", "instrumental magnitude -2.5 log10(flux)"),
    "mag": ("mag", "calibrated magnitude in the frame's band; NaN when the frame has no zero point"),
    "mag_err": (
        "mag",
        "1-sigma error of mag: flux_err plus the calibration error at the source (zero point, colour term, "
        "spatial terms)",
    ),
    "snr": (None, "signal-to-noise ratio flux / flux_err"),
    "flags": (None, "SourceFlag bits (docs/flags.md)"),
    "a": ("pix", "semi-major axis of the isophotal shape"),
    "b": ("pix", "semi-minor axis of the isophotal shape"),
    "theta": ("rad", "position angle of the major axis, from +x towards +y"),
    "npix": (None, "pixels of the detection's isophote"),
    "peak": (_ADU, "highest background-subtracted pixel"),
    "flux_iso": (_ADU, "isophotal flux of the detection"),
    "bkg_local": (_ADU, "local sky level per pixel in the annulus, relative to the background map"),
    "bkg_local_err": (_ADU, "error of bkg_local"),
    "mag_inst_err": ("mag", "1-sigma error of mag_inst"),
    "concentration": (None, "flux in a small aperture over flux in a large one, both aperture-corrected "
                            "(about 1 for a point source, less for an extended one)"),
    "flux_radius_fwhm": (None, "radius of the aperture flux comes from, in FWHM (aperture.default_flux)"),
    "cat_id": (None, "source_id of the matched reference star (empty when none)"),
    "cat_mag": ("mag", "reference magnitude of the matched star in the calibration band"),
    "cat_g": ("mag", "Gaia G of the matched star"),
    "cat_bp": ("mag", "Gaia BP of the matched star"),
    "cat_rp": ("mag", "Gaia RP of the matched star"),
    "cat_bp_rp": ("mag", "Gaia BP - RP colour of the matched star"),
    "cal_color": ("mag", "colour used for the colour term (catalogue BP - RP, else the fit's reference colour)"),
    "cal_offset": ("mag", "zero point plus colour and extinction terms applied to the source"),
    "zp_used": (None, "the star was used in the zero-point fit"),
    "zp_residual": ("mag", "catalogue minus calibrated magnitude of a calibrator candidate (NaN otherwise)"),
    "psf_flux": (_ADU, "total flux of the PSF fit"),
    "psf_flux_err": (_ADU, "1-sigma error of psf_flux"),
    "psf_mag": ("mag", "calibrated magnitude of the PSF fit"),
    "psf_mag_err": ("mag", "1-sigma error of psf_mag"),
    "psf_chi2": (None, "reduced chi-square of the PSF fit"),
    "psf_npix": (None, "pixels in the PSF fit"),
    "psf_bkg": (_ADU, "sky level fitted with the PSF (when fitted)"),
    "x_psf": ("pix", "0-based column of the PSF fit"),
    "y_psf": ("pix", "0-based row of the PSF fit"),
    "simbad_id": (None, "SIMBAD main identifier of the matched object"),
    "simbad_otype": (None, "SIMBAD object type"),
    "vsx_name": (None, "VSX variable-star name"),
    "vsx_type": (None, "VSX variability type"),
    "vsx_period": ("d", "VSX period"),
    "vsx_range": (None, "VSX magnitude range (max-min)"),
    "skybot_name": (None, "SkyBoT solar-system object at the epoch"),
    "qso_name": (None, "Milliquas quasar name"),
    "qso_z": (None, "Milliquas redshift"),
    "colibri_name": (None, "Astro-Colibri transient event name"),
    "colibri_type": (None, "Astro-Colibri event type"),
    "transient_candidate": (None, "significant detection that the reference and the label catalogues do not explain"),
}
"""Every photometry column: ``name -> (unit, meaning)``; unit None means a plain number, text or flag."""

_PER_APERTURE: tuple[tuple[str, str | None, str], ...] = (
    (r"flux_r\d+", _ADU, "flux in aperture k (0-based) of aperture.radii_fwhm, corrected to total flux"),
    (r"flux_err_r\d+", _ADU, "1-sigma error of flux_r<k>"),
    (r"mag_r\d+", "mag", "calibrated magnitude from flux_r<k>"),
    (r"mag_err_r\d+", "mag", "1-sigma error of mag_r<k>"),
)
"""Per-aperture columns ``<name>_r<k>``, k the index of the radius in ``aperture.radii_fwhm``."""


def column_doc(name: str) -> tuple[str | None, str] | None:
    """Return ``(unit, meaning)`` of a photometry column, or None when it is not documented."""
    if name in COLUMNS:
        return COLUMNS[name]
    for pattern, unit, meaning in _PER_APERTURE:
        if re.fullmatch(pattern, name):
            return unit, meaning
    return None


def with_units(table: Table, *, first: tuple[str, ...] = ()) -> QTable:
    """Return the photometry table as a new ``QTable`` with each documented column's unit and description.

    Float columns with a unit become quantities; text, integer and boolean
    columns keep their type; undocumented columns are kept as they are.
    The input is not modified.

    Parameters
    ----------
    table : astropy.table.Table or QTable
        A photometry table.
    first : tuple of str
        Columns to put first, in this order (those present).
    """
    head = [c for c in first if c in table.colnames]
    names = head + [c for c in table.colnames if c not in head]
    columns = []
    for name in names:
        column = table[name]
        doc = column_doc(name)
        values = getattr(column, "value", column)
        if doc is not None and doc[0] is not None and np.asarray(values).dtype.kind == "f":
            column = u.Quantity(np.array(values, copy=True), doc[0])
        columns.append(column)
    out = QTable(columns, names=names, meta=table.meta, copy=False)
    for name in names:
        doc = column_doc(name)
        if doc is not None:
            out[name].info.description = doc[1]
    return out


def phot_dataframe(phot: Table | None) -> pd.DataFrame:
    """Return a photometry table as a ``pandas.DataFrame`` of plain values, one row per source.

    The columns keep their names (documented in ``docs/columns.md``): the
    contract's ``id, x, y, ra, dec, flux, flux_err, mag_inst, mag, mag_err,
    snr, flags`` first, in that order, then the others as in the table.
    Units are dropped (they are in :data:`COLUMNS`), masked or missing
    numbers are NaN, text columns are ``str`` (empty when missing).

    Parameters
    ----------
    phot : astropy.table.Table or QTable or None
        A frame's photometry (``FrameResult.phot``); None gives an empty frame
        with the contract's columns.

    Returns
    -------
    pandas.DataFrame
        A new frame (no memory shared with ``phot``).

    Examples
    --------
    >>> from astropy.table import QTable
    >>> import astropy.units as u
    >>> df = phot_dataframe(QTable({"id": [1], "x": [2.5] * u.pix, "mag": [12.0] * u.mag}))
    >>> list(df.columns), float(df["x"].iloc[0])
    (['id', 'x', 'mag'], 2.5)
    """
    import pandas as pd  # here: a pipeline run never needs it (0.4 s to import)

    if phot is None:
        return pd.DataFrame({name: pd.Series(dtype=float) for name in _CONTRACT})
    first = [c for c in _CONTRACT if c in phot.colnames]
    names = first + [c for c in phot.colnames if c not in first]
    return pd.DataFrame({name: _plain(phot[name]) for name in names})


_CONTRACT = ("id", "x", "y", "ra", "dec", "flux", "flux_err", "mag_inst", "mag", "mag_err", "snr", "flags")


def _plain(column: Any) -> np.ndarray:
    values = np.ma.getdata(getattr(column, "value", column))
    missing = np.ma.getmaskarray(column)
    values = np.array(values, copy=True)
    if values.ndim != 1:
        values = list(values)
        return np.array(values, dtype=object)
    if values.dtype.kind == "f":
        values[missing] = np.nan
    elif values.dtype.kind in "SU" or values.dtype == object:
        values = values.astype(str)
        values[missing] = ""
    return values
