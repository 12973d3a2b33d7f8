"""Python warnings (astropy's above all) collected for the frame that raised them.

A warning printed on stderr by astropy does not say which file it is about.
Inside :func:`capture_warnings` the warnings raised by the current thread
are collected instead, so that the caller can write them to that frame's
log with its file name.  Other threads are untouched: frames processed in
threads of one process each collect their own.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["capture_warnings"]

_local = threading.local()
_lock = threading.Lock()
_previous: Callable[..., Any] = warnings.showwarning


def _route(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """``warnings.showwarning`` replacement: into the thread's innermost collector, else as before."""
    sinks = getattr(_local, "sinks", None)
    if not sinks:
        _previous(message, category, filename, lineno, file, line)
        return
    text = f"{category.__name__}: {' '.join(str(message).split())}"
    if text not in sinks[-1]:
        sinks[-1].append(text)


def _install() -> None:
    """Put :func:`_route` in front of the current ``warnings.showwarning`` (again if it was replaced)."""
    global _previous
    with _lock:
        if warnings.showwarning is not _route:
            _previous = warnings.showwarning
            warnings.showwarning = _route


@contextmanager
def capture_warnings() -> Iterator[list[str]]:
    """Collect the warnings this thread raises inside the block.

    Yields
    ------
    list of str
        Filled as warnings arrive: ``"<Category>: <message>"`` (whitespace
        collapsed, each distinct text once).  They are not shown on stderr.

    Examples
    --------
    >>> import warnings
    >>> with capture_warnings() as caught:
    ...     warnings.warn("odd header card", UserWarning)
    >>> caught
    ['UserWarning: odd header card']
    """
    _install()
    sinks = getattr(_local, "sinks", None)
    if sinks is None:
        sinks = _local.sinks = []
    collected: list[str] = []
    sinks.append(collected)
    try:
        yield collected
    finally:
        sinks.pop()
