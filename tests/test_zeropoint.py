import numpy as np
import pytest
from astropy.table import QTable

from rpf.config import ApertureConfig, DetectionConfig, ZeroPointConfig
from rpf.errors import ZeroPointError
from rpf.flags import SourceFlag
from rpf.skymatch import match_sky
from rpf.zeropoint import (
    apply_zero_point,
    choose_band,
    fit_extinction,
    fit_zero_point,
    limiting_flux,
    limiting_magnitude,
    plot_zero_point,
)

EXPTIME = 30.0


def _synthetic(seed, *, n=400, zp=22.7, ct=0.1, gradient=0.0, outliers=0.0, gain=2.0, sky_var=400.0):
    """Reference table and photometry generated from the calibration relation with photon noise."""
    rng = np.random.default_rng(seed)
    ra = 150 + rng.uniform(-0.15, 0.15, n)
    dec = 20 + rng.uniform(-0.15, 0.15, n)
    color = rng.uniform(0.2, 2.5, n)
    v = rng.uniform(11, 18.5, n)
    ref = QTable(
        {
            "source_id": np.arange(n, dtype=np.int64) + 1000,
            "ra": ra,
            "dec": dec,
            "phot_g_mean_mag": v - 0.2 * color,
            "phot_bp_mean_mag": v - 0.2 * color + 0.4 * color,
            "phot_rp_mean_mag": v - 0.2 * color - 0.6 * color,
            "ruwe": np.where(rng.random(n) < 0.03, 3.0, 1.0),
            "phot_variable_flag": np.where(rng.random(n) < 0.03, "VARIABLE", "NOT_AVAILABLE"),
            "V_mag": v,
            "R_mag": v - 0.5,
            "r_mag": v - 0.3,
        }
    )
    x, y = rng.uniform(0, 1024, n), rng.uniform(0, 1024, n)
    zp_xy = zp + gradient * (x - 512) / 512
    flux_true = EXPTIME * 10 ** (-0.4 * (v - zp_xy - ct * color))
    flux_err = np.sqrt(flux_true / gain + 30 * sky_var)
    flux = flux_true + rng.normal(0, flux_err)
    bad = rng.random(n) < outliers
    flux[bad] *= 10 ** (-0.4 * rng.choice([-1.0, 1.0], bad.sum()) * rng.uniform(0.3, 1.5, bad.sum()))
    flags = np.zeros(n, np.uint16)
    flags[rng.random(n) < 0.05] = SourceFlag.SATURATED
    phot = QTable(
        {
            "id": np.arange(n),
            "x": x,
            "y": y,
            "ra": ra + rng.normal(0, 0.2 / 3600, n),
            "dec": dec + rng.normal(0, 0.2 / 3600, n),
            "flux": flux,
            "flux_err": flux_err,
            "flux_r0": flux * 1.001,
            "flux_err_r0": flux_err * 0.8,
            "snr": flux / flux_err,
            "mag_inst": -2.5 * np.log10(np.clip(flux, 1e-3, None)),
            "flags": flags,
        }
    )
    return ref, phot, flux_true, color


def _worse_stars(ref, phot):
    return (
        (np.asarray(ref["ruwe"]) > 1.4)
        | (np.asarray(ref["phot_variable_flag"]) == "VARIABLE")
        | (np.asarray(phot["flags"]) != 0)
    )


def test_band_choice_keeps_case_and_systems_apart():
    cols = ["phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag", "R_mag", "r_mag", "V_mag", "V_mag_err"]
    assert choose_band("R", cols).column == "R_mag"
    assert choose_band("r", cols).column == "r_mag"
    assert choose_band("r'", cols).column == "r_mag"
    assert choose_band("Johnson r", cols).column == "R_mag"
    assert choose_band("SDSS R", cols).column == "r_mag"
    assert choose_band("Rc", cols).column == "R_mag"
    assert choose_band("V", cols).error_column == "V_mag_err"
    assert choose_band("Clear", cols).column == "phot_g_mean_mag"
    assert choose_band("Gaia BP", cols).column == "phot_bp_mean_mag"
    assert choose_band("V", ["VT_mag", "phot_g_mean_mag"]).column == "VT_mag"
    assert choose_band("anything", cols, override="r_mag").column == "r_mag"
    with pytest.raises(ZeroPointError, match="B_mag"):
        choose_band("B", cols)
    with pytest.raises(ZeroPointError):
        choose_band("Halpha", cols)


