"""Where the error of each star's default magnitude comes from (used by ``bench_accuracy.py``).

Every star's pipeline flux is rebuilt from its parts: the aperture it was
measured in (``flux_radius_fwhm``), the frame's aperture correction for that
radius and its local sky.  Replacing one ingredient of the measurement at a
time by its true or noise-free version splits ``flux / true flux - 1`` into
additive terms (relative flux, reported in magnitudes):

- ``photon_read``: Poisson and read noise of the pixels in the aperture
  (the calibrated frame with the true bias, dark and flat, minus the
  noise-free frame);
- ``master_bias_dark``: the noise of the master bias and dark in the aperture;
- ``master_flat``: the master flat's noise on the aperture's light;
- ``cosmic_cleaning``: what the cosmic-ray cleaning changed in the aperture;
- ``sky``: the local sky's error (noisy minus noise-free annulus estimate,
  times the area);
- ``centroid``: the noise-free measurement at the measured minus the true position;
- ``crowding``: neighbours in the aperture and the annulus (the noise-free
  frame minus the star alone, at the true position);
- ``aperture``: the star alone, noise-free, at its true position: what the
  pixel-phase correction leaves and the aperture correction's scale.

The terms add up to the total (``closure`` is the remainder: a check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sep

from rpf.photometry.phase import phase_corrections
from rpf.photometry.sky import local_background, neighbour_cover, neighbour_mask_radius
from rpf.simulate.psf import PsfModel, render_stars

_MAG = 2.5 / np.log(10.0)
COMPONENTS = (
    "photon_read", "master_bias_dark", "master_flat", "cosmic_cleaning", "sky", "centroid", "crowding", "aperture",
)


def _sums(image: np.ndarray, x: np.ndarray, y: np.ndarray, radius: np.ndarray) -> np.ndarray:
    data = np.ascontiguousarray(image, dtype=np.float32)
    return sep.sum_circle(data, x, y, radius, subpix=0)[0]


def _local_sky(image: np.ndarray, x: np.ndarray, y: np.ndarray, meta: dict, fwhm: float, clip: float) -> np.ndarray:
    """The pipeline's local sky (every detection masked but the star's own disk) on another image."""
    data = np.ascontiguousarray(image, dtype=np.float32)
    rough, _, _ = sep.sum_circle(data, x, y, 2.0 * fwhm, subpix=0)
    noise = float(meta["noise"])
    own = neighbour_mask_radius(rough, fwhm_px=fwhm, noise=noise)
    cover = neighbour_cover(data.shape, x, y, own)
    bad = np.zeros(data.shape, bool)
    level, _, _ = local_background(data, x, y, annulus_px=tuple(meta["annulus_px"]), bad=bad, clip_sigma=clip,
                                   cover=cover, own_radius=own)
    return level


def _alone(psf: PsfModel, x: np.ndarray, y: np.ndarray, flux: np.ndarray, radius: np.ndarray,
           annulus: tuple[float, float]) -> np.ndarray:
    """Aperture sum minus the annulus mean of each star rendered alone, noise-free (relative to its flux)."""
    half = int(np.ceil(annulus[1])) + 3
    size = 2 * half + 1
    yy, xx = np.mgrid[:size, :size]
    out = np.empty(len(x))
    for k in range(len(x)):
        cx, cy = half + (x[k] - np.rint(x[k])), half + (y[k] - np.rint(y[k]))
        stamp, _ = render_stars(shape=(size, size), x=[cx], y=[cy], flux=[1.0], psf=psf, tol_fraction=1e-7,
                                 tol_adu=1e-12)
        r = np.hypot(xx - np.rint(cx), yy - np.rint(cy))
        sky = stamp[(r >= annulus[0]) & (r <= annulus[1])].mean()
        total = sep.sum_circle(np.ascontiguousarray(stamp, np.float32), [cx], [cy], radius[k], subpix=0)[0][0]
        out[k] = total - sky * np.pi * radius[k] ** 2
    return out


def breakdown(
    *,
    truth,
    stars,
    phot,
    rows: np.ndarray,
    pixels,
    masters,
    raw: np.ndarray,
    clip_sigma: float,
) -> dict[str, np.ndarray]:
    """Per compared star: each component of ``flux / true - 1`` in magnitudes (positive: too faint).

    Parameters
    ----------
    truth : rpf.simulate.SimulationTruth
        The frame's truth.
    stars : astropy.table.Table
        The true stars compared, one per row of ``rows``.
    phot : astropy.table.QTable
        The pipeline's photometry (``flux_radius_fwhm``, ``bkg_local``, meta with the corrections).
    rows : numpy.ndarray
        Compared rows of ``phot``.
    pixels : rpf.pipeline.FramePixels
        The pipeline's calibrated, cosmic-cleaned image and its background.
    masters : rpf.calibration.MasterFrames
        The masters the pipeline used.
    raw : numpy.ndarray
        The raw science frame.
    clip_sigma : float
        ``aperture.annulus_clip_sigma``.

    Returns
    -------
    dict
        ``{component: (n,) array}`` with the components, ``total`` (from
        the pipeline's flux) and ``closure`` (total minus their sum).
    """
    meta = dict(phot.meta)
    fwhm = float(meta["fwhm_px"])
    factors = {float(k): float(v) for k, v in meta["aperture_correction_all"].items()}
    true_flux = np.asarray(stars["flux"], float)
    chosen = np.asarray(phot["flux_radius_fwhm"], float)[rows]
    radius = chosen * fwhm
    area = np.pi * radius**2
    xm, ym = np.asarray(phot["x"], float)[rows], np.asarray(phot["y"], float)[rows]
    alpha, beta = meta.get("aperture_correction_moffat", (np.nan, np.nan))
    grid = sorted(factors)
    phase = phase_corrections(xm, ym, radii_px=tuple(g * fwhm for g in grid), alpha=alpha, beta=beta)
    # the pipeline's factor for each star: the aperture correction of its radius times its pixel-phase correction
    factor = np.array([factors[c] for c in chosen]) * phase[np.arange(len(rows)), [grid.index(c) for c in chosen]]
    xt, yt = np.asarray(stars["x"], float), np.asarray(stars["y"], float)
    background = np.asarray(pixels.background, np.float64)
    meta["noise"] = float(np.nanmedian(pixels.background_rms)) if pixels.background_rms is not None else 1.0
    t = truth.exptime
    flat_true = np.asarray(truth.flat, np.float64)
    bias_dark = raw - masters.bias - masters.dark_rate * t
    images = {
        "pipeline": np.asarray(pixels.image, np.float64) - background,
        "uncleaned": bias_dark / masters.flat - background,
        "true_flat": bias_dark / flat_true - background,
        "true_masters": (raw - truth.bias - truth.dark_rate * t) / flat_true - background,
        "noise_free": np.asarray(truth.noise_free, np.float64) - background,
    }
    s = {name: _sums(image, xm, ym, radius) for name, image in images.items()}
    bkg = np.asarray(phot["bkg_local"], float)[rows]
    x_all, y_all = np.asarray(phot["x"], float), np.asarray(phot["y"], float)
    sky_nf = _local_sky(images["noise_free"], x_all, y_all, meta, fwhm, clip_sigma)[rows]
    # noise-free at the true positions: the same sky method, centred on the truth
    x_all[rows], y_all[rows] = xt, yt
    sky_nf_true = _local_sky(images["noise_free"], x_all, y_all, meta, fwhm, clip_sigma)[rows]
    s_nf_true = _sums(images["noise_free"], xt, yt, radius)
    psf = PsfModel(fwhm_px=truth.fwhm_px, profile=truth.params["psf"], beta=truth.params["moffat_beta"])
    alone = _alone(psf, xt, yt, true_flux, radius, tuple(meta["annulus_px"]))
    rel = {
        "photon_read": factor * (s["true_masters"] - s["noise_free"]) / true_flux,
        "master_bias_dark": factor * (s["true_flat"] - s["true_masters"]) / true_flux,
        "master_flat": factor * (s["uncleaned"] - s["true_flat"]) / true_flux,
        "cosmic_cleaning": factor * (s["pipeline"] - s["uncleaned"]) / true_flux,
        "sky": -factor * (bkg - sky_nf) * area / true_flux,
        "centroid": factor * ((s["noise_free"] - sky_nf * area) - (s_nf_true - sky_nf_true * area)) / true_flux,
        "crowding": factor * (s_nf_true - sky_nf_true * area) / true_flux - factor * alone,
        "aperture": factor * alone - 1.0,
    }
    flux = np.asarray(phot["flux"], float)[rows]
    out = {name: -_MAG * value for name, value in rel.items()}
    out["total"] = -_MAG * (flux / true_flux - 1.0)
    out["closure"] = out["total"] - sum(out[name] for name in COMPONENTS)
    return out


def component_stats(parts: dict[str, np.ndarray], expected: np.ndarray, snr: np.ndarray, bins) -> list[dict[str, Any]]:
    """Per SNR bin and component: median (mag) and robust sigma over the photon-noise expectation."""
    out = []
    for lo, hi in bins:
        sel = (snr >= lo) & (snr < hi)
        entry: dict[str, Any] = {"snr_bin": f"{lo}-{hi}" if np.isfinite(hi) else f">{lo}", "n": int(sel.sum())}
        for name, values in parts.items():
            v, e = values[sel], expected[sel]
            ok = np.isfinite(v)
            if not ok.any():
                entry[name] = {"median": None, "scatter_ratio": None}
                continue
            ratio = v[ok] / e[ok]
            entry[name] = {
                "median": float(np.median(v[ok])),
                "scatter_ratio": float(1.4826 * np.median(np.abs(ratio - np.median(ratio)))),
            }
        out.append(entry)
    return out
