"""The catalogue layer through the pipeline: ``rpf run --eager`` on a simulated field served locally.

A local HTTP server plays the Gaia archive, SIMBAD, VizieR (VSX, Milliquas),
SkyBoT and Astro-Colibri.  Their answers are written in each service's real
format (the recorded answers of ``tests/data/services`` are the templates),
cut to the cone each request asks for, and hold the simulated field: the Gaia
rows are the simulated catalogue (so the zero point is known), the label
services put objects on chosen simulated stars, and a simulated transient
(absent from the reference) must come out as a candidate with its context.
Then each service is made slow, failing, malformed or empty in turn: the
frame still succeeds and its products say what was missing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import shutil
import sqlite3
import time
import zipfile
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest
from astropy.coordinates import Angle
from astropy.table import Table
from catalog_services import DATA
from pytest_httpserver import HTTPServer
from scipy.spatial import cKDTree
from werkzeug import Response

from rpf.cli import main
from rpf.simulate import random_star_catalog, simulate_frame, write_fits
from rpf.simulate.wcs import make_tan_wcs

CENTER = (150.0, 20.0)
SHAPE = (512, 512)
SCALE = 1.0
ZERO_POINT = 23.0
UID = "colibri-uid-7f3a9c51e2"
TIMEOUT_S = 0.5
VOT = "application/x-votable+xml"
PATHS = {
    "gaia_dr3": "/tap-server/tap/sync",
    "simbad": "/simbad/sim-tap/sync",
    "vizier": "/viz-bin/votable",
    "skybot": "/webservices/skybot/api/conesearch.php",
    "colibri": "/cone_search",
}
LABEL_SERVICES = ("simbad", "skybot", "vsx", "milliquas", "colibri")
SYNTHETIC = {"U": "u_jkc", "B": "b_jkc", "V": "v_jkc", "R": "r_jkc", "I": "i_jkc",
             "u": "u_sdss", "g": "g_sdss", "r": "r_sdss", "i": "i_sdss", "z": "z_sdss"}
GAIA_SOURCE = ("source_id", "ra", "dec", "pmra", "pmdec", "parallax", "phot_g_mean_mag", "phot_bp_mean_mag",
               "phot_rp_mean_mag", "ruwe", "phot_variable_flag")


# --- answers in each service's format, cut to the requested cone -----------------------------


def _separation(ra1, dec1, ra2, dec2) -> np.ndarray:
    r1, d1, r2, d2 = (np.radians(np.asarray(v, float)) for v in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def _in_cone(rows: list[dict], ra: float, dec: float, radius: float) -> list[dict]:
    return [r for r in rows if _separation(ra, dec, r["ra"], r["dec"]) <= radius]


def _td(value, prefix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"<{prefix}TD></{prefix}TD>"
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{prefix}TD>{text}</{prefix}TD>"


def _with_rows(template: str, cells: list[list], prefix: str = "") -> bytes:
    """The recorded answer ``template`` with its TABLEDATA rows replaced by ``cells``."""
    text = (DATA / template).read_text()
    rows = "".join(f"<{prefix}TR>" + "".join(_td(v, prefix) for v in row) + f"</{prefix}TR>\n" for row in cells)
    start, end = f"<{prefix}TABLEDATA>", f"</{prefix}TABLEDATA>"
    head, rest = text.split(start, 1)
    return (head + start + "\n" + rows + end + rest.split(end, 1)[1]).encode()


def _circle(query: str) -> tuple[float, float, float]:
    found = re.search(r"CIRCLE\('ICRS',\s*([-\d.]+),\s*([-\d.]+),\s*([-\d.]+)\)", query)
    return float(found[1]), float(found[2]), float(found[3])


def gaia_votable(catalog: Table, query: str) -> bytes:
    """A Gaia archive TAP answer to RPF's ADQL: the recorded answer's header and FIELDs, the catalogue's rows."""
    recorded = (DATA / "gaia_dr3_tap_result.vot").read_text()
    head = recorded.split("<TABLE>", 1)[0]
    fields = {m[1]: m[0] for m in re.finditer(r'<FIELD [^>]*name="(\w+)"[^>]*>.*?</FIELD>', recorded, re.S)}
    synth = [f"{p}_{q}" for p in SYNTHETIC.values() for q in ("mag", "flux", "flux_error")]
    defs = [fields[c] for c in GAIA_SOURCE] + [
        f'<FIELD datatype="{"float" if n.endswith("mag") else "double"}" name="{n}" ucd="phot.mag" '
        f'unit="{"mag" if n.endswith("mag") else "W.m**-2.nm**-1"}"/>' for n in synth
    ]
    ra, dec, radius = _circle(query)
    limit = float(re.search(r"phot_g_mean_mag <= ([\d.]+)", query)[1])
    inside = (_separation(ra, dec, catalog["ra"], catalog["dec"]) <= radius) & (catalog["phot_g_mean_mag"] <= limit)
    cells = []
    for star in catalog[inside]:
        row = [int(star["source_id"]), repr(float(star["ra"])), repr(float(star["dec"])), float(star["pmra"]),
               float(star["pmdec"]), None, float(star["phot_g_mean_mag"]), float(star["phot_bp_mean_mag"]),
               float(star["phot_rp_mean_mag"]), float(star["ruwe"]), str(star["phot_variable_flag"])]
        for band in SYNTHETIC:
            mag, err = float(star[f"{band}_mag"]), float(star[f"{band}_mag_err"])
            flux = 10 ** (-0.4 * (mag + 56.1))
            row += [mag, flux, flux * err / 1.0857]
        cells.append(row)
    rows = "".join("<TR>" + "".join(_td(v) for v in row) + "</TR>\n" for row in cells)
    table = "<TABLE>\n" + "\n".join(defs) + f"\n<DATA>\n<TABLEDATA>\n{rows}</TABLEDATA>\n</DATA>\n</TABLE>\n"
    return (head + table + "</RESOURCE>\n</VOTABLE>\n").encode()


