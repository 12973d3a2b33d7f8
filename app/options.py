"""What a dashboard server is started with (``rpf serve`` options), shared by its sessions."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rpf.config import PipelineConfig
from rpf.errors import ConfigError

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "ServeOptions", "default_accounts_file"]

DEFAULT_MAX_UPLOAD_MB = 200.0
"""Largest uploaded file accepted by default (a 4096² float32 frame is 64 MB)."""


@dataclass(frozen=True)
class ServeOptions:
    """Server-wide settings of the dashboard.

    Attributes
    ----------
    config : PipelineConfig
        The settings every new session starts from (``--config``, offline
        catalogues unless ``--online``).
    scheduler : str or None
        An existing Dask scheduler (else ``config.execution.scheduler``,
        ``RPF_SCHEDULER`` or a local cluster).
    roots : tuple of Path
        Server folders users may pick frames from (nothing else is listed).
    data_dir : Path
        Where sessions keep their uploads and products (one folder each).
    max_upload_mb : float
        Largest uploaded file, in MB; bigger files are rejected one by one.
    demo_frames, demo_size : int
        Frames and frame size of "load demo frames".
    accounts_file : Path or None
        The SQLite file of user accounts and their saved settings (None: ``accounts.sqlite`` in
        ``data_dir``; ``rpf serve`` passes ``--accounts`` or :func:`default_accounts_file`).
    """

    config: PipelineConfig = field(default_factory=PipelineConfig)
    scheduler: str | None = None
    roots: tuple[Path, ...] = ()
    data_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / f"rpf-dashboard-{os.getuid()}")
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    demo_frames: int = 4
    demo_size: int = 1024
    accounts_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.max_upload_mb > 0:
            raise ConfigError(f"the upload limit must be > 0 MB, not {self.max_upload_mb}")
        if not (1 <= self.demo_frames <= 50 and 128 <= self.demo_size <= 4096):
            raise ConfigError("demo frames must be 1..50 frames of 128..4096 px")
        missing = [str(r) for r in self.roots if not Path(r).is_dir()]
        if missing:
            raise ConfigError(f"server folder(s) not found: {', '.join(missing)}")
        object.__setattr__(self, "roots", tuple(Path(r).expanduser().resolve() for r in self.roots))
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())
        accounts = self.data_dir / "accounts.sqlite" if self.accounts_file is None else self.accounts_file
        object.__setattr__(self, "accounts_file", Path(accounts).expanduser())


def default_accounts_file() -> Path:
    """Return where ``rpf serve`` keeps accounts unless told: ``$XDG_DATA_HOME/rpf/accounts.sqlite``.

    Not in the data folder, which is temporary by default: accounts outlive the server.
    """
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rpf" / "accounts.sqlite"
