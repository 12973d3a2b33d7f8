"""The one HTTP client of RPF: time limits, bounded retries, typed errors, a memory of dead services.

Every remote request of the catalogue layer goes through :func:`request`.
A request that times out, cannot connect or gets a 5xx answer is retried
``retries`` times with exponential backoff; then a
:class:`~rpf.errors.ServiceTimeout` or :class:`~rpf.errors.ServiceUnavailable`
is raised whose message says what happened (``timeout after 10 s``,
``HTTP 500``).  Request bodies (which may carry an API key) never appear in
messages or logs.

A host that timed out or refused the connection on a request's last attempt
is remembered, in this process, as down for ``down_s`` seconds (a circuit
breaker): requests to it during that time fail at once, with a message
saying since when and why, instead of each waiting for its own timeouts.
A host that answers, even with an error, is not marked down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from rpf import __version__
from rpf.errors import ServiceTimeout, ServiceUnavailable

__all__ = ["forget_down_hosts", "request"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_HEADERS = {"User-Agent": f"rpf/{__version__} (RAPAS Photometry Factory)"}


@dataclass(frozen=True)
class _Down:
    """When a host was last found unreachable, and how."""

    since: float
    reason: str
    timed_out: bool


_down: dict[str, _Down] = {}
_down_lock = threading.Lock()


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _check_down(host: str, *, service: str, down_s: float) -> None:
    """Raise at once if ``host`` failed less than ``down_s`` seconds ago."""
    with _down_lock:
        down = _down.get(host)
    if down is None:
        return
    age = time.monotonic() - down.since
    if age >= down_s:
        return
    error = ServiceTimeout if down.timed_out else ServiceUnavailable
    msg = (
        f"{service}: not contacted: {host} failed {age:.0f} s ago ({down.reason}); "
        f"it is tried again after catalogs.service_down_s = {down_s:g} s"
    )
    raise error(msg)


def _mark(host: str, error: ServiceUnavailable | None, *, service: str) -> None:
    """Remember ``host`` as down after a timeout or connection failure; forget it after an answer."""
    with _down_lock:
        if error is None:
            _down.pop(host, None)
            return
        reason = str(error).removeprefix(f"{service}: ")
        _down[host] = _Down(time.monotonic(), reason, isinstance(error, ServiceTimeout))
    log.warning("%s: %s marked down (%s)", service, host, reason)


def forget_down_hosts() -> None:
    """Forget every host marked down in this process (the next request tries them again)."""
    with _down_lock:
        _down.clear()


def _attempt(method: str, url: str, *, params, data, json_body, timeout_s: float) -> requests.Response:
    return requests.request(
        method, url, params=params, data=data, json=json_body, timeout=timeout_s, headers=_HEADERS
    )


def request(
    method: str,
    url: str,
    *,
    service: str,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    json_body: Any = None,
    down_s: float = 0.0,
) -> bytes:
    """Send one HTTP request with retries and return the response body.

    Parameters
    ----------
    method : str
        ``"GET"`` or ``"POST"``.
    url : str
        End point.
    service : str
        Service name used in messages.
    timeout_s : float
        Time limit of each attempt (connection and each read).
    retries : int
        Extra attempts after a timeout, connection failure or 5xx/429 answer.
    backoff_s : float
        Delay before the first retry; doubled before each further one.
    params, data, json_body
        Query string, form body or JSON body.
    down_s : float
        After a final timeout or connection failure, the host is treated
        as down for this many seconds: requests to it raise at once.
        ``0`` disables this memory.

    Returns
    -------
    bytes
        The body of a 2xx answer.

    Raises
    ------
    ServiceTimeout
        Every attempt timed out.
    ServiceUnavailable
        The service could not be reached or kept answering with an error,
        or its host was marked down less than ``down_s`` seconds ago.
    """
    host = _host(url)
    _check_down(host, service=service, down_s=down_s)
    error: ServiceUnavailable | None = None
    unreachable = False
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff_s * 2 ** (attempt - 1)
            log.info("%s: retry %d/%d in %.2g s (%s)", service, attempt, retries, delay, error)
            time.sleep(delay)
        try:
            response = _attempt(method, url, params=params, data=data, json_body=json_body, timeout_s=timeout_s)
        except requests.Timeout:
            error, unreachable = ServiceTimeout(f"{service}: timeout after {timeout_s:g} s"), True
            continue
        except requests.RequestException as exc:
            error, unreachable = ServiceUnavailable(f"{service}: cannot connect ({type(exc).__name__})"), True
            continue
        unreachable = False
        if response.status_code in _RETRY_STATUS:
            error = ServiceUnavailable(f"{service}: HTTP {response.status_code} {response.reason}")
            continue
        _mark(host, None, service=service)
        if not response.ok:
            raise ServiceUnavailable(f"{service}: HTTP {response.status_code} {response.reason}")
        return response.content
    assert error is not None
    if unreachable and down_s > 0:
        _mark(host, error, service=service)
    raise error
