"""User accounts: a real SQLite file, scrypt hashes, the sign-in limit, saved settings restored."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time

import pytest

from app.models.accounts import WRONG, Account, AccountError, AccountStore
from app.models.session import Session
from app.models.settings import Settings
from app.options import ServeOptions
from rpf.config import PipelineConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    return AccountStore(tmp_path / "db" / "accounts.sqlite", clock=Clock())


def test_register_then_sign_in_and_the_password_is_only_a_hash(store):
    user = store.register("vega_obs", "correct horse")
    assert store.sign_in("vega_obs", "correct horse") == user
    assert store.sign_in("VEGA_OBS", "correct horse") == user  # names are case-blind...
    with pytest.raises(AccountError, match="taken"):
        store.register("Vega_Obs", "another password")  # ...so no look-alike account
    assert [p.name for p in store.path.parent.iterdir()] == ["accounts.sqlite"]  # no side file left
    assert b"correct horse" not in store.path.read_bytes()
    with sqlite3.connect(store.path) as db:
        salt, digest = db.execute("SELECT salt, password_hash FROM users").fetchone()
    assert len(salt) == 16 and len(digest) == 32
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600  # hashes readable by the server's user only
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700


def test_unknown_name_and_wrong_password_get_the_same_answer_in_the_same_time(store):
    store.register("vega_obs", "correct horse")
    answers, times = {}, {"unknown": [], "wrong": []}
    for _ in range(2):
        for case, name in (("unknown", "nobody_here"), ("wrong", "vega_obs")):
            start = time.perf_counter()
            with pytest.raises(AccountError) as caught:
                store.sign_in(name, "not the password")
            times[case].append(time.perf_counter() - start)
            answers[case] = str(caught.value)
    assert answers["unknown"] == answers["wrong"] == WRONG
    # both pay the scrypt hash (tens of ms); an unhashed "no such user" would answer in microseconds
    assert min(times["unknown"]) > 0.3 * min(times["wrong"]), times


def test_five_failures_lock_the_name_for_fifteen_minutes(store):
    store.register("vega_obs", "correct horse")
    for _ in range(5):
        with pytest.raises(AccountError, match=WRONG):
            store.sign_in("vega_obs", "guess")
    with pytest.raises(AccountError, match="too many failed sign-ins.*15 min"):
        store.sign_in("vega_obs", "correct horse")  # even the right password, while locked
    store.register("other_obs", "other password")
    assert store.sign_in("other_obs", "other password").name == "other_obs"  # other names are not locked
    store.clock.now += 901
    assert store.sign_in("vega_obs", "correct horse").name == "vega_obs"
    for _ in range(4):  # a success clears the count
        with pytest.raises(AccountError, match=WRONG):
            store.sign_in("vega_obs", "guess")
    assert store.sign_in("vega_obs", "correct horse").name == "vega_obs"


@pytest.mark.parametrize(("name", "password", "why"), [
    ("ab", "long enough", "3 to 32"), ("../etc", "long enough", "3 to 32"), ("a b c", "long enough", "3 to 32"),
    ("x" * 33, "long enough", "3 to 32"), ("fine_name", "short", "8 to 256"),
])  # fmt: skip
def test_names_and_passwords_have_rules(store, name, password, why):
    with pytest.raises(AccountError, match=why):
        store.register(name, password)


def test_saved_settings_come_back_at_sign_in_in_another_session(tmp_path):
    options = ServeOptions(data_dir=tmp_path / "data", accounts_file=tmp_path / "accounts.sqlite")
    first = Session(options=options, cluster=None)
    assert first.account.register("vega_obs", "correct horse")
    first.settings.sections["detection"].threshold_sigma = 4.5
    first.settings.sections["zeropoint"].clip_sigma = 2.5
    assert first.account.save() and first.account.saved_at is not None
    first.account.sign_out()

    second = Session(options=options, cluster=None)  # another browser, another day
    assert second.settings.to_config().detection.threshold_sigma != 4.5
    assert not second.account.sign_in("vega_obs", "wrong password") and second.account.message == WRONG
    assert second.account.sign_in("vega_obs", "correct horse")
    config = second.settings.to_config()
    assert (config.detection.threshold_sigma, config.zeropoint.clip_sigma) == (4.5, 2.5)
    assert config == first.settings.to_config()  # every section, not only the two changed
    assert "restored" in second.account.message

    second.settings.sections["detection"].threshold_sigma = 6.0
    assert second.account.restore() and second.settings.to_config().detection.threshold_sigma == 4.5
    for session in (first, second):
        session.close()


def test_change_password_needs_the_current_one(store, tmp_path):
    user = store.register("vega_obs", "correct horse")
    account = Account(store=store, settings=Settings(PipelineConfig()))
    assert not account.change_password("a", "new passphrase") and "sign in" in account.message
    assert account.sign_in("vega_obs", "correct horse")
    assert not account.change_password("wrong", "new passphrase") and account.message == WRONG
    assert not account.change_password("correct horse", "short") and "8 to 256" in account.message
    assert account.change_password("correct horse", "new passphrase")
    with pytest.raises(AccountError, match=WRONG):
        store.sign_in("vega_obs", "correct horse")
    assert store.sign_in("vega_obs", "new passphrase") == user
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*) FROM failed_sign_ins").fetchone()[0] == 0  # cleared by the success


def test_users_see_only_their_own_settings(store):
    one, two = store.register("one_obs", "password one"), store.register("two_obs", "password two")
    store.save_settings(one, PipelineConfig().replace(detection={"threshold_sigma": 7.0}))
    assert store.saved_settings(two) is None
    config, _ = store.saved_settings(one)
    assert config.detection.threshold_sigma == 7.0


def test_settings_that_no_longer_load_are_reported_and_the_user_signed_in(store):
    user = store.register("vega_obs", "correct horse")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE users SET settings = ?, settings_saved = 1 WHERE id = ?", ('{"retired": {}}', user.id))
    account = Account(store=store, settings=Settings(PipelineConfig()))
    before = account.settings.to_config()
    assert account.sign_in("vega_obs", "correct horse") and account.user == user
    assert "no longer load" in account.message and "retired" in account.message
    assert account.settings.to_config() == before


def test_sessions_on_threads_share_the_file(store):
    """Panel serves sessions from several threads: registrations at once all land, none is lost."""
    errors = []

    def register(k: int) -> None:
        try:
            user = AccountStore(store.path).register(f"observer_{k}", f"password {k:04d}")
            AccountStore(store.path).save_settings(user, PipelineConfig())
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT COUNT(*), COUNT(settings) FROM users").fetchone() == (8, 8)
