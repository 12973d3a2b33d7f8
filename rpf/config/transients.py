"""Configuration section of the follow-up steps: targets, limits, stacks and template subtraction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rpf.config.fields import param, validate_section

__all__ = ["TransientsConfig"]

_SIGMA = {"minimum": 1.0, "maximum": 100.0}


@dataclass(frozen=True)
class TransientsConfig:
    """Targets measured in every frame, their limits, stacks and template subtraction.

    Attributes
    ----------
    targets : tuple of str
        Targets as ``"RA,DEC[,name]"`` (RA in degrees or sexagesimal hours),
        a name resolved by SIMBAD or Astro-Colibri, or ``"skybot:<name>"``
        for a solar-system object located in each frame.
    targets_file : str or None
        CSV file of targets (``name, ra, dec`` and for a moving target
        ``epoch, rate_ra, rate_dec`` in arcsec per hour).
    template : str or None
        Calibrated template image with a WCS: each frame gets a difference
        image, its candidates and the targets' forced photometry on it.
    t0 : str or None
        Reference time of the report (trigger or discovery): ISO UTC date or MJD.
    limit_sigma : float
        Significance of the upper limits (from the local noise at the target).
    detection_sigma : float
        Significance from which a target counts as detected.
    aperture_fwhm : float
        Radius of the forced-photometry aperture in FWHM (its aperture
        correction is the frame's when it is one of ``aperture.radii_fwhm``).
    difference_sigma : float
        Detection threshold on the difference image.
    kernel_poly_order : int
        Spatial order of the subtraction kernel (0: the same kernel everywhere).
    background_poly_order : int
        Spatial order of the differential background of the subtraction.
    stack_clip_sigma : float
        Clipping of the stack (in each pixel's own noise).
    stack_resample : str
        Resampling of the frames onto the stack's grid (nearest-neighbour keeps the noise white).
    """

    SECTION: ClassVar[str] = "transients"

    targets: tuple[str, ...] = param(())
    targets_file: str | None = param(None, kind="path")
    template: str | None = param(None, kind="path")
    t0: str | None = param(None, pattern=r"\S.*", hint="an ISO UTC date or an MJD")
    limit_sigma: float = param(3.0, **_SIGMA)
    detection_sigma: float = param(3.0, **_SIGMA)
    aperture_fwhm: float = param(1.0, unit="FWHM", minimum=0.3, maximum=5.0)
    difference_sigma: float = param(5.0, minimum=2.0, maximum=100.0)
    kernel_poly_order: int = param(1, minimum=0, maximum=3)
    background_poly_order: int = param(1, minimum=0, maximum=3)
    stack_clip_sigma: float = param(3.0, **_SIGMA)
    stack_resample: str = param("nearest-neighbor", choices=("nearest-neighbor", "bilinear", "bicubic"))

    def __post_init__(self) -> None:
        validate_section(self)
