"""``rpf serve``: the dashboard on a Bokeh/Panel server, one Dask cluster for every session."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import panel as pn

from app.cluster import shared_cluster
from app.comms import guard_comm_messages
from app.models.session import Session
from app.options import ServeOptions, default_accounts_file
from app.views.layout import Dashboard
from rpf.config import load_config
from rpf.errors import RPFError
from rpf.pipeline.request import apply_run_options

__all__ = ["dashboard", "options_from_args", "serve", "serve_command"]

log = logging.getLogger("rpf.dashboard")

EXTENSIONS = ("tabulator", "filedropper")


def _show_error(exc: BaseException) -> None:
    """Panel's exception handler: a message in the page, the details in the server log only."""
    log.exception("dashboard callback failed", exc_info=exc)
    text = str(exc) if isinstance(exc, RPFError | OSError | ValueError) else f"{type(exc).__name__}: {exc}"
    if pn.state.notifications is not None:
        pn.state.notifications.error(f"Something went wrong: {text}", duration=8000)


def _extension() -> None:
    import holoviews as hv

    hv.extension("bokeh", logo=False)
    pn.extension(*EXTENSIONS, notifications=True, exception_handler=_show_error)
    guard_comm_messages()


def dashboard(options: ServeOptions | None = None) -> Dashboard:
    """Return a new dashboard session (one per browser tab or notebook cell).

    Its views come from ``Dashboard.__panel__`` (notebook) or
    ``Dashboard.template()`` (a served page); the Dask cluster is shared by
    every dashboard of the process.

    Examples
    --------
    >>> import app  # doctest: +SKIP
    >>> app.dashboard()  # in a notebook cell  # doctest: +SKIP
    """
    _extension()
    options = options or ServeOptions()
    cluster = shared_cluster(options.config.execution, scheduler=options.scheduler)
    return Dashboard(session=Session(options=options, cluster=cluster))


def served_page(options: ServeOptions) -> pn.template.BaseTemplate:
    """One browser session's page; its resources go when the tab closes."""
    board = dashboard(options)
    pn.state.on_session_destroyed(lambda _context: board.close())
    return board.template()


def options_from_args(args: argparse.Namespace) -> ServeOptions:
    """Build the server's options from ``rpf serve`` arguments (offline catalogues unless ``--online``)."""
    config = apply_run_options(
        load_config(args.config), offline=not args.online, scheduler=args.scheduler, workers=args.workers
    )
    extra = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    return ServeOptions(
        config=config,
        scheduler=args.scheduler,
        roots=tuple(Path(r) for r in args.root),
        max_upload_mb=args.max_upload_mb,
        demo_frames=args.demo_frames,
        demo_size=args.demo_size,
        accounts_file=Path(args.accounts) if args.accounts else default_accounts_file(),
        **extra,
    )


def serve(options: ServeOptions, *, address: str = "127.0.0.1", port: int = 5006, show: bool = False) -> None:
    """Serve the dashboard until interrupted (blocks).

    Parameters
    ----------
    options : ServeOptions
        Server-wide settings.
    address : str
        Interface to listen on (``0.0.0.0`` for every interface).
    port : int
        Port (0: any free port; the address is printed).
    show : bool
        Open a browser tab.
    """
    _extension()
    cluster = shared_cluster(options.config.execution, scheduler=options.scheduler)
    origins = [f"{address}:{port}", f"localhost:{port}"] if port else ["*"]
    try:
        pn.serve(
            {"/": lambda: served_page(options)},
            address=address,
            port=port,
            show=show,
            title="RPF",
            websocket_origin=origins,
            websocket_max_message_size=max(50, int(options.max_upload_mb) + 10) * 1024 * 1024,
            check_unused_sessions=2000,
            unused_session_lifetime=5000,
            liveness=True,
        )
    finally:
        cluster.close()


def serve_command(args: argparse.Namespace) -> int:
    """Run ``rpf serve`` from parsed arguments; return the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s rpf serve: %(message)s")
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    serve(options_from_args(args), address=args.address, port=args.port, show=args.show)
    return 0
