"""The on-disk cache: repeated and overlapping fields answered locally, damage detected."""

from __future__ import annotations

import dataclasses
import sqlite3
import time

import numpy as np
import pytest
from astropy.table import Table
from catalog_services import FIELD_DEC, FIELD_MJD, FIELD_RA, SITE, requests_to, serve_all, service_config

from rpf.catalogs import PROVIDERS, CatalogCache, Cone, crossmatch_sources, query_service
from rpf.errors import CatalogError


def _sources() -> Table:
    rng = np.random.default_rng(2)
    return Table({"ra": FIELD_RA + rng.uniform(-0.05, 0.05, 30), "dec": FIELD_DEC + rng.uniform(-0.05, 0.05, 30)})


def test_second_identical_run_makes_zero_requests(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path)
    kwargs = dict(mjd=FIELD_MJD, site=SITE, fwhm_arcsec=2.0, wcs_rms_arcsec=0.3, config=config)
    first_labels, first = crossmatch_sources(_sources(), **kwargs)
    n_requests = len(httpserver.log)
    assert n_requests == 5 and all(r.status == "ok" and not r.from_cache for r in first)
    second_labels, second = crossmatch_sources(_sources(), **kwargs)
    assert len(httpserver.log) == n_requests
    assert all(r.status == "ok" and r.from_cache for r in second)
    assert [r.n_rows for r in second] == [r.n_rows for r in first]
    assert list(second_labels["simbad_id"]) == list(first_labels["simbad_id"])


def test_sub_cone_is_served_from_a_cached_larger_cone(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path)
    big = query_service(PROVIDERS["simbad"], Cone(FIELD_RA, FIELD_DEC, 0.2), config=config)
    small_cone = Cone(81.265, 4.495, 0.02)
    small = query_service(PROVIDERS["simbad"], small_cone, config=config)
    assert len(requests_to(httpserver, "/simbad/sim-tap/sync")) == 1
    assert small.from_cache and not big.from_cache
    # exactly the rows of the big answer inside the small cone
    assert sorted(small.table["simbad_id"]) == ["2MASS J05250000+0430000", "V* V0000 Ori"]
    # a cone reaching outside the cached one is fetched
    query_service(PROVIDERS["simbad"], Cone(FIELD_RA + 0.15, FIELD_DEC, 0.1), config=config)
    assert len(requests_to(httpserver, "/simbad/sim-tap/sync")) == 2


def test_corrupted_cache_file_is_detected_and_refetched(httpserver, tmp_path, caplog):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.2)
    query_service(PROVIDERS["vsx"], cone, config=config)
    cache = CatalogCache(config.cache_dir)
    [entry] = cache.entries("vsx")
    path = cache.root / entry.path
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated by a crash
    again = query_service(PROVIDERS["vsx"], cone, config=config)
    assert not again.from_cache and len(again.table) == 2
    assert len(requests_to(httpserver, "/viz-bin/votable")) == 2
    assert "damaged" in caplog.text
    [fresh] = cache.entries("vsx")
    assert fresh.key != entry.key and not path.exists()
    assert query_service(PROVIDERS["vsx"], cone, config=config).from_cache


def test_expired_entries_are_refetched_online_but_serve_offline(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path, cache_expiry_days=1.0)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.2)
    query_service(PROVIDERS["milliquas"], cone, config=config)
    with sqlite3.connect(tmp_path / "cache" / "index.sqlite") as db:
        db.execute("UPDATE entries SET fetched = ?", (time.time() - 2 * 86400,))
    offline = query_service(PROVIDERS["milliquas"], cone, config=dataclasses.replace(config, offline=True))
    assert offline.from_cache and len(offline.table) == 1
    assert len(httpserver.log) == 1
    online = query_service(PROVIDERS["milliquas"], cone, config=config)
    assert not online.from_cache and len(httpserver.log) == 2


def test_service_failure_falls_back_to_an_expired_entry(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path, cache_expiry_days=1.0)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.2)
    query_service(PROVIDERS["vsx"], cone, config=config)
    with sqlite3.connect(tmp_path / "cache" / "index.sqlite") as db:
        db.execute("UPDATE entries SET fetched = ?", (time.time() - 2 * 86400,))
    httpserver.clear_all_handlers()
    httpserver.expect_request("/viz-bin/votable").respond_with_data("down", status=503)
    result = query_service(PROVIDERS["vsx"], cone, config=config)
    assert result.from_cache and len(result.table) == 2


