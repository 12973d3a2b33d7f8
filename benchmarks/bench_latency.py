"""Latency of one frame: ``rpf run`` (Dask) against ``rpf run --eager`` and the frame's own compute.

Usage::

    flock /tmp/rpf-bench.lock .venv/bin/python benchmarks/bench_latency.py [--sizes 4096 2048] [--repeats 3]

For each size the script writes one simulated raw science frame, 5 bias,
5 dark and 5 flat frames (Rice tile-compressed, ``.fits.fz``) and the
field's reference catalogue, then times as subprocesses, from start to
exit, interleaved repeat by repeat after one warm-up of each (so the shared
machine's load falls on every mode alike):

- ``default``: ``rpf run`` on the default path (embedded Dask cluster),
  masters built (cache emptied before each run);
- ``eager``: ``rpf run --eager`` (this process, all cores), masters built;
- ``default_warm``: ``rpf run`` with the masters already in the cache
  (only when the calibration section has a masters cache);
- ``rerun_on_a_running_cluster``: the dashboard's case, :func:`rpf.pipeline.run`
  in this process on a local cluster kept running, masters warm.

From the eager runs' ``run_summary.csv`` comes the frame's stage times; the
masters are timed in this process (``build_masters`` with all cores, no
cache).  Ratios are of medians: ``default / eager`` (goal <= 1.1),
``default / (eager stages + masters)`` (goal <= 1.25) and
``default_warm / eager stages`` (goal <= 1.1).  The run's own accounting
(``RunFinished.timings`` when present) is kept for each timed run.
Results: ``benchmarks/results/bench_latency.json`` with the load
(``/proc/loadavg``) before and after.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from rpf.calibration import build_masters
from rpf.config import CalibrationConfig, PipelineConfig
from rpf.simulate import InstrumentModel, field_catalog, simulate_calibration_frames, simulate_frame, write_fits

RESULTS = Path(__file__).parent / "results" / "bench_latency.json"
RPF = [sys.executable, "-m", "rpf.cli"]
CENTER = (150.0, 20.0)
N_CALIB = 5
GOALS = {"default_over_eager": 1.1, "default_over_stages_plus_masters": 1.25, "warm_over_stages": 1.1}


def has_masters_cache() -> bool:
    """True when this RPF caches masters (``calibration.cache_dir``)."""
    return "cache_dir" in {f.name for f in fields(CalibrationConfig)}


def write_dataset(size: int, folder: Path, *, seed: int = 11) -> dict[str, Any]:
    """One raw science frame, 5+5+5 Rice-compressed calibration frames and the reference catalogue."""
    instrument = InstrumentModel(seed=seed)
    shape = (size, size)
    catalog = field_catalog(CENTER, shape, 1.0, seed)
    sim = simulate_frame(
        catalog=catalog, seed=seed, shape=shape, center=CENTER, instrument=instrument,
        n_cosmic_rays=40 * size * size // 1024**2,
    )
    paths: dict[str, Any] = {"science": write_fits(sim, folder / f"sci_{size}.fits")}
    calib = simulate_calibration_frames(
        instrument, shape=shape, seed=seed + 1, n_bias=N_CALIB, n_dark=N_CALIB, n_flat=N_CALIB
    )
    for kind, frames in calib.items():
        paths[kind] = [
            write_fits(data, folder / f"{kind}_{i}.fits.fz", header, compress=True)
            for i, (data, header) in enumerate(frames)
        ]
    paths["catalog"] = folder / "reference.csv"
    catalog.write(paths["catalog"], format="ascii.csv", overwrite=True)
    return paths


def bench_config(paths: dict[str, Any], cache: Path) -> PipelineConfig:
    """Defaults, offline with the local catalogue, no cross-match, no Dask dashboard; masters cache in ``cache``."""
    changes: dict[str, dict] = {
        "catalogs": {"catalog_file": str(paths["catalog"]), "reference": "file", "offline": True, "crossmatch": ()},
        "execution": {"dashboard_address": None},
    }
    if has_masters_cache():
        changes["calibration"] = {"cache_dir": str(cache)}
    return PipelineConfig().replace(**changes)


def command(paths: dict[str, Any], config_file: Path, out: Path, *, eager: bool) -> list[str]:
    """The ``rpf run`` command line of one timed run."""
    calib = [arg for kind in ("bias", "dark", "flat") for arg in (f"--{kind}", *map(str, paths[kind]))]
    return [*RPF, "run", str(paths["science"]), "--out", str(out), "--config", str(config_file), *calib,
            *(["--eager"] if eager else [])]


def timed_run(argv: list[str], out: Path) -> dict[str, Any]:
    """Run one ``rpf run`` subprocess; return its wall time, the frame's stage timings and the run's accounting."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    with (out / "run_summary.csv").open() as handle:
        row = next(csv.DictReader(handle))
    run_timings = out / "run_timings.json"
    return {
        "wall_s": wall,
        "stages": json.loads(row["timings"]),
        "run": json.loads(run_timings.read_text()) if run_timings.exists() else None,
    }


