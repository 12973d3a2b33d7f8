"""Every pipeline parameter as a ``param`` model, generated from the configuration's own metadata.

Nothing here lists a parameter by hand: :func:`section_class` turns the
:class:`rpf.config.ConfigField` records of one section
(:func:`rpf.config.describe_config`) into a ``param.Parameterized`` class
whose parameters carry the field's type, default, bounds, choices, unit and
documentation, so the settings page cannot drift from :class:`PipelineConfig`.
:class:`Settings` holds one instance per section and converts to and from
:class:`PipelineConfig` (hence to the TOML/YAML/JSON of ``rpf config``).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import param

from rpf.config import ConfigField, PipelineConfig, describe_config, load_config
from rpf.errors import ConfigError

__all__ = ["Settings", "field_tooltip", "section_class"]


def field_tooltip(spec: ConfigField) -> str:
    """Return the text shown next to a field: its documentation, unit and rule."""
    unit = f" Unit: {spec.unit}." if spec.unit else ""
    return f"{spec.doc.strip() or spec.name}{unit} Allowed: {spec.rule}."


def _bounds(spec: ConfigField) -> dict[str, Any]:
    if spec.minimum is None and spec.maximum is None:
        return {}
    return {
        "bounds": (spec.minimum, spec.maximum),
        "inclusive_bounds": (not spec.exclusive_minimum, not spec.exclusive_maximum),
    }


def _parameter(spec: ConfigField) -> param.Parameter:
    """One ``param`` parameter mirroring a configuration field."""
    common = {"default": spec.default, "doc": field_tooltip(spec), "label": spec.name, "allow_None": spec.nullable}
    if spec.kind == "bool":
        return param.Boolean(**common)
    if spec.kind == "int":
        return param.Integer(**common, **_bounds(spec))
    if spec.kind == "float":
        return param.Number(**common, **_bounds(spec))
    if spec.kind == "choice":
        return param.Selector(objects=[*(spec.choices or ()), *([None] if spec.nullable else [])], **common)
    if spec.kind == "str_list" and spec.choices:
        return param.ListSelector(objects=list(spec.choices), **{**common, "default": list(spec.default)})
    if spec.kind in ("str", "path"):
        return param.String(**common)
    # coordinate (degrees or sexagesimal text), float_pair, float_list, free str_list:
    # any value, checked by the field itself
    return param.Parameter(**common)


@cache
def section_class(section: str) -> type[param.Parameterized]:
    """Return the generated ``param`` class of one configuration section (built once per process).

    Raises
    ------
    ConfigError
        The section does not exist.
    """
    specs = describe_config().get(section)
    if specs is None:
        raise ConfigError(f"unknown config section: {section}")
    attributes: dict[str, Any] = {spec.name: _parameter(spec) for spec in specs}
    attributes["__doc__"] = f"Parameters of the ``[{section}]`` section (generated from its metadata)."
    return param.parameterized_class(f"{section.capitalize()}Settings", attributes)


class Settings(param.Parameterized):
    """The settings of a session's next run: one generated model per configuration section.

    Parameters
    ----------
    config : PipelineConfig, optional
        Values to start from (default: the defaults).

    Attributes
    ----------
    sections : dict of str to param.Parameterized
        One instance of :func:`section_class` per section, in pipeline order.
    specs : dict of str to dict of str to ConfigField
        The metadata each parameter was generated from.
    """

    errors = param.Dict(default={}, doc="``section.name`` -> message for every value that breaks its rule.")
    version = param.Integer(default=0, doc="Incremented on every accepted change (views refresh on it).")

    def __init__(self, config: PipelineConfig | None = None, **params: Any) -> None:
        super().__init__(**params)
        self.specs = {name: {s.name: s for s in specs} for name, specs in describe_config().items()}
        self.sections = {name: section_class(name)() for name in self.specs}
        for name, model in self.sections.items():
            model.param.watch(lambda *events, name=name: self._changed(name, events), list(self.specs[name]))
        self.update_from(config or PipelineConfig())

    def _changed(self, section: str, events: tuple[param.parameterized.Event, ...]) -> None:
        errors = dict(self.errors)
        for event in events:
            spec = self.specs[section][event.name]
            try:
                spec.check(_plain(event.new))
            except ConfigError as exc:
                errors[spec.key] = str(exc)
            else:
                errors.pop(spec.key, None)
        self.param.update(errors=errors, version=self.version + 1)

    def values(self) -> dict[str, dict[str, Any]]:
        """Every value as nested plain data (``{section: {name: value}}``), unvalidated."""
        return {
            section: {name: _plain(getattr(model, name)) for name in self.specs[section]}
            for section, model in self.sections.items()
        }

    def to_config(self) -> PipelineConfig:
        """Return the validated :class:`PipelineConfig` of the current values.

        Raises
        ------
        ConfigError
            Naming every field that breaks its rule.
        """
        if self.errors:
            raise ConfigError("; ".join(self.errors.values()))
        return PipelineConfig.from_dict(self.values())

    def update_from(self, config: PipelineConfig) -> None:
        """Set every value from a configuration (secrets included)."""
        data = config.to_dict(secrets=True)
        for section, model in self.sections.items():
            values = {name: _editable(self.specs[section][name], value) for name, value in data[section].items()}
            model.param.update(**values)
        self.errors = {}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the settings as ``rpf config --write`` does (format by suffix); return the path.

        Raises
        ------
        ConfigError
            A value breaks its rule, or the suffix is not ``.toml``, ``.yaml`` or ``.json``.
        """
        self.to_config().save(path)
        return Path(path)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Read a configuration file as ``rpf run --config`` does.

        Raises
        ------
        ConfigError
            The file cannot be read or holds a bad value (nothing is changed then).
        """
        self.update_from(load_config(path))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _editable(spec: ConfigField, value: Any) -> Any:
    """Return a configuration value as its parameter holds it (lists for list kinds)."""
    if spec.kind in ("float_pair", "float_list", "str_list") and value is not None:
        return list(value)
    return value
