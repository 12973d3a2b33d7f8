"""A simulated night through the real pipeline (eager): quality flags, light curves, AAVSO report, two runs.

Ten 384x384 frames at airmass 1.1-2.2 (extinction 0.2 mag/airmass) with bias,
dark and flat frames and an offline reference catalogue: a variable star
(0.3 mag sine over the night), a transient from frame 5, bad seeing in
frame 3, no astrometric solution possible in frame 6, clouds (0.5 mag) in
frame 8.
"""

from __future__ import annotations

import aavso_spec
import numpy as np
import pytest
from astropy.table import Table

from rpf.config import PipelineConfig
from rpf.lightcurves import night_stars, star_lightcurve, write_aavso_extended
from rpf.lightcurves.ensemble import PERSISTENT_FLAGS
from rpf.night import compare_runs, night_quality
from rpf.pipeline import RunRequest, run_eager
from rpf.pipeline.events import FrameDone, RunFinished
from rpf.pipeline.finish import match_radius_arcsec
from rpf.simulate import (
    FrameDefect,
    InstrumentModel,
    Transient,
    VariableStar,
    field_catalog,
    simulate_calibration_frames,
    simulate_night,
    write_fits,
)

N_FRAMES = 10
SHAPE = (384, 384)
SCALE = 1.3
CENTER = (150.0, 20.0)
AMPLITUDE = 0.3
DEFECTS = {3: "fwhm", 6: "astrometry", 8: "zero_point"}


def _isolated(catalog: Table, *, mag_range: tuple[float, float], radius: float = 25.0) -> np.ndarray:
    """Rows of inner-field stars in the magnitude range without a neighbour within ``radius``" brighter than +3 mag."""
    mag = np.asarray(catalog["V_mag"], float)
    dx = (np.asarray(catalog["ra"]) - CENTER[0]) * np.cos(np.radians(CENTER[1])) * 3600
    dy = (np.asarray(catalog["dec"]) - CENTER[1]) * 3600
    half = 0.35 * SHAPE[0] * SCALE
    rows = []
    for k in np.flatnonzero((np.abs(dx) < half) & (np.abs(dy) < half) & (mag > mag_range[0]) & (mag < mag_range[1])):
        near = np.hypot(dx - dx[k], dy - dy[k]) < radius
        near[k] = False
        if not np.any(near & (mag < mag[k] + 3.0)):
            rows.append(k)
    return np.array(rows, int)


def _run(folder, paths, masters, **changes):
    config = PipelineConfig().replace(
        catalogs={"catalog_file": str(folder / "reference.csv"), "reference": "file", "offline": True,
                  "crossmatch": ()},
        output={"png": False, "zip": False},
        cosmics={"enabled": False},
        background={"box_size": 64},
        **changes,
    )
    out = folder / ("out" if not changes else "out_b")
    return list(run_eager(RunRequest(science=paths, out_dir=out, config=config, **masters))), out


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    folder = tmp_path_factory.mktemp("night_view")
    instrument = InstrumentModel(seed=21)
    catalog = field_catalog(CENTER, SHAPE, SCALE, 21)
    variable_row = _isolated(catalog, mag_range=(14.0, 15.5))[0]
    frames = simulate_night(
        N_FRAMES, seed=21, catalog=catalog, center=CENTER, shape=SHAPE, pixel_scale=SCALE, instrument=instrument,
        extinction_k=0.2, n_cosmic_rays=0, jitter_arcsec=3.0,
        variable_star=VariableStar(source_id=int(catalog["source_id"][variable_row]), amplitude_mag=AMPLITUDE,
                                   period_frames=N_FRAMES),
        transient=Transient(mag=16.0, first_frame=5),
        defects=[FrameDefect(3, seeing_factor=2.5), FrameDefect(6, unsolvable=True), FrameDefect(8, cloud_mag=0.5)],
    )
    paths = [write_fits(sim, folder / f"night_{i:02d}.fits") for i, sim in enumerate(frames)]
    calib = simulate_calibration_frames(instrument, shape=SHAPE, seed=22, n_bias=3, n_dark=3, n_flat=3)
    masters = {kind: [write_fits(data, folder / f"{kind}_{i}.fits", header) for i, (data, header) in enumerate(items)]
               for kind, items in calib.items()}
    catalog.write(folder / "reference.csv", format="ascii.csv")
    events, out = _run(folder, paths, masters)
    results = [e.result for e in events if isinstance(e, FrameDone)]
    return {"folder": folder, "paths": paths, "masters": masters, "catalog": catalog, "frames": frames,
            "events": events, "results": results, "out": out, "variable_row": variable_row}


def _index(frame_name: str) -> int:
    return int(str(frame_name).split("_")[1][:2])


