"""Checks of one uploaded or server-side input file (no Panel, no state).

Every rejected file raises :class:`rpf.errors.FrameError` naming the file and
the reason, so that the page can show one message per file while the other
files of the same upload go on.
"""

from __future__ import annotations

import re
from pathlib import Path

from rpf.errors import FrameError

__all__ = ["FITS_SUFFIXES", "check_fits_bytes", "inside_root", "safe_name"]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fz")
"""File names the inputs accept (case ignored)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(name: str) -> str:
    """Return a file name with no folder part and only portable characters.

    Raises
    ------
    FrameError
        Nothing usable is left of the name, or it is not a FITS file name.
    """
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).lstrip(".")
    if not base:
        raise FrameError(name, "rejected: the file name is empty")
    if not base.lower().endswith(FITS_SUFFIXES):
        raise FrameError(name, f"rejected: not a FITS file name (expected one of {', '.join(FITS_SUFFIXES)})")
    return base


def check_fits_bytes(name: str, head: bytes, size: int, *, max_bytes: int) -> None:
    """Reject a file that is too large or does not start like a FITS file.

    Parameters
    ----------
    name : str
        File name as the user gave it (for the message).
    head : bytes
        The first bytes of the file (at least 30 for a FITS check).
    size : int
        Its size in bytes.
    max_bytes : int
        The upload limit.

    Raises
    ------
    FrameError
        With a message a user understands.
    """
    if size > max_bytes:
        raise FrameError(name, f"rejected: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit")
    if size == 0:
        raise FrameError(name, "rejected: the file is empty")
    if head[:2] == b"\x1f\x8b":
        return
    if not (head.startswith(b"SIMPLE  =") and head[29:30] == b"T"):
        raise FrameError(name, "rejected: not a FITS file (it does not start with SIMPLE = T)")


def inside_root(path: str | Path, roots: tuple[Path, ...]) -> Path:
    """Return ``path`` resolved, if it lies inside one of the allowed server folders.

    Raises
    ------
    FrameError
        The path (after following links) is outside every root.
    """
    resolved = Path(path).expanduser().resolve()
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise FrameError(str(path), "not inside a server folder the dashboard may read")
    return resolved
