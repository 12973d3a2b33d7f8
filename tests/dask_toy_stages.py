"""Stand-in pipeline stages for the Dask tests: cheap, with a controllable duration.

A module of its own (not a test module) so that the scheduler and the
workers started by the tests can import it (they get ``tests/`` on their
``PYTHONPATH``).
"""

from __future__ import annotations

import os
import time

import numpy as np
from astropy.io import fits

from rpf.errors import FrameError


def toy_load(state, ctx):
    """Read the pixels; the mean goes to ``limiting_mag`` so results are checkable."""
    try:
        data = fits.getdata(state.path)
    except OSError as exc:
        raise FrameError(state.path, f"cannot read FITS: {exc}") from exc
    return state.evolve(limiting_mag=float(np.mean(data))).note("toy load")


def toy_threads(state, ctx):
    """Note when the frame started, and how many OpenMP threads its task may use."""
    from threadpoolctl import threadpool_info

    threads = min((p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"), default=None)
    return state.note(f"toy start {time.time():.6f}; openmp threads {threads}")


def toy_end(state, ctx):
    """Note when the frame's last stage ran."""
    return state.note(f"toy end {time.time():.6f}")


def toy_slow(state, ctx):
    """Sleep ``$RPF_TOY_SLEEP`` seconds (default 0.8)."""
    time.sleep(float(os.environ.get("RPF_TOY_SLEEP", "0.8")))
    return state.note("toy slow")


def toy_astrometry(state, ctx):
    """Note how many reference stars the frame was given."""
    return state.note(f"toy astrometry: reference rows {0 if state.reference is None else len(state.reference)}")


TOY = (("load", toy_load), ("slow", toy_slow), ("astrometry", toy_astrometry))
TIMED = (("load", toy_load), ("threads", toy_threads), ("slow", toy_slow), ("end", toy_end))
