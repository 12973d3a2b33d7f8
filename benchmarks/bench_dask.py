"""Throughput of RPF on Dask: serial vs one vs two worker processes.

    flock /tmp/rpf-bench.lock .venv/bin/python benchmarks/bench_dask.py   # 16 frames of 2048x2048
    .venv/bin/python benchmarks/bench_dask.py --frames 4 --size 1024        # a quick look

Each mode first processes ``--warmup`` frames (imports, cached instrument
patterns, worker start-up) and is then timed on every frame:

- ``serial``: :func:`rpf.pipeline.process_frame` frame after frame in this
  process, limited to one BLAS/OpenMP thread like the workers (the Dask
  nanny starts them with ``OMP_NUM_THREADS=1``);
- ``1_worker`` / ``2_workers``: :func:`rpf.pipeline.run` on a
  ``LocalCluster`` of worker processes with one thread each.  The one
  worker's tasks are held to one thread (``execution.task_threads=1``):
  otherwise, alone on a 2-core machine, each would be given both cores (a
  run's tasks share the free cores, ``rpf.pipeline.cluster.task_threads``)
  and the ratio would no longer measure scaling from one core to two; the
  two workers run with the default (one thread per task for a night).

With ``--no-reuse`` the Dask runs keep no checkpoints (``reuse=False``), to
see what writing them costs; that report goes to ``bench_dask_no_reuse.json``.

Writes benchmarks/results/bench_dask.json: wall time and frames/minute per
mode, per-frame medians, the 2-worker / 1-worker scaling, the Dask overhead
per frame (1-worker wall time per frame against the serial compute per
frame), where each mode's time goes (stage medians), and a paper estimate
for 1000 frames on 32 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from rpf.calibration import build_masters
from rpf.config import PipelineConfig
from rpf.pipeline import RunContext, RunRequest, process_frame
from rpf.pipeline.cluster import open_client
from rpf.pipeline.events import FrameDone, RunFinished
from rpf.pipeline.runner import run
from rpf.simulate import write_demo_dataset

RESULTS = Path(__file__).parent / "results"


def _serial(paths, warm, calib, config, out_dir):
    """Eager frames in this process, one thread; returns wall, per-frame seconds, stage timings."""
    with threadpool_limits(limits=1):
        masters = build_masters(**calib, config=config)
        ctx = RunContext(config=config, masters=masters, out_dir=out_dir)
        for path in warm:
            process_frame(path, ctx)
        start = time.perf_counter()
        masters = build_masters(**calib, config=config)
        ctx = RunContext(config=config, masters=masters, out_dir=out_dir)
        per_frame, stages, ok = [], [], 0
        for path in paths:
            t0 = time.perf_counter()
            result = process_frame(path, ctx)
            per_frame.append(time.perf_counter() - t0)
            stages.append(result.metadata["timings"])
            ok += result.ok
        wall = time.perf_counter() - start
    return {"wall": wall, "per_frame": per_frame, "stages": stages, "ok": ok}


def _dask(paths, warm, calib, config, out_dir, n_workers, reuse=True):
    """The same frames through :func:`run` on a local cluster of ``n_workers`` processes."""
    execution = {"n_workers": n_workers, "threads_per_worker": 1, "dashboard_address": None}
    if n_workers == 1:
        execution["task_threads"] = 1
    config = config.replace(execution=execution)
    with open_client(config.execution) as client:
        client.wait_for_workers(n_workers)
        warm_up = RunRequest(science=warm, out_dir=out_dir / "warm", config=config, lightcurves=False, reuse=reuse,
                             **calib)
        list(run(warm_up, client=client))
        start = time.perf_counter()
        request = RunRequest(science=paths, out_dir=out_dir, config=config, lightcurves=False, reuse=reuse, **calib)
        events = list(run(request, client=client))
        wall = time.perf_counter() - start
    done = [e for e in events if isinstance(e, FrameDone)]
    finished = next(e for e in events if isinstance(e, RunFinished))
    compute = [sum(e.metadata["timings"].values()) for e in done]
    return {"wall": wall, "per_frame": compute, "stages": [e.metadata["timings"] for e in done], "ok": finished.n_ok}


def _stage_medians(stages: list[dict]) -> dict[str, float]:
    names = sorted({k for s in stages for k in s})
    return {k: round(statistics.median(s.get(k, 0.0) for s in stages), 3) for k in names}


def _estimate(per_frame_s: float, overhead_s: float, *, n_frames: int, n_workers: int) -> dict:
    """Paper estimate of a large run: every worker a core, frames spread evenly, no stragglers."""
    waves = -(-n_frames // n_workers)
    seconds = waves * (per_frame_s + overhead_s)
    return {
        "frames": n_frames,
        "workers": n_workers,
        "assumptions": "one single-threaded worker per core, local disks, per-frame time and overhead as measured "
        "on 1 worker here, ceil(frames/workers) waves, scheduler cost ~1 ms/task negligible",
        "seconds": round(seconds, 1),
        "frames_per_minute": round(60 * n_frames / seconds, 1),
    }


def main() -> None:
    """Run the three modes and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reuse", action="store_true",
                        help="runs without reuse, hence without checkpoints (to see what writing them costs)")
    args = parser.parse_args()
    reuse = not args.no_reuse

    load_before = [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_all = args.frames + args.warmup
        data = write_demo_dataset(tmp / "raw", n_frames=n_all, seed=args.seed, shape=(args.size, args.size))
        calib = {k: data[k] for k in ("bias", "dark", "flat")}
        config = PipelineConfig().replace(
            catalogs={"catalog_file": str(data["catalog"]), "reference": "file", "offline": True, "crossmatch": ()},
            output={"png": False, "zip": False},
        )
        warm, paths = data["science"][: args.warmup], data["science"][args.warmup :]
        modes = {}
        for name, job in (
            ("serial", lambda: _serial(paths, warm, calib, config, tmp / "serial")),
            ("1_worker", lambda: _dask(paths, warm, calib, config, tmp / "w1", 1, reuse)),
            ("2_workers", lambda: _dask(paths, warm, calib, config, tmp / "w2", 2, reuse)),
        ):
            modes[name] = job()
            print(f"{name}: {modes[name]['wall']:.1f} s", flush=True)
    n = len(paths)
    serial, one, two = (modes[k]["wall"] for k in ("serial", "1_worker", "2_workers"))
    serial_per_frame = serial / n
    overhead = (one - serial) / n
    report = {
        "frames": n,
        "shape": [args.size, args.size],
        "warmup_frames": args.warmup,
        "reuse_and_checkpoints": reuse,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "load_before": load_before,
        "load_after": [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]],
        "modes": {
            name: {
                "seconds": round(m["wall"], 2),
                "frames_ok": m["ok"],
                "frames_per_minute": round(60 * n / m["wall"], 2),
                "median_frame_compute_s": round(statistics.median(m["per_frame"]), 3),
            }
            for name, m in modes.items()
        },
        "scaling_2_vs_1": round(one / two, 3),
        "dask_overhead_per_frame_s": round(overhead, 3),
        "dask_overhead_fraction": round(overhead / serial_per_frame, 4),
        "serial_stage_medians_s": _stage_medians(modes["serial"]["stages"]),
        "stage_medians_s": {name: _stage_medians(m["stages"]) for name, m in modes.items()},
        "estimate_1000_frames_32_workers": _estimate(serial_per_frame, max(overhead, 0.0), n_frames=1000, n_workers=32),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("bench_dask.json" if reuse else "bench_dask_no_reuse.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
