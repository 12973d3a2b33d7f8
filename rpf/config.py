"""The one serialisable configuration of an RPF run.

Each stage has a frozen, validated dataclass; :class:`PipelineConfig` gathers
them and is the single source of defaults.  It loads and saves TOML, YAML and
JSON, and converts to and from plain dictionaries so that a dashboard's param
model can mirror it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from rpf.errors import ConfigError

__all__ = [
    "ApertureConfig",
    "AstrometryConfig",
    "BackgroundConfig",
    "CalibrationConfig",
    "CatalogConfig",
    "CosmicsConfig",
    "DetectionConfig",
    "ExecutionConfig",
    "HeaderDefaults",
    "OutputConfig",
    "PSFConfig",
    "PipelineConfig",
    "ZeroPointConfig",
    "load_config",
]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


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
    site_lat, site_lon, site_elev : float or None
        Observatory latitude, east longitude (degrees) and elevation (metres).
    observatory : str
        Observatory name.
    """

    exptime: float | None = None
    gain: float = 1.0
    read_noise: float = 5.0
    saturation: float | None = None
    pixel_scale: float | None = None
    filter: str = "unknown"
    site_lat: float | None = None
    site_lon: float | None = None
    site_elev: float | None = None
    observatory: str = ""

    def __post_init__(self) -> None:
        _check(self.gain > 0, "header.gain must be > 0")
        _check(self.read_noise >= 0, "header.read_noise must be >= 0")
        _check(self.exptime is None or self.exptime >= 0, "header.exptime must be >= 0")
        _check(self.pixel_scale is None or self.pixel_scale > 0, "header.pixel_scale must be > 0")


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
    """

    combine: str = "median"
    clip_sigma: float = 3.0
    flat_min: float = 0.2
    bad_pixel_fill: str = "interpolate"

    def __post_init__(self) -> None:
        _check(self.combine in ("median", "mean"), "calibration.combine must be median or mean")
        _check(self.clip_sigma > 0, "calibration.clip_sigma must be > 0")
        _check(0 < self.flat_min < 1, "calibration.flat_min must be in (0, 1)")
        _check(self.bad_pixel_fill in ("interpolate", "nan"), "calibration.bad_pixel_fill must be interpolate or nan")


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

    box_size: int | None = None
    filter_size: int = 3
    clip_sigma: float = 3.0
    method: str = "sep"
    mask_sources: bool = True

    def __post_init__(self) -> None:
        _check(self.box_size is None or self.box_size >= 8, "background.box_size must be >= 8")
        _check(self.filter_size >= 1, "background.filter_size must be >= 1")
        _check(self.clip_sigma > 0, "background.clip_sigma must be > 0")
        _check(self.method in ("sep", "photutils"), "background.method must be sep or photutils")


@dataclass(frozen=True)
class CosmicsConfig:
    """L.A.Cosmic (astroscrappy) parameters; ``None`` values come from the header.

    Attributes
    ----------
    enabled : bool
        Run cosmic-ray detection.
    sigclip, sigfrac, objlim : float
        Detection limits of L.A.Cosmic.
    niter : int
        Number of iterations; 2 finds as many hit pixels as 4 on simulated
        frames in about 55% of the time and alters fewer star pixels.
    gain, read_noise, saturation : float or None
        Override the frame's gain (e-/ADU), read noise (e-) and saturation (ADU).
    sepmed : bool
        Separable median filter of astroscrappy (about 3x faster than the full
        median, but it flags more star cores, which ``protect_sigma`` undoes).
    protect_sigma : float or None
        A detected hit whose surrounding ring (2-3 px away) has a median above
        this many sky sigmas sits on a star: it stays in the mask (the star is
        flagged) but is not cleaned; ``None`` cleans every detection.
    tile_size : int or None
        L.A.Cosmic runs on tiles of at most this many pixels a side (plus
        ``tile_margin``), which bounds its memory (about a dozen float32 copies
        of what it is given) and gives the same result as one whole-frame
        call; ``None`` runs on the whole frame at once.
    tile_margin : int
        Pixels of overlap added around each tile; L.A.Cosmic sees a few pixels
        per iteration, so 32 px reproduces the whole-frame result exactly.
    workers : int
        Tiles processed at once by a thread pool, each tile with one OpenMP
        thread (astroscrappy releases the GIL); 1 runs the tiles one after
        another with astroscrappy's own OpenMP threads.  2 was faster on the
        shared 2-core machine, where other processes hold cores and OpenMP's
        evenly split loops wait for the slowest thread.
    """

    enabled: bool = True
    sigclip: float = 4.5
    sigfrac: float = 0.3
    objlim: float = 5.0
    niter: int = 2
    gain: float | None = None
    read_noise: float | None = None
    saturation: float | None = None
    sepmed: bool = True
    protect_sigma: float | None = 3.0
    tile_size: int | None = 1024
    tile_margin: int = 32
    workers: int = 2

    def __post_init__(self) -> None:
        _check(self.sigclip > 0 and self.sigfrac > 0 and self.objlim > 0, "cosmics limits must be > 0")
        _check(self.tile_size is None or self.tile_size >= 64, "cosmics.tile_size must be >= 64 or None")
        _check(self.tile_margin >= 0, "cosmics.tile_margin must be >= 0")
        _check(self.workers >= 1, "cosmics.workers must be >= 1")
        _check(self.protect_sigma is None or self.protect_sigma > 0, "cosmics.protect_sigma must be > 0")
        _check(self.niter >= 1, "cosmics.niter must be >= 1")


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
        Maximum number of stars sampled for the FWHM estimate.
    seed : int
        Seed of the random sampling (reproducible FWHM).
    """

    threshold_sigma: float = 2.0
    min_area: int = 5
    border_px: int = 10
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    seeing_arcsec: float = 3.0
    fwhm_max_stars: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.threshold_sigma > 0, "detection.threshold_sigma must be > 0")
        _check(self.min_area >= 1, "detection.min_area must be >= 1")
        _check(self.border_px >= 0, "detection.border_px must be >= 0")


