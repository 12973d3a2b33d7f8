"""The pipeline's public API for an interactive app: requests, eager runs, pixels, rows with units.

One eager run of two overlapping simulated frames (masters, a reference
catalogue file, PSF photometry) feeds most checks; the Dask checks use the
session's LocalCluster (``tests/conftest.py``).
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from scipy.spatial import cKDTree

import rpf.pipeline.reference as reference_module
from rpf.config import PipelineConfig
from rpf.errors import ConfigError, ProductError
from rpf.flags import SourceFlag
from rpf.photometry import aperture_photometry
from rpf.pipeline import STAGE_NAMES, RunRequest, build_request, frame_pixels, run, run_eager
from rpf.pipeline.events import FrameDone, FrameFailed, RunFinished, RunStarted, StageDone
from rpf.products import COLUMNS, column_doc, phot_dataframe
from rpf.simulate import simulate_frame, write_demo_dataset, write_fits

DOCS = Path(__file__).parents[1] / "docs"
CONTRACT = ["id", "x", "y", "ra", "dec", "flux", "flux_err", "mag_inst", "mag", "mag_err", "snr", "flags"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    paths = write_demo_dataset(folder / "raw", n_frames=2, seed=5, shape=(512, 512))
    config = PipelineConfig().replace(
        catalogs={"catalog_file": str(paths["catalog"]), "reference": "file", "offline": True, "crossmatch": ()},
        psf={"enabled": True},
    )
    return folder, paths, config


@pytest.fixture(scope="module")
def eager(demo):
    """The events of one eager run, each with what existed on disk when it arrived; the reference fetches."""
    folder, paths, config = demo
    request = RunRequest(science=paths["science"], out_dir=folder / "eager", config=config,
                         bias=paths["bias"], dark=paths["dark"], flat=paths["flat"])
    fetches = []
    original = reference_module.get_reference

    def counting(*args, **kwargs):
        fetches.append(args)
        return original(*args, **kwargs)

    seen = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reference_module, "get_reference", counting)
        for event in run_eager(request):
            seen.append((event, sorted(p.name for p in (folder / "eager").glob("*"))))
    return {"events": [e for e, _ in seen], "seen": seen, "fetches": fetches, "request": request,
            "out": folder / "eager", "paths": paths}


def _done(eager) -> list[FrameDone]:
    return [e for e in eager["events"] if isinstance(e, FrameDone)]


# --- the run request ------------------------------------------------------------------------


def test_run_request_validation_names_the_problem(tmp_path):
    (tmp_path / "bias.fits").write_bytes(b"")
    ok = RunRequest(science=[tmp_path / "a.fits"], out_dir=tmp_path / "out", bias=[tmp_path / "bias.fits"])
    assert ok.validate() is ok and ok.science == (str(tmp_path / "a.fits"),)
    assert ok.bias == (str(tmp_path / "bias.fits"),) and ok.out_dir == str(tmp_path / "out")
    with pytest.raises(ConfigError, match="no science frames"):
        RunRequest(science=(), out_dir="out").validate()
    # frames whose stems collide get stems of their own (tests/test_runs.py); the same frame twice is refused
    RunRequest(science=(str(tmp_path / "a/x.fits"), str(tmp_path / "b/x.fits")), out_dir="out").validate()
    with pytest.raises(ConfigError, match=r"a/x\.fits is given twice"):
        RunRequest(science=(str(tmp_path / "a/x.fits"), str(tmp_path / "a/../a/x.fits")), out_dir="out").validate()
    with pytest.raises(ConfigError, match="calibration file.*nodark.fits"):
        RunRequest(science=("a.fits",), out_dir="out", dark=(str(tmp_path / "nodark.fits"),)).validate()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        RunRequest(science=("a.fits",), out_dir=tmp_path / "file").validate()
    with pytest.raises(ConfigError, match="PipelineConfig"):
        RunRequest(science=("a.fits",), out_dir="out", config={"psf": {}}).validate()
    # every entry point validates before anything runs
    bad = RunRequest(science=(), out_dir=str(tmp_path / "never"))
    with pytest.raises(ConfigError):
        next(iter(run_eager(bad)))
    with pytest.raises(ConfigError):
        run(bad)
    assert not (tmp_path / "never").exists()


def test_build_request_maps_the_cli_options(tmp_path):
    request = build_request(["a.fits"], out_dir=tmp_path, ra="10:00:00", dec=-5.5, pixel_scale=0.8, manual_wcs=True,
                            catalog=tmp_path / "gaia.csv", offline=True, workers=3, psf=True,
                            scheduler="tcp://127.0.0.1:8786", differential=True)
    config = request.config
    assert (config.astrometry.ra, config.astrometry.dec, config.astrometry.mode) == (150.0, -5.5, "manual")
    assert config.header.pixel_scale == config.astrometry.pixel_scale == 0.8
    assert config.catalogs.catalog_file == str(tmp_path / "gaia.csv") and config.catalogs.reference == "file"
    assert config.catalogs.offline and config.psf.enabled and config.execution.n_workers == 3
    assert config.execution.scheduler == "tcp://127.0.0.1:8786" and request.differential
    assert build_request(["a.fits"], out_dir=tmp_path).config == PipelineConfig()


# --- eager runs: live steps, one reference fetch ---------------------------------------------


def test_eager_run_yields_every_step_as_it_ends(eager):
    events, seen = eager["events"], eager["seen"]
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished) and events[-1].ok
    for index in (0, 1):
        stages = [e.stage for e in events if isinstance(e, StageDone) and e.index == index]
        assert tuple(stages) == STAGE_NAMES
    stem = Path(eager["paths"]["science"][0]).stem
    # when frame 0's first steps arrive, none of its products exists yet: they are reported as they end
    first_steps = [files for event, files in seen if isinstance(event, StageDone) and event.index == 0
                   and event.stage != "products"]
    assert first_steps and all(f"{stem}_metadata.json" not in files for files in first_steps)
    products = next(files for event, files in seen if isinstance(event, StageDone) and event.stage == "products")
    assert f"{stem}_metadata.json" in products
    times = [e.time for e in events]
    assert times == sorted(times)


def test_eager_run_fetches_the_reference_once_per_field(eager):
    assert len(eager["fetches"]) == 1  # two overlapping frames, one field group
    for path in eager["paths"]["science"]:
        log = (eager["out"] / f"{Path(path).stem}.log").read_text()
        assert log.count("(shared by 2 frame(s))") == 1
        assert "reference: " in log and "cover the solved field" in log


def test_every_step_has_its_time_log_line_and_event(eager):
    for event in _done(eager):
        timings = event.metadata["timings"]
        assert tuple(timings) == STAGE_NAMES and all(v >= 0 for v in timings.values())
        log = Path(event.result.products["log"]).read_text()
        for name in STAGE_NAMES:
            assert log.count(f"stage {name}: done in ") == 1, name


# --- pixels -----------------------------------------------------------------------------------


def test_calibrated_pixels_remeasure_the_catalogue(eager, demo):
    """The calibrated FITS gives back the pixels the catalogue was measured on: aperture photometry
    of image - background at the catalogue's positions reproduces its fluxes and local skies."""
    _, _, config = demo
    event = _done(eager)[0]
    result = event.result
    pixels = frame_pixels(result)
    assert pixels.image.dtype == np.float32 and pixels.mask.dtype == np.uint16
    assert pixels.background.dtype == pixels.background_rms.dtype == np.float32
    assert pixels.image.shape == pixels.background.shape == pixels.background_rms.shape == (512, 512)
    phot = result.phot
    sources = QTable({name: np.asarray(phot[name]) for name in ("id", "x", "y", "flags")})
    again = aperture_photometry(pixels.image - pixels.background, sources, fwhm_px=result.metadata["fwhm_px"],
                                rms=pixels.background_rms, gain=pixels.header["GAIN"], mask=pixels.mask,
                                flat_noise=phot.meta["flat_noise"], config=config.aperture)
    step = fits.getheader(result.products["calibrated"], "BACKGROUND")["BKGSTEP"]
    assert step == pytest.approx(result.metadata["background_rms"] / 1024)
    # the maps are stored to 1/2048 of the sky noise: every flux and local sky within 1 % of its error
    good = np.isfinite(np.asarray(phot["flux"].value))
    for name, error in (("bkg_local", "bkg_local_err"), ("flux", "flux_err"), ("flux_r1", "flux_err_r1")):
        difference = np.abs(np.asarray(again[name]) - np.asarray(phot[name].value))[good]
        assert np.all(difference <= 0.01 * np.asarray(phot[error].value)[good]), name
    np.testing.assert_array_equal(np.asarray(again["flux_radius_fwhm"]), np.asarray(phot["flux_radius_fwhm"]))
    # the WCS is the solution: it puts every source at its catalogue position
    ra, dec = pixels.wcs.all_pix2world(np.asarray(phot["x"]), np.asarray(phot["y"]), 0)
    np.testing.assert_allclose(ra, np.asarray(phot["ra"].value), atol=1e-9)
    np.testing.assert_allclose(dec, np.asarray(phot["dec"].value), atol=1e-9)
    assert pixels.header["EXPTIME"] == result.metadata["exptime"]


