"""The settings page: one card per configuration section, widgets generated from the field metadata."""

from __future__ import annotations

import html
import tempfile
from io import BytesIO
from pathlib import Path

import panel as pn
import param

from app.models.session import Session
from app.models.settings import Settings, field_tooltip
from rpf.config import ConfigField
from rpf.errors import ConfigError

__all__ = ["SettingsView", "field_widget"]

WIDGETS = {
    "int": pn.widgets.IntInput,
    "float": pn.widgets.FloatInput,
    "choice": pn.widgets.Select,
    "str": pn.widgets.TextInput,
    "path": pn.widgets.TextInput,
}
"""Widget of each field kind (lists and coordinates take a literal / text input)."""


def field_widget(model: param.Parameterized, spec: ConfigField) -> pn.viewable.Viewable:
    """Return a widget bound to one generated parameter, labelled with its unit and its tooltip."""
    label = f"{spec.name} ({spec.unit})" if spec.unit else spec.name
    common = {"name": label, "description": field_tooltip(spec), "sizing_mode": "stretch_width"}
    parameter = model.param[spec.name]
    if spec.kind == "bool":
        box = pn.widgets.Checkbox.from_param(parameter, name=label, margin=(30, 5, 5, 10))
        return pn.Row(box, pn.widgets.TooltipIcon(value=common["description"], margin=(27, 0, 0, 0)))
    if spec.secret:
        return pn.widgets.PasswordInput.from_param(parameter, **common)
    if spec.kind == "str_list" and spec.choices:
        return pn.widgets.MultiChoice.from_param(parameter, **common)
    if spec.kind in WIDGETS:
        return WIDGETS[spec.kind].from_param(parameter, **common)
    if spec.kind == "coordinate":
        return _text_link(model, spec.name, pn.widgets.TextInput(placeholder="degrees or sexagesimal", **common))
    return _list_link(model, spec.name, pn.widgets.LiteralInput(type=list, **common))


def _text_link(model: param.Parameterized, name: str, widget: pn.widgets.TextInput) -> pn.widgets.TextInput:
    """Two-way link of a text box and a value that may be a number, a text or None (blank)."""

    def show(*_: object) -> None:
        value = getattr(model, name)
        widget.value = "" if value is None else str(value)

    def store(event: param.parameterized.Event) -> None:
        text = event.new.strip()
        if text != ("" if getattr(model, name) is None else str(getattr(model, name))):
            setattr(model, name, text or None)

    show()
    model.param.watch(show, name)
    widget.param.watch(store, "value")
    return widget


def _list_link(model: param.Parameterized, name: str, widget: pn.widgets.LiteralInput) -> pn.widgets.LiteralInput:
    """Two-way link of a literal input and a list value."""

    def show(*_: object) -> None:
        widget.value = list(getattr(model, name))

    def store(event: param.parameterized.Event) -> None:
        if event.new is not None and list(event.new) != list(getattr(model, name)):
            setattr(model, name, list(event.new))

    show()
    model.param.watch(show, name)
    widget.param.watch(store, "value")
    return widget


