"""Configuration sections of the image stages (header defaults to PSF).

Every field is declared with :func:`rpf.config.fields.param` (unit, bounds,
choices) and documented in its class's ``Attributes``; ``__post_init__``
validates every value from that metadata before any stage sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rpf.config.fields import param, require, validate_section

__all__ = [
    "ApertureConfig",
    "BackgroundConfig",
    "CalibrationConfig",
    "CosmicsConfig",
    "DetectionConfig",
    "HeaderDefaults",
    "PSFConfig",
]

#: Bounds shared by the detector values of ``header`` and ``cosmics``.
GAIN = {"unit": "electron/adu", "minimum": 0.0, "exclusive_minimum": True, "maximum": 1000.0}
READ_NOISE = {"unit": "electron", "minimum": 0.0, "maximum": 1000.0}
SATURATION = {"unit": "adu", "minimum": 0.0, "exclusive_minimum": True, "maximum": 1e10}
PIXEL_SCALE = {"unit": "arcsec/pixel", "minimum": 0.0, "exclusive_minimum": True, "maximum": 3600.0}
SIGMA = {"unit": "sigma", "minimum": 0.0, "exclusive_minimum": True, "maximum": 100.0}


@dataclass(frozen=True)
class HeaderDefaults:
    """Values used when a frame's header lacks a keyword (a warning is logged).

    Attributes
    ----------
    exptime : float or None
        Exposure time in seconds; ``None`` makes a frame without EXPTIME fail.
    gain : float
        Detector gain in e-/ADU.
    read_noise : float
        Read noise in electrons.
    saturation : float or None
        Saturation level in ADU; ``None`` derives it from the data type.
    pixel_scale : float or None
        Pixel scale in arcsec/pixel.
    filter : str
        Filter name.
    site_lat : float or None
        Observatory latitude (degrees).
    site_lon : float or None
        Observatory longitude, east positive (degrees).
    site_elev : float or None
        Observatory elevation (metres).
    observatory : str
        Observatory name.
    """

    SECTION: ClassVar[str] = "header"

    exptime: float | None = param(None, unit="s", minimum=0.0, maximum=86400.0)
    gain: float = param(1.0, **GAIN)
    read_noise: float = param(5.0, **READ_NOISE)
    saturation: float | None = param(None, **SATURATION)
    pixel_scale: float | None = param(None, **PIXEL_SCALE)
    filter: str = param("unknown")
    site_lat: float | None = param(None, unit="deg", minimum=-90.0, maximum=90.0)
    site_lon: float | None = param(None, unit="deg", minimum=-180.0, maximum=360.0)
    site_elev: float | None = param(None, unit="m", minimum=-500.0, maximum=12000.0)
    observatory: str = param("")

    def __post_init__(self) -> None:
        validate_section(self)


@dataclass(frozen=True)
class CalibrationConfig:
    """Master-frame combination and application.

    Attributes
    ----------
    combine : str
        ``"median"`` or ``"mean"`` of the sigma-clipped stack.
    clip_sigma : float
        Sigma of the clipping applied across the stack.
    flat_min : float
        Normalised flat values below this are masked instead of divided by.
    bad_pixel_fill : str
        What calibrated pixels flagged ``BAD_PIXEL`` (non-finite raw value,
        masked flat) hold: ``"interpolate"`` (mean of the good neighbours)
        or ``"nan"``.
    cache_dir : str or None
        Folder of the masters cache (``~`` expanded): masters built once are
        loaded again when the same raw files (by content) and parameters
        come back; ``None`` turns the cache off.
    cache_max_mb : float
        Size limit of the masters cache (MiB); the least recently used
        masters are deleted beyond it.
    """

    SECTION: ClassVar[str] = "calibration"

    combine: str = param("median", choices=("median", "mean"))
    clip_sigma: float = param(3.0, **SIGMA)
    flat_min: float = param(0.2, minimum=0.0, maximum=1.0, exclusive_minimum=True, exclusive_maximum=True)
    bad_pixel_fill: str = param("interpolate", choices=("interpolate", "nan"))
    cache_dir: str | None = param("~/.cache/rpf/masters", kind="path")
    cache_max_mb: float = param(2048.0, unit="MiB", minimum=0.0, exclusive_minimum=True, maximum=1e7)

    def __post_init__(self) -> None:
        validate_section(self)


@dataclass(frozen=True)
class BackgroundConfig:
    """2-D background and RMS maps.

    Attributes
    ----------
    box_size : int or None
        Mesh size in pixels; ``None`` derives it from the image size and FWHM.
    filter_size : int
        Median filter size in meshes.
    clip_sigma : float
        Sigma clipping of the global statistics (and inside each mesh with
        ``method="photutils"``; ``sep`` clips at a fixed 3 sigma).
    method : str
        ``"sep"`` (fast, default) or ``"photutils"`` (``Background2D``).
    mask_sources : bool
        Second pass with the pixels of sources (3 sigma in a 5x5 mean of the
        first residual) masked: removes the upward bias stars give the sky.
    """

    SECTION: ClassVar[str] = "background"

    box_size: int | None = param(None, unit="px", minimum=8, maximum=4096)
    filter_size: int = param(3, unit="mesh", minimum=1, maximum=15)
    clip_sigma: float = param(3.0, **SIGMA)
    method: str = param("sep", choices=("sep", "photutils"))
    mask_sources: bool = param(True)

    def __post_init__(self) -> None:
        validate_section(self)


@dataclass(frozen=True)
class CosmicsConfig:
    """L.A.Cosmic (astroscrappy) parameters; ``None`` values come from the header.

    Attributes
    ----------
    enabled : bool
        Run cosmic-ray detection.
    sigclip : float
        L.A.Cosmic detection limit, in sigmas of the Laplacian.
    sigfrac : float
        L.A.Cosmic fractional detection limit for the pixels next to a hit.
    objlim : float
        L.A.Cosmic contrast limit between a hit and an underlying object.
    niter : int
        Number of iterations.  2 (with ``grow_sigma``) flags more of the
        pixels of lifelike cosmic rays than 4 did without it, in about 55%
        of the time (``benchmarks/bench_cosmics_iterations.py``).
    gain : float or None
        Override the frame's gain (e-/ADU).
    read_noise : float or None
        Override the frame's read noise (e-).
    saturation : float or None
        Override the frame's saturation level (ADU).
    sepmed : bool
        Separable median filter of astroscrappy (about 3x faster than the full
        median, but it flags more star cores, which ``protect_sigma`` undoes).
    protect_sigma : float or None
        A detected hit whose surrounding ring (2-3 px away) has a median above
        this many sky sigmas sits on a star: it stays in the mask (the star is
        flagged) but is not cleaned; ``None`` cleans every detection.
    grow_sigma : float or None
        After L.A.Cosmic, each hit also takes its 8-neighbours that stand
        this many sky sigmas above the sky: the fainter edges of tracks,
        which L.A.Cosmic leaves or finds only with more iterations (on
        lifelike tracks, 2 iterations and growing flag more track pixels
        than 4 iterations, with no more false detections);
        ``None`` does not grow.
    tile_size : int or None
        L.A.Cosmic runs on tiles of at most this many pixels a side (plus
        ``tile_margin``), which bounds its memory (about a dozen float32 copies
        of what it is given) and gives the same result as one whole-frame
        call; ``None`` runs on the whole frame at once.
    tile_margin : int
        Pixels of overlap added around each tile; L.A.Cosmic sees a few pixels
        per iteration, so 16 px reproduces the whole-frame result exactly
        (checked at 512 px tiles on a simulated 2048² frame, niter 2).
    workers : int or None
        Tiles processed at once by a thread pool, each tile with one OpenMP
        thread (astroscrappy releases the GIL); 1 runs the tiles one after
        another with astroscrappy's own OpenMP threads.  ``None`` (default)
        uses as many as OpenMP may run here (``OMP_NUM_THREADS`` or a
        ``threadpoolctl`` limit): every core of an eager run; in a Dask task
        its thread limit (one for a night, where the frames themselves are
        the parallelism; every core for a lone frame).
    """

    SECTION: ClassVar[str] = "cosmics"

    enabled: bool = param(True)
    sigclip: float = param(4.5, **SIGMA)
    sigfrac: float = param(0.3, minimum=0.0, exclusive_minimum=True, maximum=10.0)
    objlim: float = param(5.0, minimum=0.0, exclusive_minimum=True, maximum=100.0)
    niter: int = param(2, minimum=1, maximum=10)
    gain: float | None = param(None, **GAIN)
    read_noise: float | None = param(None, **READ_NOISE)
    saturation: float | None = param(None, **SATURATION)
    sepmed: bool = param(True)
    protect_sigma: float | None = param(3.0, unit="sigma", minimum=0.0, exclusive_minimum=True, maximum=1000.0)
    grow_sigma: float | None = param(3.0, unit="sigma", minimum=0.0, exclusive_minimum=True, maximum=1000.0)
    tile_size: int | None = param(512, unit="px", minimum=64, maximum=16384)
    tile_margin: int = param(16, unit="px", minimum=0, maximum=256)
    workers: int | None = param(None, minimum=1, maximum=256)

    def __post_init__(self) -> None:
        validate_section(self)


@dataclass(frozen=True)
class DetectionConfig:
    """Source detection and FWHM estimation.

    Attributes
    ----------
    threshold_sigma : float
        Detection threshold per pixel, in units of the background RMS, applied
        to the image smoothed by a Gaussian of half the FWHM (SExtractor
        convention; 2.0 measured: >= 95% complete at SNR 10, < 1% spurious).
    min_area : int
        Minimum number of connected pixels.
    border_px : int
        Sources closer than this to the edge are flagged ``EDGE``.
    deblend_nthresh : int
        Deblending sub-thresholds.
    deblend_cont : float
        Minimum contrast for deblending.
    seeing_arcsec : float
        Initial seeing guess (used before the FWHM is measured).
    fwhm_max_stars : int
        Maximum number of stars sampled for the FWHM estimate (150 gave the
        same FWHM as 300 within 0.1 % on simulated 2048² frames, in half the time).
    seed : int
        Seed of the random sampling (reproducible FWHM).
    """

    SECTION: ClassVar[str] = "detection"

    threshold_sigma: float = param(2.0, unit="sigma", minimum=0.5, maximum=1000.0)
    min_area: int = param(5, unit="px", minimum=1, maximum=10000)
    border_px: int = param(10, unit="px", minimum=0, maximum=1000)
    deblend_nthresh: int = param(32, minimum=1, maximum=64)
    deblend_cont: float = param(0.005, minimum=0.0, maximum=1.0)
    seeing_arcsec: float = param(3.0, unit="arcsec", minimum=0.0, exclusive_minimum=True, maximum=60.0)
    fwhm_max_stars: int = param(150, minimum=5, maximum=100000)
    seed: int = param(0, minimum=0, maximum=2**32 - 1)

    def __post_init__(self) -> None:
        validate_section(self)


@dataclass(frozen=True)
class ApertureConfig:
    """Aperture photometry.

    Attributes
    ----------
    radii_fwhm : tuple of float
        Aperture radii in FWHM units.
    default_radius_fwhm : float
        The fixed radius of ``default_flux = "fixed"`` (must be in ``radii_fwhm``).
    default_flux : str
        What fills ``flux``/``mag``: ``"optimal"`` (each source's best
        signal-to-noise aperture, 0.6 to 2 FWHM, aperture-corrected) or
        ``"fixed"`` (the ``default_radius_fwhm`` aperture).
    annulus_fwhm : tuple of float
        Inner and outer radius of the local-background annulus, in FWHM units.
    annulus_clip_sigma : float
        Sigma clipping in the annulus.
    aperture_correction : bool
        Correct fluxes to total flux with a curve of growth.
    """

    SECTION: ClassVar[str] = "aperture"

    radii_fwhm: tuple[float, ...] = param((1.0, 1.5, 2.0, 3.0), unit="fwhm", minimum=0.0, exclusive_minimum=True,
                                          maximum=20.0)
    default_radius_fwhm: float = param(1.5, unit="fwhm", minimum=0.0, exclusive_minimum=True, maximum=20.0)
    default_flux: str = param("optimal", choices=("optimal", "fixed"))
    annulus_fwhm: tuple[float, float] = param((4.0, 6.0), unit="fwhm", minimum=0.0, exclusive_minimum=True,
                                              maximum=50.0)
    annulus_clip_sigma: float = param(3.0, **SIGMA)
    aperture_correction: bool = param(True)

    def __post_init__(self) -> None:
        validate_section(self)
        require(self.default_radius_fwhm in self.radii_fwhm, "aperture.default_radius_fwhm", self.default_radius_fwhm,
                f"must be one of aperture.radii_fwhm {self.radii_fwhm}")
        inner, outer = self.annulus_fwhm
        require(inner < outer, "aperture.annulus_fwhm", self.annulus_fwhm, "must be (inner, outer) with inner < outer")


@dataclass(frozen=True)
class PSFConfig:
    """PSF photometry.

    Attributes
    ----------
    enabled : bool
        Fit a PSF to every source.
    oversampling : int
        ePSF oversampling factor.
    size_fwhm : float
        Half-size of the PSF stamp in FWHM units.
    max_stars : int
        Most stars used to build the ePSF.
    fit_positions : bool
        Refine positions as well as fluxes (else forced at the detection
        centroids, which are less precise than a PSF fit).
    fit_radius_fwhm : float
        Radius of the pixels fitted around each source, in FWHM units.
    fit_background : bool
        Fit a constant local background per group of overlapping sources
        (the data are already background-subtracted, so this is off by default).
    min_stars : int
        Fewest isolated stars needed to build the ePSF.
    build_iterations : int
        Iterations of the ePSF builder.
    position_iterations : int
        Iterations of the position refinement (with ``fit_positions``).
    """

    SECTION: ClassVar[str] = "psf"

    enabled: bool = param(False)
    oversampling: int = param(2, minimum=1, maximum=8)
    size_fwhm: float = param(4.0, unit="fwhm", minimum=1.0, maximum=20.0)
    max_stars: int = param(200, minimum=3, maximum=100000)
    fit_positions: bool = param(True)
    fit_radius_fwhm: float = param(1.5, unit="fwhm", minimum=0.0, exclusive_minimum=True, maximum=20.0)
    fit_background: bool = param(False)
    min_stars: int = param(15, minimum=3, maximum=100000)
    build_iterations: int = param(10, minimum=1, maximum=100)
    position_iterations: int = param(3, minimum=1, maximum=100)

    def __post_init__(self) -> None:
        validate_section(self)
        require(self.fit_radius_fwhm <= self.size_fwhm, "psf.fit_radius_fwhm", self.fit_radius_fwhm,
                f"must be <= psf.size_fwhm ({self.size_fwhm})")
        require(self.max_stars >= self.min_stars, "psf.max_stars", self.max_stars,
                f"must be >= psf.min_stars ({self.min_stars})")
