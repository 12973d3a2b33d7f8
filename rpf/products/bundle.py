"""The per-frame ZIP of every product."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

from rpf.errors import ProductError
from rpf.products.atomic import atomic_path

__all__ = ["write_zip"]


def write_zip(paths: Iterable[str | os.PathLike[str]], zip_path: str | os.PathLike[str]) -> Path:
    """Bundle files (stored by base name, deflated) into ``zip_path`` atomically.

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
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for path in files:
                archive.write(path, arcname=path.name)
    return target
