"""Co-adding a sequence of calibrated frames on a common WCS grid.

Each frame is turned into a background-free count rate on the photometric
scale of the reference frame (``rate = (data - background) / exptime *
10**(-0.4 (zp_ref - zp))``, the factor 1 when zero points are unknown),
resampled onto the reference frame's grid with :func:`reproject.reproject_interp`
(the per-pixel variance and the pixel flags alongside), clipped against the
per-pixel median with each pixel's own noise, and averaged with weights
``1 / (sigma_rate**2 * fwhm**2)`` (point-source signal-to-noise).

Nearest-neighbour resampling is the default: it keeps the noise of the stack
white, so the pipeline's noise model, detection thresholds and limiting
magnitude hold on the stack unchanged, and for a sequence of one pointing
(sub-pixel to few-pixel offsets) the half-pixel jitter it adds widens a
3-pixel FWHM by about 2 %.  Bilinear interpolation correlates neighbouring
pixels: the pixel RMS then underestimates the noise of an aperture (by up to
a factor 2 for half-pixel shifts), which the forced photometry of targets
corrects with its empty-aperture factor but the rest of the pipeline does not.
The stack holds ``T * mean_rate + T * sky_rate`` counts for the total
exposure ``T``, so that a star of magnitude ``m`` has
``-2.5 log10(flux / T) + zp_ref = m`` and the pipeline runs on it like on
one long exposure.  See ``docs/transients.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_area

from rpf.errors import PhotometryError
from rpf.flags import SourceFlag

__all__ = ["Stack", "StackFrame", "stack_frames"]

_REJECT = SourceFlag.BAD_PIXEL | SourceFlag.COSMIC_RAY
_CLIP_ITERATIONS = 2
_WCS_PREFIXES = ("CTYPE", "CRVAL", "CRPIX", "CDELT", "CUNIT", "CD1_", "CD2_", "PC1_", "PC2_", "CROTA", "A_", "B_",
                 "AP_", "BP_", "PV1_", "PV2_", "LONPOLE", "LATPOLE", "RADESYS", "EQUINOX", "WCSAXES", "MJDREF")


@dataclass(frozen=True)
class StackFrame:
    """One calibrated frame to co-add.

    Attributes
    ----------
    name : str
        Frame name (recorded in the stack header).
    data : numpy.ndarray
        Calibrated, cosmic-ray-cleaned image with its sky (ADU).
    wcs : astropy.wcs.WCS
        Its astrometric solution.
    header : astropy.io.fits.Header
        Its header (the reference frame's is the stack's template).
    exptime : float
        Exposure time (s).
    mjd_start, mjd_mid : float or None
        Exposure start and middle (UTC MJD).
    gain : float
        e-/ADU.
    read_noise : float
        Read noise (e-).
    background : numpy.ndarray or float
        Sky level (ADU per pixel).
    rms : numpy.ndarray or float
        Sky noise (ADU per pixel).
    mask : numpy.ndarray or None
        ``uint16`` :class:`~rpf.flags.SourceFlag` pixel bits.
    zero_point : float or None
        Zero point (``mag = -2.5 log10(flux / exptime) + zero_point``).
    airmass : float or None
        Airmass at mid-exposure.
    fwhm_px : float or None
        Seeing FWHM (pixels), used in the weights.
    """

    name: str
    data: np.ndarray = field(repr=False)
    wcs: WCS = field(repr=False)
    header: fits.Header = field(repr=False)
    exptime: float
    mjd_start: float | None
    mjd_mid: float | None
    gain: float
    read_noise: float
    background: np.ndarray | float = field(repr=False)
    rms: np.ndarray | float = field(repr=False)
    mask: np.ndarray | None = field(default=None, repr=False)
    zero_point: float | None = None
    airmass: float | None = None
    fwhm_px: float | None = None


@dataclass(frozen=True)
class Stack:
    """The co-added image.

    Attributes
    ----------
    data : numpy.ndarray
        float32 counts for the total exposure, sky included; NaN where no
        frame contributes; saturated pixels hold the header's ``SATURATE``.
    variance : numpy.ndarray
        float32 variance of ``data`` (ADU**2), sky and source noise propagated.
    mask : numpy.ndarray
        ``uint16`` pixel flags (``BAD_PIXEL`` where nothing contributes,
        ``SATURATED`` where any frame was saturated).
    coverage : numpy.ndarray
        Frames kept (after clipping) at each pixel.
    wcs : astropy.wcs.WCS
        The reference frame's WCS.
    header : astropy.io.fits.Header
        Reference header with the stack's ``EXPTIME`` (total), ``DATE-OBS``
        and ``MJD-OBS`` (first start), ``MJD-AVG``/``DATE-AVG`` (exposure-weighted
        mean mid-time), ``DATE-END``, ``AIRMASS`` (exposure-weighted mean),
        ``GAIN``, ``RDNOISE``, ``SATURATE``, ``NCOMBINE`` and one
        ``STKIMnnn``/``STKWTnnn`` pair per frame.
    weights : tuple of float
        Normalised weight of each frame.
    rejected_fraction : float
        Fraction of the contributing pixel values clipped.
    """

    data: np.ndarray = field(repr=False)
    variance: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    coverage: np.ndarray = field(repr=False)
    wcs: WCS = field(repr=False)
    header: fits.Header = field(repr=False)
    weights: tuple[float, ...]
    rejected_fraction: float

    def to_hdulist(self) -> fits.HDUList:
        """Return the stack as FITS: the image, then ``VARIANCE``, ``MASK`` and ``COVERAGE`` extensions."""
        return fits.HDUList([
            fits.PrimaryHDU(self.data, header=self.header),
            fits.ImageHDU(self.variance, name="VARIANCE"),
            fits.ImageHDU(self.mask, name="MASK"),
            fits.ImageHDU(self.coverage.astype(np.uint16), name="COVERAGE"),
        ])

    def write(self, path) -> None:
        """Write :meth:`to_hdulist` to ``path`` (overwriting)."""
        self.to_hdulist().writeto(path, overwrite=True)


def _level(value: np.ndarray | float) -> float:
    return float(np.nanmedian(value)) if np.ndim(value) else float(value)


def _check(frames: Sequence[StackFrame]) -> None:
    if len(frames) < 2:
        raise PhotometryError(f"a stack needs at least 2 frames (got {len(frames)})")
    for f in frames:
        if f.wcs is None or not f.wcs.has_celestial:
            raise PhotometryError(f"{f.name}: no astrometric solution: it cannot be aligned")
        if not (f.exptime > 0 and f.gain > 0):
            raise PhotometryError(f"{f.name}: exposure time and gain must be > 0 (got {f.exptime}, {f.gain})")


def _scales(frames: Sequence[StackFrame], ref: int) -> np.ndarray:
    """``k_i`` turning counts of frame ``i`` into a rate on the reference frame's photometric scale."""
    zps = [f.zero_point for f in frames]
    known = all(z is not None and np.isfinite(z) for z in zps)
    return np.array([
        (10 ** (-0.4 * (zps[ref] - z)) if known else 1.0) / f.exptime for f, z in zip(frames, zps, strict=True)
    ])


