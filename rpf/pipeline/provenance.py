"""Provenance hashes: what each step of a frame was computed from.

A step's hash chains the previous step's hash with the step's name, its
function, the configuration sections it reads
(:data:`~rpf.pipeline.stages.STAGE_SECTIONS`) and the content of every file
those sections name; the chain starts from the input file's content and the
software version.  ``calibrate`` also covers the calibration frames'
content, ``astrometry`` the sky cone of the frame's shared reference query,
``products`` the frame's path and product stem.  Two results with the same
hash were computed from the same inputs by the same code, which is what
lets a re-run reuse them (:mod:`rpf.pipeline.checkpoint`,
:mod:`rpf.pipeline.plan`).  The ``execution`` section (where a run
executes) changes no result and is left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from rpf import __version__
from rpf.config import PipelineConfig, describe_config
from rpf.pipeline.outputs import file_digest
from rpf.pipeline.stages import STAGE_SECTIONS

__all__ = ["EXCLUDED_SECTIONS", "file_digest", "frame_provenance"]

EXCLUDED_SECTIONS = frozenset({"execution"})
"""Configuration sections that change no result (never part of a hash)."""

@cache
def _path_fields() -> dict[str, tuple[str, ...]]:
    return {section: tuple(f.name for f in fields if f.kind == "path") for section, fields in describe_config().items()}


def _section_files(section: str, values: Mapping[str, Any], digests: dict[str, str]) -> dict[str, str | None]:
    """Content digests of the files a section names (None for a name that is not a readable file)."""
    out: dict[str, str | None] = {}
    for name in _path_fields().get(section, ()):
        value = values.get(name)
        if not value:
            continue
        key = str(value)
        if key not in digests:
            try:
                digests[key] = file_digest(key)
            except OSError:
                digests[key] = ""
        out[name] = digests[key] or None
    return out


def _hash(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def frame_provenance(
    input_digest: str,
    *,
    config: PipelineConfig,
    stages: Sequence[tuple[str, Any]],
    calibration: Mapping[str, Sequence[str]] | None = None,
    cone: tuple[float, float, float] | None = None,
    path: str = "",
    stem: str = "",
    file_digests: dict[str, str] | None = None,
) -> dict[str, str]:
    """Return a frame's provenance: the input's digest and one hash per step, ``products`` last.

    Parameters
    ----------
    input_digest : str
        :func:`file_digest` of the raw science frame.
    config : PipelineConfig
        The run's configuration.
    stages : sequence of (name, function)
        The frame's ordered steps before ``products``.
    calibration : mapping, optional
        ``{"bias"|"dark"|"flat": digests of the calibration frames}``, in the run's order.
    cone : tuple of float, optional
        ``(ra, dec, radius_deg)`` of the frame's shared reference query.
    path, stem : str
        The frame's path and product stem (part of the ``products`` hash only).
    file_digests : dict, optional
        A cache of file digests by path, shared by the frames of a run.

    Returns
    -------
    dict of str to str
        ``{"input": digest, step: hash, ..., "products": hash}``.
    """
    digests = {} if file_digests is None else file_digests
    values = config.to_dict()
    previous = _hash("rpf", __version__, input_digest)
    out = {"input": input_digest}
    for name, function in (*stages, ("products", None)):
        sections = tuple(s for s in STAGE_SECTIONS.get(name, ()) if s not in EXCLUDED_SECTIONS)
        parts: list[Any] = [previous, name, _function_name(function)]
        parts += [{s: values[s], "files": _section_files(s, values[s], digests)} for s in sections]
        if name == "calibrate":
            parts.append(dict(calibration or {}))
        elif name == "astrometry":
            parts.append(None if cone is None else [round(float(v), 9) for v in cone])
        elif name == "products":
            parts.append([path, stem])
        previous = _hash(*parts)
        out[name] = previous
    return out


def _function_name(function: Any) -> str | None:
    if function is None:
        return None
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
