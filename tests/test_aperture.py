"""Aperture photometry against the simulator's true fluxes."""

import numpy as np
import pytest
from astropy.table import QTable
from scipy.spatial import cKDTree

from rpf.background import estimate_background
from rpf.config import ApertureConfig, BackgroundConfig, CosmicsConfig, DetectionConfig
from rpf.cosmics import clean_cosmic_rays
from rpf.detection import detect_sources, estimate_fwhm
from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.photometry import aperture_photometry
from rpf.simulate import InstrumentModel, random_star_catalog, simulate_frame

INSTRUMENT = InstrumentModel()


def _chain(psf, seed):
    """Calibrate, subtract the sky, clean cosmic rays, detect and measure the FWHM of a simulated frame."""
    # a rich field of mostly well-exposed stars: ~250 isolated ones, enough to test a reduced chi-square
    catalog = random_star_catalog(ra=150.0, dec=20.0, radius_deg=0.2, n_stars=1000, seed=seed, mag_range=(12.0, 18.5))
    sim = simulate_frame(
        catalog=catalog, seed=seed, shape=(1024, 1024), psf=psf, n_cosmic_rays=40, instrument=INSTRUMENT
    )
    data = sim.calibrated()
    flags = np.where(sim.raw >= INSTRUMENT.saturation, np.uint16(SourceFlag.SATURATED), np.uint16(0))
    bkg = estimate_background(data, mask=flags, fwhm_px=sim.truth.fwhm_px, config=BackgroundConfig())
    cosmics = clean_cosmic_rays(
        data,
        gain=INSTRUMENT.gain,
        read_noise=INSTRUMENT.read_noise,
        saturation=INSTRUMENT.saturation,
        mask=flags,
        background=bkg,
        config=CosmicsConfig(),
    )
    flags = flags | np.where(cosmics.mask, np.uint16(SourceFlag.COSMIC_RAY), np.uint16(0))
    sub = cosmics.clean - bkg.level
    sources = detect_sources(sub, rms=bkg.rms, config=DetectionConfig(), pixel_flags=flags, fwhm_px=3.0)
    fwhm = estimate_fwhm(sub, sources, config=DetectionConfig())
    return sim.truth, bkg, sub, flags, sources, fwhm.fwhm_px


@pytest.fixture(scope="module", params=[("moffat", 41), ("gaussian", 42)], ids=["moffat", "gaussian"])
def measured(request):
    truth, bkg, sub, flags, sources, fwhm = _chain(*request.param)
    before = sources.copy()
    phot = aperture_photometry(
        sub, sources, fwhm_px=fwhm, rms=bkg.rms, gain=INSTRUMENT.gain, mask=flags, config=ApertureConfig()
    )
    return truth, bkg, sub, flags, sources, before, phot, fwhm


def _isolated_truth_pairs(truth, phot, fwhm):
    """Unflagged detections of unsaturated true stars with no other star within 6 FWHM, SNR > 20."""
    stars = truth.stars
    xy_true = np.column_stack([stars["x"], stars["y"]])
    distance, index = cKDTree(xy_true).query(np.column_stack([phot["x"], phot["y"]]))
    neighbour = cKDTree(xy_true).query(xy_true, k=2)[0][:, 1]
    good = (distance < 1.0) & (np.asarray(phot["flags"]) == 0)
    good &= ~np.asarray(stars["saturated"])[index] & (neighbour[index] > 6 * fwhm)
    good &= np.asarray(phot["snr"]) > 20
    return phot[good], np.asarray(stars["flux"])[index[good]]


