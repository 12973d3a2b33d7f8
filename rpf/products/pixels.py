"""``<stem>_calibrated.fits``: the calibrated, cosmic-cleaned pixels of a frame, its mask, background and WCS.

So that an image view or a re-measurement never reprocesses the frame.
The layout, chosen by measurement on a 2048² frame (``docs/columns.md``):

- primary HDU: the image, float32, not background-subtracted, written as
  is (lossless; 17 MB, ~45 ms); its header is the input header with the
  WCS keywords replaced by the astrometric solution (or removed when the
  frame has none);
- ``MASK``: the uint16 pixel flags (:class:`rpf.flags.SourceFlag`),
  tile-compressed with RICE_1 in tiles of 256 rows (lossless; 8.4 MB -> 0.1 MB, ~60 ms);
- ``BACKGROUND`` and ``BACKGROUND_RMS``: the sky level and the sky noise
  maps, float32, RICE_1 compressed after quantisation in steps of 1/1024
  of the global sky noise (``BKGSTEP``): every value within half a step,
  i.e. 1/2048 of the noise, of the maps the pipeline used (17 MB -> 1.2 MB
  and ~110 ms each; written whole they would triple the file).  The noise
  map is kept because the photometry weighs and chooses apertures with it:
  a re-measurement with it reproduces the catalogue.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from rpf.atomic import atomic_path
from rpf.errors import ProductError

__all__ = ["FramePixels", "read_calibrated_fits", "write_calibrated_fits"]

_TILE_ROWS = 256
_BACKGROUND_STEPS_PER_RMS = 1024
_WCS_KEY = re.compile(
    r"^(WCSAXES|WCSNAME|RADESYS|RADECSYS|EQUINOX|EPOCH|LONPOLE|LATPOLE|MJDREF|DATEREF|"
    r"CTYPE\d|CUNIT\d|CRVAL\d|CRPIX\d|CDELT\d|CROTA\d|CD\d_\d|PC\d_\d|PV\d_\d+|PS\d_\d+|"
    r"A_ORDER|B_ORDER|AP_ORDER|BP_ORDER|A_\d+_\d+|B_\d+_\d+|AP_\d+_\d+|BP_\d+_\d+|A_DMAX|B_DMAX)$"
)


@dataclass(frozen=True)
class FramePixels:
    """The pixels of a processed frame.

    Attributes
    ----------
    image : numpy.ndarray
        Calibrated, cosmic-ray-cleaned image (float32, ADU), not background-subtracted.
    background : numpy.ndarray or None
        Sky level per pixel (float32, ADU), within 1/2048 of the sky noise of the pipeline's map.
    background_rms : numpy.ndarray or None
        Sky noise per pixel (float32, ADU), to the same precision.
    mask : numpy.ndarray
        Pixel flags (uint16, :class:`rpf.flags.SourceFlag` bits).
    wcs : astropy.wcs.WCS or None
        The astrometric solution (None when the frame has none).
    header : astropy.io.fits.Header
        The primary header (input header, solved WCS).
    path : str
        The file read.
    """

    image: np.ndarray
    background: np.ndarray | None
    mask: np.ndarray
    wcs: WCS | None
    header: fits.Header
    path: str
    background_rms: np.ndarray | None = None


def _image_header(header: fits.Header, wcs: WCS | None) -> fits.Header:
    out = fits.Header([card for card in header.cards if not _WCS_KEY.match(card.keyword)
                       and card.keyword not in ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND",
                                                "BSCALE", "BZERO", "BLANK")])
    if wcs is not None:
        out.update(wcs.to_header(relax=True))
    out["BUNIT"] = ("adu", "calibrated, cosmic-cleaned, sky not subtracted")
    return out


def write_calibrated_fits(
    path: str | os.PathLike[str],
    *,
    image: np.ndarray,
    mask: np.ndarray | None,
    background: np.ndarray | None,
    background_rms: float | None,
    header: fits.Header,
    wcs: WCS | None,
    rms_map: np.ndarray | None = None,
) -> Path:
    """Write the calibrated pixels of a frame atomically (layout in the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        Output file (``<stem>_calibrated.fits``).
    image : numpy.ndarray
        Calibrated, cleaned image (written as float32).
    mask : numpy.ndarray or None
        Pixel flags (uint16); None writes an all-zero mask.
    background : numpy.ndarray or None
        Sky level map; None writes no ``BACKGROUND`` extension.
    background_rms : float or None
        Global sky noise, which sets the maps' quantisation step.
    rms_map : numpy.ndarray or None
        Sky noise map; None writes no ``BACKGROUND_RMS`` extension.
    header : astropy.io.fits.Header
        The input header (its WCS keywords are replaced).
    wcs : astropy.wcs.WCS or None
        The astrometric solution.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    image = np.asarray(image, dtype=np.float32)
    mask = np.zeros(image.shape, np.uint16) if mask is None else np.asarray(mask, dtype=np.uint16)
    tile = (min(_TILE_ROWS, image.shape[0]), image.shape[1])
    hdus = [
        fits.PrimaryHDU(image, header=_image_header(header, wcs)),
        fits.CompImageHDU(mask, name="MASK", compression_type="RICE_1", tile_shape=tile),
    ]
    rms = float(background_rms) if background_rms and np.isfinite(background_rms) else 1.0
    step = rms / _BACKGROUND_STEPS_PER_RMS
    for name, values in (("BACKGROUND", background), ("BACKGROUND_RMS", rms_map)):
        if values is None:
            continue
        extension = fits.CompImageHDU(
            np.asarray(values, dtype=np.float32), name=name, compression_type="RICE_1",
            quantize_level=-step, quantize_method=-1, tile_shape=tile,
        )
        extension.header["BKGSTEP"] = (step, "quantisation step of the sky (ADU)")
        hdus.append(extension)
    with atomic_path(path) as temporary:
        fits.HDUList(hdus).writeto(temporary, overwrite=True, output_verify="silentfix")
    return Path(path)


def read_calibrated_fits(path: str | os.PathLike[str]) -> FramePixels:
    """Read ``<stem>_calibrated.fits`` back.

    Raises
    ------
    rpf.errors.ProductError
        The file is missing or is not a calibrated-pixels product.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            header = hdul[0].header.copy()
            image = np.asarray(hdul[0].data, dtype=np.float32)
            mask = np.asarray(hdul["MASK"].data, dtype=np.uint16)
            background, rms = (np.asarray(hdul[name].data, dtype=np.float32) if name in hdul else None
                               for name in ("BACKGROUND", "BACKGROUND_RMS"))
    except (OSError, KeyError, TypeError) as exc:
        raise ProductError(f"{path}: cannot read the calibrated pixels: {exc}") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header, naxis=2)
    return FramePixels(image=image, background=background, mask=mask, wcs=wcs if wcs.has_celestial else None,
                       header=header, path=os.fspath(path), background_rms=rms)
