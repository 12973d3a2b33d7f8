"""The Moffat FWHM fit stays finite on stamps that throw Levenberg-Marquardt far off.

Regression: frame 3 of the seed-5 demo night drove one stamp's ``log_alpha`` to
about -440, so ``exp(-2 log_alpha)`` overflowed and the ``fwhm`` step failed
(pytest turns the RuntimeWarning into an error; in production the fit went wrong).
The pipeline test below fails without the bounds on ``log_alpha``; the direct
fit checks that the bounds leave a clean star's FWHM unbiased.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.models.night_demo import demo_config, write_night_demo
from rpf.detection.fwhm import _fit_moffat_fwhm
from rpf.pipeline import RunRequest, run_eager
from rpf.pipeline.events import FrameDone, FrameFailed


def test_seed5_demo_frame3_measures_its_fwhm(tmp_path):
    demo = write_night_demo(tmp_path / "frames", seed=5)
    request = RunRequest(
        science=(demo.science[3],),
        bias=demo.bias,
        dark=demo.dark,
        flat=demo.flat,
        out_dir=str(tmp_path / "out"),
        config=demo_config(demo),
    )
    events = list(run_eager(request))
    assert not [e.message for e in events if isinstance(e, FrameFailed)]
    (done,) = [e for e in events if isinstance(e, FrameDone)]
    # the demo's seeing is 3" (jittered by 10 %) at 2"/px
    assert done.result.metadata["fwhm_px"] == pytest.approx(1.5, rel=0.25)


def test_fit_of_starless_and_star_stamps_stays_finite():
    rng = np.random.default_rng(3)
    half = 8
    axis = np.arange(-half, half + 1, dtype=float)
    r2 = axis[None, :] ** 2 + axis[:, None] ** 2
    alpha, beta = 3.0, 3.0
    star = 1000.0 * (1.0 + r2 / alpha**2) ** -beta + 50.0
    stamps = np.stack(
        [
            star + rng.normal(0, 1.0, star.shape),
            rng.normal(0, 1.0, star.shape),  # noise only
            np.where(r2 == 0, 5000.0, 0.0) + rng.normal(0, 1.0, star.shape),
        ]
    )  # one hot pixel
    with np.errstate(all="raise"):
        fwhm = _fit_moffat_fwhm(stamps, half, 2.0)
    true_fwhm = 2.0 * alpha * np.sqrt(2.0 ** (1.0 / beta) - 1.0)
    assert fwhm[0] == pytest.approx(true_fwhm, rel=0.1)
