"""The IERS table kept on disk gives astropy the same Earth orientation, to the bit, as parsing its files."""

import logging
import os
import shutil

import numpy as np
import pytest
from astropy.time import Time
from astropy.utils import iers

from rpf.airmass import compute_airmass
from rpf.earth_orientation import cache_file, use_cached_earth_orientation
from rpf.site import find_observatory

OHP = find_observatory("511")
MJDS = np.array([51544.5, 58000.25, 60500.85, 61000.1])  # from IERS-B years to the predictions


@pytest.fixture
def fresh_iers():
    """No IERS table loaded in this process for the test; the process's own table back afterwards."""
    before = iers.IERS_Auto.iers_table
    iers.IERS_Auto.iers_table = None
    try:
        with iers.conf.set_temp("auto_download", False), iers.conf.set_temp("auto_max_age", None):
            yield
    finally:
        iers.IERS_Auto.iers_table = before


def _orientation():
    """UT1-UTC, polar motion and CIP offsets as astropy looks them up, plus an airmass and the Sun's altitude."""
    table = iers.earth_orientation_table.get()
    times = Time(MJDS, format="mjd", scale="utc")
    ut1 = table.ut1_utc(times, return_status=True)
    pm = table.pm_xy(times, return_status=True)
    cip = table.dcip_xy(times, return_status=True)
    airmass = compute_airmass(ra=280.0, dec=40.0, mjd_start=60500.85, exptime=60.0, site=OHP)
    values = [np.asarray(v.value if hasattr(v, "value") else v) for group in (ut1, pm, cip) for v in group]
    return values, (airmass.airmass, airmass.sun_alt_deg, airmass.altitude_deg), np.asarray(times.ut1.jd2)


def test_cached_table_gives_the_parsed_values_bit_for_bit(tmp_path, fresh_iers):
    parsed = _orientation()  # astropy parses its files
    iers.IERS_Auto.iers_table = None
    assert use_cached_earth_orientation(tmp_path) == "built"
    assert cache_file(tmp_path).is_file()
    assert use_cached_earth_orientation(tmp_path) == "present"  # already in use: left alone
    iers.IERS_Auto.iers_table = None
    assert use_cached_earth_orientation(tmp_path) == "loaded"
    cached = _orientation()
    for a, b in zip(parsed[0], cached[0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert parsed[1] == cached[1]
    assert 1.0 < cached[1][0] < 3.0  # a real airmass, not a default
    np.testing.assert_array_equal(parsed[2], cached[2])


def test_unreadable_cache_is_parsed_again_and_rewritten(tmp_path, fresh_iers, caplog):
    path = cache_file(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a numpy file")
    earlier = []  # other IERS releases' files, the oldest first
    for age, name in enumerate("abcd"):
        earlier.append(tmp_path / f"iers-{name * 20}.npz")
        earlier[-1].write_bytes(b"old")
        os.utime(earlier[-1], (1e9 + age, 1e9 + age))
    with caplog.at_level(logging.WARNING, logger="rpf.earth_orientation"):
        assert use_cached_earth_orientation(tmp_path) == "built"
    assert "unreadable" in caplog.text and path.name in caplog.text
    assert path.is_file() and [f.exists() for f in earlier] == [False, False, True, True]  # 3 kept
    iers.IERS_Auto.iers_table = None
    assert use_cached_earth_orientation(tmp_path) == "loaded"


def test_new_iers_data_gets_a_new_cache_file(tmp_path, monkeypatch):
    copy = tmp_path / "finals2000A.all"
    shutil.copyfile(iers.IERS_A_FILE, copy)
    before = cache_file(tmp_path)
    monkeypatch.setattr(iers, "IERS_A_FILE", str(copy))
    os.utime(copy, ns=(1, 1))
    assert cache_file(tmp_path) == before  # the same data elsewhere (another environment): the same file
    with copy.open("a") as handle:
        handle.write("\n")
    assert cache_file(tmp_path) != before  # a new release


def test_no_cache_folder_does_nothing(fresh_iers):
    assert use_cached_earth_orientation(None) == "off"
    assert iers.IERS_Auto.iers_table is None
