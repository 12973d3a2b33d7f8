"""The ``rpf`` command line (see CONTRACT.md for ``rpf run``)."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rpf import __version__
from rpf.config import PipelineConfig, load_config, option_type
from rpf.config.sky import SERVICES
from rpf.errors import ConfigError, RPFError
from rpf.pipeline.request import RunRequest, apply_run_options, build_request

__all__ = ["build_parser", "check_follow_up", "command", "config_from_args", "main", "request_from_args"]


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--bias", nargs="+", default=[], metavar="FILE", help="bias frames")
    p.add_argument("--dark", nargs="+", default=[], metavar="FILE", help="dark frames")
    p.add_argument("--flat", nargs="+", default=[], metavar="FILE", help="flat frames")
    p.add_argument("--catalog", metavar="FILE", help="local reference catalogue (Gaia DR3 column names)")
    p.add_argument("--ra", type=option_type("astrometry", "ra"),
                   help="approximate pointing RA (degrees, or hours as h:m:s / 'h m s')")
    p.add_argument("--dec", type=option_type("astrometry", "dec"), help="approximate pointing Dec (degrees or d:m:s)")
    p.add_argument("--pixel-scale", type=option_type("astrometry", "pixel_scale"), metavar="ARCSEC",
                   help="approximate pixel scale (arcsec/pixel)")
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786)")
    p.add_argument("--workers", type=option_type("execution", "n_workers"), metavar="N",
                   help="workers of the local cluster (default: one per core)")
    p.add_argument("--config", type=Path, metavar="FILE", help="pipeline parameters (TOML, YAML or JSON)")
    p.add_argument("--psf", action="store_true", help="PSF photometry as well as aperture photometry")
    p.add_argument("--manual-wcs", action="store_true", help="use --ra/--dec/--pixel-scale as the WCS itself")
    p.add_argument("--eager", action="store_true", help="run in this process without Dask (debugging)")
    p.add_argument("--force", action="store_true",
                   help="recompute every frame (default: reuse the results in --out whose provenance matches)")
    follow = p.add_argument_group("follow-up (docs/transients.md)")
    follow.add_argument("--target", action="append", default=[], metavar="RA,DEC[,NAME]",
                        help="a target measured in every frame (repeatable): a position, a SIMBAD or "
                             "Astro-Colibri name, or skybot:NAME for an asteroid")
    follow.add_argument("--targets", type=Path, metavar="FILE",
                        help="CSV of targets: name, ra, dec [, epoch, rate_ra, rate_dec in arcsec/h]")
    follow.add_argument("--template", type=Path, metavar="FILE",
                        help="calibrated template with a WCS: subtract it from every frame")
    follow.add_argument("--t0", type=option_type("transients", "t0"), metavar="TIME",
                        help="reference time of the report (ISO UTC date or MJD)")
    follow.add_argument("--limit-sigma", type=option_type("transients", "limit_sigma"), metavar="N",
                        help="significance of the upper limits (default 3)")


CATALOG_SERVICES = ("gaia_dr3", *SERVICES)
"""What ``rpf catalog fetch --services`` takes: the reference and the labelling services."""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``rpf`` command."""
    parser = argparse.ArgumentParser(prog="rpf", description="RAPAS Photometry Factory")
    parser.add_argument("--version", action="version", version=f"rpf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process science frames into calibrated catalogues")
    run.add_argument("science", nargs="+", help="raw science frames (FITS)")
    _add_run_options(run)
    run.add_argument("--stack", action="store_true",
                     help="also co-add the frames and process the stack (in this process, like rpf stack)")

    stack = sub.add_parser("stack", help="process a sequence, co-add it on its WCS and process the stack")
    stack.add_argument("science", nargs="+", help="raw science frames of one field (FITS)")
    _add_run_options(stack)

    demo = sub.add_parser("demo", help="simulate a night of frames and run the pipeline on it")
    demo.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    demo.add_argument("--frames", type=int, default=4, help="number of simulated frames")
    demo.add_argument("--size", type=int, default=1024, help="frame size in pixels")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--workers", type=option_type("execution", "n_workers"),
                      help="workers of the local cluster (default: one per core)")

    serve = sub.add_parser("serve", help="start the dashboard in the browser (needs the 'app' extra)")
    serve.add_argument("--port", type=int, default=5006, help="port (0: any free port)")
    serve.add_argument("--address", default="127.0.0.1", help="interface to listen on (0.0.0.0: all)")
    serve.add_argument("--config", type=Path, metavar="FILE", help="settings every session starts from")
    serve.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (tcp://host:8786)")
    serve.add_argument("--workers", type=option_type("execution", "n_workers"), metavar="N",
                       help="workers of the local cluster")
    serve.add_argument("--root", action="append", default=[], metavar="DIR", help="server folder to pick frames from")
    serve.add_argument("--data-dir", metavar="DIR", help="where sessions keep uploads and products")
    serve.add_argument("--max-upload-mb", type=float, default=200.0, metavar="MB", help="largest uploaded file")
    serve.add_argument("--demo-frames", type=int, default=4, metavar="N", help="frames of 'load demo frames'")
    serve.add_argument("--demo-size", type=int, default=1024, metavar="PX", help="size of the demo frames")
    serve.add_argument("--online", action="store_true", help="query online catalogues (default: offline)")
    serve.add_argument("--accounts", metavar="FILE",
                       help="accounts and their saved settings, SQLite (default: ~/.local/share/rpf/accounts.sqlite)")
    serve.add_argument("--show", action="store_true", help="open a browser tab")

    cfg = sub.add_parser("config", help="print or write the default configuration")
    cfg.add_argument("--write", type=Path, metavar="FILE", help="write it here (.toml, .yaml or .json)")

    _add_catalog_parser(sub)
    return parser


def _add_catalog_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``catalog`` command (with ``fetch``, ``list``, ``import``, ``clear``) to ``subparsers``."""
    parser = subparsers.add_parser("catalog", help="manage the catalogue cache (fetch, list, import, clear)")
    parser.add_argument("--config", type=Path, metavar="FILE", help="pipeline parameters (TOML, YAML or JSON)")
    parser.add_argument("--cache-dir", metavar="DIR", help="cache folder (default: catalogs.cache_dir)")
    actions = parser.add_subparsers(dest="catalog_command", required=True)

    fetch = actions.add_parser("fetch", help="fetch a field from the services into the cache")
    fetch.add_argument("--ra", type=option_type("astrometry", "ra"), required=True,
                       help="field centre RA (degrees, or hours as h:m:s)")
    fetch.add_argument("--dec", type=option_type("astrometry", "dec"), required=True,
                       help="field centre Dec (degrees or d:m:s)")
    fetch.add_argument("--radius", type=float, required=True, help="field radius (deg)")
    fetch.add_argument("--mjd", type=float, help="observation epoch (needed by skybot and colibri)")
    fetch.add_argument(
        "--services", default="gaia_dr3,simbad,vsx,milliquas",
        help=f"comma-separated, among {','.join(CATALOG_SERVICES)} (default: %(default)s)",
    )

    actions.add_parser("list", help="list the cached cones")

    imp = actions.add_parser("import", help="import a reference catalogue file as the Gaia DR3 cone it covers")
    imp.add_argument("file", type=Path, help="CSV, ECSV, FITS, VOTable or Parquet with Gaia DR3 column names")
    imp.add_argument("--ra", type=option_type("astrometry", "ra"),
                     help="cone centre RA (degrees or h:m:s; default: the file's centre)")
    imp.add_argument("--dec", type=option_type("astrometry", "dec"), help="cone centre Dec (degrees or d:m:s)")
    imp.add_argument("--radius", type=float, help="cone radius (deg; default: just covers the file)")

    clear = actions.add_parser("clear", help="delete cached cones")
    clear.add_argument("--service", help="only this service")
    clear.add_argument("--older-than", type=float, metavar="DAYS", help="only entries older than this")
    return parser


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """Merge ``--config`` with the command-line options (options win), as every front end does.

    Raises
    ------
    rpf.errors.ConfigError
        A bad configuration file or option value.
    """
    return apply_run_options(
        load_config(args.config),
        catalog=args.catalog,
        ra=args.ra,
        dec=args.dec,
        pixel_scale=args.pixel_scale,
        manual_wcs=args.manual_wcs,
        offline=args.offline,
        scheduler=args.scheduler,
        workers=args.workers,
        psf=args.psf,
        targets=args.target,
        targets_file=args.targets,
        template=args.template,
        t0=args.t0,
        limit_sigma=args.limit_sigma,
    )


def request_from_args(args: argparse.Namespace) -> RunRequest:
    """Return the validated run request of ``rpf run``'s frames and options.

    Raises
    ------
    rpf.errors.ConfigError
        A bad configuration file or option, or a missing calibration file.
    """
    request = RunRequest(science=tuple(args.science), out_dir=args.out, bias=tuple(args.bias),
                         dark=tuple(args.dark), flat=tuple(args.flat), config=config_from_args(args),
                         reuse=not getattr(args, "force", False))
    return request.validate()


def check_follow_up(config: PipelineConfig) -> None:
    """Fail early on bad targets, an unresolvable name, a bad T0 or a missing template.

    Raises
    ------
    ConfigError
        What is wrong (the command exits with status 2).
    """
    transients = config.transients
    if not (transients.targets or transients.targets_file or transients.template or transients.t0 is not None):
        return  # nothing to check: the follow-up's modules (reprojection, forced photometry) are not loaded
    from rpf.pipeline.transient_steps import parse_t0, run_targets

    parse_t0(transients.t0)
    run_targets(transients, config.catalogs)
    if transients.template and not Path(transients.template).is_file():
        raise ConfigError(f"template {transients.template}: file not found")


def _run(args: argparse.Namespace) -> int:
    from rpf.cli_progress import run_with_progress

    request = request_from_args(args)
    check_follow_up(request.config)
    if request.config.catalogs.catalog_file:
        from rpf.catalogs import read_catalog_file
        from rpf.errors import CatalogError

        try:
            read_catalog_file(request.config.catalogs.catalog_file)  # checked once, before any frame
        except CatalogError as exc:
            print(f"rpf: error: {exc}", file=sys.stderr)
            return 2
    return run_with_progress(request, eager=args.eager,
                             stack=args.command == "stack" or bool(getattr(args, "stack", False)))


def _demo(args: argparse.Namespace) -> int:
    from rpf.cli_progress import run_with_progress
    from rpf.simulate import write_demo_dataset

    raw = args.out / "raw"
    print(f"rpf demo: simulating {args.frames} frames of {args.size}x{args.size} px in {raw}", file=sys.stderr)
    paths = write_demo_dataset(raw, n_frames=args.frames, seed=args.seed, shape=(args.size, args.size))
    request = build_request(
        paths["science"],
        out_dir=args.out / "products",
        bias=paths["bias"],
        dark=paths["dark"],
        flat=paths["flat"],
        catalog=paths["catalog"],
        offline=True,
        workers=args.workers,
    )
    return run_with_progress(request)


PLUGINS = "rpf.commands"
"""Entry-point group of commands other packages add to ``rpf`` (the dashboard adds ``serve``)."""


def _plugin(name: str):
    """Return the command ``name`` another installed package registered, or raise ConfigError saying how to get it.

    ``rpf`` never imports the dashboard: ``rpf serve`` finds it through the
    ``rpf.commands`` entry points it declares (``pyproject.toml``).
    """
    from importlib.metadata import entry_points

    found = entry_points(group=PLUGINS, name=name)
    if not found:
        raise ConfigError(f"rpf {name}: the dashboard is not installed (pip install -e '.[app]', or scripts/setup.sh)")
    return next(iter(found)).load()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rpf`` command; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("run", "stack"):
            return _run(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "serve":
            return _plugin("serve")(args)
        if args.command == "config":
            if args.write:
                try:
                    PipelineConfig().save(args.write)
                except OSError as exc:
                    print(f"rpf: error: cannot write {args.write}: {exc.strerror or exc}", file=sys.stderr)
                    return 2
            else:
                import json

                print(json.dumps(PipelineConfig().to_dict(), indent=2))
            return 0
        if args.command == "catalog":
            from rpf.catalogs.cli import run_catalog_command

            return run_catalog_command(args)
    except ConfigError as exc:
        print(f"rpf: configuration error: {exc}", file=sys.stderr)
        return 2
    except RPFError as exc:
        print(f"rpf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rpf: interrupted", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def command() -> NoReturn:
    """Be the ``rpf`` program: run :func:`main` on the command line and exit with its status.

    A batch command (everything but ``serve``) leaves without tearing the
    interpreter down: freeing the scientific stack's modules (astropy's
    units, photutils, scipy, pandas, matplotlib, distributed) took 0.8-1 s
    on a 2-core machine, after the run had written, flushed and renamed its
    last product.  The exit handlers still run, then the logs and both
    streams are flushed; the status is :func:`main`'s.
    """
    status = main()
    if sys.argv[1:2] == ["serve"]:
        sys.exit(status)
    _leave(status)


def _leave(status: int) -> NoReturn:
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython: what a normal exit runs first
    if run_exit_handlers is not None:
        run_exit_handlers()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


if __name__ == "__main__":
    command()