def _weights(frames: Sequence[StackFrame], k: np.ndarray) -> np.ndarray:
    sigma = np.array([_level(f.rms) for f in frames]) * k
    fwhm = np.array([f.fwhm_px if f.fwhm_px and np.isfinite(f.fwhm_px) else 1.0 for f in frames])
    w = 1.0 / (sigma**2 * fwhm**2)
    return w / w.sum()


def _resample(frame: StackFrame, k: float, wcs: WCS, shape: tuple[int, int], order: str) -> np.ndarray:
    """Return planes ``rate, variance, bad, saturated`` of a frame on the reference grid (NaN off its footprint)."""
    data = np.asarray(frame.data, np.float64)
    signal = data - frame.background
    variance = np.asarray(frame.rms, np.float64) ** 2 + np.clip(signal, 0.0, None) / frame.gain
    flags = np.zeros(data.shape, np.uint16) if frame.mask is None else np.asarray(frame.mask, np.uint16)
    bad = ((flags & np.uint16(_REJECT)) != 0) | ~np.isfinite(data)
    saturated = (flags & np.uint16(SourceFlag.SATURATED)) != 0
    area = proj_plane_pixel_area(wcs) / proj_plane_pixel_area(frame.wcs.celestial)
    planes = np.stack([np.where(bad, 0.0, signal) * k * area, variance * (k * area) ** 2, bad, saturated])
    from reproject import reproject_interp  # here: it loads dask.array (1.5 s), unused by most runs

    out, footprint = reproject_interp((planes, frame.wcs.celestial), wcs, shape_out=shape, order=order)
    out[np.broadcast_to(footprint <= 0, out.shape)] = np.nan
    return out


