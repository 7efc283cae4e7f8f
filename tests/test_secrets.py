"""Key stores, env fallback, backend choice and redaction (SPEC §9).

The real user keyring is never touched: an autouse fixture installs keyring's
``fail`` backend, and tests that need a working keyring install an in-memory
one with ``keyring.set_keyring``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.compat import properties
from keyring.errors import KeyringLocked, PasswordDeleteError

from promptlyd.errors import ConfigError, SecretMissing, ValidationError
from promptlyd.secrets import (
    INDEX_ENTRY,
    SERVICE,
    EnvFallback,
    FileStore,
    KeyringStore,
    KeyStoreError,
    RedactingFilter,
    Redactor,
    env_var_names,
    open_keystore,
)

CANARY = "sk-canary-7f3a9c21e5d04b86"

B = TypeVar("B", bound=KeyringBackend)


def make(cls: type[B]) -> B:
    """keyring's constructors are untyped; build every backend here."""
    return cls()


class _InTestKeyring(KeyringBackend):
    """Base of the in-test backends.

    keyring registers every backend class for its own detection; these report
    themselves viable only while a test has installed one, so detection run by
    another test module never picks them up.
    """

    installed = False

    @properties.classproperty
    def priority(cls) -> float:
        if not _InTestKeyring.installed:
            raise RuntimeError("in-test keyring backend")
        return 1.0


class MemoryKeyring(_InTestKeyring):
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such entry")


class LockedKeyring(_InTestKeyring):
    """Looks viable, fails on use — like a Secret Service without a session bus."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked(f"cannot store {password}")


class HangingKeyring(_InTestKeyring):
    """Blocks on use until released — like an unanswered unlock prompt."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait()