@dataclass(frozen=True)
class ApertureConfig:
    """Aperture photometry.

    Attributes
    ----------
    radii_fwhm : tuple of float
        Aperture radii in FWHM units.
    default_radius_fwhm : float
        The radius whose flux fills ``flux``/``mag`` (must be in ``radii_fwhm``).
    annulus_fwhm : tuple of float
        Inner and outer radius of the local-background annulus, in FWHM units.
    annulus_clip_sigma : float
        Sigma clipping in the annulus.
    aperture_correction : bool
        Correct fluxes to total flux with a curve of growth.
    """

    radii_fwhm: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)
    default_radius_fwhm: float = 1.5
    annulus_fwhm: tuple[float, float] = (4.0, 6.0)
    annulus_clip_sigma: float = 3.0
    aperture_correction: bool = True

    def __post_init__(self) -> None:
        _check(len(self.radii_fwhm) >= 1 and min(self.radii_fwhm) > 0, "aperture.radii_fwhm must be > 0")
        _check(self.default_radius_fwhm in self.radii_fwhm, "aperture.default_radius_fwhm must be one of radii_fwhm")
        a, b = self.annulus_fwhm
        _check(0 < a < b, "aperture.annulus_fwhm must be (inner, outer) with inner < outer")


@dataclass(frozen=True)
class AstrometryConfig:
    """Astrometric solution.

    Attributes
    ----------
    mode : str
        ``"auto"`` (header, else solve), ``"header"``, ``"solve"``, ``"manual"``.
    ra, dec : str or float or None
        Pointing (degrees or sexagesimal) overriding the header.
    pixel_scale : float or None
        Pixel scale hint in arcsec/pixel.
    rotation_deg : float
        Position angle of the manual WCS (north through east).
    flip : bool
        Mirrored manual WCS.
    search_radius_deg : float
        How far from the pointing the solver looks.
    scale_tolerance : float
        Fractional pixel-scale uncertainty.
    index_dir : str
        Directory of astrometry.net index files.
    time_limit_s : float
        Upper bound of one solve.
    sip_order : int
        SIP distortion order of the refinement (0 = linear only).
    refine : bool
        Refine the WCS against the reference catalogue.
    pointing_solver : str
        Pointing-assisted solver against the reference catalogue:
        ``"triangles"`` (triangle hashing in Python) or ``"astrometry.net"``
        (a temporary index built from the catalogue cone).
    """

    mode: str = "auto"
    ra: str | float | None = None
    dec: str | float | None = None
    pixel_scale: float | None = None
    rotation_deg: float = 0.0
    flip: bool = False
    search_radius_deg: float = 1.0
    scale_tolerance: float = 0.1
    index_dir: str = "/usr/share/astrometry"
    time_limit_s: float = 60.0
    sip_order: int = 2
    refine: bool = True
    pointing_solver: str = "triangles"

    def __post_init__(self) -> None:
        _check(self.pointing_solver in ("triangles", "astrometry.net"),
               "astrometry.pointing_solver must be triangles or astrometry.net")
        modes = ("auto", "header", "solve", "manual")
        _check(self.mode in modes, f"astrometry.mode must be one of {', '.join(modes)}")
        _check(self.time_limit_s > 0, "astrometry.time_limit_s must be > 0")
        _check(0 <= self.sip_order <= 5, "astrometry.sip_order must be in 0..5")


