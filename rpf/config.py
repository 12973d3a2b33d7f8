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
    """

    combine: str = "median"
    clip_sigma: float = 3.0
    flat_min: float = 0.2

    def __post_init__(self) -> None:
        _check(self.combine in ("median", "mean"), "calibration.combine must be median or mean")
        _check(self.clip_sigma > 0, "calibration.clip_sigma must be > 0")
        _check(0 < self.flat_min < 1, "calibration.flat_min must be in (0, 1)")


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
        Number of iterations.
    gain, read_noise, saturation : float or None
        Override the frame's gain (e-/ADU), read noise (e-) and saturation (ADU).
    """

    enabled: bool = True
    sigclip: float = 4.5
    sigfrac: float = 0.3
    objlim: float = 5.0
    niter: int = 4
    gain: float | None = None
    read_noise: float | None = None
    saturation: float | None = None

    def __post_init__(self) -> None:
        _check(self.sigclip > 0 and self.sigfrac > 0 and self.objlim > 0, "cosmics limits must be > 0")
        _check(self.niter >= 1, "cosmics.niter must be >= 1")


@dataclass(frozen=True)
class DetectionConfig:
    """Source detection and FWHM estimation.

    Attributes
    ----------
    threshold_sigma : float
        Detection threshold in units of the background RMS.
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

    threshold_sigma: float = 3.0
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

    def __post_init__(self) -> None:
        _check(self.mode in ("auto", "header", "solve", "manual"), "astrometry.mode must be auto, header, solve or manual")
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

    def __post_init__(self) -> None:
        _check(self.timeout_s > 0, "catalogs.timeout_s must be > 0")
        _check(self.retries >= 0, "catalogs.retries must be >= 0")


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
        Fit positions as well as fluxes (else forced at the centroids).
    """

    enabled: bool = False
    oversampling: int = 2
    size_fwhm: float = 4.0
    max_stars: int = 200
    fit_positions: bool = False


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
        Retries of a task whose worker died.
    """

    scheduler: str | None = None
    n_workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "auto"
    retries: int = 2

    def __post_init__(self) -> None:
        _check(self.n_workers >= 1, "execution.n_workers must be >= 1")


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
