"""The reference catalogue: user file, cache, network, offline Tycho-2 -- in that order."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from astropy.table import Table
from catalog_services import serve_all, service_config

from rpf.catalogs import band_column, get_reference, read_catalog_file
from rpf.config import CatalogConfig
from rpf.errors import CatalogError
from rpf.index_files import read_tycho2_cone

M13 = (250.4235, 36.4613)


def _gaia_like(n: int = 40) -> Table:
    rng = np.random.default_rng(3)
    return Table({
        "source_id": np.arange(n, dtype=np.int64) + 10**18,
        "ra": M13[0] + rng.uniform(-0.1, 0.1, n),
        "dec": M13[1] + rng.uniform(-0.1, 0.1, n),
        "phot_g_mean_mag": rng.uniform(10, 18, n),
        "phot_bp_mean_mag": rng.uniform(10, 18, n),
        "phot_rp_mean_mag": rng.uniform(10, 18, n),
    })


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [(".csv", "ascii.csv"), (".ecsv", "ascii.ecsv"), (".fits", "fits"), (".xml", "votable"), (".parquet", "parquet")],
)
def test_catalog_file_in_every_format(tmp_path, suffix, fmt):
    table = _gaia_like()
    path = tmp_path / f"ref{suffix}"
    table.write(path, format=fmt)
    config = CatalogConfig(catalog_file=str(path), offline=True, cache_dir=str(tmp_path / "cache"))
    ref = get_reference(*M13, 0.05, config=config)
    inside = np.hypot((table["ra"] - M13[0]) * np.cos(np.radians(M13[1])), table["dec"] - M13[1]) < 0.0499
    assert set(ref["source_id"]) >= set(table["source_id"][inside])
    assert ref.meta["catalog"] == f"file:ref{suffix}"
    assert np.all(np.isnan(ref["ruwe"]))  # absent columns filled
    assert ref.meta.get("notes") == []


def test_catalog_file_without_positions_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(CatalogError, match="no 'ra'/'dec' columns"):
        read_catalog_file(path)
    with pytest.raises(CatalogError, match="unsupported catalogue format"):
        read_catalog_file(tmp_path / "x.dat")


def test_offline_default_is_tycho2_from_the_installed_index_files(tmp_path):
    config = CatalogConfig(offline=True, cache_dir=str(tmp_path / "cache"))
    ref = get_reference(*M13, 0.5, band="V", config=config)
    assert ref.meta["catalog"] == "tycho2"
    assert "gaia_dr3: offline and not in the cache" in ref.meta["notes"][0]
    assert ref.meta["band_column"] == "VT_mag"
    assert len(ref) > 20
    assert np.all((ref["VT_mag"] > 2) & (ref["VT_mag"] < 14))
    sep = np.hypot((ref["ra"] - M13[0]) * np.cos(np.radians(M13[1])), ref["dec"] - M13[1])
    assert np.all(sep <= 0.5 + 1e-6)
    assert len(set(ref["source_id"])) == len(ref)


def test_tycho2_finds_a_known_bright_star():
    # Altair (HD 187642), V_T ~ 0.9 at 297.6958 +8.8683 (J2000)
    stars = read_tycho2_cone(297.6958, 8.8683, 0.05, index_dir="/usr/share/astrometry")
    assert len(stars) >= 1
    k = int(np.argmin(stars["VT_mag"]))
    assert stars["VT_mag"][k] < 1.5
    assert abs(stars["dec"][k] - 8.8683) < 0.01


def test_network_then_cache_then_offline(httpserver, tmp_path):
    serve_all(httpserver)
    config = service_config(httpserver, tmp_path)
    online = get_reference(268.0677, 26.5075, 0.1, config=config)
    assert online.meta["catalog"] == "gaia_dr3" and not online.meta["from_cache"]
    offline = get_reference(268.0677, 26.5075, 0.05, config=dataclasses.replace(config, offline=True))
    assert offline.meta["catalog"] == "gaia_dr3" and offline.meta["from_cache"]
    assert list(offline["source_id"]) == list(online["source_id"])
    assert len(httpserver.log) == 1


def test_band_column():
    gaia = Table({"phot_g_mean_mag": [12.0], "V_mag": [12.3], "g_mag": [np.nan]}, meta={"catalog": "gaia_dr3"})
    assert band_column("V", gaia) == "V_mag"
    assert band_column("G", gaia) == "phot_g_mean_mag"
    assert band_column("g", gaia) == "phot_g_mean_mag"  # no synthetic g: falls back to G
    with pytest.raises(CatalogError, match="no magnitudes"):
        band_column("V", Table({"ra": [1.0]}))
