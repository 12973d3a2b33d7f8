"""Is a path a file that can be read? Answered without opening it.

A named pipe among the inputs would block its reader for ever; a directory,
socket, device or broken link gives an obscure error deep in a reader.
This module sits below every layer (stages and catalogues alike):
:func:`rpf.io.check_input_file` raises on its answer for frames, and
:func:`rpf.catalogs.read_catalog_file` for catalogue files.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["input_file_problem"]

_KINDS = (
    (stat.S_ISDIR, "a directory, not a file"),
    (stat.S_ISFIFO, "a named pipe (FIFO), not a regular file: it is not opened"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
    (stat.S_ISCHR, "a character device, not a regular file"),
    (stat.S_ISBLK, "a block device, not a regular file"),
)


def _missing(path: str | os.PathLike[str]) -> str:
    try:
        os.lstat(path)
    except OSError:
        return "file not found"
    return f"broken symbolic link (it points to {os.readlink(path)!r}, which does not exist)"


def input_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Return what makes ``path`` unusable as an input file, or None for a readable, non-empty regular file.

    Symbolic links are followed; nothing is opened.

    Parameters
    ----------
    path : str or os.PathLike
        The file to check.

    Returns
    -------
    str or None
        ``"file not found"``, ``"broken symbolic link (...)"``,
        ``"symbolic link loop"``, ``"a directory, not a file"``, ``"a named
        pipe (FIFO), not a regular file: it is not opened"``, ``"a socket,
        ..."``, ``"a character device, ..."``, ``"empty file (0 bytes)"``,
        ``"not readable (permission denied)"``, ... or None.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return _missing(path)
    except PermissionError:
        return "permission denied (a folder on the way cannot be searched)"
    except OSError as exc:
        return "symbolic link loop" if exc.errno == errno.ELOOP else f"cannot be inspected ({exc.strerror})"
    for test, problem in _KINDS:
        if test(info.st_mode):
            return problem
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size == 0:
        return "empty file (0 bytes)"
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None