def test_calibrated_pixels_are_the_cleaned_frame_and_its_mask(tmp_path):
    """Without master frames the calibrated image is the raw frame except at the cosmic-ray hits,
    which are flagged in MASK where the simulation put them (or its hot pixels) and cleaned."""
    from scipy import ndimage

    sim = simulate_frame(seed=71, shape=(256, 256), n_cosmic_rays=40)
    path = write_fits(sim, tmp_path / "cr.fits")
    config = PipelineConfig().replace(catalogs={"offline": True}, output={"png": False, "zip": False})
    events = list(run_eager(RunRequest(science=[path], out_dir=tmp_path / "out", config=config)))
    pixels = frame_pixels(tmp_path / "out" / "cr_calibrated.fits")
    assert next(e for e in events if isinstance(e, FrameDone)).result.products["calibrated"] == pixels.path
    hits = (pixels.mask & np.uint16(SourceFlag.COSMIC_RAY)) != 0
    labels, n_hits = ndimage.label(sim.truth.cr_mask, structure=np.ones((3, 3)))
    found = ndimage.maximum(hits, labels, index=np.arange(1, n_hits + 1))
    assert n_hits >= 20 and found.mean() >= 0.9
    near_truth = ndimage.binary_dilation(sim.truth.cr_mask | sim.truth.hot_mask, iterations=2)  # hot pixels too
    assert (hits & near_truth).sum() >= 0.95 * hits.sum()
    raw = sim.raw.astype(np.float32)
    np.testing.assert_array_equal(pixels.image[~hits], raw[~hits])
    assert np.median(raw[hits] - pixels.image[hits]) > 10 * np.median(np.abs(np.diff(raw, axis=1)))
    saturated = (pixels.mask & np.uint16(SourceFlag.SATURATED)) != 0
    np.testing.assert_array_equal(saturated, raw >= sim.header["SATURATE"])