def test_match_is_one_to_one():
    ra = np.array([10.0, 10.0 + 0.3 / 3600, 10.01])
    dec = np.array([0.0, 0.0, 0.0])
    i, j = match_sky(ra, dec, np.array([10.0, 10.01]), np.array([0.0, 0.0]), radius_arcsec=1.0)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 0), (2, 1)]


def test_fit_recovers_zero_point_and_colour_term_despite_outliers():
    ref, phot, _, _ = _synthetic(1, outliers=0.08)
    fit = fit_zero_point(
        phot, ref, band="V", exptime=EXPTIME, airmass=1.3, config=ZeroPointConfig(fit_color_term=True)
    )
    assert abs(fit.zero_point - 22.7) < max(0.01, fit.zero_point_err)
    assert abs(fit.color_term - 0.1) < 0.02
    assert 0 < fit.zero_point_err < 0.01
    assert fit.band_column == "V_mag" and fit.color_index == "BP-RP"
    cal = fit.calibrators
    worse = _worse_stars(ref, phot)
    assert not np.any(worse[np.asarray(cal["ref_idx"])])
    assert fit.rejected["ruwe"] > 0 and fit.rejected["variable"] > 0 and fit.rejected["flags"] > 0
    assert fit.n_calib_stars < fit.n_candidates  # the robust fit dropped the outliers
    assert fit.rms < 0.1


def test_huber_fit_and_fixed_colour_term():
    ref, phot, _, _ = _synthetic(2, outliers=0.05)
    fit = fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig(robust="huber", color_term=0.1))
    assert abs(fit.zero_point - 22.7) < 0.01
    assert fit.color_term == 0.1 and fit.color_term_err == 0.0 and not fit.color_term_fitted
    without = fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig(fit_color_term=False))
    assert abs(without.zero_point - fit.zero_point) > 0.05  # the colour term matters here
    auto = fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig())
    assert auto.color_term_fitted and abs(auto.color_term - 0.1) < 0.01  # the data call for it (BIC)
    assert "significant colour trend" in auto.color_term_reason


def test_spatial_term_recovers_gradient():
    ref, phot, _, _ = _synthetic(3, gradient=0.05, ct=0.0)
    flat = fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig())
    tilted = fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig(spatial_order=1))
    assert tilted.rms < flat.rms
    u_coeff = tilted.spatial_coeffs[tilted.spatial_terms.index((1, 0))]
    assert abs(u_coeff / tilted.spatial_norm[2] * 512 - 0.05) < 0.01


def test_apply_reaches_every_flux_and_propagates_error():
    ref, phot, flux_true, color = _synthetic(4)
    fit = fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig(fit_color_term=True))
    phot["psf_flux"] = np.asarray(phot["flux"]) * 0.97
    phot["psf_flux_err"] = np.asarray(phot["flux_err"])
    phot["flux"][0] = -5.0
    out = apply_zero_point(phot, fit, exptime=EXPTIME, reference_colors=color)
    v = np.asarray(ref["V_mag"])
    snr = np.asarray(phot["snr"])
    good = (snr > 20) & (np.asarray(phot["flags"]) == 0) & (np.arange(len(phot)) > 0)
    assert abs(np.median(out["mag"][good] - v[good])) < 0.01
    assert abs(np.median(out["psf_mag"][good] - out["mag"][good])) < 0.002  # PSF put on the aperture scale
    assert abs(out.meta["psf_to_aperture"] - 1 / 0.97) < 0.002
    assert np.all(out["mag_err"][1:] > fit.zero_point_err)
    faint = np.argmin(snr[1:]) + 1
    assert out["mag_err"][faint] == pytest.approx(1.0857 * phot["flux_err"][faint] / phot["flux"][faint], rel=0.05)
    assert np.isnan(out["mag"][0]) and np.isnan(out["mag_err"][0])
    assert np.allclose((out["mag_r0"] - out["mag"])[1:], -2.5 * np.log10(1.001))
    resid = (out["mag"][good] - v[good]) / out["mag_err"][good]
    assert 0.7 < 1.4826 * np.median(np.abs(resid - np.median(resid))) < 1.2
    assert out.meta["zero_point"] == fit.zero_point  # never rounded


