"""``rpf catalog`` fetch / list / import / clear."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from catalog_services import FIELD_DEC, FIELD_RA, serve_all

from rpf.catalogs import CatalogCache, get_reference
from rpf.catalogs.cli import run_catalog_command
from rpf.catalogs.query import PROVIDERS
from rpf.cli import CATALOG_SERVICES, build_parser
from rpf.config import CatalogConfig


def _run(argv: list[str]) -> int:
    return run_catalog_command(build_parser().parse_args(argv))


def test_services_named_in_the_help_are_the_providers():
    assert sorted(CATALOG_SERVICES) == sorted(PROVIDERS)


def test_fetch_list_clear(httpserver, tmp_path, capsys, monkeypatch):
    serve_all(httpserver)
    config_file = tmp_path / "rpf.toml"
    config_file.write_text(
        "[catalogs]\n"
        f'simbad_url = "{httpserver.url_for("/simbad/sim-tap/sync")}"\n'
        f'vizier_url = "{httpserver.url_for("/viz-bin/votable")}"\n'
        "timeout_s = 10\nretries = 0\n"
    )
    cache_dir = str(tmp_path / "cache")
    common = ["catalog", "--config", str(config_file), "--cache-dir", cache_dir]
    args = [*common, "fetch", "--ra", str(FIELD_RA), "--dec", str(FIELD_DEC), "--radius", "0.2",
            "--services", "simbad,vsx,milliquas"]
    assert _run(args) == 0
    out = capsys.readouterr().out
    assert "simbad: 3 rows from the service" in out and "vsx: 2 rows from the service" in out
    assert _run(args) == 0
    assert "simbad: 3 rows from the cache" in capsys.readouterr().out
    assert len(httpserver.log) == 3
    assert _run([*common, "list"]) == 0
    listing = capsys.readouterr().out
    assert "(3 cones)" in listing and "milliquas" in listing
    assert _run([*common, "clear", "--service", "vsx"]) == 0
    assert "removed 1" in capsys.readouterr().out
    assert sorted(e.service for e in CatalogCache(cache_dir).entries()) == ["milliquas", "simbad"]
    assert _run([*common, "fetch", "--ra", "1", "--dec", "2", "--radius", "0.1", "--services", "nope"]) == 2


def test_import_file_serves_the_field_offline(tmp_path, capsys):
    rng = np.random.default_rng(5)
    table = Table({"source_id": np.arange(30), "ra": 150 + rng.uniform(-0.2, 0.2, 30),
                   "dec": 2 + rng.uniform(-0.2, 0.2, 30), "phot_g_mean_mag": rng.uniform(12, 17, 30)})
    path = tmp_path / "field.ecsv"
    table.write(path)
    cache_dir = str(tmp_path / "cache")
    assert _run(["catalog", "--cache-dir", cache_dir, "import", str(path)]) == 0
    assert "imported 30 rows" in capsys.readouterr().out
    ref = get_reference(150.0, 2.0, 0.1, config=CatalogConfig(offline=True, cache_dir=cache_dir))
    assert ref.meta["catalog"] == "gaia_dr3" and ref.meta["from_cache"]
    sep = np.hypot((table["ra"] - 150) * np.cos(np.radians(2)), table["dec"] - 2)
    assert sorted(ref["source_id"]) == sorted(table["source_id"][sep <= 0.1])
