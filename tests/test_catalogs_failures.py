"""Slow, failing, malformed and empty answers: the call finishes and the reports say what was missing."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import numpy as np
import pytest
from astropy.table import Table
from catalog_services import FIELD_DEC, FIELD_MJD, FIELD_RA, SITE, body, requests_to, serve_all, service_config
from pytest_httpserver import HTTPServer
from werkzeug import Response

from rpf.catalogs import PROVIDERS, Cone, crossmatch_sources, get_reference, query_service
from rpf.catalogs.http import forget_down_hosts
from rpf.config import CatalogConfig
from rpf.errors import CatalogError, ServiceTimeout, ServiceUnavailable


def _sources(n: int = 20) -> Table:
    rng = np.random.default_rng(1)
    return Table({"ra": FIELD_RA + rng.uniform(-0.05, 0.05, n), "dec": FIELD_DEC + rng.uniform(-0.05, 0.05, n)})


def _slow(request):
    time.sleep(1.5)
    return Response("too late", status=200)


def test_timeout_is_typed_and_says_how_long(httpserver, tmp_path):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(_slow)
    config = service_config(httpserver, tmp_path, timeout_s=0.3)
    start = time.perf_counter()
    with pytest.raises(ServiceTimeout, match="vsx: timeout after 0.3 s"):
        query_service(PROVIDERS["vsx"], Cone(FIELD_RA, FIELD_DEC, 0.1), config=config)
    assert time.perf_counter() - start < 1.4


def test_http_500_is_retried_with_backoff_then_typed(httpserver, tmp_path):
    httpserver.expect_request("/simbad/sim-tap/sync").respond_with_data("boom", status=500)
    config = service_config(httpserver, tmp_path, retries=2, retry_backoff_s=0.05)
    start = time.perf_counter()
    with pytest.raises(ServiceUnavailable, match="simbad: HTTP 500"):
        query_service(PROVIDERS["simbad"], Cone(FIELD_RA, FIELD_DEC, 0.1), config=config)
    assert len(requests_to(httpserver, "/simbad/sim-tap/sync")) == 3
    assert time.perf_counter() - start >= 0.05 + 0.10


def test_retry_recovers_after_one_failure(httpserver, tmp_path):
    httpserver.expect_ordered_request("/viz-bin/votable").respond_with_data("busy", status=503)

    httpserver.expect_ordered_request("/viz-bin/votable").respond_with_data(body("vizier_vsx.xml"))
    config = service_config(httpserver, tmp_path, retries=1, retry_backoff_s=0.01)
    table = query_service(PROVIDERS["vsx"], Cone(FIELD_RA, FIELD_DEC, 0.2), config=config).table
    assert len(table) == 2


def test_malformed_and_client_error_bodies(httpserver, tmp_path):
    httpserver.expect_request("/simbad/sim-tap/sync").respond_with_data("<html>maintenance</html", status=200)
    httpserver.expect_request("/cone_search").respond_with_data("{not json", status=200)
    httpserver.expect_request("/viz-bin/votable").respond_with_data("bad request", status=400)
    config = service_config(httpserver, tmp_path)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.1, epoch_mjd=FIELD_MJD)
    with pytest.raises(CatalogError, match="simbad: malformed response"):
        query_service(PROVIDERS["simbad"], cone, config=config)
    with pytest.raises(CatalogError, match="colibri: malformed response"):
        query_service(PROVIDERS["colibri"], cone, config=config)
    with pytest.raises(ServiceUnavailable, match="milliquas: HTTP 400"):
        query_service(PROVIDERS["milliquas"], cone, config=config)
    assert len(requests_to(httpserver, "/viz-bin/votable")) == 1  # 4xx is not retried


def test_empty_answers_give_empty_tables(httpserver, tmp_path):

    httpserver.expect_request("/viz-bin/votable").respond_with_data(body("vizier_empty.xml"))
    httpserver.expect_request("/cone_search").respond_with_json({"voevents": [], "sources": []})
    config = service_config(httpserver, tmp_path)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.1, epoch_mjd=FIELD_MJD)
    vsx = query_service(PROVIDERS["vsx"], cone, config=config).table
    events = query_service(PROVIDERS["colibri"], cone, config=config).table
    assert len(vsx) == 0 and "vsx_name" in vsx.colnames
    assert len(events) == 0 and "colibri_name" in events.colnames


@pytest.fixture
def threaded_server():
    """A server answering concurrent requests (crossmatch queries the services in parallel)."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_crossmatch_reports_every_failure_and_never_raises(threaded_server, tmp_path):
    httpserver = threaded_server
    httpserver.expect_request("/simbad/sim-tap/sync").respond_with_handler(_slow)
    httpserver.expect_request("/webservices/skybot/api/conesearch.php").respond_with_data("oops", status=500)
    httpserver.expect_request("/viz-bin/votable").respond_with_data("<VOTABLE", status=200)
    httpserver.expect_request("/cone_search").respond_with_json({"voevents": []})
    config = service_config(httpserver, tmp_path, timeout_s=0.3)
    sources = _sources()
    start = time.perf_counter()
    labels, reports = crossmatch_sources(
        sources, mjd=FIELD_MJD, site=SITE, fwhm_arcsec=2.0, wcs_rms_arcsec=0.3, config=config
    )
    assert time.perf_counter() - start < 1.4  # concurrent: the slow service does not delay the others
    status = {r.service: r.status for r in reports}
    assert status == {
        "simbad": "failed: timeout after 0.3 s",
        "skybot": "failed: HTTP 500 INTERNAL SERVER ERROR",
        "vsx": status["vsx"],
        "milliquas": status["milliquas"],
        "colibri": "ok",
    }
    assert status["vsx"].startswith("failed: malformed response")
    assert status["milliquas"].startswith("failed: malformed response")
    assert len(labels) == len(sources)
    assert set(labels["simbad_id"]) == {""} and np.all(np.isnan(labels["qso_z"]))