def test_pixels_stay_out_of_the_zip_and_can_be_switched_off(eager, demo, tmp_path):
    result = _done(eager)[0].result
    with zipfile.ZipFile(result.products["zip"]) as bundle:
        names = set(bundle.namelist())
    stem = Path(result.path).stem
    assert f"{stem}_phot.ecsv" in names and f"{stem}_phot.csv" in names
    assert f"{stem}_calibrated.fits" not in names
    assert result.metadata["products"]["calibrated"] == f"{stem}_calibrated.fits"
    folder, paths, config = demo
    off = config.replace(output={"calibrated_fits": False, "png": False, "zip": False}, psf={"enabled": False})
    events = list(run_eager(RunRequest(science=paths["science"][:1], out_dir=tmp_path, config=off)))
    done = next(e for e in events if isinstance(e, FrameDone))
    assert "calibrated" not in done.result.products and not list(tmp_path.glob("*_calibrated.fits"))
    with pytest.raises(ProductError, match="output.calibrated_fits was off"):
        frame_pixels(done.result)


# --- rows with units ---------------------------------------------------------------------------


def test_photometry_carries_units_and_the_ecsv_reads_back_equal(eager):
    result = _done(eager)[0].result
    phot = result.phot
    assert isinstance(phot, QTable)
    assert phot["ra"].unit == u.deg and phot["x"].unit == u.pix and phot["mag"].unit == u.mag
    assert phot["flux"].unit == u.adu and phot["psf_flux"].unit == u.adu and phot["flags"].unit is None
    back = QTable.read(result.products["phot_ecsv"])
    assert back.colnames == phot.colnames
    for name in phot.colnames:
        assert getattr(back[name], "unit", None) == getattr(phot[name], "unit", None), name
        a = np.asarray(getattr(phot[name], "value", phot[name]))
        b = np.asarray(getattr(back[name], "value", back[name]))
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(b, a, err_msg=name)
        elif a.dtype.kind in "US":
            assert list(np.ma.filled(back[name], "")) == list(a), name
        else:
            assert np.array_equal(a, b), name
    assert back.meta["band"] == result.metadata["band"] and back.meta["zero_point"] == result.metadata["zero_point"]
    assert back["mag"].info.description == COLUMNS["mag"][1]
    # the CSV contract is unchanged: plain names, no units, the contract's columns first
    header = Path(result.products["phot"]).read_text().splitlines()[0].split(",")
    assert header[:12] == CONTRACT and header == phot.colnames


