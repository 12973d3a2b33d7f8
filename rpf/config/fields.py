"""Machine-readable metadata of every configuration field, and validation from it.

Each field of a section is declared once with :func:`param` (default, unit,
bounds, choices); its kind and whether it may be ``None`` come from the type
annotation, and its documentation from the section's numpydoc
``Attributes`` section.  :func:`fields_of` turns that into
:class:`ConfigField` objects, which validate values (:meth:`ConfigField.check`)
in every section's ``__post_init__`` and describe the configuration to a
generated user interface (:func:`rpf.config.describe_config`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
import os
import re
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rpf.coords import parse_dec, parse_ra
from rpf.errors import ConfigError

__all__ = ["KINDS", "NULL_WORD", "ConfigField", "fields_of", "param", "require", "validate_section"]

KINDS = ("bool", "int", "float", "str", "choice", "path", "float_pair", "float_list", "str_list", "coordinate")
"""Every field kind."""

_META = "rpf"

NULL_WORD = "none"
"""How a configuration file without null (TOML) writes ``None`` for a nullable field."""


@dataclass(frozen=True)
class _Spec:
    kind: str | None
    unit: str | None
    minimum: float | None
    maximum: float | None
    exclusive_minimum: bool
    exclusive_maximum: bool
    choices: tuple | None
    pattern: str | None
    hint: str | None
    axis: str | None
    secret: bool


def param(
    default: Any,
    *,
    unit: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
    choices: Sequence[str] | None = None,
    kind: str | None = None,
    pattern: str | None = None,
    hint: str | None = None,
    axis: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare a configuration field: its default and the rules its values obey.

    Parameters
    ----------
    default : object
        The default value (immutable: tuples, not lists).
    unit : str, optional
        Unit of the value (``"arcsec"``, ``"px"``, ``"s"`` ...).
    minimum, maximum : float, optional
        Bounds of a number (of every element of a tuple of numbers).
    exclusive_minimum, exclusive_maximum : bool
        The bound itself is not allowed.
    choices : sequence of str, optional
        Allowed values of a string (of every element of a list of strings).
    kind : str, optional
        One of :data:`KINDS`; default: from the annotation (``"choice"`` for a
        string with choices).  Needed for ``"path"`` and ``"coordinate"``.
    pattern : str, optional
        Regular expression a string must match in full.
    hint : str, optional
        The pattern in words, for error messages.
    axis : str, optional
        ``"ra"`` or ``"dec"`` for a ``"coordinate"`` (read by :mod:`rpf.coords`).
    secret : bool
        Never shown (repr, saved files, logs, error messages).

    Returns
    -------
    dataclasses.Field
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown field kind {kind!r}")
    spec = _Spec(kind, unit, minimum, maximum, exclusive_minimum, exclusive_maximum,
                 tuple(choices) if choices is not None else None, pattern, hint, axis, secret)
    return dataclasses.field(default=default, repr=not secret, metadata={_META: spec})


@dataclass(frozen=True)
class ConfigField:
    """Everything a program needs to know about one configuration field.

    Attributes
    ----------
    section, name : str
        Where the field lives (``config.<section>.<name>``).
    kind : str
        One of :data:`KINDS`: ``bool``, ``int``, ``float``, ``str``, ``choice``
        (a string among ``choices``), ``path``, ``float_pair`` (two numbers),
        ``float_list`` (one or more numbers), ``str_list`` (strings, each
        among ``choices`` when given), ``coordinate`` (degrees or sexagesimal,
        read by :mod:`rpf.coords`; see ``axis``).
    default : object
        The default value.
    nullable : bool
        ``None`` is allowed (it means "derive it" or "not set"; see ``doc``).
    unit : str or None
        Unit of the value.
    minimum, maximum : float or None
        Bounds of a number (of every element of a ``float_pair``/``float_list``); None: unbounded.
    exclusive_minimum, exclusive_maximum : bool
        Whether the bound itself is excluded.
    choices : tuple or None
        The allowed strings of a ``choice``/``str_list``.
    doc : str
        The field's text from its section's numpydoc ``Attributes``.
    secret : bool
        A credential: never displayed, saved or logged.
    pattern : str or None
        Regular expression a ``str`` value must match in full.
    hint : str or None
        What ``pattern`` accepts, in words.
    axis : str or None
        ``"ra"`` or ``"dec"`` for a ``coordinate``.
    """

    section: str
    name: str
    kind: str
    default: Any
    nullable: bool = False
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple | None = None
    doc: str = ""
    secret: bool = False
    pattern: str | None = None
    hint: str | None = None
    axis: str | None = None

    @property
    def key(self) -> str:
        """``"<section>.<name>"``."""
        return f"{self.section}.{self.name}"

    @property
    def rule(self) -> str:
        """The rule a value obeys, in words (``"an integer in [1, 64]"``)."""
        what = {
            "bool": "true or false", "int": "an integer", "float": "a finite number", "str": "a string",
            "choice": "one of " + ", ".join(map(repr, self.choices or ())), "path": "a path",
            "float_pair": "two finite numbers", "float_list": "one or more finite numbers",
            "str_list": "a list of strings", "coordinate": "degrees or sexagesimal",
        }[self.kind]
        if self.kind == "str_list" and self.choices:
            what += " among " + ", ".join(map(repr, self.choices))
        if self.pattern:
            what += f" ({self.hint})" if self.hint else f" matching {self.pattern}"
        bounds = self._bounds()
        if bounds:
            what += (" each" if self.kind in ("float_pair", "float_list") else "") + f" {bounds}"
        return what + (" or None" if self.nullable else "")

    def _bounds(self) -> str:
        lo, hi = self.minimum, self.maximum
        if lo is not None and hi is not None:
            return f"in {'(' if self.exclusive_minimum else '['}{lo:g}, {hi:g}{')' if self.exclusive_maximum else ']'}"
        if lo is not None:
            return f"{'>' if self.exclusive_minimum else '>='} {lo:g}"
        if hi is not None:
            return f"{'<' if self.exclusive_maximum else '<='} {hi:g}"
        return ""

    def _fail(self, value: Any, problem: str | None = None) -> ConfigError:
        shown = "'***'" if self.secret else repr(value)
        shown = shown if len(shown) <= 80 else shown[:76] + " ..."
        return ConfigError(f"{self.key} = {shown}: {problem or 'must be ' + self.rule}")

    def check(self, value: Any) -> Any:
        """Return ``value`` validated and normalised (tuples for lists, floats for numbers, degrees for angles).

        Raises
        ------
        rpf.errors.ConfigError
            The message starts with ``"<section>.<name>"`` and gives the value and the rule.
        """
        if isinstance(value, str) and value.strip().lower() == NULL_WORD and self.nullable:
            value = None
        if value is None:
            if self.nullable:
                return None
            raise self._fail(value, f"must be given (not None): {self.rule}")
        if self.kind == "bool":
            if isinstance(value, (bool, *_numpy("bool_"))):
                return bool(value)
            raise self._fail(value)
        if self.kind in ("int", "float"):
            return self._number(value, value)
        if self.kind in ("float_pair", "float_list"):
            if isinstance(value, str | bytes) or not isinstance(value, (Sequence, *_numpy("ndarray"))):
                raise self._fail(value)
            items = list(value)
            if (self.kind == "float_pair" and len(items) != 2) or not items:
                raise self._fail(value)
            return tuple(self._number(v, value) for v in items)
        if self.kind == "str_list":
            if isinstance(value, str | bytes) or not isinstance(value, Sequence):
                raise self._fail(value)
            items = tuple(value)
            if not all(isinstance(v, str) for v in items) or (
                self.choices is not None and not set(items) <= set(self.choices)
            ):
                raise self._fail(value)
            return items
        if self.kind == "coordinate":
            try:
                return parse_dec(value) if self.axis == "dec" else parse_ra(value)
            except ConfigError as exc:
                raise self._fail(value, str(exc)) from None
        if self.kind == "path" and isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise self._fail(value)
        if self.kind == "choice" and value not in (self.choices or ()):
            raise self._fail(value)
        if self.kind == "path" and (not value.strip() or "\0" in value):
            raise self._fail(value, "must be a non-empty path without NUL characters")
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise self._fail(value)
        return value

    def _number(self, item: Any, value: Any) -> int | float:
        integer = self.kind == "int"
        wanted = numbers.Integral if integer else numbers.Real
        if isinstance(item, (bool, *_numpy("bool_"))) or not isinstance(item, wanted):
            raise self._fail(value)
        number = int(item) if integer else float(item)
        if not math.isfinite(number):
            raise self._fail(value)
        lo, hi = self.minimum, self.maximum
        if lo is not None and (number < lo or (self.exclusive_minimum and number == lo)):
            raise self._fail(value)
        if hi is not None and (number > hi or (self.exclusive_maximum and number == hi)):
            raise self._fail(value)
        return number


def _numpy(name: str) -> tuple[type, ...]:
    """Return ``(numpy.<name>,)``, or ``()`` when numpy is not loaded (no value can then be one)."""
    numpy = sys.modules.get("numpy")
    return (getattr(numpy, name),) if numpy is not None else ()


def _split_union(hint: Any) -> tuple[list[Any], bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = list(typing.get_args(hint))
    else:
        args = [hint]
    nullable = type(None) in args
    return [a for a in args if a is not type(None)], nullable


def _kind_of(hint: Any, spec: _Spec | None) -> tuple[str, bool]:
    types_, nullable = _split_union(hint)
    if spec is not None and spec.kind is not None:
        return spec.kind, nullable
    if len(types_) == 1:
        only = types_[0]
        if only in (bool, int, float):
            return only.__name__, nullable
        if only is str:
            return ("choice" if spec is not None and spec.choices else "str"), nullable
        if typing.get_origin(only) is tuple:
            args = typing.get_args(only)
            if args == (float, float):
                return "float_pair", nullable
            if args == (float, ...):
                return "float_list", nullable
            if args == (str, ...):
                return "str_list", nullable
    raise TypeError(f"no field kind for the annotation {hint!r}: give param(kind=...)")


def _attribute_docs(cls: type) -> dict[str, str]:
    """Return ``{name: text}`` from the numpydoc ``Attributes`` section of a class docstring."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    docs: dict[str, str] = {}
    try:
        start = next(i for i in range(len(lines) - 1) if lines[i].strip() == "Attributes"
                     and set(lines[i + 1].strip()) == {"-"})
    except StopIteration:
        return docs
    names: list[str] = []
    for i in range(start + 2, len(lines)):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and set(lines[i + 1].strip()) == {"-"} and not line.startswith(" "):
            break
        if line.strip() and not line.startswith(" "):
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
            for name in names:
                docs[name] = ""
        elif names and line.strip():
            for name in names:
                docs[name] = f"{docs[name]} {line.strip()}".strip()
    return docs


