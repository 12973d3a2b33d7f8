"""Template subtraction: align a calibrated template on the science frame and subtract it (stdpipe SFFT).

The template is put on the science frame's grid with
:func:`reproject.reproject_interp` (bilinear; its variance and bad pixels
alongside) and on its photometric scale with the two zero points.  Then
:func:`stdpipe.subtraction.run_sfft` fits, by one global least-squares
solve, a convolution kernel whose shape varies smoothly over the field
(polynomial of order ``kernel_poly_order``) plus a smooth differential
background, and returns ``science - kernel * template - background`` with its
noise map (science and convolved template variances).  The difference has the
science frame's PSF and flux scale: fluxes measured on it are science-frame
fluxes, calibrated by the science frame's zero point.

Why SFFT (``docs/transients.md`` has the measurements): on simulated frames
its residuals at constant stars are consistent with the noise, it needs no
PSF model and no external program; HOTPANTS has no Debian or PyPI package
here, ``properimage`` (ZOGY) does not install from PyPI (a dependency
downloads setuptools at build time), and stdpipe's ZOGY needs PSF models of
both images and left large residuals at stars with default settings.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from rpf.errors import PhotometryError
from rpf.flags import SourceFlag

__all__ = ["AlignedTemplate", "Difference", "align_template", "subtract_template"]

_BAD = SourceFlag.SATURATED | SourceFlag.BAD_PIXEL | SourceFlag.COSMIC_RAY


@dataclass(frozen=True)
class AlignedTemplate:
    """A template on the science frame's grid and photometric scale.

    Attributes
    ----------
    image : numpy.ndarray
        Background-subtracted template (science-frame ADU), 0 where ``bad``.
    error : numpy.ndarray
        Its 1-sigma noise per pixel.
    bad : numpy.ndarray
        Pixels off the template, or saturated, masked or cosmic-ray hit on it.
    scale : float
        Factor applied to the template's counts (exposure times and zero points).
    fwhm_px : float
        Template seeing FWHM in science pixels.
    """

    image: np.ndarray = field(repr=False)
    error: np.ndarray = field(repr=False)
    bad: np.ndarray = field(repr=False)
    scale: float
    fwhm_px: float


@dataclass(frozen=True)
class Difference:
    """A difference image.

    Attributes
    ----------
    image : numpy.ndarray
        ``science - matched template`` (science ADU, science PSF).
    noise : numpy.ndarray
        1-sigma noise per pixel of ``image``.
    bad : numpy.ndarray
        Unreliable pixels (masked in either image, or within a kernel of a
        template defect, or at the image edge).
    method : str
        How it was made.
    kernel_shape : tuple of int
        Size of the matching kernel.
    seconds : float
        Time taken by the subtraction.
    """

    image: np.ndarray = field(repr=False)
    noise: np.ndarray = field(repr=False)
    bad: np.ndarray = field(repr=False)
    method: str
    kernel_shape: tuple[int, int]
    seconds: float


def align_template(
    template: np.ndarray,
    *,
    template_wcs: WCS,
    template_rms: np.ndarray | float,
    template_gain: float,
    template_exptime: float,
    template_zero_point: float | None,
    template_mask: np.ndarray | None = None,
    template_fwhm_px: float,
    wcs: WCS,
    shape: tuple[int, int],
    exptime: float,
    zero_point: float | None,
) -> AlignedTemplate:
    """Resample a background-subtracted template onto the science grid and flux scale.

    Parameters
    ----------
    template : numpy.ndarray
        Background-subtracted template (its own ADU).
    template_wcs : astropy.wcs.WCS
        Its WCS.
    template_rms : numpy.ndarray or float
        Its background noise per pixel.
    template_gain : float
        Its gain (e-/ADU), for the noise of its sources.
    template_exptime, template_zero_point : float
        Its exposure time and zero point (None: assumed equal to the science frame's).
    template_mask : numpy.ndarray, optional
        Its ``uint16`` pixel flags (saturated, bad and cosmic-ray pixels are excluded).
    template_fwhm_px : float
        Its FWHM in its own pixels.
    wcs : astropy.wcs.WCS
        Science frame's WCS.
    shape : tuple of int
        Science frame's shape.
    exptime, zero_point : float
        Science frame's exposure time and zero point.

    Raises
    ------
    PhotometryError
        The template does not overlap the science frame.
    """
    zp_known = template_zero_point is not None and zero_point is not None
    scale = exptime / template_exptime * (10 ** (-0.4 * (template_zero_point - zero_point)) if zp_known else 1.0)
    data = np.asarray(template, np.float64)
    flags = np.zeros(data.shape, np.uint16) if template_mask is None else np.asarray(template_mask, np.uint16)
    bad = ((flags & np.uint16(_BAD)) != 0) | ~np.isfinite(data)
    variance = np.asarray(template_rms, np.float64) ** 2 + np.clip(np.nan_to_num(data), 0, None) / template_gain
    area = _pixel_area(wcs) / _pixel_area(template_wcs)
    planes = np.stack([np.where(bad, 0.0, data) * scale * area, variance * (scale * area) ** 2, bad])
    from reproject import reproject_interp  # here: it loads dask.array (1.5 s), unused by most runs

    out, footprint = reproject_interp((planes, template_wcs.celestial), wcs.celestial, shape_out=shape,
                                      order="bilinear")
    off = np.broadcast_to(footprint, out.shape)[0] < 1
    if off.all():
        raise PhotometryError("the template does not overlap the science frame")
    bad_out = off | ~np.isfinite(out[0]) | (np.nan_to_num(out[2], nan=1.0) > 0)
    image = np.where(bad_out, 0.0, out[0])
    error = np.sqrt(np.where(bad_out, np.nan, out[1]))
    return AlignedTemplate(image=image, error=error, bad=bad_out, scale=float(scale),
                           fwhm_px=float(template_fwhm_px * math.sqrt(1.0 / area)))


def _pixel_area(wcs: WCS) -> float:
    from astropy.wcs.utils import proj_plane_pixel_area

    return float(proj_plane_pixel_area(wcs.celestial))


def subtract_template(
    science: np.ndarray,
    template: AlignedTemplate,
    *,
    science_rms: np.ndarray | float,
    gain: float,
    fwhm_px: float,
    mask: np.ndarray | None = None,
    sources: Table | None = None,
    kernel_poly_order: int = 1,
    background_poly_order: int = 1,
) -> Difference:
    """Subtract an aligned template from the science frame with stdpipe's SFFT.

    Parameters
    ----------
    science : numpy.ndarray
        Background-subtracted science frame (ADU).
    template : AlignedTemplate
        The template from :func:`align_template`.
    science_rms : numpy.ndarray or float
        Science background noise per pixel.
    gain : float
        Science gain (e-/ADU).
    fwhm_px : float
        Science FWHM (pixels), sets the kernel size.
    mask : numpy.ndarray, optional
        Science ``uint16`` pixel flags.
    sources : astropy.table.Table, optional
        Science detections (``x, y, flux, flux_err, flags``): the kernel is
        fitted around the unflagged ones.
    kernel_poly_order, background_poly_order : int
        Spatial orders of the kernel and of the differential background.

    Raises
    ------
    PhotometryError
        Shapes differ, or the solver fails.
    """
    from stdpipe import subtraction

    image = np.asarray(science, np.float64)
    if image.shape != template.image.shape:
        raise PhotometryError(f"science {image.shape} and template {template.image.shape} differ in shape")
    flags = np.zeros(image.shape, np.uint16) if mask is None else np.asarray(mask, np.uint16)
    bad = ((flags & np.uint16(_BAD)) != 0) | ~np.isfinite(image)
    error = np.sqrt(np.asarray(science_rms, np.float64) ** 2 + np.clip(np.nan_to_num(image), 0, None) / gain)
    error = np.broadcast_to(error, image.shape)
    half = max(3, math.ceil(max(fwhm_px, template.fwhm_px)))
    kernel = (2 * half + 1, 2 * half + 1)
    obj = None
    if sources is not None and len(sources):
        obj = Table({"x": np.asarray(sources["x"], float), "y": np.asarray(sources["y"], float),
                     "flux": np.asarray(sources["flux"], float), "fluxerr": np.asarray(sources["flux_err"], float),
                     "flags": np.asarray(sources["flags"], int), "fwhm": np.full(len(sources), float(fwhm_px))})
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            diff, noise, result = subtraction.run_sfft(
                np.where(bad, 0.0, image), template.image, mask=bad, template_mask=template.bad, err=error,
                template_err=np.nan_to_num(template.error, nan=0.0), obj=obj, kernel_shape=kernel,
                kernel_poly_order=kernel_poly_order, bg_poly_order=background_poly_order, flux_poly_order=0,
                get_noise=True, get_kernel=True,
            )
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise PhotometryError(f"template subtraction failed: {exc}") from exc
    unreliable = bad | template.bad | np.asarray(result.dmask, bool) | ~np.isfinite(diff) | ~(noise > 0)
    edge = half
    unreliable[:edge, :] = unreliable[-edge:, :] = True
    unreliable[:, :edge] = unreliable[:, -edge:] = True
    return Difference(
        image=np.where(unreliable, 0.0, diff).astype(np.float32),
        noise=np.where(unreliable, np.inf, noise).astype(np.float32),
        bad=unreliable,
        method=f"stdpipe SFFT (kernel {kernel[0]}x{kernel[1]}, order {kernel_poly_order}; "
               f"background order {background_poly_order})",
        kernel_shape=kernel,
        seconds=time.perf_counter() - start,
    )
