"""Cross-matching: labels from every service, matched within the frame's radius (see test_skymatch.py)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from catalog_services import FIELD_MJD, SITE, body, serve_all, service_config

from rpf.catalogs import crossmatch_sources
from rpf.catalogs.votable import parse_votable

ARCSEC = 1.0 / 3600.0


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
