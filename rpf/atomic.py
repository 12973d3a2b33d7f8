"""Atomic file writing: a file is either complete under its final name or absent.

The one way RPF writes a file that someone may read while it is written or
after a crash: every product, the catalogue cache, the run summary, the
light curves, the night's extinction and the simulator's frames go through
:func:`atomic_path` (a test checks that nothing else in ``rpf`` renames
temporary files into place).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_atomic"]

_MODE = 0o644


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Write the product to the yielded path (any writer, any number of
    opens).  When the block ends normally the file is flushed to disk
    (``fsync``) and renamed over ``path`` with :func:`os.replace`; when the
    block raises, the temporary file is removed and ``path`` is untouched.
    A process killed mid-write leaves at most a hidden ``.<name>.*.part``
    file, never a partial file under the final name.

    Parameters
    ----------
    path : str or os.PathLike
        Final file name; its directory is created if needed.

    Yields
    ------
    pathlib.Path
        Temporary file in the same directory, with the same suffix.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".part{final.suffix}", dir=final.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, _MODE)
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(final.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Write ``data`` (``str`` is UTF-8 encoded) to ``path`` atomically and return the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    with atomic_path(path) as temporary:
        temporary.write_bytes(payload)
    return Path(path)
