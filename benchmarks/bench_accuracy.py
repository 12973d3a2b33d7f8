"""Magnitude accuracy on crowded, real-looking fields: RPF's default ``mag`` beside plain photutils.

Usage::

    flock /tmp/rpf-bench.lock .venv/bin/python benchmarks/bench_accuracy.py [--label after] [--size 1024]

Each field comes from :func:`rpf.simulate.crowded_field` (a luminosity function
``dN/dm ∝ 10**(0.3 m)`` down to G = 22, Moffat beta 3, 30 % vignetting with dust
rings, hot pixels, cosmic rays, five bias/dark/flat frames) with a different
seeing and crowding.  The raw files go through ``rpf.pipeline.process_frame``
(offline, reference = the field's Gaia-like catalogue to G = 20.5).  Beside it,
on the same calibrated pixels (the same masters), a plain photutils
measurement at the **true** positions: a circular aperture of radius 1.5 FWHM,
the median of a 6-9 FWHM annulus as sky, the exact aperture correction of the
true PSF (from a noise-free rendered star) and RPF's own calibration offset per
star (``cal_offset``), so that only the photometry differs.

Statistics per bin of the *expected* SNR of a 1.5 FWHM aperture (from the
truth: source, sky, dark and read noise, the flat at the star):

- ``bias``: median of (measured - true) magnitude;
- ``scatter_ratio``: robust sigma (1.4826 MAD) of (measured - true) / the
  photon-noise expectation of a 1.5 FWHM aperture;
- ``chi``: robust sigma of (measured - true) / reported error.

Stars: detected by RPF (one-to-one within 1 px of a true star, the brightest
within that radius), not saturated in the truth, and without the SATURATED,
EDGE, COSMIC_RAY or BAD_PIXEL flags; the same stars for every method.
Results: ``benchmarks/results/bench_accuracy.json`` (a ``label`` entry each
run, so that "before" and "after" sit side by side).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from accuracy_breakdown import COMPONENTS, breakdown, component_stats
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture, aperture_photometry
from scipy.spatial import cKDTree

from rpf.calibration import build_masters, calibrate
from rpf.config import PipelineConfig
from rpf.flags import SourceFlag
from rpf.io import load_frame
from rpf.pipeline import RunContext, frame_pixels, process_frame
from rpf.simulate import crowded_field, write_crowded_field
from rpf.simulate.psf import PsfModel, render_stars

RESULTS = Path(__file__).parent / "results" / "bench_accuracy.json"
BINS = ((10, 20), (20, 50), (50, 100), (100, 300), (300, np.inf))
FIELDS = (
    {"name": "seeing2.5_30k", "seed": 11, "fwhm_arcsec": 2.5, "stars_per_deg2": 30000.0},
    {"name": "seeing3.5_40k", "seed": 12, "fwhm_arcsec": 3.5, "stars_per_deg2": 40000.0},
    {"name": "seeing4.5_25k", "seed": 13, "fwhm_arcsec": 4.5, "stars_per_deg2": 25000.0},
    {
        "name": "clear_colour0.1_30k",
        "seed": 14,
        "fwhm_arcsec": 3.0,
        "stars_per_deg2": 30000.0,
        "filter": "CLEAR",
        "band": "phot_g_mean_mag",
        "color_term": 0.1,
    },
)
_BAD = SourceFlag.SATURATED | SourceFlag.EDGE | SourceFlag.COSMIC_RAY | SourceFlag.BAD_PIXEL


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 times the median absolute deviation from the median."""
    values = values[np.isfinite(values)]
    return float(1.4826 * np.median(np.abs(values - np.median(values)))) if values.size else float("nan")


