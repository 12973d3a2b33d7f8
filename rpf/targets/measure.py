"""Targets in one frame: positions at mid-exposure, forced photometry, calibrated magnitudes or limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import QTable
from astropy.wcs import WCS

from rpf.flags import SourceFlag
from rpf.photometry.psf_model import PsfModel
from rpf.targets.forced import forced_photometry
from rpf.targets.model import Target
from rpf.zeropoint.fit import ZeroPointFit, calibration_offset

__all__ = ["TARGET_COLUMNS", "FrameContext", "calibrate_forced", "measure_targets", "target_positions"]

TARGET_COLUMNS = (
    "frame", "target", "ra", "dec", "mjd_mid", "mag", "mag_err", "upper_limit", "detected", "snr", "flags",
)
"""Contract columns of ``<stem>_targets.csv`` and ``targets.csv``, first and in this order."""

_MAG = 2.5 / np.log(10.0)


@dataclass(frozen=True)
class FrameContext:
    """What forced photometry needs to know about a frame besides its pixels.

    Attributes
    ----------
    frame : str
        Frame name written in the ``frame`` column.
    mjd_mid : float or None
        Mid-exposure time (UTC MJD): moving targets are placed there.
    exptime : float
        Exposure time (s).
    fwhm_px : float
        Seeing FWHM (pixels).
    gain : float
        Gain (e-/ADU).
    band : str or None
        Photometric band of the calibrated magnitudes.
    """

    frame: str
    mjd_mid: float | None
    exptime: float
    fwhm_px: float
    gain: float
    band: str | None = None


def target_positions(targets: Sequence[Target], *, mjd: float | None, located: dict[str, tuple[float, float]]):
    """Return ``(ra, dec)`` arrays at ``mjd``; solar-system targets take ``located[name]`` (NaN when absent)."""
    ra, dec = np.full(len(targets), np.nan), np.full(len(targets), np.nan)
    for i, target in enumerate(targets):
        if target.solar_system:
            ra[i], dec[i] = located.get(target.name, (np.nan, np.nan))
        else:
            ra[i], dec[i] = target.position_at(mjd)
    return ra, dec


def calibrate_forced(
    phot: QTable, *, fit: ZeroPointFit | None, exptime: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``mag, mag_err, upper_limit, cal_offset, cal_offset_err`` of forced fluxes.

    ``mag`` (with the zero-point error in ``mag_err``) is given for detected
    targets with a positive flux; ``upper_limit`` (the magnitude of
    ``flux_limit``) wherever the local noise was measured.  Without a zero
    point everything is NaN.  The colour term takes the calibrators' mean
    colour (a target's colour is unknown).
    """
    n = len(phot)
    if fit is None or n == 0:
        nan = np.full(n, np.nan)
        return nan, nan.copy(), nan.copy(), nan.copy(), nan.copy()
    offset, offset_err = calibration_offset(
        fit, x=np.asarray(phot["x"]), y=np.asarray(phot["y"]), color=np.full(n, np.nan)
    )
    flux = np.asarray(phot["flux"], float)
    flux_err = np.asarray(phot["flux_err"], float)
    limit = np.asarray(phot["flux_limit"], float)
    use = np.asarray(phot["detected"], bool) & (flux > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mag = np.where(use, -2.5 * np.log10(np.where(use, flux, 1.0) / exptime) + offset, np.nan)
        mag_err = np.where(use, np.hypot(_MAG * flux_err / np.where(use, flux, 1.0), offset_err), np.nan)
        upper = np.where(limit > 0, -2.5 * np.log10(np.where(limit > 0, limit, 1.0) / exptime) + offset, np.nan)
    return mag, mag_err, upper, offset, offset_err


def measure_targets(
    targets: Sequence[Target],
    image: np.ndarray,
    *,
    wcs: WCS | None,
    context: FrameContext,
    located: dict[str, tuple[float, float]] | None = None,
    zero_point: ZeroPointFit | None = None,
    mask: np.ndarray | None = None,
    sources_xy: np.ndarray | None = None,
    psf_model: PsfModel | None = None,
    rms: np.ndarray | float | None = None,
    radius_fwhm: float,
    annulus_fwhm: tuple[float, float],
    aperture_correction: float = 1.0,
    noise_factor: float = 1.0,
    psf_to_aperture: float = 1.0,
    detection_sigma: float = 3.0,
    limit_sigma: float = 3.0,
) -> QTable:
    """Measure every target in one frame.

    Parameters
    ----------
    targets : sequence of Target
        The run's targets.
    image : numpy.ndarray
        Background-subtracted image (ADU).
    wcs : astropy.wcs.WCS or None
        The frame's astrometric solution; without it every target gets
        ``NO_WCS`` and no measurement.
    context : FrameContext
        Name, time, exposure, seeing and gain of the frame.
    located : dict, optional
        ``{name: (ra, dec)}`` of solar-system targets found at mid-exposure
        (see :func:`rpf.targets.locate_solar_system`); a solar-system target
        not in it is ``OFF_FRAME``.
    zero_point : ZeroPointFit, optional
        The frame's calibration; without it magnitudes and limits are NaN.
    mask, sources_xy, psf_model, rms, radius_fwhm, annulus_fwhm, aperture_correction, noise_factor
        See :func:`rpf.targets.forced_photometry`.
    psf_to_aperture : float
        Scale of PSF fluxes to the aperture-corrected scale of the zero point
        (``meta['psf_to_aperture']`` of the frame's photometry).
    detection_sigma, limit_sigma : float
        Detection threshold and upper-limit significance.

    Returns
    -------
    astropy.table.QTable
        :data:`TARGET_COLUMNS` first, then ``x, y, flux, flux_err,
        flux_limit, bkg_local, noise_local, limit_sigma, moving, band, cal_offset``
        (and ``psf_flux, psf_flux_err, psf_snr, psf_mag, psf_mag_err`` with
        a PSF model).
    """
    ra, dec = target_positions(targets, mjd=context.mjd_mid, located=located or {})
    if wcs is not None:
        x, y = wcs.all_world2pix(ra, dec, 0, quiet=True)
    else:
        x, y = np.full(len(targets), np.nan), np.full(len(targets), np.nan)
    phot = forced_photometry(
        image, x, y, fwhm_px=context.fwhm_px, gain=context.gain, radius_fwhm=radius_fwhm,
        annulus_fwhm=annulus_fwhm, aperture_correction=aperture_correction, noise_factor=noise_factor,
        mask=mask, sources_xy=sources_xy, psf_model=psf_model, rms=rms, detection_sigma=detection_sigma,
        limit_sigma=limit_sigma,
    )
    if wcs is None:
        phot["flags"] = np.asarray(phot["flags"]) | np.uint16(SourceFlag.NO_WCS)
    mag, mag_err, upper, offset, offset_err = calibrate_forced(phot, fit=zero_point, exptime=context.exptime)
    out = QTable()
    out["frame"] = [context.frame] * len(targets)
    out["target"] = [t.name for t in targets]
    out["ra"], out["dec"] = ra, dec
    out["mjd_mid"] = np.full(len(targets), np.nan if context.mjd_mid is None else float(context.mjd_mid))
    out["mag"], out["mag_err"], out["upper_limit"] = mag, mag_err, upper
    out["detected"] = np.asarray(phot["detected"], bool)
    out["snr"] = phot["snr"]
    out["flags"] = phot["flags"]
    for name in ("x", "y", "flux", "flux_err", "flux_limit", "bkg_local", "noise_local"):
        out[name] = phot[name]
    out["limit_sigma"] = np.full(len(targets), float(limit_sigma))
    out["moving"] = np.array([t.moving for t in targets], bool)
    out["band"] = [context.band or ""] * len(targets)
    out["cal_offset"] = offset
    if psf_model is not None:
        for name in ("psf_flux", "psf_flux_err", "psf_snr"):
            out[name] = phot[name]
        psf_flux = np.asarray(phot["psf_flux"], float) * psf_to_aperture
        good = np.isfinite(offset) & (psf_flux > 0)
        safe = np.where(good, psf_flux, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["psf_mag"] = np.where(good, -2.5 * np.log10(safe / context.exptime) + offset, np.nan)
            relative = np.asarray(phot["psf_flux_err"], float) * psf_to_aperture / safe
            out["psf_mag_err"] = np.where(good, np.hypot(_MAG * relative, offset_err), np.nan)
    out.meta.update(phot.meta)
    return out
