"""Random star catalogues with Gaia DR3 column names and synthetic bands.

The magnitudes follow a steep number count (``log10 N(<m)`` rising by
``count_slope`` per magnitude), colours a broad main-sequence-like
distribution, and the Johnson/SDSS bands are smooth polynomials of Gaia
``BP - RP`` chosen for this simulator (close to, but not copied from,
published transformations).  The same relations are used to derive the band
of any simulated frame, so a zero-point fit against these columns is exact.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.errors import ConfigError

__all__ = ["BAND_COLUMNS", "band_offsets", "random_star_catalog"]

# Band column -> polynomial coefficients (c0, c1, c2, ...) of  band - G  in c = BP - RP.
_BAND_MINUS_G: dict[str, tuple[float, ...]] = {
    "U_mag": (0.10, 0.35, 1.10, -0.25),
    "B_mag": (0.05, 0.55, 0.50, -0.10),
    "V_mag": (0.02, -0.01, 0.21, -0.015),
    "R_mag": (0.02, -0.40, 0.12, 0.01),
    "I_mag": (-0.02, -0.75, 0.10),
    "u_mag": (0.90, 0.60, 1.05, -0.25),
    "g_mag": (-0.13, 0.46, 0.25, -0.02),
    "r_mag": (0.13, -0.25, 0.03, 0.05),
    "i_mag": (0.30, -0.65, 0.10),
    "z_mag": (0.40, -0.95, 0.12),
}
BAND_COLUMNS: tuple[str, ...] = tuple(_BAND_MINUS_G)
"""Synthetic band columns of :func:`random_star_catalog`."""

_BP_MINUS_G = 0.4
_G_MINUS_RP = 0.6


def band_offsets(color: np.ndarray, band: str) -> np.ndarray:
    """Return ``band - G`` for Gaia colours ``BP - RP``.

    Parameters
    ----------
    color : numpy.ndarray
        Gaia ``BP - RP`` colours (mag).
    band : str
        One of :data:`BAND_COLUMNS`, or ``phot_g_mean_mag``,
        ``phot_bp_mean_mag``, ``phot_rp_mean_mag``.

    Returns
    -------
    numpy.ndarray
        The offset to add to G to obtain the band magnitude.
    """
    c = np.asarray(color, dtype=float)
    if band == "phot_g_mean_mag":
        return np.zeros_like(c)
    if band == "phot_bp_mean_mag":
        return _BP_MINUS_G * c
    if band == "phot_rp_mean_mag":
        return -_G_MINUS_RP * c
    if band not in _BAND_MINUS_G:
        msg = f"unknown band column {band!r}; expected one of {BAND_COLUMNS} or a Gaia phot_*_mean_mag column"
        raise ConfigError(msg)
    return np.polynomial.polynomial.polyval(c, _BAND_MINUS_G[band])


def _magnitudes(rng: np.random.Generator, n: int, mag_range: tuple[float, float], slope: float) -> np.ndarray:
    """Draw magnitudes with ``N(<m)`` proportional to ``10**(slope*m)``."""
    lo, hi = mag_range
    u = rng.uniform(size=n)
    a, b = 10 ** (slope * lo), 10 ** (slope * hi)
    return np.log10(a + u * (b - a)) / slope


def _positions(rng: np.random.Generator, n: int, ra: float, dec: float, radius_deg: float) -> tuple:
    """Draw positions uniformly on a spherical cap around (ra, dec)."""
    cos_r = np.cos(np.radians(radius_deg))
    rho = np.arccos(rng.uniform(cos_r, 1.0, size=n))
    pa = rng.uniform(0.0, 2 * np.pi, size=n)
    d0, a0 = np.radians(dec), np.radians(ra)
    sin_d = np.sin(d0) * np.cos(rho) + np.cos(d0) * np.sin(rho) * np.cos(pa)
    dec_out = np.arcsin(np.clip(sin_d, -1.0, 1.0))
    dra = np.arctan2(np.sin(pa) * np.sin(rho) * np.cos(d0), np.cos(rho) - np.sin(d0) * sin_d)
    return np.degrees(a0 + dra) % 360.0, np.degrees(dec_out)


def _mag_error(mag: np.ndarray, *, bright: float, floor: float) -> np.ndarray:
    """Return a plausible catalogue magnitude error rising towards faint stars."""
    return floor + bright * 10 ** (0.4 * (mag - 17.0))


def random_star_catalog(
    *,
    ra: float,
    dec: float,
    radius_deg: float,
    n_stars: int,
    seed: int,
    mag_range: tuple[float, float] = (11.0, 19.5),
    count_slope: float = 0.3,
    variable_fraction: float = 0.02,
    pm_sigma_mas_yr: float = 0.0,
) -> Table:
    """Return a seeded random star catalogue with Gaia DR3 column names.

    Parameters
    ----------
    ra, dec : float
        Centre of the field (degrees, ICRS).
    radius_deg : float
        Radius of the circular field (degrees).
    n_stars : int
        Number of stars.
    seed : int
        Random seed; the same seed gives the same catalogue.
    mag_range : tuple of float
        Range of Gaia G magnitudes.
    count_slope : float
        ``d log10 N / dm`` of the number counts (more faint stars).
    variable_fraction : float
        Fraction of stars flagged ``phot_variable_flag == "VARIABLE"`` (a flag
        only: their brightness is constant unless the simulator is told).
    pm_sigma_mas_yr : float
        Dispersion of the proper motions (0: no proper motion).  Positions are
        at epoch ``ref_epoch`` (2016.0).

    Returns
    -------
    astropy.table.Table
        Columns ``source_id`` (int64), ``ra``, ``dec`` (deg), ``pmra``,
        ``pmdec`` (mas/yr), ``ref_epoch``, ``phot_g_mean_mag``,
        ``phot_bp_mean_mag``, ``phot_rp_mean_mag``, ``bp_rp``, ``ruwe``,
        ``phot_variable_flag`` and the synthetic bands of
        :data:`BAND_COLUMNS` with ``*_err`` columns, sorted by G magnitude.

    Raises
    ------
    rpf.errors.ConfigError
        For a non-positive radius, a negative number of stars or an empty
        magnitude range.
    """
    if radius_deg <= 0 or radius_deg > 90:
        msg = f"radius_deg must be in (0, 90], got {radius_deg}"
        raise ConfigError(msg)
    if n_stars < 0:
        msg = f"n_stars must be >= 0, got {n_stars}"
        raise ConfigError(msg)
    if not mag_range[0] < mag_range[1]:
        msg = f"mag_range must be (bright, faint) with bright < faint, got {mag_range}"
        raise ConfigError(msg)
    rng = np.random.default_rng(seed)
    g = np.sort(_magnitudes(rng, n_stars, mag_range, count_slope))
    ra_s, dec_s = _positions(rng, n_stars, ra, dec, radius_deg)
    color = np.clip(rng.normal(0.95, 0.35, n_stars) + 0.03 * (g - 15.0), -0.3, 3.5)
    ids = np.int64(10**18 + seed % 10**6 * 10**9) + np.sort(rng.choice(10**9, n_stars, replace=False)).astype(np.int64)
    pm = rng.normal(0.0, pm_sigma_mas_yr, (2, n_stars)) if pm_sigma_mas_yr > 0 else np.zeros((2, n_stars))
    variable = rng.uniform(size=n_stars) < variable_fraction
    table = Table()
    table["source_id"] = ids
    table["ra"] = ra_s
    table["dec"] = dec_s
    table["pmra"] = pm[0]
    table["pmdec"] = pm[1]
    table["ref_epoch"] = np.full(n_stars, 2016.0)
    table["phot_g_mean_mag"] = g
    table["phot_bp_mean_mag"] = g + band_offsets(color, "phot_bp_mean_mag")
    table["phot_rp_mean_mag"] = g + band_offsets(color, "phot_rp_mean_mag")
    table["bp_rp"] = table["phot_bp_mean_mag"] - table["phot_rp_mean_mag"]
    table["ruwe"] = np.round(np.exp(rng.normal(0.0, 0.12, n_stars)) + 0.02, 3)
    table["phot_variable_flag"] = np.where(variable, "VARIABLE", "NOT_AVAILABLE")
    for band in BAND_COLUMNS:
        mag = g + band_offsets(color, band)
        table[band] = mag
        table[f"{band}_err"] = _mag_error(mag, bright=0.01, floor=0.003)
    for col in ("ra", "dec"):
        table[col].unit = "deg"
    table.meta["catalog"] = "rpf.simulate"
    table.meta["seed"] = seed
    return table