@pytest.fixture(autouse=True)
def no_real_keyring(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """On top of conftest's HOME/XDG isolation: keyring can only reach its fail backend."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setattr(keyring.core, "_keyring_backend", make(fail.Keyring))
    yield
    _InTestKeyring.installed = False


def install(backend: KeyringBackend) -> KeyringBackend:
    _InTestKeyring.installed = True
    keyring.set_keyring(backend)
    return backend


@pytest.fixture
def config_dir(isolated_home: Path) -> Path:
    return isolated_home / ".config" / "promptly"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- file store -----------------------------------------------------------------

def test_file_store_round_trip_with_0600_file_in_0700_folder(config_dir: Path) -> None:
    store = FileStore(config_dir / "secrets.json")
    assert store.get("anthropic") is None
    assert store.names() == []
    assert not config_dir.exists()  # reading creates nothing

    old_umask = os.umask(0)  # the modes must not depend on the umask
    try:
        store.set("anthropic", CANARY)
        store.set("smtp", "hunter2-smtp")
    finally:
        os.umask(old_umask)

    assert store.get("anthropic") == CANARY
    assert store.get("smtp") == "hunter2-smtp"
    assert mode(config_dir / "secrets.json") == 0o600
    assert mode(config_dir) == 0o700
    assert store.backend == f"file: {config_dir / 'secrets.json'}"
    doc = json.loads((config_dir / "secrets.json").read_text())
    assert doc == {"version": 1, "secrets": {"anthropic": CANARY, "smtp": "hunter2-smtp"}}

    store.set("anthropic", "sk-replaced-value")
    assert FileStore(config_dir / "secrets.json").get("anthropic") == "sk-replaced-value"
    assert mode(config_dir / "secrets.json") == 0o600
    assert sorted(os.listdir(config_dir)) == ["secrets.json"]  # no temp files left behind


def test_file_store_leaves_an_existing_folder_mode_alone(config_dir: Path) -> None:
    config_dir.mkdir(parents=True, mode=0o755)
    os.chmod(config_dir, 0o755)
    FileStore(config_dir / "secrets.json").set("openai", CANARY)
    assert mode(config_dir) == 0o755
    assert mode(config_dir / "secrets.json") == 0o600


def test_names_never_show_values(config_dir: Path) -> None:
    store = FileStore(config_dir / "secrets.json")
    store.set("openai", CANARY)
    store.set("anthropic", "sk-other-secret-value")
    names = store.names()
    assert names == ["anthropic", "openai"]
    assert CANARY not in repr(names) + store.backend


def test_file_store_delete(config_dir: Path) -> None:
    store = FileStore(config_dir / "secrets.json")
    store.set("openai", CANARY)
    store.set("smtp", "hunter2-smtp")
    assert store.delete("openai") is True
    assert store.delete("openai") is False
    assert store.get("openai") is None
    assert store.names() == ["smtp"]
    assert CANARY not in (config_dir / "secrets.json").read_text()


def test_file_store_refuses_a_file_others_can_read(config_dir: Path) -> None:
    store = FileStore(config_dir / "secrets.json")
    store.set("openai", CANARY)
    os.chmod(config_dir / "secrets.json", 0o644)
    with pytest.raises(KeyStoreError) as info:
        store.get("openai")
    assert "chmod 600" in info.value.message
    assert "0644" in info.value.message
    assert CANARY not in info.value.message


def test_file_store_reports_broken_json_without_quoting_it(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "secrets.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, f'{{"version": 1, "secrets": {{"openai": "{CANARY}"'.encode())
    os.close(fd)
    with pytest.raises(KeyStoreError) as info:
        FileStore(path).names()
    assert str(path) in info.value.message
    assert CANARY not in info.value.message


@pytest.mark.parametrize("name", ["", "__names__", "__probe__", "has space", "x" * 129, "é"])
def test_invalid_names_are_refused(config_dir: Path, name: str) -> None:
    store = FileStore(config_dir / "secrets.json")
    with pytest.raises(ValidationError):
        store.set(name, CANARY)
    with pytest.raises(ValidationError):
        store.get(name)


def test_empty_values_are_refused(config_dir: Path) -> None:
    with pytest.raises(ValidationError):
        FileStore(config_dir / "secrets.json").set("openai", "")


# --- env fallback ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("anthropic", ["ANTHROPIC_API_KEY", "ANTHROPIC"]),
        ("openai", ["OPENAI_API_KEY", "OPENAI"]),
        ("openrouter", ["OPENROUTER_API_KEY", "OPENROUTER"]),
        ("smtp", ["SMTP_PASSWORD", "SMTP_API_KEY", "SMTP"]),
        ("github-token", ["GITHUB_TOKEN_API_KEY", "GITHUB_TOKEN"]),
        ("source:notes.v2", ["SOURCE_NOTES_V2_API_KEY", "SOURCE_NOTES_V2"]),
        ("my_api_key", ["MY_API_KEY"]),
        ("home", ["HOME_API_KEY"]),  # never $HOME
    ],
)
def test_env_var_names(name: str, expected: list[str]) -> None:
    assert env_var_names(name) == expected


def test_env_fallback_reads_documented_variables(config_dir: Path) -> None:
    env = {
        "ANTHROPIC_API_KEY": "sk-ant-from-env",
        "OPENAI_API_KEY": "",  # empty means unset
        "OPENAI": "sk-openai-bare-var",
        "SMTP_PASSWORD": "smtp-from-env",
        "HOME": "/home/someone",
    }
    keys = EnvFallback(FileStore(config_dir / "secrets.json"), env)
    assert keys.get("anthropic") == "sk-ant-from-env"
    assert keys.source_of("anthropic") == "env:ANTHROPIC_API_KEY"
    assert keys.get("openai") == "sk-openai-bare-var"
    assert keys.source_of("openai") == "env:OPENAI"
    assert keys.get("smtp") == "smtp-from-env"
    assert keys.get("openrouter") is None
    assert keys.source_of("openrouter") is None
    assert keys.get("home") is None

    keys.set("anthropic", CANARY)  # the store wins over the environment
    assert keys.get("anthropic") == CANARY
    assert keys.source_of("anthropic") == "file"
    assert keys.names() == ["anthropic"]


def test_require_names_the_command_and_the_variables(config_dir: Path) -> None:
    keys = EnvFallback(FileStore(config_dir / "secrets.json"), {})
    with pytest.raises(SecretMissing) as info:
        keys.require("openrouter")
    message = info.value.message
    assert "promptly secrets set openrouter" in message
    assert "OPENROUTER_API_KEY" in message


def test_env_fallback_registers_values_for_redaction(config_dir: Path) -> None:
    keys = EnvFallback(FileStore(config_dir / "secrets.json"), {"OPENAI_API_KEY": CANARY})
    assert keys.redactor.redact(f"auth failed for {CANARY}") == f"auth failed for {CANARY}"
    keys.get("openai")
    assert keys.redactor.redact(f"auth failed for {CANARY}") == "auth failed for [redacted]"
    keys.set("smtp", "smtp-secret-value")
    assert keys.redactor.redact("pw=smtp-secret-value") == "pw=[redacted]"


# --- choosing the backend -------------------------------------------------------

def test_auto_falls_back_to_file_with_one_warning_on_the_fail_backend(
    config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keyring.set_keyring(make(fail.Keyring))
    caplog.set_level(logging.DEBUG)
    keys, warning = open_keystore(config_dir, "auto", {})
    assert keys.backend == f"file: {config_dir / 'secrets.json'}"
    assert keys.kind == "file"
    assert warning is not None
    assert "no usable OS keyring" in warning
    assert str(config_dir / "secrets.json") in warning
    assert "secrets_backend" in warning
    assert caplog.records == []  # returned for the caller to log once, not logged here

    keys.set("openai", CANARY)
    assert keys.get("openai") == CANARY
    assert mode(config_dir / "secrets.json") == 0o600


def test_auto_falls_back_on_the_null_backend(config_dir: Path) -> None:
    keyring.set_keyring(make(null.Keyring))
    keys, warning = open_keystore(config_dir, "auto", {})
    assert keys.kind == "file"
    assert warning is not None and "priority -1" in warning


def test_auto_falls_back_when_the_keyring_fails_on_use(config_dir: Path) -> None:
    install(make(LockedKeyring))
    keys, warning = open_keystore(config_dir, "auto", {})
    assert keys.kind == "file"
    assert warning is not None
    assert "KeyringLocked" in warning


def test_auto_falls_back_when_the_keyring_does_not_answer(config_dir: Path) -> None:
    backend = make(HangingKeyring)
    install(backend)
    try:
        keys, warning = open_keystore(config_dir, "auto", {}, probe_timeout=0.05)
    finally:
        backend.release.set()
    assert keys.kind == "file"
    assert warning is not None and "did not answer" in warning


def test_keyring_mode_refuses_when_no_keyring_is_usable(config_dir: Path) -> None:
    keyring.set_keyring(make(fail.Keyring))
    with pytest.raises(ConfigError) as info:
        open_keystore(config_dir, "keyring", {})
    assert 'secrets_backend = "keyring"' in info.value.message
    assert "fail" in info.value.message
    assert info.value.key == "secrets_backend"
    assert not config_dir.exists()


def test_file_mode_never_asks_the_keyring(config_dir: Path) -> None:
    install(make(LockedKeyring))
    keys, warning = open_keystore(config_dir, "file", {})
    assert (keys.kind, warning) == ("file", None)


def test_unknown_backend_is_a_config_error(config_dir: Path) -> None:
    with pytest.raises(ConfigError):
        open_keystore(config_dir, "vault", {})


@pytest.mark.parametrize("backend_setting", ["keyring", "auto"])
def test_keyring_store_with_a_working_keyring(config_dir: Path, backend_setting: str) -> None:
    memory = make(MemoryKeyring)
    install(memory)
    keys, warning = open_keystore(config_dir, backend_setting, {"OPENAI_API_KEY": "sk-env"})
    assert warning is None
    assert keys.backend == f"keyring: {MemoryKeyring.__module__}.MemoryKeyring"
    assert keys.kind == "keyring"

    keys.set("anthropic", CANARY)
    keys.set("smtp", "hunter2-smtp")
    assert keys.get("anthropic") == CANARY
    assert memory.entries[(SERVICE, "anthropic")] == CANARY
    assert json.loads(memory.entries[(SERVICE, INDEX_ENTRY)]) == ["anthropic", "smtp"]
    assert keys.names() == ["anthropic", "smtp"]
    assert keys.source_of("anthropic") == "keyring"
    assert keys.source_of("openai") == "env:OPENAI_API_KEY"

    assert keys.delete("anthropic") is True
    assert keys.delete("anthropic") is False
    assert keys.get("anthropic") is None
    assert keys.names() == ["smtp"]
    assert keys.delete("smtp") is True
    assert keys.names() == []
    assert memory.entries == {}  # the index goes with the last name
    assert not config_dir.exists()


def test_auto_warns_when_a_secrets_file_is_shadowed_by_the_keyring(config_dir: Path) -> None:
    FileStore(config_dir / "secrets.json").set("openai", CANARY)
    install(make(MemoryKeyring))
    keys, warning = open_keystore(config_dir, "auto", {})
    assert keys.kind == "keyring"
    assert warning is not None and "is ignored" in warning
    assert CANARY not in warning


def test_keyring_errors_are_mapped_without_the_value() -> None:
    store = KeyringStore(make(LockedKeyring))
    with pytest.raises(KeyStoreError) as info:
        store.set("openai", CANARY)
    assert "could not store secret 'openai'" in info.value.message
    assert CANARY not in info.value.message
    assert isinstance(info.value.__cause__, KeyringLocked)
    with pytest.raises(KeyStoreError):
        store.get("openai")


def test_env_is_used_when_the_store_fails(caplog: pytest.LogCaptureFixture) -> None:
    keys = EnvFallback(KeyringStore(make(LockedKeyring)), {"OPENAI_API_KEY": CANARY})
    assert keys.get("openai") == CANARY
    assert "OPENAI_API_KEY" in caplog.text
    assert CANARY not in caplog.text
    with pytest.raises(KeyStoreError):
        keys.get("anthropic")  # no variable to fall back on: the store's error stands


# --- redaction ------------------------------------------------------------------

def test_redactor_replaces_every_known_value() -> None:
    redactor = Redactor([CANARY, "abc", "p@ss word/1"])
    assert redactor.redact(f"key={CANARY}; again {CANARY}") == "key=[redacted]; again [redacted]"
    assert redactor.redact("abc stays: too short to redact") == "abc stays: too short to redact"
    assert redactor.redact("url?pw=p%40ss%20word%2F1") == "url?pw=[redacted]"
    assert redactor.redact("") == ""
    assert Redactor().redact(CANARY) == CANARY


def test_redactor_prefers_the_longest_match() -> None:
    redactor = Redactor(["secret-part", "secret-part-and-more"])
    assert redactor.redact("x secret-part-and-more y") == "x [redacted] y"


def test_redacting_filter_scrubs_message_args_and_traceback() -> None:
    redactor = Redactor()
    redactor.add(CANARY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("promptlyd.test.redaction")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("calling the model with key %s", CANARY)
        logger.warning(f"inline {CANARY}")
        try:
            raise RuntimeError(f"401 for key {CANARY}")
        except RuntimeError:
            logger.exception("model call failed")
        logger.info("nothing secret here: %d tokens", 42)
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert CANARY not in output
    assert "INFO calling the model with key [redacted]" in output
    assert "WARNING inline [redacted]" in output
    assert "RuntimeError: 401 for key [redacted]" in output
    assert "nothing secret here: 42 tokens" in output


def test_redactor_add_store_with_a_store_that_adds_back(tmp_path: Path) -> None:
    """EnvFallback.get adds each value it hands out to its redactor: add_store on that same
    redactor must not deadlock (it did, at daemon start, once a secret was stored)."""
    import threading

    from promptlyd.secrets import EnvFallback, FileStore

    keys = EnvFallback(FileStore(tmp_path / "secrets.json"), {})
    keys.set("anthropic", "sk-ant-value-1234")
    done = threading.Event()

    def go() -> None:
        keys.redactor.add_store(keys)
        done.set()

    threading.Thread(target=go, daemon=True).start()
    assert done.wait(5), "add_store deadlocked"
    assert keys.redactor.redact("key sk-ant-value-1234 here") == "key [redacted] here"
