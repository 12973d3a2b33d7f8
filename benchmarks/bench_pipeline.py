"""Time the whole frame (``process_frame``) against its slowest library call and the earlier script.

Usage::

    flock /tmp/rpf-bench.lock .venv/bin/python benchmarks/bench_pipeline.py [--sizes 2048 4096] [--repeats 3]

For each size a simulated raw frame is written to disk with raw bias, dark and
flat frames (masters built once, as a run does) and a local reference
catalogue (Gaia column names), so the zero point runs offline; PSF
photometry and cross-matches are off (no network).  Side by side, in one
run, interleaved repeat by repeat so that the shared machine's load falls
on all of them alike (after a warm-up on a small frame):

- ``pipeline``: ``rpf.pipeline.process_frame(path, RunContext(...))`` —
  load, calibration, ..., zero point, products (CSV, JSON, PNG, ZIP);
  its per-stage timings (``metadata["timings"]``), products = the rest;
- ``astroscrappy_full_frame``: the single slowest library call, one
  ``astroscrappy.detect_cosmics`` on the whole calibrated frame with the
  pipeline's parameters and mask;
- ``cosmics_tiled``: ``rpf.cosmics.clean_cosmic_rays`` as the pipeline runs it
  (tiles), and with ``workers=2``;
- ``baseline``: the earlier version's straightforward script on the same raw
  file (``bench_stages_vs_baseline.baseline_frame``); every parameter RPF
  changes against it (L.A.Cosmic: 2 iterations and growing against 4, ...)
  is written to the JSON as ``parameters_vs_earlier_version``.

Medians of ``--repeats``; wall and process CPU seconds.  Peak memory of one
``process_frame`` is measured in a fresh subprocess per size (the resident
high-water mark ``VmHWM``, reset just before the call, minus the resident
size then; masters loaded and a small frame processed beforehand; and
``tracemalloc``'s peak in another fresh subprocess), relative to the
frame's float32 size.  Results: ``benchmarks/results/bench_pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import astroscrappy
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_stages_vs_baseline import baseline_frame, parameter_differences  # noqa: E402

from rpf.calibration import MasterFrames, build_masters, calibrate  # noqa: E402
from rpf.config import PipelineConfig  # noqa: E402
from rpf.cosmics import clean_cosmic_rays  # noqa: E402
from rpf.io import load_frame  # noqa: E402
from rpf.pipeline import RunContext, process_frame  # noqa: E402
from rpf.simulate import InstrumentModel, field_catalog, simulate_calibration_frames, simulate_frame, write_fits  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_pipeline.json"
CENTER = (150.0, 20.0)
PIXEL_SCALE = 1.0
N_CALIB = 3


def write_dataset(size: int, folder: Path, *, seed: int = 7) -> dict[str, Any]:
    """Write a raw science frame, raw bias/dark/flat frames and the reference catalogue."""
    instrument = InstrumentModel(seed=seed)
    shape = (size, size)
    catalog = field_catalog(CENTER, shape, PIXEL_SCALE, seed)
    sim = simulate_frame(
        catalog=catalog,
        seed=seed,
        shape=shape,
        center=CENTER,
        pixel_scale=PIXEL_SCALE,
        instrument=instrument,
        n_cosmic_rays=40 * size * size // 1024**2,
    )
    paths: dict[str, Any] = {"science": write_fits(sim, folder / f"sim_{size}.fits")}
    calib = simulate_calibration_frames(
        instrument, shape=shape, seed=seed + 1, n_bias=N_CALIB, n_dark=N_CALIB, n_flat=N_CALIB
    )
    for kind, frames in calib.items():
        paths[kind] = [
            write_fits(data, folder / f"{kind}_{size}_{i}.fits", header) for i, (data, header) in enumerate(frames)
        ]
    paths["catalog"] = folder / f"reference_{size}.csv"
    catalog.write(paths["catalog"], format="ascii.csv", overwrite=True)
    return paths


def bench_config(catalog: Path) -> PipelineConfig:
    """The pipeline's defaults, offline with a local catalogue, no PSF, no cross-match."""
    return PipelineConfig().replace(
        catalogs={"catalog_file": str(catalog), "reference": "file", "offline": True, "crossmatch": ()},
        psf={"enabled": False},
    )