@dataclass(frozen=True)
class CatalogConfig:
    """Reference catalogue, cross-matches and the on-disk cache.

    Attributes
    ----------
    reference : str
        The photometric/astrometric reference (``"gaia_dr3"``, ``"tycho2"``, ``"file"``).
    catalog_file : str or None
        A local reference catalogue with Gaia DR3 column names.
    offline : bool
        Never touch the network.
    crossmatch : tuple of str
        Services used to label sources.
    cache_dir : str
        Persistent cache folder (``~`` expanded).
    cache_expiry_days : float
        Age after which a cached answer is refetched.
    timeout_s : float
        Per-request time limit.
    retries : int
        Retries after a failed request (with exponential backoff).
    mag_limit : float
        Faintest reference magnitude requested.
    colibri_uid : str or None
        Astro-Colibri user key (also read from ``RPF_COLIBRI_UID``); never logged.
    colibri_window_days : float
        Astro-Colibri events are searched this many days either side of the observation.
    mpc_code : str or None
        MPC observatory code used for SkyBoT (else the frame's site coordinates).
    retry_backoff_s : float
        First retry delay; it doubles after each failed attempt.
    match_radius_min_arcsec, match_radius_max_arcsec : float
        Bounds of the cross-match radius derived from the FWHM and the WCS RMS.
    tycho2_dir : str
        Folder of the astrometry.net Tycho-2 index files (offline reference).
    gaia_url, simbad_url, vizier_url, skybot_url, colibri_url : str
        Service end points (Gaia TAP sync, SIMBAD TAP sync, VizieR VOTable,
        SkyBoT cone search, Astro-Colibri cone search); change them for a
        mirror or a local test server.
    """

    reference: str = "gaia_dr3"
    catalog_file: str | None = None
    offline: bool = False
    crossmatch: tuple[str, ...] = ("simbad", "skybot", "vsx", "milliquas", "colibri")
    cache_dir: str = "~/.cache/rpf/catalogs"
    cache_expiry_days: float = 30.0
    timeout_s: float = 10.0
    retries: int = 2
    mag_limit: float = 19.0
    colibri_uid: str | None = field(default=None, repr=False)
    colibri_window_days: float = 3.0
    mpc_code: str | None = None
    retry_backoff_s: float = 1.0
    match_radius_min_arcsec: float = 1.0
    match_radius_max_arcsec: float = 10.0
    tycho2_dir: str = "/usr/share/astrometry"
    gaia_url: str = "https://gea.esac.esa.int/tap-server/tap/sync"
    simbad_url: str = "https://simbad.cds.unistra.fr/simbad/sim-tap/sync"
    vizier_url: str = "https://vizier.cds.unistra.fr/viz-bin/votable"
    skybot_url: str = "https://ssp.imcce.fr/webservices/skybot/api/conesearch.php"
    colibri_url: str = "https://astro-colibri.science/cone_search"

    def __post_init__(self) -> None:
        _check(self.timeout_s > 0, "catalogs.timeout_s must be > 0")
        _check(self.retries >= 0, "catalogs.retries must be >= 0")
        _check(self.retry_backoff_s >= 0, "catalogs.retry_backoff_s must be >= 0")
        _check(self.colibri_window_days >= 0, "catalogs.colibri_window_days must be >= 0")
        _check(
            0 < self.match_radius_min_arcsec <= self.match_radius_max_arcsec,
            "catalogs.match_radius_min_arcsec must be > 0 and <= match_radius_max_arcsec",
        )
        known = ("simbad", "skybot", "vsx", "milliquas", "colibri")
        _check(set(self.crossmatch) <= set(known), f"catalogs.crossmatch must be among {', '.join(known)}")
        _check(self.reference in ("gaia_dr3", "tycho2", "file"), "catalogs.reference must be gaia_dr3, tycho2 or file")


