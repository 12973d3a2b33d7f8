"""Crowded, real-looking test fields with their truth and a Gaia-like reference catalogue.

A field goes much deeper than the reference catalogue and than the frame's
detection limit (a steep luminosity function, ``dN/dm ∝ 10**(0.3 m)``), so
the frame holds the unresolved faint stars, neighbours in every annulus and
the extended Moffat wings (beta about 3) of real frames.  The camera
vignettes strongly and has dust rings, hot pixels and cosmic rays; stars
have Gaia-like ``BP - RP`` colours, the frame may be unfiltered (fluxes in a
band that is not the reference's, through a colour term) and may hold
galaxies.  The reference catalogue lists only stars brighter than its
depth, some without colours, and never the galaxies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.table import Table

from rpf.simulate.calibration import simulate_calibration_frames
from rpf.simulate.catalog import random_star_catalog
from rpf.simulate.files import write_fits
from rpf.simulate.frame import SimulatedFrame, simulate_frame
from rpf.simulate.instrument import InstrumentModel

__all__ = ["CrowdedField", "crowded_field", "write_crowded_field"]


@dataclass(frozen=True)
class CrowdedField:
    """A simulated crowded frame, the full star list and what a reference catalogue would list.

    Attributes
    ----------
    sim : SimulatedFrame
        The raw frame and its truth (``sim.truth.stars``: every star on the
        frame with ``x, y, ra, dec, mag, color, flux, snr, saturated``;
        ``sim.truth.galaxies``).
    catalog : astropy.table.Table
        Every simulated star (Gaia column names and synthetic bands).
    reference : astropy.table.Table
        The stars of ``catalog`` with ``phot_g_mean_mag <= reference_depth``;
        ``phot_bp_mean_mag``, ``phot_rp_mean_mag`` and ``bp_rp`` are NaN for
        the stars drawn to have no colour.
    calibration : dict
        ``{"bias"|"dark"|"flat": [(raw, header), ...]}`` of the same camera.
    instrument : InstrumentModel
        The camera.
    """

    sim: SimulatedFrame
    catalog: Table
    reference: Table
    calibration: dict
    instrument: InstrumentModel


def _reference(catalog: Table, *, depth: float, missing_color_fraction: float, rng: np.random.Generator) -> Table:
    reference = catalog[np.asarray(catalog["phot_g_mean_mag"]) <= depth].copy()
    g = np.asarray(reference["phot_g_mean_mag"], float)
    # colours go missing mostly among faint stars, as in Gaia
    weight = 10 ** (0.4 * (g - g.max()))
    chance = np.clip(missing_color_fraction * weight * len(g) / max(weight.sum(), 1e-12), 0.0, 1.0)
    missing = rng.uniform(size=len(g)) < chance
    for name in ("phot_bp_mean_mag", "phot_rp_mean_mag", "bp_rp"):
        values = np.asarray(reference[name], float).copy()
        values[missing] = np.nan
        reference[name] = values
    reference.meta["depth_g"] = depth
    return reference


def _galaxies(n: int, *, shape: tuple[int, int], mag_range: tuple[float, float], rng: np.random.Generator) -> Table:
    ny, nx = shape
    margin = 0.1 * min(shape)
    table = Table()
    table["x"] = rng.uniform(margin, nx - 1 - margin, n)
    table["y"] = rng.uniform(margin, ny - 1 - margin, n)
    table["mag"] = rng.uniform(*mag_range, n)
    table["r_eff_arcsec"] = rng.uniform(2.0, 5.0, n)
    table["sersic_n"] = rng.choice([1.0, 1.0, 4.0], n)
    table["axis_ratio"] = rng.uniform(0.4, 1.0, n)
    table["pa_deg"] = rng.uniform(0.0, 180.0, n)
    table["color"] = rng.uniform(0.8, 1.6, n)
    return table


def crowded_field(
    *,
    seed: int,
    shape: tuple[int, int] = (1024, 1024),
    pixel_scale: float = 1.0,
    center: tuple[float, float] = (150.0, 20.0),
    fwhm_arcsec: float = 3.0,
    moffat_beta: float = 3.0,
    stars_per_deg2: float = 60000.0,
    mag_range: tuple[float, float] = (10.0, 22.0),
    reference_depth: float = 20.5,
    missing_color_fraction: float = 0.0,
    filter: str = "V",
    band: str = "V_mag",
    zero_point: float = 23.0,
    color_term: float = 0.0,
    exptime: float = 60.0,
    sky_mag_arcsec2: float = 20.5,
    n_galaxies: int = 0,
    galaxy_mag_range: tuple[float, float] = (15.0, 17.0),
    n_cosmic_rays: int = 80,
    n_calib: int = 5,
    instrument: InstrumentModel | None = None,
) -> CrowdedField:
    """Simulate a crowded field with a steep luminosity function, Moffat wings and a vignetted, dusty flat.

    Parameters
    ----------
    seed : int
        Seed of everything (catalogue, frame, calibration frames, camera patterns).
    shape : tuple of int
        ``(ny, nx)``.
    pixel_scale : float
        Arcsec per pixel.
    center : tuple of float
        (ra, dec) of the frame centre, degrees.
    fwhm_arcsec : float
        Seeing.
    moffat_beta : float
        Moffat exponent (about 3 for real seeing wings).
    stars_per_deg2 : float
        Star density over ``mag_range`` (G); about 12 % of the stars are
        brighter than G = 19 for the default range.
    mag_range : tuple of float
        G range of the stars, well below the detection limit at the faint end.
    reference_depth : float
        Faintest G listed in the reference catalogue.
    missing_color_fraction : float
        Fraction of reference stars (mostly faint ones) without BP/RP.
    filter : str
        ``FILTER`` keyword (``"CLEAR"`` for an unfiltered frame).
    band : str
        Catalogue column the frame's fluxes follow (``"phot_g_mean_mag"``
        for an unfiltered frame calibrated against Gaia G).
    zero_point, color_term : float
        ``band - m_inst = zero_point + color_term * (BP - RP)`` above the atmosphere.
    exptime : float
        Exposure time (s).
    sky_mag_arcsec2 : float
        Sky brightness.
    n_galaxies : int
        Galaxies (exponential disks and de Vaucouleurs profiles, effective
        radius 2-5 arcsec) in the inner 80 % of the frame; never in the reference.
    galaxy_mag_range : tuple of float
        Their magnitudes in ``band``.
    n_cosmic_rays : int
        Cosmic-ray hits on the science frame.
    n_calib : int
        Bias, dark and flat frames each.
    instrument : InstrumentModel, optional
        Default: 30 % vignetting, 8 dust rings, 200 hot pixels, seeded by ``seed``.

    Returns
    -------
    CrowdedField
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    inst = instrument or InstrumentModel(seed=seed, flat_vignetting=0.3, n_dust=8, n_hot_pixels=200)
    radius = 0.5 * np.hypot(*shape) * pixel_scale / 3600.0 * 1.05
    n_stars = int(round(stars_per_deg2 * np.pi * radius**2))
    catalog = random_star_catalog(
        ra=center[0], dec=center[1], radius_deg=radius, n_stars=n_stars, seed=seed, mag_range=mag_range,
        count_slope=0.3,
    )
    galaxies = _galaxies(n_galaxies, shape=shape, mag_range=galaxy_mag_range, rng=rng) if n_galaxies else None
    sim = simulate_frame(
        catalog=catalog, seed=seed + 1, shape=shape, center=center, pixel_scale=pixel_scale,
        fwhm_arcsec=fwhm_arcsec, moffat_beta=moffat_beta, exptime=exptime, filter=filter, band=band,
        zero_point=zero_point, color_term=color_term, airmass=1.2, sky_mag_arcsec2=sky_mag_arcsec2,
        instrument=inst, n_cosmic_rays=n_cosmic_rays, galaxies=galaxies,
    )
    reference = _reference(catalog, depth=reference_depth, missing_color_fraction=missing_color_fraction, rng=rng)
    calibration = simulate_calibration_frames(
        inst, shape=shape, seed=seed + 2, n_bias=n_calib, n_dark=n_calib, n_flat=n_calib
    )
    return CrowdedField(sim=sim, catalog=catalog, reference=reference, calibration=calibration, instrument=inst)


def write_crowded_field(crowded: CrowdedField, folder: str | os.PathLike) -> dict:
    """Write the science frame, calibration frames, reference catalogue and truth to ``folder``.

    Returns
    -------
    dict
        ``science`` (path), ``bias``, ``dark``, ``flat`` (lists of paths),
        ``reference`` (CSV with Gaia column names), ``truth`` (ECSV of the
        stars) and ``galaxies`` (ECSV, possibly empty).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict = {"science": write_fits(crowded.sim, out / "science.fits")}
    for kind, frames in crowded.calibration.items():
        paths[kind] = [write_fits(data, out / f"{kind}{i}.fits", header) for i, (data, header) in enumerate(frames)]
    paths["reference"] = out / "reference.csv"
    crowded.reference.write(paths["reference"], format="ascii.csv", overwrite=True)
    paths["truth"] = out / "truth_stars.ecsv"
    crowded.sim.truth.stars.write(paths["truth"], format="ascii.ecsv", overwrite=True)
    paths["galaxies"] = out / "truth_galaxies.ecsv"
    crowded.sim.truth.galaxies.write(paths["galaxies"], format="ascii.ecsv", overwrite=True)
    return paths