def masters_for(paths: dict[str, Any], config: PipelineConfig) -> MasterFrames:
    """Master frames from the raw calibration files."""
    return build_masters(bias=paths["bias"], dark=paths["dark"], flat=paths["flat"], config=config)


def frame_calls(paths: dict[str, Any], config: PipelineConfig, masters: MasterFrames, out: Path) -> dict[str, Callable]:
    """The timed calls, each a zero-argument callable."""
    ctx = RunContext(config=config, masters=masters, out_dir=out)
    frame = calibrate(load_frame(paths["science"], defaults=config.header), masters, config=config.calibration)
    meta, cfg = frame.meta, config.cosmics
    ignore = ~np.isfinite(frame.data) if frame.mask is None else (frame.mask != 0) | ~np.isfinite(frame.data)
    pixels = np.where(np.isfinite(frame.data), frame.data, np.float32(0.0))

    def scrappy() -> Any:
        return astroscrappy.detect_cosmics(
            pixels,
            inmask=ignore,
            sigclip=cfg.sigclip,
            sigfrac=cfg.sigfrac,
            objlim=cfg.objlim,
            niter=cfg.niter,
            gain=meta.gain,
            readnoise=meta.read_noise,
            satlevel=meta.saturation * meta.gain,
            sepmed=cfg.sepmed,
            verbose=False,
        )

    def tiled(workers: int) -> Callable[[], Any]:
        tile_config = config.replace(cosmics={"workers": workers}).cosmics
        return lambda: clean_cosmic_rays(
            frame.data,
            gain=meta.gain,
            read_noise=meta.read_noise,
            saturation=meta.saturation,
            mask=frame.mask,
            config=tile_config,
        )

    return {
        "pipeline": lambda: process_frame(paths["science"], ctx),
        "astroscrappy_full_frame": scrappy,
        "cosmics_tiled_1_worker": tiled(1),
        "cosmics_tiled_2_workers": tiled(2),
        "baseline": lambda: baseline_frame(paths["science"], masters),
    }


def run_interleaved(calls: dict[str, Callable], repeats: int) -> tuple[dict[str, dict[str, float]], dict[str, list]]:
    """Run every call once per repeat, in turn; return wall/CPU statistics and the pipeline's stage timings."""
    wall: dict[str, list[float]] = {name: [] for name in calls}
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    stages: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, call in calls.items():
            start_cpu, start = time.process_time(), time.perf_counter()
            result = call()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            if name == "pipeline":
                if result.status != "ok":
                    raise RuntimeError(f"pipeline failed: {result.error}")
                timings = result.metadata["timings"]
                for stage, seconds in timings.items():
                    stages.setdefault(stage, []).append(seconds)
                stages.setdefault("products_and_glue", []).append(wall[name][-1] - sum(timings.values()))
    stats = {
        name: {
            "median_s": statistics.median(wall[name]),
            "min_s": min(wall[name]),
            "max_s": max(wall[name]),
            "cpu_median_s": statistics.median(cpu[name]),
        }
        for name in calls
    }
    return stats, stages