@dataclass(frozen=True)
class ZeroPointConfig:
    """Photometric calibration.

    Attributes
    ----------
    mag_range : tuple of float
        Calibrator catalogue magnitude range.
    color_range : tuple of float
        Calibrator colour (BP-RP) range.
    max_ruwe : float
        Reject calibrators with larger Gaia RUWE.
    clip_sigma : float
        Clipping of the robust fit.
    fit_color_term : bool
        Fit a colour term (else use ``color_term``).
    color_term : float
        Fixed colour term when not fitted.
    spatial_order : int
        Order of the spatial zero-point polynomial (0 = constant).
    extinction_k : float or None
        Fixed extinction coefficient (mag/airmass); ``None`` absorbs it per frame.
    band : str or None
        Force the reference band instead of choosing it from the filter.
    match_radius_arcsec : float
        One-to-one match radius between detections and the reference catalogue
        (used when no match is given).
    isolation_arcsec : float
        A calibrator with a reference neighbour closer than this (and at most
        ``isolation_dmag`` fainter) is rejected.
    isolation_dmag : float
        Neighbours fainter than the calibrator by more than this are ignored.
    min_snr : float
        Faintest calibrator signal-to-noise ratio.
    robust : str
        ``"clip"`` (iterative sigma clipping) or ``"huber"`` (Huber IRLS).
    max_iter : int
        Iterations of the robust fit.
    min_stars : int
        Fewest calibrators for a fit (a ``ZeroPointError`` below).
    """

    mag_range: tuple[float, float] = (9.0, 19.0)
    color_range: tuple[float, float] = (-0.5, 3.5)
    max_ruwe: float = 1.4
    clip_sigma: float = 3.0
    fit_color_term: bool = False
    color_term: float = 0.0
    spatial_order: int = 0
    extinction_k: float | None = None
    band: str | None = None
    match_radius_arcsec: float = 2.0
    isolation_arcsec: float = 6.0
    isolation_dmag: float = 4.0
    min_snr: float = 10.0
    robust: str = "clip"
    max_iter: int = 10
    min_stars: int = 5

    def __post_init__(self) -> None:
        lo, hi = self.mag_range
        _check(lo < hi, "zeropoint.mag_range must be (bright, faint) with bright < faint")
        lo, hi = self.color_range
        _check(lo < hi, "zeropoint.color_range must be (blue, red) with blue < red")
        _check(self.max_ruwe > 0, "zeropoint.max_ruwe must be > 0")
        _check(self.clip_sigma > 0, "zeropoint.clip_sigma must be > 0")
        _check(0 <= self.spatial_order <= 3, "zeropoint.spatial_order must be in 0..3")
        _check(self.match_radius_arcsec > 0, "zeropoint.match_radius_arcsec must be > 0")
        _check(self.isolation_arcsec >= 0, "zeropoint.isolation_arcsec must be >= 0")
        _check(self.min_snr >= 0, "zeropoint.min_snr must be >= 0")
        _check(self.robust in ("clip", "huber"), "zeropoint.robust must be clip or huber")
        _check(self.max_iter >= 1, "zeropoint.max_iter must be >= 1")
        _check(self.min_stars >= 2, "zeropoint.min_stars must be >= 2")


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

    enabled: bool = False
    oversampling: int = 2
    size_fwhm: float = 4.0
    max_stars: int = 200
    fit_positions: bool = True
    fit_radius_fwhm: float = 1.5
    fit_background: bool = False
    min_stars: int = 15
    build_iterations: int = 10
    position_iterations: int = 3

    def __post_init__(self) -> None:
        _check(1 <= self.oversampling <= 8, "psf.oversampling must be in 1..8")
        _check(self.size_fwhm >= 1, "psf.size_fwhm must be >= 1")
        _check(0 < self.fit_radius_fwhm <= self.size_fwhm, "psf.fit_radius_fwhm must be in (0, size_fwhm]")
        _check(self.max_stars >= self.min_stars >= 3, "psf needs max_stars >= min_stars >= 3")
        _check(self.build_iterations >= 1, "psf.build_iterations must be >= 1")
        _check(self.position_iterations >= 1, "psf.position_iterations must be >= 1")


@dataclass(frozen=True)
class ExecutionConfig:
    """Where and how the work runs.

    Attributes
    ----------
    scheduler : str or None
        Address of an existing Dask scheduler (else ``RPF_SCHEDULER`` or a local cluster).
    n_workers : int
        Workers of the local cluster.
    threads_per_worker : int
        Threads per local worker.
    memory_limit : str
        Memory limit per local worker (Dask syntax).
    retries : int
        Retries of a task that raised (a task whose worker died is also
        rescheduled by Dask, up to ``distributed.scheduler.allowed-failures``).
    processes : bool
        Local workers are processes (else threads of this process).
    dashboard_address : str or None
        Where the local cluster serves the Dask dashboard (``":0"`` any free
        port, None none).
    share_references : bool
        Query the reference catalogue once per group of overlapping fields.
    """

    scheduler: str | None = None
    n_workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "auto"
    retries: int = 2
    processes: bool = True
    dashboard_address: str | None = ":8787"
    share_references: bool = True

    def __post_init__(self) -> None:
        _check(self.n_workers >= 1, "execution.n_workers must be >= 1")
        _check(self.threads_per_worker >= 1, "execution.threads_per_worker must be >= 1")
        _check(self.retries >= 0, "execution.retries must be >= 0")


