"""The one HTTP client of RPF: time limits, bounded retries, typed errors.

Every remote request of the catalogue layer goes through :func:`request`.
A request that times out, cannot connect or gets a 5xx answer is retried
``retries`` times with exponential backoff; then a
:class:`~rpf.errors.ServiceTimeout` or :class:`~rpf.errors.ServiceUnavailable`
is raised whose message says what happened (``timeout after 10 s``,
``HTTP 500``).  Request bodies (which may carry an API key) never appear in
messages or logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import requests

from rpf import __version__
from rpf.errors import ServiceTimeout, ServiceUnavailable

__all__ = ["request"]

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_HEADERS = {"User-Agent": f"rpf/{__version__} (RAPAS Photometry Factory)"}


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

    Returns
    -------
    bytes
        The body of a 2xx answer.

    Raises
    ------
    ServiceTimeout
        Every attempt timed out.
    ServiceUnavailable
        The service could not be reached or kept answering with an error.
    """
    error: ServiceUnavailable | None = None
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff_s * 2 ** (attempt - 1)
            log.info("%s: retry %d/%d in %.2g s (%s)", service, attempt, retries, delay, error)
            time.sleep(delay)
        try:
            response = _attempt(method, url, params=params, data=data, json_body=json_body, timeout_s=timeout_s)
        except requests.Timeout:
            error = ServiceTimeout(f"{service}: timeout after {timeout_s:g} s")
            continue
        except requests.RequestException as exc:
            error = ServiceUnavailable(f"{service}: cannot connect ({type(exc).__name__})")
            continue
        if response.status_code in _RETRY_STATUS:
            error = ServiceUnavailable(f"{service}: HTTP {response.status_code} {response.reason}")
            continue
        if not response.ok:
            raise ServiceUnavailable(f"{service}: HTTP {response.status_code} {response.reason}")
        return response.content
    assert error is not None
    raise error
