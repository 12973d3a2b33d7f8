"""Template subtraction on simulated frames: a transient on a galaxy, residuals of constant stars."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from transient_sims import CENTER, SHAPE, ZERO_POINT, pipeline_context, reference_catalog, run_stages, simulate
from transient_sims import write_calibrated as write

from rpf.simulate import InstrumentModel
from rpf.simulate.inject import add_light, galaxy_light
from rpf.simulate.psf import PsfModel
from rpf.simulate.wcs import make_tan_wcs
from rpf.subtraction import align_template, detect_difference, merge_candidates, subtract_template
from rpf.targets import forced_photometry

GALAXY_XY = (200.3, 180.7)  # science pixels
TRANSIENT_OFFSET = (2.0, 1.0)  # pixels from the galaxy centre
GALAXY_MAG, TRANSIENT_MAG = 16.0, 19.0


def _frame(catalog, folder, ctx, *, name, seed, fwhm, exptime, offset, transient):
    wcs = make_tan_wcs(center=(CENTER[0] + offset[0] / 3600, CENTER[1] + offset[1] / 3600), shape=SHAPE,
                       pixel_scale=1.0)
    sky = make_tan_wcs(center=CENTER, shape=SHAPE, pixel_scale=1.0).pixel_to_world(*GALAXY_XY)
    gx, gy = wcs.world_to_pixel(sky)
    extra = None
    if transient:
        extra = Table({"x": [gx + TRANSIENT_OFFSET[0]], "y": [gy + TRANSIENT_OFFSET[1]], "mag": [TRANSIENT_MAG]})
    sim = simulate(catalog, seed=seed, fwhm_arcsec=fwhm, exptime=exptime, offset_arcsec=offset, extra_stars=extra)
    light = galaxy_light(SHAPE, x=float(gx), y=float(gy), flux=exptime * 10 ** (-0.4 * (GALAXY_MAG - ZERO_POINT)),
                         r_eff_px=4.0, psf=PsfModel(fwhm_px=fwhm))
    sim = add_light(sim, light, instrument=InstrumentModel(), seed=seed + 100)
    return run_stages(write(sim, folder / name), ctx)


@pytest.fixture(scope="module")
def subtraction(tmp_path_factory):
    """A 60-s science frame (3.5" seeing) with a transient on a galaxy; a 600-s template (2.5") without it.

    The simulated PSF is the same over the field, so a constant kernel and background suffice (and take a
    third of the time of the default first-order ones).
    """
    folder = tmp_path_factory.mktemp("subtraction")
    catalog, catalog_file = reference_catalog(folder)
    ctx = pipeline_context(folder, catalog_file)
    science = _frame(catalog, folder, ctx, name="science.fits", seed=1, fwhm=3.5, exptime=60.0, offset=(0, 0),
                     transient=True)
    template = _frame(catalog, folder, ctx, name="template.fits", seed=2, fwhm=2.5, exptime=600.0,
                      offset=(1.3, -0.8), transient=False)
    aligned = align_template(
        template.image, template_wcs=template.wcs.wcs, template_rms=template.background.rms,
        template_gain=template.frame.meta.gain, template_exptime=template.frame.meta.exptime,
        template_zero_point=template.zero_point.zero_point, template_mask=template.frame.mask,
        template_fwhm_px=template.fwhm.fwhm_px, wcs=science.wcs.wcs, shape=SHAPE,
        exptime=science.frame.meta.exptime, zero_point=science.zero_point.zero_point,
    )
    diff = subtract_template(science.image, aligned, science_rms=science.background.rms,
                             gain=science.frame.meta.gain, fwhm_px=science.fwhm.fwhm_px, mask=science.frame.mask,
                             sources=science.phot, kernel_poly_order=0, background_poly_order=0)
    candidates = detect_difference(diff, fwhm_px=science.fwhm.fwhm_px, wcs=science.wcs.wcs)
    position = (GALAXY_XY[0] + TRANSIENT_OFFSET[0], GALAXY_XY[1] + TRANSIENT_OFFSET[1])
    return {"science": science, "aligned": aligned, "diff": diff, "candidates": candidates, "position": position}


def test_transient_on_a_galaxy_is_found_on_the_difference_and_not_by_plain_detection(subtraction):
    science, candidates = subtraction["science"], subtraction["candidates"]
    x, y = subtraction["position"]
    fwhm = science.fwhm.fwhm_px
    # plain detection sees the galaxy only: its nearest detection is at the galaxy's centre
    d_plain = np.hypot(np.asarray(science.phot["x"]) - x, np.asarray(science.phot["y"]) - y)
    nearest = int(np.argmin(d_plain))
    assert d_plain[nearest] > 1.5
    assert np.hypot(science.phot["x"][nearest] - GALAXY_XY[0], science.phot["y"][nearest] - GALAXY_XY[1]) < 1.0
    # the difference image has it, point-like, brighter than the template
    d_diff = np.hypot(np.asarray(candidates["x"]) - x, np.asarray(candidates["y"]) - y)
    found = candidates[int(np.argmin(d_diff))]
    assert d_diff.min() < 1.0 and found["sign"] == 1 and not found["dipole"] and found["snr"] > 5
    # and its forced photometry there recovers its flux within the error
    correction = science.phot.meta["aperture_correction"][1.0]
    diff = subtraction["diff"]
    forced = forced_photometry(diff.image, [x], [y], fwhm_px=fwhm, gain=science.frame.meta.gain, radius_fwhm=1.0,
                               annulus_fwhm=(4.0, 6.0), aperture_correction=correction,
                               mask=np.where(diff.bad, 16, 0).astype(np.uint16))
    truth = 60.0 * 10 ** (-0.4 * (TRANSIENT_MAG - ZERO_POINT))
    assert forced["detected"][0]
    assert float(forced["flux"][0]) == pytest.approx(truth, abs=3 * float(forced["flux_err"][0]))


def test_constant_stars_subtract_to_the_noise(subtraction):
    science, diff = subtraction["science"], subtraction["diff"]
    phot = science.phot
    x, y = np.asarray(phot["x"]), np.asarray(phot["y"])
    far = np.hypot(x - GALAXY_XY[0], y - GALAXY_XY[1]) > 20
    stars = (np.asarray(phot["flags"]) == 0) & (np.asarray(phot["snr"]) > 10) & far
    assert stars.sum() >= 12
    import sep

    flux, err, touched = sep.sum_circle(diff.image.astype(float), x[stars], y[stars], 1.5 * science.fwhm.fwhm_px,
                                        err=diff.noise.astype(float), mask=diff.bad)
    chi = (flux / err)[touched == 0]
    assert 0.6 < np.std(chi) < 1.5 and abs(np.mean(chi)) < 0.5, chi
    z = (diff.image / diff.noise)[~diff.bad]
    assert 1.4826 * np.median(np.abs(z - np.median(z))) == pytest.approx(1.0, abs=0.1)
    # the difference lists the transient and little else away from masked pixels
    listed = subtraction["candidates"]
    assert np.count_nonzero((np.asarray(listed["flags"]) == 0) & ~np.asarray(listed["dipole"])) <= 3


def test_difference_candidates_listed_next_to_catalogue_candidates(subtraction):
    science, candidates = subtraction["science"], subtraction["candidates"]
    catalog = Table({"x": [GALAXY_XY[0], 20.0], "y": [GALAXY_XY[1], 30.0], "snr": [400.0, 12.0]})
    merged = merge_candidates(candidates, catalog, radius_px=science.fwhm.fwhm_px)
    origins = list(merged["origin"])
    assert origins.count("catalog") + origins.count("both") == 2
    assert "difference" in origins or "both" in origins
    assert merged["catalog_snr"][0] == 400.0 or abs(merged["diff_snr"][0]) >= 400.0