def simbad_votable(objects: list[dict], query: str) -> bytes:
    ra, dec, radius = _circle(query)
    cells = [[o["name"], repr(o["ra"]), repr(o["dec"]), o["otype"], o.get("B"), o.get("V")]
             for o in _in_cone(objects, ra, dec, radius)]
    return _with_rows("simbad_tap_cone.xml", cells)


def vizier_votable(template: str, objects: list[dict], args) -> bytes:
    ra, dec = (float(v) for v in args["-c"].split())
    found = _in_cone(objects, ra, dec, float(args["-c.rd"]))
    if not found:
        return (DATA / "vizier_empty.xml").read_bytes()
    if template == "vizier_vsx.xml":
        cells = [[f"{o['ra']:.6f}", f"{o['dec']:+.6f}", o["name"], o["type"], o["period"], o["max"], o["min"]]
                 for o in found]
    else:
        cells = [[f"{o['ra']:.6f}", f"{o['dec']:+.6f}", o["name"], o["type"], o["rmag"], o["z"]] for o in found]
    return _with_rows(template, cells)


def skybot_votable(objects: list[dict], args) -> bytes:
    found = _in_cone(objects, float(args["-ra"]), float(args["-dec"]), float(args["-rd"]))
    cells = [[o["num"], o["name"], Angle(o["ra"], "deg").to_string("hourangle", sep=" ", precision=4),
              Angle(o["dec"], "deg").to_string(sep=" ", precision=3, alwayssign=True), "MB>Inner", o["mv"], 0.4,
              10.0, -20.1, 8.3, 1.5, 2.4, f"{o['ra']:.9f}", f"{o['dec']:.9f}", "https://ssp.imcce.fr"]
             for o in found]
    return _with_rows("skybot_conesearch.vot", cells, prefix="vot:")


def colibri_json(events: list[dict], payload: dict) -> bytes:
    where = payload["properties"]
    found = _in_cone(events, where["position"]["ra"], where["position"]["dec"], where["radius"])
    return json.dumps({"voevents": found, "sources": []}).encode()


# --- the served sky and the switchable server ----------------------------------------------


