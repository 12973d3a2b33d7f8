"""Night quality flags and the comparison of two runs, on metadata and catalogues with known defects."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
from astropy.table import QTable, Table

from rpf.errors import ConfigError
from rpf.night import QUALITY_COLUMNS, QualityThresholds, compare_runs, night_quality, write_night_quality_csv

K_TRUE = 0.2
BAD = {2: "background", 4: "fwhm", 7: "zero_point", 9: "astrometry", 10: "failed", 11: "sources"}


def _night(n: int = 14, seed: int = 3) -> list[dict]:
    """Frames with a zero point on an extinction line and small scatter; the frames of ``BAD`` spoilt."""
    rng = np.random.default_rng(seed)
    airmass = np.linspace(1.1, 2.1, n)
    metadata = []
    for i, x in enumerate(airmass):
        meta = {
            "frame": f"f{i:02d}.fits", "status": "ok", "error": None, "failed_stage": None, "filter": "V",
            "band": "V", "mjd_mid": 61000.0 + i / 48, "date_obs": f"2026-03-15T2{i % 10}:00:00", "exptime": 60.0,
            "airmass": x, "zero_point": 23.0 - K_TRUE * x + rng.normal(0, 0.01), "zero_point_err": 0.005,
            "fwhm_arcsec": 3.0 + rng.normal(0, 0.1), "fwhm_px": 2.3, "background_level": 1000 + rng.normal(0, 20),
            "background_rms": 20.0, "n_sources": int(500 + rng.normal(0, 10)), "n_calib_stars": 100,
            "limiting_mag": 20.0 + rng.normal(0, 0.05), "wcs_source": "header", "wcs_rms_arcsec": 0.2,
        }
        metadata.append(meta)
    metadata[2]["background_level"] = 3000.0  # the moon
    metadata[4]["fwhm_arcsec"] = 6.0  # bad seeing
    metadata[7]["zero_point"] -= 0.4  # clouds
    metadata[9].update(wcs_source="none", zero_point=None, limiting_mag=None, wcs_rms_arcsec=None)
    metadata[10].update(status="failed", error="f10.fits: detect failed: boom", failed_stage="detect",
                        zero_point=None)
    metadata[11]["n_sources"] = 6
    return metadata


def test_each_bad_frame_is_flagged_with_its_reason():
    quality = night_quality(_night())
    table = quality.table
    assert table.colnames == list(QUALITY_COLUMNS)
    flags = {int(row["frame"][1:3]): row["flags"] for row in table if row["flagged"]}
    assert set(flags) == set(BAD)
    for index, code in BAD.items():
        assert flags[index].split(",")[0] == code, (index, flags[index])
    reasons = {int(row["frame"][1:3]): row["reasons"] for row in table}
    offset = re.match(r"zero point ([0-9.]+) mag below the extinction line", reasons[7])
    assert offset is not None and float(offset.group(1)) == pytest.approx(0.4, abs=0.04)
    assert 'FWHM 6" above the limit' in reasons[4]
    assert reasons[10] == "failed in detect: f10.fits: detect failed: boom"
    assert reasons[11].startswith("number of sources 6 below the limit")
    # the extinction line through the good frames
    (fit,) = quality.extinction
    assert fit.k == pytest.approx(K_TRUE, abs=0.02)
    row = table[table["frame"] == "f03.fits"][0]
    assert row["zp_line"] == pytest.approx(fit.zp0 - fit.k * row["airmass"])
    assert abs(row["zp_residual"]) < 0.05 and row["extinction_k"] == pytest.approx(fit.k)
    assert quality.limits["V"]["fwhm_arcsec"]["side"] == "high"
    assert quality.flagged == [f"f{i:02d}.fits" for i in sorted(BAD)]


def test_thresholds_are_configurable():
    lenient = night_quality(_night(), thresholds=QualityThresholds(n_sigma=1000.0, min_sources=0))
    assert {row["flags"] for row in lenient.table if row["flagged"]} == {"astrometry", "failed"}
    few = night_quality(_night()[:4], thresholds=QualityThresholds(min_frames=5))
    assert "fwhm" not in ",".join(few.table["flags"])
    strict = night_quality(_night(), thresholds=QualityThresholds(n_sigma=0.5))
    assert len(strict.flagged) > len(BAD)
    with pytest.raises(ConfigError):
        QualityThresholds(n_sigma=0.0)


def test_quality_csv_round_trips(tmp_path):
    quality = night_quality(_night())
    back = Table.read(write_night_quality_csv(quality, tmp_path / "night_quality.csv"), format="ascii.csv")
    assert back.colnames == list(QUALITY_COLUMNS)
    np.testing.assert_allclose(np.asarray(back["airmass"], float), quality.table["airmass"], rtol=1e-12)
    assert [str(v) == "True" for v in back["flagged"]] == list(quality.table["flagged"])
    assert list(back["flags"].filled("")) == list(quality.table["flags"])


def _record(name: str, phot: QTable, zp: float, parameters: dict) -> SimpleNamespace:
    meta = {"frame": name, "status": "ok", "zero_point": zp, "n_sources": len(phot), "n_calib_stars": 40,
            "fwhm_arcsec": 3.0, "wcs_rms_arcsec": 0.2, "limiting_mag": 20.0, "parameters": parameters}
    return SimpleNamespace(path=f"/data/{name}", metadata=meta, phot=phot)


def test_two_runs_compared_star_by_star():
    rng = np.random.default_rng(5)
    n = 200
    ra, dec = 150 + rng.uniform(-0.1, 0.1, n), 20 + rng.uniform(-0.1, 0.1, n)
    mag = rng.uniform(12, 18, n)
    err = 0.005 + 0.01 * 10 ** (0.4 * (mag - 16))
    run_a, run_b = [], []
    for f in range(3):
        jitter = rng.normal(0, 0.2 / 3600, (2, n))
        phot_a = QTable({"ra": ra, "dec": dec, "mag": mag + rng.normal(0, err), "mag_err": err, "flags": np.zeros(n)})
        keep = np.arange(n) != 7  # run b lost one star
        phot_b = QTable({"ra": (ra + jitter[0])[keep], "dec": (dec + jitter[1])[keep],
                         "mag": (mag + 0.03 + rng.normal(0, err))[keep], "mag_err": err[keep],
                         "flags": np.zeros(keep.sum())})
        run_a.append(_record(f"f{f}.fits", phot_a, 22.70, {"aperture": {"radius": 1.5}, "zeropoint": {"k": 0.2}}))
        run_b.append(_record(f"f{f}.fits", phot_b, 22.73, {"aperture": {"radius": 2.0}, "zeropoint": {"k": 0.2}}))
    run_a.append(_record("only_a.fits", phot_a, 22.7, {}))
    result = compare_runs(run_a, run_b)
    summary = result.summary
    assert summary["n_frames"] == 3 and summary["only_a"] == ["only_a.fits"] and summary["only_b"] == []
    assert summary["n_matched"] == 3 * (n - 1)
    assert summary["median_mag_diff"] == pytest.approx(0.03, abs=0.005)
    assert summary["median_zero_point_diff"] == pytest.approx(0.03, abs=1e-9)
    assert summary["median_abs_sigma"] > 1.5  # a 0.03 mag shift is significant for most stars
    pull = (result.stars["mag_diff"] - 0.03) / np.hypot(result.stars["mag_err_a"], result.stars["mag_err_b"])
    assert 0.55 < np.median(np.abs(pull)) < 0.8  # beyond the shift, noise (0.674 for a Gaussian)
    assert list(result.frames["n_only_a"]) == [1, 1, 1] and list(result.frames["n_only_b"]) == [0, 0, 0]
    assert result.parameters == {"aperture.radius": (1.5, 2.0)}
    np.testing.assert_allclose(result.stars["mag_diff"], result.stars["mag_b"] - result.stars["mag_a"])
