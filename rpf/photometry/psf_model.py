"""The empirical PSF model: oversampled grid, sub-pixel evaluation, FITS and PNG export.

:class:`PsfModel` holds pixel-integrated values on a grid finer than the
pixels and evaluates them at arbitrary sub-pixel offsets with a cubic spline
(interpolating pixel-integrated samples gives pixel-integrated values),
vectorised over all pixels of all stars at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from astropy.io import fits
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import ndimage

from rpf.errors import PhotometryError

__all__ = ["PsfModel", "normalised"]

_PAD = 4


@dataclass(frozen=True)
class PsfModel:
    """An oversampled empirical PSF.

    Attributes
    ----------
    data : ndarray
        Oversampled, pixel-integrated PSF: each sample is the fraction of the
        light falling in a whole pixel centred at that offset; its centre is
        the array centre ``((n - 1) / 2, (n - 1) / 2)``.  Sampled on the native
        grid it sums to the fraction of the light within the model's extent
        (1 for :func:`normalised`, slightly less for :func:`build_psf
        <rpf.photometry.psf_build.build_psf>`, whose models have unit total
        flux, the wings beyond the extent following the fitted profile).
    oversampling : int
        Samples per native pixel along each axis.
    fwhm_px : float
        FWHM (native pixels) measured on the model.
    n_stars : int
        Stars the model was built from.
    """

    data: np.ndarray = field(repr=False)
    oversampling: int
    fwhm_px: float
    n_stars: int = 0

    @property
    def radius_px(self) -> float:
        """Half-size of the model in native pixels."""
        return (self.data.shape[0] - 1) / 2.0 / self.oversampling

    @cached_property
    def _coefficients(self) -> np.ndarray:
        return ndimage.spline_filter(np.pad(self.data, _PAD), order=3)

    def evaluate(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Return the PSF fraction falling in a pixel offset by ``(dx, dy)`` native pixels from the centre.

        Zero beyond the model's extent.
        """
        centre = (self.data.shape[0] - 1) / 2.0 + _PAD
        gx = centre + np.asarray(dx, float) * self.oversampling
        gy = centre + np.asarray(dy, float) * self.oversampling
        values = ndimage.map_coordinates(
            self._coefficients, [gy.ravel(), gx.ravel()], order=3, prefilter=False, mode="constant", cval=0.0
        )
        return values.reshape(np.shape(gx))

    def to_fits(self, path: str | os.PathLike[str]) -> None:
        """Write the model as a FITS image (``<stem>_psf.fits``)."""
        header = fits.Header()
        header["OVERSAMP"] = (self.oversampling, "samples per native pixel")
        header["FWHMPX"] = (self.fwhm_px, "FWHM of the PSF in native pixels")
        header["NSTARS"] = (self.n_stars, "stars used to build the ePSF")
        header["PSFNORM"] = (round(float(self.data[:: self.oversampling, :: self.oversampling].sum()), 6),
                             "native-grid sum (light within the extent)")
        header["CREATOR"] = "RPF rpf.photometry.psf_build"
        fits.PrimaryHDU(self.data.astype(np.float32), header=header).writeto(os.fspath(path), overwrite=True)

    @classmethod
    def from_fits(cls, path: str | os.PathLike[str]) -> PsfModel:
        """Read a model written by :meth:`to_fits`."""
        with fits.open(os.fspath(path)) as hdul:
            header, data = hdul[0].header, np.asarray(hdul[0].data, float)
        return cls(data, int(header["OVERSAMP"]), float(header["FWHMPX"]), int(header.get("NSTARS", 0)))

    def to_png(self, path: str | os.PathLike[str], *, title: str = "") -> None:
        """Write a picture of the model: the image (log stretch) and its radial profile."""
        fig = Figure(figsize=(9, 4), layout="constrained")
        FigureCanvasAgg(fig)
        ax_img, ax_prof = fig.subplots(1, 2)
        peak = float(self.data.max())
        shown = np.log10(np.clip(self.data / peak, 1e-4, None))
        extent = [-self.radius_px, self.radius_px, -self.radius_px, self.radius_px]
        image = ax_img.imshow(shown, origin="lower", cmap="viridis", extent=extent)
        fig.colorbar(image, ax=ax_img, label="log10(PSF / peak)")
        ax_img.set_xlabel("x offset (px)")
        ax_img.set_ylabel("y offset (px)")
        n = self.data.shape[0]
        yy, xx = np.mgrid[:n, :n]
        radius = np.hypot(xx - (n - 1) / 2, yy - (n - 1) / 2) / self.oversampling
        ax_prof.semilogy(radius.ravel(), np.clip(self.data.ravel() / peak, 1e-5, None), ".", ms=2)
        ax_prof.axvline(self.fwhm_px / 2, color="k", ls="--", lw=0.8, label=f"HWHM ({self.fwhm_px / 2:.2f} px)")
        ax_prof.set_xlabel("radius (px)")
        ax_prof.set_ylabel("PSF / peak")
        ax_prof.legend(fontsize=8)
        fig.suptitle(title or f"ePSF: {self.n_stars} stars, oversampling {self.oversampling}", fontsize=10)
        fig.savefig(os.fspath(path), dpi=100)


def normalised(model: PsfModel) -> PsfModel:
    """Return the model scaled so that it sums to one on the native grid at zero offset."""
    r = int(np.floor(model.radius_px))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    total = float(model.evaluate(dx, dy).sum())
    if not total > 0:
        raise PhotometryError("the ePSF has no positive flux")
    return PsfModel(model.data / total, model.oversampling, model.fwhm_px, model.n_stars)