def test_bad_frames_are_flagged_with_the_right_reason(night):
    finished = night["events"][-1]
    assert isinstance(finished, RunFinished) and finished.n_ok == N_FRAMES
    written = Table.read(night["out"] / "night_quality.csv", format="ascii.csv")
    quality = night_quality([r.metadata for r in night["results"]])
    assert list(written["frame"]) == list(quality.table["frame"])
    for row in quality.table:
        index = _index(row["frame"])
        codes = row["flags"].split(",") if row["flags"] else []
        if index in DEFECTS:
            assert DEFECTS[index] in codes, (index, row["reasons"])
        else:
            assert not codes, (index, row["reasons"])
    (fit,) = quality.extinction
    assert fit.k == pytest.approx(0.2, abs=0.03)
    clouds = quality.table[[_index(f) == 8 for f in quality.table["frame"]]][0]
    assert clouds["zp_residual"] == pytest.approx(-0.5, abs=0.05)


def _stars(night):
    radius = match_radius_arcsec([r.metadata for r in night["results"] if r.metadata["wcs_source"] != "none"])
    return night_stars(night["results"], radius_arcsec=radius)


def test_variable_light_curve_matches_the_truth(night, tmp_path):
    stars = _stars(night)
    assert stars.n_frames == N_FRAMES - 1  # the unsolved frame has no positions
    star = night["catalog"][night["variable_row"]]
    curve = star_lightcurve(stars, ra=float(star["ra"]), dec=float(star["dec"]))
    points = curve.points
    index = np.array([_index(f) for f in points["frame"]])
    assert set(index) == set(range(N_FRAMES)) - {6}
    truth = np.array([night["frames"][i].truth.params["night"]["variable_delta_mag"] for i in index])
    resid = np.asarray(points["diff_mag"]) - truth
    err = np.asarray(points["diff_mag_err"])
    weights = 1 / err**2
    offset = np.sum(weights * resid) / np.sum(weights)
    assert abs(offset - float(star["V_mag"])) < 0.05  # on the catalogue's scale
    chi2 = np.sum(((resid - offset) / err) ** 2) / (len(resid) - 1)
    assert chi2 < 3.0, chi2
    phase = 2 * np.pi * index / N_FRAMES
    design = np.column_stack([np.ones(index.size), np.sin(phase), np.cos(phase)])
    coef, *_ = np.linalg.lstsq(design * np.sqrt(weights)[:, None], points["diff_mag"] * np.sqrt(weights), rcond=None)
    covariance = np.linalg.inv((design * weights[:, None]).T @ design)
    amplitude = float(np.hypot(coef[1], coef[2]))
    amplitude_err = float(np.sqrt(covariance[1, 1]))
    assert abs(amplitude - AMPLITUDE) < max(3 * amplitude_err, 0.02), (amplitude, amplitude_err)
    # its comparison stars and check star are constant, as their errors say
    assert len(curve.comparison) >= 3 and len(curve.check) == 1
    assert np.all(curve.comparison["chi2_dof"] < 3.0) and curve.check["chi2_dof"][0] < 3.0
    report = write_aavso_extended(curve, tmp_path / "variable.txt", obscode="TST01", starid="RPF-VAR")
    params, rows = aavso_spec.parse(report.read_text())
    assert len(rows) == len(points) and {r["FILTER"] for r in rows} == {"V"}
    assert {r["KNAME"] for r in rows} == {str(curve.check["label"][0])}


def test_constant_stars_scatter_as_their_errors_say(night):
    stars = _stars(night)
    star = night["catalog"][night["variable_row"]]
    transient = night["frames"][-1].truth.params["night"]["transient"]
    skip = {stars.nearest(float(star["ra"]), float(star["dec"])), stars.nearest(transient["ra"], transient["dec"])}
    ra, dec = stars.positions
    chi2 = []
    for k in np.flatnonzero(stars.matrices.present.sum(axis=1) >= stars.n_frames - 1):
        curve = star_lightcurve(stars, ra=float(ra[k]), dec=float(dec[k]))
        if k not in skip and not np.any(curve.points["flags"] & int(PERSISTENT_FLAGS)):
            chi2.append(curve.chi2_dof)
    assert len(chi2) >= 20
    assert 0.5 < np.median(chi2) < 1.6, np.round(chi2, 2)


def test_two_runs_with_different_apertures_compared(night):
    paths = night["paths"][:3]
    events, _ = _run(night["folder"], paths, night["masters"], aperture={"default_radius_fwhm": 2.0})
    other = [e.result for e in events if isinstance(e, FrameDone)]
    result = compare_runs(night["results"], other)
    assert result.summary["n_frames"] == 3 and len(result.summary["only_a"]) == N_FRAMES - 3
    assert result.parameters == {"aperture.default_radius_fwhm": (1.5, 2.0)}
    frames = result.frames
    assert np.all(frames["n_matched"] >= 0.9 * frames["n_sources_a"])
    # aperture-corrected magnitudes agree whatever the aperture: within a few hundredths, within the errors
    assert abs(result.summary["median_mag_diff"]) < 0.03
    assert np.all(np.abs(frames["zero_point_diff"]) < 0.05)
