"""Bias, dark and flat frames sharing a camera's fixed patterns."""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.time import Time

from rpf.errors import ConfigError
from rpf.simulate.cosmics import cosmic_ray_image
from rpf.simulate.header import camera_header
from rpf.simulate.instrument import InstrumentModel, digitize, expose, instrument_maps
from rpf.simulate.site import DEFAULT_OBSERVATORY, DEFAULT_SITE

__all__ = ["simulate_calibration_frames"]


def simulate_calibration_frames(
    instrument: InstrumentModel,
    *,
    shape: tuple[int, int],
    seed: int,
    n_bias: int = 5,
    n_dark: int = 5,
    dark_exptime: float = 60.0,
    n_flat: int = 5,
    flat_level: float = 20000.0,
    flat_exptime: float = 5.0,
    flat_filter: str = "V",
    cosmic_rays_per_minute: float = 40.0,
    date_obs: str = "2026-03-15T17:00:00",
    site: tuple[float, float, float] = DEFAULT_SITE,
    observatory: str = DEFAULT_OBSERVATORY,
) -> dict[str, list[tuple[np.ndarray, fits.Header]]]:
    """Simulate raw bias, dark and flat frames of a camera.

    They share the bias pattern, dark map, hot pixels and flat of
    :func:`rpf.simulate.simulate_frame` with the same ``instrument`` and
    ``shape``, so ``(raw - bias - dark * t) / flat`` with masters built from
    them calibrates the science frames.  Darks and flats get cosmic rays
    (``cosmic_rays_per_minute`` of exposure), as real ones do.

    Parameters
    ----------
    instrument : InstrumentModel
        The camera.
    shape : tuple of int
        ``(ny, nx)``.
    seed : int
        Seed of the noise and cosmic rays.
    n_bias, n_dark, n_flat : int
        Number of frames of each type.
    dark_exptime : float
        Dark exposure time (s).
    flat_level : float
        Mean illumination of the flats (ADU above bias and dark).
    flat_exptime : float
        Flat exposure time (s).
    flat_filter : str
        ``FILTER`` of the flats.
    cosmic_rays_per_minute : float
        Cosmic-ray hits per minute of exposure.
    date_obs : str
        UTC start of the first frame; later frames follow every 2 minutes.
    site : tuple of float
        (latitude deg, longitude deg east, elevation m).
    observatory : str
        ``OBSERVAT`` value.

    Returns
    -------
    dict
        ``{"bias": [...], "dark": [...], "flat": [...]}``, each a list of
        ``(raw ndarray, fits.Header)``.

    Raises
    ------
    rpf.errors.ConfigError
        For negative counts or non-positive exposure times or flat level.
    """
    if min(n_bias, n_dark, n_flat) < 0 or dark_exptime <= 0 or flat_exptime <= 0 or flat_level <= 0:
        msg = "frame counts must be >= 0 and dark_exptime, flat_exptime, flat_level > 0"
        raise ConfigError(msg)
    shape = (int(shape[0]), int(shape[1]))
    maps = instrument_maps(instrument, shape)
    plan = [("bias", "BIAS", 0.0, 0.0)] * n_bias + [("dark", "DARK", dark_exptime, 0.0)] * n_dark
    plan += [("flat", "FLAT", flat_exptime, flat_level)] * n_flat
    streams = np.random.SeedSequence(seed).spawn(max(len(plan), 1))
    start = Time(date_obs, scale="utc")
    out: dict[str, list[tuple[np.ndarray, fits.Header]]] = {"bias": [], "dark": [], "flat": []}
    for k, ((key, imagetyp, exptime, level), stream) in enumerate(zip(plan, streams, strict=False)):
        rng = np.random.default_rng(stream)
        values = expose(instrument, maps=maps, illumination=level, exptime=exptime, rng=rng)
        n_cr = int(rng.poisson(cosmic_rays_per_minute * exptime / 60.0)) if exptime > 0 else 0
        values = values + cosmic_ray_image(shape, n_hits=n_cr, rng=rng)[0]
        when = (start + 2 * k * u.min).isot
        header = camera_header(
            instrument, imagetyp=imagetyp, exptime=exptime, date_obs=when, site=site, observatory=observatory
        )
        if key == "flat":
            header["FILTER"] = (flat_filter, "filter")
        out[key].append((digitize(instrument, values), header))
    return out