def _combine(rate: np.ndarray, var: np.ndarray, usable: np.ndarray, w: np.ndarray, clip: float, shift_px: float):
    """Clip against the per-pixel median, then weight-average.

    A value is rejected when it departs from the median by more than
    ``clip`` times its own noise combined with what a misalignment of
    ``shift_px`` pixels makes of the median's local slope (so that star
    cores resampled half a pixel apart are not clipped, cosmic rays are).
    """
    keep = usable.copy()
    for _ in range(_CLIP_ITERATIONS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # pixels no frame covers
            centre = np.nanmedian(np.where(keep, rate, np.nan), axis=0)
        gy, gx = np.gradient(np.nan_to_num(centre))
        tolerance = np.sqrt(np.where(var > 0, var, np.inf) + shift_px**2 * (gx**2 + gy**2))
        new = usable & ~(np.abs(rate - centre) > clip * tolerance)
        # never clip a pixel down to nothing
        empty = ~new.any(axis=0) & usable.any(axis=0)
        new[:, empty] = usable[:, empty]
        if np.array_equal(new, keep):
            break
        keep = new
    weights = np.where(keep, w[:, None, None], 0.0)
    total = weights.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (np.where(keep, rate, 0.0) * weights).sum(axis=0) / total
        variance = (weights**2 * np.where(keep, var, 0.0)).sum(axis=0) / total**2
    return mean, variance, keep


def stack_frames(
    frames: Sequence[StackFrame],
    *,
    reference: int | None = None,
    clip_sigma: float = 3.0,
    resample: str = "nearest-neighbor",
) -> Stack:
    """Co-add ``frames`` on the grid of the reference frame.

    Parameters
    ----------
    frames : sequence of StackFrame
        Two or more calibrated frames with WCS (a sequence of one field).
    reference : int, optional
        Index of the frame whose grid, header and zero point the stack takes
        (default: the frame of largest weight).
    clip_sigma : float
        Values further than this many of their own standard deviations from
        the per-pixel median are rejected (cosmic rays, satellites, moving objects).
    resample : str
        Interpolation order of :func:`reproject.reproject_interp`
        (``"nearest-neighbor"``, ``"bilinear"``, ``"bicubic"``).

    Returns
    -------
    Stack
        The co-added image, its variance, mask, coverage and header.

    Raises
    ------
    PhotometryError
        Fewer than two frames, a frame without WCS, non-positive exposure or
        gain, or no overlap with the reference frame.
    """
    _check(frames)
    if not clip_sigma > 0:
        raise PhotometryError(f"clip_sigma must be > 0 (got {clip_sigma})")
    k = _scales(frames, 0)
    w = _weights(frames, k)
    ref = int(np.argmax(w)) if reference is None else int(reference)
    if not 0 <= ref < len(frames):
        raise PhotometryError(f"reference frame index {ref} out of range")
    k = _scales(frames, ref)
    w = _weights(frames, k)
    base = frames[ref]
    shape = base.data.shape
    wcs = base.wcs.celestial
    planes = np.stack([_resample(f, kf, wcs, shape, resample) for f, kf in zip(frames, k, strict=True)])
    rate, var, bad, saturated = planes[:, 0], planes[:, 1], planes[:, 2], planes[:, 3]
    usable = np.isfinite(rate) & np.isfinite(var) & ~(bad > 0)
    shift_px = 0.5 if resample == "nearest-neighbor" else 0.1
    mean, variance, keep = _combine(rate, var, usable, w, clip_sigma, shift_px)
    total_time = float(sum(f.exptime for f in frames))
    sky_rate = float(np.sum(w * np.array([_level(f.background) for f in frames]) * k))
    data = (mean + sky_rate) * total_time
    variance = variance * total_time**2
    mask = np.zeros(shape, np.uint16)
    nothing = ~keep.any(axis=0)
    mask[nothing] |= np.uint16(SourceFlag.BAD_PIXEL)
    any_saturated = (np.nan_to_num(saturated, nan=0.0) > 0).any(axis=0)
    mask[any_saturated] |= np.uint16(SourceFlag.SATURATED)
    data[nothing] = np.nan
    header = _header(frames, ref, w, k, total_time, resample)
    finite = data[np.isfinite(data) & ~any_saturated]
    top = float(np.ceil(1.01 * finite.max())) if finite.size else 1.0
    data[any_saturated & ~nothing] = top
    header["SATURATE"] = (top, "[adu] value of pixels saturated in any frame")
    n_usable = int(usable.sum())
    return Stack(
        data=data.astype(np.float32), variance=variance.astype(np.float32), mask=mask,
        coverage=keep.sum(axis=0).astype(np.uint16), wcs=wcs, header=header,
        weights=tuple(float(v) for v in w),
        rejected_fraction=float(1.0 - keep.sum() / n_usable) if n_usable else 0.0,
    )


def _header(
    frames: Sequence[StackFrame], ref: int, w: np.ndarray, k: np.ndarray, total: float, order: str
) -> fits.Header:
    base = frames[ref]
    header = fits.Header([card for card in base.header.cards if not card.keyword.startswith(_WCS_PREFIXES)])
    for key in ("DATE-AVG", "MJD-AVG", "MJD-MID", "DATE-END", "JD", "AIRMASS", "SECZ"):
        header.remove(key, ignore_missing=True, remove_all=True)
    header.update(base.wcs.celestial.to_header(relax=True))
    header["EXPTIME"] = (total, "[s] total exposure of the stack")
    starts = [f.mjd_start for f in frames if f.mjd_start is not None]
    mids = [(f.mjd_mid, f.exptime) for f in frames if f.mjd_mid is not None]
    if starts:
        first = min(starts)
        header["DATE-OBS"] = (Time(first, format="mjd", scale="utc").isot, "UTC start of the first frame")
        header["MJD-OBS"] = (first, "UTC MJD start of the first frame")
        end = max(f.mjd_start + f.exptime / 86400.0 for f in frames if f.mjd_start is not None)
        header["DATE-END"] = (Time(end, format="mjd", scale="utc").isot, "UTC end of the last frame")
    if mids:
        mid = float(np.average([m for m, _ in mids], weights=[t for _, t in mids]))
        header["MJD-AVG"] = (mid, "exposure-weighted mean mid-time (UTC MJD)")
        header["DATE-AVG"] = (Time(mid, format="mjd", scale="utc").isot, "exposure-weighted mean mid-time")
    airmasses = [(f.airmass, f.exptime) for f in frames if f.airmass is not None]
    if airmasses:
        header["AIRMASS"] = (float(np.average([a for a, _ in airmasses], weights=[t for _, t in airmasses])),
                             "exposure-weighted mean airmass")
    # S = T sum_i w_i k_i d_i: Poisson variance T^2 sum w_i^2 k_i rho / g_i for a rate rho, read noise likewise
    gains = np.array([f.gain for f in frames])
    gain = 1.0 / (total * np.sum(w**2 * k / gains))
    read_var = total**2 * np.sum(w**2 * k**2 * (np.array([f.read_noise for f in frames]) / gains) ** 2)
    header["GAIN"] = (float(gain), "[e-/ADU] effective gain of the stack")
    header["RDNOISE"] = (float(gain * np.sqrt(read_var)), "[e-] effective read noise of the stack")
    header["NCOMBINE"] = (len(frames), "frames co-added")
    header["STKREF"] = (base.name[:60], "reference frame")
    header["STKMETH"] = (f"reproject_interp {order}; clipped mean", "resampling; combination")
    for i, (f, weight) in enumerate(zip(frames, w, strict=True), start=1):
        header[f"STKIM{i:03d}"] = (f.name[:60], "co-added frame")
        header[f"STKWT{i:03d}"] = (float(weight), "its weight")
    header["BUNIT"] = "adu"
    header["HISTORY"] = f"rpf stack of {len(frames)} frames, total exposure {total:g} s"
    return header
