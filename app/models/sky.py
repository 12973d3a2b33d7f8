"""Sky context of a frame: links to the archives, and whether Aladin Lite can be reached."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import quote

__all__ = ["ALADIN_HOST", "aladin_reachable", "sky_links"]

ALADIN_HOST = "aladin.cds.unistra.fr"
"""Where Aladin Lite and its DSS2 tiles come from."""

_CHECKS: dict[str, tuple[float, bool]] = {}
_LOCK = threading.Lock()


def sky_links(ra: float, dec: float, *, radius_arcsec: float = 5.0, fov_deg: float = 0.1) -> dict[str, str]:
    """Return SIMBAD, ESA Sky, VizieR and Aladin links centred on a position (ICRS degrees)."""
    target = quote(f"{ra:.6f} {dec:+.6f}")
    return {
        "SIMBAD": f"https://simbad.cds.unistra.fr/simbad/sim-coo?Coord={target}&CooFrame=ICRS"
        f"&Radius={radius_arcsec:g}&Radius.unit=arcsec",
        "ESA Sky": f"https://sky.esa.int/esasky/?target={target}&hips=DSS2+color&fov={fov_deg:g}&cooframe=J2000",
        "VizieR": f"https://vizier.cds.unistra.fr/viz-bin/VizieR-4?-c={target}&-c.rs={radius_arcsec:g}",
        "Aladin": f"https://{ALADIN_HOST}/AladinLite/?target={target}&fov={fov_deg:g}&survey=P%2FDSS2%2Fcolor",
    }


def aladin_reachable(*, timeout: float = 1.5, max_age: float = 300.0) -> bool:
    """Return True when this server can open a connection to the Aladin Lite site (cached for ``max_age`` s).

    Blocks up to ``timeout`` seconds: call it from a worker thread.  The
    page only embeds Aladin Lite when this is true, so that an offline
    machine shows a note instead of failed requests.
    """
    now = time.monotonic()
    with _LOCK:
        checked = _CHECKS.get(ALADIN_HOST)
    if checked is not None and now - checked[0] < max_age:
        return checked[1]
    try:
        with socket.create_connection((ALADIN_HOST, 443), timeout=timeout):
            reachable = True
    except OSError:
        reachable = False
    with _LOCK:
        _CHECKS[ALADIN_HOST] = (now, reachable)
    return reachable
