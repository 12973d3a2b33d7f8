"""``rpf stack`` / ``rpf run`` with targets, a template and a report, end to end on simulated frames."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from transient_sims import CENTER, SHAPE, ZERO_POINT, reference_catalog, simulate, write_calibrated

from rpf.cli import main
from rpf.simulate.wcs import make_tan_wcs

TARGET_COLUMNS = ["frame", "target", "ra", "dec", "mjd_mid", "mag", "mag_err", "upper_limit", "detected", "snr",
                  "flags"]
N_FRAMES = 3
AT1_MAG, ROCK_MAG, AT2_MAG = 17.0, 17.0, 17.5
ROCK_RATE = (300.0, -150.0)  # arcsec per hour: 10" and 5" between frames 2 minutes apart
START_MJD = 61114.916667  # 2026-03-15T22:00:00


def _sky(x: float, y: float) -> tuple[float, float]:
    ra, dec = make_tan_wcs(center=CENTER, shape=SHAPE, pixel_scale=1.0).all_pix2world(x, y, 0)
    return float(ra), float(dec)


AT1 = _sky(120.4, 250.2)
BLANK = _sky(300.0, 60.0)
ROCK0 = _sky(150.0, 100.0)
AT2 = _sky(260.7, 140.3)


def _rock_at(mjd: float) -> tuple[float, float]:
    from rpf.targets import Target

    return Target(name="rock", ra=ROCK0[0], dec=ROCK0[1], epoch_mjd=START_MJD, rate_ra=ROCK_RATE[0],
                  rate_dec=ROCK_RATE[1]).position_at(mjd)


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv)
    return status, err.getvalue()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _config(folder: Path) -> Path:
    """Private cache, short astrometry limit, no PNG/ZIP; a constant kernel (the simulated PSF is constant)."""
    path = folder / "config.toml"
    path.write_text(f'[astrometry]\ntime_limit_s = 5\n[catalogs]\ncache_dir = "{folder / "cache"}"\n'
                    '[output]\npng = false\nzip = false\n'
                    '[transients]\nkernel_poly_order = 0\nbackground_poly_order = 0\n')
    return path


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    """Three 60-s frames with a transient (AT1) and a moving object (rock), stacked by ``rpf stack``."""
    folder = tmp_path_factory.mktemp("followup")
    catalog, catalog_file = reference_catalog(folder)
    rng = np.random.default_rng(4)
    paths = []
    for i in range(N_FRAMES):
        minute = 2 * i
        mid = START_MJD + (minute * 60 + 30) / 86400
        extra = Table({"ra": [AT1[0], _rock_at(mid)[0]], "dec": [AT1[1], _rock_at(mid)[1]],
                       "mag": [AT1_MAG, ROCK_MAG]})
        sim = simulate(catalog, seed=40 + i, offset_arcsec=rng.uniform(-3, 3, 2), minute=minute, extra_stars=extra)
        paths.append(str(write_calibrated(sim, folder / f"seq{i}.fits")))
    targets_file = folder / "targets.csv"
    targets_file.write_text(f"name,ra,dec,epoch,rate_ra,rate_dec\nrock,{ROCK0[0]},{ROCK0[1]},{START_MJD},"
                            f"{ROCK_RATE[0]},{ROCK_RATE[1]}\n")
    out = folder / "out"
    status, err = _run(["stack", *paths, "--out", str(out), "--catalog", str(catalog_file), "--offline",
                        "--config", str(_config(folder)), "--target", f"{AT1[0]},{AT1[1]},AT1",
                        "--target", f"{BLANK[0]},{BLANK[1]},blank", "--targets", str(targets_file),
                        "--t0", "2026-03-15T20:00:00"])
    assert status == 0, err
    return {"folder": folder, "out": out, "catalog": catalog, "catalog_file": catalog_file, "err": err}


def test_targets_measured_in_every_frame_and_in_the_stack(sequence):
    out = sequence["out"]
    rows = _rows(out / "targets.csv")
    assert list(rows[0])[: len(TARGET_COLUMNS)] == TARGET_COLUMNS
    assert {r["frame"] for r in rows} == {f"seq{i}.fits" for i in range(N_FRAMES)} | {"stack.fits"}
    assert len(rows) == 3 * (N_FRAMES + 1)
    for stem in ("seq0", "seq1", "seq2", "stack"):
        assert list(_rows(out / f"{stem}_targets.csv")[0])[: len(TARGET_COLUMNS)] == TARGET_COLUMNS
    for row in rows:
        if row["target"] == "rock" and row["frame"] == "stack.fits":
            # a moving object is clipped out of a sidereal stack: no detection where it is at mid-stack
            assert row["detected"] == "False"
        elif row["target"] in ("AT1", "rock"):
            truth = AT1_MAG if row["target"] == "AT1" else ROCK_MAG
            assert row["detected"] == "True" and int(row["flags"]) == 0, row
            assert float(row["mag"]) == pytest.approx(truth, abs=max(3 * float(row["mag_err"]), 0.02)), row
        else:
            assert row["detected"] == "False" and row["mag"] == "", row
            assert 19.0 < float(row["upper_limit"]) < 23.0
    # the moving target is measured where it is at each mid-exposure, not where it was
    rock = [r for r in rows if r["target"] == "rock" and r["frame"] != "stack.fits"]
    for row in rock:
        ra, dec = _rock_at(float(row["mjd_mid"]))
        # within 0.1" (mjd_mid is written with 10 significant digits, ~1 s): the rock moves 10" per frame
        assert (float(row["ra"]), float(row["dec"])) == pytest.approx((ra, dec), abs=0.1 / 3600)
    # the stack is deeper than a frame by about 2.5 log10(sqrt(3)) = 0.6 mag
    limits = {r["frame"]: float(r["upper_limit"]) for r in rows if r["target"] == "blank"}
    gain = limits["stack.fits"] - np.mean([limits[f"seq{i}.fits"] for i in range(N_FRAMES)])
    assert gain == pytest.approx(2.5 * np.log10(np.sqrt(N_FRAMES)), abs=0.2)


def test_report_ready_to_send(sequence):
    out = sequence["out"]
    text = (out / "report.txt").read_text()
    report = json.loads((out / "report.json").read_text())
    assert "AT1: optical follow-up" in text and "T-T0 (h)" in text and "> " in text
    at1 = next(t for t in report["targets"] if t["target"] == "AT1")
    assert at1["t0_utc"].startswith("2026-03-15T20:00:00")
    stack = next(m for m in at1["measurements"] if m["frame"] == "stack.fits")
    rows = {r["frame"]: r for r in _rows(out / "targets.csv") if r["target"] == "AT1"}
    assert stack["mag"] == pytest.approx(float(rows["stack.fits"]["mag"]), abs=1e-4)
    assert stack["exptime_s"] == pytest.approx(N_FRAMES * 60.0) and stack["ncombine"] == N_FRAMES
    assert stack["hours_since_t0"] == pytest.approx(2.0 + 2.5 / 60, abs=0.01)
    assert f"{stack['mag']:.2f} +/- {stack['mag_err']:.2f}" in text
    rock = next(t for t in report["targets"] if t["target"] == "rock")
    assert [m["frame"] for m in rock["measurements"]] == [f"seq{i}.fits" for i in range(N_FRAMES)]
    blank = next(t for t in report["targets"] if t["target"] == "blank")
    assert not blank["best"]["detected"] and blank["best"]["frame"] == "stack.fits"
    assert f"> {blank['best']['upper_limit']:.2f} (3 sigma)" in text


def test_template_subtraction_from_the_command_line(sequence):
    """A new transient (AT2) on a later frame: found on the difference with the stack as template."""
    folder, out = sequence["folder"], sequence["out"]
    extra = Table({"ra": [AT1[0], AT2[0]], "dec": [AT1[1], AT2[1]], "mag": [AT1_MAG, AT2_MAG]})
    sim = simulate(sequence["catalog"], seed=77, offset_arcsec=(1.0, 2.0), minute=30, extra_stars=extra)
    science = write_calibrated(sim, folder / "late.fits")
    late = folder / "late_out"
    status, err = _run(["run", str(science), "--out", str(late), "--catalog", str(sequence["catalog_file"]),
                        "--offline", "--config", str(_config(folder)), "--eager", "--template",
                        str(out / "stack.fits"), "--target", f"{AT2[0]},{AT2[1]},AT2"])
    assert status == 0, err
    candidates = _rows(late / "late_candidates.csv")
    near = [c for c in candidates if c["origin"] in ("difference", "both")
            and abs(float(c["ra"]) - AT2[0]) * 3600 < 2 and abs(float(c["dec"]) - AT2[1]) * 3600 < 2]
    assert near and float(near[0]["diff_snr"]) > 10
    # AT1 is in the template too: it subtracts away
    assert not [c for c in candidates if c["origin"] != "catalog"
                and abs(float(c["ra"]) - AT1[0]) * 3600 < 2 and abs(float(c["dec"]) - AT1[1]) * 3600 < 2]
    [row] = _rows(late / "late_targets.csv")
    assert row["diff_detected"] == "True"
    assert float(row["diff_mag"]) == pytest.approx(AT2_MAG, abs=max(3 * float(row["diff_mag_err"]), 0.03))
    assert (late / "late_difference.fits").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--target", "400,20"], "outside [0, 360]"), (["--target", "150,-95,x"], "outside"),
     (["--target", "M 31"], "offline and not in the name cache"),
     (["--template", "missing.fits"], "template missing.fits: file not found"),
     (["--t0", "yesterday"], "neither an MJD nor an ISO"), (["--limit-sigma", "0"], "limit_sigma"),
     (["--target", "1,2,a", "--target", "3,4,a"], "used twice")],
)
def test_bad_follow_up_options_exit_2_with_a_clear_message(tmp_path, options, message):
    config = tmp_path / "config.toml"
    config.write_text(f'[catalogs]\ncache_dir = "{tmp_path / "cache"}"\n')  # an empty name cache
    with contextlib.suppress(SystemExit):
        status, err = _run(["run", str(tmp_path / "any.fits"), "--out", str(tmp_path / "o"), "--offline",
                            "--config", str(config), *options])
        assert status == 2 and message in err, err
        return
    # argparse rejected the value itself (exit 2 through SystemExit)
    assert options[0] == "--limit-sigma"


def test_stack_of_one_frame_fails_alone(sequence, tmp_path):
    status, err = _run(["stack", str(sequence["folder"] / "seq0.fits"), "--out", str(tmp_path / "o"),
                        "--catalog", str(sequence["catalog_file"]), "--offline", "--config",
                        str(_config(sequence["folder"]))])
    assert status == 2 and "stack not made: a stack needs at least 2 frames" in err
    assert (tmp_path / "o" / "seq0_phot.csv").is_file()


def test_zero_point_of_the_truth(sequence):
    meta = json.loads((sequence["out"] / "stack_metadata.json").read_text())
    assert meta["zero_point"] == pytest.approx(ZERO_POINT, abs=0.02) and meta["exptime"] == N_FRAMES * 60.0
