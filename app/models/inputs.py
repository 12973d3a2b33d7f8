"""The frames a session will process: uploads, server folders and the demo night."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path

import param

from app.models.uploads import check_fits_bytes, inside_root, safe_name
from rpf.errors import FrameError

__all__ = ["ROLES", "Inputs", "write_demo_night"]

ROLES = ("science", "bias", "dark", "flat")
"""What an input frame is used for."""


def write_demo_night(folder: str | Path, *, n_frames: int, size: int, seed: int = 0) -> dict[str, list[str]]:
    """Simulate the demo night (science, bias, dark, flat frames and a reference catalogue).

    Slow (seconds): call it from a worker thread, then hand the result to
    :meth:`Inputs.use_demo` on the session's event loop.

    Returns
    -------
    dict
        ``science``, ``bias``, ``dark``, ``flat`` (lists of paths) and
        ``catalog`` (a one-element list: the reference catalogue CSV).
    """
    from rpf.simulate import write_demo_dataset

    paths = write_demo_dataset(Path(folder), n_frames=n_frames, seed=seed, shape=(size, size), n_calib=2)
    out = {role: [str(p) for p in paths[role]] for role in ROLES}
    out["catalog"] = [str(paths["catalog"])]
    return out


class Inputs(param.Parameterized):
    """Science and calibration frames chosen for the next run, with one message per file."""

    science = param.List(default=[], item_type=str, doc="Science frames (paths on the server).")
    bias = param.List(default=[], item_type=str, doc="Bias frames.")
    dark = param.List(default=[], item_type=str, doc="Dark frames.")
    flat = param.List(default=[], item_type=str, doc="Flat frames.")
    messages = param.List(default=[], item_type=dict, doc="One ``{'level', 'text'}`` per file handled, newest last.")
    upload_dir = param.String(default="", doc="Where uploads of this session are written.")
    max_upload_mb = param.Number(default=200.0, bounds=(0, None), inclusive_bounds=(False, True))
    roots = param.List(default=[], doc="Server folders files may be chosen from.")
    catalog_file = param.String(default=None, allow_None=True, doc="Reference catalogue that came with the demo.")

    def _say(self, level: str, text: str) -> None:
        self.messages = [*self.messages[-199:], {"level": level, "text": text}]

    def _add(self, role: str, paths: list[str]) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown input role {role!r}; expected one of {', '.join(ROLES)}")
        current = getattr(self, role)
        setattr(self, role, [*current, *(p for p in paths if p not in current)])

    def add_uploads(self, role: str, files: Mapping[str, bytes]) -> list[str]:
        """Write accepted uploaded files; reject the others one by one with a message.

        Parameters
        ----------
        role : str
            ``science``, ``bias``, ``dark`` or ``flat``.
        files : mapping of str to bytes
            File name -> content, as the browser sent them.

        Returns
        -------
        list of str
            Paths of the accepted files.
        """
        folder = Path(self.upload_dir) / role
        folder.mkdir(parents=True, exist_ok=True)
        accepted = []
        for name, data in files.items():
            try:
                base = safe_name(name)
                if isinstance(data, str):
                    raise FrameError(name, "rejected: the browser sent text, not a binary FITS file")
                check_fits_bytes(name, data[:80], len(data), max_bytes=int(self.max_upload_mb * 1e6))
            except FrameError as exc:
                self._say("error", str(exc))
                continue
            path = folder / base
            path.write_bytes(data)
            accepted.append(str(path))
            self._say("ok", f"{base}: added as {role} ({len(data) / 1e6:.1f} MB)")
        self._add(role, accepted)
        return accepted

    def browse(self, folder: str | Path) -> tuple[list[str], list[str]]:
        """List the sub-folders and FITS files of a server folder inside the roots.

        Raises
        ------
        FrameError
            The folder is outside the configured roots or cannot be read.
        """
        path = inside_root(folder, tuple(Path(r) for r in self.roots))
        try:
            entries = sorted(path.iterdir())
        except OSError as exc:
            raise FrameError(str(folder), f"cannot list the folder: {exc.strerror}") from exc
        folders = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
        files = [e.name for e in entries if e.is_file() and _is_fits_name(e.name)]
        return folders, files

    def add_server_files(self, role: str, folder: str | Path, pattern: str = "*.fits") -> list[str]:
        """Add the FITS files of a server folder matching a glob pattern (no upload).

        Returns
        -------
        list of str
            The files added; a message says how many, or why none.
        """
        try:
            _, names = self.browse(folder)
        except FrameError as exc:
            self._say("error", str(exc))
            return []
        base = inside_root(folder, tuple(Path(r) for r in self.roots))
        chosen = [str(base / n) for n in names if fnmatch.fnmatch(n.lower(), pattern.lower() or "*")]
        if not chosen:
            self._say("error", f"{base}: no FITS file matches {pattern!r}")
            return []
        self._add(role, chosen)
        self._say("ok", f"{base}: {len(chosen)} file(s) matching {pattern!r} added as {role}")
        return chosen

    def use_demo(self, paths: Mapping[str, list[str]]) -> None:
        """Replace the inputs by the demo night written by :func:`write_demo_night`."""
        for role in ROLES:
            setattr(self, role, list(paths[role]))
        self.catalog_file = paths["catalog"][0]
        counts = ", ".join(f"{len(paths[r])} {r}" for r in ROLES)
        self._say("ok", f"demo night loaded: {counts} frames and its reference catalogue")

    def clear(self, role: str | None = None) -> None:
        """Forget the frames of one role (all roles when None); the files stay until the session ends."""
        for name in ROLES if role is None else (role,):
            setattr(self, name, [])
        if role is None:
            self.catalog_file = None

    @property
    def summary(self) -> str:
        """One line: how many frames of each role are chosen."""
        return ", ".join(f"{len(getattr(self, r))} {r}" for r in ROLES)


def _is_fits_name(name: str) -> bool:
    try:
        safe_name(name)
    except FrameError:
        return False
    return True