def test_too_few_calibrators_is_an_error_naming_reasons():
    ref, phot, _, _ = _synthetic(5, n=30)
    with pytest.raises(ZeroPointError, match="calibrators"):
        fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig(mag_range=(11.0, 11.3)))
    with pytest.raises(ZeroPointError, match="exposure"):
        fit_zero_point(phot, ref, band="V", exptime=0.0, config=ZeroPointConfig())


def test_extinction_over_a_night_recovers_k():
    k_true, zp0 = 0.2, 23.0
    airmasses = np.linspace(1.1, 2.2, 7)
    zps, errs = [], []
    for i, x in enumerate(airmasses):
        ref, phot, _, _ = _synthetic(10 + i, zp=zp0 - k_true * x, n=250)
        fit = fit_zero_point(
            phot, ref, band="V", exptime=EXPTIME, airmass=x, config=ZeroPointConfig(fit_color_term=True)
        )
        zps.append(fit.zero_point)
        errs.append(fit.zero_point_err)
    night = fit_extinction(zps, airmasses, zp_err=errs)
    assert abs(night.k - k_true) < 0.02
    assert abs(night.zp0 - zp0) < 0.03
    assert night.n_frames == 7
    fixed = fit_extinction(zps, airmasses, k=0.2)
    assert fixed.k == 0.2 and abs(fixed.zp0 - zp0) < 0.01
    with pytest.raises(ZeroPointError, match="span"):
        fit_extinction(zps[:3], [1.2, 1.21, 1.22])


def test_fixed_extinction_reports_airless_zero_point():
    ref, phot, _, _ = _synthetic(6, zp=23.0 - 0.2 * 1.5)
    fit = fit_zero_point(
        phot, ref, band="V", exptime=EXPTIME, airmass=1.5, config=ZeroPointConfig(extinction_k=0.2, color_term=0.1)
    )
    assert abs(fit.zero_point_airless - 23.0) < 0.01 and fit.extinction_k == 0.2


def test_limiting_magnitude_matches_noise_definition():
    fwhm, rms, zp = 3.0, 10.0, 25.0
    flux = limiting_flux(fwhm_px=fwhm, background_rms=rms, gain=2.0)
    area = np.pi * fwhm**2 / (2 * np.log(2))
    assert flux / np.sqrt(area * rms**2 + flux / 2.0) == pytest.approx(5.0)
    lim = limiting_magnitude(fwhm_px=fwhm, background_rms=rms, zero_point=zp, exptime=10.0, gain=2.0)
    assert lim == pytest.approx(-2.5 * np.log10(flux / 10.0) + zp)
    deeper = limiting_magnitude(fwhm_px=fwhm, background_rms=rms / 2, zero_point=zp, exptime=10.0)
    assert deeper > lim
    ap = limiting_magnitude(fwhm_px=fwhm, background_rms=rms, zero_point=zp, exptime=10.0, aperture_radius_px=6.0)
    assert ap < lim  # a large aperture is noisier than PSF weighting
    with pytest.raises(ZeroPointError):
        limiting_magnitude(fwhm_px=0.0, background_rms=rms, zero_point=zp, exptime=10.0)


@pytest.fixture(scope="module")
def simulated_frame():
    from rpf.detection import detect_sources
    from rpf.photometry import aperture_photometry
    from rpf.simulate import random_star_catalog, simulate_frame

    cat = random_star_catalog(ra=150, dec=20, radius_deg=0.2, n_stars=3000, seed=11)
    sim = simulate_frame(
        catalog=cat, seed=12, shape=(1024, 1024), zero_point=23.0, color_term=0.1, extinction_k=0.2,
        airmass=1.5, n_cosmic_rays=0,
    )
    gain, rn = float(sim.header["GAIN"]), float(sim.header["RDNOISE"])
    img = sim.calibrated() - sim.truth.sky
    rms = np.full(img.shape, np.sqrt(sim.truth.sky / gain + (rn / gain) ** 2), np.float32)
    # saturated pixels flagged as rpf.io.load_frame does: unflagged saturated stars would enter the
    # aperture correction with flattened cores (it then overestimated fluxes by 1-5 %)
    pixel_flags = np.where(sim.raw >= 65535, np.uint16(SourceFlag.SATURATED), np.uint16(0))
    src = detect_sources(img, rms=rms, config=DetectionConfig(), pixel_flags=pixel_flags)
    phot = aperture_photometry(img, src, fwhm_px=sim.truth.fwhm_px, rms=rms, gain=gain, config=ApertureConfig())
    phot["ra"], phot["dec"] = sim.truth.wcs.all_pix2world(phot["x"], phot["y"], 0)
    return cat, sim, phot