@dataclass(frozen=True)
class OutputConfig:
    """Products written per frame.

    Attributes
    ----------
    png : bool
        Write preview and diagnostic PNGs.
    zip : bool
        Bundle the frame's products in a ZIP.
    """

    png: bool = True
    zip: bool = True


_SECTIONS: dict[str, type] = {
    "header": HeaderDefaults,
    "calibration": CalibrationConfig,
    "background": BackgroundConfig,
    "cosmics": CosmicsConfig,
    "detection": DetectionConfig,
    "aperture": ApertureConfig,
    "astrometry": AstrometryConfig,
    "catalogs": CatalogConfig,
    "zeropoint": ZeroPointConfig,
    "psf": PSFConfig,
    "execution": ExecutionConfig,
    "output": OutputConfig,
}


@dataclass(frozen=True)
class PipelineConfig:
    """Every parameter of a run, one frozen section per stage."""

    header: HeaderDefaults = field(default_factory=HeaderDefaults)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    cosmics: CosmicsConfig = field(default_factory=CosmicsConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    aperture: ApertureConfig = field(default_factory=ApertureConfig)
    astrometry: AstrometryConfig = field(default_factory=AstrometryConfig)
    catalogs: CatalogConfig = field(default_factory=CatalogConfig)
    zeropoint: ZeroPointConfig = field(default_factory=ZeroPointConfig)
    psf: PSFConfig = field(default_factory=PSFConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self, *, secrets: bool = False) -> dict[str, dict[str, Any]]:
        """Return the configuration as nested plain values.

        Parameters
        ----------
        secrets : bool
            Include API keys (never do this for products or logs).
        """
        out = {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}
        if not secrets:
            out["catalogs"]["colibri_uid"] = None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        """Build a configuration from nested values; unknown keys are errors."""
        unknown = set(data) - set(_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        return cls(**{name: _section(name, data.get(name) or {}) for name in _SECTIONS})

    def replace(self, **sections: Mapping[str, Any]) -> PipelineConfig:
        """Return a copy with some fields of some sections changed.

        Examples
        --------
        >>> cfg = PipelineConfig().replace(detection={"threshold_sigma": 5.0})
        >>> cfg.detection.threshold_sigma
        5.0
        """
        data = self.to_dict(secrets=True)
        for name, values in sections.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown config section: {name}")
            data[name] = {**data[name], **values}
        return PipelineConfig.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the configuration as TOML, YAML or JSON (by file suffix)."""
        path = Path(path)
        data = _drop_none(self.to_dict())
        suffix = path.suffix.lower()
        if suffix == ".json":
            text = json.dumps(data, indent=2)
        elif suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(data, sort_keys=False)
        elif suffix == ".toml":
            import tomli_w

            text = tomli_w.dumps(data)
        else:
            raise ConfigError(f"{path}: unsupported config format (use .toml, .yaml or .json)")
        path.write_text(text)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _section(name: str, values: Mapping[str, Any]) -> Any:
    cls = _SECTIONS[name]
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    hints = get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if "tuple" in str(hints[key]) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"[{name}]: {exc}") from exc


def load_config(path: str | os.PathLike[str] | None = None) -> PipelineConfig:
    """Load a configuration file (TOML, YAML or JSON); defaults when ``path`` is None.

    Environment variables fill secrets and the scheduler: ``RPF_COLIBRI_UID``
    and ``RPF_SCHEDULER``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
        suffix = path.suffix.lower()
        try:
            if suffix == ".toml":
                data = tomllib.loads(text)
            elif suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            elif suffix == ".json":
                data = json.loads(text)
            else:
                raise ConfigError(f"{path}: unsupported config format (use .toml, .yaml or .json)")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{path}: cannot parse config: {exc}") from exc
    config = PipelineConfig.from_dict(data)
    env = {}
    if os.environ.get("RPF_COLIBRI_UID") and not config.catalogs.colibri_uid:
        env["catalogs"] = {"colibri_uid": os.environ["RPF_COLIBRI_UID"]}
    if os.environ.get("RPF_SCHEDULER") and not config.execution.scheduler:
        env["execution"] = {"scheduler": os.environ["RPF_SCHEDULER"]}
    return config.replace(**env) if env else config
