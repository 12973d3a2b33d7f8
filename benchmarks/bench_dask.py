"""Throughput of RPF on Dask: serial vs one vs two worker processes.

    .venv/bin/python benchmarks/bench_dask.py                 # 16 frames of 2048x2048
    .venv/bin/python benchmarks/bench_dask.py --frames 4 --size 1024

Writes benchmarks/results/bench_dask.json: wall time and frames/minute per
mode, the 2-worker / 1-worker scaling, and the Dask overhead per frame
(1-worker wall time minus the serial time, per frame, relative to the
serial per-frame compute).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from rpf.calibration import build_masters
from rpf.config import PipelineConfig
from rpf.pipeline import RunContext, process_frame
from rpf.pipeline.cluster import open_client
from rpf.pipeline.runner import run
from rpf.simulate import write_demo_dataset

RESULTS = Path(__file__).parent / "results"


def _serial(paths, calib, config, out_dir):
    start = time.perf_counter()
    masters = build_masters(**calib, config=config)
    ctx = RunContext(config=config, masters=masters, out_dir=out_dir)
    results = [process_frame(p, ctx) for p in paths]
    return time.perf_counter() - start, sum(r.ok for r in results)


def _dask(paths, calib, config, out_dir, n_workers):
    config = config.replace(execution={"n_workers": n_workers, "threads_per_worker": 1, "dashboard_address": None})
    with open_client(config.execution) as client:
        client.run(lambda: None)  # workers up before the clock starts
        start = time.perf_counter()
        events = list(run(paths, config=config, out_dir=out_dir, client=client, lightcurves=False, **calib))
        seconds = time.perf_counter() - start
    return seconds, events[-1].n_ok


def main() -> None:
    """Run the three modes and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_demo_dataset(tmp / "raw", n_frames=args.frames, seed=args.seed, shape=(args.size, args.size))
        calib = {k: data[k] for k in ("bias", "dark", "flat")}
        config = PipelineConfig().replace(
            catalogs={"catalog_file": str(data["catalog"]), "reference": "file", "offline": True},
            output={"png": False, "zip": False},
        )
        paths = data["science"]
        modes = {
            "serial": _serial(paths, calib, config, tmp / "serial"),
            "1_worker": _dask(paths, calib, config, tmp / "w1", 1),
            "2_workers": _dask(paths, calib, config, tmp / "w2", 2),
        }
    n = len(paths)
    report = {
        "frames": n,
        "shape": [args.size, args.size],
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "modes": {
            name: {"seconds": round(s, 2), "frames_ok": ok, "frames_per_minute": round(60 * n / s, 2)}
            for name, (s, ok) in modes.items()
        },
    }
    serial, one, two = (modes[k][0] for k in ("serial", "1_worker", "2_workers"))
    report["scaling_2_vs_1"] = round(one / two, 3)
    report["dask_overhead_per_frame_s"] = round((one - serial) / n, 3)
    report["dask_overhead_fraction"] = round((one - serial) / serial, 4)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "bench_dask.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
