"""Headless checks of the dashboard's result models: selection <-> plot indices, display scaling, sky links.

Scalings are checked against astropy.visualization (an independent
implementation); the rasterised image against the pixels' true size.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

import numpy as np
import pytest
from astropy.visualization import (
    AsinhStretch,
    LinearStretch,
    LogStretch,
    PercentileInterval,
    SqrtStretch,
    ZScaleInterval,
)

from app.models.scaling import STRETCHES, DisplayScale
from app.models.selection import Selection, points_of_rows, rows_of_points
from app.models.sky import sky_links


@pytest.fixture(scope="module")
def sky_image():
    """A small star field: flat sky with noise, a few bright Gaussian stars, one NaN pixel."""
    rng = np.random.default_rng(3)
    image = rng.normal(1000.0, 20.0, (300, 280)).astype(np.float32)
    yy, xx = np.mgrid[:300, :280]
    for x, y, flux in rng.uniform((10, 10, 1e3), (270, 290, 5e5), (25, 3)):
        image += (flux / (2 * np.pi * 4.0) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0)).astype(np.float32)
    return image


# --- selection ----------------------------------------------------------------------------


def test_plot_indices_and_table_rows_translate_both_ways():
    point_rows = [12, 3, 40, 7]  # the table row of each point of a plot
    assert rows_of_points(point_rows, [2, 0, 0, 9, -1]) == [12, 40]
    assert points_of_rows(point_rows, [7, 12, 99]) == [0, 3]
    assert points_of_rows(point_rows, rows_of_points(point_rows, [1, 3])) == [1, 3]
    assert rows_of_points([], [0, 1]) == [] and points_of_rows([], [1]) == []


def test_selection_stores_rows_and_forgets_them_with_a_new_frame():
    selection = Selection()
    seen = []
    selection.param.watch(lambda e: seen.append(e.new), "stars")
    selection.pick_points([5, 9, 2], [2, 0])
    assert selection.stars == [2, 5]
    selection.pick_stars([5, 2, 2])  # the same stars: no new event
    assert seen == [[2, 5]]
    selection.frame_finished(0)
    assert selection.frame == 0 and selection.stars == []
    selection.pick_frame(1)
    selection.frame_finished(2)  # picked by hand: a new frame does not take over
    assert selection.frame == 1 and not selection.follow


# --- scaling ------------------------------------------------------------------------------


def test_limits_match_astropy_intervals(sky_image):
    image = sky_image.copy()
    scale = DisplayScale.from_image(image)
    assert scale.limits("zscale") == pytest.approx(ZScaleInterval().get_limits(image), rel=1e-6)
    assert scale.limits("percentile", percent=99.0) == pytest.approx(PercentileInterval(99.0).get_limits(image))
    assert scale.limits("min-max") == (float(image.min()), float(image.max()))
    image[5, 5] = np.nan
    assert np.isfinite(DisplayScale.from_image(image).limits("zscale")).all()


def test_large_frames_are_sampled_but_keep_their_limits(sky_image):
    big = np.tile(sky_image, (8, 8))  # 2400 x 2240 pixels, sampled every 3rd pixel
    scale = DisplayScale.from_image(big, max_samples=600_000)
    assert scale.sample.size <= 600_000
    low, high = PercentileInterval(99.0).get_limits(big)
    assert scale.limits("percentile", percent=99.0) == pytest.approx((low, high), rel=0.01)


@pytest.mark.parametrize(
    ("stretch", "truth"),
    [("linear", LinearStretch()), ("sqrt", SqrtStretch()), ("log", LogStretch(a=1000)), ("asinh", AsinhStretch(a=0.1))],
)
def test_stretches_match_astropy(sky_image, stretch, truth):
    scale = DisplayScale.from_image(sky_image)
    low, high = scale.limits("zscale")
    levels = scale.to_bytes(sky_image, stretch=stretch, limits=(low, high))
    expected = truth(np.clip((sky_image - low) / (high - low), 0, 1)) * 255
    assert levels.dtype == np.uint8 and levels.shape == sky_image.shape
    assert np.abs(levels.astype(float) - expected).max() <= 1.0


def test_histogram_equalisation_spreads_levels_evenly(sky_image):
    scale = DisplayScale.from_image(sky_image)
    levels = scale.to_bytes(sky_image, stretch="histogram equalised", limits=scale.limits("min-max"))
    counts = np.histogram(levels, bins=4, range=(0, 256))[0] / levels.size
    assert counts == pytest.approx([0.25] * 4, abs=0.02)
    linear = scale.to_bytes(sky_image, stretch="linear", limits=scale.limits("min-max"))
    assert np.histogram(linear, bins=4, range=(0, 256))[0][0] / linear.size > 0.9  # a linear min-max is all sky


def test_nan_pixels_are_black_and_unknown_names_refused(sky_image):
    scale = DisplayScale.from_image(sky_image)
    values = np.array([np.nan, 1e9, -1e9])
    for stretch in STRETCHES:
        assert scale.to_bytes(values, stretch=stretch, limits=(0.0, 1.0)).tolist() == [0, 255, 0]
    with pytest.raises(ValueError, match="unknown stretch"):
        scale.to_bytes(values, stretch="cube", limits=(0.0, 1.0))
    with pytest.raises(ValueError, match="unknown limits"):
        scale.limits("99%")


# --- sky links ----------------------------------------------------------------------------


@pytest.mark.parametrize(("ra", "dec"), [(150.004838, 20.000771), (3.5, -45.25), (359.99, 0.0)])
def test_archive_links_point_at_the_position(ra, dec):
    links = sky_links(ra, dec, radius_arcsec=4.0)
    assert set(links) == {"SIMBAD", "ESA Sky", "VizieR", "Aladin"}
    for name, url in links.items():
        parts = urlparse(url)
        assert parts.scheme == "https", name
        query = parse_qs(parts.query)
        target = next(query[k][0] for k in ("Coord", "target", "-c") if k in query)
        got_ra, got_dec = (float(v) for v in unquote(target).split())
        assert (got_ra, got_dec) == pytest.approx((ra, dec), abs=1e-6), name
    assert parse_qs(urlparse(links["SIMBAD"]).query)["Radius"] == ["4"]
    assert parse_qs(urlparse(links["VizieR"]).query)["-c.rs"] == ["4"]
    assert urlparse(links["Aladin"]).netloc == "aladin.cds.unistra.fr"


def test_frames_table_describes_every_column_of_the_model_in_order():
    from app.models.run import FRAME_COLUMNS
    from app.views.frames import COLUMNS

    assert tuple(name for name, *_ in COLUMNS) == FRAME_COLUMNS
    assert all(title and width > 0 and tip for _, title, _, width, tip in COLUMNS)
