"""Dask task granularity: every step its own task, or consecutive steps grouped (``TASK_GROUPS``).

``flock /tmp/rpf-bench.lock .venv/bin/python benchmarks/bench_task_groups.py [--frames 8 --size 1024
--repeats 3]`` writes ``benchmarks/results/bench_task_groups.json``.  Simulated frames (bias/dark/flat,
a reference catalogue file, offline, no PNG/ZIP) run on a local cluster of two single-threaded worker
processes, the two graphs alternating repeat by repeat after a warm-up of each; the wall time runs
from submitting the graph to the last frame's result.  Each step still reports its own event either
way; what changes is how many tasks the scheduler handles and how often a frame's state is handed
from one task to the next.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from distributed import wait

from rpf.config import PipelineConfig
from rpf.pipeline import start_cluster
from rpf.pipeline.graph import build_run_graph
from rpf.pipeline.stages import STAGES, TASK_GROUPS
from rpf.simulate import write_demo_dataset

RESULTS = Path(__file__).parent / "results"
MODES = {"grouped": TASK_GROUPS, "one_task_per_step": ()}


def _once(client, paths, config, out_dir, groups) -> tuple[float, int]:
    graphs = build_run_graph(paths["science"], config=config, out_dir=out_dir, bias=paths["bias"],
                             dark=paths["dark"], flat=paths["flat"], stages=STAGES, groups=groups)
    n_tasks = len({k for g in graphs for k in g.dask})
    start = time.perf_counter()
    futures = client.compute(graphs)
    wait(futures)
    wall = time.perf_counter() - start
    assert all(f.result().ok for f in futures)
    return wall, n_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rpf-bench-groups-") as tmp:
        folder = Path(tmp)
        paths = write_demo_dataset(folder / "raw", n_frames=args.frames, seed=1, shape=(args.size, args.size))
        config = PipelineConfig().replace(
            catalogs={"catalog_file": str(paths["catalog"]), "reference": "file", "offline": True, "crossmatch": ()},
            output={"png": False, "zip": False},
            execution={"n_workers": 2, "threads_per_worker": 1, "dashboard_address": None},
        )
        walls: dict[str, list[float]] = {mode: [] for mode in MODES}
        tasks: dict[str, int] = {}
        with start_cluster(config.execution) as cluster:
            cluster.client.wait_for_workers(2)
            for mode, groups in MODES.items():
                _once(cluster.client, paths, config, folder / f"warm_{mode}", groups)
            for repeat in range(args.repeats):
                for mode, groups in MODES.items():
                    wall, tasks[mode] = _once(cluster.client, paths, config, folder / f"{mode}_{repeat}", groups)
                    walls[mode].append(wall)
                    print(f"{mode:18s} repeat {repeat}: {wall:6.2f} s, {tasks[mode]} tasks", flush=True)
    medians = {mode: statistics.median(values) for mode, values in walls.items()}
    out = {
        "frames": args.frames, "size": args.size, "repeats": args.repeats, "workers": 2,
        "tasks": tasks, "wall_s": walls, "median_wall_s": medians,
        "one_task_per_step_over_grouped": medians["one_task_per_step"] / medians["grouped"],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_task_groups.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
