"""Every provider end to end through its client code against a local server replaying recorded answers."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from astropy.time import Time
from catalog_services import FIELD_DEC, FIELD_MJD, FIELD_RA, SITE, requests_to, serve_all, service_config

from rpf.catalogs import PROVIDERS, Cone, get_reference, query_service
from rpf.catalogs.gaia import GAIA_EPOCH_MJD


@pytest.fixture
def config(httpserver, tmp_path):
    serve_all(httpserver)
    return service_config(httpserver, tmp_path)


def test_gaia_tap_query_columns_and_epoch_propagation(httpserver, config):
    # the recorded answer holds two sources far apart; the cone keeps the one at (268.07, +26.51)
    recorded = get_reference(268.0676646661466, 26.5, 0.5, epoch_mjd=None, config=config)
    [request] = requests_to(httpserver, "/tap-server/tap/sync")
    adql = request.form["QUERY"]
    assert "gaiadr3.gaia_source" in adql and "synthetic_photometry_gspc" in adql
    assert "CIRCLE('ICRS', 268.06766467, 26.50000000, 0.50000000)" in adql
    assert f"phot_g_mean_mag <= {config.mag_limit:.3f}" in adql
    assert request.form["REQUEST"] == "doQuery" and request.form["LANG"] == "ADQL"
    assert recorded.meta["catalog"] == "gaia_dr3"
    assert len(recorded) == 1
    row = recorded[0]
    assert row["source_id"] == 4583627001381815936
    assert row["phot_variable_flag"] == "VARIABLE"
    assert np.isfinite(row["ruwe"]) and np.isfinite(row["phot_g_mean_mag"])
    assert np.isnan(row["V_mag"])  # no XP synthetic photometry in this recording
    # ten years later the star has moved by its proper motion (cache answers, no new request)
    later = get_reference(268.0676646661466, 26.5, 0.5, epoch_mjd=GAIA_EPOCH_MJD + 3652.5, config=config)
    assert len(requests_to(httpserver, "/tap-server/tap/sync")) == 1
    moved_dec_mas = (later["dec"][0] - row["dec"]) * 3.6e6
    moved_ra_mas = (later["ra"][0] - row["ra"]) * 3.6e6 * np.cos(np.radians(row["dec"]))
    assert moved_dec_mas == pytest.approx(10 * row["pmdec"], rel=1e-6)
    assert moved_ra_mas == pytest.approx(10 * row["pmra"], rel=1e-4)


def test_simbad_tap(httpserver, config):
    result = query_service(PROVIDERS["simbad"], Cone(FIELD_RA, FIELD_DEC, 0.2), config=config)
    [request] = requests_to(httpserver, "/simbad/sim-tap/sync")
    assert "FROM basic" in request.form["QUERY"] and "allfluxes" in request.form["QUERY"]
    table = result.table
    assert list(table["simbad_id"]) == ["V* V0000 Ori", "2MASS J05250000+0430000", "Gaia DR3 3236000000000000000"]
    assert list(table["simbad_otype"]) == ["EB*", "YSO", "*"]
    assert table["V_mag"][0] == pytest.approx(13.35) and np.isnan(table["B_mag"][1])


@pytest.mark.parametrize(("mpc_code", "expected_loc"), [("010", "010"), (None, "+6.92000 +43.75000 1270")])
def test_skybot_is_topocentric_at_mid_exposure(httpserver, tmp_path, mpc_code, expected_loc):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path, mpc_code=mpc_code)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.2, epoch_mjd=FIELD_MJD, site=SITE)
    table = query_service(PROVIDERS["skybot"], cone, config=config).table
    [request] = requests_to(httpserver, "/webservices/skybot/api/conesearch.php")
    assert request.args["-loc"] == expected_loc
    assert float(request.args["-ep"]) == pytest.approx(Time(FIELD_MJD, format="mjd").jd, abs=1e-6)
    assert request.args["-mime"] == "votable"
    assert len(table) == 4
    assert "(229762) G!kun||'homdima" in list(table["skybot_name"])
    assert "2019 RB21" in list(table["skybot_name"])
    assert np.all(np.isfinite(table["ra"])) and np.all(np.isfinite(table["skybot_errpos"]))


def test_vsx_and_milliquas_through_vizier(httpserver, config):
    cone = Cone(FIELD_RA, FIELD_DEC, 0.2)
    vsx = query_service(PROVIDERS["vsx"], cone, config=config).table
    qso = query_service(PROVIDERS["milliquas"], cone, config=config).table
    sources = sorted(r.args["-source"] for r in requests_to(httpserver, "/viz-bin/votable"))
    assert sources == ["B/vsx/vsx", "VII/294/catalog"]
    request = requests_to(httpserver, "/viz-bin/votable")[0]
    assert request.args["-c.rd"] == "0.2000000" and request.args["-out.max"] == "unlimited"
    assert list(vsx["vsx_name"]) == ["ASASSN-V J052504.80+043000.0", "V0512 Ori"]
    assert vsx["vsx_period"][0] == pytest.approx(0.345612) and np.isnan(vsx["vsx_period"][1])
    assert vsx["vsx_range"][0] == "13.10-13.60"
    assert list(qso["qso_name"]) == ["SDSS J052456.00+042600.0"]
    assert qso["qso_z"][0] == pytest.approx(1.234)


def test_colibri_sends_key_in_body_only_and_never_logs_or_caches_it(httpserver, config, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.2, epoch_mjd=FIELD_MJD)
    table = query_service(PROVIDERS["colibri"], cone, config=config).table
    [request] = requests_to(httpserver, "/cone_search")
    payload = json.loads(request.data)
    assert payload["uid"] == "secret-uid-123"
    assert payload["properties"] == {"type": "cone", "position": {"ra": FIELD_RA, "dec": FIELD_DEC}, "radius": 0.2}
    assert payload["time_range"]["min"] < "2025-01-02" < payload["time_range"]["max"]
    assert "secret-uid-123" not in request.url
    # the GRB of the answer is centred 1.3 deg away: outside the cone
    assert list(table["colibri_name"]) == ["AT 2025abc"]
    assert table["colibri_err_deg"][0] == pytest.approx(1e-4)
    assert "secret-uid-123" not in caplog.text
    for path in (tmp_path / "cache").rglob("*"):
        if path.is_file():
            assert b"secret-uid-123" not in path.read_bytes()
    assert "secret-uid-123" not in repr(config)
