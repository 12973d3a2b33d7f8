"""Each run owns its output folder: a lock while it runs, a manifest of what it wrote, no stale product.

:func:`lock_output` serialises runs into one folder: a second run (another
process, or another thread of this one) is refused with a message naming
the run that holds the folder.  The lock is an advisory ``flock`` on
``.rpf/lock``, released by the system when its process dies, so a killed
run never leaves the folder locked.

:func:`write_manifest` ends a run: every file an earlier run wrote there
that this run did not write or reuse (the products of a frame not in this
run, or of a frame that now failed; an old ``lightcurves.csv``) is moved to
``.rpf/superseded/<run id of this run>/``, so nothing left in the folder
looks current that this run did not produce, and nothing is lost; then
``manifest.json`` lists every file of the run with its size and SHA-256.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rpf import __version__
from rpf.atomic import write_atomic
from rpf.errors import ConfigError

if TYPE_CHECKING:
    from rpf.pipeline.state import FrameResult

__all__ = ["FRAME_SUFFIXES", "MANIFEST", "RUN_FILES", "file_digest", "lock_output", "utc_now", "write_manifest"]

MANIFEST = "manifest.json"
"""The run's manifest, in the output folder."""

RUN_FILES = ("run_summary.csv", "night_quality.csv", "lightcurves.csv", "extinction.json", "targets.csv",
             "report.txt", "report.json", "run_timings.json")
"""Run products: one of them that a run did not write is an earlier run's, and is moved away."""

FRAME_SUFFIXES = ("_phot.csv", "_phot.ecsv", "_metadata.json", "_wcs.fits", "_header.txt", "_wcs_header.txt", ".log",
                  "_image.png", "_zero_point.png", "_psf.fits", "_psf.png", "_results.zip", "_calibrated.fits",
                  "_transients.csv", "_targets.csv", "_candidates.csv", "_difference.fits")
"""Frame products (``<stem><suffix>``)."""

_PRIVATE = ".rpf"
_CHUNK = 1 << 22


def file_digest(path: str | Path) -> str:
    """Return the SHA-256 of a file's content (hex).

    Raises
    ------
    OSError
        The file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    """Return the current time, ISO 8601 UTC, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def lock_output(out_dir: str | Path, *, run_id: str) -> Iterator[Path]:
    """Hold the output folder for one run (created if needed); refuse if another run holds it.

    Parameters
    ----------
    out_dir : str or Path
        The run's output folder.
    run_id : str
        Written into the lock file, for the message another run gets.

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    rpf.errors.ConfigError
        Another run writes to the folder (its run id and process named), or
        the folder cannot be created.
    """
    private = Path(out_dir) / _PRIVATE
    try:
        private.mkdir(parents=True, exist_ok=True)
        fd = os.open(private / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError(f"output folder {out_dir}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another run"
            raise ConfigError(f"output folder {out_dir} is in use by {holder}: wait for it to finish, "
                              "or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"run {run_id} (process {os.getpid()}, since {utc_now()})".encode(), 0)
        try:
            yield private / "lock"
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _previous(out_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _owned(out_dir: Path, previous: Mapping[str, Any], stems: Iterable[str]) -> set[str]:
    """Names of the files in the folder an RPF run wrote: the previous manifest's, this run's frames', run products."""
    names = {str(f.get("name")) for f in previous.get("files", ()) if isinstance(f, dict)}
    names.update(RUN_FILES)
    for stem in stems:
        names.update(f"{stem}{suffix}" for suffix in FRAME_SUFFIXES)
    return {n for n in names if n and "/" not in n and n not in (MANIFEST, "") and (out_dir / n).is_file()}


def _supersede(out_dir: Path, names: Iterable[str], run_id: str) -> list[str]:
    """Move earlier runs' files out of the way (the previous run's superseded files are dropped)."""
    names = sorted(names)
    target = out_dir / _PRIVATE / "superseded"
    shutil.rmtree(target, ignore_errors=True)
    if names:
        (target / run_id).mkdir(parents=True, exist_ok=True)
    for name in names:
        os.replace(out_dir / name, target / run_id / name)
    return names


def _entry(path: Path, out_dir: Path, frame: str | None, known: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    stat = path.stat()
    name = path.relative_to(out_dir).as_posix()
    old = known.get(name, {})
    same = old.get("size") == stat.st_size and old.get("mtime_ns") == stat.st_mtime_ns and old.get("sha256")
    return {"name": name, "frame": frame, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sha256": old["sha256"] if same else file_digest(path)}


def write_manifest(
    out_dir: str | Path,
    *,
    run_id: str,
    started: str,
    results: Mapping[int, FrameResult],
    paths: list[str],
    stems: Mapping[str, str],
    run_files: Iterable[str | Path],
    details: Mapping[str, Any] | None = None,
) -> tuple[Path, list[str]]:
    """Move earlier runs' files out of the folder and write ``manifest.json``.

    Parameters
    ----------
    out_dir : str or Path
        The output folder.
    run_id, started : str
        The run's identifier and start time (ISO UTC).
    results : mapping of int to FrameResult
        The frames that finished (by index in ``paths``), reused ones included.
    paths : list of str
        Every frame of the run.
    stems : mapping
        ``path -> product stem``.
    run_files : iterable of path
        The run products this run wrote.
    details : mapping, optional
        More keys for the manifest (messages, masters error, frames lost).

    Returns
    -------
    manifest : Path
        ``manifest.json``.
    superseded : list of str
        The names moved to ``.rpf/superseded/<run_id>/``.
    """
    out_dir = Path(out_dir).resolve()
    previous = _previous(out_dir)
    frame_of: dict[Path, str | None] = {}
    for result in results.values():
        for product in result.products.values():
            frame_of[Path(product).resolve()] = result.path
    for product in run_files:
        frame_of[Path(product).resolve()] = None
    keep = {p.name for p in frame_of if p.parent == out_dir}
    superseded = _supersede(out_dir, _owned(out_dir, previous, [*stems.values(), *_stems(previous)]) - keep, run_id)
    known = {str(f.get("name")): f for f in previous.get("files", ()) if isinstance(f, dict)}
    files = [_entry(p, out_dir, frame, known) for p, frame in sorted(frame_of.items())
             if p.is_file() and p.is_relative_to(out_dir)]
    frames = []
    for index, path in enumerate(paths):
        result = results.get(index)
        meta = result.metadata if result is not None else {}
        frames.append({"path": path, "stem": stems.get(path), "status": meta.get("status", "cancelled"),
                       "reused_stages": meta.get("reused_stages", []), "provenance": meta.get("provenance", {})})
    manifest = {"run_id": run_id, "started": started, "finished": utc_now(), "software_version": __version__,
                "frames": frames, "files": files, "superseded": superseded, **dict(details or {})}
    return write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n"), superseded


def _stems(previous: Mapping[str, Any]) -> list[str]:
    return [str(f["stem"]) for f in previous.get("frames", ()) if isinstance(f, dict) and f.get("stem")]