class Sky:
    """What each service knows, and how each one behaves right now (``ok``, ``slow``, ``500``, ...)."""

    def __init__(self, catalog: Table, objects: dict[str, list[dict]]) -> None:
        self.catalog = catalog
        self.objects = objects
        self.mode = dict.fromkeys(("gaia_dr3", *LABEL_SERVICES), "ok")
        self.colibri_uids: list[str] = []
        self.received: list = []

    def __call__(self, request):
        """Record the request when it arrives (a slow answer is logged by the server only when it ends)."""
        self.received.append(request)
        handler = {PATHS["gaia_dr3"]: self.gaia, PATHS["simbad"]: self.simbad, PATHS["vizier"]: self.vizier,
                   PATHS["skybot"]: self.skybot, PATHS["colibri"]: self.colibri}[request.path]
        return handler(request)

    def misbehave(self, service: str) -> Response | None:
        mode = self.mode[service]
        if mode == "slow":
            time.sleep(4 * TIMEOUT_S)
            return Response("late", status=200)
        if mode == "500":
            return Response("Internal error", status=500)
        if mode == "malformed":
            return Response("<VOTABLE><RESOURCE><TABLE><TR>", status=200, content_type=VOT)
        return None

    def gaia(self, request):
        assert request.method == "POST"
        query = request.form["QUERY"]
        assert "gaiadr3.gaia_source" in query and request.form["FORMAT"] == "votable"
        bad = self.misbehave("gaia_dr3")
        if bad is not None:
            return bad
        table = self.catalog[:0] if self.mode["gaia_dr3"] == "empty" else self.catalog
        return Response(gaia_votable(table, query), content_type=VOT)

    def simbad(self, request):
        bad = self.misbehave("simbad")
        objects = [] if self.mode["simbad"] == "empty" else self.objects["simbad"]
        return bad or Response(simbad_votable(objects, request.form["QUERY"]), content_type=VOT)

    def vizier(self, request):
        args = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        service, template = {"B/vsx/vsx": ("vsx", "vizier_vsx.xml"),
                             "VII/294/catalog": ("milliquas", "vizier_milliquas.xml")}[args["-source"]]
        bad = self.misbehave(service)
        objects = [] if self.mode[service] == "empty" else self.objects[service]
        return bad or Response(vizier_votable(template, objects, args), content_type=VOT)

    def skybot(self, request):
        args = {k: v[0] for k, v in parse_qs(request.query_string.decode()).items()}
        bad = self.misbehave("skybot")
        objects = [] if self.mode["skybot"] == "empty" else self.objects["skybot"]
        return bad or Response(skybot_votable(objects, args), content_type=VOT)

    def colibri(self, request):
        payload = json.loads(request.data)
        self.colibri_uids.append(payload["uid"])
        bad = self.misbehave("colibri")
        events = [] if self.mode["colibri"] == "empty" else self.objects["colibri"]
        return bad or Response(colibri_json(events, payload), content_type="application/json")


# --- the simulated field ---------------------------------------------------------------------


def _pick(stars: Table, n: int, rng: np.random.Generator) -> list[int]:
    """Indices of ``n`` isolated, unsaturated, moderately bright stars well inside the frame."""
    xy = np.column_stack([stars["x"], stars["y"]])
    neighbours = cKDTree(xy).query_ball_point(xy, 15.0, return_length=True)
    ok = (
        stars["in_frame"] & ~stars["is_extra"] & ~stars["saturated"] & (neighbours == 1)
        & (stars["mag"] > 13.5) & (stars["mag"] < 16.5)
        & (stars["x"] > 40) & (stars["y"] > 40) & (stars["x"] < SHAPE[1] - 40) & (stars["y"] < SHAPE[0] - 40)
    )
    return list(rng.choice(np.flatnonzero(ok), n, replace=False))