def run_pipeline(crowded, folder: Path, size: int):
    """Write the field and process it with the pipeline; return the result, masters and the calibrated image."""
    paths = write_crowded_field(crowded, folder)
    config = PipelineConfig().replace(
        catalogs={"offline": True, "catalog_file": str(paths["reference"]), "reference": "file", "crossmatch": ()},
        output={"png": False, "zip": False},
    )
    masters = build_masters(bias=paths["bias"], dark=paths["dark"], flat=paths["flat"], config=config)
    ctx = RunContext(config=config, masters=masters, out_dir=folder / "out")
    start = time.perf_counter()
    result = process_frame(paths["science"], ctx)
    seconds = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(result.error)
    image = calibrate(load_frame(paths["science"], defaults=config.header), masters, config=config.calibration).data
    return result, masters, np.asarray(image, dtype=np.float64), seconds


def exact_enclosed(psf: PsfModel, radius: float, annulus: tuple[float, float]) -> float:
    """Fraction of a star's flux an aperture measures after an annulus-median sky (noise-free, rendered)."""
    fractions = []
    for phase in (0.0, 0.25, 0.5):
        size = 2 * int(annulus[1] + 8) + 1
        centre = size // 2 + phase
        image, _ = render_stars(shape=(size, size), x=[centre], y=[centre], flux=[1e9], psf=psf)
        image /= 1e9
        ap = aperture_photometry(image, CircularAperture((centre, centre), radius))["aperture_sum"][0]
        sky = ApertureStats(image, CircularAnnulus((centre, centre), *annulus)).median
        fractions.append(ap - sky * np.pi * radius**2)
    return float(np.mean(fractions))


def photutils_at_truth(image: np.ndarray, x: np.ndarray, y: np.ndarray, *, fwhm: float, gain: float, psf: PsfModel):
    """Plain photutils: 1.5 FWHM aperture, 6-9 FWHM annulus median, exact correction; flux and error."""
    radius, annulus = 1.5 * fwhm, (6.0 * fwhm, 9.0 * fwhm)
    positions = np.column_stack([x, y])
    sums = aperture_photometry(image, CircularAperture(positions, radius))["aperture_sum"].value
    stats = ApertureStats(image, CircularAnnulus(positions, *annulus))
    sky, sky_std, n_sky = stats.median, stats.std, stats.sum_aper_area.value
    area = np.pi * radius**2
    raw = sums - sky * area
    variance = np.maximum(raw, 0) / gain + area * sky_std**2 + (area * sky_std) ** 2 * np.pi / 2 / n_sky
    factor = 1.0 / exact_enclosed(psf, radius, annulus)
    return raw * factor, np.sqrt(variance) * factor


