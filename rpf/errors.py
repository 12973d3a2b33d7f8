"""Typed errors raised by RPF stages.

Every stage raises one of these instead of returning ``None``.  Errors that
concern one input file carry its path so that the message always names the
file and the problem.
"""

from __future__ import annotations

__all__ = [
    "AstrometryError",
    "CalibrationError",
    "CatalogError",
    "ConfigError",
    "FrameError",
    "IndexFileError",
    "PhotometryError",
    "ProductError",
    "RPFError",
    "ServiceTimeout",
    "ServiceUnavailable",
    "ZeroPointError",
]


class RPFError(Exception):
    """Base class of every error RPF raises on purpose."""


class ConfigError(RPFError, ValueError):
    """An invalid configuration value or file."""


class FrameError(RPFError):
    """A frame that cannot be read or processed.

    Parameters
    ----------
    path : str
        The file concerned (may be empty when the data came from memory).
    problem : str
        What is wrong, in words a user understands.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class CalibrationError(FrameError):
    """A master calibration frame cannot be built or applied."""


class PhotometryError(RPFError):
    """Detection or photometry failed on a frame."""


class AstrometryError(RPFError):
    """No valid astrometric solution could be found or verified."""


class ZeroPointError(RPFError):
    """The photometric zero point could not be determined."""


class CatalogError(RPFError):
    """A catalogue service or file failed."""


class ProductError(RPFError):
    """An output product cannot be written (unsupported value, missing input file)."""


class ServiceUnavailable(CatalogError):
    """A remote service answered with an error or could not be reached."""


class ServiceTimeout(ServiceUnavailable):
    """A remote service did not answer within its time limit."""


class IndexFileError(AstrometryError, CatalogError):
    """astrometry.net index files (e.g. the offline Tycho-2 stars) are missing or unreadable."""
