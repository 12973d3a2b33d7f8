"""Time rpf.simulate: frames of several sizes and star counts, written to JSON.

Usage: python benchmarks/bench_simulate.py [--out benchmarks/results/simulate.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from rpf.simulate import InstrumentModel, random_star_catalog, simulate_calibration_frames, simulate_frame


def _time(func, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/simulate.json")
    args = parser.parse_args()
    inst = InstrumentModel(seed=1)
    results = []
    for size, n_stars in [(1024, 800), (2048, 3000), (4096, 6000)]:
        radius = 0.5 * 1.42 * size / 3600.0
        cat = random_star_catalog(ra=150.0, dec=20.0, radius_deg=radius, n_stars=n_stars, seed=1)
        shape = (size, size)
        start = time.perf_counter()
        sim = simulate_frame(catalog=cat, seed=1, shape=shape, instrument=inst, airmass=1.2)
        first = time.perf_counter() - start
        cached = _time(
            lambda cat=cat, shape=shape: simulate_frame(catalog=cat, seed=2, shape=shape, instrument=inst, airmass=1.2)
        )
        calib = _time(
            lambda shape=shape: simulate_calibration_frames(inst, shape=shape, seed=3, n_bias=1, n_dark=1, n_flat=1),
            repeat=1,
        )
        results.append(
            {
                "shape": list(shape),
                "n_stars_rendered": len(sim.truth.stars),
                "first_frame_s": round(first, 3),
                "frame_s": round(cached, 3),
                "bias_dark_flat_s": round(calib, 3),
            }
        )
        print(results[-1])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
