"""One sky matcher and one radius rule, for the zero point, the cross-matches and the light curves (issue 10)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from rpf.catalogs import crossmatch_sources
from rpf.config import CatalogConfig, PipelineConfig, ZeroPointConfig
from rpf.errors import ConfigError, ZeroPointError
from rpf.lightcurves import FramePhotometry, cross_identify
from rpf.pipeline.finish import match_radius_arcsec as lightcurve_radius
from rpf.pipeline.magnitudes import match_radius_arcsec as zero_point_radius
from rpf.skymatch import match_radius_arcsec, match_sky, pairs_within
from rpf.zeropoint import fit_zero_point

ARCSEC = 1.0 / 3600.0


def test_radius_rule_follows_fwhm_and_wcs_rms():
    bounds = {"minimum": 1.0, "maximum": 10.0}
    assert match_radius_arcsec(fwhm_arcsec=3.0, wcs_rms_arcsec=0.2, **bounds) == pytest.approx(1.5)  # seeing
    assert match_radius_arcsec(fwhm_arcsec=2.0, wcs_rms_arcsec=0.8, **bounds) == pytest.approx(2.4)  # astrometry
    assert match_radius_arcsec(fwhm_arcsec=40.0, wcs_rms_arcsec=0.2, **bounds) == pytest.approx(10.0)  # capped
    assert match_radius_arcsec(fwhm_arcsec=0.5, wcs_rms_arcsec=0.05, **bounds) == pytest.approx(1.0)  # floor
    assert match_radius_arcsec(fwhm_arcsec=None, wcs_rms_arcsec=float("nan"), **bounds) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="minimum"):
        match_radius_arcsec(fwhm_arcsec=3.0, wcs_rms_arcsec=0.2, minimum=5.0, maximum=1.0)


def test_light_curves_use_the_same_rule_with_the_frame_to_frame_scatter():
    frames = [{"fwhm_arcsec": 8.0, "wcs_rms_arcsec": 0.2}] * 3
    assert lightcurve_radius(frames) == pytest.approx(4.0)  # 0.5 FWHM
    rms = [{"fwhm_arcsec": 3.0, "wcs_rms_arcsec": 0.9}]
    assert lightcurve_radius(rms) == pytest.approx(3 * 0.9 * np.sqrt(2))  # two frames' scatter
    assert lightcurve_radius([{"fwhm_arcsec": 3.0, "wcs_rms_arcsec": 0.1}]) == pytest.approx(2.0)  # floor


def test_matches_are_one_to_one_and_mutual_nearest():
    # two detections 1" apart, one catalogue star between them, nearer the second
    ra1, dec1 = [10.0, 10.0, 20.0, np.nan], [0.0, 1.0 * ARCSEC, 5.0, 0.0]
    ra2, dec2 = [10.0, 20.0 + 5 * ARCSEC], [0.7 * ARCSEC, 5.0]
    i1, i2 = match_sky(ra1, dec1, ra2, dec2, radius_arcsec=2.0)
    assert list(i1) == [1] and list(i2) == [0]  # the far star (5") does not match, NaN never matches
    # a catalogue star matches at most one detection even when several are inside the radius
    dense = 30.0 + np.arange(50) * 0.4 * ARCSEC
    cat = 30.0 + np.arange(0, 50, 5) * 0.4 * ARCSEC + 0.05 * ARCSEC
    i1, i2 = match_sky(dense, np.zeros(50), cat, np.zeros(10), radius_arcsec=3.0)
    assert list(i1) == list(range(0, 50, 5)) and list(i2) == list(range(10))


def test_a_detection_whose_nearest_star_is_taken_gets_the_next_free_one():
    # stars J at 0" and K at -1.0"; detection P at +0.1" and Q at -0.3" (both nearest J).
    # P-J are mutual nearest; with them set aside Q and K are: Q matches K (0.7"), not nothing.
    j, k, p, q = 50.0, 50.0 - 1.0 * ARCSEC, 50.0 + 0.1 * ARCSEC, 50.0 - 0.3 * ARCSEC
    i1, i2 = match_sky([p, q], [0.0, 0.0], [j, k], [0.0, 0.0], radius_arcsec=2.0)
    assert list(zip(i1.tolist(), i2.tolist(), strict=True)) == [(0, 0), (1, 1)]
    i1, i2 = match_sky([p, q], [0.0, 0.0], [j, k], [0.0, 0.0], radius_arcsec=0.5)
    assert list(zip(i1.tolist(), i2.tolist(), strict=True)) == [(0, 0)]  # K is outside Q's radius


def test_separations_agree_with_astropy_near_the_pole_and_across_ra_zero():
    rng = np.random.default_rng(3)
    ra1 = np.concatenate([rng.uniform(359.99, 360.0, 50), rng.uniform(0, 360, 50)])
    dec1 = np.concatenate([rng.uniform(-1, 1, 50), rng.uniform(89.99, 90.0, 50)])
    ra2 = (ra1 + rng.normal(0, 1.5, 100) * ARCSEC / np.cos(np.radians(np.minimum(dec1, 89.9)))) % 360
    dec2 = np.clip(dec1 + rng.normal(0, 1.5, 100) * ARCSEC, -90, 90)
    i1, i2, sep = pairs_within(ra1, dec1, ra2, dec2, radius_arcsec=5.0)
    truth = SkyCoord(ra1[i1] * u.deg, dec1[i1] * u.deg).separation(SkyCoord(ra2[i2] * u.deg, dec2[i2] * u.deg))
    assert np.allclose(sep, truth.to_value(u.arcsec), atol=1e-6)
    assert np.all(sep <= 5.0)


def test_matching_scales_to_a_real_frame():
    rng = np.random.default_rng(0)
    ra, dec = rng.uniform(100, 100.3, 3000), rng.uniform(20, 20.3, 3000)
    jitter = rng.normal(0, 0.3 * ARCSEC, (2, 1000))
    i1, i2 = match_sky(ra[:1000] + jitter[0], dec[:1000] + jitter[1], ra, dec, radius_arcsec=1.5)
    assert len(i1) >= 995
    assert np.mean(i1 == i2) > 0.99


def test_per_row_radius_for_uncertain_positions():
    # a detection 20" from a catalogue row matches only when that row carries a 30" uncertainty
    i1, i2 = match_sky([50.0, 60.0], [20 * ARCSEC, 20 * ARCSEC], [50.0, 60.0], [0.0, 0.0],
                       radius_arcsec=np.array([30.0, 2.0]))
    assert list(i1) == [0] and list(i2) == [0]
    with pytest.raises(ValueError, match="one value per row"):
        match_sky([1.0], [1.0], [1.0, 2.0], [1.0, 2.0], radius_arcsec=np.array([1.0, 2.0, 3.0]))


def test_light_curves_and_zero_point_pair_stars_as_the_one_matcher_does():
    """Today the light curves give Q a star of its own and the zero point leaves it unmatched."""
    j, k, p, q = 50.0, 50.0 - 1.0 * ARCSEC, 50.0 + 0.1 * ARCSEC, 50.0 - 0.3 * ARCSEC

    def frame(name, mjd, ra):
        n = len(ra)
        return FramePhotometry(frame=name, mjd=mjd, airmass=1.0, ra=np.asarray(ra), dec=np.zeros(n),
                               mag=np.full(n, 15.0), mag_err=np.full(n, 0.01), flags=np.zeros(n, np.int64))

    ids, _, _ = cross_identify([frame("first", 1.0, [j, k]), frame("second", 2.0, [p, q])], radius_arcsec=2.0)
    assert list(ids[1]) == [0, 1]  # P joins J's star, Q joins K's star: no spurious third star
    phot = QTable({"ra": [p, q], "dec": [0.0, 0.0], "x": [10.0, 20.0], "y": [10.0, 20.0],
                   "flux": [1e5, 1e5], "flux_err": [1e2, 1e2], "snr": [1e3, 1e3], "flags": [0, 0]})
    reference = QTable({"source_id": [1, 2], "ra": [j, k], "dec": [0.0, 0.0], "V_mag": [12.0, 12.0]})
    with pytest.raises(ZeroPointError, match="among 2 matched stars"):
        fit_zero_point(phot, reference, band="V", exptime=1.0, radius_arcsec=2.0,
                       config=ZeroPointConfig(min_stars=3, isolation_arcsec=0.0))


def test_zeropoint_match_radius_is_gone_and_the_catalogue_bounds_act():
    """``zeropoint.match_radius_arcsec`` never reached the pipeline's match: it is removed (issue 10, item 3)."""
    with pytest.raises(ConfigError, match="match_radius_arcsec"):
        PipelineConfig().replace(zeropoint={"match_radius_arcsec": 0.5})
    tight = CatalogConfig(match_radius_min_arcsec=0.2, match_radius_max_arcsec=0.2, crossmatch=())
    labels, _ = crossmatch_sources(Table({"ra": [1.0], "dec": [1.0]}), mjd=None, site=None, fwhm_arcsec=3.0,
                                   wcs_rms_arcsec=0.3, config=tight)
    assert labels.meta["match_radius_arcsec"] == pytest.approx(0.2)


def test_the_zero_point_match_follows_the_catalogue_bounds():
    frame = SimpleNamespace(meta=SimpleNamespace(pixel_scale=1.0))
    state = SimpleNamespace(wcs=SimpleNamespace(pixel_scale_arcsec=1.0, rms_arcsec=0.2), frame=frame,
                            fwhm=SimpleNamespace(fwhm_px=3.0))
    assert zero_point_radius(state, SimpleNamespace(config=PipelineConfig())) == pytest.approx(1.5)
    tight = PipelineConfig().replace(catalogs={"match_radius_max_arcsec": 1.2})
    assert zero_point_radius(state, SimpleNamespace(config=tight)) == pytest.approx(1.2)
