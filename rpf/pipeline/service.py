"""Entry point of the RPF container image: ``python -m rpf.pipeline.service ROLE [ARGS]``.

Roles: ``scheduler`` (``dask scheduler``), ``worker`` (``dask worker``,
joining ``$RPF_SCHEDULER`` when no address is given), ``dashboard`` (the
RPF web dashboard, ``panel serve $RPF_DASHBOARD_APP``).  The Dask Helm
chart's ``dask-scheduler``/``dask-worker`` commands are accepted too, and
any other command runs as given (``docker run rpf rpf run ...``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence

__all__ = ["main", "service_command"]

DEFAULT_SCHEDULER = "tcp://scheduler:8786"
DEFAULT_APP = "app/main.py"


def service_command(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> list[str]:
    """Return the command line a container role runs.

    Parameters
    ----------
    argv : sequence of str
        ``ROLE [ARGS...]``.
    env : mapping, optional
        Environment (default: ``os.environ``) giving ``RPF_SCHEDULER`` and
        ``RPF_DASHBOARD_APP``.

    Returns
    -------
    list of str
        The program and its arguments.
    """
    env = os.environ if env is None else env
    if not argv:
        argv = ["worker"]
    role, args = argv[0], list(argv[1:])
    scheduler = env.get("RPF_SCHEDULER", DEFAULT_SCHEDULER)
    if role in ("scheduler", "dask-scheduler"):
        return ["dask", "scheduler", *args]
    if role in ("worker", "dask-worker"):
        has_address = any(a.startswith(("tcp://", "tls://", "ucx://")) for a in args)
        return ["dask", "worker", *([] if has_address else [scheduler]), *args]
    if role == "dashboard":
        app = env.get("RPF_DASHBOARD_APP", DEFAULT_APP)
        return ["panel", "serve", app, "--address", "0.0.0.0", "--allow-websocket-origin", "*", *args]
    return [role, *args]


def main(argv: Sequence[str] | None = None) -> None:
    """Replace this process with the role's command (so signals reach it directly)."""
    command = service_command(sys.argv[1:] if argv is None else argv)
    program = shutil.which(command[0]) or command[0]
    os.execvp(program, command)


if __name__ == "__main__":
    main()
