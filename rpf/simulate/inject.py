"""Extra light on a simulated frame: galaxies (Sérsic profiles seen through the PSF) and point sources.

:func:`add_light` adds any calibrated-ADU light pattern to a
:class:`~rpf.simulate.SimulatedFrame` the way :func:`simulate_frame` makes
its stars: through the flat, with Poisson noise in electrons, digitised and
clipped like the camera's frames.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from astropy.modeling.models import Sersic2D
from scipy.signal import fftconvolve

from rpf.errors import ConfigError
from rpf.simulate.frame import SimulatedFrame
from rpf.simulate.instrument import InstrumentModel, digitize
from rpf.simulate.psf import PsfModel, render_stars

__all__ = ["add_light", "galaxy_light", "point_light"]

_OVERSAMPLE = 5


def point_light(shape: tuple[int, int], *, x, y, flux, psf: PsfModel) -> np.ndarray:
    """Return point sources of total ``flux`` (ADU) at ``x, y`` (0-based pixels), pixel-integrated."""
    image, _ = render_stars(
        shape=shape, x=np.atleast_1d(np.asarray(x, float)), y=np.atleast_1d(np.asarray(y, float)),
        flux=np.atleast_1d(np.asarray(flux, float)), psf=psf,
    )
    return image


def galaxy_light(
    shape: tuple[int, int],
    *,
    x: float,
    y: float,
    flux: float,
    r_eff_px: float,
    sersic_n: float = 1.0,
    ellipticity: float = 0.3,
    theta_deg: float = 30.0,
    psf: PsfModel,
) -> np.ndarray:
    """Return a Sérsic galaxy of total ``flux`` (ADU) convolved with ``psf``.

    The profile is integrated over each pixel (5 x 5 sub-samples) inside a
    box of 8 effective radii, convolved with the PSF sampled on the pixel
    grid and normalised to ``flux`` (the light falling outside the box is
    left out).

    Raises
    ------
    ConfigError
        Non-positive flux or radius, or a centre off the image.
    """
    ny, nx = shape
    if not (flux > 0 and r_eff_px > 0 and 0 <= ellipticity < 1 and sersic_n > 0):
        raise ConfigError(f"galaxy: flux, r_eff and n must be > 0 and 0 <= ellipticity < 1 (got {flux}, {r_eff_px})")
    if not (0 <= x < nx and 0 <= y < ny):
        raise ConfigError(f"galaxy centre ({x}, {y}) is off the {nx}x{ny} image")
    half = int(np.ceil(8 * r_eff_px + 4 * psf.fwhm_px))
    x0, x1 = max(int(x) - half, 0), min(int(x) + half + 1, nx)
    y0, y1 = max(int(y) - half, 0), min(int(y) + half + 1, ny)
    sub = (np.arange(_OVERSAMPLE) + 0.5) / _OVERSAMPLE - 0.5
    gy, gx = np.mgrid[y0:y1, x0:x1]
    model = Sersic2D(amplitude=1.0, r_eff=r_eff_px, n=sersic_n, x_0=x, y_0=y, ellip=ellipticity,
                     theta=np.radians(theta_deg))
    profile = np.zeros(gy.shape)
    for dy in sub:
        for dx in sub:
            profile += model(gx + dx, gy + dy)
    k = int(np.ceil(4 * psf.fwhm_px))
    kernel = point_light((2 * k + 1, 2 * k + 1), x=k, y=k, flux=1.0, psf=psf)
    blurred = np.clip(fftconvolve(profile, kernel / kernel.sum(), mode="same"), 0.0, None)
    image = np.zeros(shape)
    image[y0:y1, x0:x1] = blurred * (flux / blurred.sum())
    return image


def add_light(sim: SimulatedFrame, light: np.ndarray, *, instrument: InstrumentModel, seed: int) -> SimulatedFrame:
    """Return ``sim`` with ``light`` (calibrated ADU, before the flat) added to its raw frame.

    The extra electrons are Poisson-distributed through the gain of
    ``instrument`` (the camera ``sim`` was made with); the raw values are
    re-digitised and clipped at saturation.  ``truth.noise_free`` gains
    ``light``; the star table is unchanged.

    Raises
    ------
    ConfigError
        ``light`` has another shape than the frame, or negative values.
    """
    light = np.asarray(light, float)
    if light.shape != sim.raw.shape or not (light >= 0).all():
        raise ConfigError(f"light must be a non-negative image of shape {sim.raw.shape}")
    rng = np.random.default_rng(seed)
    electrons = rng.poisson(light * sim.truth.flat * instrument.gain)
    raw = digitize(instrument, sim.raw.astype(np.float64) + electrons / instrument.gain)
    truth = replace(sim.truth, noise_free=(sim.truth.noise_free + light).astype(np.float32))
    return replace(sim, raw=raw, truth=truth)
