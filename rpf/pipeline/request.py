"""What to run: the one request the CLI, the Python API and the dashboard all build.

A :class:`RunRequest` names the science frames, the calibration frames, the
output folder and the configuration of a run; :func:`build_request` maps the
command line's options (``--ra``, ``--catalog``, ``--offline``, ...) onto the
configuration sections, so every front end gives them the same meaning.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpf.config import PipelineConfig
from rpf.errors import ConfigError

__all__ = ["RunRequest", "apply_run_options", "build_request", "check_out_dir"]

PathLike = str | os.PathLike[str]


def _paths(values: Sequence[PathLike] | PathLike) -> tuple[str, ...]:
    if isinstance(values, str | os.PathLike):
        return (os.fspath(values),)
    return tuple(os.fspath(v) for v in values)


@dataclass(frozen=True)
class RunRequest:
    """One run: frames, calibration frames, output folder and every parameter.

    Attributes
    ----------
    science : tuple of str
        Raw science frames, in the order of the run's events and summary.
    out_dir : str
        Products folder (per-frame products, ``run_summary.csv``, ...).
    bias, dark, flat : tuple of str
        Raw calibration frames; the masters are built once per run.
    config : PipelineConfig
        Every parameter; ``config.execution`` says where the run executes.
    lightcurves : bool
        Write ``lightcurves.csv`` when frames overlap.
    differential : bool
        Add ensemble differential magnitudes to the light curves.
    reuse : bool
        Reuse what an earlier run left in ``out_dir`` when its provenance
        matches: a frame's whole products, or its state after the last
        matching checkpoint (``docs/runs.md``); False (``rpf run --force``)
        recomputes everything.
    reuse_from : tuple of str
        Earlier output folders whose checkpoints may be resumed from too
        (searched after ``out_dir``): a dashboard re-runs frames with a
        changed parameter into a new folder, so that the two runs can be
        compared, and still computes only the steps whose inputs changed.

    Examples
    --------
    >>> request = RunRequest(science=("a.fits",), out_dir="out")
    >>> request.science, request.config.psf.enabled
    (('a.fits',), False)
    """

    science: tuple[str, ...]
    out_dir: str
    bias: tuple[str, ...] = ()
    dark: tuple[str, ...] = ()
    flat: tuple[str, ...] = ()
    config: PipelineConfig = field(default_factory=PipelineConfig)
    lightcurves: bool = True
    differential: bool = False
    reuse: bool = True
    reuse_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("science", "bias", "dark", "flat", "reuse_from"):
            object.__setattr__(self, name, _paths(getattr(self, name)))
        object.__setattr__(self, "out_dir", os.fspath(self.out_dir))

    def validate(self) -> RunRequest:
        """Check the request before anything runs; return it unchanged.

        A science frame that cannot be read is not an error here: it fails
        alone in the run, with its message, as the contract says.

        Raises
        ------
        rpf.errors.ConfigError
            No science frame; a science frame given twice; a calibration
            frame that does not exist; an output folder that cannot be used
            (:func:`check_out_dir`); a configuration that is not a
            :class:`~rpf.config.PipelineConfig`.  Frames whose file names
            give the same product stem are not an error: each gets a stem of
            its own (:func:`rpf.pipeline.stems.product_stems`).
        """
        if not self.science:
            raise ConfigError("run request: no science frames")
        if not isinstance(self.config, PipelineConfig):
            raise ConfigError(f"run request: config must be a PipelineConfig, not {type(self.config).__name__}")
        seen: dict[str, str] = {}
        for path in self.science:
            key = os.path.abspath(path)
            if key in seen:
                again = "" if seen[key] == path else f" (again as {path})"
                raise ConfigError(f"run request: {seen[key]} is given twice{again}")
            seen[key] = path
        missing = [p for p in (*self.bias, *self.dark, *self.flat) if not Path(p).is_file()]
        if missing:
            raise ConfigError(f"calibration file(s) not found: {', '.join(missing)}")
        if not self.out_dir:
            raise ConfigError("run request: no output folder")
        check_out_dir(self.out_dir)
        return self


def check_out_dir(path: PathLike) -> Path:
    """Check, before any frame runs, that products can be written to ``path``; create nothing.

    The folder, or the nearest folder above it that exists, must be a
    folder (not a file, not a symbolic-link loop) in which this process can
    create files.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    rpf.errors.ConfigError
        Naming the folder and the problem.
    """
    folder = Path(path)
    existing = folder
    while True:
        try:
            os.stat(existing)
            break
        except (FileNotFoundError, NotADirectoryError):
            if existing.is_symlink():
                raise ConfigError(f"output folder {path}: {existing} is a broken symbolic link") from None
            if existing.parent == existing:
                break
            existing = existing.parent
        except OSError as exc:
            raise ConfigError(f"output folder {path}: {exc.strerror or exc} ({existing})") from None
    if not existing.is_dir():
        what = "is a file" if existing == folder else f"is inside {existing}, which is a file"
        raise ConfigError(f"output folder {path} {what}")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        where = "" if existing == folder else f" (nor can it be created in {existing})"
        raise ConfigError(f"output folder {path} is not writable{where}: {exc.strerror or exc}") from None
    return folder


def apply_run_options(
    config: PipelineConfig,
    *,
    catalog: PathLike | None = None,
    ra: str | float | None = None,
    dec: str | float | None = None,
    pixel_scale: float | None = None,
    manual_wcs: bool = False,
    offline: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    psf: bool = False,
    targets: Sequence[str] = (),
    targets_file: PathLike | None = None,
    template: PathLike | None = None,
    t0: str | None = None,
    limit_sigma: float | None = None,
) -> PipelineConfig:
    """Return ``config`` with ``rpf run``'s options applied (options win; None/False leave a field as it is).

    ``catalog`` sets ``catalogs.catalog_file`` with ``catalogs.reference =
    "file"``; ``ra, dec`` set ``astrometry.ra/dec``; ``pixel_scale`` sets
    ``astrometry.pixel_scale`` and ``header.pixel_scale``; ``manual_wcs`` sets
    ``astrometry.mode = "manual"``; ``offline`` sets ``catalogs.offline``;
    ``scheduler`` and ``workers`` set ``execution.scheduler/n_workers``;
    ``psf`` sets ``psf.enabled``; ``targets`` are appended to
    ``transients.targets``; ``targets_file, template, t0, limit_sigma`` set the
    ``transients`` fields of those names.

    Raises
    ------
    rpf.errors.ConfigError
        A bad value (its message names the field).
    """
    changes: dict[str, dict[str, Any]] = {}
    astrometry = {k: v for k, v in (("ra", ra), ("dec", dec), ("pixel_scale", pixel_scale)) if v is not None}
    if manual_wcs:
        astrometry["mode"] = "manual"
    if astrometry:
        changes["astrometry"] = astrometry
    if pixel_scale is not None:
        changes["header"] = {"pixel_scale": pixel_scale}
    catalogs: dict[str, Any] = {}
    if catalog is not None:
        catalogs.update(catalog_file=os.fspath(catalog), reference="file")
    if offline:
        catalogs["offline"] = True
    if catalogs:
        changes["catalogs"] = catalogs
    execution: dict[str, Any] = {}
    if scheduler:
        execution["scheduler"] = scheduler
    if workers is not None:
        execution["n_workers"] = workers
    if execution:
        changes["execution"] = execution
    if psf:
        changes["psf"] = {"enabled": True}
    transients: dict[str, Any] = {}
    if targets:
        transients["targets"] = (*config.transients.targets, *targets)
    for key, value in (("targets_file", targets_file), ("template", template)):
        if value is not None:
            transients[key] = os.fspath(value)
    for key, value in (("t0", t0), ("limit_sigma", limit_sigma)):
        if value is not None:
            transients[key] = value
    if transients:
        changes["transients"] = transients
    return config.replace(**changes) if changes else config


def build_request(
    science: Sequence[PathLike] | PathLike,
    *,
    out_dir: PathLike,
    bias: Sequence[PathLike] = (),
    dark: Sequence[PathLike] = (),
    flat: Sequence[PathLike] = (),
    config: PipelineConfig | None = None,
    lightcurves: bool = True,
    differential: bool = False,
    reuse: bool = True,
    **options: Any,
) -> RunRequest:
    """Return the validated request of ``rpf run``'s frames and options; options win over ``config``.

    Parameters
    ----------
    science : sequence of path
        Raw science frames.
    out_dir : path
        Products folder.
    bias, dark, flat : sequence of path
        Raw calibration frames.
    config : PipelineConfig, optional
        Every parameter (``--config``); defaults when omitted.
    lightcurves, differential, reuse : bool
        See :class:`RunRequest`.
    **options
        The command line's options, as :func:`apply_run_options` takes them
        (``catalog, ra, dec, pixel_scale, manual_wcs, offline, scheduler,
        workers, psf, targets, targets_file, template, t0, limit_sigma``).

    Returns
    -------
    RunRequest
        Validated.

    Raises
    ------
    rpf.errors.ConfigError
        See :meth:`RunRequest.validate`; a bad option value names its field.
    """
    request = RunRequest(
        science=_paths(science),
        out_dir=os.fspath(out_dir),
        bias=_paths(bias),
        dark=_paths(dark),
        flat=_paths(flat),
        config=apply_run_options(config or PipelineConfig(), **options),
        lightcurves=lightcurves,
        differential=differential,
        reuse=reuse,
    )
    return request.validate()