def test_zero_point_from_simulated_pixels(simulated_frame, tmp_path):
    cat, sim, phot = simulated_frame
    fit = fit_zero_point(
        phot, cat, band=sim.header["FILTER"], exptime=sim.truth.exptime, airmass=sim.truth.airmass,
        config=ZeroPointConfig(fit_color_term=True),
    )
    assert abs(fit.color_term - 0.1) < 0.02
    assert fit.n_calib_stars >= 50
    truth = sim.truth.stars
    pi, ti = match_sky(
        np.asarray(phot["ra"]), np.asarray(phot["dec"]), np.asarray(truth["ra"]), np.asarray(truth["dec"]),
        radius_arcsec=1.0,
    )
    # sim.calibrated() uses the simulator's own flat, so the zero point is directly comparable; the
    # default flux (best-SNR aperture, 0.7-1 FWHM for most calibrators) carries the small apertures'
    # aperture corrections, whose scale undetected neighbours inside the reference radius once pulled
    # about 1 % high (now clipped per star, tests/test_growth.py)
    assert abs(fit.zero_point - sim.truth.zero_point_frame) < max(0.01, fit.zero_point_err)
    colors = np.full(len(phot), np.nan)
    colors[pi] = np.asarray(truth["color"])[ti]
    out = apply_zero_point(phot, fit, exptime=sim.truth.exptime, reference_colors=colors)
    good = (np.asarray(out["snr"])[pi] > 20) & (np.asarray(out["flags"])[pi] == 0) & ~np.asarray(truth["saturated"])[ti]
    diff = np.asarray(out["mag"])[pi][good] - np.asarray(truth["mag"])[ti][good]
    assert good.sum() > 50
    assert abs(np.median(diff)) < 0.01
    path = tmp_path / "frame_zero_point.png"
    plot_zero_point(fit, path, title="frame")
    assert path.stat().st_size > 10_000


def test_reference_without_colours_still_calibrates():
    """Offline Tycho-2 (V_T only, no BP/RP): a zero point without colour term or cut."""
    ref, phot, _, _ = _synthetic(21, ct=0.0)
    ref = ref[["source_id", "ra", "dec", "V_mag"]]
    ref.rename_column("V_mag", "VT_mag")
    idx = np.arange(len(ref))
    fit = fit_zero_point(
        phot, ref, band="VT_mag", exptime=EXPTIME, match_idx=(idx, idx),
        config=ZeroPointConfig(fit_color_term=True),
    )
    assert fit.zero_point == pytest.approx(22.7, abs=max(0.01, 3 * fit.zero_point_err))
    assert not fit.color_term_fitted and fit.n_calib_stars > 100


@pytest.mark.parametrize("seed", range(6))
def test_no_spurious_colour_term_when_the_filter_matches(seed):
    ref, phot, _, _ = _synthetic(seed, outliers=0.05, ct=0.0)
    fit = fit_zero_point(phot, ref, band="V", exptime=EXPTIME, config=ZeroPointConfig())
    assert not fit.color_term_fitted and fit.color_term == 0.0
    assert "no significant colour trend" in fit.color_term_reason


def test_colour_term_fitted_for_an_unfiltered_or_mismatched_filter():
    from rpf.zeropoint import band_matches_filter, choose_band

    columns = ["phot_g_mean_mag", "V_mag", "VT_mag", "R_mag"]
    assert band_matches_filter("V", choose_band("V", columns))
    assert band_matches_filter("G", choose_band("G", columns))
    assert not band_matches_filter("CLEAR", choose_band("CLEAR", columns))
    assert not band_matches_filter("L", choose_band("L", columns))
    assert not band_matches_filter("V", choose_band("V", ["VT_mag"]))
    assert not band_matches_filter("R", choose_band("R", columns, override="phot_g_mean_mag"))
    ref, phot, _, _ = _synthetic(3, outliers=0.0, ct=0.0)
    fit = fit_zero_point(phot, ref, band="V_mag", filter_name="Clear", exptime=EXPTIME, config=ZeroPointConfig())
    assert fit.color_term_fitted and abs(fit.color_term) < 0.02
    assert "not the reference band" in fit.color_term_reason
