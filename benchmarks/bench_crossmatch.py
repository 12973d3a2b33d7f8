"""A 1000-source frame cross-matched against every catalogue from a warm cache.

Fills a temporary cache with realistic catalogue densities for a 0.25 deg
field (Gaia 20 000 rows, SIMBAD 3 000, VSX 300, SkyBoT 30, Milliquas 100,
Astro-Colibri 5), then times ``get_reference`` + ``crossmatch_sources`` +
``rpf.skymatch.match_sky`` (no network: every answer comes from the cache).
Writes ``benchmarks/results/bench_crossmatch.json``.

Run: ``.venv/bin/python benchmarks/bench_crossmatch.py``
"""

from __future__ import annotations

import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from rpf.catalogs import PROVIDERS, CatalogCache, Cone, crossmatch_sources, get_reference
from rpf.catalogs.gaia import reference_columns
from rpf.config import CatalogConfig
from rpf.skymatch import match_sky

RA, DEC, RADIUS, MJD, SITE = 150.0, 2.0, 0.25, 60677.0, (43.75, 6.92, 1270.0)
ROWS = {"simbad": 3000, "vsx": 300, "skybot": 30, "milliquas": 100, "colibri": 5}


def _positions(rng, n):
    r = RADIUS * np.sqrt(rng.uniform(0, 1, n))
    t = rng.uniform(0, 2 * np.pi, n)
    return RA + r * np.cos(t) / np.cos(np.radians(DEC)), DEC + r * np.sin(t)


def _label_rows(service: str, n: int, rng) -> Table:
    ra, dec = _positions(rng, n)
    text = np.array([f"{service}-{i}" for i in range(n)])
    columns = {
        "simbad": {"simbad_id": text, "simbad_otype": np.full(n, "*"), "B_mag": rng.uniform(10, 20, n),
                   "V_mag": rng.uniform(10, 20, n)},
        "vsx": {"vsx_name": text, "vsx_type": np.full(n, "EW"), "vsx_period": rng.uniform(0.2, 5, n),
                "vsx_max": np.full(n, 12.0), "vsx_min": np.full(n, 12.5), "vsx_range": np.full(n, "12.00-12.50")},
        "skybot": {"skybot_name": text, "skybot_class": np.full(n, "MB>Inner"), "skybot_vmag": np.full(n, 18.0),
                   "skybot_errpos": rng.uniform(0.01, 1, n)},
        "milliquas": {"qso_name": text, "qso_type": np.full(n, "Q"), "qso_z": rng.uniform(0.1, 3, n),
                      "qso_rmag": np.full(n, 19.0)},
        "colibri": {"colibri_name": text, "colibri_type": np.full(n, "ot"), "colibri_time": np.full(n, "2025"),
                    "colibri_err_deg": np.full(n, 1e-4)},
    }[service]
    return Table({**columns, "ra": ra, "dec": dec})


def _gaia_rows(rng, n=20000) -> Table:
    ra, dec = _positions(rng, n)
    table = Table({name: np.full(n, np.nan) for name in reference_columns()})
    table["source_id"] = np.arange(n, dtype=np.int64)
    table["phot_variable_flag"] = np.full(n, "NOT_AVAILABLE")
    table["ra"], table["dec"] = ra, dec
    table["pmra"], table["pmdec"] = rng.normal(0, 5, n), rng.normal(0, 5, n)
    table["phot_g_mean_mag"] = rng.uniform(10, 19, n)
    return table


def main() -> dict:
    rng = np.random.default_rng(42)
    with tempfile.TemporaryDirectory() as tmp:
        config = CatalogConfig(cache_dir=tmp, colibri_uid="benchmark", gaia_url="http://127.0.0.1:9/none",
                               simbad_url="http://127.0.0.1:9/none", vizier_url="http://127.0.0.1:9/none",
                               skybot_url="http://127.0.0.1:9/none", colibri_url="http://127.0.0.1:9/none")
        cache = CatalogCache(tmp)
        field = Cone(RA, DEC, RADIUS + 0.1, epoch_mjd=MJD, site=SITE, mag_limit=config.mag_limit)
        gaia = _gaia_rows(rng)
        cache.store("gaia_dr3", PROVIDERS["gaia_dr3"].signature(field, config), field, gaia)
        for service, n in ROWS.items():
            cache.store(service, PROVIDERS[service].signature(field, config), field, _label_rows(service, n, rng))
        # the frame: 1000 detections, 700 on Gaia stars (0.3" jitter), 300 elsewhere
        pick = rng.choice(len(gaia), 700, replace=False)
        ra_f, dec_f = _positions(rng, 300)
        sources = Table({
            "ra": np.concatenate([gaia["ra"][pick] + rng.normal(0, 0.3 / 3600, 700), ra_f * 0.999 + RA * 0.001]),
            "dec": np.concatenate([gaia["dec"][pick] + rng.normal(0, 0.3 / 3600, 700), dec_f * 0.999 + DEC * 0.001]),
        })
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            ref = get_reference(RA, DEC, RADIUS, epoch_mjd=MJD, config=config)
            si, _ = match_sky(sources["ra"], sources["dec"], ref["ra"], ref["dec"], radius_arcsec=1.5)
            labels, reports = crossmatch_sources(sources, mjd=MJD, site=SITE, fwhm_arcsec=2.5, wcs_rms_arcsec=0.3,
                                                 config=config)
            timings.append(time.perf_counter() - start)
        assert all(r.status == "ok" and r.from_cache for r in reports), [r.to_dict() for r in reports]
        result = {
            "benchmark": "crossmatch_1000_sources_warm_cache",
            "n_sources": len(sources),
            "catalogue_rows": {"gaia_dr3": len(ref), **{r.service: r.n_rows for r in reports}},
            "n_reference_matches": int(len(si)),
            "n_labelled": {r.service: r.n_matched for r in reports},
            "seconds_median": statistics.median(timings),
            "seconds_all": timings,
            "goal_seconds": 1.0,
            "passed": statistics.median(timings) < 1.0,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
    out = Path(__file__).parent / "results" / "bench_crossmatch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
