"""FITS headers of simulated science and calibration frames."""

from __future__ import annotations

from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from rpf._version import __version__
from rpf.simulate.instrument import InstrumentModel
from rpf.simulate.wcs import focal_length_mm, sexagesimal

__all__ = ["camera_header", "science_header", "wcs_cards"]


def wcs_cards(wcs: WCS) -> fits.Header:
    """Return the TAN WCS as header cards with a ``CD`` matrix (no ``PC``/``CDELT``)."""
    src = wcs.to_header(relax=True)
    out = fits.Header()
    for key in ("WCSAXES", "CTYPE1", "CTYPE2", "CUNIT1", "CUNIT2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2"):
        out[key] = (src[key], src.comments[key])
    for i in (1, 2):
        for j in (1, 2):
            out[f"CD{i}_{j}"] = (float(wcs.wcs.cd[i - 1, j - 1]), "[deg/px] linear transformation matrix")
    out["RADESYS"] = "ICRS"
    out["EQUINOX"] = 2000.0
    return out


def camera_header(
    inst: InstrumentModel,
    *,
    imagetyp: str,
    exptime: float,
    date_obs: str,
    site: tuple[float, float, float],
    observatory: str,
) -> fits.Header:
    """Return the keywords shared by every frame of the camera.

    Parameters
    ----------
    inst : InstrumentModel
        The camera.
    imagetyp : str
        ``LIGHT``, ``BIAS``, ``DARK`` or ``FLAT``.
    exptime : float
        Exposure time (s).
    date_obs : str
        UTC start of the exposure (ISOT).
    site : tuple of float
        (latitude deg, longitude deg east, elevation m).
    observatory : str
        Observatory name.

    Returns
    -------
    astropy.io.fits.Header
        Time, exposure, camera and site keywords.
    """
    start = Time(date_obs, scale="utc")
    hdr = fits.Header()
    hdr["IMAGETYP"] = (imagetyp, "frame type")
    hdr["DATE-OBS"] = (start.isot, "UTC start of exposure")
    hdr["MJD-OBS"] = (float(start.mjd), "MJD (UTC) start of exposure")
    hdr["EXPTIME"] = (float(exptime), "[s] exposure time")
    hdr["EXPOSURE"] = (float(exptime), "[s] exposure time")
    hdr["GAIN"] = (float(inst.gain), "[e-/ADU] detector gain")
    hdr["RDNOISE"] = (float(inst.read_noise), "[e-] read noise")
    hdr["SATURATE"] = (float(inst.saturation), "[ADU] saturation level")
    hdr["XPIXSZ"] = (float(inst.pixel_size_um), "[um] pixel size")
    hdr["YPIXSZ"] = (float(inst.pixel_size_um), "[um] pixel size")
    hdr["XBINNING"] = (1, "binning factor in x")
    hdr["YBINNING"] = (1, "binning factor in y")
    hdr["INSTRUME"] = (inst.name, "camera")
    hdr["SITELAT"] = (float(site[0]), "[deg] site latitude")
    hdr["SITELONG"] = (float(site[1]), "[deg] site longitude (east positive)")
    hdr["SITEELEV"] = (float(site[2]), "[m] site elevation")
    hdr["OBSERVAT"] = (observatory, "observatory")
    hdr["ORIGIN"] = (f"rpf.simulate {__version__}", "simulated frame")
    return hdr


def science_header(
    inst: InstrumentModel,
    *,
    exptime: float,
    date_obs: str,
    site: tuple[float, float, float],
    observatory: str,
    filter_name: str,
    pointing: tuple[float, float],
    pixel_scale: float,
    airmass: float,
    object_name: str,
    wcs: WCS | None,
) -> fits.Header:
    """Return the header of a science frame.

    Parameters
    ----------
    inst : InstrumentModel
        The camera.
    exptime : float
        Exposure time (s).
    date_obs : str
        UTC start of the exposure.
    site : tuple of float
        (latitude deg, longitude deg east, elevation m).
    observatory : str
        Observatory name.
    filter_name : str
        ``FILTER`` value.
    pointing : tuple of float
        Reported (ra, dec) of the telescope (degrees).
    pixel_scale : float
        Arcsec per pixel; sets ``FOCALLEN`` from ``XPIXSZ``.
    airmass : float
        ``AIRMASS`` value.
    object_name : str
        ``OBJECT`` value.
    wcs : astropy.wcs.WCS or None
        WCS to write, or None for none.

    Returns
    -------
    astropy.io.fits.Header
        The complete header (without the data-structure keywords).
    """
    hdr = camera_header(inst, imagetyp="LIGHT", exptime=exptime, date_obs=date_obs, site=site, observatory=observatory)
    ra_s, dec_s = sexagesimal(*pointing)
    hdr["FILTER"] = (filter_name, "filter")
    hdr["OBJECT"] = (object_name, "target")
    hdr["RA"] = (float(pointing[0]), "[deg] telescope pointing RA (ICRS)")
    hdr["DEC"] = (float(pointing[1]), "[deg] telescope pointing Dec (ICRS)")
    hdr["OBJCTRA"] = (ra_s, "[h m s] telescope pointing RA")
    hdr["OBJCTDEC"] = (dec_s, "[d m s] telescope pointing Dec")
    hdr["FOCALLEN"] = (focal_length_mm(pixel_size_um=inst.pixel_size_um, pixel_scale=pixel_scale), "[mm] focal length")
    hdr["AIRMASS"] = (float(airmass), "airmass at mid-exposure")
    if wcs is not None:
        hdr.extend(wcs_cards(wcs))
    return hdr
