"""Cross-matching: radius from the frame, one-to-one, labels from every service, transient candidates."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from catalog_services import FIELD_MJD, SITE, body, serve_all, service_config

from rpf.catalogs import (
    crossmatch_sources,
    find_transient_candidates,
    flag_transient_candidates,
    match_radius_arcsec,
    match_reference,
)
from rpf.catalogs.votable import parse_votable
from rpf.config import CatalogConfig
from rpf.flags import SourceFlag

ARCSEC = 1.0 / 3600.0


def test_match_radius_follows_fwhm_and_wcs_rms():
    config = CatalogConfig()
    assert match_radius_arcsec(3.0, 0.2, config=config) == pytest.approx(1.5)  # seeing dominates
    assert match_radius_arcsec(2.0, 0.8, config=config) == pytest.approx(2.4)  # astrometry dominates
    assert match_radius_arcsec(40.0, 0.2, config=config) == pytest.approx(10.0)  # capped
    assert match_radius_arcsec(0.5, 0.05, config=config) == pytest.approx(1.0)  # floor
    assert match_radius_arcsec(None, None, config=config) == pytest.approx(10.0)


def test_match_is_one_to_one_nearest_first():
    # two detections 1" apart, one catalogue star between them, nearer the second
    sources = Table({"ra": [10.0, 10.0, 20.0, np.nan], "dec": [0.0, 1.0 * ARCSEC, 5.0, 0.0]})
    reference = Table({"ra": [10.0, 20.0 + 5 * ARCSEC], "dec": [0.7 * ARCSEC, 5.0]})
    si, ri = match_reference(sources, reference, radius_arcsec=2.0)
    assert list(si) == [1] and list(ri) == [0]  # the far star (5") does not match, NaN never matches
    # a catalogue star matches at most one detection even when both are inside the radius
    dense = Table({"ra": 30.0 + np.arange(50) * 0.4 * ARCSEC, "dec": np.zeros(50)})
    cat = Table({"ra": 30.0 + np.arange(0, 50, 5) * 0.4 * ARCSEC + 0.05 * ARCSEC, "dec": np.zeros(10)})
    si, ri = match_reference(dense, cat, radius_arcsec=3.0)
    assert len(set(si)) == len(si) == len(set(ri)) == 10
    assert list(si) == list(range(0, 50, 5))


def test_match_reference_scales_to_a_real_frame():
    rng = np.random.default_rng(0)
    ref = Table({"ra": rng.uniform(100, 100.3, 3000), "dec": rng.uniform(20, 20.3, 3000)})
    jitter = rng.normal(0, 0.3 * ARCSEC, (2, 1000))
    src = Table({"ra": ref["ra"][:1000] + jitter[0], "dec": ref["dec"][:1000] + jitter[1]})
    si, ri = match_reference(src, ref, radius_arcsec=1.5)
    assert len(si) >= 995
    assert np.mean(si == ri) > 0.99


def test_crossmatch_labels_detections_from_every_service(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path)
    asteroid = parse_votable(body("skybot_conesearch.vot"), service="skybot")
    # detections: on the SIMBAD+VSX star, the quasar, the asteroid (recorded position), the Colibri event,
    # one 1.5" from the SIMBAD YSO (outside a 1.2" radius) and a random empty spot
    sources = Table({
        "ra": [81.27 + 0.3 * ARCSEC, 81.2333, float(asteroid["_RAJ2000"][1]), 81.29, 81.25 + 1.5 * ARCSEC, 81.20],
        "dec": [4.5, 4.4333 - 0.4 * ARCSEC, float(asteroid["_DECJ2000"][1]), 4.48, 4.5, 4.55],
    })
    labels, reports = crossmatch_sources(
        sources, mjd=FIELD_MJD, site=SITE, fwhm_arcsec=2.4, wcs_rms_arcsec=0.2, config=config
    )
    assert labels.meta["match_radius_arcsec"] == pytest.approx(1.2)
    assert [r.status for r in reports] == ["ok"] * 5
    by_service = {r.service: r for r in reports}
    assert by_service["simbad"].n_rows == 3 and by_service["simbad"].n_matched == 1
    assert list(labels["simbad_id"]) == ["V* V0000 Ori", "", "", "", "", ""]
    assert labels["simbad_otype"][0] == "EB*"
    assert labels["vsx_name"][0] == "ASASSN-V J052504.80+043000.0" and labels["vsx_type"][0] == "EW"
    assert labels["vsx_period"][0] == pytest.approx(0.345612) and np.isnan(labels["vsx_period"][1])
    assert list(labels["qso_name"]) == ["", "SDSS J052456.00+042600.0", "", "", "", ""]
    assert labels["qso_z"][1] == pytest.approx(1.234)
    assert labels["skybot_name"][2] == "(523748) 2014 UP224"
    assert list(labels["colibri_name"]) == ["", "", "", "AT 2025abc", "", ""]
    assert len(labels) == len(sources)


def test_per_row_radius_for_uncertain_positions():
    # a detection 20" from a catalogue row matches only when that row carries a 30" uncertainty
    sources = Table({"ra": [50.0, 60.0], "dec": [20 * ARCSEC, 20 * ARCSEC]})
    rows = Table({"ra": [50.0, 60.0], "dec": [0.0, 0.0]})
    si, ri = match_reference(sources, rows, radius_arcsec=np.array([30.0, 2.0]))
    assert list(si) == [0] and list(ri) == [0]


def _phot() -> Table:
    return Table({
        "id": np.arange(7),
        "x": np.arange(7) * 10.0,
        "y": np.arange(7) * 10.0,
        "ra": np.linspace(81.2, 81.3, 7),
        "dec": np.full(7, 4.5),
        "mag": np.full(7, 15.0),
        "snr": [50.0, 50.0, 50.0, 5.0, 50.0, 50.0, 50.0],
        "flags": [0, 0, 0, 0, int(SourceFlag.SATURATED), int(SourceFlag.EDGE | SourceFlag.BLENDED),
                  int(SourceFlag.BLENDED)],
    })


def test_transient_candidates():
    phot = _phot()
    labels = Table({
        "skybot_name": ["", "", "(1) Ceres", "", "", "", ""],
        "simbad_id": ["", "", "", "", "", "", "SN 2025x"],
        "simbad_otype": ["", "", "", "", "", "", "SN*"],
        "vsx_name": [""] * 7, "vsx_type": [""] * 7,
        "colibri_name": ["", "", "", "", "", "", "AT 2025x"], "colibri_type": [""] * 7,
    })
    matched = np.array([True, False, False, False, False, False, False])
    out, transients = find_transient_candidates(phot, labels, reference_matched=matched)
    # 0 has a Gaia counterpart, 2 is an asteroid, 3 is faint, 4 saturated, 5 at the edge
    assert list(out["transient_candidate"]) == [False, True, False, False, False, False, True]
    assert list(transients["id"]) == [1, 6]
    assert transients["colibri_name"][1] == "AT 2025x" and transients["simbad_otype"][1] == "SN*"
    assert out["flags"][6] == int(SourceFlag.BLENDED | SourceFlag.TRANSIENT_CANDIDATE)
    assert list(phot["flags"]) == list(_phot()["flags"])  # input untouched


def test_flag_transient_candidates_on_a_pipeline_table():
    phot = _phot()
    phot["cat_id"] = ["123", "", "", "", "", "", ""]
    phot["skybot_name"] = ["", "", "(1) Ceres", "", "", "", ""]
    out = flag_transient_candidates(phot)
    assert list(np.flatnonzero(out["transient_candidate"])) == [1, 6]
    # without a reference catalogue nothing can be called new
    assert not flag_transient_candidates(_phot())["transient_candidate"].any()