@functools.cache
def fields_of(cls: type) -> tuple[ConfigField, ...]:
    """Return the :class:`ConfigField` of every field of a configuration section, in order.

    Parameters
    ----------
    cls : type
        A section dataclass with a ``SECTION`` class attribute.
    """
    hints = typing.get_type_hints(cls)
    docs = _attribute_docs(cls)
    out = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_META)
        kind, nullable = _kind_of(hints[f.name], spec)
        if spec is None:
            spec = _Spec(None, None, None, None, False, False, None, None, None, None, False)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append(
            ConfigField(
                section=cls.SECTION, name=f.name, kind=kind, default=default, nullable=nullable, unit=spec.unit,
                minimum=spec.minimum, maximum=spec.maximum, exclusive_minimum=spec.exclusive_minimum,
                exclusive_maximum=spec.exclusive_maximum, choices=spec.choices, doc=docs.get(f.name, ""),
                secret=spec.secret, pattern=spec.pattern, hint=spec.hint, axis=spec.axis,
            )
        )
    return tuple(out)


def validate_section(section: Any) -> None:
    """Check and normalise every field of a section instance in place (from ``__post_init__``).

    Raises
    ------
    rpf.errors.ConfigError
        The first invalid field, named ``section.field``.
    """
    for spec in fields_of(type(section)):
        object.__setattr__(section, spec.name, spec.check(getattr(section, spec.name)))


def require(condition: bool, key: str, value: Any, rule: str) -> None:
    """Raise ``ConfigError("<key> = <value>: <rule>")`` unless ``condition`` (cross-field checks)."""
    if not condition:
        raise ConfigError(f"{key} = {value!r}: {rule}")
