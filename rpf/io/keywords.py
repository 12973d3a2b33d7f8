"""FITS keyword vocabularies read by :func:`rpf.io.read_meta`, most trusted first.

The tables are data, not code: to teach RPF a new camera-software dialect,
add its keyword to the right tuple.
"""

from __future__ import annotations

__all__ = [
    "AIRMASS_KEYS",
    "BINNING_KEYS",
    "DATE_AVG_KEYS",
    "DATETIME_START_KEYS",
    "EXPTIME_KEYS",
    "FILTER_KEYS",
    "FOCAL_LENGTH_KEYS",
    "GAIN_KEYS",
    "IMAGETYP_KEYS",
    "JD_START_KEYS",
    "MJD_AVG_KEYS",
    "MJD_START_KEYS",
    "NAMED_OBSERVATORIES",
    "OBJECT_KEYS",
    "OBSERVATORY_KEYS",
    "PIXEL_SCALE_KEYS",
    "POINTING_KEYS",
    "READ_NOISE_KEYS",
    "SATURATION_KEYS",
    "SENSOR_PIXEL_KEYS",
    "BINNED_PIXEL_KEYS",
    "SITE_ELEV_KEYS",
    "SITE_LAT_KEYS",
    "SITE_LON_KEYS",
    "TIME_OF_DAY_KEYS",
]

EXPTIME_KEYS = ("EXPTIME", "EXPOSURE", "ITIME", "EXP_TIME", "EXPOSED", "TEXPTIME", "ELAPTIME")
"""Exposure time in seconds."""

DATETIME_START_KEYS = ("DATE-BEG", "DATE-OBS", "DATE_OBS", "DATEOBS")
"""ISO date (optionally with time of day) of the exposure start."""

TIME_OF_DAY_KEYS = ("TIME-OBS", "TIME-BEG", "UT", "UTSTART", "UT-START", "UTC-OBS", "UTC", "TIME")
"""Time of day (hh:mm:ss) completing a date-only DATE-OBS."""

MJD_START_KEYS = ("MJD-OBS", "MJD-BEG", "MJD_OBS", "MJDSTART")
"""Modified Julian date of the exposure start."""

JD_START_KEYS = ("JD", "JD-OBS", "JD_OBS", "JD-BEG")
"""Julian date of the exposure start."""

DATE_AVG_KEYS = ("DATE-AVG",)
"""ISO date-time of the exposure middle."""

MJD_AVG_KEYS = ("MJD-AVG", "MJD-MID")
"""Modified Julian date of the exposure middle."""

FILTER_KEYS = ("FILTER", "FILTNAME", "FILTER1", "FILT", "FLTNAME", "INSFLNAM", "FILTER-1", "FILTERID")
"""Filter name."""

GAIN_KEYS = ("GAIN", "EGAIN", "CCDGAIN", "GAINEFF")
"""Detector gain in e-/ADU."""

READ_NOISE_KEYS = ("RDNOISE", "READNOIS", "RON", "RDNOIS", "READNOISE", "ENOISE")
"""Read noise in electrons."""

SATURATION_KEYS = ("SATURATE", "SATLEVEL", "SATURATN", "MAXLIN", "DATAMAX")
"""Saturation (or maximum linear) level in ADU."""

SITE_LAT_KEYS = ("SITELAT", "LAT-OBS", "OBSLAT", "LATITUDE", "OBSGEO-B", "SITE-LAT", "GEOLAT")
"""Observatory latitude (degrees, decimal or sexagesimal)."""

SITE_LON_KEYS = ("SITELONG", "LONG-OBS", "OBSLONG", "LONGITUD", "OBSGEO-L", "SITE-LON", "GEOLON", "SITELON")
"""Observatory longitude, east positive (degrees, decimal or sexagesimal)."""

SITE_ELEV_KEYS = ("SITEELEV", "ALT-OBS", "OBSALT", "ELEVATIO", "OBSGEO-H", "SITE-ELE", "ALTITUDE", "HEIGHT")
"""Observatory elevation in metres."""

OBSERVATORY_KEYS = ("OBSERVAT", "SITENAME", "OBSERVATORY")
"""Observatory name."""

POINTING_KEYS = (
    ("RA", "DEC"),
    ("OBJCTRA", "OBJCTDEC"),
    ("RA_OBJ", "DEC_OBJ"),
    ("TELRA", "TELDEC"),
    ("RA_OBS", "DEC_OBS"),
    ("RA-OBS", "DEC-OBS"),
    ("CRVAL1", "CRVAL2"),
)
"""Pointing keyword pairs; strings with ``:`` or spaces are sexagesimal (RA in hours)."""

BINNED_PIXEL_KEYS = ("XPIXSZ",)
"""Pixel width in microns, binning included (MaxIm DL, NINA, INDI convention)."""

SENSOR_PIXEL_KEYS = ("PIXSIZE1", "PIXSIZE", "PIXELSIZE")
"""Unbinned sensor pixel width in microns (multiplied by the binning)."""

BINNING_KEYS = ("XBINNING", "CCDXBIN", "BINX", "XBIN")
"""Binning factor along x."""

FOCAL_LENGTH_KEYS = ("FOCALLEN", "FOCAL", "FOCLEN", "TELFOCAL")
"""Focal length in millimetres."""

PIXEL_SCALE_KEYS = ("PIXSCALE", "SECPIX", "SECPIX1", "PIXSCAL1", "SCALE", "PLTSCALE")
"""Pixel scale in arcsec/pixel."""

AIRMASS_KEYS = ("AIRMASS", "SECZ", "AIRM", "AMSTART")
"""Airmass (accepted only between 1 and 30)."""

OBJECT_KEYS = ("OBJECT", "OBJNAME", "TARGET")
"""Target name."""

IMAGETYP_KEYS = ("IMAGETYP", "IMGTYPE", "OBSTYPE", "FRAMETYP", "FRAME")
"""Frame type (light, bias, dark, flat)."""

NAMED_OBSERVATORIES: dict[str, tuple[float, float, float]] = {
    "SAAO": (-32.3794, 20.8107, 1798.0),
    "SUTHERLAND": (-32.3794, 20.8107, 1798.0),
    "OHP": (43.9308, 5.7133, 650.0),
    "HAUTE-PROVENCE": (43.9308, 5.7133, 650.0),
    "PIC DU MIDI": (42.9364, 0.1425, 2877.0),
    "CALAR ALTO": (37.2236, -2.5461, 2168.0),
    "ORM": (28.7606, -17.8816, 2326.0),
    "LA PALMA": (28.7606, -17.8816, 2326.0),
    "TEIDE": (28.3003, -16.5122, 2390.0),
    "LA SILLA": (-29.2567, -70.7300, 2400.0),
    "PARANAL": (-24.6272, -70.4042, 2635.0),
    "CTIO": (-30.1690, -70.8063, 2207.0),
    "KPNO": (31.9583, -111.5967, 2096.0),
    "KITT PEAK": (31.9583, -111.5967, 2096.0),
    "MAUNA KEA": (19.8283, -155.4783, 4160.0),
    "LICK": (37.3414, -121.6429, 1283.0),
    "SIDING SPRING": (-31.2733, 149.0617, 1165.0),
}
"""Latitude, east longitude (degrees) and elevation (m) of a few observatories by upper-case name."""