def masters_seconds(paths: dict[str, Any], config: PipelineConfig) -> float:
    """Build the masters once in this process (all cores, no cache)."""
    if has_masters_cache():
        config = config.replace(calibration={"cache_dir": None})
    start = time.perf_counter()
    build_masters(bias=paths["bias"], dark=paths["dark"], flat=paths["flat"], config=config)
    return time.perf_counter() - start


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def bench_size(size: int, repeats: int, folder: Path) -> dict[str, Any]:
    """Every mode for one frame size, interleaved repeat by repeat after a warm-up."""
    paths = write_dataset(size, folder / "raw")
    cache = folder / "masters-cache"
    config = bench_config(paths, cache)
    config_file = folder / "config.json"
    config.save(config_file)
    modes = {
        "default": command(paths, config_file, folder / "out_default", eager=False),
        "eager": command(paths, config_file, folder / "out_eager", eager=True),
    }
    warm = has_masters_cache()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in (*modes, "masters")}
    if warm:
        runs["default_warm"] = []
    for repeat in range(repeats + 1):
        record = repeat > 0  # the first round is the warm-up
        for name, argv in modes.items():
            shutil.rmtree(cache, ignore_errors=True)
            result = timed_run(argv, folder / f"out_{name}")
            if record:
                runs[name].append(result)
        if warm:  # the cache now holds the masters of the last cold run
            argv = command(paths, config_file, folder / "out_default_warm", eager=False)
            result = timed_run(argv, folder / "out_default_warm")
            if record:
                runs["default_warm"].append(result)
        seconds = masters_seconds(paths, config)
        if record:
            runs["masters"].append({"wall_s": seconds})
        print(f"{size}: round {repeat}: " + ", ".join(f"{k} {v[-1]['wall_s']:.1f} s" for k, v in runs.items() if v),
              flush=True)
    wall = {name: _median([r["wall_s"] for r in results]) for name, results in runs.items()}
    stage_names = sorted({k for r in runs["eager"] for k in r["stages"]})
    eager_stages = {k: _median([r["stages"].get(k, 0.0) for r in runs["eager"]]) for k in stage_names}
    dask_stages = {k: _median([r["stages"].get(k, 0.0) for r in runs["default"]]) for k in stage_names}
    stages_total = round(statistics.median(sum(r["stages"].values()) for r in runs["eager"]), 3)
    entry: dict[str, Any] = {
        "wall_median_s": wall,
        "wall_all_s": {name: [round(r["wall_s"], 3) for r in results] for name, results in runs.items()},
        "eager_stage_medians_s": eager_stages,
        "default_stage_medians_s": dask_stages,
        "eager_stages_total_s": stages_total,
        "default_over_eager": round(wall["default"] / wall["eager"], 3),
        "default_over_stages_plus_masters": round(wall["default"] / (stages_total + wall["masters"]), 3),
        "run_accounting": {
            name: [r.get("run") for r in results] for name, results in runs.items() if name != "masters"
        },
    }
    if warm:
        entry["warm_over_stages"] = round(wall["default_warm"] / stages_total, 3)
        entry["rerun_on_a_running_cluster"] = rerun(paths, config, folder / "out_rerun", repeats)
    return entry


def rerun(paths: dict[str, Any], config: PipelineConfig, out: Path, repeats: int) -> dict[str, Any]:
    """The dashboard's re-run: :func:`rpf.pipeline.run` on a cluster kept running, masters warm in the cache.

    Wall time from the call to ``RunFinished`` against the frame's own stage
    times in the same run (median of ``repeats`` after one warm-up).
    """
    from rpf.pipeline import RunRequest
    from rpf.pipeline.cluster import open_client
    from rpf.pipeline.runner import run

    calib = {kind: paths[kind] for kind in ("bias", "dark", "flat")}
    walls, stages, accounting = [], [], []
    with open_client(config.execution) as client:
        for repeat in range(repeats + 1):
            start = time.perf_counter()
            # reuse off: the same frame and parameters again would be reused whole (a re-run computes)
            request = RunRequest(science=[paths["science"]], config=config, out_dir=out, reuse=False, **calib)
            events = list(run(request, client=client))
            wall = time.perf_counter() - start
            done = [e for e in events if e.kind == "frame_done"]
            if not done:
                raise RuntimeError(f"re-run failed: {[e.to_dict() for e in events if e.kind == 'frame_failed']}")
            if repeat > 0:
                walls.append(wall)
                stages.append(sum(done[0].metadata["timings"].values()))
                accounting.append(events[-1].timings)
    return {
        "wall_median_s": _median(walls),
        "stages_median_s": _median(stages),
        "wall_over_stages": round(statistics.median(w / s for w, s in zip(walls, stages, strict=True)), 3),
        "run_accounting": accounting,
    }


def _load() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


def main() -> None:
    """Run every size and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {"python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))},
        "repeats": args.repeats,
        "goals": GOALS,
        "config": "PipelineConfig defaults; catalogs offline with a local file, crossmatch=(), no Dask dashboard",
        "load_before": _load(),
        "frames": {},
    }
    with tempfile.TemporaryDirectory(prefix="rpf-latency-") as tmp:
        for size in args.sizes:
            report["frames"][str(size)] = bench_size(size, args.repeats, Path(tmp) / str(size))
            print(json.dumps({size: {k: v for k, v in report["frames"][str(size)].items()
                                     if k.endswith(("_over_eager", "_masters", "_stages", "median_s"))}}, indent=1),
                  flush=True)
    report["load_after"] = _load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
