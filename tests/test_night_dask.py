"""A simulated night through the real pipeline on a LocalCluster: light curves and extinction.

Eight 512x512 frames at airmass 1.1-2.2 with bias, dark and flat frames, a
reference catalogue file (offline, no cross-match services), one variable
star (0.3 mag sine over the night), one transient from the fifth frame on
and an extinction of 0.2 mag/airmass.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from rpf.config import PipelineConfig
from rpf.pipeline import RunRequest
from rpf.pipeline.events import FrameDone, RunFinished
from rpf.pipeline.extinction import fit_night_extinction
from rpf.pipeline.runner import run
from rpf.simulate import (
    InstrumentModel,
    Transient,
    VariableStar,
    field_catalog,
    simulate_calibration_frames,
    simulate_night,
    write_fits,
)

N_FRAMES = 8
SHAPE = (512, 512)
K_TRUE = 0.2
AMPLITUDE = 0.3
FIRST_TRANSIENT = N_FRAMES // 2
CENTER = (150.0, 20.0)


def _isolated_star(catalog: Table, *, mag_range: tuple[float, float]) -> int:
    """A star of the inner field with no neighbour within 20" brighter than it + 3 mag."""
    mag = np.asarray(catalog["V_mag"], float)
    dx = (np.asarray(catalog["ra"]) - CENTER[0]) * np.cos(np.radians(CENTER[1])) * 3600
    dy = (np.asarray(catalog["dec"]) - CENTER[1]) * 3600
    inner = (np.abs(dx) < 0.3 * SHAPE[1]) & (np.abs(dy) < 0.3 * SHAPE[0])
    for k in np.flatnonzero(inner & (mag > mag_range[0]) & (mag < mag_range[1])):
        near = np.hypot(dx - dx[k], dy - dy[k]) < 20.0
        near[k] = False
        if not np.any(near & (mag < mag[k] + 3.0)):
            return int(catalog["source_id"][k])
    raise AssertionError("no isolated star to make variable")


@pytest.fixture(scope="module")
def night(tmp_path_factory, dask_cluster):
    folder = tmp_path_factory.mktemp("night")
    instrument = InstrumentModel(seed=11)
    catalog = field_catalog(CENTER, SHAPE, 1.0, 11)
    variable_id = _isolated_star(catalog, mag_range=(14.5, 16.0))
    frames = simulate_night(
        N_FRAMES,
        seed=11,
        catalog=catalog,
        center=CENTER,
        shape=SHAPE,
        instrument=instrument,
        extinction_k=K_TRUE,
        variable_star=VariableStar(source_id=variable_id, amplitude_mag=AMPLITUDE),
        transient=Transient(mag=16.0, first_frame=FIRST_TRANSIENT),
    )
    science = [write_fits(sim, folder / f"night_{i:02d}.fits") for i, sim in enumerate(frames)]
    calib = simulate_calibration_frames(instrument, shape=SHAPE, seed=12, n_bias=3, n_dark=3, n_flat=3)
    masters = {
        kind: [write_fits(data, folder / f"{kind}_{i}.fits", header) for i, (data, header) in enumerate(items)]
        for kind, items in calib.items()
    }
    catalog.write(folder / "reference.csv", format="ascii.csv")
    offline = {"catalog_file": str(folder / "reference.csv"), "reference": "file", "offline": True, "crossmatch": ()}
    config = PipelineConfig().replace(catalogs=offline, output={"png": False, "zip": False, "calibrated_fits": False})
    request = RunRequest(science=science, out_dir=folder / "out", config=config, differential=True, **masters)
    events = list(run(request, client=dask_cluster.client))
    return {"frames": frames, "events": events, "finished": events[-1], "variable_id": variable_id}


def _star_at(curves: Table, ra: float, dec: float) -> tuple[int, float]:
    ids, first = np.unique(curves["star_id"], return_index=True)
    sep = np.hypot((curves["ra"][first] - ra) * np.cos(np.radians(dec)), curves["dec"][first] - dec) * 3600
    return int(ids[np.argmin(sep)]), float(sep.min())


def _frame_index(names) -> np.ndarray:
    return np.array([int(Path(str(n)).stem.split("_")[1]) for n in names])


def test_every_frame_is_calibrated(night):
    finished = night["finished"]
    assert isinstance(finished, RunFinished) and finished.ok, finished.messages
    done = [e for e in night["events"] if isinstance(e, FrameDone)]
    assert all(e.zero_point is not None and e.metadata["n_calib_stars"] >= 10 for e in done)


