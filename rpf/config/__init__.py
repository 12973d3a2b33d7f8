"""The one serialisable configuration of an RPF run.

Each stage has a frozen, validated dataclass; :class:`PipelineConfig` gathers
them and is the single source of defaults.  Every field carries metadata
(kind, default, unit, bounds, choices, documentation; :class:`ConfigField`,
:func:`describe_config`) from which each section validates its values when
it is built and from which a dashboard's param model is generated.  It loads
and saves TOML, YAML and JSON, and converts to and from plain dictionaries.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpf.config.fields import NULL_WORD, ConfigField, fields_of
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
from rpf.config.transients import TransientsConfig
from rpf.errors import ConfigError

__all__ = [
    "ApertureConfig",
    "AstrometryConfig",
    "BackgroundConfig",
    "CalibrationConfig",
    "CatalogConfig",
    "ConfigField",
    "CosmicsConfig",
    "DetectionConfig",
    "ExecutionConfig",
    "HeaderDefaults",
    "OutputConfig",
    "PSFConfig",
    "PipelineConfig",
    "TransientsConfig",
    "ZeroPointConfig",
    "describe_config",
    "load_config",
    "option_type",
]

_SECTIONS: dict[str, type] = {
    cls.SECTION: cls
    for cls in (
        HeaderDefaults,
        CalibrationConfig,
        BackgroundConfig,
        CosmicsConfig,
        DetectionConfig,
        ApertureConfig,
        AstrometryConfig,
        CatalogConfig,
        ZeroPointConfig,
        PSFConfig,
        TransientsConfig,
        ExecutionConfig,
        OutputConfig,
    )
}
"""Every section by name, in pipeline order."""


def describe_config() -> dict[str, tuple[ConfigField, ...]]:
    """Return the metadata of every field of every section, sections in pipeline order.

    Examples
    --------
    >>> spec = {f.name: f for f in describe_config()["detection"]}["deblend_nthresh"]
    >>> spec.kind, spec.default, spec.minimum, spec.maximum
    ('int', 32, 1, 64)
    """
    return {name: fields_of(cls) for name, cls in _SECTIONS.items()}


def option_type(section: str, name: str) -> Callable[[str], Any]:
    """Return an ``argparse`` ``type=`` function checking an option as the field ``section.name``.

    The text is converted as the field's kind needs (``int``, ``float``,
    angles by :mod:`rpf.coords`) and checked by :meth:`ConfigField.check`;
    a bad value is an ``argparse.ArgumentTypeError`` carrying the field's
    message, so the command exits with status 2 naming the option.
    """
    spec = {f.name: f for f in fields_of(_SECTIONS[section])}[name]

    def convert(text: str) -> Any:
        try:
            value = {"int": int, "float": float}.get(spec.kind, str)(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{spec.key} = {text!r}: must be {spec.rule}") from None
        try:
            return spec.check(value)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = spec.key
    return convert


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
    transients: TransientsConfig = field(default_factory=TransientsConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ConfigError(f"{name}: must be a {cls.__name__}, got {type(value).__name__}")

    def to_dict(self, *, secrets: bool = False) -> dict[str, dict[str, Any]]:
        """Return the configuration as nested plain values.

        Parameters
        ----------
        secrets : bool
            Include API keys (never do this for products or logs).
        """
        out = {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}
        if not secrets:
            for name, specs in describe_config().items():
                out[name].update({spec.name: None for spec in specs if spec.secret})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PipelineConfig:
        """Build a configuration from nested values; unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a configuration is a table of sections, got {type(data).__name__}")
        unknown = set(data) - set(_SECTIONS)
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(sorted(map(str, unknown)))}")
        return cls(**{name: _section(name, data.get(name)) for name in _SECTIONS})

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
            if not isinstance(values, Mapping):
                raise ConfigError(f"[{name}] must be a table of keys, got {type(values).__name__}")
            data[name] = {**data[name], **values}
        return PipelineConfig.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the configuration as TOML, YAML or JSON (by file suffix).

        JSON and YAML write ``None`` as ``null``.  TOML has no null: a field
        that is ``None`` where its default is not is written as ``"none"``
        (read back as ``None``); the others are left out (they default to None).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        data = _toml_nulls(self.to_dict()) if suffix == ".toml" else self.to_dict()
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


def _toml_nulls(data: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return ``data`` with ``None`` as ``"none"`` where the default is not None, and left out elsewhere."""
    defaults = {section: {f.name: f.default for f in specs} for section, specs in describe_config().items()}
    return {
        section: {
            key: NULL_WORD if value is None else value
            for key, value in values.items()
            if value is not None or defaults[section][key] is not None
        }
        for section, values in data.items()
    }


def _section(name: str, values: Any) -> Any:
    cls = _SECTIONS[name]
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"[{name}] must be a table of keys, got {type(values).__name__} {values!r}")
    known = {spec.name for spec in fields_of(cls)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in [{name}]: {', '.join(sorted(map(str, unknown)))}")
    return cls(**values)


def load_config(path: str | os.PathLike[str] | None = None) -> PipelineConfig:
    """Load a configuration file (TOML, YAML or JSON); defaults when ``path`` is None.

    Environment variables fill secrets and the scheduler: ``RPF_COLIBRI_UID``
    and ``RPF_SCHEDULER``.

    Raises
    ------
    rpf.errors.ConfigError
        One error naming the file and the problem: unreadable, not UTF-8,
        unparsable, an unknown section or key, or a value breaking its
        field's rule.
    """
    config = PipelineConfig() if path is None else _read(Path(path))
    env = {}
    if os.environ.get("RPF_COLIBRI_UID") and not config.catalogs.colibri_uid:
        env["catalogs"] = {"colibri_uid": os.environ["RPF_COLIBRI_UID"]}
    if os.environ.get("RPF_SCHEDULER") and not config.execution.scheduler:
        env["execution"] = {"scheduler": os.environ["RPF_SCHEDULER"]}
    try:
        return config.replace(**env) if env else config
    except ConfigError as exc:
        raise ConfigError(f"environment (RPF_COLIBRI_UID / RPF_SCHEDULER): {exc}") from exc


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return tomllib.loads(text)
    if suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    if suffix == ".json":
        return json.loads(text)
    raise ConfigError(f"{path}: unsupported config format (use .toml, .yaml or .json)")


def _read(path: Path) -> PipelineConfig:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read config: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = _parse(path, text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot parse config: {exc}") from exc
    try:
        return PipelineConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
