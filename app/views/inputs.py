"""Choosing frames: uploads (one message per file), server folders, the demo night."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

import panel as pn
import param

from app.models.inputs import ROLES, write_demo_night
from app.models.session import Session
from app.models.uploads import FITS_SUFFIXES
from rpf.errors import FrameError

__all__ = ["InputsPanel"]

LEVEL_COLOURS = {"ok": "#1b7f3b", "error": "#b00020", "info": "#555555"}


class InputsPanel(pn.viewable.Viewer):
    """Upload boxes per role, the server-folder picker, "load demo frames" and the file messages."""

    session = param.ClassSelector(class_=Session)
    busy = param.Boolean(default=False, doc="The demo night is being simulated.")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        inputs = self.session.inputs
        limit = f"{inputs.max_upload_mb:g}MB"
        self._seen: dict[str, set[str]] = {role: set() for role in ROLES}
        self.droppers = {}
        for role in ROLES:
            dropper = pn.widgets.FileDropper(
                multiple=True,
                max_file_size=limit,
                chunk_size=4_000_000,
                layout="compact",
                name=role,
                sizing_mode="stretch_width",
            )
            dropper.param.watch(lambda event, role=role: self._uploaded(role, event.new), "value")
            self.droppers[role] = dropper
        self.demo = pn.widgets.Button(name="Load demo frames", button_type="success", sizing_mode="stretch_width")
        self.demo.on_click(self._load_demo)
        self.forget = pn.widgets.Button(name="Forget chosen frames", button_type="light", width=170)
        self.forget.on_click(lambda _: self.session.inputs.clear())

    def _uploaded(self, role: str, files: dict[str, bytes]) -> None:
        new = {name: data for name, data in files.items() if name not in self._seen[role]}
        self._seen[role] = set(files)
        if new:
            self.session.inputs.add_uploads(role, new)

    async def _load_demo(self, _: object) -> None:
        options = self.session.options
        self.busy = True
        self.demo.param.update(name="Simulating the demo night ...", disabled=True)
        try:
            paths = await asyncio.to_thread(
                write_demo_night,
                Path(self.session.folder) / "demo",
                n_frames=options.demo_frames,
                size=options.demo_size,
            )
            self.session.inputs.use_demo(paths)
        except (OSError, FrameError) as exc:
            self.session.inputs.messages = [*self.session.inputs.messages, {"level": "error", "text": str(exc)}]
        finally:
            self.busy = False
            self.demo.param.update(name="Load demo frames", disabled=False)

    def _messages(self, messages: list[dict]) -> str:
        items = "".join(
            f"<li style='color:{LEVEL_COLOURS.get(m['level'], '#333')}'>{html.escape(m['text'])}</li>"
            for m in reversed(messages[-12:])
        )
        return f"<ul class='rpf-messages' style='padding-left:1.1em;margin:0;font-size:12px'>{items}</ul>"

    def _summary(self, *_: object) -> str:
        return f"**Chosen:** {self.session.inputs.summary}"

    def _server_folders(self) -> pn.viewable.Viewable:
        inputs = self.session.inputs
        root = pn.widgets.Select(name="Server folder", options=inputs.roots, sizing_mode="stretch_width")
        sub = pn.widgets.TextInput(name="Sub-folder", placeholder="night/2026-03-15", sizing_mode="stretch_width")
        pattern = pn.widgets.TextInput(name="Files", value="*.fits", width=110)
        role = pn.widgets.Select(name="As", options=list(ROLES), width=90)
        add = pn.widgets.Button(name="Add files", button_type="primary", width=90)

        def listing(root_value: str, sub_value: str) -> str:
            try:
                folders, files = inputs.browse(Path(root_value) / sub_value)
            except FrameError as exc:
                return f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
            shown = ", ".join(folders[:12]) + (" ..." if len(folders) > 12 else "")
            return f"<small>{len(files)} FITS file(s); sub-folders: {html.escape(shown) or 'none'}</small>"

        add.on_click(lambda _: inputs.add_server_files(role.value, Path(root.value) / sub.value, pattern.value))
        return pn.Column(
            root, sub, pn.Row(pattern, role, add), pn.pane.HTML(pn.bind(listing, root, sub)), sizing_mode="stretch_width"
        )

    def __panel__(self) -> pn.viewable.Viewable:
        inputs = self.session.inputs
        accepted = ", ".join(FITS_SUFFIXES[:3])
        boxes = pn.Tabs(
            *[(role.capitalize(), self.droppers[role]) for role in ROLES], sizing_mode="stretch_width", name="uploads"
        )
        parts = [
            self.demo,
            pn.pane.Markdown(
                f"Or upload FITS frames ({accepted} ...; at most {inputs.max_upload_mb:g} MB each):",
                styles={"font-size": "13px"},
            ),
            boxes,
        ]
        if inputs.roots:
            parts.append(pn.Card(self._server_folders(), title="Frames on the server", collapsed=True))
        parts += [
            pn.pane.Markdown(pn.bind(self._summary, inputs.param.science, inputs.param.bias, inputs.param.dark,
                                     inputs.param.flat)),
            self.forget,
            pn.pane.HTML(pn.bind(self._messages, inputs.param.messages), name="input-messages"),
        ]  # fmt: skip
        return pn.Column(*parts, sizing_mode="stretch_width")
