"""Side-by-side speed and accuracy of RPF's sparse forced PSF photometry and photutils PSFPhotometry.

Same 2048x2048 simulated frame with ~2000 stars, same ePSF (RPF's, wrapped as a photutils ImagePSF),
same fixed positions (the true ones), data already background-subtracted.  Each method is warmed
up once, then timed ``--repeat`` times; medians are reported.  Writes benchmarks/results/bench_psf.json.

    .venv/bin/python benchmarks/bench_psf.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from astropy.table import QTable

from rpf.config import PSFConfig
from rpf.flags import SourceFlag
from rpf.photometry.psf import psf_photometry
from rpf.photometry.psf_build import build_psf
from rpf.simulate import random_star_catalog, simulate_frame


def _frame(seed: int):
    cat = random_star_catalog(ra=150, dec=20, radius_deg=0.55, n_stars=5700, seed=seed, mag_range=(11.0, 19.0))
    sim = simulate_frame(catalog=cat, seed=seed + 1, shape=(2048, 2048), n_cosmic_rays=0, zero_point=23.0)
    gain, rn = float(sim.header["GAIN"]), float(sim.header["RDNOISE"])
    stars = sim.truth.stars[sim.truth.stars["in_frame"]]
    image = sim.calibrated() - sim.truth.sky
    rms = float(np.sqrt(sim.truth.sky / gain + (rn / gain) ** 2))
    flags = np.where(stars["saturated"], SourceFlag.SATURATED, 0).astype(np.uint16)
    sources = QTable({"x": stars["x"], "y": stars["y"], "flux": stars["flux"], "flags": flags})
    return sim, stars, image, rms, gain, sources


def _stats(flux, err, true, good):
    ratio = flux[good] / true[good]
    z = (flux[good] - true[good] * np.median(ratio)) / err[good]
    rel = ratio / np.median(ratio) - 1
    return {
        "n": int(good.sum()),
        "median_flux_ratio": float(np.median(ratio)),
        "robust_rel_scatter": float(1.4826 * np.median(np.abs(rel))),
        "robust_z_scatter": float(1.4826 * np.median(np.abs(z - np.median(z)))),
    }


def _time(func, repeat):
    func()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--photutils-repeat", type=int, default=1)
    args = parser.parse_args()

    from astropy.modeling.fitting import TRFLSQFitter
    from photutils.psf import ImagePSF, PSFPhotometry, SourceGrouper

    sim, stars, image, rms, gain, sources = _frame(seed=31)
    t0 = time.perf_counter()
    model = build_psf(image, sources, fwhm_px=sim.truth.fwhm_px, config=PSFConfig(), rms=rms, gain=gain)
    build_s = time.perf_counter() - t0
    config = PSFConfig(fit_positions=False)
    radius = config.fit_radius_fwhm * model.fwhm_px
    true, x, y = np.asarray(stars["flux"]), np.asarray(stars["x"]), np.asarray(stars["y"])
    margin = int(np.ceil(radius)) + 2
    good = ~np.asarray(stars["saturated"]) & (x > margin) & (x < 2047 - margin) & (y > margin) & (y < 2047 - margin)

    rpf_s, rpf_out = _time(
        lambda: psf_photometry(image, sources, psf_model=model, rms=rms, gain=gain, config=config), args.repeat
    )
    rpf_pos_s, _ = _time(
        lambda: psf_photometry(
            image, sources, psf_model=model, rms=rms, gain=gain, config=PSFConfig(fit_positions=True)
        ),
        args.repeat,
    )

    psf = ImagePSF(model.data, oversampling=model.oversampling)
    psf.x_0.fixed = True
    psf.y_0.fixed = True
    size = 2 * int(np.ceil(radius)) + 1
    error = np.sqrt(rms**2 + np.clip(image, 0, None) / gain)
    init = QTable({"x": x, "y": y, "flux": true})

    def run_photutils():
        phot = PSFPhotometry(
            psf, (size, size), grouper=SourceGrouper(min_separation=2 * radius), fitter=TRFLSQFitter(),
            aperture_radius=radius,
        )
        return phot(image, error=error, init_params=init)

    pu_s, pu_out = _time(run_photutils, args.photutils_repeat)

    rpf_flux, rpf_err = np.asarray(rpf_out["psf_flux"]), np.asarray(rpf_out["psf_flux_err"])
    pu_flux, pu_err = np.asarray(pu_out["flux_fit"]), np.asarray(pu_out["flux_err"])
    sel = good & (true / rpf_err > 20) & np.isfinite(pu_flux) & np.isfinite(rpf_flux)
    n = len(stars)
    result = {
        "frame": f"2048x2048 simulated, Moffat beta 3.5, FWHM {sim.truth.fwhm_px:.2f} px",
        "n_stars": n,
        "epsf_build_s": build_s,
        "rpf_forced_s": rpf_s,
        "rpf_forced_stars_per_s": n / rpf_s,
        "rpf_fit_positions_s": rpf_pos_s,
        "photutils_s": pu_s,
        "photutils_stars_per_s": n / pu_s,
        "speed_ratio_forced": pu_s / rpf_s,
        "speed_ratio_fit_positions": pu_s / rpf_pos_s,
        "accuracy_snr_gt_20": {
            "rpf": _stats(rpf_flux, rpf_err, true, sel),
            "photutils": _stats(pu_flux, pu_err, true, sel),
        },
        "median_rpf_over_photutils_flux": float(np.median(rpf_flux[sel] / pu_flux[sel])),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    out = Path(__file__).parent / "results" / "bench_psf.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
