"""Time RPF's measurement stages against the earlier version's straightforward script.

Usage::

    .venv/bin/python benchmarks/bench_stages_vs_baseline.py [--sizes 2048 4096] [--repeats 3]

For each simulated frame size the script times, side by side in one run
(after a warm-up on a small frame), every RPF stage and the "baseline": the
earlier version's defaults from ``shared/reference/earlier-version.md``
(plain master calibration, photutils ``Background2D``, astroscrappy library defaults, ``DAOStarFinder``
+ ``fit_fwhm`` FWHM, ``DAOStarFinder`` detection, photutils apertures with
``calc_total_error``).  Every parameter the RPF side changes against those
defaults is written to the JSON (``parameters_vs_earlier_version``): notably
L.A.Cosmic runs 2 iterations plus one growing step in RPF and 4 iterations in
the earlier version (``bench_cosmics_iterations.py`` compares them on
lifelike cosmic rays).  Medians of ``--repeats`` runs are reported, with the
peak traced memory of one extra run (``tracemalloc``) and the process's
maximum resident size.  Results go to ``benchmarks/results/stages_vs_baseline.json``.

The whole-frame pipeline timing plugs in through ``run_benchmark(...,
time_pipeline=callable)``: the callable receives the simulated frame and
the repeat count and returns a mapping of named timings (seconds), stored
under ``"pipeline"``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import astroscrappy
import numpy as np
from astropy.io import fits
from astropy.stats import SigmaClip, sigma_clipped_stats
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
from photutils.aperture import aperture_photometry as photutils_aperture_photometry
from photutils.background import Background2D, SExtractorBackground
from photutils.detection import DAOStarFinder
from photutils.psf import fit_fwhm
from photutils.utils import calc_total_error

from rpf.background import estimate_background
from rpf.calibration import MasterFrames
from rpf.config import PipelineConfig
from rpf.cosmics import clean_cosmic_rays
from rpf.detection import detect_sources, estimate_fwhm
from rpf.flags import SourceFlag
from rpf.photometry import aperture_photometry
from rpf.simulate import InstrumentModel, SimulatedFrame, simulate_frame

RESULTS = Path(__file__).parent / "results" / "stages_vs_baseline.json"
INSTRUMENT = InstrumentModel()
SEEING_ARCSEC = 3.0
PIXEL_SCALE = 1.0

PipelineTimer = Callable[[SimulatedFrame, int], Mapping[str, float]]


def make_frame(size: int, seed: int = 7) -> tuple[SimulatedFrame, np.ndarray, np.ndarray]:
    """A simulated frame, its calibrated data and its saturation pixel flags."""
    sim = simulate_frame(
        seed=seed,
        shape=(size, size),
        n_cosmic_rays=40 * size * size // 1024**2,
        instrument=INSTRUMENT,
        fwhm_arcsec=SEEING_ARCSEC,
        pixel_scale=PIXEL_SCALE,
    )
    flags = np.where(sim.raw >= INSTRUMENT.saturation, np.uint16(SourceFlag.SATURATED), np.uint16(0))
    return sim, sim.calibrated(), flags


def parameter_differences(config: PipelineConfig) -> dict[str, dict[str, str]]:
    """Every parameter on which the RPF side differs from the earlier version's defaults (the baseline).

    Built from the live configuration, so the JSON says what was actually
    run; the earlier version's side is ``shared/reference/earlier-version.md``.
    """
    bg, cr, det, ap = config.background, config.cosmics, config.detection, config.aperture
    return {
        "calibration": {
            "rpf": f"{config.calibration.combine} of {config.calibration.clip_sigma}-sigma clipped stacks, flat below "
                   f"{config.calibration.flat_min} masked, bad pixels {config.calibration.bad_pixel_fill}",
            "earlier": "(raw - bias - dark x t) / flat with the same masters",
        },
        "background": {
            "rpf": f"{bg.method}, box {bg.box_size or 'from the image size and FWHM'}, filter {bg.filter_size}, "
                   f"clip {bg.clip_sigma} sigma, sources masked: {bg.mask_sources}",
            "earlier": "photutils Background2D, box max(64, min(H/10, W/10, 128)), filter 5, SigmaClip(3), "
                       "SExtractorBackground",
        },
        "cosmic_rays": {
            "rpf": f"niter {cr.niter}, grow_sigma {cr.grow_sigma}, sigclip {cr.sigclip}, sigfrac {cr.sigfrac}, objlim "
                   f"{cr.objlim}, sepmed {cr.sepmed}, gain/read noise/saturation from the header, saturated pixels "
                   f"masked, {cr.tile_size} px tiles (+{cr.tile_margin}), star cores protected above "
                   f"{cr.protect_sigma} sigma",
            "earlier": "astroscrappy library defaults: niter 4, sigclip 4.5, sigfrac 0.3, objlim 5, sepmed, gain 1, "
                       "readnoise 6.5, satlevel 65536, no mask, one call on the whole frame",
        },
        "fwhm": {
            "rpf": f"Moffat fits of up to {det.fwhm_max_stars} isolated stars from the detection, median",
            "earlier": "DAOStarFinder(1.5 x 3 px guess, 7 sigma), fit_fwhm (Gaussian) on up to 1000 stars, median",
        },
        "detection": {
            "rpf": f"sep extraction at {det.threshold_sigma} sigma per pixel of the filtered image, min area "
                   f"{det.min_area}, deblending {det.deblend_nthresh}/{det.deblend_cont}",
            "earlier": "DAOStarFinder(1.5 x FWHM, (3 + 0.5) x clipped std)",
        },
        "apertures": {
            "rpf": f"radii {list(ap.radii_fwhm)} x FWHM, annulus {list(ap.annulus_fwhm)} x FWHM clipped at "
                   f"{ap.annulus_clip_sigma} sigma, aperture correction {ap.aperture_correction}",
            "earlier": "radii 1.1/1.3/1.5 x FWHM, annulus 2.0-2.5 x radius (median of SigmaClip(3)), "
                       "calc_total_error",
        },
    }


def rpf_stages(data: np.ndarray, flags: np.ndarray, config: PipelineConfig) -> dict[str, Callable[[], Any]]:
    """The RPF stages as zero-argument callables, chained on one set of inputs computed once."""
    guess = SEEING_ARCSEC / PIXEL_SCALE
    bkg = estimate_background(data, mask=flags, fwhm_px=guess, config=config.background)
    cosmics = clean_cosmic_rays(
        data,
        gain=INSTRUMENT.gain,
        read_noise=INSTRUMENT.read_noise,
        saturation=INSTRUMENT.saturation,
        mask=flags,
        background=bkg,
        config=config.cosmics,
    )
    pixel_flags = flags | np.where(cosmics.mask, np.uint16(SourceFlag.COSMIC_RAY), np.uint16(0))
    sub = cosmics.clean - bkg.level
    sources = detect_sources(sub, rms=bkg.rms, config=config.detection, pixel_flags=pixel_flags, fwhm_px=guess)
    fwhm = estimate_fwhm(sub, sources, config=config.detection).fwhm_px
    return {
        "background": lambda: estimate_background(data, mask=flags, fwhm_px=guess, config=config.background),
        "cosmics": lambda: clean_cosmic_rays(
            data,
            gain=INSTRUMENT.gain,
            read_noise=INSTRUMENT.read_noise,
            saturation=INSTRUMENT.saturation,
            mask=flags,
            background=bkg,
            config=config.cosmics,
        ),
        "detection": lambda: detect_sources(
            sub, rms=bkg.rms, config=config.detection, pixel_flags=pixel_flags, fwhm_px=guess
        ),
        "fwhm": lambda: estimate_fwhm(sub, sources, config=config.detection),
        "aperture": lambda: aperture_photometry(
            sub, sources, fwhm_px=fwhm, rms=bkg.rms, gain=INSTRUMENT.gain, mask=pixel_flags, config=config.aperture
        ),
    }


def rpf_sequence(data: np.ndarray, flags: np.ndarray, config: PipelineConfig) -> int:
    """All RPF measurement stages in order, as the pipeline chains them; returns the number of sources."""
    stages = rpf_stages(data, flags, config)
    return len(stages["aperture"]())


def baseline_background(data: np.ndarray) -> Background2D:
    """Earlier version: Background2D, box max(64, min(H/10, W/10, 128)), filter 5, SigmaClip(3)."""
    ny, nx = data.shape
    box = int(max(64, min(ny / 10, nx / 10, 128)))
    return Background2D(data, box, filter_size=5, sigma_clip=SigmaClip(sigma=3.0), bkg_estimator=SExtractorBackground())


def baseline_cosmics(data: np.ndarray) -> np.ndarray:
    """Earlier version: astroscrappy with library defaults, used as a mask only."""
    mask, _ = astroscrappy.detect_cosmics(data)
    return mask


def baseline_fwhm(sub: np.ndarray, std: float) -> float:
    """Earlier version: DAOStarFinder(1.5 x guess, 7 sigma), then fit_fwhm on up to 1000 stars, median."""
    stars = DAOStarFinder(fwhm=1.5 * SEEING_ARCSEC / PIXEL_SCALE, threshold=7.0 * std)(sub)
    stars = stars[np.argsort(stars["flux"])[::-1][:1000]]
    xy = np.column_stack([stars["x_centroid"], stars["y_centroid"]])
    return float(np.nanmedian(fit_fwhm(sub, xypos=xy, fit_shape=7)))


def baseline_detection(sub: np.ndarray, fwhm: float, std: float):
    """Earlier version: DAOStarFinder(1.5 x FWHM, (3 + 0.5) x clipped std)."""
    return DAOStarFinder(fwhm=1.5 * fwhm, threshold=(3.0 + 0.5) * std)(sub)


def baseline_apertures(sub: np.ndarray, sources, fwhm: float, rms: np.ndarray) -> list:
    """Earlier version: apertures 1.1/1.3/1.5 FWHM, annulus 2.0-2.5 x radius, calc_total_error."""
    xy = np.column_stack([sources["x_centroid"], sources["y_centroid"]])
    error = calc_total_error(sub, rms, INSTRUMENT.gain)
    tables = []
    for factor in (1.1, 1.3, 1.5):
        radius = factor * fwhm
        aperture = CircularAperture(xy, r=radius)
        annulus = CircularAnnulus(xy, r_in=2.0 * radius, r_out=2.5 * radius)
        table = photutils_aperture_photometry(sub, aperture, error=error)
        local = ApertureStats(sub, annulus, sigma_clip=SigmaClip(sigma=3.0)).median
        table["flux_bkgsub"] = table["aperture_sum"] - local * aperture.area
        tables.append(table)
    return tables


def baseline_calibrate(raw: np.ndarray, exptime: float, masters: MasterFrames) -> np.ndarray:
    """Plain calibration: ``(raw - bias - dark_rate x exptime) / flat`` in float32."""
    data = raw.astype(np.float32)
    if masters.bias is not None:
        data -= masters.bias
    if masters.dark_rate is not None:
        data -= masters.dark_rate * np.float32(exptime)
    if masters.flat is not None:
        data /= masters.flat
    return data


def baseline_frame(path: str | Path, masters: MasterFrames) -> int:
    """The earlier version's script on a raw FITS frame: read, calibrate, measure; returns the number of sources."""
    with fits.open(path) as hdul:
        raw = hdul[0].data
        exptime = float(hdul[0].header["EXPTIME"])
    data = baseline_calibrate(raw, exptime, masters)
    return baseline_sequence(np.where(np.isfinite(data), data, np.float32(0.0)))


