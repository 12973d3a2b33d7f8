"""Unique product stems for a run's frames, even when their file names collide.

``a/x.fits`` and ``b/x.fits``, ``y.fits`` and ``y.fits.gz``, ``z.fit`` and
``z.fits`` all have one stem (:func:`rpf.io.frame_stem`); written as they
are, their products would overwrite each other.  :func:`product_stems`
gives every member of such a group a name of its own, the same whatever
the order of the inputs, and says which names it changed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from rpf.io import frame_stem

__all__ = ["product_stems"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def _clean(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "frame"


def _by_name(paths: Sequence[str]) -> dict[str, str]:
    """``y.fits`` -> ``y_fits``, ``y.fits.gz`` -> ``y_fits_gz``: the whole file name."""
    return {p: _clean(Path(p).name.replace(".", "_")) for p in paths}


def _by_folder(paths: Sequence[str], stem: str) -> dict[str, str]:
    """``a/x.fits`` -> ``a_x``: the fewest parent folders that tell the files apart."""
    parents = {p: Path(os.path.abspath(p)).parent.parts for p in paths}
    depth = max(len(v) for v in parents.values())
    for k in range(1, depth + 1):
        names = {p: _clean("_".join((*parts[-k:], stem))) for p, parts in parents.items()}
        if _unique(names):
            return names
    return names


def _by_hash(paths: Sequence[str], stem: str) -> dict[str, str]:
    return {p: f"{stem}_{hashlib.sha1(os.path.abspath(p).encode()).hexdigest()[:8]}" for p in paths}


def _unique(names: dict[str, str]) -> bool:
    return len({n.casefold() for n in names.values()}) == len(names)


def product_stems(paths: Sequence[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """Return each frame's product stem and a message per renamed frame.

    Frames whose stems differ (ignoring case, as some file systems do) keep
    them.  Within a group sharing a stem, every member is renamed (so the
    names do not depend on the order of the inputs): by its whole file name
    when that tells them apart (``y_fits``, ``y_fits_gz``), else by its
    folders (``a_x``, ``b_x``), else by a hash of its absolute path.  A
    name that would collide with another frame's stem gets the hash too.

    Parameters
    ----------
    paths : sequence of str
        The run's science frames (distinct paths).

    Returns
    -------
    stems : dict of str to str
        ``path -> stem``.
    messages : tuple of str
        One per renamed frame: ``"a/x.fits: products named a_x_* (x_* is shared by 2 inputs)"``.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for path in dict.fromkeys(paths):
        groups[frame_stem(path).casefold()].append(path)
    stems = {p: frame_stem(p) for p in paths}
    renamed: dict[str, str] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        stem = stems[members[0]]
        names = _by_name(members)
        if not _unique(names):
            names = _by_folder(members, stem)
        if not _unique(names):
            names = _by_hash(members, stem)
        renamed.update(names)
    taken = {stems[p].casefold() for p in stems if p not in renamed}
    for path, name in renamed.items():
        if name.casefold() in taken:
            name = _by_hash([path], name)[path]
        taken.add(name.casefold())
        renamed[path] = name
    messages = tuple(
        f"{p}: products named {renamed[p]}_* ({stems[p]}_* is shared by "
        f"{len(groups[stems[p].casefold()])} inputs)"
        for p in paths if p in renamed
    )
    stems.update(renamed)
    return stems, messages
