"""Magnitudes on a crowded, unfiltered, real-looking field through the real pipeline (issues 10 and 14).

One 1024² frame from :func:`rpf.simulate.crowded_field`: a luminosity function ``dN/dm ∝ 10**(0.3 m)``
down to G = 22, Moffat beta 3 seeing of 3.5 px, a vignetted flat with dust rings, hot pixels, cosmic
rays, a CLEAR filter whose fluxes follow Gaia G with a colour term of 0.1 mag per mag of BP - RP, 5 %
of the reference stars without colours and three galaxies that the reference does not list.  The raw
files, five bias/dark/flat frames and the reference (to G = 20.5) go through
:func:`rpf.pipeline.process_frame` offline.
"""

from __future__ import annotations

import numpy as np
import pytest
from photutils_reference import photutils_total_flux
from scipy.spatial import cKDTree

from rpf.calibration import build_masters
from rpf.config import PipelineConfig
from rpf.flags import SourceFlag
from rpf.pipeline import RunContext, frame_pixels, process_frame
from rpf.simulate import crowded_field, write_crowded_field
from rpf.simulate.psf import PsfModel

_BAD = SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL | SourceFlag.NO_COLOR


def _robust_sigma(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crowded")
    crowded = crowded_field(
        seed=12, shape=(1024, 1024), fwhm_arcsec=3.5, stars_per_deg2=40000.0, filter="CLEAR",
        band="phot_g_mean_mag", color_term=0.1, missing_color_fraction=0.05, n_galaxies=3,
    )
    paths = write_crowded_field(crowded, folder)
    config = PipelineConfig().replace(
        catalogs={"offline": True, "catalog_file": str(paths["reference"]), "reference": "file", "crossmatch": ()},
        output={"png": False, "zip": False},
    )
    masters = build_masters(bias=paths["bias"], dark=paths["dark"], flat=paths["flat"], config=config)
    result = process_frame(paths["science"], RunContext(config=config, masters=masters, out_dir=folder / "out"))
    assert result.ok, result.error
    return crowded, result


@pytest.fixture(scope="module")
def matched(run):
    """Detections one-to-one with the brightest true star within 1 px, unflagged pixels, with their expected noise."""
    crowded, result = run
    phot, truth = result.phot, crowded.sim.truth
    stars = truth.stars[truth.stars["in_frame"] & ~truth.stars["saturated"]]
    near = cKDTree(np.column_stack([stars["x"], stars["y"]])).query_ball_point(
        np.column_stack([phot["x"], phot["y"]]), r=1.0
    )
    mags = np.asarray(stars["mag"])
    pairs = [(row, c[int(np.argmin(mags[c]))]) for row, c in enumerate(near) if c]
    rows, index = (np.asarray(v, int) for v in zip(*pairs, strict=True))
    _, inverse, counts = np.unique(index, return_inverse=True, return_counts=True)
    keep = (counts[inverse] == 1) & ((np.asarray(phot["flags"], int)[rows] & int(_BAD)) == 0)
    rows, chosen = rows[keep], stars[index[keep]]
    # photon-noise expectation of a 1.5 FWHM aperture: star, sky, dark and read noise through the flat
    psf = PsfModel(fwhm_px=truth.fwhm_px, profile="moffat", beta=3.0)
    radius = 1.5 * truth.fwhm_px
    gain, read_noise = float(crowded.sim.header["GAIN"]), float(crowded.sim.header["RDNOISE"])
    flat = np.asarray(truth.flat, float)[np.rint(chosen["y"]).astype(int), np.rint(chosen["x"]).astype(int)]
    signal = np.asarray(chosen["flux"]) * (1.0 - psf.outside_fraction(radius))
    dark = float(np.mean(truth.dark_rate)) * truth.exptime
    pixel_var = ((truth.sky * flat + dark) / gain + (read_noise / gain) ** 2) / flat**2
    sigma = np.sqrt(signal / (gain * flat) + np.pi * radius**2 * pixel_var)
    return rows, np.asarray(chosen["mag"]), 2.5 / np.log(10.0) * sigma / signal, signal / sigma


def test_unfiltered_frame_gets_the_colour_term(run):
    _, result = run
    meta = result.metadata
    assert meta["color_term_fitted"] is True
    assert abs(meta["color_term"] - 0.1) < 0.01
    assert 0 < meta["color_term_err"] < 0.01
    assert "not the reference band" in result.phot.meta["color_term_reason"]


def test_default_magnitude_is_the_best_snr_aperture(run):
    _, result = run
    phot = result.phot
    assert phot.meta["flux_measurement"] == "optimal_aperture"
    assert result.metadata["flux_measurement"] == "optimal_aperture"
    radius = np.asarray(phot["flux_radius_fwhm"])
    faint = np.asarray(phot["snr"]) < 30
    assert np.median(radius[faint]) <= 0.9  # sky-limited stars: a small aperture
    assert "mag_r1" in phot.colnames and phot.meta["aperture_radii_fwhm"] == [1.0, 1.5, 2.0, 3.0]


def test_no_faint_star_bias(run, matched):
    _, result = run
    rows, true_mag, _, snr = matched
    diff = np.asarray(result.phot["mag"])[rows] - true_mag
    faint = (snr > 10) & (snr < 50)
    bright = snr > 100
    assert faint.sum() > 150
    # one 1024² frame: the median of ~270 faint stars is known to +-0.004 mag (the benchmark pools more)
    assert abs(np.median(diff[faint]) - np.median(diff[bright])) < 0.01
    assert abs(np.median(diff[faint])) < 0.01


def test_scatter_at_the_photon_noise_floor(run, matched):
    _, result = run
    rows, true_mag, expected, snr = matched
    phot = result.phot
    for low, high in ((10, 20), (20, 50), (50, 100)):
        sel = (snr >= low) & (snr < high)
        default = _robust_sigma((np.asarray(phot["mag"])[rows] - true_mag)[sel] / expected[sel])
        fixed = _robust_sigma((np.asarray(phot["mag_r1"])[rows] - true_mag)[sel] / expected[sel])
        assert default <= 1.15, (low, default)  # one frame; the benchmark's median over frames is <= 1
        assert default < fixed, (low, default, fixed)


def test_photutils_reference_depends_on_the_noise_in_crowded_fields(run, matched):
    """The issue's reference (1.5 FWHM, median of an unmasked 6-9 FWHM annulus) at the true positions.

    In a crowded field the annulus pixels are sky plus a skewed tail of neighbours' and unresolved
    stars' light.  Without noise their median sits just above the sky, below the mean star light
    that an aperture holds on average, and faint stars come out too bright; the frame's noise,
    symmetric and much wider than the tail, pulls the median towards the mean and beyond the sky
    that belongs in the aperture, and the same stars come out too faint.  An estimate that moves
    by more than 0.01 mag with the noise alone is no 0.003 mag reference here; on isolated stars
    it is, and RPF agrees with it there (``test_photutils_reference.py``).
    """
    crowded, result = run
    rows, true_mag, _, snr = matched
    truth = crowded.sim.truth
    stars = truth.stars[truth.stars["in_frame"] & ~truth.stars["saturated"]]
    tree = cKDTree(np.column_stack([stars["x"], stars["y"]]))
    index = tree.query(np.column_stack([np.asarray(result.phot["x"])[rows], np.asarray(result.phot["y"])[rows]]))[1]
    x, y, flux = (np.asarray(stars[c], float)[index] for c in ("x", "y", "flux"))
    psf = PsfModel(fwhm_px=truth.fwhm_px, profile="moffat", beta=3.0)
    faint = (snr > 10) & (snr < 50)
    bias, sky = {}, {}
    for name, image in (("noisy", frame_pixels(result).image), ("noise_free", truth.noise_free)):
        reference, sky[name] = photutils_total_flux(np.asarray(image, float), x, y, psf=psf)
        with np.errstate(invalid="ignore"):
            bias[name] = np.nanmedian(-2.5 * np.log10(reference[faint] / flux[faint]))
    assert bias["noisy"] > 0.008, bias  # too faint on the frame
    assert bias["noisy"] - bias["noise_free"] > 0.01, bias  # moved by the noise alone
    assert np.median(sky["noisy"] - sky["noise_free"]) > 1.0  # ADU per pixel: the median drawn up the tail
    rpf = np.median(np.asarray(result.phot["mag"])[rows][faint] - true_mag[faint])
    assert abs(rpf) < 0.01 and bias["noisy"] - rpf > 0.008, (rpf, bias)


def test_magnitude_errors_describe_the_scatter(run, matched):
    _, result = run
    rows, true_mag, _, snr = matched
    phot = result.phot
    chi = (np.asarray(phot["mag"])[rows] - true_mag) / np.asarray(phot["mag_err"])[rows]
    for low, high in ((10, 50), (50, np.inf)):
        sel = (snr >= low) & (snr < high)
        assert 0.85 <= _robust_sigma(chi[sel]) <= 1.25, (low, _robust_sigma(chi[sel]))


def test_stars_without_catalogue_colour_are_flagged(run):
    crowded, result = run
    phot = result.phot
    matched = np.asarray(phot["cat_id"]) != ""
    no_colour = ~np.isfinite(np.asarray(phot["cat_bp_rp"], float))
    flagged = (np.asarray(phot["flags"], int) & int(SourceFlag.NO_COLOR)) != 0
    assert np.count_nonzero(matched & no_colour) > 5
    assert np.array_equal(flagged, no_colour)  # unmatched detections have no catalogue colour either
    assert not np.any(flagged & np.asarray(phot["zp_used"], bool))


def test_zero_point_rows_for_the_dashboard(run):
    _, result = run
    phot = result.phot
    used = np.asarray(phot["zp_used"], bool)
    residual = np.asarray(phot["zp_residual"], float)
    assert used.sum() == result.metadata["n_calib_stars"]
    assert np.all(np.isfinite(residual[used]))
    np.testing.assert_allclose(residual[used], (np.asarray(phot["cat_mag"]) - np.asarray(phot["mag"]))[used], atol=1e-9)
    assert np.all(~np.isfinite(residual[np.asarray(phot["cat_id"]) == ""]))
    assert abs(np.median(residual[used])) < 0.01


def test_galaxies_are_extended_and_not_transient_candidates(run, matched):
    crowded, result = run
    phot = result.phot
    galaxies = crowded.sim.truth.galaxies
    distance, index = cKDTree(np.column_stack([phot["x"], phot["y"]])).query(
        np.column_stack([galaxies["x"], galaxies["y"]])
    )
    assert np.all(distance < 2.0)
    flags = np.asarray(phot["flags"], int)[index]
    assert np.all(flags & int(SourceFlag.EXTENDED))
    assert not np.any(flags & int(SourceFlag.TRANSIENT_CANDIDATE))
    assert not np.any(np.asarray(phot["transient_candidate"])[index])
    # stars without a comparable neighbour within 3 FWHM are point-like (blends may be flagged: they are larger)
    rows, true_mag, _, snr = matched
    stars = crowded.sim.truth.stars
    tree = cKDTree(np.column_stack([stars["x"], stars["y"]]))
    radius = 3.0 * crowded.sim.truth.fwhm_px
    x, y = np.asarray(phot["x"]), np.asarray(phot["y"])  # plain numbers: the table's columns carry units
    single = np.array(
        [
            np.sum(np.asarray(stars["mag"])[tree.query_ball_point([x[r], y[r]], radius)] < m + 3.0) == 1
            for r, m in zip(rows, true_mag, strict=True)
        ]
    )
    isolated = rows[(snr > 10) & single]
    false = np.count_nonzero(np.asarray(phot["flags"], int)[isolated] & int(SourceFlag.EXTENDED))
    assert isolated.size > 100
    assert false <= 0.02 * isolated.size