def _empty_spot(catalog: Table) -> tuple[float, float]:
    """A pixel position at least 25 px from every catalogue star, away from the edges."""
    wcs = make_tan_wcs(center=CENTER, shape=SHAPE, pixel_scale=SCALE)
    x, y = wcs.all_world2pix(np.asarray(catalog["ra"]), np.asarray(catalog["dec"]), 0)
    tree = cKDTree(np.column_stack([x, y]))
    grid = [(gx, gy) for gx in range(80, SHAPE[1] - 80, 7) for gy in range(80, SHAPE[0] - 80, 7)]
    for gx, gy in grid:
        if not tree.query_ball_point((gx, gy), 25.0):
            return gx + 0.3, gy + 0.6
    raise AssertionError("no empty spot for the transient")


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog_field")
    catalog = random_star_catalog(ra=CENTER[0], dec=CENTER[1], radius_deg=0.15, n_stars=700, seed=21,
                                  mag_range=(12.5, 19.5))
    tx, ty = _empty_spot(catalog)
    sim = simulate_frame(catalog=catalog, seed=4, shape=SHAPE, center=CENTER, pixel_scale=SCALE,
                         zero_point=ZERO_POINT, n_cosmic_rays=15,
                         extra_stars=Table({"x": [tx], "y": [ty], "mag": [15.2]}))
    path = write_fits(sim, root / "field.fits")
    stars = sim.truth.stars
    a, b, c = (stars[i] for i in _pick(stars, 3, np.random.default_rng(2)))
    transient = stars[np.flatnonzero(stars["is_extra"])[0]]
    pos = {"a": (float(a["ra"]), float(a["dec"])), "b": (float(b["ra"]), float(b["dec"])),
           "c": (float(c["ra"]), float(c["dec"])), "t": (float(transient["ra"]), float(transient["dec"]))}
    far = (CENTER[0] + 0.05, CENTER[1] - 0.04)  # in the cone, on no detection
    objects = {
        "simbad": [
            {"name": "V* RPF Tst", "ra": pos["a"][0], "dec": pos["a"][1], "otype": "EB*", "B": 15.1, "V": 14.6},
            {"name": "SN 2026rpf", "ra": pos["t"][0], "dec": pos["t"][1], "otype": "SN*", "V": 15.3},
            {"name": "TYC 0000-0001-1", "ra": far[0], "dec": far[1], "otype": "*"},
        ],
        "vsx": [{"name": "RPF VAR 1", "ra": pos["a"][0], "dec": pos["a"][1], "type": "EW", "period": 0.3712,
                 "max": 14.5, "min": 14.9}],
        "milliquas": [{"name": "RPFQ J100000+200000", "ra": pos["b"][0], "dec": pos["b"][1], "type": "Q",
                       "rmag": 15.0, "z": 1.234}],
        "skybot": [{"num": "4321", "name": "Rpfia", "ra": pos["c"][0], "dec": pos["c"][1], "mv": 15.4}],
        "colibri": [
            {"trigger_id": "ZTF26rpf", "source_name": "AT 2026rpf", "type": "ot", "classification": "SN Ia",
             "time": "2026-03-15T03:00:00.000", "ra": pos["t"][0], "dec": pos["t"][1], "err": 0.0002},
            {"trigger_id": "GRB260314A", "source_name": "GRB 260314A", "type": "grb", "time": "2026-03-14T01:00:00",
             "ra": CENTER[0] + 4.0, "dec": CENTER[1], "err": 5.0},
        ],
    }
    sky = Sky(catalog, objects)
    server = HTTPServer(threaded=True)
    for endpoint in PATHS.values():
        server.expect_request(endpoint).respond_with_handler(sky)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RPF_COLIBRI_UID", UID)
        yield {"root": root, "path": path, "sim": sim, "sky": sky, "server": server, "pos": pos}
    server.clear()
    server.stop()


