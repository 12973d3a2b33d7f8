"""Checks made before a file is opened or an image reaches native code.

:func:`check_input_file` rejects anything that is not a readable, non-empty
regular file without opening it (a named pipe would block the reader for
ever); :func:`check_frame_shape` rejects images too small for the stages'
native libraries, with a message naming the file and the shape.
"""

from __future__ import annotations

import os
from pathlib import Path

from rpf.config import PipelineConfig
from rpf.cosmics import MIN_SIDE as COSMICS_MIN_SIDE
from rpf.errors import FrameError
from rpf.input_files import input_file_problem

__all__ = ["check_frame_shape", "check_input_file", "minimum_frame_side"]


def check_input_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if it is a readable, non-empty regular file; never open it.

    Symbolic links are followed.  Use it on science and calibration frames
    and uploads before any reader sees them (catalogue files use
    :func:`rpf.input_files.input_file_problem` directly).

    Parameters
    ----------
    path : str or os.PathLike
        The file to check.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path` (not resolved).

    Raises
    ------
    rpf.errors.FrameError
        Missing file, broken symbolic link or link loop, directory, named
        pipe, socket, device, empty (0-byte) or unreadable file; the message
        names the file and the problem.
    """
    problem = input_file_problem(path)
    if problem is not None:
        raise FrameError(str(path), problem)
    return Path(path)


def minimum_frame_side(config: PipelineConfig) -> int:
    """Return the smallest height and width the per-frame stages can process.

    L.A.Cosmic (astroscrappy) corrupts memory below
    :data:`rpf.cosmics.MIN_SIDE` pixels, and detection needs at least one
    pixel ``detection.border_px`` away from every edge.
    """
    cosmics = COSMICS_MIN_SIDE if config.cosmics.enabled else 1
    return max(cosmics, 2 * config.detection.border_px + 1)


def check_frame_shape(shape: tuple[int, ...], *, path: str | os.PathLike[str], min_side: int) -> None:
    """Raise :class:`~rpf.errors.FrameError` if the image's height or width is below ``min_side``.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the image.
    path : str or os.PathLike
        The file it came from (named in the message).
    min_side : int
        Smallest height and width allowed (see :func:`minimum_frame_side`).
    """
    ny, nx = (int(n) for n in shape[-2:])
    if min(ny, nx) < min_side:
        raise FrameError(
            str(path),
            f"image too small: {nx}x{ny} px (width x height); at least {min_side}x{min_side} px are needed "
            f"(L.A.Cosmic needs {COSMICS_MIN_SIDE} px, detection 2 x detection.border_px + 1)",
        )