def baseline_sequence(data: np.ndarray) -> int:
    """The earlier version's straightforward sequential script; returns the number of sources."""
    bkg = baseline_background(data)
    baseline_cosmics(data)
    sub = data - bkg.background
    _, _, std = sigma_clipped_stats(sub, sigma=3.0)
    fwhm = baseline_fwhm(sub, std)
    sources = baseline_detection(sub, fwhm, std)
    baseline_apertures(sub, sources, fwhm, bkg.background_rms)
    return len(sources)


def timed(function: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median and spread of ``repeats`` wall-clock runs, and the peak traced memory of one more run."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    function()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "peak_traced_mb": peak / 2**20,
    }


def run_benchmark(
    sizes: tuple[int, ...], repeats: int, *, time_pipeline: PipelineTimer | None = None
) -> dict[str, Any]:
    """Time every stage, the RPF sequence and the baseline for each frame size."""
    config = PipelineConfig()
    _, warm, warm_flags = make_frame(256)
    rpf_sequence(warm, warm_flags, config)
    baseline_sequence(warm)
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "processor": platform.processor(), "cpus": _cpus()},
        "repeats": repeats,
        "parameters_vs_earlier_version": parameter_differences(config),
        "frames": {},
    }
    for size in sizes:
        sim, data, flags = make_frame(size)
        frame_mb = data.astype(np.float32).nbytes / 2**20
        stages = {name: timed(call, repeats) for name, call in rpf_stages(data, flags, config).items()}
        rpf_total = timed(lambda d=data, f=flags: rpf_sequence(d, f, config), repeats)
        baseline = timed(lambda d=data: baseline_sequence(d), repeats)
        slowest = max(stages.values(), key=lambda s: s["median_s"])["median_s"]
        entry = {
            "frame_float32_mb": frame_mb,
            "n_sources_rpf": rpf_sequence(data, flags, config),
            "n_sources_baseline": baseline_sequence(data),
            "stages": stages,
            "rpf_stages_sequence": rpf_total,
            "baseline_sequence": baseline,
            "speedup_vs_baseline": baseline["median_s"] / rpf_total["median_s"],
            "rpf_sequence_over_slowest_stage": rpf_total["median_s"] / slowest,
            "rpf_peak_over_frame_size": rpf_total["peak_traced_mb"] / frame_mb,
        }
        if time_pipeline is not None:
            entry["pipeline"] = dict(time_pipeline(sim, repeats))
        report["frames"][str(size)] = entry
        print(json.dumps({size: _summary(entry)}, indent=1), flush=True)
    report["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def _summary(entry: Mapping[str, Any]) -> dict[str, float]:
    out = {name: round(s["median_s"], 3) for name, s in entry["stages"].items()}
    out["rpf_sequence"] = round(entry["rpf_stages_sequence"]["median_s"], 3)
    out["baseline"] = round(entry["baseline_sequence"]["median_s"], 3)
    out["speedup"] = round(entry["speedup_vs_baseline"], 2)
    return out


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = run_benchmark(tuple(args.sizes), args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