def test_phot_dataframe_has_stable_documented_columns(eager):
    phot = _done(eager)[0].result.phot
    frame = phot_dataframe(phot)
    assert list(frame.columns) == phot.colnames and list(frame.columns[:12]) == CONTRACT
    assert len(frame) == len(phot)
    assert frame["x"].dtype == np.float64 and frame["flags"].dtype.kind in "iu"
    assert pd.api.types.is_string_dtype(frame["cat_id"]) and frame["cat_id"].iloc[0] == str(phot["cat_id"][0])
    np.testing.assert_array_equal(frame["mag"].to_numpy(), np.asarray(phot["mag"].value))
    frame.loc[0, "x"] = -1.0
    assert phot["x"][0].value != -1.0  # a copy
    empty = phot_dataframe(None)
    assert list(empty.columns) == CONTRACT and len(empty) == 0
    undocumented = [name for name in phot.colnames if column_doc(name) is None]
    assert undocumented == [], f"document these columns in rpf/products/columns.py and docs/columns.md: {undocumented}"


def test_columns_doc_lists_every_documented_column():
    text = (DOCS / "columns.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines() if line.startswith("| `")}
    assert set(COLUMNS) <= set(rows)
    for name, (unit, meaning) in COLUMNS.items():
        assert meaning in rows[name] and (unit or "") in rows[name], name


# --- eager equals Dask --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_master(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_master")
    science = [write_fits(simulate_frame(seed=90 + i, shape=(128, 128), n_cosmic_rays=0), folder / f"s{i}.fits")
               for i in range(2)]
    bias = [write_fits(np.zeros((128, 128), np.float32), folder / "bias_0.fits"), folder / "bias_broken.fits"]
    bias[1].write_text("not a FITS file\n" * 200)
    config = PipelineConfig().replace(catalogs={"offline": True}, output={"png": False, "zip": False})
    return science, bias, config, folder


@pytest.mark.parametrize("where", ["eager", "dask"])
def test_a_bad_master_fails_every_frame_and_the_summary_is_written(bad_master, where, request):
    science, bias, config, folder = bad_master
    out = folder / where
    run_request = RunRequest(science=science, out_dir=out, bias=bias, config=config)
    if where == "eager":
        events = list(run_eager(run_request))
    else:
        events = list(run(run_request, client=request.getfixturevalue("dask_cluster").client))
    failed = [e for e in events if isinstance(e, FrameFailed)]
    assert len(failed) == 2 and events[-1].n_failed == 2
    for event in failed:
        assert event.stage == "calibrate" and Path(event.path).name in event.message
        assert "master calibration frames" in event.message and "bias_broken.fits" in event.message
    rows = list(csv.DictReader(Path(out / "run_summary.csv").read_text().splitlines()))
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert [r["error"] for r in rows] == [e.message for e in sorted(failed, key=lambda e: e.index)]
    meta = json.loads((out / "s0_metadata.json").read_text())
    assert meta["failed_stage"] == "calibrate"


def test_gaia_status_travels_as_data_not_through_the_log(tmp_path):
    """The reference fetch returns Gaia's status as a value; the report reads the state, never its log."""
    from rpf.pipeline.reference import fetch_reference, reference_report
    from rpf.pipeline.state import FrameState

    offline = PipelineConfig().replace(catalogs={"offline": True, "cache_dir": str(tmp_path / "cache"),
                                                 "tycho2_dir": str(tmp_path / "none")})
    fetched = fetch_reference((150.0, 20.0, 0.3), mjd=None, config=offline.catalogs)
    assert fetched.table is None and fetched.gaia.status == "skipped: offline"
    state = FrameState(path="f.fits", reference_status=fetched.gaia,
                       log=("reference catalogue: 12 stars from gaia_dr3 within 0.30 deg",))
    assert reference_report(state, offline.catalogs).status == "skipped: offline"
    with_tycho = offline.replace(catalogs={"tycho2_dir": "/usr/share/astrometry"})
    fetched = fetch_reference((150.0, 20.0, 0.3), mjd=None, config=with_tycho.catalogs)
    assert fetched.table.meta["catalog"] == "tycho2" and fetched.gaia.status == "skipped: offline"
    misleading = FrameState(path="f.fits", reference_status=fetched.gaia,
                            log=("reference catalogue: none (gaia_dr3: HTTP 500 INTERNAL SERVER ERROR)",))
    assert reference_report(misleading, with_tycho.catalogs).status == "skipped: offline"


def test_dataframes_of_two_frames_concatenate(eager):
    frames = [phot_dataframe(e.result.phot).assign(frame=Path(e.path).name) for e in _done(eager)]
    both = pd.concat(frames, ignore_index=True)
    assert len(both) == sum(len(f) for f in frames) and both["frame"].nunique() == 2
    tree = cKDTree(np.column_stack([frames[1]["ra"], frames[1]["dec"]]))
    distance, _ = tree.query(np.column_stack([frames[0]["ra"], frames[0]["dec"]]))
    assert np.median(distance) * 3600 < 1.0  # the same field: most stars in both frames
