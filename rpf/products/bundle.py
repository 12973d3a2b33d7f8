"""The per-frame ZIP of every product."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

from rpf.atomic import atomic_path
from rpf.errors import ProductError

__all__ = ["write_zip"]


_COMPRESSED = frozenset({".png", ".jpg", ".jpeg", ".gz", ".fz", ".zip", ".parquet"})


def write_zip(paths: Iterable[str | os.PathLike[str]], zip_path: str | os.PathLike[str]) -> Path:
    """Bundle files (stored by base name) into ``zip_path`` atomically.

    Text and FITS files are deflated at level 1 (for a 2048² frame's products
    11 ms instead of 50 ms at level 6, for a ZIP 1.8 % larger); PNG and other
    already compressed files are stored as they are.

    The ZIP itself and repeated names are skipped.

    Raises
    ------
    rpf.errors.ProductError
        A listed file does not exist.
    """
    target = Path(zip_path)
    files = []
    for path in map(Path, paths):
        if path.resolve() == target.resolve() or path.name in {f.name for f in files}:
            continue
        if not path.is_file():
            raise ProductError(f"{path}: cannot add to {target.name}: no such file")
        files.append(path)
    with atomic_path(target) as temporary:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for path in files:
                packed = path.suffix.lower() in _COMPRESSED
                archive.write(path, arcname=path.name, compress_type=zipfile.ZIP_STORED if packed else None)
    return target