class SettingsView(pn.viewable.Viewer):
    """Every pipeline parameter, with save/load in ``rpf config`` formats and the pointing/observatory card."""

    session = param.ClassSelector(class_=Session)
    message = param.String(default="", doc="Outcome of the last load or save.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.loader = pn.widgets.FileInput(accept=".toml,.yaml,.yml,.json", width=240)
        self.loader.param.watch(self._load, "value")

    @property
    def settings(self) -> Settings:
        """The session's settings model."""
        return self.session.settings

    def _load(self, event: param.parameterized.Event) -> None:
        if not event.new:
            return
        suffix = Path(self.loader.filename or "settings.toml").suffix.lower()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"settings{suffix}"
            path.write_bytes(event.new)
            try:
                self.settings.load(path)
            except ConfigError as exc:
                self.message = f"{self.loader.filename}: not loaded: {str(exc).replace(str(path), '')}"
                return
        self.message = f"{self.loader.filename}: loaded"

    def _saved(self, suffix: str) -> BytesIO | None:
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = self.settings.save(Path(folder) / f"rpf{suffix}")
            except ConfigError as exc:
                self.message = f"not saved: {exc}"
                return None
            return BytesIO(path.read_bytes())

    def _errors(self, errors: dict, message: str) -> str:
        lines = [f"<li style='color:#b00020'>{html.escape(text)}</li>" for text in errors.values()]
        note = f"<div class='rpf-settings-message'>{html.escape(message)}</div>" if message else ""
        return note + (f"<ul class='rpf-settings-errors'>{''.join(lines)}</ul>" if lines else "")

    def _toolbar(self) -> pn.viewable.Viewable:
        downloads = [
            pn.widgets.FileDownload(callback=lambda s=suffix: self._saved(s), filename=f"rpf{suffix}",
                                    label=f"Save as {suffix[1:].upper()}", button_type="primary", width=150)
            for suffix in (".toml", ".json")
        ]  # fmt: skip
        reset = pn.widgets.Button(name="Server defaults", width=140)
        reset.on_click(lambda _: self.settings.update_from(self.session.options.config))
        return pn.Column(
            pn.pane.Markdown(
                "Every parameter of the next run. The files are those of `rpf config --write` and "
                "`rpf run --config`; hover the **?** of a field for its meaning, unit and allowed values. "
                "The `execution` section is the server's: runs go to its shared Dask cluster."
            ),
            pn.FlexBox(*downloads, reset, pn.pane.Markdown("Load a file:"), self.loader),
            pn.pane.HTML(pn.bind(self._errors, self.settings.param.errors, self.param.message)),
            sizing_mode="stretch_width",
        )

    def _pointing(self) -> pn.viewable.Viewable:
        pointing = self.session.pointing
        fields = [
            pn.widgets.TextInput.from_param(pointing.param.ra, name="RA", placeholder="10:00:28.6 or 150.119",
                                            width=200),
            pn.widgets.TextInput.from_param(pointing.param.dec, name="Dec", placeholder="+02:12:21 or 2.206",
                                            width=200),
            pn.widgets.FloatInput.from_param(pointing.param.pixel_scale, name="Scale (arcsec/px)", width=140),
            pn.widgets.FloatInput.from_param(pointing.param.rotation_deg, name="Rotation (deg)", width=120),
        ]
        apply = pn.widgets.Button(name="Apply pointing", button_type="primary", width=140)
        apply.on_click(lambda _: pointing.apply())
        names = ["", *(site.name for site in pointing.observatories)]
        site = pn.widgets.Select(name="Observatory (blank: from the headers)", options=names, width=320)
        site.param.watch(lambda event: pointing.choose_observatory(event.new), "value")
        new = {k: pn.widgets.TextInput(name=k, width=w) for k, w in (("name", 160), ("mpc", 60))}
        numbers = {k: pn.widgets.FloatInput(name=k, width=90) for k in ("lat", "lon", "elev (m)")}
        add = pn.widgets.Button(name="Add site", width=100)

        def add_site(_: object) -> None:
            values = [numbers[k].value for k in ("lat", "lon", "elev (m)")]
            if pointing.add_observatory(new["name"].value, *(v if v is not None else float("nan") for v in values),
                                        mpc_code=new["mpc"].value):  # fmt: skip
                site.options = ["", *(s.name for s in pointing.observatories)]
                site.value = pointing.observatory

        add.on_click(add_site)
        return pn.Card(
            pn.FlexBox(*fields),
            pn.FlexBox(pn.widgets.Checkbox.from_param(pointing.param.flip, name="Flipped"),
                   pn.widgets.Checkbox.from_param(pointing.param.manual,
                                                  name="Use as the WCS (frames that do not solve)"),
                   apply),
            pn.FlexBox(site, new["name"], *numbers.values(), new["mpc"], add),
            pn.pane.Markdown(pointing.param.message, styles={"color": "#22304a"}),
            title="Pointing and observatory", sizing_mode="stretch_width", name="pointing",
        )  # fmt: skip

    def _section(self, section: str) -> pn.Card:
        model = self.settings.sections[section]
        widgets = [field_widget(model, spec) for spec in self.settings.specs[section].values()]
        return pn.Card(pn.GridBox(*widgets, ncols=3, sizing_mode="stretch_width"), title=section, collapsed=True,
                       sizing_mode="stretch_width", name=f"section-{section}")  # fmt: skip

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._toolbar(), self._pointing(), *(self._section(s) for s in self.settings.sections),
            sizing_mode="stretch_width",
        )  # fmt: skip
