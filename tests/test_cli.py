"""The ``rpf`` command line: options, exit status, bad inputs, offline runs and the Dask path."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from rpf.cli import build_parser, main, request_from_args
from rpf.config import PipelineConfig
from rpf.flags import SourceFlag
from rpf.pipeline import STAGE_NAMES as STAGES
from rpf.simulate import simulate_frame, write_fits

RPF = str(Path(sys.executable).parent / "rpf")


def _run(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv)
    return status, err.getvalue()


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "run_summary.csv", newline="") as fh:
        return {row["frame"]: row for row in csv.DictReader(fh)}


def _metadata(out: Path, stem: str) -> dict:
    return json.loads((out / f"{stem}_metadata.json").read_text())


def _write_config(path: Path, cache: Path, extra: str = "") -> Path:
    path.write_text(
        f'[astrometry]\ntime_limit_s = 5\n[catalogs]\ncache_dir = "{cache}"\n'
        f'[execution]\ndashboard_address = ":0"\n{extra}'
    )
    return path


# --- option parsing ---------------------------------------------------------------------------


def test_options_become_the_run_request(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"detection": {"threshold_sigma": 4.0}, "astrometry": {"time_limit_s": 7}}))
    (tmp_path / "b1.fits").write_bytes(b"")
    args = build_parser().parse_args([
        "run", "a.fits", "b.fits", "--out", str(tmp_path), "--config", str(cfg), "--ra", "10:00:00", "--dec", "-5.5",
        "--pixel-scale", "0.8", "--manual-wcs", "--catalog", "gaia.csv", "--offline", "--workers", "3", "--psf",
        "--scheduler", "tcp://127.0.0.1:8786", "--bias", str(tmp_path / "b1.fits"),
    ])
    request = request_from_args(args)
    assert request.science == ("a.fits", "b.fits") and request.out_dir == str(tmp_path)
    assert request.bias == (str(tmp_path / "b1.fits"),) and request.dark == request.flat == ()
    config = request.config
    assert config.detection.threshold_sigma == 4.0 and config.astrometry.time_limit_s == 7
    assert (config.astrometry.ra, config.astrometry.dec, config.astrometry.pixel_scale) == (150.0, -5.5, 0.8)
    assert config.astrometry.mode == "manual" and config.header.pixel_scale == 0.8
    assert config.catalogs.catalog_file == "gaia.csv" and config.catalogs.reference == "file"
    assert config.catalogs.offline and config.psf.enabled
    assert config.execution.n_workers == 3 and config.execution.scheduler == "tcp://127.0.0.1:8786"
    plain = request_from_args(build_parser().parse_args(["run", "a.fits", "--out", str(tmp_path)]))
    assert plain.config == PipelineConfig()


def test_help_does_not_load_the_pipeline():
    """``rpf --help``, ``rpf config`` and argument errors answer at once: the parser imports no pipeline code."""
    probe = "import sys; from rpf.cli import build_parser; build_parser(); print(sorted(set(sys.modules) & {MODULES}))"
    heavy = {"rpf.catalogs", "rpf.pipeline.runner", "astropy.table", "matplotlib", "distributed", "scipy"}
    done = subprocess.run([sys.executable, "-c", probe.replace("{MODULES}", repr(heavy))],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout
    help_text = subprocess.run([sys.executable, "-m", "rpf.cli", "catalog", "fetch", "--help"],
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "gaia_dr3,simbad" in help_text and "--radius" in help_text


def test_bad_configuration_and_missing_calibration_exit_2(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[detection]\nthreshold_sigma = -1\n")
    status, err = _run(["run", "x.fits", "--out", str(tmp_path / "o"), "--config", str(cfg), "--eager"])
    assert status == 2 and "threshold_sigma" in err
    status, err = _run(["run", "x.fits", "--out", str(tmp_path / "o"), "--bias", str(tmp_path / "nobias.fits")])
    assert status == 2 and "nobias.fits" in err


def test_config_command_writes_a_loadable_file(tmp_path, capsys):
    assert main(["config", "--write", str(tmp_path / "rpf.toml")]) == 0
    assert (tmp_path / "rpf.toml").read_text().count("[") >= 10
    assert main(["config"]) == 0
    assert json.loads(capsys.readouterr().out)["astrometry"]["time_limit_s"] == 60.0


# --- one run with good frames and every kind of bad input ------------------------------------


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    """Two good frames, truncated/not-FITS/0-byte/all-NaN/no-EXPTIME/singular-CD frames, offline,
    no catalogue: one ``rpf run --eager``."""
    root = tmp_path_factory.mktemp("bad")
    raw = root / "raw"
    sims = [simulate_frame(seed=40 + i, shape=(512, 512), n_cosmic_rays=10) for i in range(2)]
    good = [write_fits(sim, raw / f"good_{i}.fits") for i, sim in enumerate(sims)]
    data = good[0].read_bytes()
    (raw / "truncated.fits").write_bytes(data[: len(data) // 2])
    (raw / "notfits.fits").write_text("this is a text file, not a FITS image\n" * 100)
    (raw / "zero.fits").write_bytes(b"")
    fits.writeto(raw / "allnan.fits", np.full((512, 512), np.nan, np.float32), sims[0].header)
    header = sims[0].header.copy()
    for key in ("EXPTIME", "EXPOSURE", "ITIME"):
        header.remove(key, ignore_missing=True)
    fits.writeto(raw / "noexptime.fits", sims[0].raw, header)
    header = sims[1].header.copy()
    for key in ("CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        header[key] = 2.0e-4  # rank 1: a singular CD matrix
    fits.writeto(raw / "singular.fits", sims[1].raw, header)
    names = ["good_0", "truncated", "notfits", "zero", "allnan", "noexptime", "singular", "good_1"]
    out = root / "out"
    config = _write_config(root / "config.toml", root / "cache")
    status, stderr = _run(["run", *(str(raw / f"{n}.fits") for n in names), "--out", str(out), "--offline",
                           "--eager", "--config", str(config)])
    return {"out": out, "status": status, "stderr": stderr, "names": names}


BAD = {
    "truncated": "truncated",
    "notfits": "not a FITS file",
    "zero": "empty file",
    "allnan": "NaN",
    "noexptime": "exposure time",
}


def test_any_failed_frame_gives_exit_2(bad_run):
    assert bad_run["status"] == 2


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_gets_a_clear_error_naming_the_file(bad_run, name):
    out, words = bad_run["out"], BAD[name]
    meta = _metadata(out, name)
    assert meta["status"] == "failed" and f"{name}.fits" in meta["error"] and words in meta["error"]
    row = _summary(out)[f"{name}.fits"]
    assert row["status"] == "failed" and row["error"] == meta["error"]
    failed_lines = [line for line in bad_run["stderr"].splitlines() if "FAILED" in line and f"{name}.fits" in line]
    assert failed_lines and words in failed_lines[0]
    assert meta["error"] in (out / f"{name}.log").read_text()
    assert not (out / f"{name}_phot.csv").exists()


def test_good_frames_finish_beside_the_bad_ones(bad_run):
    rows = _summary(bad_run["out"])
    assert list(rows) == [f"{n}.fits" for n in bad_run["names"]]
    for name in ("good_0", "good_1"):
        assert rows[f"{name}.fits"]["status"] == "ok"
        assert int(rows[f"{name}.fits"]["n_sources"]) > 50
        assert (bad_run["out"] / f"{name}_phot.csv").exists()
    assert "finished 3/8 frames ok, 5 failed" in bad_run["stderr"]


def test_singular_cd_matrix_is_never_replaced_by_a_placeholder(bad_run):
    meta = _metadata(bad_run["out"], "singular")
    assert meta["status"] == "ok"
    assert meta["wcs_source"] in ("solved", "none")
    if meta["wcs_source"] == "none":
        assert "singular" in meta["wcs_message"] and meta["center_ra"] is None
        phot = Table.read(bad_run["out"] / "singular_phot.csv", format="ascii.csv")
        assert len(phot) > 50 and np.all(np.asarray(phot["flags"]) & int(SourceFlag.NO_WCS))
        assert not (bad_run["out"] / "singular_wcs.fits").exists()
    else:
        assert meta["center_ra"] == pytest.approx(150.0, abs=0.01)


def test_offline_without_catalogue_says_what_is_missing(bad_run):
    out = bad_run["out"]
    meta = _metadata(out, "good_0")
    assert meta["status"] == "ok" and meta["zero_point"] is None and meta["zero_point_err"] is None
    services = {s["service"]: s["status"] for s in meta["services"]}
    assert {"simbad", "skybot", "vsx", "milliquas", "colibri"} <= set(services)
    assert all(services[s] == "skipped: offline" for s in ("simbad", "skybot", "vsx", "milliquas"))
    log = (out / "good_0.log").read_text()
    assert "zero point: not determined (" in log
    assert "cross-match simbad: skipped: offline" in log
    for stage in STAGES:
        assert f"stage {stage}: done" in log
    rows = list(csv.DictReader((out / "good_0_phot.csv").read_text().splitlines()))
    assert rows and all(r["mag"] == "" for r in rows) and all(r["mag_inst"] != "" for r in rows)


# --- the real console script on the default local Dask cluster -------------------------------


@pytest.fixture(scope="module")
def dask_run(tmp_path_factory):
    """``rpf run`` as a subprocess (local Dask cluster) on two overlapping frames and a bad file."""
    root = tmp_path_factory.mktemp("dask")
    raw = root / "raw"
    sims = [simulate_frame(seed=60 + i, shape=(512, 512), n_cosmic_rays=10, date_obs=f"2026-03-15T22:0{i}:00")
            for i in range(2)]
    paths = [write_fits(sim, raw / f"frame_{i}.fits") for i, sim in enumerate(sims)]
    (raw / "broken.fits").write_bytes(b"SIMPLE  = nonsense")
    config = _write_config(root / "config.toml", root / "cache")
    out = root / "out"
    start = time.time()
    proc = subprocess.run(
        [RPF, "run", str(paths[0]), str(raw / "broken.fits"), str(paths[1]), "--out", str(out), "--offline",
         "--workers", "2", "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )
    return {"out": out, "proc": proc, "paths": paths, "wall": time.time() - start}


def test_console_script_accounts_for_its_startup(dask_run):
    """The process's own start (interpreter, imports) is in the timings: startup + the run's total = the wait."""
    timings = json.loads((dask_run["out"] / "run_timings.json").read_text())
    assert 0.3 < timings["startup"] < timings["startup"] + timings["total"] <= dask_run["wall"] + 0.05
    assert timings["startup"] + timings["total"] > 0.8 * dask_run["wall"]  # nothing large left unaccounted
    line = next(x for x in dask_run["proc"].stderr.splitlines() if x.startswith("rpf: time: "))
    assert line.startswith(f"rpf: time: startup {timings['startup']:.1f} s; cluster ")
    assert line.endswith("with the startup)")


def test_console_script_on_dask(dask_run):
    proc, out = dask_run["proc"], dask_run["out"]
    assert proc.returncode == 2, proc.stderr
    assert "broken.fits" in proc.stderr and "FAILED" in proc.stderr
    rows = _summary(out)
    assert list(rows) == ["frame_0.fits", "broken.fits", "frame_1.fits"]
    assert [rows[k]["status"] for k in rows] == ["ok", "failed", "ok"]
    assert "broken.fits" in rows["broken.fits"]["error"]
    for stem in ("frame_0", "frame_1"):
        meta = _metadata(out, stem)
        assert meta["wcs_source"] == "header" and meta["n_sources"] > 50
        for suffix in ("_phot.csv", "_wcs.fits", "_header.txt", "_wcs_header.txt", ".log", "_image.png",
                       "_results.zip"):
            assert (out / f"{stem}{suffix}").exists(), suffix
        log = (out / f"{stem}.log").read_text()
        assert all(f"stage {stage}: done" in log for stage in STAGES)


def test_console_script_flushes_everything_before_its_quick_exit(tmp_path):
    """The program leaves without tearing the interpreter down: its output, piped, is whole."""
    proc = subprocess.run([RPF, "config"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(json.dumps(PipelineConfig().to_dict()))
    target = tmp_path / "nowhere" / "x.toml"
    proc = subprocess.run([RPF, "config", "--write", str(target)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr == f"rpf: error: cannot write {target}: No such file or directory\n"


def test_dask_products_equal_eager_products(dask_run, tmp_path):
    path = dask_run["paths"][0]
    config = _write_config(tmp_path / "config.toml", tmp_path / "cache")
    status, err = _run(["run", str(path), "--out", str(tmp_path / "eager"), "--offline", "--eager",
                        "--config", str(config)])
    assert status == 0, err
    dask_phot = Table.read(dask_run["out"] / "frame_0_phot.csv", format="ascii.csv")
    eager_phot = Table.read(tmp_path / "eager" / "frame_0_phot.csv", format="ascii.csv")
    assert len(dask_phot) == len(eager_phot)
    for col in ("x", "y", "ra", "dec", "flux", "flux_err", "flags"):
        np.testing.assert_array_equal(dask_phot[col], eager_phot[col])


# --- progress on stderr -----------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _events():
    from rpf.pipeline.events import FrameFailed, RunFinished, RunStarted, StageDone

    return [
        RunStarted(run_id="r", n_frames=2, out_dir="o"),
        StageDone(run_id="r", path="/d/a.fits", index=0, stage="detect", seconds=0.1),
        FrameFailed(run_id="r", path="/d/b.fits", index=1, message="/d/b.fits: not a FITS file"),
        RunFinished(run_id="r", n_frames=2, n_ok=1, n_failed=1, seconds=1.0, summary_csv="o/run_summary.csv"),
    ]


def test_progress_bar_on_a_terminal_and_log_lines_otherwise():
    from rpf.cli_progress import ProgressPrinter

    term, plain = _Terminal(), io.StringIO()
    for stream in (term, plain):
        printer = ProgressPrinter(2, stream=stream)
        for event in _events():
            printer(event)
        assert printer.done == 1 and printer.failed == 1
    assert "\r[" in term.getvalue() and "a.fits: detect" in term.getvalue() and "1/2 frames" in term.getvalue()
    assert "\r" not in plain.getvalue() and "[" not in plain.getvalue()
    lines = plain.getvalue().splitlines()
    assert lines[1] == "rpf: FAILED /d/b.fits: not a FITS file"
    assert lines[2].startswith("rpf: finished 1/2 frames ok, 1 failed")
