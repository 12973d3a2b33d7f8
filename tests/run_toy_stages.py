"""Stand-in steps for the run-ownership tests (``tests/test_runs.py``): cheap, and failing on purpose.

A module of its own (not a test module) so that Dask worker processes can
import the steps (they get the test process's ``sys.path``).
"""

from __future__ import annotations

import os
from pathlib import Path

from dask_toy_stages import toy_load


class Exploding:
    """A stand-in ``Frame`` whose first use raises; each use is counted in a file (one line per use)."""

    def __init__(self, counter: str) -> None:
        self.counter = counter

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "counter":
            raise AttributeError(name)
        with open(self.counter, "a") as stream:
            stream.write(f"{os.getpid()} {name}\n")
        raise RuntimeError(f"toy frame: {name} is not there")


def toy_bad_frame(state, ctx):
    """Leave a frame that makes the ``products`` step raise (a deterministic failure outside any step)."""
    if "bad" not in Path(state.path).name:
        return state
    return state.evolve(frame=Exploding(str(Path(state.path).with_suffix(".uses"))))


def toy_kill_worker(state, ctx):
    """End the worker process at once for a frame named ``*kill*`` (a worker lost mid-frame)."""
    if "kill" in Path(state.path).name:
        os._exit(13)
    return state


TOY = (("load", toy_load),)
BAD = (("load", toy_load), ("bad", toy_bad_frame))
KILL = (("load", toy_load), ("kill", toy_kill_worker))
