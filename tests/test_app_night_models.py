"""Night and light-curve models, headless, on the simulated demo night run eagerly.

Eight 256x256 frames at airmass 1.1-2.2 with a variable star (0.3 mag sine),
a transient, bad seeing in frame 2, no astrometric solution in frame 5 and
0.5 mag of cloud in frame 6 (:mod:`app.models.night_demo`).  The events are
fed to the model one frame at a time, as a run delivers them.
"""

from __future__ import annotations

import aavso_spec
import numpy as np
import pytest

from app.models.lightcurve import LightCurveModel, parse_target
from app.models.night import NightModel
from app.models.night_demo import demo_config, write_night_demo
from rpf.errors import ConfigError, PhotometryError, ProductError
from rpf.pipeline import RunRequest, run_eager
from rpf.pipeline.events import FrameDone, FrameFailed, RunFinished


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("night_models")
    demo = write_night_demo(folder / "frames")
    request = RunRequest(science=demo.science, bias=demo.bias, dark=demo.dark, flat=demo.flat,
                         out_dir=str(folder / "out"), config=demo_config(demo))
    return demo, list(run_eager(request))


def _fill(events):
    """Feed the events frame by frame, recording what the models held after each frame."""
    night = NightModel()
    curve = LightCurveModel(night=night)
    seen = []
    batch = []
    for event in events:
        batch.append(event)
        if isinstance(event, FrameDone | FrameFailed | RunFinished):
            night.ingest(batch)
            batch = []
            seen.append((night.finished, len(night.quality), night.version))
    return night, curve, seen


def test_night_fills_frame_by_frame_and_flags_the_defects(demo_run):
    demo, events = demo_run
    night, _, seen = _fill(events)
    n = len(demo.science)
    assert [s[0] for s in seen[:n]] == list(range(1, n + 1))
    assert [s[1] for s in seen[:n]] == list(range(1, n + 1))
    assert all(b[2] > a[2] for a, b in zip(seen[:n], seen[1:n], strict=False))
    table = night.table()
    assert list(table["index"]) == list(range(n))  # time order = run order here
    for row in table.itertuples():
        codes = row.flags.split(",") if row.flags else []
        if row.index in demo.defects:
            assert demo.defects[row.index] in codes, (row.frame, row.reasons)
            assert row.reasons
        else:
            assert codes == [], (row.frame, row.reasons)
    clouds = table[table["index"] == 6].iloc[0]
    assert "below the extinction line" in clouds["reasons"]
    assert clouds["zp_residual"] == pytest.approx(-0.5, abs=0.06)
    (fit,) = night.extinction
    assert fit["k"] == pytest.approx(0.2, abs=0.03)
    assert night.stars.n_frames == n - 1  # the unsolved frame has no positions
    assert np.isfinite(night.table()["zero_point"]).sum() >= n - 2


def test_selection_and_picked_frame(demo_run):
    _, events = demo_run
    night, _, _ = _fill(events)
    night.select([3, 1, 1, 99])
    assert night.selected == [1, 3]  # known frames only, sorted, no repeats
    night.pick(4)
    assert night.selected == [4] and night.frame == 4
    assert len(night.photometry(4)) == night.table().set_index("index").loc[4, "n_sources"]
    with pytest.raises(PhotometryError):
        night.photometry(99)


def test_variable_light_curve_matches_the_truth_and_grows_live(demo_run):
    demo, events = demo_run
    night = NightModel()
    model = LightCurveModel(night=night)
    model.pick_position(*demo.variable)
    assert model.curve is None and "no solved frame" in model.message
    lengths = []
    for event in events:
        if isinstance(event, FrameDone | FrameFailed):
            night.ingest([event])
            lengths.append(0 if model.curve is None else len(model.curve.points))
    solved = len(demo.science) - 1
    assert lengths[-1] == solved and lengths == sorted(lengths) and lengths[0] <= 1
    points = model.points()
    index = np.array([int(f.split("_")[1][:2]) for f in points["frame"]])
    truth = demo.variable_mag + np.array(demo.variable_delta)[index]
    resid = points["diff_mag"].to_numpy() - truth
    err = points["diff_mag_err"].to_numpy()
    weights = 1 / err**2
    offset = np.sum(weights * resid) / np.sum(weights)
    assert abs(offset) < 0.05  # on the catalogue's scale
    chi2 = np.sum(((resid - offset) / err) ** 2) / (len(resid) - 1)
    assert chi2 < 3.5, (chi2, resid, err)
    # comparison stars are constant as their errors say, the check star too
    stars = model.comparison_table()
    assert (stars["role"] == "comparison").sum() >= 2 and (stars["role"] == "check").sum() == 1
    assert (stars["chi2_dof"] < 3.0).all()
    assert set(model.curves()["star_id"]) == set(stars["star_id"])