@pytest.mark.parametrize("column", ["mag", "diff_mag"])
def test_light_curves_recover_variable_constant_stars_and_transient(night, column):
    curves = Table.read(night["finished"].lightcurves_csv, format="ascii.csv")
    truth0 = night["frames"][0].truth
    var = truth0.stars[truth0.stars["source_id"] == night["variable_id"]][0]
    variable, sep = _star_at(curves, var["ra"], var["dec"])
    assert sep < 1.0
    info = night["frames"][0].truth.params["night"]["transient"]
    transient, sep = _star_at(curves, info["ra"], info["dec"])
    assert sep < 1.0

    # the variable: amplitude of a sine with the simulated period, by least squares
    rows = curves[curves["star_id"] == variable]
    index = _frame_index(rows["frame"])
    assert sorted(index) == list(range(N_FRAMES))
    phase = 2 * np.pi * index / N_FRAMES
    design = np.column_stack([np.ones(index.size), np.sin(phase), np.cos(phase)])
    coef, *_ = np.linalg.lstsq(design, np.asarray(rows[column], float), rcond=None)
    assert abs(np.hypot(coef[1], coef[2]) - AMPLITUDE) < 0.1 * AMPLITUDE
    assert coef[1] > 0  # fainter (larger magnitude) in the first half, as simulated

    # constant stars seen unflagged in every frame: scatter within 1.3x their errors
    err_column = "diff_mag_err" if column == "diff_mag" else "mag_err"
    ratios = []
    for star in set(curves["star_id"]) - {variable, transient}:
        rows = curves[curves["star_id"] == star]
        if len(rows) == N_FRAMES and not np.any(rows["flags"]):
            ratios.append(np.std(rows[column], ddof=1) / np.median(rows[err_column]))
    assert len(ratios) >= 20
    assert np.median(ratios) < 1.3

    # the transient: from its first frame on, and not before; at its magnitude
    rows = curves[curves["star_id"] == transient]
    assert sorted(_frame_index(rows["frame"])) == list(range(FIRST_TRANSIENT, N_FRAMES))
    if column == "mag":
        assert abs(np.median(rows["mag"]) - info["mag"]) < 0.1


def test_night_extinction_is_recovered(night):
    finished = night["finished"]
    assert len(finished.extinction) == 1
    fit = finished.extinction[0]
    assert fit["band"] == "V" and fit["n_candidates"] == N_FRAMES
    assert abs(fit["k"] - K_TRUE) < 0.02
    assert 0 < fit["k_err"] < 0.02
    assert fit["airmass_min"] == pytest.approx(1.1, abs=0.01) and fit["airmass_max"] == pytest.approx(2.2, abs=0.01)
    written = json.loads(Path(finished.extinction_json).read_text())
    assert written["bands"][0]["k"] == pytest.approx(fit["k"])
    assert json.dumps(finished.to_dict())


def _meta(frame, zp, airmass, *, band="V", status="ok"):
    return {
        "frame": frame,
        "status": status,
        "band": band,
        "zero_point": zp,
        "zero_point_err": 0.005,
        "airmass": airmass,
    }


def test_extinction_needs_enough_frames_and_airmass():
    rng = np.random.default_rng(0)
    airmass = np.linspace(1.0, 2.0, 6)
    zp = 23.0 - 0.15 * airmass + rng.normal(0, 0.005, airmass.size)
    metadata = [_meta(f"f{i}", z, x) for i, (z, x) in enumerate(zip(zp, airmass, strict=True))]
    metadata.append(_meta("cloud", 22.0, 1.5))  # a clouded frame, clipped
    metadata.append(_meta("bad", 10.0, 1.5, status="failed"))  # a failed frame, ignored
    metadata += [_meta("r0", 22.5, 1.2, band="R"), _meta("r1", 22.4, 1.3, band="R"), _meta("r2", 22.4, 1.35, band="R")]
    metadata += [_meta("i0", 22.0, 1.2, band="I"), _meta("i1", 21.8, 2.0, band="I")]
    fits, messages = fit_night_extinction(metadata)
    assert [f.band for f in fits] == ["V"]
    assert fits[0].k == pytest.approx(0.15, abs=0.02)
    assert (fits[0].n_candidates, fits[0].n_frames) == (7, 6)
    assert "bad" not in fits[0].frames
    assert messages == ["extinction in R: not fitted (airmass spans 0.15; need 0.3)"]

