"""Targets by name: SIMBAD and Astro-Colibri answers replayed locally, the name cache, offline, SkyBoT."""

from __future__ import annotations

import dataclasses

import pytest
from catalog_services import FIELD_DEC, FIELD_MJD, FIELD_RA, SITE, body, requests_to, serve_all, service_config
from werkzeug import Response

from rpf.catalogs.names import NameNotResolved, locate_solar_system, resolve_name, same_object_name
from rpf.errors import ConfigError
from rpf.targets import parse_target, read_targets_csv, target_resolver


def _simbad_by_identifier(request):
    query = request.form.get("QUERY", "")
    name = "simbad_tap_ident.xml" if "i.id = 'M1'" in query else "simbad_tap_ident_empty.xml"
    return Response(body(name), content_type="application/x-votable+xml")


def _colibri_event(request):
    if request.args.get("trigger_id") == "GRB250101A":
        return Response(body("colibri_event.json"), content_type="application/json")
    return Response("{}", content_type="application/json")


@pytest.fixture
def config(httpserver, tmp_path):
    httpserver.expect_request("/simbad/sim-tap/sync").respond_with_handler(_simbad_by_identifier)
    httpserver.expect_request("/event").respond_with_handler(_colibri_event)
    return service_config(httpserver, tmp_path)


def test_simbad_resolves_and_the_cache_answers_offline(httpserver, config):
    found = resolve_name("M1", config=config)
    assert (found.service, found.identifier, found.kind) == ("simbad", "M   1", "SNR")
    assert found.ra == pytest.approx(83.6330833) and found.dec == pytest.approx(22.0145)
    [request] = requests_to(httpserver, "/simbad/sim-tap/sync")
    assert "WHERE i.id = 'M1'" in request.form["QUERY"]
    again = resolve_name("  m1 ", config=dataclasses.replace(config, offline=True))
    assert again.from_cache and (again.ra, again.dec) == (found.ra, found.dec)
    assert len(requests_to(httpserver, "/simbad/sim-tap/sync")) == 1


def test_astro_colibri_answers_what_simbad_does_not_know(httpserver, config):
    target = target_resolver(config)("GRB250101A")
    assert (target.name, target.ra, target.dec, target.source) == ("GRB250101A", 80.0, 5.0, "colibri")
    [request] = requests_to(httpserver, "/event")
    assert request.args["trigger_id"] == "GRB250101A"
    assert "secret-uid-123" not in request.url


def test_unknown_name_lists_what_each_service_said(config):
    with pytest.raises(NameNotResolved, match=r"'Nowhere 1'.*simbad: unknown name; colibri: unknown name"):
        resolve_name("Nowhere 1", config=config)


def test_offline_and_not_cached_is_a_clear_error(config):
    offline = dataclasses.replace(config, offline=True)
    with pytest.raises(ConfigError, match=r"'M1': offline and not in the name cache"):
        parse_target("M1", resolve=target_resolver(offline))


def test_a_service_failure_is_named(httpserver, tmp_path):
    httpserver.expect_request("/simbad/sim-tap/sync").respond_with_data("down", status=503)
    httpserver.expect_request("/event").respond_with_data("down", status=500)
    config = service_config(httpserver, tmp_path)
    with pytest.raises(NameNotResolved, match=r"simbad: HTTP 503.*colibri: HTTP 500"):
        resolve_name("M1", config=config)


def test_targets_file_resolves_names_and_reads_moving_targets(config, tmp_path):
    path = tmp_path / "targets.csv"
    path.write_text(
        "# follow-up list\nname,ra,dec,epoch,rate_ra,rate_dec\n"
        "M1,,,,,\n"
        "AT1,05:34:31.94,+22:00:52.2,,,\n"
        "rock,150.0,20.0,2026-03-15T22:00:00,36.0,-18.0\n"
        "skybot:Eros,,,,,\n"
    )
    m1, at1, rock, eros = read_targets_csv(path, resolve=target_resolver(config))
    assert (m1.name, m1.source) == ("M1", "simbad")
    assert at1.ra == pytest.approx(83.633083, abs=1e-5) and at1.dec == pytest.approx(22.014500, abs=1e-5)
    assert rock.moving and rock.epoch_mjd == pytest.approx(61114.916667, abs=1e-5)
    assert eros.solar_system and eros.name == "Eros"


def test_skybot_locates_named_objects_at_mid_exposure(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path)
    located, status = locate_solar_system(
        ["2014 UP224", "229762", "Ceres"], ra=FIELD_RA, dec=FIELD_DEC, radius_deg=0.2, mjd=FIELD_MJD, site=SITE,
        config=config,
    )
    assert status == "ok"
    assert located["2014 UP224"] == pytest.approx((81.274210256, 4.517740627))
    assert located["229762"] == pytest.approx((81.303190600, 4.490300172))
    assert "Ceres" not in located
    [request] = requests_to(httpserver, "/webservices/skybot/api/conesearch.php")
    assert float(request.args["-ep"]) == pytest.approx(FIELD_MJD + 2400000.5)
    offline = dataclasses.replace(config, offline=True, cache_dir=str(tmp_path / "empty"))
    located, status = locate_solar_system(["2014 UP224"], ra=FIELD_RA, dec=FIELD_DEC, radius_deg=0.2,
                                          mjd=FIELD_MJD, site=SITE, config=offline)
    assert located == {} and "offline and not in the cache" in status


@pytest.mark.parametrize(
    ("asked", "listed", "same"),
    [("Eros", "(433) Eros", True), ("433", "(433) Eros", True), ("(433) eros", "(433) Eros", True),
     ("2019 RB21", "2019 RB21", True), ("2019 RB2", "2019 RB21", False), ("Ero", "(433) Eros", False)],
)
def test_solar_system_names(asked, listed, same):
    assert same_object_name(asked, listed) is same
