"""Configuration sections of the sky stages: astrometry, catalogues, zero point."""

from __future__ import annotations

from dataclasses import dataclass, field

from rpf.config.image import _check

__all__ = ["AstrometryConfig", "CatalogConfig", "ZeroPointConfig"]


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
        _check(
            self.pointing_solver in ("triangles", "astrometry.net"),
            "astrometry.pointing_solver must be triangles or astrometry.net",
        )
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