def _config(field, name: str, cache: str, index_dir: str | None, **catalogs) -> Path:
    server = field["server"]
    values = {
        "cache_dir": str(field["root"] / cache), "timeout_s": TIMEOUT_S, "retries": 0, "retry_backoff_s": 0.01,
        "service_down_s": 0, "tycho2_dir": str(field["root"] / "no_tycho2"),
        "gaia_url": server.url_for(PATHS["gaia_dr3"]), "simbad_url": server.url_for(PATHS["simbad"]),
        "vizier_url": server.url_for(PATHS["vizier"]), "skybot_url": server.url_for(PATHS["skybot"]),
        "colibri_url": server.url_for(PATHS["colibri"]), **catalogs,
    }
    lines = ["[astrometry]", "time_limit_s = 5"] + ([f"index_dir = {json.dumps(index_dir)}"] if index_dir else [])
    lines += ["[catalogs]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path = field["root"] / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(field, name: str, cache: str, modes: dict[str, str] | None = None, *, index_dir: str | None = None,
         **catalogs) -> dict:
    """One ``rpf run --eager`` of the field with the services in ``modes``; what it wrote and asked.

    ``requests`` are those the services received during the run (by arrival);
    ``logged`` those the server's log recorded as answered during the run.
    """
    (field["root"] / "no_tycho2").mkdir(exist_ok=True)
    sky, server = field["sky"], field["server"]
    sky.mode.update(dict.fromkeys(sky.mode, "ok") | (modes or {}))
    before, arrived = len(server.log), len(sky.received)
    out = field["root"] / name
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err):
        status = main(["run", str(field["path"]), "--out", str(out), "--eager",
                       "--config", str(_config(field, name, cache, index_dir, **catalogs))])
    requests = sky.received[arrived:]
    assert (out / "field_metadata.json").exists(), err.getvalue()
    meta = json.loads((out / "field_metadata.json").read_text())
    return {"status": status, "stderr": err.getvalue(), "out": out, "meta": meta, "requests": requests,
            "logged": [req for req, _ in server.log[before:]],
            "seconds": time.perf_counter() - start, "services": {s["service"]: s for s in meta["services"]},
            "log": (out / "field.log").read_text()}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _row_at(rows: list[dict[str, str]], ra: float, dec: float) -> dict[str, str]:
    sep = _separation(ra, dec, [float(r["ra"] or "nan") for r in rows], [float(r["dec"] or "nan") for r in rows])
    i = int(np.nanargmin(sep))
    assert sep[i] * 3600 < 1.5, f"no detection within 1.5\" of {ra}, {dec}"
    return rows[i]


def _count(requests, service: str) -> int:
    if service in ("vsx", "milliquas"):
        table = {"vsx": "B/vsx/vsx", "milliquas": "VII/294/catalog"}[service]
        return sum(r.path == PATHS["vizier"] and r.args.get("-source") == table for r in requests)
    return sum(r.path == PATHS[service] for r in requests)


# --- runs (module-scoped: each is made once) ---------------------------------------------------


@pytest.fixture(scope="module")
def good(field):
    return _run(field, "good", "cache_good")


@pytest.fixture(scope="module")
def again(field, good):
    return _run(field, "again", "cache_good")


@pytest.fixture(scope="module")
def labels_failing(field):
    modes = {"simbad": "slow", "vsx": "500", "milliquas": "malformed", "skybot": "empty"}
    return _run(field, "labels_failing", "cache_labels", modes, colibri_uid=UID)  # the key from the config file


@pytest.fixture(scope="module")
def gaia_down(field):
    # no Tycho-2 stars either (astrometry.index_dir too): a site with neither Gaia nor an offline reference
    return _run(field, "gaia_down", "cache_gaia_down", {"gaia_dr3": "500"}, index_dir=str(field["root"] / "no_tycho2"))


@pytest.fixture(scope="module")
def damaged_cache(field, good):
    """A copy of the first run's cache whose Gaia file is corrupted."""
    cache = field["root"] / "cache_damaged"
    shutil.copytree(field["root"] / "cache_good", cache)
    for parquet in (cache / "gaia_dr3").glob("*.parquet"):
        parquet.write_bytes(parquet.read_bytes()[:200] + b"garbage")
    return _run(field, "damaged", "cache_damaged")


@pytest.fixture(scope="module")
def expired_cache(field, good):
    """A copy of the first run's cache whose every entry is 40 days old (expiry 30 days)."""
    cache = field["root"] / "cache_expired"
    shutil.copytree(field["root"] / "cache_good", cache)
    with sqlite3.connect(cache / "index.sqlite") as db:
        db.execute("UPDATE entries SET fetched = fetched - 40 * 86400")
    return _run(field, "expired", "cache_expired")


# --- checks ----------------------------------------------------------------------------------


def test_zero_point_comes_from_the_served_gaia_rows(good, field):
    assert good["status"] == 0, good["stderr"]
    meta = good["meta"]
    assert meta["status"] == "ok" and meta["reference_catalog"] == "gaia_dr3"
    assert meta["zero_point"] == pytest.approx(ZERO_POINT, abs=0.05)
    assert meta["n_calib_stars"] >= 15
    served = {str(s) for s in field["sky"].catalog["source_id"]}
    cat_ids = {r["cat_id"] for r in _rows(good["out"] / "field_phot.csv")} - {""}
    assert len(cat_ids) >= meta["n_calib_stars"] and cat_ids <= served
    assert _count(good["requests"], "gaia_dr3") == 1


