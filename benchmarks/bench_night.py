"""Time the night view's library calls as frames arrive: 100 frames x 2000 stars, written to JSON.

What a dashboard does per finished frame: add it to the cross-identified
stars (``NightStars.add``), redraw the chosen star's light curve
(``star_lightcurve``), re-judge the night (``night_quality``); and on demand
the AAVSO report and a run comparison.  Medians over the calls at 90-100
frames, after a warm-up; the batch cross-identification of all 100 frames
is timed for comparison.

Usage: python benchmarks/bench_night.py [--out benchmarks/results/night.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from astropy.table import QTable

from rpf.lightcurves import FramePhotometry, NightStars, aavso_extended, cross_identify, star_lightcurve
from rpf.night import compare_runs, night_quality

N_FRAMES, N_STARS = 100, 2000


def _night(seed: int = 1) -> tuple[list[FramePhotometry], list[dict], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ra, dec = 150 + rng.uniform(-0.25, 0.25, N_STARS), 20 + rng.uniform(-0.25, 0.25, N_STARS)
    mag = rng.uniform(11, 19, N_STARS)
    err = 0.003 + 0.02 * 10 ** (0.4 * (mag - 17))
    airmass = np.linspace(1.1, 2.2, N_FRAMES)
    frames, metadata = [], []
    for f in range(N_FRAMES):
        zp = 23.0 - 0.2 * airmass[f] + rng.normal(0, 0.02)
        inst = mag - zp + rng.normal(0, err)
        jitter = rng.normal(0, 0.3 / 3600, (2, N_STARS))
        frames.append(FramePhotometry(
            frame=f"f{f:03d}", mjd=61000 + f / 100, airmass=float(airmass[f]), ra=ra + jitter[0], dec=dec + jitter[1],
            mag=inst + zp, mag_err=np.hypot(err, 0.005), flags=np.zeros(N_STARS, np.int64), mag_inst=inst,
            mag_inst_err=err, color=rng.normal(0.8, 0.3, N_STARS), band="V", filter="V"))
        metadata.append({"frame": f"f{f:03d}", "status": "ok", "band": "V", "filter": "V", "mjd_mid": 61000 + f / 100,
                         "airmass": float(airmass[f]), "zero_point": zp, "zero_point_err": 0.005, "fwhm_arcsec": 3.0,
                         "background_level": 1000.0, "n_sources": N_STARS, "limiting_mag": 20.0,
                         "wcs_rms_arcsec": 0.2, "wcs_source": "header"})
    return frames, metadata, ra, dec


def _records(frames: list[FramePhotometry], metadata: list[dict], shift: float) -> list[SimpleNamespace]:
    return [SimpleNamespace(path=m["frame"], metadata=m, phot=QTable({"ra": f.ra, "dec": f.dec, "mag": f.mag + shift,
                                                                        "mag_err": f.mag_err, "flags": f.flags}))
            for f, m in zip(frames, metadata, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="benchmarks/results/night.json")
    args = parser.parse_args()
    frames, metadata, ra, dec = _night()
    stars = NightStars(radius_arcsec=2.0)
    add, curve, quality = [], [], []
    for f, frame in enumerate(frames):
        start = time.perf_counter()
        stars = stars.add(frame)
        add.append(time.perf_counter() - start)
        if f >= N_FRAMES - 11:  # the first of these is the warm-up
            start = time.perf_counter()
            result = star_lightcurve(stars, ra=float(ra[f]), dec=float(dec[f]))
            curve.append(time.perf_counter() - start)
            start = time.perf_counter()
            night_quality(metadata[: f + 1])
            quality.append(time.perf_counter() - start)
    start = time.perf_counter()
    again = star_lightcurve(stars, ra=float(ra[3]), dec=float(dec[3]))
    curve_cached = time.perf_counter() - start
    start = time.perf_counter()
    aavso_extended(again, obscode="TST01")
    aavso = time.perf_counter() - start
    start = time.perf_counter()
    cross_identify(frames, radius_arcsec=2.0)
    batch = time.perf_counter() - start
    start = time.perf_counter()
    compare_runs(_records(frames, metadata, 0.0), _records(frames, metadata, 0.01))
    compare = time.perf_counter() - start
    out = {
        "machine": platform.platform(),
        "n_frames": N_FRAMES,
        "n_stars": N_STARS,
        "add_frame_s_median": statistics.median(add[-10:]),
        "star_lightcurve_s_median_at_90_100_frames": statistics.median(curve[1:]),
        "star_lightcurve_s_second_star_same_frames": curve_cached,
        "night_quality_s_median_at_90_100_frames": statistics.median(quality[1:]),
        "aavso_extended_s": aavso,
        "cross_identify_batch_100_frames_s": batch,
        "compare_runs_100_frames_s": compare,
        "n_comparison": len(result.comparison),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