def test_fluxes_are_total_and_errors_honest(measured):
    truth, _, _, _, _, _, phot, fwhm = measured
    rows, true_flux = _isolated_truth_pairs(truth, phot, fwhm)
    assert len(rows) > 150
    for k in range(len(phot.meta["aperture_radii_fwhm"])):
        flux = np.asarray(rows[f"flux_r{k}"])
        err = np.asarray(rows[f"flux_err_r{k}"])
        assert np.median(flux / true_flux) == pytest.approx(1.0, abs=0.005), k
        chi2 = np.mean(((flux - true_flux) / err) ** 2)
        assert 0.8 <= chi2 <= 1.25, (k, chi2)
    # the default flux is each star's best-SNR aperture, aperture-corrected like the fixed ones
    flux, err = np.asarray(rows["flux"]), np.asarray(rows["flux_err"])
    assert np.median(flux / true_flux) == pytest.approx(1.0, abs=0.005)
    assert 0.8 <= np.mean(((flux - true_flux) / err) ** 2) <= 1.25
    at_1fwhm = np.asarray(rows["flux_radius_fwhm"]) == 1.0
    assert at_1fwhm.any()
    assert np.array_equal(flux[at_1fwhm], np.asarray(rows["flux_r0"])[at_1fwhm])


def test_table_schema_and_meta(measured):
    _, _, _, _, sources, before, phot, fwhm = measured
    assert phot is not sources
    assert sources.colnames == before.colnames
    assert np.array_equal(np.asarray(sources["flags"]), np.asarray(before["flags"]))
    for name in ("flux", "flux_err", "snr", "mag_inst", "mag_inst_err", "bkg_local", "flags"):
        assert name in phot.colnames
    assert phot.meta["aperture_radii_fwhm"] == [1.0, 1.5, 2.0, 3.0]
    assert phot.meta["aperture_radii_px"] == pytest.approx([r * fwhm for r in (1.0, 1.5, 2.0, 3.0)])
    factors = phot.meta["aperture_correction"]
    assert set(factors) == {1.0, 1.5, 2.0, 3.0}
    errors = phot.meta["aperture_correction_err"]
    assert all(0 < e < 0.02 for e in errors.values())
    # the curve of growth rises: smaller apertures need larger corrections, none below 1 beyond the noise
    assert factors[1.0] > factors[1.5] > factors[2.0] - 3 * errors[2.0]
    assert factors[2.0] > factors[3.0] - 3 * errors[3.0]
    assert all(factors[r] > 1.0 - 3 * errors[r] for r in factors)
    positive = np.asarray(phot["flux"]) > 0
    assert np.allclose(phot["mag_inst"][positive], -2.5 * np.log10(phot["flux"][positive]))
    assert np.allclose(phot["snr"], phot["flux"] / phot["flux_err"], equal_nan=True)


def test_flags_from_pixels_edges_and_neighbours(measured):
    _, bkg, sub, flags, sources, _, phot, fwhm = measured
    pick = int(np.flatnonzero(np.asarray(phot["flags"]) == 0)[0])
    mask = flags.copy()
    mask[int(round(sources["y"][pick])), int(round(sources["x"][pick]))] |= np.uint16(SourceFlag.BAD_PIXEL)
    table = QTable(
        {
            "x": [sources["x"][pick], 2.0, 500.0, 500.0 + 2 * fwhm],
            "y": [sources["y"][pick], 500.0, 2.0, 2.0],
            "flags": np.zeros(4, np.uint16),
        }
    )
    out = aperture_photometry(
        sub, table, fwhm_px=fwhm, rms=bkg.rms, gain=1.5, mask=mask, config=ApertureConfig(aperture_correction=False)
    )
    assert out["flags"][0] & SourceFlag.BAD_PIXEL and np.isfinite(out["flux"][0])
    assert out["flags"][1] & SourceFlag.EDGE
    assert out["flags"][2] & SourceFlag.CROWDED and out["flags"][3] & SourceFlag.CROWDED
    assert out.meta["aperture_correction"] == {1.0: 1.0, 1.5: 1.0, 2.0: 1.0, 3.0: 1.0}


def test_bad_arguments(measured):
    _, bkg, sub, _, sources, _, _, _ = measured
    with pytest.raises(PhotometryError):
        aperture_photometry(sub, sources, fwhm_px=0.0, rms=bkg.rms, gain=1.5, config=ApertureConfig())
    with pytest.raises(PhotometryError):
        aperture_photometry(sub, sources[:0], fwhm_px=3.0, rms=bkg.rms, gain=1.5, config=ApertureConfig())