def test_labels_are_filled_and_every_service_ok(good, field):
    assert set(good["services"]) >= set(LABEL_SERVICES)
    for service in LABEL_SERVICES:
        report = good["services"][service]
        assert report["status"] == "ok" and not report["from_cache"], report
        assert report["n_rows"] == len(field["sky"].objects[service]) - (service == "colibri"), report
        assert _count(good["requests"], service) == 1, service
    rows, pos = _rows(good["out"] / "field_phot.csv"), field["pos"]
    a = _row_at(rows, *pos["a"])
    assert (a["simbad_id"], a["simbad_otype"], a["vsx_name"], a["vsx_type"]) == ("V* RPF Tst", "EB*", "RPF VAR 1", "EW")
    assert float(a["vsx_period"]) == pytest.approx(0.3712) and a["vsx_range"] == "14.50-14.90"
    b = _row_at(rows, *pos["b"])
    assert b["qso_name"] == "RPFQ J100000+200000" and float(b["qso_z"]) == pytest.approx(1.234)
    c = _row_at(rows, *pos["c"])
    assert c["skybot_name"] == "(4321) Rpfia" and c["transient_candidate"] == "False"
    assert sum(r["simbad_id"] != "" for r in rows) == 2  # the third SIMBAD object lies on no detection
    assert sum(r["colibri_name"] != "" for r in rows) == 1  # the GRB is 4 deg away
    assert "cross-match simbad: ok (3 rows)" in good["log"]


def test_simulated_transient_is_a_candidate_with_its_context(good, field):
    rows = _rows(good["out"] / "field_phot.csv")
    t = _row_at(rows, *field["pos"]["t"])
    assert t["transient_candidate"] == "True" and t["cat_id"] == ""
    assert int(t["flags"]) & 256
    listed = {r["id"]: r for r in _rows(good["out"] / "field_transients.csv")}
    assert (listed[t["id"]]["simbad_id"], listed[t["id"]]["simbad_otype"]) == ("SN 2026rpf", "SN*")
    assert (listed[t["id"]]["colibri_name"], listed[t["id"]]["colibri_type"]) == ("AT 2026rpf", "ot")
    # Stars fainter than the Gaia query's G limit are detected too; they are not new (the reference stops
    # there), so the only unblended candidate is the transient.  A blended detection may still be listed
    # (a supernova on its host must be), and it is then a star the reference does not list.
    unblended = [i for i, r in listed.items() if not int(r["flags"]) & 4]
    assert unblended == [t["id"]]
    stars = field["sim"].truth.stars
    served = field["sky"].catalog["phot_g_mean_mag"] <= 19.0
    tree = cKDTree(np.column_stack([stars["x"], stars["y"]]))
    for row in listed.values():
        nearest = stars[tree.query((float(row["x"]), float(row["y"])))[1]]
        in_reference = nearest["source_id"] in set(field["sky"].catalog["source_id"][served])
        assert nearest["is_extra"] or not in_reference, row
    assert good["meta"]["products"]["transients"] == "field_transients.csv"


def test_second_run_of_the_field_makes_zero_requests(again, good):
    assert again["status"] == 0 and again["meta"]["status"] == "ok"
    assert again["logged"] == [] and again["requests"] == []
    assert all(again["services"][s]["status"] == "ok" and again["services"][s]["from_cache"] for s in LABEL_SERVICES)
    assert again["meta"]["zero_point"] == pytest.approx(good["meta"]["zero_point"], abs=1e-9)
    assert _rows(again["out"] / "field_transients.csv") == _rows(good["out"] / "field_transients.csv")


