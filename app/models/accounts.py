"""User accounts of the dashboard: sign-in and each user's saved settings, in one SQLite file.

What the earlier version got wrong and this does not: passwords are kept only as salted scrypt
hashes and never in the session; a wrong name and a wrong password get the same answer in the
same time (no user enumeration); sign-ins are limited per name (five failures in fifteen minutes
lock the name for the rest of them); users are known to the rest of the app by a number, never by
a name used in a file path; the database file is readable by the server's user only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import param

from app.models.settings import Settings
from rpf.config import PipelineConfig
from rpf.errors import ConfigError

__all__ = ["Account", "AccountError", "AccountStore", "User"]

NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")
"""Account names: 3 to 32 letters, digits, ``_``, ``.`` or ``-``, starting with a letter or digit."""

PASSWORD_LENGTH = (8, 256)
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
"""scrypt cost (16 MiB, ~50 ms a hash): slow for a guesser, quick for a user."""

WRONG = "wrong name or password"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    salt BLOB NOT NULL,
    password_hash BLOB NOT NULL,
    created REAL NOT NULL,
    settings TEXT,
    settings_saved REAL
);
CREATE TABLE IF NOT EXISTS failed_sign_ins (name TEXT NOT NULL COLLATE NOCASE, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS failed_by_name ON failed_sign_ins (name, at);
"""


class AccountError(Exception):
    """A refused registration, sign-in or settings operation; the message is for the user."""


@dataclass(frozen=True)
class User:
    """A signed-in user: the number the app knows them by, and the name they chose."""

    id: int
    name: str


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)


