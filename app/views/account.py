"""The sidebar's account box: register, sign in and out, save and restore one's settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import panel as pn
import param

from app.models.session import Session

__all__ = ["AccountPanel"]


class AccountPanel(pn.viewable.Viewer):
    """Sign-in form while signed out; the user's name and their settings' buttons while signed in."""

    session = param.ClassSelector(class_=Session)

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.name_input = pn.widgets.TextInput(name="Name", placeholder="account name", sizing_mode="stretch_width")
        self.password = pn.widgets.PasswordInput(name="Password", placeholder="8 characters or more",
                                                 sizing_mode="stretch_width")  # fmt: skip
        self.sign_in_button = pn.widgets.Button(name="Sign in", button_type="primary", sizing_mode="stretch_width")
        self.register_button = pn.widgets.Button(name="Register", button_type="light", sizing_mode="stretch_width")
        self.save_button = pn.widgets.Button(name="Save my settings", button_type="primary",
                                             sizing_mode="stretch_width")  # fmt: skip
        self.restore_button = pn.widgets.Button(name="Restore my settings", button_type="light",
                                                sizing_mode="stretch_width")  # fmt: skip
        self.sign_out_button = pn.widgets.Button(name="Sign out", button_type="light", sizing_mode="stretch_width")
        self.old_password = pn.widgets.PasswordInput(name="Current password", sizing_mode="stretch_width")
        self.new_password = pn.widgets.PasswordInput(name="New password", placeholder="at least 8 characters",
                                                     sizing_mode="stretch_width")  # fmt: skip
        self.change_button = pn.widgets.Button(name="Change password", button_type="light", sizing_mode="stretch_width")
        self.change_box = pn.Card(self.old_password, self.new_password, self.change_button, title="Password",
                                  collapsed=True, sizing_mode="stretch_width")  # fmt: skip
        self.who = pn.pane.Markdown("", margin=(0, 10), name="account-who")
        self.message = pn.pane.Markdown("", margin=(0, 10), name="account-message")
        self.signed_out = pn.Column(self.name_input, self.password,
                                    pn.Row(self.sign_in_button, self.register_button), sizing_mode="stretch_width")
        self.signed_in = pn.Column(self.who, pn.Row(self.save_button, self.restore_button), self.sign_out_button,
                                   self.change_box, sizing_mode="stretch_width")  # fmt: skip
        self.sign_in_button.on_click(lambda _: self._enter(self.session.account.sign_in))
        self.register_button.on_click(lambda _: self._enter(self.session.account.register))
        self.save_button.on_click(lambda _: self.session.account.save())
        self.restore_button.on_click(lambda _: self.session.account.restore())
        self.sign_out_button.on_click(lambda _: self.session.account.sign_out())
        self.change_button.on_click(self._change_password)
        self.session.account.param.watch(self._show, ["user", "message", "saved_at"])
        self._show()

    def _enter(self, action: Callable[[str, str], bool]) -> None:
        """Sign in or register with the typed name and password; the password box is emptied either way."""
        password = self.password.value_input or self.password.value
        self.password.param.update(value="", value_input="")
        action(self.name_input.value_input or self.name_input.value, password)

    def _change_password(self, _: object) -> None:
        """Change the password with the two boxes' values; both are emptied either way."""
        old, new = (box.value_input or box.value for box in (self.old_password, self.new_password))
        for box in (self.old_password, self.new_password):
            box.param.update(value="", value_input="")
        self.session.account.change_password(old, new)

    def _show(self, *_: param.parameterized.Event) -> None:
        account = self.session.account
        signed_in = account.user is not None
        self.signed_in.visible, self.signed_out.visible = signed_in, not signed_in
        if signed_in:
            saved = (dt.datetime.fromtimestamp(account.saved_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
                     if account.saved_at is not None else "never")  # fmt: skip
            self.who.object = f"Signed in as **{account.user.name}** · settings saved: {saved}"
        self.message.object = account.message

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.signed_out, self.signed_in, self.message, sizing_mode="stretch_width",
                         name="account")  # fmt: skip