def test_failing_label_services_are_reported_and_the_frame_succeeds(labels_failing):
    run = labels_failing
    assert run["status"] == 0 and run["meta"]["status"] == "ok", run["stderr"]
    services = run["services"]
    assert services["simbad"]["status"] == f"failed: timeout after {TIMEOUT_S:g} s"
    assert services["vsx"]["status"] == "failed: HTTP 500 INTERNAL SERVER ERROR"
    assert services["milliquas"]["status"].startswith("failed: malformed response")
    assert services["skybot"]["status"] == "ok" and services["skybot"]["n_rows"] == 0
    assert services["colibri"]["status"] == "ok" and services["colibri"]["n_rows"] == 1
    for service in ("simbad", "vsx", "milliquas", "skybot"):
        assert f"cross-match {service}: {services[service]['status']}" in run["log"], service
    rows = _rows(run["out"] / "field_phot.csv")
    assert all(r["simbad_id"] == r["vsx_name"] == r["qso_name"] == r["skybot_name"] == "" for r in rows)
    assert sum(r["colibri_name"] != "" for r in rows) == 1
    assert run["meta"]["zero_point"] == pytest.approx(ZERO_POINT, abs=0.05)
    assert run["seconds"] < 60


def test_failed_answers_are_not_cached(field, labels_failing):
    again = _run(field, "labels_recovered", "cache_labels")
    assert {_count(again["requests"], s) for s in ("simbad", "vsx", "milliquas")} == {1}
    assert _count(again["requests"], "gaia_dr3") == _count(again["requests"], "colibri") == 0
    assert all(again["services"][s]["status"] == "ok" for s in LABEL_SERVICES)


def test_gaia_failure_without_cache_leaves_no_zero_point_and_says_why(gaia_down):
    run = gaia_down
    assert run["status"] == 0 and run["meta"]["status"] == "ok", run["stderr"]
    meta = run["meta"]
    assert meta["zero_point"] is None and meta["reference_catalog"] is None
    assert "zero point: not determined (no reference catalogue)" in run["log"]
    assert "gaia_dr3: HTTP 500 INTERNAL SERVER ERROR" in run["log"]
    gaia = run["services"].get("gaia_dr3")
    assert gaia is not None and gaia["status"] == "failed: HTTP 500 INTERNAL SERVER ERROR", meta["services"]
    assert all(run["services"][s]["status"] == "ok" for s in LABEL_SERVICES)
    rows = _rows(run["out"] / "field_phot.csv")
    assert all(r["mag"] == "" for r in rows)
    assert not any(r.get("transient_candidate") == "True" for r in rows)  # nothing is new without a reference


def test_corrupted_gaia_cache_file_is_refetched(damaged_cache):
    run = damaged_cache
    assert run["status"] == 0 and run["meta"]["status"] == "ok"
    assert _count(run["requests"], "gaia_dr3") == 1
    assert sum(_count(run["requests"], s) for s in LABEL_SERVICES) == 0
    assert run["meta"]["zero_point"] == pytest.approx(ZERO_POINT, abs=0.05)


def test_expired_cache_entries_are_refetched(expired_cache):
    run = expired_cache
    assert run["status"] == 0 and run["meta"]["status"] == "ok"
    assert {_count(run["requests"], s) for s in ("gaia_dr3", *LABEL_SERVICES)} == {1}
    assert all(not run["services"][s]["from_cache"] for s in LABEL_SERVICES)


def _product_bytes(folder: Path):
    """Every product file's bytes, and each member of every ZIP bundle."""
    for path in folder.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()
            if path.suffix == ".zip":
                with zipfile.ZipFile(path) as bundle:
                    yield from ((path / name, bundle.read(name)) for name in bundle.namelist())


def test_colibri_key_is_sent_but_never_written(field, good, again, labels_failing, gaia_down, damaged_cache,
                                               expired_cache):
    runs = (good, again, labels_failing, gaia_down, damaged_cache, expired_cache)
    assert field["sky"].colibri_uids and set(field["sky"].colibri_uids) == {UID}  # from env and from config
    assert all(UID not in req.url for req in field["sky"].received)
    folders = [run["out"] for run in runs] + sorted(field["root"].glob("cache_*"))
    leaks = [str(path) for folder in folders for path, data in _product_bytes(folder) if UID.encode() in data]
    assert leaks == []
    assert sum(1 for folder in folders for _ in _product_bytes(folder)) > 50
    for run in runs:
        assert run["meta"]["parameters"]["catalogs"].get("colibri_uid") in (None, "")
        assert run["services"]["colibri"]["status"] == "ok"
