"""Shared helpers of the catalogue tests: a local server replaying recorded answers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from werkzeug import Response

from rpf.config import CatalogConfig

DATA = Path(__file__).parent / "data" / "services"

# The SkyBoT recording's field and epoch (2025-01-02 00:00 UTC)
FIELD_RA, FIELD_DEC, FIELD_MJD = 81.2833, 4.49278, 60677.0
SITE = (43.75, 6.92, 1270.0)


def body(name: str) -> bytes:
    return (DATA / name).read_bytes()


def service_config(httpserver, tmp_path, **changes) -> CatalogConfig:
    """A CatalogConfig whose every end point is the local server and whose cache is in tmp_path."""
    base = CatalogConfig(
        cache_dir=str(tmp_path / "cache"),
        timeout_s=10.0,  # generous: a loaded CI machine; the timeout tests set their own
        retries=0,
        retry_backoff_s=0.01,
        service_down_s=0.0,  # each test decides whether a failed host is remembered
        colibri_uid="secret-uid-123",
        gaia_url=httpserver.url_for("/tap-server/tap/sync"),
        simbad_url=httpserver.url_for("/simbad/sim-tap/sync"),
        vizier_url=httpserver.url_for("/viz-bin/votable"),
        skybot_url=httpserver.url_for("/webservices/skybot/api/conesearch.php"),
        colibri_url=httpserver.url_for("/cone_search"),
    )
    return dataclasses.replace(base, **changes)


def serve_all(httpserver) -> None:
    """Answer every service with its recorded answer (VizieR by ``-source``)."""
    vot = "application/x-votable+xml"
    httpserver.expect_request("/tap-server/tap/sync").respond_with_data(
        body("gaia_dr3_tap_result.vot"), content_type=vot
    )
    httpserver.expect_request("/simbad/sim-tap/sync").respond_with_data(body("simbad_tap_cone.xml"), content_type=vot)
    httpserver.expect_request("/webservices/skybot/api/conesearch.php").respond_with_data(
        body("skybot_conesearch.vot"), content_type=vot
    )
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler)
    httpserver.expect_request("/cone_search", method="POST").respond_with_data(
        json.dumps(json.loads(body("colibri_cone_search.json"))), content_type="application/json"
    )


VIZIER_FILES = {"B/vsx/vsx": "vizier_vsx.xml", "VII/294/catalog": "vizier_milliquas.xml"}


def vizier_handler(request):
    """Answer a VizieR query with the recording of the table it names."""
    name = VIZIER_FILES.get(request.args.get("-source"), "vizier_empty.xml")
    return Response(body(name), content_type="application/x-votable+xml")


def requests_to(httpserver, path: str) -> list:
    return [req for req, _ in httpserver.log if req.path == path]