def memory_probe(size: int, folder: Path, mode: str) -> dict[str, float]:
    """In this (fresh) process: peak memory of one ``process_frame`` (``mode`` "rss" or "tracemalloc").

    A 256² frame is processed first, so that lazy imports (plotting, catalogue
    readers) are not counted as the frame's memory.
    """
    paths = {
        "science": folder / f"sim_{size}.fits",
        "catalog": folder / f"reference_{size}.csv",
        **{kind: sorted(folder.glob(f"{kind}_{size}_*.fits")) for kind in ("bias", "dark", "flat")},
    }
    warm = write_dataset(256, folder / f"probe_{mode}_warm")
    warm_config = bench_config(warm["catalog"])
    warm_ctx = RunContext(warm_config, masters_for(warm, warm_config), folder / f"probe_{mode}_warm")
    process_frame(warm["science"], warm_ctx)
    config = bench_config(paths["catalog"])
    ctx = RunContext(config=config, masters=masters_for(paths, config), out_dir=folder / f"probe_{mode}")
    if mode == "tracemalloc":
        tracemalloc.start()
        result = process_frame(paths["science"], ctx)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return {"status": result.status, "tracemalloc_peak_mb": peak / 2**20}
    before = _memory_status()["VmRSS"]
    Path("/proc/self/clear_refs").write_text("5")  # reset the resident high-water mark (VmHWM)
    result = process_frame(paths["science"], ctx)
    peak = _memory_status()["VmHWM"]
    return {"status": result.status, "rss_before_mb": before, "rss_peak_mb": peak, "rss_delta_mb": peak - before}


def _memory_status() -> dict[str, float]:
    """``VmRSS``/``VmHWM`` of this process in MiB (Linux ``/proc/self/status``)."""
    lines = Path("/proc/self/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1]) / 1024 for line in lines if line.startswith("Vm")}


def _probe_in_subprocess(size: int, folder: Path, mode: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--probe", str(size), str(folder), mode]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_size(size: int, repeats: int, folder: Path) -> dict[str, Any]:
    """Every figure for one frame size."""
    paths = write_dataset(size, folder)
    config = bench_config(paths["catalog"])
    start = time.perf_counter()
    masters = masters_for(paths, config)
    masters_s = time.perf_counter() - start
    stats, stages = run_interleaved(frame_calls(paths, config, masters, folder / "out"), repeats)
    frame_mb = size * size * 4 / 2**20
    rss = _probe_in_subprocess(size, folder, "rss")
    traced = _probe_in_subprocess(size, folder, "tracemalloc")
    whole = stats["pipeline"]["median_s"]
    return {
        "frame_float32_mb": frame_mb,
        "build_masters_s": masters_s,
        "timings": stats,
        "pipeline_stages_median_s": {name: statistics.median(values) for name, values in stages.items()},
        "pipeline_over_slowest_call": whole / stats["astroscrappy_full_frame"]["median_s"],
        "baseline_over_pipeline": stats["baseline"]["median_s"] / whole,
        "memory": {**rss, **traced},
        "rss_delta_over_frame": rss["rss_delta_mb"] / frame_mb,
        "tracemalloc_peak_over_frame": traced["tracemalloc_peak_mb"] / frame_mb,
    }


def warm_up(folder: Path) -> None:
    """Import, compile and cache everything once on a small frame."""
    paths = write_dataset(512, folder)
    config = bench_config(paths["catalog"])
    for call in frame_calls(paths, config, masters_for(paths, config), folder / "out").values():
        call()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--probe", nargs=3, metavar=("SIZE", "FOLDER", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        size, folder, mode = args.probe
        print(json.dumps(memory_probe(int(size), Path(folder), mode)))
        return
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "repeats": args.repeats,
        "config": "PipelineConfig defaults; catalogs offline with a local file, crossmatch=(), psf off",
        "parameters_vs_earlier_version": parameter_differences(PipelineConfig()),
        "frames": {},
    }
    with tempfile.TemporaryDirectory(prefix="rpf-bench-") as tmp:
        warm_up(Path(tmp) / "warm")
        for size in args.sizes:
            entry = bench_size(size, args.repeats, Path(tmp) / str(size))
            report["frames"][str(size)] = entry
            print(json.dumps({size: _summary(entry)}, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"written {args.out}")


def _summary(entry: dict[str, Any]) -> dict[str, float]:
    out = {name: round(s["median_s"], 2) for name, s in entry["timings"].items()}
    ratios = ("pipeline_over_slowest_call", "baseline_over_pipeline", "rss_delta_over_frame")
    for key in (*ratios, "tracemalloc_peak_over_frame"):
        out[key] = round(entry[key], 2)
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