def test_skybot_cache_is_keyed_by_epoch_and_observer(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path)
    cone = Cone(FIELD_RA, FIELD_DEC, 0.2, epoch_mjd=FIELD_MJD, site=SITE)
    query_service(PROVIDERS["skybot"], cone, config=config)
    query_service(PROVIDERS["skybot"], cone, config=config)
    assert len(httpserver.log) == 1
    query_service(PROVIDERS["skybot"], dataclasses.replace(cone, epoch_mjd=FIELD_MJD + 0.01), config=config)
    query_service(PROVIDERS["skybot"], dataclasses.replace(cone, site=(0.0, 0.0, 0.0)), config=config)
    assert len(httpserver.log) == 3


def test_clear(tmp_path):
    cache = CatalogCache(tmp_path / "c")
    table = Table({"ra": [1.0, 1.01], "dec": [2.0, 2.0], "name": ["a", "b"]})
    cache.store("vsx", "sig", Cone(1.0, 2.0, 0.1), table)
    cache.store("simbad", "sig", Cone(1.0, 2.0, 0.1), table)
    assert len(cache.entries()) == 2
    assert cache.clear("vsx") == 1
    assert [e.service for e in cache.entries()] == ["simbad"]
    assert cache.clear() == 1 and not list((tmp_path / "c").rglob("*.parquet"))


@pytest.mark.parametrize("radius", [0.05, 0.1])
def test_lookup_cuts_rows_to_the_requested_cone(tmp_path, radius):
    cache = CatalogCache(tmp_path / "c")
    ra = 10.0 + (np.arange(41) - 20) * 0.01 + 0.003  # no row exactly on an edge
    cache.store("simbad", "s", Cone(10.0, 0.0, 0.25), Table({"ra": ra, "dec": np.zeros(41)}))
    got = cache.lookup("simbad", "s", Cone(10.0, 0.0, radius))
    assert np.all(np.abs(got["ra"] - 10.0) <= radius)
    assert len(got) == np.sum(np.abs(ra - 10.0) <= radius)


def _tamper(cache: CatalogCache, key: str, path: str) -> None:
    with sqlite3.connect(cache.root / "index.sqlite") as db:
        db.execute("UPDATE entries SET path = ? WHERE key = ?", (path, key))


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "index", "symlink_out"])
def test_tampered_index_never_reads_or_deletes_outside_its_files(tmp_path, caplog, kind):
    """Issue 11 item 2: a checksum mismatch used to unlink whatever the index's ``path`` named."""
    root = tmp_path / "shared" / "cache"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    cache = CatalogCache(root)
    cone = Cone(1.0, 2.0, 0.1)
    entry = cache.store("vsx", "sig", cone, Table({"ra": [1.0], "dec": [2.0]}))
    if kind == "symlink_out":  # a cache file replaced by a link to the victim
        link = root / "vsx" / "evil.parquet"
        link.symlink_to(victim)
        target = "vsx/evil.parquet"
    else:
        target = {"dotdot": "../../victim.txt", "absolute": str(victim), "index": "index.sqlite"}[kind]
    _tamper(cache, entry.key, target)
    assert cache.lookup("vsx", "sig", cone) is None  # not served, and ...
    assert victim.read_text() == "precious" and (root / "index.sqlite").is_file()  # ... nothing deleted
    assert cache.entries() == []  # the bad row is dropped
    assert "outside the cache files" in caplog.text and repr(target) in caplog.text
    assert (root / entry.path).is_file()  # the genuine file is untouched too


def test_remove_and_clear_never_follow_a_tampered_path(tmp_path, caplog):
    root = tmp_path / "cache"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    cache = CatalogCache(root)
    entry = cache.store("simbad", "sig", Cone(1.0, 2.0, 0.1), Table({"ra": [1.0], "dec": [2.0]}))
    _tamper(cache, entry.key, "../victim.txt")
    assert cache.clear() == 1
    assert victim.read_text() == "precious" and cache.entries() == []
    assert "file left alone" in caplog.text


def test_service_name_cannot_leave_the_cache_folder(tmp_path):
    cache = CatalogCache(tmp_path / "cache")
    with pytest.raises(CatalogError, match="not a plain folder name"):
        cache.store("../escape", "sig", Cone(1.0, 2.0, 0.1), Table({"ra": [1.0], "dec": [2.0]}))
    assert not (tmp_path / "escape").exists()
