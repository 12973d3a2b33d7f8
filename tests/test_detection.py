"""Detection and FWHM against simulator truth."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from rpf.background import estimate_background
from rpf.config import BackgroundConfig, DetectionConfig
from rpf.detection import FwhmEstimate, detect_sources, estimate_fwhm
from rpf.detection.fwhm import _moffat, _moffat_jacobian, _subpixel_grid
from rpf.errors import PhotometryError
from rpf.flags import SourceFlag
from rpf.simulate import InstrumentModel, simulate_frame

INSTRUMENT = InstrumentModel()


def _prepare(psf, fwhm_arcsec, seed):
    sim = simulate_frame(
        seed=seed, shape=(1024, 1024), psf=psf, fwhm_arcsec=fwhm_arcsec, n_cosmic_rays=0, instrument=INSTRUMENT
    )
    data = sim.calibrated()
    flags = np.where(sim.raw >= INSTRUMENT.saturation, np.uint16(SourceFlag.SATURATED), np.uint16(0))
    bkg = estimate_background(data, mask=flags, fwhm_px=sim.truth.fwhm_px, config=BackgroundConfig())
    sub = data - bkg.level
    sources = detect_sources(sub, rms=bkg.rms, config=DetectionConfig(), pixel_flags=flags, fwhm_px=sim.truth.fwhm_px)
    return sim.truth, bkg, sub, sources


@pytest.fixture(scope="module", params=[("moffat", 3.0, 31), ("gaussian", 4.5, 32)], ids=["moffat", "gaussian"])
def field(request):
    return _prepare(*request.param)


def test_completeness_and_purity(field):
    truth, _, _, sources = field
    stars = truth.stars[truth.stars["in_frame"]]
    xy_true = np.column_stack([stars["x"], stars["y"]])
    xy_det = np.column_stack([sources["x"], sources["y"]])
    radius = max(1.5, 0.5 * truth.fwhm_px)
    # a star whose neighbour is closer than one FWHM cannot be resolved: leave those out
    neighbour = cKDTree(xy_true).query(xy_true, k=2)[0][:, 1]
    target = (np.asarray(stars["snr"]) > 10) & (neighbour > truth.fwhm_px)
    assert target.sum() > 100
    distance, _ = cKDTree(xy_det).query(xy_true[target])
    assert (distance < radius).mean() >= 0.95
    # spurious: detections away from the border with no true star nearby
    all_true = np.column_stack([truth.stars["x"], truth.stars["y"]])
    inner = (np.asarray(sources["flags"]) & SourceFlag.EDGE) == 0
    nearest, _ = cKDTree(all_true).query(xy_det[inner])
    assert (nearest >= radius).mean() <= 0.01


def test_positions_are_zero_based_and_accurate(field):
    truth, _, _, sources = field
    stars = truth.stars[truth.stars["in_frame"] & ~truth.stars["saturated"]]
    bright = np.asarray(stars["snr"]) > 50
    xy_true = np.column_stack([stars["x"], stars["y"]])[bright]
    distance, index = cKDTree(np.column_stack([sources["x"], sources["y"]])).query(xy_true)
    close = distance < 1.0
    assert close.mean() > 0.9
    dx = np.asarray(sources["x"])[index[close]] - xy_true[close, 0]
    dy = np.asarray(sources["y"])[index[close]] - xy_true[close, 1]
    assert abs(np.median(dx)) < 0.05 and abs(np.median(dy)) < 0.05
    assert np.median(np.hypot(dx, dy)) < 0.1


def test_columns_flags_and_saturation(field):
    truth, _, _, sources = field
    for name in ("id", "x", "y", "a", "b", "theta", "npix", "peak", "flux_iso", "flags"):
        assert name in sources.colnames
    assert list(sources["id"]) == list(range(1, len(sources) + 1))
    assert sources["flags"].dtype == np.uint16
    x, y = np.asarray(sources["x"]), np.asarray(sources["y"])
    near_edge = (x < 10) | (y < 10) | (x > 1013) | (y > 1013)
    flagged_edge = (np.asarray(sources["flags"]) & SourceFlag.EDGE) != 0
    assert np.array_equal(near_edge, flagged_edge & near_edge)
    assert not (flagged_edge & ~near_edge & (np.asarray(sources["npix"]) < 1000)).any()
    saturated = truth.stars[truth.stars["saturated"] & truth.stars["in_frame"]]
    if len(saturated):
        _, index = cKDTree(np.column_stack([x, y])).query(np.column_stack([saturated["x"], saturated["y"]]))
        assert np.all(np.asarray(sources["flags"])[index] & SourceFlag.SATURATED)


def test_pixel_flags_are_ored_into_sources(field):
    _, bkg, sub, sources = field
    target = int(np.argmax(np.asarray(sources["flux_iso"]) * (np.asarray(sources["flags"]) == 0)))
    pixel_flags = np.zeros(sub.shape, np.uint16)
    pixel_flags[int(round(sources["y"][target])), int(round(sources["x"][target]))] = SourceFlag.COSMIC_RAY
    again = detect_sources(sub, rms=bkg.rms, config=DetectionConfig(), pixel_flags=pixel_flags, fwhm_px=3.0)
    hit = (np.asarray(again["flags"]) & SourceFlag.COSMIC_RAY) != 0
    assert hit.sum() >= 1
    assert np.hypot(again["x"][hit] - sources["x"][target], again["y"][hit] - sources["y"][target]).min() < 1


def test_fwhm_is_accurate_and_reproducible(field):
    truth, _, sub, sources = field
    config = DetectionConfig(fwhm_max_stars=150, seed=4)
    estimate = estimate_fwhm(sub, sources, config=config)
    assert isinstance(estimate, FwhmEstimate)
    assert estimate.fwhm_px == pytest.approx(truth.fwhm_px, rel=0.03)
    assert 10 <= estimate.n_stars <= 150
    assert estimate.scatter_px < 0.1 * truth.fwhm_px
    assert estimate_fwhm(sub, sources, config=config) == estimate


def test_no_source_raises():
    noise = np.random.default_rng(0).normal(0.0, 1.0, (128, 128)).astype(np.float32)
    with pytest.raises(PhotometryError, match="no source"):
        detect_sources(noise, rms=1.0, config=DetectionConfig(threshold_sigma=50.0))
    with pytest.raises(PhotometryError):
        detect_sources(noise[None], rms=1.0, config=DetectionConfig())


def test_moffat_jacobian_matches_finite_differences():
    grid = _subpixel_grid(5)
    params = np.array([[100.0, 0.3, -0.2, np.log(2.0), np.log(2.5), 1.0], [50.0, -0.1, 0.4, np.log(3.0), 0.2, -2.0]])
    analytic = _moffat_jacobian(params, grid)
    for k in range(6):
        step = np.zeros_like(params)
        step[:, k] = 1e-6 * np.maximum(np.abs(params[:, k]), 1.0)
        numeric = (_moffat(params + step, grid) - _moffat(params - step, grid)) / (2 * step[:, k, None])
        np.testing.assert_allclose(analytic[:, :, k], numeric, atol=1e-6 * np.abs(numeric).max())
