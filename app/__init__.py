"""The RPF Panel dashboard (param models, views, server).

``rpf serve`` starts it; ``panel serve app/main.py`` does the same through
Panel's own command; in a notebook ``app.dashboard()`` displays it.  Models
(:mod:`app.models`) hold the state without Panel; views (:mod:`app.views`)
are ``pn.viewable.Viewer`` objects built from them.  Names are imported on
first use, so ``import app`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["dashboard"]


def dashboard(*args: Any, **kwargs: Any) -> Any:
    """Return a new dashboard (see :func:`app.server.dashboard`)."""
    from app.server import dashboard as make

    return make(*args, **kwargs)
