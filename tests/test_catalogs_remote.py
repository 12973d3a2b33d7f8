"""Live services (skipped by default; run with ``pytest -m remote_data``)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from rpf.catalogs import PROVIDERS, Cone, crossmatch_sources, get_reference, query_service
from rpf.config import CatalogConfig

pytestmark = pytest.mark.remote_data


def test_live_gaia_m13(tmp_path):
    ref = get_reference(250.4235, 36.4613, 0.05, epoch_mjd=60000.0, band="V",
                        config=CatalogConfig(cache_dir=str(tmp_path), mag_limit=16.0))
    assert ref.meta["catalog"] == "gaia_dr3" and len(ref) > 50
    assert np.isfinite(ref["V_mag"]).sum() > 10


@pytest.mark.parametrize("service", ["simbad", "vsx", "milliquas"])
def test_live_label_services(tmp_path, service):
    result = query_service(PROVIDERS[service], Cone(250.4235, 36.4613, 0.1),
                           config=CatalogConfig(cache_dir=str(tmp_path), timeout_s=30))
    assert "ra" in result.table.colnames


def test_live_skybot_topocentric(tmp_path):
    # Ceres on 2025-01-02 00:00 UTC from Calern (MPC 010)
    config = CatalogConfig(cache_dir=str(tmp_path), mpc_code="010", crossmatch=("skybot",), timeout_s=30)
    cone = Cone(326.0, -21.5, 2.0, epoch_mjd=60677.0)
    table = query_service(PROVIDERS["skybot"], cone, config=config).table
    assert len(table) > 0
    labels, reports = crossmatch_sources(Table({"ra": table["ra"][:1], "dec": table["dec"][:1]}), mjd=60677.0,
                                         site=None, fwhm_arcsec=2.0, wcs_rms_arcsec=0.3, config=config)
    assert reports[0].status == "ok" and labels["skybot_name"][0] != ""
