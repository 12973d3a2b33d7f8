"""One reader of RA/Dec for the configuration, the CLI, headers, the solver and the reference lookup (issue 10)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from rpf.astrometry.inputs import solver_hints
from rpf.config import PipelineConfig
from rpf.coords import parse_dec, parse_degrees, parse_position, parse_ra
from rpf.errors import ConfigError
from rpf.frame import FrameMeta
from rpf.io.sky import read_pointing
from rpf.pipeline.reference import fetch_reference, field_of


@pytest.mark.parametrize(
    ("value", "degrees"),
    [
        (187.5, 187.5), ("187.5", 187.5), (np.float32(10.25), 10.25), (0, 0.0), (360.0, 0.0),
        ("12 30 00", 187.5), ("12:30:00", 187.5), ("12h30m", 187.5), ("12h30m00s", 187.5), (" 12 30 ", 187.5),
        ("187d30m", 187.5), ("22:04:08", 331.0333333),
    ],
)
def test_ra_numbers_are_degrees_and_sexagesimal_is_hours(value, degrees):
    assert parse_ra(value) == pytest.approx(degrees)


@pytest.mark.parametrize(
    ("value", "degrees"),
    [(-5.5, -5.5), ("-5.5", -5.5), ("-05 30 00", -5.5), ("+20:30:00", 20.5), ("20d30m", 20.5), ("-00:55:31", -0.92528)],
)
def test_dec_is_always_degrees(value, degrees):
    assert parse_dec(value) == pytest.approx(degrees, abs=1e-5)


@pytest.mark.parametrize(
    ("parse", "value", "problem"),
    [
        (parse_ra, 400.0, "outside"), (parse_ra, -1.0, "outside"), (parse_ra, "25:00:00", "25:00:00"),
        (parse_ra, "-05 30 00", "outside"), (parse_ra, float("nan"), "finite"), (parse_ra, "inf", "finite"),
        (parse_ra, True, "boolean"), (parse_ra, "banana", "banana"), (parse_ra, "", "blank"), (parse_ra, [1], "angle"),
        (parse_dec, 95, "95"), (parse_dec, "-90 00 01", "outside"), (parse_dec, "12h30m", "hours"),
        (parse_dec, "12 61 00", "12 61 00"), (parse_dec, None, "angle"),
    ],
)
def test_bad_angles_raise_config_errors_quoting_the_value(parse, value, problem):
    with pytest.raises(ConfigError, match=problem) as error:
        parse(value)
    assert isinstance(error.value, ValueError)


def test_position_and_degrees():
    position = parse_position("12 30 00", "-05 30 00")
    assert position.ra.deg == pytest.approx(187.5) and position.dec.deg == pytest.approx(-5.5)
    assert position.frame.name == "icrs"
    assert parse_degrees("-70 48 00", what="longitude") == pytest.approx(-70.8)


def test_config_reads_the_pointing_once_in_degrees():
    cfg = PipelineConfig().replace(astrometry={"ra": "12 30 00", "dec": "+10 00 00"})
    assert (cfg.astrometry.ra, cfg.astrometry.dec) == (pytest.approx(187.5), pytest.approx(10.0))
    with pytest.raises(ConfigError, match=r"^astrometry\.dec = 95: .*outside \[-90, 90\]"):
        PipelineConfig().replace(astrometry={"ra": "12 30 00", "dec": 95})
    with pytest.raises(ConfigError, match=r"^astrometry\.ra = '25 00 00'"):
        PipelineConfig().replace(astrometry={"ra": "25 00 00", "dec": 0})
    with pytest.raises(ConfigError, match="go together"):
        PipelineConfig().replace(astrometry={"ra": "12 30 00"})


def test_a_sexagesimal_pointing_fetches_the_reference_at_187_5_degrees(tmp_path):
    """Today the reference lookup reads "12 30 00" as 12.5 deg while the solver reads 187.5 deg."""
    rng = np.random.default_rng(1)
    stars = Table({"source_id": np.arange(40), "ra": 187.5 + rng.uniform(-0.1, 0.1, 40),
                   "dec": 10.0 + rng.uniform(-0.1, 0.1, 40), "phot_g_mean_mag": rng.uniform(10, 16, 40)})
    catalogue = tmp_path / "field.csv"
    stars.write(catalogue, format="ascii.csv")
    config = PipelineConfig().replace(
        astrometry={"ra": "12 30 00", "dec": "+10 00 00"},
        catalogs={"catalog_file": str(catalogue), "reference": "file", "offline": True,
                  "cache_dir": str(tmp_path / "cache")},
    )
    meta = FrameMeta(path="f.fits", stem="f", shape=(512, 512), exptime=10.0, pixel_scale=1.0)
    ra, dec, radius = field_of(meta, None, config)
    assert (ra, dec) == (pytest.approx(187.5), pytest.approx(10.0))
    fetched = fetch_reference((ra, dec, radius), mjd=None, config=config.catalogs)
    assert fetched.table is not None and len(fetched.table) == 40, fetched.message
    hints = solver_hints(config.astrometry, meta, None)
    assert (hints.ra, hints.dec) == (pytest.approx(ra), pytest.approx(dec))
    header = fits.Header({"OBJCTRA": "12 30 00", "OBJCTDEC": "+10 00 00"})
    assert read_pointing(header, notes=[]) == (pytest.approx(ra), pytest.approx(dec))


def test_header_pointing_out_of_range_is_skipped_with_a_note():
    notes: list[str] = []
    header = fits.Header({"RA": "12 30 00", "DEC": "+95 00 00", "OBJCTRA": "01 00 00", "OBJCTDEC": "+05 00 00"})
    assert read_pointing(header, notes=notes) == (pytest.approx(15.0), pytest.approx(5.0))
    assert any("RA/DEC" in note and "outside" in note for note in notes)
