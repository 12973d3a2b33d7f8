"""RPF's default magnitude against the issue's photutils reference on a field of truly isolated stars.

Issue 14 asks for RPF's median within 0.003 mag of plain photutils at the true positions (1.5 FWHM,
median of a 6-9 FWHM annulus).  That reference is only unbiased where nothing but sky falls in its
annulus: here every star is at least 20 FWHM from the next, and both must agree (and agree with the
truth).  In crowded fields the reference's unmasked annulus median sits on neighbours' light and
its faint stars come out too faint (``test_crowded_accuracy.py``), while RPF's do not.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from photutils_reference import photutils_total_flux
from scipy.spatial import cKDTree

from rpf.background import estimate_background
from rpf.config import ApertureConfig, BackgroundConfig, DetectionConfig
from rpf.detection import detect_sources
from rpf.photometry import aperture_photometry
from rpf.simulate import InstrumentModel, random_star_catalog, simulate_frame
from rpf.simulate.psf import PsfModel

SIZE, SPACING = 1536, 62.0  # 20 FWHM between stars: the 9 FWHM annulus holds sky only


@pytest.fixture(scope="module")
def isolated():
    rng = np.random.default_rng(7)
    grid = np.arange(40.0, SIZE - 40.0, SPACING)
    gx, gy = np.meshgrid(grid, grid)
    x, y = gx.ravel() + rng.uniform(-2, 2, gx.size), gy.ravel() + rng.uniform(-2, 2, gx.size)
    faint = rng.uniform(size=x.size) < 0.6
    mag = np.where(faint, rng.uniform(17.8, 19.6, x.size), rng.uniform(13.2, 17.8, x.size))
    stars = Table({"x": x, "y": y, "mag": mag, "color": np.zeros(x.size)})
    nothing = random_star_catalog(ra=150.0, dec=20.0, radius_deg=0.01, n_stars=1, seed=1, mag_range=(26.0, 26.1))
    inst = InstrumentModel(seed=2, n_hot_pixels=0)
    sim = simulate_frame(catalog=nothing, seed=3, shape=(SIZE, SIZE), instrument=inst, n_cosmic_rays=0,
                         extra_stars=stars, moffat_beta=3.0)
    truth = sim.truth
    data = sim.calibrated()
    bkg = estimate_background(data, fwhm_px=truth.fwhm_px, config=BackgroundConfig())
    sub = (data - bkg.level).astype(np.float32)
    sources = detect_sources(sub, rms=bkg.rms, config=DetectionConfig(), fwhm_px=truth.fwhm_px)
    phot = aperture_photometry(sub, sources, fwhm_px=truth.fwhm_px, rms=bkg.rms, gain=inst.gain,
                               config=ApertureConfig())
    true = truth.stars[truth.stars["is_extra"] & ~truth.stars["saturated"]]
    distance, index = cKDTree(np.column_stack([true["x"], true["y"]])).query(
        np.column_stack([np.asarray(phot["x"]), np.asarray(phot["y"])])
    )
    keep = (distance < 1.0) & (np.asarray(phot["flags"]) == 0)
    rows, chosen = np.flatnonzero(keep), true[index[keep]]
    psf = PsfModel(fwhm_px=truth.fwhm_px, profile="moffat", beta=3.0)
    reference, _ = photutils_total_flux(data, np.asarray(chosen["x"]), np.asarray(chosen["y"]), psf=psf)
    flux = np.asarray(chosen["flux"])
    radius = 1.5 * truth.fwhm_px
    inside = flux * (1.0 - psf.outside_fraction(radius))
    pixel_variance = truth.sky / inst.gain + (inst.read_noise / inst.gain) ** 2
    noise = np.sqrt(inside / inst.gain + np.pi * radius**2 * pixel_variance)
    with np.errstate(invalid="ignore"):
        rpf_mag = -2.5 * np.log10(np.asarray(phot["flux"])[rows] / flux)
        pu_mag = -2.5 * np.log10(reference / flux)
    return rpf_mag, pu_mag, inside / noise


@pytest.mark.parametrize("low, high", [(10, 20), (20, 50), (50, 100), (100, 300), (300, np.inf)])
def test_default_magnitude_agrees_with_photutils_on_isolated_stars(isolated, low, high):
    rpf_mag, pu_mag, snr = isolated
    sel = (snr >= low) & (snr < high) & np.isfinite(rpf_mag) & np.isfinite(pu_mag)
    assert sel.sum() >= 40
    paired = rpf_mag[sel] - pu_mag[sel]
    # the median's own noise (the two apertures see different pixels): 1.25 sigma / sqrt(n)
    noise = 1.25 * 1.4826 * np.median(np.abs(paired - np.median(paired))) / np.sqrt(sel.sum())
    assert abs(np.median(paired)) < 0.003 + 2 * noise, (np.median(paired), noise)
    assert abs(np.median(rpf_mag[sel])) < 0.003 + 2 * noise  # and with the truth
