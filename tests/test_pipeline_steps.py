"""Named steps: the configuration each reads, and a frame without pointing that is solved blind.

``STAGE_SECTIONS`` must be exact (a re-run of what changed will key cached
results on it): every step is run with a configuration that records which
sections it reads, on a frame with a header WCS and a reference file, and on
a frame without any pointing that astrometry.net solves blind against the
Tycho-2 index files in ``/usr/share/astrometry``.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from rpf.config import PipelineConfig
from rpf.index_files import read_tycho2_cone
from rpf.io.keywords import POINTING_KEYS
from rpf.pipeline import STAGE_NAMES, STAGE_SECTIONS, RunRequest, run_eager
from rpf.pipeline.context import RunContext, make_context
from rpf.pipeline.events import FrameDone
from rpf.pipeline.frame import finish_frame
from rpf.pipeline.stages import STAGES
from rpf.pipeline.state import FrameState
from rpf.simulate import simulate_frame, write_demo_dataset
from rpf.targets import Target

INDEX_DIR = "/usr/share/astrometry"
SECTIONS = tuple(f.name for f in fields(PipelineConfig))
BLIND_CENTER = (120.3, 41.2)


class RecordingConfig:
    """A configuration that records the sections read through it."""

    def __init__(self, config: PipelineConfig) -> None:
        self._config = config
        self.read: set[str] = set()

    def __getattr__(self, name):
        if name in SECTIONS:
            self.read.add(name)
        return getattr(self._config, name)

    def to_dict(self, **kwargs):
        self.read.update(SECTIONS)
        return self._config.to_dict(**kwargs)


def _sections_read(path: Path, ctx: RunContext) -> dict[str, set[str]]:
    """Run every step (and the products) on one frame; return the sections each one read."""
    recording = RecordingConfig(ctx.config)
    ctx = replace(ctx, config=recording)
    state = FrameState(path=str(path))
    read = {}
    for name, step in STAGES:
        recording.read.clear()
        state = step(state, ctx)
        read[name] = set(recording.read)
    recording.read.clear()
    finish_frame(state, ctx)
    read["products"] = set(recording.read)
    return read


@pytest.fixture(scope="module")
def blind(tmp_path_factory):
    """A 768² frame of a Tycho-2 field (5"/px), V_T magnitudes, no pointing and no WCS in its header."""
    folder = tmp_path_factory.mktemp("blind")
    tycho = read_tycho2_cone(*BLIND_CENTER, 1.2, index_dir=INDEX_DIR)
    sim = simulate_frame(catalog=tycho, seed=3, shape=(768, 768), center=BLIND_CENTER, pixel_scale=5.0,
                         fwhm_arcsec=12.0, band="VT_mag", zero_point=19.0, exptime=10.0, write_wcs=False,
                         n_cosmic_rays=5)
    header = sim.header.copy()
    for keys in POINTING_KEYS:
        for key in keys:
            header.remove(key, ignore_missing=True)
    path = folder / "nopointing.fits"
    fits.writeto(path, sim.raw, header)
    config = PipelineConfig().replace(catalogs={"offline": True, "cache_dir": str(folder / "cache")},
                                      astrometry={"time_limit_s": 30}, output={"png": False, "zip": False})
    events = list(run_eager(RunRequest(science=[path], out_dir=folder / "out", config=config)))
    return {"sim": sim, "path": path, "config": config, "events": events, "out": folder / "out"}


def test_a_blind_solved_frame_is_calibrated_against_its_solved_field(blind):
    """No pointing: astrometry.net solves blind, the reference comes from the solved field (Tycho-2
    offline), the frame gets a zero point in V_T, and the warnings say what happened."""
    done = [e for e in blind["events"] if isinstance(e, FrameDone)]
    assert len(done) == 1, [getattr(e, "message", "") for e in blind["events"]]
    meta = done[0].metadata
    assert meta["wcs_source"] == "solved" and "astrometry.net blind" in meta["wcs_message"]
    assert meta["center_ra"] == pytest.approx(BLIND_CENTER[0], abs=0.01)
    assert meta["center_dec"] == pytest.approx(BLIND_CENTER[1], abs=0.01)
    truth = blind["sim"].truth  # no master flat: the vignetted flat stays in the data
    expected = truth.zero_point_frame + 2.5 * np.log10(np.median(truth.flat))
    assert meta["reference_catalog"] == "tycho2" and meta["band"] == "VT"
    assert meta["zero_point"] == pytest.approx(expected, abs=0.05) and meta["n_calib_stars"] >= 10
    assert meta["uncalibrated"] is None and meta["limiting_mag"] is not None
    gaia = next(s for s in meta["services"] if s["service"] == "gaia_dr3")
    assert gaia["status"] == "skipped: offline"
    warnings = meta["warnings"]
    assert not any("--ra/--dec" in w for w in warnings), warnings
    assert any(w.startswith("no pointing in header") for w in warnings)
    assert any(w.startswith("no pointing: solved without one (astrometry.net-blind)") for w in warnings)
    log = (blind["out"] / "nopointing.log").read_text()
    assert "reference catalogue: none (no pointing or pixel scale to define the field)" in log
    assert "stars from tycho2" in log and "for the solved field" in log
    assert json.loads((blind["out"] / "nopointing_metadata.json").read_text())["zero_point"] == meta["zero_point"]


def test_a_frame_without_pointing_that_cannot_be_solved_says_how_to_help(tmp_path):
    sim = simulate_frame(seed=8, shape=(256, 256), write_wcs=False, n_cosmic_rays=0)
    header = sim.header.copy()
    for keys in POINTING_KEYS:
        for key in keys:
            header.remove(key, ignore_missing=True)
    fits.writeto(tmp_path / "lost.fits", sim.raw, header)
    config = PipelineConfig().replace(catalogs={"offline": True}, output={"png": False, "zip": False},
                                      astrometry={"index_dir": str(tmp_path), "time_limit_s": 2})
    events = list(run_eager(RunRequest(science=[tmp_path / "lost.fits"], out_dir=tmp_path / "out", config=config)))
    meta = next(e for e in events if isinstance(e, FrameDone)).metadata
    assert meta["wcs_source"] == "none" and meta["zero_point"] is None
    assert meta["uncalibrated"] == "no astrometric solution"
    assert any("give --ra/--dec" in w for w in meta["warnings"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("steps")
    paths = write_demo_dataset(folder / "raw", n_frames=1, seed=9, shape=(384, 384))
    config = PipelineConfig().replace(
        catalogs={"catalog_file": str(paths["catalog"]), "reference": "file", "offline": True, "crossmatch": ()},
        psf={"enabled": True},
    )
    ctx = make_context(config=config, out_dir=folder / "out", bias=paths["bias"], dark=paths["dark"],
                       flat=paths["flat"])
    return paths["science"][0], ctx


def test_stage_sections_are_exactly_what_each_step_reads(demo, blind, tmp_path):
    """Three runs: a header WCS and a reference file; a blind solve; a template and targets (one of them a
    solar-system object, looked up offline).  No step reads a section it does not declare, and every
    declared section is read in one of them."""
    declared = {name: set(sections) for name, sections in STAGE_SECTIONS.items()}
    assert tuple(declared) == STAGE_NAMES
    path, ctx = demo
    runs = [_sections_read(path, ctx)]
    blind_ctx = make_context(config=blind["config"], out_dir=tmp_path / "blind", bias=(), dark=(), flat=())
    runs.append(_sections_read(blind["path"], blind_ctx))
    header = fits.getheader(path)
    follow_up = make_context(config=ctx.config.replace(transients={"template": str(path)}), out_dir=tmp_path / "fu",
                             bias=(), dark=(), flat=())
    targets = (Target("T1", ra=float(header["RA"]), dec=float(header["DEC"])), Target("Ceres", solar_system=True))
    runs.append(_sections_read(path, replace(follow_up, targets=targets, masters=ctx.masters)))
    for name in STAGE_NAMES:
        for read in runs:
            assert read[name] <= declared[name], (name, read[name] - declared[name])
        assert set().union(*(read[name] for read in runs)) == declared[name], name
