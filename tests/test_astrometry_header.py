"""Header WCS validation, manual WCS, geometry and header round trip."""

import os

import astropy
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from rpf.astrometry import (
    header_wcs,
    manual_wcs,
    sky_coordinates,
    wcs_geometry,
    wcs_to_header,
)
from rpf.coords import parse_dec, parse_ra
from rpf.errors import AstrometryError, ConfigError
from rpf.simulate.wcs import make_tan_wcs

M13 = os.path.join(os.path.dirname(astropy.__file__), "io/fits/hdu/compressed/tests/data/m13.fits")


def _header(cd, crval=(150.0, 20.0)):
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = crval
    h["CRPIX1"], h["CRPIX2"] = 256.5, 256.5
    for (i, j), v in np.ndenumerate(np.asarray(cd)):
        h[f"CD{i + 1}_{j + 1}"] = v
    return h


def test_rotated_90_degrees_is_valid():
    s = 1.0 / 3600
    wcs = header_wcs(_header([[0.0, s], [s, 0.0]]), shape=(512, 512))
    geo = wcs_geometry(wcs, shape=(512, 512))
    assert geo.pixel_scale_arcsec == pytest.approx(1.0)
    assert geo.rotation_deg == pytest.approx(90.0) or geo.rotation_deg == pytest.approx(270.0)
    assert geo.center_ra == pytest.approx(150.0, abs=1e-3)


def test_mirrored_is_valid_and_reported_flipped():
    s = 1.0 / 3600
    wcs = header_wcs(_header([[s, 0.0], [0.0, s]]), shape=(512, 512))
    assert wcs_geometry(wcs, shape=(512, 512)).flipped


@pytest.mark.parametrize("cd", [[[1e-4, 1e-4], [1e-4, 1e-4]], [[0.0, 0.0], [0.0, 0.0]]])
def test_singular_cd_rejected(cd):
    with pytest.raises(AstrometryError, match="singular"):
        header_wcs(_header(cd), shape=(512, 512))


def test_implausible_scale_and_missing_wcs_rejected():
    with pytest.raises(AstrometryError, match="pixel scale"):
        header_wcs(_header([[-1e-9, 0], [0, 1e-9]]), shape=(512, 512))
    with pytest.raises(AstrometryError, match="no WCS"):
        header_wcs(fits.Header({"OBJECT": "x"}), shape=(512, 512))


def test_sip_kept():
    h = _header([[-2.8e-4, 0.0], [0.0, 2.8e-4]])
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    h["A_ORDER"], h["B_ORDER"], h["A_2_0"], h["B_0_2"] = 2, 2, 1e-5, -2e-5
    wcs = header_wcs(h, shape=(512, 512))
    assert wcs.sip is not None and wcs.sip.a[2, 0] == pytest.approx(1e-5)
    out = wcs_to_header(wcs)
    assert out["A_2_0"] == pytest.approx(1e-5) and out["CTYPE1"].endswith("-SIP")


def test_m13_header_read():
    header = fits.getheader(M13)
    wcs = header_wcs(header, shape=(300, 300))
    geo = wcs_geometry(wcs, shape=(300, 300))
    assert geo.pixel_scale_arcsec == pytest.approx(0.99972, rel=1e-4)
    assert geo.center_ra == pytest.approx(250.4226, abs=1e-3) and not geo.flipped


@pytest.mark.parametrize(("rotation", "flip"), [(0.0, False), (30.0, True), (123.0, False), (300.0, True)])
def test_manual_wcs_matches_simulator_convention(rotation, flip):
    shape = (400, 600)
    mine = manual_wcs(ra="10:00:00", dec="+20:00:00", pixel_scale=1.5, shape=shape, rotation_deg=rotation, flip=flip)
    truth = make_tan_wcs(center=(150.0, 20.0), shape=shape, pixel_scale=1.5, rotation_deg=rotation, flip=flip)
    x, y = np.array([0.0, 599.0, 100.0]), np.array([0.0, 399.0, 300.0])
    assert np.allclose(mine.all_pix2world(x, y, 0), truth.all_pix2world(x, y, 0), atol=1e-9)
    geo = wcs_geometry(mine, shape=shape)
    assert geo.rotation_deg == pytest.approx(rotation) and geo.flipped == flip


def test_parse_angles():
    assert parse_ra("22:04:08") == pytest.approx(331.0333, abs=1e-3)
    assert parse_ra(331.5) == 331.5
    assert parse_dec("-00:55:31") == pytest.approx(-0.92528, abs=1e-4)
    with pytest.raises(ConfigError, match="95"):
        parse_dec("95")
    with pytest.raises(AstrometryError):
        manual_wcs(ra=1, dec=2, pixel_scale=0.0, shape=(10, 10))


def test_sky_coordinates_and_header_round_trip():
    from astropy.table import QTable

    wcs = make_tan_wcs(center=(10.0, -30.0), shape=(100, 100), pixel_scale=2.0, rotation_deg=45)
    table = QTable({"x": [0.0, 49.5], "y": [0.0, 49.5]})
    ra, dec = sky_coordinates(table, wcs)
    assert ra[1] == pytest.approx(10.0) and dec[1] == pytest.approx(-30.0)
    again = WCS(wcs_to_header(wcs))
    assert np.allclose(again.all_pix2world([3.0], [7.0], 0), wcs.all_pix2world([3.0], [7.0], 0))
    ra, dec = sky_coordinates(table, None)
    assert np.all(np.isnan(ra)) and np.all(np.isnan(dec))
