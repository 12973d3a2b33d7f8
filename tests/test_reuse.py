"""Re-run only what changed (issue 13 item 3): provenance hashes, checkpoints, reuse, ``--force``.

One simulated 256² frame with masters and a reference catalogue file.  Which
steps a re-run computes is read from its events (``StageDone.reused``) and
checked against the contract: a change of configuration section S recomputes
from the first step that reads S (``STAGE_SECTIONS``) to the end; the
results then equal those of a fresh run with the same parameters.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from distributed import Client, LocalCluster

from rpf.config import PipelineConfig
from rpf.pipeline import STAGE_NAMES, STAGE_SECTIONS, RunRequest, run, run_eager
from rpf.pipeline.checkpoint import CHECKPOINTS
from rpf.pipeline.events import FrameDone, RunFinished, StageDone
from rpf.simulate import write_demo_dataset

ZERO_POINT_CHANGE = {"zeropoint": {"clip_sigma": 2.5, "min_snr": 8.0}}


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reuse")
    paths = write_demo_dataset(folder / "raw", n_frames=1, seed=3, shape=(256, 256))
    config = PipelineConfig().replace(
        catalogs={"catalog_file": str(paths["catalog"]), "reference": "file", "offline": True, "crossmatch": ()},
        output={"png": False, "zip": False},
    )
    return folder, paths, config


def _request(night, out: Path, config: PipelineConfig, **options) -> RunRequest:
    _, paths, _ = night
    return RunRequest(science=paths["science"], out_dir=out, bias=paths["bias"], dark=paths["dark"],
                      flat=paths["flat"], config=config, **options)


def _steps(events, *, reused: bool) -> list[str]:
    return [e.stage for e in events if isinstance(e, StageDone) and e.reused is reused]


def _from_first_reader(section: str) -> list[str]:
    """The steps from the first one reading ``section`` to the end (what a change of it recomputes)."""
    first = next(i for i, name in enumerate(STAGE_NAMES) if section in STAGE_SECTIONS[name] and name != "products")
    return list(STAGE_NAMES[first:])


def _done(events) -> FrameDone:
    return next(e for e in events if isinstance(e, FrameDone))


@pytest.fixture(scope="module")
def baseline(night):
    """A first full run (every step computed), copied by each test as the folder it re-runs into."""
    folder, _, config = night
    events = list(run_eager(_request(night, folder / "base", config)))
    assert _steps(events, reused=False) == list(STAGE_NAMES) and _steps(events, reused=True) == []
    return folder / "base", events


def _copy(baseline, target: Path) -> Path:
    shutil.copytree(baseline[0], target)
    return target


@pytest.fixture(scope="module")
def fresh_zero_point(night):
    """A fresh run (no reuse) with the changed zero-point parameters: the truth a re-run must equal."""
    folder, _, config = night
    events = list(run_eager(_request(night, folder / "fresh", config.replace(**ZERO_POINT_CHANGE), reuse=False)))
    assert _steps(events, reused=True) == []
    return events


def test_rerun_recomputes_from_the_first_changed_step_and_equals_a_fresh_run(night, baseline, fresh_zero_point):
    folder, paths, config = night
    out = _copy(baseline, folder / "rerun")
    first = baseline[1]
    meta = json.loads((out / "sim_000_metadata.json").read_text())
    science = Path(paths["science"][0])
    assert meta["provenance"]["input"] == hashlib.sha256(science.read_bytes()).hexdigest()
    assert set(meta["provenance"]) == {"input", *STAGE_NAMES} and len(set(meta["provenance"].values())) == 1 + len(
        STAGE_NAMES)
    ecsv_header = (out / "sim_000_phot.ecsv").read_text()
    assert "provenance" not in ecsv_header  # the metadata file carries it, not every product

    # the same request again: nothing is computed, the products are left as they are
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("sim_000_*")}
    again = list(run_eager(_request(night, out, config)))
    assert _steps(again, reused=False) == [] and _steps(again, reused=True) == list(STAGE_NAMES)
    assert again[-1].n_reused == 1 and again[-1].ok
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("sim_000_*")} == stamps
    assert _done(again).metadata["zero_point"] == _done(first).metadata["zero_point"]

    # a zero-point parameter: only the steps from the first reader of `zeropoint` run again
    changed = list(run_eager(_request(night, out, config.replace(**ZERO_POINT_CHANGE))))
    expected = _from_first_reader("zeropoint")
    assert expected[0] == "calibrators" and "zero_point" in expected
    assert _steps(changed, reused=False) == expected
    assert _steps(changed, reused=True) == list(STAGE_NAMES[: len(STAGE_NAMES) - len(expected)])
    truth = _done(fresh_zero_point)
    result = _done(changed)
    assert result.metadata["provenance"] == truth.metadata["provenance"]
    for key in ("zero_point", "zero_point_err", "n_calib_stars", "n_sources", "fwhm_px", "limiting_mag"):
        assert result.metadata[key] == truth.metadata[key], key
    assert (out / "sim_000_phot.csv").read_bytes() == (folder / "fresh" / "sim_000_phot.csv").read_bytes()
    assert result.metadata["reused_stages"] == _steps(changed, reused=True)
    # the pixels did not change: the earlier run's calibrated image is kept, and equals the fresh run's
    assert (out / "sim_000_calibrated.fits").stat().st_mtime_ns == stamps["sim_000_calibrated.fits"]
    fresh_pixels = folder / "fresh" / "sim_000_calibrated.fits"
    with fits.open(out / "sim_000_calibrated.fits") as kept, fits.open(fresh_pixels) as new:
        assert [h.name for h in kept] == [h.name for h in new]
        for a, b in zip(kept, new, strict=True):
            assert (a.data is None and b.data is None) or np.array_equal(a.data, b.data, equal_nan=True)

    # an aperture parameter: resumes after the last detection step (the checkpoint after `redetect`)
    aperture = list(run_eager(_request(night, out, config.replace(aperture={"annulus_clip_sigma": 2.5}))))
    assert _steps(aperture, reused=False) == _from_first_reader("aperture")
    assert _steps(aperture, reused=False)[0] == "photometry"

    # a detection parameter: the detection onwards (and `load`, which reads the section too)
    detection = list(run_eager(_request(night, out, config.replace(detection={"threshold_sigma": 3.0}))))
    computed = _steps(detection, reused=False)
    assert computed == _from_first_reader("detection")
    assert set(STAGE_NAMES[STAGE_NAMES.index("detect"):]) <= set(computed)


def test_changed_input_content_and_force_recompute_everything(night, baseline, tmp_path):
    folder, paths, config = night
    out = _copy(baseline, tmp_path / "out")
    before = (out / "sim_000_calibrated.fits").stat().st_mtime_ns
    assert _steps(list(run_eager(_request(night, out, config, reuse=False))), reused=False) == list(STAGE_NAMES)
    assert (out / "sim_000_calibrated.fits").stat().st_mtime_ns != before  # --force writes everything again
    # the same pixels under another path: the steps up to the last checkpoint are reused, the rest
    # (the products name the path) computed again
    original = Path(paths["science"][0])
    copy = tmp_path / "raw" / original.name
    copy.parent.mkdir()
    shutil.copy2(original, copy)
    moved = RunRequest(science=(str(copy),), out_dir=out, bias=paths["bias"], dark=paths["dark"], flat=paths["flat"],
                       config=config)
    assert _steps(list(run_eager(moved)), reused=False) == list(STAGE_NAMES[STAGE_NAMES.index(CHECKPOINTS[-1]) + 1:])
    # a checkpoint whose arrays are gone is not used: the frame is computed again, and succeeds
    for array in (out / ".rpf" / "state" / "sim_000" / "arrays").glob("*.npy"):
        array.unlink()
    changed = replace(moved, config=config.replace(**ZERO_POINT_CHANGE))
    events = list(run_eager(changed))
    assert _steps(events, reused=False) == list(STAGE_NAMES) and events[-1].ok
    # the same path with other pixels (its digest is remembered by size and time): nothing is reused
    with fits.open(copy) as hdul:
        data = hdul[0].data + np.float32(25.0)
        header = hdul[0].header
    fits.writeto(copy, data, header, overwrite=True)
    events = list(run_eager(moved))
    assert _steps(events, reused=True) == [] and _steps(events, reused=False) == list(STAGE_NAMES)
    assert _done(events).metadata["provenance"]["input"] == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert _done(events).metadata["provenance"]["input"] != hashlib.sha256(original.read_bytes()).hexdigest()


def test_dask_rerun_resumes_from_the_checkpoint(night, baseline, fresh_zero_point, tmp_path):
    """The graph path (a resume task, then the remaining steps); a thread worker, whose imports are warm."""
    out = _copy(baseline, tmp_path / "out")
    _, _, config = night
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        events = list(run(_request(night, out, config.replace(**ZERO_POINT_CHANGE)), client=client))
    finished = events[-1]
    assert isinstance(finished, RunFinished) and finished.ok
    assert _steps(events, reused=False) == _from_first_reader("zeropoint")
    assert (out / "sim_000_phot.csv").read_bytes() == (
        Path(fresh_zero_point[-1].summary_csv).parent / "sim_000_phot.csv").read_bytes()


def test_rerun_into_a_new_folder_resumes_from_an_earlier_runs_checkpoints(night, baseline, fresh_zero_point, tmp_path):
    """``reuse_from``: a re-run writes a new folder (both runs kept) and still computes only what changed."""
    folder, _, config = night
    before = {p: p.stat().st_mtime_ns for p in baseline[0].rglob("*") if p.is_file()}
    changed = config.replace(**ZERO_POINT_CHANGE)
    events = list(run_eager(_request(night, tmp_path / "second", changed, reuse_from=(str(baseline[0]),))))
    assert events[-1].ok
    assert _steps(events, reused=False) == _from_first_reader("zeropoint")
    truth = _done(fresh_zero_point)
    assert _done(events).metadata["provenance"] == truth.metadata["provenance"]
    new_csv = (tmp_path / "second" / "sim_000_phot.csv").read_bytes()
    assert new_csv == (folder / "fresh" / "sim_000_phot.csv").read_bytes()
    # the earlier run is left exactly as it was (it is the other side of the comparison)
    assert {p: p.stat().st_mtime_ns for p in baseline[0].rglob("*") if p.is_file()} == before
    # without it, the new folder has nothing to resume from
    alone = list(run_eager(_request(night, tmp_path / "third", changed)))
    assert _steps(alone, reused=True) == []
