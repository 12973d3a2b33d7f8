"""Command-line options go through the configuration's field checks (issue 11, item 11).

Every bad option or configuration file ends with a message on stderr and exit status 2 (the
contract allows 0 and 2), never a traceback, and before any frame is touched.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rpf.cli import build_parser, config_from_args, main

RPF = str(Path(sys.executable).parent / "rpf")


def _main(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse reports bad options by exiting
            status = exc.code
    return status, err.getvalue()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--ra", "10:00:00", "--dec", "95"], r"argument --dec: astrometry\.dec = '95': declination '95' is outside"),
        (["--ra", "25:00:00", "--dec", "5"], r"argument --ra: astrometry\.ra = '25:00:00'"),
        (["--ra", "banana", "--dec", "5"], r"argument --ra: astrometry\.ra = 'banana'"),
        (["--workers", "0"], r"argument --workers: execution\.n_workers = 0: must be an integer in \[1, 1024\]"),
        (["--workers", "two"], r"argument --workers: execution\.n_workers = 'two'"),
        (["--pixel-scale", "0"], r"argument --pixel-scale: astrometry\.pixel_scale = 0\.0: must be a finite number"),
        (["--pixel-scale", "nan"], r"argument --pixel-scale: astrometry\.pixel_scale = nan"),
        (["--pixel-scale", "-1"], r"argument --pixel-scale: astrometry\.pixel_scale = -1\.0"),
        (["--ra", "10:00:00"], r"configuration error: astrometry\.ra = 150\.0: astrometry\.ra and astrometry\.dec"),
    ],
)
def test_bad_options_exit_2_naming_the_option_and_the_rule(tmp_path, options, message):
    frame = tmp_path / "missing.fits"  # never opened: options are checked first
    status, err = _main(["run", str(frame), "--out", str(tmp_path / "out"), *options])
    assert status == 2
    assert re.search(message, err), err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_good_options_are_read_by_the_one_parser(tmp_path):
    args = build_parser().parse_args(["run", "a.fits", "--out", str(tmp_path), "--ra", "12 30 00", "--dec",
                                      "-05 30 00", "--pixel-scale", "1.5", "--workers", "1"])
    config = config_from_args(args)
    assert (config.astrometry.ra, config.astrometry.dec) == (pytest.approx(187.5), pytest.approx(-5.5))
    assert config.astrometry.pixel_scale == config.header.pixel_scale == 1.5 and config.execution.n_workers == 1


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("bad.toml", b"[detection]\nx = \"\xff\"\n", "not UTF-8"),
        ("scalar.toml", b"detection = 5\n", r"\[detection\] must be a table"),
        ("broken.yaml", b"a: [1, 2\n", "cannot parse"),
        ("nthresh.toml", b"[detection]\ndeblend_nthresh = -5\n", r"detection\.deblend_nthresh = -5"),
        ("limit.toml", b"[execution]\nmemory_limit = \"banana\"\n", r"execution\.memory_limit = 'banana'"),
    ],
)
def test_bad_config_files_exit_2_with_one_message(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    done = subprocess.run([RPF, "run", str(tmp_path / "x.fits"), "--out", str(tmp_path / "out"), "--config",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert re.search(problem, done.stderr) and str(path) in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