class AccountStore:
    """Accounts and their saved settings in a SQLite file (created on first use).

    Parameters
    ----------
    path : path-like
        The database file; its folder is created, and the file made private to the server's user.
    max_failures : int
        Failed sign-ins of one name within ``lockout_s`` after which the name is refused.
    lockout_s : float
        The window of failed sign-ins, in seconds.
    clock : callable
        Seconds since the epoch (tests pass their own).
    """

    def __init__(self, path: str | os.PathLike[str], *, max_failures: int = 5, lockout_s: float = 900.0,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.path = Path(path).expanduser()
        self.max_failures, self.lockout_s, self.clock = max_failures, lockout_s, clock
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new folder: the server's user only
        with self._db() as db:
            db.executescript(SCHEMA)
        self.path.chmod(0o600)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """One connection per operation, committed or rolled back: sessions on other threads share the file.

        The default rollback journal (not WAL), so no lasting side file holds hashes with looser permissions.
        """
        db = sqlite3.connect(self.path, timeout=10.0)
        try:
            with db:
                yield db
        finally:
            db.close()

    # ---- accounts ------------------------------------------------------------------------------------------

    def register(self, name: str, password: str) -> User:
        """Create an account; return its user.

        Raises
        ------
        AccountError
            The name breaks :data:`NAME_RULE` or is taken, or the password is too short or too long.
        """
        name = name.strip()
        if not NAME_RULE.fullmatch(name):
            raise AccountError("a name is 3 to 32 letters, digits, '_', '.' or '-', starting with a letter or digit")
        self._check_password(password)
        salt = secrets.token_bytes(16)
        try:
            with self._db() as db:
                cursor = db.execute("INSERT INTO users (name, salt, password_hash, created) VALUES (?, ?, ?, ?)",
                                    (name, salt, _hash(password, salt), self.clock()))  # fmt: skip
        except sqlite3.IntegrityError:
            raise AccountError(f"the name {name!r} is taken") from None
        return User(int(cursor.lastrowid), name)

    def sign_in(self, name: str, password: str) -> User:
        """Return the user whose name and password these are.

        Raises
        ------
        AccountError
            The same message for an unknown name and a wrong password; another when the name has had
            too many failed sign-ins lately (then even the right password is refused until they age).
        """
        name, now = name.strip(), self.clock()
        with self._db() as db:
            recent = db.execute("SELECT COUNT(*), MIN(at) FROM failed_sign_ins WHERE name = ? AND at > ?",
                                (name, now - self.lockout_s)).fetchone()  # fmt: skip
            if recent[0] >= self.max_failures:
                wait = max(1, round((recent[1] + self.lockout_s - now) / 60))
                raise AccountError(f"too many failed sign-ins for this name: try again in {wait} min")
            row = db.execute("SELECT id, name, salt, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        salt, stored = (row[2], row[3]) if row else (b"\0" * 16, b"")
        given = _hash(password, salt)  # computed for unknown names too: the answer takes as long
        if row is None or not hmac.compare_digest(given, stored):
            with self._db() as db:
                db.execute("INSERT INTO failed_sign_ins (name, at) VALUES (?, ?)", (name, now))
                db.execute("DELETE FROM failed_sign_ins WHERE at < ?", (now - self.lockout_s,))
            raise AccountError(WRONG)
        with self._db() as db:
            db.execute("DELETE FROM failed_sign_ins WHERE name = ?", (name,))
        return User(int(row[0]), str(row[1]))

    def change_password(self, user: User, old: str, new: str) -> None:
        """Replace the user's password, given the current one (counted like a sign-in when wrong).

        Raises
        ------
        AccountError
            The current password is wrong, the name is locked, or the new password breaks the rules.
        """
        self._check_password(new)
        self.sign_in(user.name, old)
        salt = secrets.token_bytes(16)
        with self._db() as db:
            db.execute("UPDATE users SET salt = ?, password_hash = ? WHERE id = ?", (salt, _hash(new, salt), user.id))

    @staticmethod
    def _check_password(password: str) -> None:
        if not PASSWORD_LENGTH[0] <= len(password) <= PASSWORD_LENGTH[1]:
            raise AccountError(f"a password is {PASSWORD_LENGTH[0]} to {PASSWORD_LENGTH[1]} characters")

    # ---- saved settings ------------------------------------------------------------------------------------

    def save_settings(self, user: User, config: PipelineConfig) -> None:
        """Keep ``config`` (every section, secrets included) as the user's settings."""
        text = json.dumps(config.to_dict(secrets=True), sort_keys=True)
        with self._db() as db:
            db.execute("UPDATE users SET settings = ?, settings_saved = ? WHERE id = ?", (text, self.clock(), user.id))

    def saved_settings(self, user: User) -> tuple[PipelineConfig, float] | None:
        """Return the user's saved settings and when they were saved, or None.

        Raises
        ------
        AccountError
            The saved settings no longer load (a parameter since removed or given new rules).
        """
        with self._db() as db:
            row = db.execute("SELECT settings, settings_saved FROM users WHERE id = ?", (user.id,)).fetchone()
        if row is None or row[0] is None:
            return None
        try:
            return PipelineConfig.from_dict(json.loads(row[0])), float(row[1])
        except (ConfigError, ValueError) as exc:
            raise AccountError(f"your saved settings no longer load: {exc}") from None


class Account(param.Parameterized):
    """One browser session's account: who is signed in, and their settings saved or restored.

    The password is passed to :meth:`register` and :meth:`sign_in` and kept nowhere.
    """

    user = param.ClassSelector(class_=User, default=None, allow_None=True, doc="The signed-in user, or None.")
    message = param.String(default="", doc="What the last action did or why it was refused.")
    saved_at = param.Number(default=None, allow_None=True, doc="When the user's settings were saved (epoch s).")

    def __init__(self, *, store: AccountStore, settings: Settings, **params: Any) -> None:
        super().__init__(**params)
        self.store, self.settings = store, settings

    def _user(self, call: Callable[[str, str], User], name: str, password: str) -> User | None:
        """Return the user ``call`` (register or sign in) gives, or None with its refusal as the message."""
        try:
            return call(name, password)
        except AccountError as exc:
            self.message = str(exc)
            return None

    def register(self, name: str, password: str) -> bool:
        """Create an account and sign in to it; return whether it worked (``message`` says why not)."""
        user = self._user(self.store.register, name, password)
        if user is not None:
            self.param.update(user=user, saved_at=None, message=f"account {user.name!r} created; you are signed in")
        return user is not None

    def sign_in(self, name: str, password: str) -> bool:
        """Sign in; the user's saved settings, if any, become the settings of the next run."""
        user = self._user(self.store.sign_in, name, password)
        if user is None:
            return False
        try:
            saved = self.store.saved_settings(user)
        except AccountError as exc:  # signed in all the same, with the settings on screen
            self.param.update(user=user, saved_at=None, message=f"signed in as {user.name}; {exc}")
            return True
        if saved is None:
            self.param.update(user=user, saved_at=None, message=f"signed in as {user.name}; no saved settings yet")
            return True
        self.settings.update_from(saved[0])
        self.param.update(user=user, saved_at=saved[1], message=f"signed in as {user.name}; your settings restored")
        return True

    def change_password(self, old: str, new: str) -> bool:
        """Replace the signed-in user's password; return whether it worked (``message`` says why not)."""
        if self.user is None:
            self.message = "sign in to change your password"
            return False
        try:
            self.store.change_password(self.user, old, new)
        except AccountError as exc:
            self.message = str(exc)
            return False
        self.message = "your password is changed"
        return True

    def sign_out(self) -> None:
        """Forget the user (the settings on screen stay as they are)."""
        self.param.update(user=None, saved_at=None, message="signed out")

    def save(self) -> bool:
        """Save the settings on screen as the user's."""
        if self.user is None:
            self.message = "sign in to save your settings"
            return False
        try:
            config = self.settings.to_config()
        except ConfigError as exc:
            self.message = f"fix the settings first: {exc}"
            return False
        self.store.save_settings(self.user, config)
        self.param.update(saved_at=self.store.clock(), message="your settings are saved")
        return True

    def restore(self) -> bool:
        """Put the user's saved settings back on screen."""
        if self.user is None:
            self.message = "sign in to restore your settings"
            return False
        try:
            saved = self.store.saved_settings(self.user)
        except AccountError as exc:
            self.message = str(exc)
            return False
        if saved is None:
            self.message = "nothing saved yet"
            return False
        self.settings.update_from(saved[0])
        self.param.update(saved_at=saved[1], message="your saved settings are back")
        return True
