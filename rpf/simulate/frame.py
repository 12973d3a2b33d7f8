"""One simulated raw science frame with its truth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from rpf.errors import ConfigError
from rpf.simulate.catalog import random_star_catalog
from rpf.simulate.cosmics import cosmic_ray_image
from rpf.simulate.galaxy import place_galaxies, render_galaxies
from rpf.simulate.header import science_header
from rpf.simulate.instrument import InstrumentModel, digitize, expose, instrument_maps
from rpf.simulate.psf import PsfModel, StarStamps, render_stars
from rpf.simulate.site import DEFAULT_OBSERVATORY, DEFAULT_SITE, airmass_at
from rpf.simulate.stars import flux_from_mag, frame_stars
from rpf.simulate.wcs import make_tan_wcs, offset_pointing

__all__ = ["SimulatedFrame", "SimulationTruth", "field_catalog", "simulate_frame"]


@dataclass(frozen=True)
class SimulationTruth:
    """What went into a simulated frame.

    Attributes
    ----------
    stars : astropy.table.Table
        One row per source on or near the frame: ``source_id, x, y`` (0-based
        pixels), ``ra, dec, mag`` (in ``band``, variability included),
        ``color`` (BP-RP), ``flux`` (total, ADU in the calibrated image),
        ``peak`` (ADU, own highest pixel), ``snr`` (expected, in an aperture
        of radius 1 FWHM), ``saturated``, ``in_frame``,
        ``is_extra`` (not from the catalogue), ``delta_mag`` (offset applied).
    sky : float
        Sky level of the calibrated image (ADU/pixel).
    bias, dark_rate, flat : numpy.ndarray
        Bias (ADU), dark current (ADU/s), flat (median 1).
    cr_mask, hot_mask : numpy.ndarray
        Pixels hit by a cosmic ray; hot pixels.
    wcs : astropy.wcs.WCS
        The true WCS (even when the header carries none or a wrong one).
    noise_free : numpy.ndarray
        Float32 calibrated image without noise: sky + stars + galaxies.
    zero_point_frame : float
        ``zero_point - extinction_k * airmass``.
    airmass : float
        Airmass at mid-exposure.
    fwhm_px : float
        PSF FWHM in pixels.
    exptime : float
        Exposure time (s).
    params : dict
        The simulation parameters.
    galaxies : astropy.table.Table
        One row per galaxy: ``x, y, ra, dec, mag, color, flux`` (total, ADU),
        ``r_eff_px, sersic_n, axis_ratio, pa_deg, in_frame`` (empty without galaxies).
    """

    stars: Table
    sky: float
    bias: np.ndarray
    dark_rate: np.ndarray
    flat: np.ndarray
    cr_mask: np.ndarray
    hot_mask: np.ndarray
    wcs: WCS
    noise_free: np.ndarray
    zero_point_frame: float
    airmass: float
    fwhm_px: float
    exptime: float
    params: dict = field(default_factory=dict)
    galaxies: Table = field(default_factory=Table)

    def __getitem__(self, key: str) -> Any:
        """Return an attribute by name (``truth["stars"]`` is ``truth.stars``)."""
        return getattr(self, key)


@dataclass(frozen=True)
class SimulatedFrame:
    """A raw frame, its FITS header and the truth it was made from."""

    raw: np.ndarray
    header: fits.Header
    truth: SimulationTruth

    def calibrated(self) -> np.ndarray:
        """Return ``(raw - bias - dark_rate * exptime) / flat`` with the true patterns (float32)."""
        t = self.truth
        return ((self.raw - t.bias - t.dark_rate * t.exptime) / t.flat).astype(np.float32)


def field_catalog(
    center: tuple[float, float],
    shape: tuple[int, int],
    pixel_scale: float,
    seed: int,
    *,
    stars_per_deg2: float = 5000.0,
) -> Table:
    """Return a random catalogue on a circle just covering the frame's corners.

    Parameters
    ----------
    center : tuple of float
        (ra, dec) of the frame centre, degrees.
    shape : tuple of int
        Frame shape ``(ny, nx)``.
    pixel_scale : float
        Arcsec per pixel.
    seed : int
        Random seed.
    stars_per_deg2 : float
        Star density (G 11 - 19.5).

    Returns
    -------
    astropy.table.Table
        See :func:`rpf.simulate.random_star_catalog`.
    """
    radius = 0.5 * np.hypot(*shape) * pixel_scale / 3600.0 * 1.05
    n_stars = int(round(stars_per_deg2 * np.pi * radius**2))
    return random_star_catalog(ra=center[0], dec=center[1], radius_deg=radius, n_stars=n_stars, seed=seed)


def _sky_level(
    *, sky_mag_arcsec2: float, sky_adu_per_s: float | None, pixel_scale: float, zp_frame: float, exptime: float
) -> float:
    """Return the sky per pixel of the calibrated image (ADU)."""
    if sky_adu_per_s is not None:
        return float(sky_adu_per_s) * exptime
    return exptime * pixel_scale**2 * 10 ** (-0.4 * (sky_mag_arcsec2 - zp_frame))


def _check(shape: tuple[int, int], pixel_scale: float, exptime: float, fwhm_arcsec: float) -> None:
    if len(shape) != 2 or min(shape) < 16:
        msg = f"shape must be (ny, nx) with both >= 16, got {shape}"
        raise ConfigError(msg)
    if pixel_scale <= 0 or exptime <= 0 or fwhm_arcsec <= 0:
        msg = f"pixel_scale, exptime and fwhm_arcsec must be > 0, got {pixel_scale}, {exptime}, {fwhm_arcsec}"
        raise ConfigError(msg)


def simulate_frame(
    *,
    catalog: Table | None = None,
    seed: int,
    shape: tuple[int, int] = (1024, 1024),
    center: tuple[float, float] = (150.0, 20.0),
    pixel_scale: float = 1.0,
    rotation_deg: float = 0.0,
    flip: bool = False,
    fwhm_arcsec: float = 3.0,
    psf: str = "moffat",
    moffat_beta: float = 3.5,
    exptime: float = 60.0,
    filter: str = "V",
    band: str = "V_mag",
    zero_point: float = 23.0,
    color_term: float = 0.0,
    extinction_k: float = 0.0,
    airmass: float | None = None,
    sky_mag_arcsec2: float = 20.5,
    sky_adu_per_s: float | None = None,
    instrument: InstrumentModel | None = None,
    n_cosmic_rays: int = 40,
    date_obs: str = "2026-03-15T22:00:00",
    site: tuple[float, float, float] = DEFAULT_SITE,
    observatory: str = DEFAULT_OBSERVATORY,
    object_name: str = "RPF-SIM",
    write_wcs: bool = True,
    pointing_error_arcmin: float = 0.0,
    extra_stars: Table | None = None,
    star_mag_offsets: Mapping[int, float] | None = None,
    galaxies: Table | None = None,
) -> SimulatedFrame:
    """Simulate a raw CCD science frame of a star field, with its truth.

    ``raw = bias + dark_rate * exptime + flat * (sky + stars) + noise``,
    Poisson noise in electrons via the gain, Gaussian read noise, cosmic rays
    and hot pixels, clipped at saturation and stored as ``instrument.dtype``.
    A star of catalogue magnitude ``m`` (column ``band``) and colour
    ``c = BP - RP`` has calibrated flux
    ``exptime * 10**(-0.4 * (m - zp_frame - color_term * c))`` with
    ``zp_frame = zero_point - extinction_k * airmass``.

    Parameters
    ----------
    catalog : astropy.table.Table, optional
        Stars with Gaia column names and ``band``; default: a random
        catalogue around ``center`` (seeded by ``seed``).
    seed : int
        Random seed of everything but the instrument patterns.
    shape : tuple of int
        ``(ny, nx)``.
    center : tuple of float
        True (ra, dec) of the image centre, degrees.
    pixel_scale : float
        Arcsec per pixel.
    rotation_deg, flip : float, bool
        Orientation (see :func:`rpf.simulate.wcs.make_tan_wcs`).
    fwhm_arcsec : float
        Seeing FWHM.
    psf : str
        ``"moffat"`` or ``"gaussian"``.
    moffat_beta : float
        Moffat exponent.
    exptime : float
        Exposure time (s).
    filter : str
        ``FILTER`` keyword.
    band : str
        Catalogue column giving each star's magnitude.
    zero_point : float
        Above-atmosphere zero point.
    color_term : float
        Colour term (per mag of BP-RP).
    extinction_k : float
        Extinction coefficient (mag/airmass).
    airmass : float, optional
        Airmass; default: computed with astropy for the site, mid-exposure
        time and true pointing.
    sky_mag_arcsec2 : float
        Sky surface brightness (mag/arcsec², same zero point).
    sky_adu_per_s : float, optional
        Sky per pixel per second (overrides ``sky_mag_arcsec2``).
    instrument : InstrumentModel, optional
        The camera (default ``InstrumentModel()``).
    n_cosmic_rays : int
        Number of cosmic-ray hits.
    date_obs : str
        UTC start of the exposure (ISOT).
    site : tuple of float
        (latitude deg, longitude deg east, elevation m).
    observatory : str
        ``OBSERVAT`` value.
    object_name : str
        ``OBJECT`` value.
    write_wcs : bool
        Write the WCS into the header.
    pointing_error_arcmin : float
        Offset of the reported pointing (RA/DEC, OBJCTRA/OBJCTDEC and the
        written WCS) from the truth, in a random direction.
    extra_stars : astropy.table.Table, optional
        Extra sources (transients): ``ra``/``dec`` or ``x``/``y``, ``mag``,
        optional ``color``, ``source_id`` (default -1, -2, ...).
    star_mag_offsets : mapping, optional
        ``source_id -> delta mag`` (variables).
    galaxies : astropy.table.Table, optional
        Extended sources (never in the catalogue): ``ra``/``dec`` or
        ``x``/``y``, ``mag`` (in ``band``), ``r_eff_arcsec`` and optionally
        ``sersic_n`` (1), ``axis_ratio`` (1), ``pa_deg`` (0), ``color`` (0).

    Returns
    -------
    SimulatedFrame
        Raw data, header and truth.

    Raises
    ------
    rpf.errors.ConfigError
        For invalid parameters, or a field below the horizon.
    """
    _check(shape, pixel_scale, exptime, fwhm_arcsec)
    shape = (int(shape[0]), int(shape[1]))
    inst = instrument if instrument is not None else InstrumentModel()
    psf_model = PsfModel(fwhm_px=fwhm_arcsec / pixel_scale, profile=psf, beta=moffat_beta)
    rng_point, rng_noise, rng_cr = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    if catalog is None:
        catalog = field_catalog(center, shape, pixel_scale, seed)
    wcs = make_tan_wcs(center=center, shape=shape, pixel_scale=pixel_scale, rotation_deg=rotation_deg, flip=flip)
    mid = (Time(date_obs, scale="utc") + 0.5 * exptime * u.s).isot
    if airmass is None:
        airmass = airmass_at(ra=center[0], dec=center[1], time=mid, site=site)
    zp_frame = zero_point - extinction_k * airmass
    stars = frame_stars(
        catalog=catalog,
        band=band,
        wcs=wcs,
        shape=shape,
        margin_px=psf_model.max_radius(),
        date_obs=mid,
        extra_stars=extra_stars,
        star_mag_offsets=star_mag_offsets,
    )
    stars["flux"] = flux_from_mag(
        stars["mag"], color=stars["color"], exptime=exptime, zp_frame=zp_frame, color_term=color_term
    )
    star_image, stamps = render_stars(shape=shape, x=stars["x"], y=stars["y"], flux=stars["flux"], psf=psf_model)
    galaxy_table = place_galaxies(galaxies, wcs=wcs, shape=shape, pixel_scale=pixel_scale)
    if len(galaxy_table):
        galaxy_table["flux"] = flux_from_mag(
            galaxy_table["mag"], color=galaxy_table["color"], exptime=exptime, zp_frame=zp_frame, color_term=color_term
        )
        star_image += render_galaxies(
            shape=shape,
            x=galaxy_table["x"],
            y=galaxy_table["y"],
            flux=galaxy_table["flux"],
            r_eff_px=galaxy_table["r_eff_px"],
            sersic_n=galaxy_table["sersic_n"],
            axis_ratio=galaxy_table["axis_ratio"],
            position_angle_deg=galaxy_table["pa_deg"],
            psf=psf_model,
        )
    sky = _sky_level(
        sky_mag_arcsec2=sky_mag_arcsec2,
        sky_adu_per_s=sky_adu_per_s,
        pixel_scale=pixel_scale,
        zp_frame=zp_frame,
        exptime=exptime,
    )
    noise_free = (star_image + sky).astype(np.float32)
    maps = instrument_maps(inst, shape)
    cr_image, cr_mask = cosmic_ray_image(shape, n_hits=n_cosmic_rays, rng=rng_cr)
    raw = digitize(
        inst, expose(inst, maps=maps, illumination=star_image + sky, exptime=exptime, rng=rng_noise) + cr_image
    )
    stars["peak"] = stamps.peak
    stars["snr"] = _expected_snr(
        stars["flux"], psf=psf_model, inst=inst, sky=sky, dark=float(np.mean(maps.dark_rate)) * exptime
    )
    stars["saturated"] = _saturated(
        stamps,
        expected=maps.bias + maps.dark_rate * exptime + maps.flat * noise_free,
        raw=raw,
        saturation=inst.saturation,
    )
    pointing = offset_pointing(center, offset_arcmin=pointing_error_arcmin, rng=rng_point)
    header_wcs = None
    if write_wcs:
        header_wcs = make_tan_wcs(
            center=pointing, shape=shape, pixel_scale=pixel_scale, rotation_deg=rotation_deg, flip=flip
        )
    header = science_header(
        inst,
        exptime=exptime,
        date_obs=date_obs,
        site=site,
        observatory=observatory,
        filter_name=filter,
        pointing=pointing,
        pixel_scale=pixel_scale,
        airmass=airmass,
        object_name=object_name,
        wcs=header_wcs,
    )
    params = {
        "seed": seed,
        "shape": list(shape),
        "center": list(map(float, center)),
        "pixel_scale": pixel_scale,
        "rotation_deg": rotation_deg,
        "flip": flip,
        "fwhm_arcsec": fwhm_arcsec,
        "psf": psf,
        "moffat_beta": moffat_beta,
        "exptime": exptime,
        "filter": filter,
        "band": band,
        "zero_point": zero_point,
        "color_term": color_term,
        "extinction_k": extinction_k,
        "sky_mag_arcsec2": sky_mag_arcsec2,
        "sky_adu_per_s": sky_adu_per_s,
        "n_cosmic_rays": n_cosmic_rays,
        "date_obs": date_obs,
        "site": list(site),
        "pointing": list(pointing),
        "pointing_error_arcmin": pointing_error_arcmin,
        "write_wcs": write_wcs,
        "n_galaxies": len(galaxy_table),
    }
    truth = SimulationTruth(
        stars=stars,
        sky=float(sky),
        bias=maps.bias,
        dark_rate=maps.dark_rate,
        flat=maps.flat,
        cr_mask=cr_mask,
        hot_mask=maps.hot_mask,
        wcs=wcs,
        noise_free=noise_free,
        zero_point_frame=float(zp_frame),
        airmass=float(airmass),
        fwhm_px=psf_model.fwhm_px,
        exptime=float(exptime),
        params=params,
        galaxies=galaxy_table,
    )
    return SimulatedFrame(raw=raw, header=header, truth=truth)


def _expected_snr(flux: np.ndarray, *, psf: PsfModel, inst: InstrumentModel, sky: float, dark: float) -> np.ndarray:
    """Return the expected SNR in a circular aperture of radius 1 FWHM (Poisson, sky, dark, read noise)."""
    radius = psf.fwhm_px
    signal = np.asarray(flux) * (1.0 - psf.outside_fraction(radius))
    background_var = (sky + dark) / inst.gain + (inst.read_noise / inst.gain) ** 2
    return signal / np.sqrt(signal / inst.gain + np.pi * radius**2 * background_var)


def _saturated(stamps: StarStamps, *, expected: np.ndarray, raw: np.ndarray, saturation: float) -> np.ndarray:
    """Return True for stars whose peak pixel reaches saturation (expected or actual)."""
    ny, nx = raw.shape
    inside = (stamps.peak_x >= 0) & (stamps.peak_x < nx) & (stamps.peak_y >= 0) & (stamps.peak_y < ny)
    px, py = np.clip(stamps.peak_x, 0, nx - 1), np.clip(stamps.peak_y, 0, ny - 1)
    top = min(saturation, float(np.iinfo(raw.dtype).max)) if raw.dtype.kind in "ui" else saturation
    return inside & ((expected[py, px] >= top) | (raw[py, px] >= top))
