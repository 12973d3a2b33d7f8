"""Configuration sections of the sky stages: astrometry, catalogues, zero point."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rpf.config.fields import param, require, validate_section
from rpf.config.image import PIXEL_SCALE, SIGMA

__all__ = ["SERVICES", "AstrometryConfig", "CatalogConfig", "ZeroPointConfig"]

SERVICES = ("simbad", "skybot", "vsx", "milliquas", "colibri")
"""The label services of the cross-match, in their default order."""

URL = {"pattern": r"https?://\S+", "hint": "an http(s) URL"}


@dataclass(frozen=True)
class AstrometryConfig:
    """Astrometric solution.

    Attributes
    ----------
    mode : str
        ``"auto"`` (header, else solve), ``"header"``, ``"solve"``, ``"manual"``.
    ra, dec : float or None
        Pointing overriding the header, given in degrees or sexagesimal
        (RA strings such as ``"12 30 00"`` are hours, see :mod:`rpf.coords`)
        and held in degrees; both or neither.
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

    SECTION: ClassVar[str] = "astrometry"

    mode: str = param("auto", choices=("auto", "header", "solve", "manual"))
    ra: float | None = param(None, kind="coordinate", axis="ra", unit="deg", minimum=0.0, maximum=360.0,
                             exclusive_maximum=True)
    dec: float | None = param(None, kind="coordinate", axis="dec", unit="deg", minimum=-90.0, maximum=90.0)
    pixel_scale: float | None = param(None, **PIXEL_SCALE)
    rotation_deg: float = param(0.0, unit="deg", minimum=-360.0, maximum=360.0)
    flip: bool = param(False)
    search_radius_deg: float = param(1.0, unit="deg", minimum=0.0, exclusive_minimum=True, maximum=180.0)
    scale_tolerance: float = param(0.1, minimum=0.0, exclusive_minimum=True, maximum=1.0, exclusive_maximum=True)
    index_dir: str = param("/usr/share/astrometry", kind="path")
    time_limit_s: float = param(60.0, unit="s", minimum=0.0, exclusive_minimum=True, maximum=86400.0)
    sip_order: int = param(2, minimum=0, maximum=5)
    refine: bool = param(True)
    pointing_solver: str = param("triangles", choices=("triangles", "astrometry.net"))

    def __post_init__(self) -> None:
        validate_section(self)
        require((self.ra is None) == (self.dec is None), "astrometry.ra" if self.dec is None else "astrometry.dec",
                self.ra if self.dec is None else self.dec, "astrometry.ra and astrometry.dec go together")


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
    service_down_s : float
        A service host that timed out or refused connections (after its
        retries) is not contacted again by this process for this many
        seconds: later queries fail at once and say why.  ``0`` always tries.
    match_radius_min_arcsec : float
        Smallest radius matching detections to the reference catalogue (the
        zero point's calibrators) and to the label services; the radius is
        ``max(3 * wcs_rms, 0.5 * fwhm)`` within these bounds
        (:func:`rpf.skymatch.match_radius_arcsec`).
    match_radius_max_arcsec : float
        Largest such radius (also the radius when neither the FWHM nor the
        WCS RMS is known).
    tycho2_dir : str
        Folder of the astrometry.net Tycho-2 index files (offline reference).
    gaia_url : str
        Gaia TAP sync end point (change it for a mirror or a local test server).
    simbad_url : str
        SIMBAD TAP sync end point.
    vizier_url : str
        VizieR VOTable end point (VSX, Milliquas).
    skybot_url : str
        SkyBoT cone-search end point.
    colibri_url : str
        Astro-Colibri cone-search end point.
    """

    SECTION: ClassVar[str] = "catalogs"

    reference: str = param("gaia_dr3", choices=("gaia_dr3", "tycho2", "file"))
    catalog_file: str | None = param(None, kind="path")
    offline: bool = param(False)
    crossmatch: tuple[str, ...] = param(SERVICES, choices=SERVICES)
    cache_dir: str = param("~/.cache/rpf/catalogs", kind="path")
    cache_expiry_days: float = param(30.0, unit="day", minimum=0.0, maximum=36500.0)
    timeout_s: float = param(10.0, unit="s", minimum=0.0, exclusive_minimum=True, maximum=600.0)
    retries: int = param(2, minimum=0, maximum=10)
    mag_limit: float = param(19.0, unit="mag", minimum=0.0, maximum=30.0)
    colibri_uid: str | None = param(None, secret=True)
    colibri_window_days: float = param(3.0, unit="day", minimum=0.0, maximum=365.0)
    mpc_code: str | None = param(None, pattern="[0-9A-Za-z]{3}", hint="three letters or digits")
    retry_backoff_s: float = param(1.0, unit="s", minimum=0.0, maximum=60.0)
    service_down_s: float = param(600.0, unit="s", minimum=0.0, maximum=86400.0)
    match_radius_min_arcsec: float = param(1.0, unit="arcsec", minimum=0.0, exclusive_minimum=True, maximum=600.0)
    match_radius_max_arcsec: float = param(10.0, unit="arcsec", minimum=0.0, exclusive_minimum=True, maximum=600.0)
    tycho2_dir: str = param("/usr/share/astrometry", kind="path")
    gaia_url: str = param("https://gea.esac.esa.int/tap-server/tap/sync", **URL)
    simbad_url: str = param("https://simbad.cds.unistra.fr/simbad/sim-tap/sync", **URL)
    vizier_url: str = param("https://vizier.cds.unistra.fr/viz-bin/votable", **URL)
    skybot_url: str = param("https://ssp.imcce.fr/webservices/skybot/api/conesearch.php", **URL)
    colibri_url: str = param("https://astro-colibri.science/cone_search", **URL)

    def __post_init__(self) -> None:
        validate_section(self)
        require(self.match_radius_min_arcsec <= self.match_radius_max_arcsec, "catalogs.match_radius_min_arcsec",
                self.match_radius_min_arcsec, f"must be <= catalogs.match_radius_max_arcsec "
                f"({self.match_radius_max_arcsec})")


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
    fit_color_term : bool or None
        Fit a colour term (``True``), never fit it and use ``color_term``
        (``False``), or decide per frame (``None``): fitted when the filter
        is unfiltered/broad or is not the reference band, or when a colour
        trend of the residuals is significant (BIC).
    color_term : float
        Fixed colour term when not fitted.
    spatial_order : int
        Order of the spatial zero-point polynomial (0 = constant).
    extinction_k : float or None
        Fixed extinction coefficient (mag/airmass); ``None`` absorbs it per frame.
    band : str or None
        Force the reference band instead of choosing it from the filter.
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

    SECTION: ClassVar[str] = "zeropoint"

    mag_range: tuple[float, float] = param((9.0, 19.0), unit="mag", minimum=-5.0, maximum=35.0)
    color_range: tuple[float, float] = param((-0.5, 3.5), unit="mag", minimum=-10.0, maximum=10.0)
    max_ruwe: float = param(1.4, minimum=0.0, exclusive_minimum=True, maximum=100.0)
    clip_sigma: float = param(3.0, **SIGMA)
    fit_color_term: bool | None = param(None)
    color_term: float = param(0.0, minimum=-10.0, maximum=10.0)
    spatial_order: int = param(0, minimum=0, maximum=3)
    extinction_k: float | None = param(None, unit="mag/airmass", minimum=0.0, maximum=5.0)
    band: str | None = param(None)
    isolation_arcsec: float = param(6.0, unit="arcsec", minimum=0.0, maximum=600.0)
    isolation_dmag: float = param(4.0, unit="mag", minimum=0.0, maximum=30.0)
    min_snr: float = param(10.0, minimum=0.0, maximum=1e6)
    robust: str = param("clip", choices=("clip", "huber"))
    max_iter: int = param(10, minimum=1, maximum=1000)
    min_stars: int = param(5, minimum=2, maximum=100000)

    def __post_init__(self) -> None:
        validate_section(self)
        bright, faint = self.mag_range
        require(bright < faint, "zeropoint.mag_range", self.mag_range, "must be (bright, faint) with bright < faint")
        blue, red = self.color_range
        require(blue < red, "zeropoint.color_range", self.color_range, "must be (blue, red) with blue < red")