def expected_noise(
    truth, stars, *, radius: float, gain: float, read_noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Photon-noise expectation (mag) and SNR of a ``radius`` aperture for each true star."""
    params = truth.params
    psf = PsfModel(fwhm_px=truth.fwhm_px, profile=params["psf"], beta=params["moffat_beta"])
    inside = 1.0 - psf.outside_fraction(radius)
    ix = np.clip(np.rint(stars["x"]).astype(int), 0, truth.flat.shape[1] - 1)
    iy = np.clip(np.rint(stars["y"]).astype(int), 0, truth.flat.shape[0] - 1)
    flat = np.asarray(truth.flat, float)[iy, ix]
    dark = float(np.mean(truth.dark_rate)) * truth.exptime
    signal = np.asarray(stars["flux"], float) * inside
    # electrons collected per pixel through the flat; the calibrated image divides them by the flat
    pixel_var = ((truth.sky * flat + dark) / gain + (read_noise / gain) ** 2) / flat**2
    variance = signal / (gain * flat) + np.pi * radius**2 * pixel_var
    sigma = np.sqrt(variance)
    return 2.5 / np.log(10.0) * sigma / signal, signal / sigma


def match_detections(phot, stars, fwhm: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (detection row, true star row): the brightest true star within 1 px of each detection."""
    tree = cKDTree(np.column_stack([stars["x"], stars["y"]]))
    near = tree.query_ball_point(np.column_stack([phot["x"], phot["y"]]), r=1.0)
    mags = np.asarray(stars["mag"], float)
    rows, index = [], []
    for row, candidates in enumerate(near):
        if candidates:
            rows.append(row)
            index.append(candidates[int(np.argmin(mags[candidates]))])
    rows, index = np.asarray(rows, int), np.asarray(index, int)
    _, inverse, counts = np.unique(index, return_inverse=True, return_counts=True)
    once = counts[inverse] == 1
    return rows[once], index[once]


def bin_stats(
    diff: np.ndarray, expected: np.ndarray, error: np.ndarray, snr: np.ndarray, reference: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Per SNR bin: median bias, scatter over the expectation, robust chi (and the median paired difference)."""
    out = []
    for lo, hi in BINS:
        sel = (snr >= lo) & (snr < hi) & np.isfinite(diff)
        out.append(
            {
                "snr_bin": f"{lo}-{hi}" if np.isfinite(hi) else f">{lo}",
                "n": int(sel.sum()),
                "bias": float(np.median(diff[sel])) if sel.any() else None,
                "scatter_ratio": robust_sigma(diff[sel] / expected[sel]),
                "chi": robust_sigma(diff[sel] / error[sel]),
            }
        )
        if reference is not None:
            paired = diff[sel] - reference[sel]
            paired = paired[np.isfinite(paired)]
            out[-1]["bias_minus_photutils"] = float(np.median(paired)) if paired.size else None
    return out


def evaluate(crowded, result, masters, image: np.ndarray) -> dict[str, Any]:
    truth = crowded.sim.truth
    phot = result.phot
    meta = result.metadata
    stars = truth.stars[truth.stars["in_frame"] & ~truth.stars["saturated"]]
    fwhm_true = truth.fwhm_px
    rows, index = match_detections(phot, stars, fwhm_true)
    flags = np.asarray(phot["flags"], dtype=np.int64)[rows]
    keep = (flags & int(_BAD)) == 0
    rows, index = rows[keep], index[keep]
    chosen = stars[index]
    true_mag = np.asarray(chosen["mag"], float)
    gain, read_noise = float(crowded.sim.header["GAIN"]), float(crowded.sim.header["RDNOISE"])
    expected, snr = expected_noise(truth, chosen, radius=1.5 * fwhm_true, gain=gain, read_noise=read_noise)
    psf = PsfModel(fwhm_px=fwhm_true, profile=truth.params["psf"], beta=truth.params["moffat_beta"])
    flux, flux_err = photutils_at_truth(
        image, np.asarray(chosen["x"]), np.asarray(chosen["y"]), fwhm=fwhm_true, gain=gain, psf=psf
    )
    offset = np.asarray(phot["cal_offset"], float)[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        mag_pu = -2.5 * np.log10(flux / truth.exptime) + offset
        err_pu = np.hypot(2.5 / np.log(10.0) * flux_err / flux, meta["zero_point_err"] or 0.0)
    diff_pu = mag_pu - true_mag
    methods: dict[str, dict[str, Any]] = {}
    radii = phot.meta["aperture_radii_fwhm"]
    column = f"r{radii.index(1.5)}"
    for name, mag, err in (
        ("rpf_mag", "mag", "mag_err"),
        ("rpf_mag_1.5fwhm", f"mag_{column}", f"mag_err_{column}"),
    ):
        diff = np.asarray(phot[mag], float)[rows] - true_mag
        error = np.asarray(phot[err], float)[rows]
        methods[name] = {"bins": bin_stats(diff, expected, error, snr, reference=diff_pu)}
    methods["photutils_true_positions"] = {"bins": bin_stats(diff_pu, expected, err_pu, snr)}
    parts = breakdown(
        truth=truth, stars=chosen, phot=phot, rows=rows, pixels=frame_pixels(result), masters=masters,
        raw=np.asarray(crowded.sim.raw, np.float64), clip_sigma=PipelineConfig().aperture.annulus_clip_sigma,
    )
    methods["rpf_mag"]["components"] = component_stats(parts, expected, snr, BINS)
    return {
        "n_stars_compared": int(rows.size),
        "n_detections": len(phot),
        "fwhm_px_measured": meta.get("fwhm_px"),
        "zero_point": meta.get("zero_point"),
        "color_term": meta.get("color_term"),
        "color_term_err": meta.get("color_term_err"),
        "color_term_fitted": meta.get("color_term_fitted"),
        "default_measurement": phot.meta.get("flux_measurement"),
        "methods": methods,
    }


def _print(name: str, report: dict[str, Any]) -> None:
    print(f"\n{name}: {report['n_stars_compared']} stars, colour term {report['color_term']}")
    print(f"{'method':26s} {'SNR':>8s} {'n':>5s} {'bias':>8s} {'-pu':>8s} {'scat/exp':>9s} {'chi':>6s}")
    for method, data in report["methods"].items():
        for b in data["bins"]:
            bias = f"{b['bias']:+.4f}" if b["bias"] is not None else "    -"
            rel = f"{b['bias_minus_photutils']:+.4f}" if "bias_minus_photutils" in b else ""
            print(
                f"{method:26s} {b['snr_bin']:>8s} {b['n']:5d} {bias:>8s} {rel:>8s} "
                f"{b['scatter_ratio']:9.3f} {b['chi']:6.3f}"
            )
    names = (*COMPONENTS, "total", "closure")
    print("rpf_mag components, scatter / photon noise (median mag):")
    print(f"{'SNR':>8s} " + " ".join(f"{n[:13]:>17s}" for n in names))
    for b in report["methods"]["rpf_mag"].get("components", []):
        print(f"{b['snr_bin']:>8s} " + " ".join(
            f"{b[n]['scatter_ratio']:6.3f} ({b[n]['median']:+.4f})" if b[n]["median"] is not None else f"{'-':>17s}"
            for n in names
        ))


def summary(reports: dict[str, Any]) -> dict[str, Any]:
    """Median over frames of each bin's figures, per method."""
    out: dict[str, Any] = {}
    names = next(iter(reports.values()))["methods"].keys()
    for method in names:
        rows = []
        for k in range(len(BINS)):
            values = [r["methods"][method]["bins"][k] for r in reports.values() if method in r["methods"]]
            entry = {"snr_bin": values[0]["snr_bin"]}
            for key in ("bias", "bias_minus_photutils", "scatter_ratio", "chi"):
                got = [v[key] for v in values if v.get(key) is not None and np.isfinite(v[key])]
                entry[key] = float(np.median(got)) if got else None
            rows.append(entry)
        out[method] = rows
    parts = [r["methods"]["rpf_mag"]["components"] for r in reports.values() if "components" in r["methods"]["rpf_mag"]]
    if parts:
        rows = []
        for k in range(len(BINS)):
            entry = {"snr_bin": parts[0][k]["snr_bin"]}
            for name in (*COMPONENTS, "total", "closure"):
                entry[name] = {
                    key: _median([p[k][name][key] for p in parts]) for key in ("median", "scatter_ratio")
                }
            rows.append(entry)
        out["rpf_mag_components"] = rows
    return out


def _median(values: list) -> float | None:
    got = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(got)) if got else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="current")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--fields", nargs="*", default=None, help="field names (default: all)")
    args = parser.parse_args()
    reports = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in FIELDS:
            if args.fields and spec["name"] not in args.fields:
                continue
            kwargs = {k: v for k, v in spec.items() if k != "name"}
            crowded = crowded_field(shape=(args.size, args.size), **kwargs)
            result, masters, image, seconds = run_pipeline(crowded, Path(tmp) / spec["name"], args.size)
            report = evaluate(crowded, result, masters, image)
            report["pipeline_seconds"] = seconds
            report["field"] = spec
            reports[spec["name"]] = report
            _print(spec["name"], report)
    combined = summary(reports)
    print("\nmedian over frames")
    for method, rows in combined.items():
        for row in rows:
            print(method, row)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.label] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.platform(),
        "size": args.size,
        "frames": reports,
        "median_over_frames": combined,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
