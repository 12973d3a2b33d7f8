import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time

from rpf.airmass import compute_airmass
from rpf.config import HeaderDefaults
from rpf.errors import ConfigError
from rpf.frame import FrameMeta
from rpf.simulate import airmass_at
from rpf.site import (
    PRESET_OBSERVATORIES,
    Observatory,
    find_observatory,
    load_observatories,
    resolve_site,
    save_observatories,
)

OHP = find_observatory("511")
MJD = 60500.85  # 2024-07-16 20:24 UTC


def _meta(**kw):
    return FrameMeta(path="f.fits", stem="f", shape=(10, 10), exptime=60.0, **kw)


@pytest.mark.parametrize(
    "kwargs",
    [dict(lat=91.0, lon=0.0), dict(lat=0.0, lon=400.0), dict(lat=0.0, lon=0.0, elev=1e5),
     dict(lat=float("nan"), lon=0.0), dict(lat=0.0, lon=0.0, mpc_code="5111")],
)
def test_observatory_rejects_invalid_values(kwargs):
    with pytest.raises(ConfigError):
        Observatory("bad", **kwargs)


def test_presets_found_by_code_and_name_prefix():
    assert OHP.name.startswith("Observatoire de Haute-Provence")
    assert find_observatory("pic du midi").mpc_code == "586"
    assert find_observatory("Mauna").mpc_code == "568"
    assert len({s.mpc_code for s in PRESET_OBSERVATORIES}) == len(PRESET_OBSERVATORIES)
    with pytest.raises(ConfigError, match="unknown"):
        find_observatory("Nowhere Observatory")
    with pytest.raises(ConfigError, match="ambiguous"):
        find_observatory("C")  # Calern and Cerro Tololo


def test_resolve_site_order_header_name_config(tmp_path):
    header_site = resolve_site(_meta(site_lat=10.0, site_lon=20.0, site_elev=30.0))
    assert (header_site.lat, header_site.lon, header_site.elev) == (10.0, 20.0, 30.0)
    assert resolve_site(_meta(observatory="Pic du Midi")).mpc_code == "586"
    mine = Observatory("Backyard", 45.0, 4.0, 200.0)
    path = tmp_path / "sites.json"
    save_observatories([mine], path)
    saved = load_observatories(path)
    assert saved == (mine,)
    assert resolve_site(_meta(observatory="backyard"), saved=saved) == mine
    cfg = HeaderDefaults(site_lat=-30.0, site_lon=-70.0, site_elev=2000.0)
    assert resolve_site(_meta(observatory="Unlisted"), cfg).lat == -30.0
    assert resolve_site(_meta(), HeaderDefaults(observatory="809")).name.startswith("La Silla")
    assert resolve_site(_meta(), HeaderDefaults()) is None
    path.write_text('[{"name": "x", "lat": 100, "lon": 0}]')
    with pytest.raises(ConfigError):
        load_observatories(path)


def _astropy_secz(ra, dec, mjd, site):
    loc = EarthLocation.from_geodetic(lon=site.lon * u.deg, lat=site.lat * u.deg, height=site.elev * u.m)
    frame = AltAz(obstime=Time(mjd, format="mjd"), location=loc)
    return float(SkyCoord(ra * u.deg, dec * u.deg).transform_to(frame).secz)


@pytest.mark.parametrize("ra,dec", [(280.0, 40.0), (250.0, 10.0), (300.0, -5.0)])
def test_computed_airmass_matches_astropy_altaz(ra, dec):
    res = compute_airmass(ra=ra, dec=dec, mjd_start=MJD, exptime=120.0, site=OHP)
    assert res.source == "computed"
    mid = MJD + 60.0 / 86400
    assert abs(res.airmass - _astropy_secz(ra, dec, mid, OHP)) < 0.001
    # independent implementation in the simulator
    site = (OHP.lat, OHP.lon, OHP.elev)
    assert abs(res.airmass - airmass_at(ra=ra, dec=dec, time=Time(mid, format="mjd"), site=site)) < 0.001
    later = compute_airmass(ra=ra, dec=dec, mjd_start=MJD + 0.05, exptime=120.0, site=OHP)
    assert -20 < res.sun_alt_deg < 0  # dusk at OHP in July, 20:25 UTC
    assert later.sun_alt_deg < res.sun_alt_deg - 5  # the Sun is setting


def test_long_exposure_uses_mean_airmass():
    ra, dec, exptime = 300.0, -5.0, 7200.0
    res = compute_airmass(ra=ra, dec=dec, mjd_start=MJD, exptime=exptime, site=OHP)
    times = np.linspace(0, exptime, 121)
    samples = [_astropy_secz(ra, dec, MJD + t / 86400, OHP) for t in times]
    assert abs(res.airmass - np.trapezoid(samples, times) / exptime) < 0.002
    assert abs(res.airmass - _astropy_secz(ra, dec, MJD + exptime / 2 / 86400, OHP)) > 0.002
    assert "mean" in res.message


def test_header_airmass_preferred_when_sane():
    res = compute_airmass(ra=280.0, dec=40.0, mjd_start=MJD, exptime=60.0, site=OHP, header_airmass=1.234)
    assert (res.airmass, res.source) == (1.234, "header")
    bad = compute_airmass(ra=280.0, dec=40.0, mjd_start=MJD, exptime=60.0, site=OHP, header_airmass=0.0)
    assert bad.source == "computed" and "ignored" in bad.message


def test_no_site_and_no_header_says_so_instead_of_zero():
    res = compute_airmass(ra=280.0, dec=40.0, mjd_start=MJD, exptime=60.0, site=None, header_airmass=None)
    assert res.airmass is None and res.source == "none"
    assert "site" in res.message
    low = compute_airmass(ra=100.0, dec=-60.0, mjd_start=MJD, exptime=60.0, site=OHP)
    assert low.airmass is None and "below the horizon" in low.message
