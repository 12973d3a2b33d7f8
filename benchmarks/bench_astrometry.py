"""Benchmark of pointing-assisted plate solving on simulated star lists.

Each case draws a random field (scale 0.5-3 "/px, field 10'-90', any
rotation, mirrored or not, pointing error up to 30', scale known to +-10 %),
projects a seeded Gaia-like catalogue through the true WCS, perturbs the star
list (centroid noise, missing stars, spurious detections, brightness-rank
noise) and solves it with ``rpf.astrometry.solve_wcs`` using each pointing
solver.  Writes ``benchmarks/results/astrometry.json``.

Usage: ``python benchmarks/bench_astrometry.py [--cases 30] [--solvers triangles astrometry.net]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import QTable

from rpf.astrometry import solve_wcs
from rpf.config import AstrometryConfig
from rpf.frame import FrameMeta
from rpf.simulate import random_star_catalog
from rpf.simulate.wcs import make_tan_wcs, offset_pointing

RESULTS = Path(__file__).parent / "results" / "astrometry.json"


def make_case(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    scale = float(rng.uniform(0.5, 3.0))
    field_arcmin = float(rng.uniform(10.0, 90.0))
    n = int(round(field_arcmin * 60 / scale))
    shape = (n, int(round(n * rng.uniform(1.0, 1.5))))
    center = (float(rng.uniform(0, 360)), float(np.degrees(np.arcsin(rng.uniform(-0.97, 0.97)))))
    rotation, flip = float(rng.uniform(0, 360)), bool(rng.integers(2))
    error_arcmin = float(rng.uniform(0, 30))
    radius = 0.5 * np.hypot(*shape) * scale / 3600 + 1.05
    n_ref = int(1500 * np.pi * radius**2)
    cat = random_star_catalog(ra=center[0], dec=center[1], radius_deg=radius, n_stars=n_ref, seed=seed)
    wcs = make_tan_wcs(center=center, shape=shape, pixel_scale=scale, rotation_deg=rotation, flip=flip)
    x, y = wcs.all_world2pix(np.asarray(cat["ra"]), np.asarray(cat["dec"]), 0)
    inside = np.flatnonzero((x >= 0) & (x <= shape[1] - 1) & (y >= 0) & (y <= shape[0] - 1))
    n_det = int(rng.integers(15, 300))
    det = inside[:n_det]
    det = det[rng.random(len(det)) > 0.1]
    mag = np.asarray(cat["phot_g_mean_mag"])[det] + rng.normal(0, 0.3, len(det))
    xs = x[det] + rng.normal(0, 0.15, len(det))
    ys = y[det] + rng.normal(0, 0.15, len(det))
    n_fake = max(2, len(det) // 10)
    xs = np.r_[xs, rng.uniform(0, shape[1] - 1, n_fake)]
    ys = np.r_[ys, rng.uniform(0, shape[0] - 1, n_fake)]
    mag = np.r_[mag, rng.uniform(mag.min(), mag.max(), n_fake)]
    sources = QTable({"x": xs, "y": ys, "flux": 10 ** (-0.4 * (mag - 25)), "flags": np.zeros(len(xs), np.uint16)})
    pointing = offset_pointing(center, offset_arcmin=error_arcmin, rng=rng)
    scale_hint = scale * float(rng.uniform(0.92, 1.08))
    meta = FrameMeta(path=f"case{seed}", stem=f"case{seed}", shape=shape, exptime=1.0, ra=pointing[0],
                     dec=pointing[1], pixel_scale=scale_hint)
    truth = (np.asarray(cat["ra"])[inside], np.asarray(cat["dec"])[inside], x[inside], y[inside])
    params = {"seed": seed, "scale": scale, "field_arcmin": field_arcmin, "shape": list(shape),
              "rotation_deg": rotation, "flip": flip, "pointing_error_arcmin": error_arcmin,
              "n_sources": len(xs), "n_catalogue_in_frame": len(inside)}
    return {"sources": sources, "meta": meta, "reference": cat, "truth": truth, "shape": shape, "params": params}


def run_case(case: dict, solver: str, time_limit_s: float) -> dict:
    config = AstrometryConfig(mode="solve", pointing_solver=solver, time_limit_s=time_limit_s)
    start = time.perf_counter()
    sol = solve_wcs(case["sources"], shape=case["shape"], meta=case["meta"], header=fits.Header(),
                    reference=case["reference"], config=config)
    elapsed = time.perf_counter() - start
    row = {**case["params"], "solver": solver, "source": sol.source, "method": sol.method, "time_s": elapsed,
           "n_matches": sol.n_matches, "rms_arcsec": sol.rms_arcsec, "message": sol.message}
    if sol.wcs is not None:
        ra, dec, x, y = case["truth"]
        xs, ys = sol.wcs.all_world2pix(ra, dec, 0)
        row["median_error_px"] = float(np.median(np.hypot(xs - x, ys - y)))
    return row


def summarise(rows: list[dict]) -> dict:
    times = np.array([r["time_s"] for r in rows])
    errors = np.array([r.get("median_error_px", np.nan) for r in rows])
    solved = np.array([r["source"] == "solved" and r.get("median_error_px", 99) <= 1.0 for r in rows])
    accurate = np.array([r["source"] == "solved" and r.get("median_error_px", 99) <= 0.1 for r in rows])
    return {"cases": len(rows), "success_rate": float(solved.mean()), "accurate_rate_0.1px": float(accurate.mean()),
            "median_time_s": float(np.median(times)),
            "max_time_s": float(times.max()), "mean_time_s": float(times.mean()),
            "median_error_px": float(np.nanmedian(errors)), "max_error_px": float(np.nanmax(errors))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--solvers", nargs="+", default=["triangles", "astrometry.net"])
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    cases = [make_case(seed) for seed in range(args.cases)]
    report = {"machine": platform.platform(), "python": platform.python_version(), "solvers": {}}
    for solver in args.solvers:
        rows = [run_case(case, solver, args.time_limit) for case in cases]
        report["solvers"][solver] = {"summary": summarise(rows), "cases": rows}
        print(solver, json.dumps(report["solvers"][solver]["summary"]))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1, default=float))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
