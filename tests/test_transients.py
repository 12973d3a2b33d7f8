"""Transient candidates: significant point sources that no catalogue explains."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from rpf.flags import SourceFlag
from rpf.transients import find_transient_candidates, flag_transient_candidates


def _phot() -> Table:
    return Table({
        "id": np.arange(7),
        "x": np.arange(7) * 10.0,
        "y": np.arange(7) * 10.0,
        "ra": np.linspace(81.2, 81.3, 7),
        "dec": np.full(7, 4.5),
        "mag": np.full(7, 15.0),
        "snr": [50.0, 50.0, 50.0, 5.0, 50.0, 50.0, 50.0],
        "flags": [0, 0, 0, 0, int(SourceFlag.SATURATED), int(SourceFlag.EDGE | SourceFlag.BLENDED),
                  int(SourceFlag.BLENDED)],
    })


def test_transient_candidates():
    phot = _phot()
    labels = Table({
        "skybot_name": ["", "", "(1) Ceres", "", "", "", ""],
        "simbad_id": ["", "", "", "", "", "", "SN 2025x"],
        "simbad_otype": ["", "", "", "", "", "", "SN*"],
        "vsx_name": [""] * 7, "vsx_type": [""] * 7,
        "colibri_name": ["", "", "", "", "", "", "AT 2025x"], "colibri_type": [""] * 7,
    })
    matched = np.array([True, False, False, False, False, False, False])
    out, transients = find_transient_candidates(phot, labels, reference_matched=matched)
    # 0 has a Gaia counterpart, 2 is an asteroid, 3 is faint, 4 saturated, 5 at the edge
    assert list(out["transient_candidate"]) == [False, True, False, False, False, False, True]
    assert list(transients["id"]) == [1, 6]
    assert transients["colibri_name"][1] == "AT 2025x" and transients["simbad_otype"][1] == "SN*"
    assert out["flags"][6] == int(SourceFlag.BLENDED | SourceFlag.TRANSIENT_CANDIDATE)
    assert list(phot["flags"]) == list(_phot()["flags"])  # input untouched


def test_flag_transient_candidates_on_a_pipeline_table():
    phot = _phot()
    phot["cat_id"] = ["123", "", "", "", "", "", ""]
    phot["skybot_name"] = ["", "", "(1) Ceres", "", "", "", ""]
    out = flag_transient_candidates(phot)
    assert list(np.flatnonzero(out["transient_candidate"])) == [1, 6]
    # without a reference catalogue nothing can be called new
    assert not flag_transient_candidates(_phot())["transient_candidate"].any()
