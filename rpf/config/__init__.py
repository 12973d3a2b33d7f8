"""The one serialisable configuration of an RPF run.

Each stage has a frozen, validated dataclass; :class:`PipelineConfig` gathers
them and is the single source of defaults.  It loads and saves TOML, YAML and
JSON, and converts to and from plain dictionaries so that a dashboard's param
model can mirror it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from rpf.config.image import (
    ApertureConfig,
    BackgroundConfig,
    CalibrationConfig,
    CosmicsConfig,
    DetectionConfig,
    HeaderDefaults,
    PSFConfig,
)
from rpf.config.run import ExecutionConfig, OutputConfig
from rpf.config.sky import AstrometryConfig, CatalogConfig, ZeroPointConfig
from rpf.errors import ConfigError

__all__ = [
    "ApertureConfig",
    "AstrometryConfig",
    "BackgroundConfig",
    "CalibrationConfig",
    "CatalogConfig",
    "CosmicsConfig",
    "DetectionConfig",
    "ExecutionConfig",
    "HeaderDefaults",
    "OutputConfig",
    "PSFConfig",
    "PipelineConfig",
    "ZeroPointConfig",
    "load_config",
]




_SECTIONS: dict[str, type] = {
    "header": HeaderDefaults,
    "calibration": CalibrationConfig,
    "background": BackgroundConfig,
    "cosmics": CosmicsConfig,
    "detection": DetectionConfig,
    "aperture": ApertureConfig,
    "astrometry": AstrometryConfig,
    "catalogs": CatalogConfig,
    "zeropoint": ZeroPointConfig,
    "psf": PSFConfig,
    "execution": ExecutionConfig,
    "output": OutputConfig,
}


@dataclass(frozen=True)
class PipelineConfig:
    """Every parameter of a run, one frozen section per stage."""

    header: HeaderDefaults = field(default_factory=HeaderDefaults)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    cosmics: CosmicsConfig = field(default_factory=CosmicsConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    aperture: ApertureConfig = field(default_factory=ApertureConfig)
    astrometry: AstrometryConfig = field(default_factory=AstrometryConfig)
    catalogs: CatalogConfig = field(default_factory=CatalogConfig)
    zeropoint: ZeroPointConfig = field(default_factory=ZeroPointConfig)
    psf: PSFConfig = field(default_factory=PSFConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self, *, secrets: bool = False) -> dict[str, dict[str, Any]]:
        """Return the configuration as nested plain values.

        Parameters
        ----------
        secrets : bool
            Include API keys (never do this for products or logs).
        """
        out = {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}
        if not secrets:
            out["catalogs"]["colibri_uid"] = None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        """Build a configuration from nested values; unknown keys are errors."""
        unknown = set(data) - set(_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(unknown))}")
        return cls(**{name: _section(name, data.get(name) or {}) for name in _SECTIONS})

    def replace(self, **sections: Mapping[str, Any]) -> PipelineConfig:
        """Return a copy with some fields of some sections changed.

        Examples
        --------
        >>> cfg = PipelineConfig().replace(detection={"threshold_sigma": 5.0})
        >>> cfg.detection.threshold_sigma
        5.0
        """
        data = self.to_dict(secrets=True)
        for name, values in sections.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown config section: {name}")
            data[name] = {**data[name], **values}
        return PipelineConfig.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the configuration as TOML, YAML or JSON (by file suffix)."""
        path = Path(path)
        data = _drop_none(self.to_dict())
        suffix = path.suffix.lower()
        if suffix == ".json":
            text = json.dumps(data, indent=2)
        elif suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(data, sort_keys=False)
        elif suffix == ".toml":
            import tomli_w

            text = tomli_w.dumps(data)
        else:
            raise ConfigError(f"{path}: unsupported config format (use .toml, .yaml or .json)")
        path.write_text(text)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _section(name: str, values: Mapping[str, Any]) -> Any:
    cls = _SECTIONS[name]
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(unknown))}")
    hints = get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if "tuple" in str(hints[key]) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"[{name}]: {exc}") from exc


def load_config(path: str | os.PathLike[str] | None = None) -> PipelineConfig:
    """Load a configuration file (TOML, YAML or JSON); defaults when ``path`` is None.

    Environment variables fill secrets and the scheduler: ``RPF_COLIBRI_UID``
    and ``RPF_SCHEDULER``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
        suffix = path.suffix.lower()
        try:
            if suffix == ".toml":
                data = tomllib.loads(text)
            elif suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text) or {}
            elif suffix == ".json":
                data = json.loads(text)
            else:
                raise ConfigError(f"{path}: unsupported config format (use .toml, .yaml or .json)")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"{path}: cannot parse config: {exc}") from exc
    config = PipelineConfig.from_dict(data)
    env = {}
    if os.environ.get("RPF_COLIBRI_UID") and not config.catalogs.colibri_uid:
        env["catalogs"] = {"colibri_uid": os.environ["RPF_COLIBRI_UID"]}
    if os.environ.get("RPF_SCHEDULER") and not config.execution.scheduler:
        env["execution"] = {"scheduler": os.environ["RPF_SCHEDULER"]}
    return config.replace(**env) if env else config