def test_picking_by_text_row_star_and_user_comparison(demo_run):
    demo, events = demo_run
    night, model, _ = _fill(events)
    ra, dec = demo.variable
    assert model.pick_text(f"{ra:.6f} {dec:+.6f}")
    star = model.curve.star_id
    sexagesimal = parse_target(_sexagesimal(ra, dec))
    assert sexagesimal == pytest.approx((ra, dec), abs=1e-4)
    assert model.pick_text(_sexagesimal(ra, dec)) and model.curve.star_id == star
    label = model.curve.label  # the reference catalogue's identifier, as the cross-match names it
    assert model.pick_text(label) and model.curve.star_id == star and model.starid == label
    assert not model.pick_text("no such star") and model.message and model.curve.star_id == star
    assert not model.pick_text("150.0 95.0") and "95" in model.message
    phot = night.photometry(0)
    row = int(np.argmin(np.hypot(phot["ra"] - ra, phot["dec"] - dec)))
    assert model.pick_row(0, row) and model.curve.star_id == star
    assert model.pick_star(star) and model.curve.star_id == star
    chosen = [int(s) for s in model.curve.comparison["star_id"][:2]]
    model.use_comparison(chosen)
    assert sorted(int(s) for s in model.curve.comparison["star_id"]) == sorted(chosen)
    model.use_comparison([])
    assert len(model.curve.comparison) >= 2


def _sexagesimal(ra: float, dec: float) -> str:
    from astropy.coordinates import SkyCoord

    coord = SkyCoord(ra, dec, unit="deg")
    return coord.to_string("hmsdms", sep=":", precision=3)


def test_exports_csv_and_aavso(demo_run):
    demo, events = demo_run
    _, model, _ = _fill(events)
    model.pick_position(*demo.variable)
    csv = model.csv_text().splitlines()
    assert csv[0].split(",")[:3] == ["frame", "mjd", "jd"] and len(csv) == len(model.curve.points) + 1
    with pytest.raises(ProductError, match="observer code"):
        model.aavso_text()
    model.obscode = "TST01"
    params, rows = aavso_spec.parse(model.aavso_text())
    assert params["OBSCODE"] == "TST01" and len(rows) == len(model.curve.points)
    assert {r["CNAME"] for r in rows} == {"ENSEMBLE"} and {r["KNAME"] for r in rows} == {model.curve.check["label"][0]}
    assert model.download("csv").getvalue().decode().splitlines() == csv
    assert model.file_name("aavso.txt").endswith("_aavso.txt")


def test_parse_target():
    assert parse_target("150.25 -20.5") == pytest.approx((150.25, -20.5))
    assert parse_target("10 01 00 +20 30 00") == pytest.approx((150.25, 20.5))
    assert parse_target("V0001 Tst") is None and parse_target("Gaia 12345") is None
    with pytest.raises(ConfigError):
        parse_target("400 10")


class _Feed:
    """Hands a run's real events to a RunController one frame per poll (the transport of a RunHandle)."""

    def __init__(self, events):
        self.batches, batch = [], []
        for event in events:
            batch.append(event)
            if isinstance(event, FrameDone | FrameFailed | RunFinished):
                self.batches.append(batch)
                batch = []

    def poll(self):
        return self.batches.pop(0) if self.batches else []


def test_follows_the_dashboard_run_controller(demo_run, tmp_path):
    from app.models.run import RunController, initial_rows

    demo, events = demo_run
    run = RunController(folder=str(tmp_path))
    night = NightModel()
    night.follow(run)
    run.paths = list(demo.science)
    run.frames = initial_rows(run.paths)
    assert night.n_frames == len(demo.science) and night.finished == 0
    run._handle = _Feed(events)
    counts = []
    while run.poll():
        counts.append(night.finished)
    assert counts[: len(demo.science)] == list(range(1, len(demo.science) + 1))
    flags = dict(zip(night.quality["index"], night.quality["flags"], strict=True))
    for index, code in demo.defects.items():
        assert code in flags[index].split(",")
    assert night.stars.n_frames == len(demo.science) - 1
    night.unfollow()
    run.frames = initial_rows(run.paths[:2])
    assert night.finished == len(demo.science)  # no longer following


def test_failed_frame_is_flagged_with_its_stage_and_message(demo_run, tmp_path):
    import dataclasses

    demo, events = demo_run
    broken = tmp_path / "broken.fits"
    broken.write_text("not a FITS file")
    request = RunRequest(science=(str(broken),), out_dir=str(tmp_path / "out"), config=demo_config(demo))
    (failed,) = [e for e in run_eager(request) if isinstance(e, FrameFailed)]
    night = NightModel()
    night.ingest(events)
    night.ingest([dataclasses.replace(failed, index=len(demo.science))])
    row = night.table().set_index("index").loc[len(demo.science)]
    assert row["status"] != "ok" and row["flags"] == "failed"
    assert "broken.fits" in row["reasons"] and row["reasons"].startswith(f"{row['status']} in {failed.stage}")
    assert night.finished == len(demo.science) + 1
