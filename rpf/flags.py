"""Bit flags of the ``flags`` column of ``<stem>_phot.csv``.

A source's ``flags`` is the bitwise OR of these values; ``0`` means clean.
"""

from __future__ import annotations

from enum import IntFlag

__all__ = ["UNRELIABLE", "SourceFlag"]


class SourceFlag(IntFlag):
    """Why a source's measurement may be less reliable."""

    SATURATED = 1
    """A pixel in the aperture reaches the saturation level."""
    EDGE = 2
    """Closer to the image edge than the border mask, or aperture off the image."""
    BLENDED = 4
    """Deblended from, or overlapping, another source."""
    COSMIC_RAY = 8
    """A pixel in the aperture was flagged as a cosmic-ray hit (and cleaned)."""
    BAD_PIXEL = 16
    """A masked pixel (bad flat, NaN, hot pixel) falls in the aperture."""
    CROWDED = 32
    """Another source lies within the local-background annulus."""
    PSF_FAILED = 64
    """The PSF fit did not converge or was rejected."""
    NO_WCS = 128
    """No astrometric solution: ``ra``/``dec`` are empty."""
    TRANSIENT_CANDIDATE = 256
    """Point-like, SNR > 10, no reference counterpart, not a known object."""
    EXTENDED = 512
    """Larger than the PSF (galaxy, blend or artefact)."""
    NO_COLOR = 1024
    """A colour term was applied but the source has no catalogue colour: the calibrators' median colour was used."""
    OFF_FRAME = 2048
    """A target's position falls outside the image (targets only)."""


UNRELIABLE = (
    SourceFlag.SATURATED
    | SourceFlag.EDGE
    | SourceFlag.BLENDED
    | SourceFlag.COSMIC_RAY
    | SourceFlag.BAD_PIXEL
    | SourceFlag.CROWDED
    | SourceFlag.EXTENDED
)
"""Flags that keep a source out of calibrator and PSF-star samples."""
