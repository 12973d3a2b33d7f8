"""The dashboard's Night tab, headless: it follows the session's run and links to the session's selection."""

from __future__ import annotations

import numpy as np
import pytest
from test_app_night_models import _Feed

pytest.importorskip("panel")

pytestmark = [
    # pandas 3 deprecations raised inside bokeh's ColumnDataSource.from_df (the tables' data), Panel 2 names
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

from app.models.night_demo import demo_config, write_night_demo  # noqa: E402
from app.models.run import initial_rows  # noqa: E402
from app.models.session import Session  # noqa: E402
from app.options import ServeOptions  # noqa: E402
from app.views.night_tab import NightTab  # noqa: E402
from rpf.pipeline import RunRequest, run_eager  # noqa: E402


def test_night_tab_follows_the_run_and_links_the_selection(tmp_path):
    demo = write_night_demo(tmp_path / "frames")
    request = RunRequest(science=demo.science, bias=demo.bias, dark=demo.dark, flat=demo.flat,
                         out_dir=str(tmp_path / "out"), config=demo_config(demo))  # fmt: skip
    events = list(run_eager(request))
    session = Session(options=ServeOptions(data_dir=tmp_path / "sessions"), cluster=None)
    tab = NightTab(session=session)
    run = session.run
    run.paths = list(demo.science)
    run.frames = initial_rows(run.paths)
    run._handle = _Feed(events)
    while run.poll():
        pass
    assert tab.night.finished == len(demo.science)
    # a frame clicked in the night view becomes the dashboard's frame on show
    tab.night.pick(3)
    assert session.selection.frame == 3 and session.selection.follow is False
    assert session.shown is not None and session.shown.index == 3
    # one star selected in that frame's photometry table becomes the light curve's star
    phot = tab.night.photometry(3)
    ra, dec = demo.variable
    row = int(np.argmin(np.hypot(phot["ra"] - ra, phot["dec"] - dec)))
    session.selection.pick_stars([row])
    curve = tab.lightcurve.curve
    assert curve is not None and curve.star_id == tab.night.stars.nearest(ra, dec)
    assert len(curve.points) == len(demo.science) - 1
    # the views render
    import panel as pn

    assert pn.panel(tab).get_root() is not None