def test_offline_touches_nothing_and_says_so(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path, offline=True, colibri_uid=None, tycho2_dir=str(tmp_path / "none"))
    labels, reports = crossmatch_sources(
        _sources(), mjd=FIELD_MJD, site=SITE, fwhm_arcsec=2.0, wcs_rms_arcsec=0.3, config=config
    )
    assert {r.service: r.status for r in reports} == {
        "simbad": "skipped: offline", "skybot": "skipped: offline", "vsx": "skipped: offline",
        "milliquas": "skipped: offline", "colibri": "skipped: no Astro-Colibri user key (RPF_COLIBRI_UID)",
    }
    with pytest.raises(CatalogError, match="gaia_dr3: offline and not in the cache.*no Tycho-2 index files"):
        get_reference(FIELD_RA, FIELD_DEC, 0.2, config=config)
    assert len(httpserver.log) == 0


def test_missing_epoch_is_reported_for_time_dependent_services(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path, crossmatch=("skybot", "colibri", "vsx"))
    _, reports = crossmatch_sources(_sources(), mjd=None, site=None, fwhm_arcsec=2.0, wcs_rms_arcsec=None,
                                    config=config)
    assert [r.status for r in reports] == ["skipped: no observation epoch", "skipped: no observation epoch", "ok"]


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.socket.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()
    forget_down_hosts()


def _silent_config(silent, tmp_path, **changes) -> CatalogConfig:
    urls = {f"{name}_url": silent.url(f"/{name}") for name in ("gaia", "simbad", "vizier", "skybot", "colibri")}
    values = {"cache_dir": str(tmp_path / "cache"), "timeout_s": 0.3, "retries": 1, "retry_backoff_s": 0.01,
              "service_down_s": 60.0, "colibri_uid": "uid", **urls}
    return CatalogConfig(**(values | changes))


def test_silent_host_is_remembered_as_down_and_later_queries_fail_fast(silent, tmp_path):
    """Issue 11 item 12: a service that accepts and never answers cost its timeouts on every frame."""
    config = _silent_config(silent, tmp_path)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.1)
    start = time.perf_counter()
    with pytest.raises(ServiceTimeout, match="vsx: timeout after 0.3 s"):
        query_service(PROVIDERS["vsx"], cone, config=config)
    first = time.perf_counter() - start
    assert first >= 0.6 and len(silent.accepted) == 2  # both attempts waited for their timeout
    for frame in range(5):  # the next frames, and another service on the same host
        start = time.perf_counter()
        with pytest.raises(ServiceTimeout, match=r"milliquas: not contacted: http://127.0.0.1:\d+ failed 0 s ago "
                                                 r"\(timeout after 0.3 s\).*catalogs.service_down_s = 60 s"):
            query_service(PROVIDERS["milliquas"], Cone(FIELD_RA + frame * 0.01, FIELD_DEC, 0.1), config=config)
        assert time.perf_counter() - start < 0.1
    assert len(silent.accepted) == 2  # not one more connection


def test_crossmatch_of_many_frames_waits_once_per_silent_host(silent, tmp_path):
    config = _silent_config(silent, tmp_path, crossmatch=("simbad", "vsx"))
    sources = _sources()
    start = time.perf_counter()
    for _ in range(4):
        _, reports = crossmatch_sources(sources, mjd=FIELD_MJD, site=SITE, fwhm_arcsec=2.0, wcs_rms_arcsec=0.3,
                                        config=config)
        assert all(r.status.startswith("failed: ") and "timeout" in r.status for r in reports), reports
    assert time.perf_counter() - start < 0.6 + 1.0  # one round of timeouts (in parallel), then fast failures


def test_down_host_is_tried_again_after_service_down_s(silent, tmp_path):
    config = _silent_config(silent, tmp_path, retries=0, service_down_s=0.5)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.1)
    with pytest.raises(ServiceTimeout, match="timeout after"):
        query_service(PROVIDERS["vsx"], cone, config=config)
    with pytest.raises(ServiceTimeout, match="not contacted"):
        query_service(PROVIDERS["vsx"], cone, config=config)
    time.sleep(0.5)
    with pytest.raises(ServiceTimeout, match="vsx: timeout after 0.3 s"):
        query_service(PROVIDERS["vsx"], cone, config=config)
    assert len(silent.accepted) == 2
    forever = dataclasses.replace(config, service_down_s=0.0)  # 0: always try
    with pytest.raises(ServiceTimeout, match="vsx: timeout after 0.3 s"):
        query_service(PROVIDERS["vsx"], cone, config=forever)
    assert len(silent.accepted) == 3


def test_an_answering_host_is_never_marked_down(httpserver, tmp_path):
    httpserver.expect_request("/viz-bin/votable").respond_with_data("busy", status=503)
    config = service_config(httpserver, tmp_path, service_down_s=60.0)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.1)
    for _ in range(2):
        with pytest.raises(ServiceUnavailable, match="vsx: HTTP 503"):
            query_service(PROVIDERS["vsx"], cone, config=config)
    assert len(requests_to(httpserver, "/viz-bin/votable")) == 2
