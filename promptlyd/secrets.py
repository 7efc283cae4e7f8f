"""Secrets (SPEC §9): the OS keyring, a 0600 file where there is none, env vars last.

API keys, the SMTP password, source tokens and webhook secrets are looked up by
*name* (``"anthropic"``, ``"smtp"``, …); config and the database only ever hold
names. Every store satisfies :class:`KeyStore`:

* :class:`KeyringStore` — the OS keyring through ``keyring``, service
  ``promptlyd``, one entry per name. The keyring API cannot list entries, so the
  store keeps its own index: a JSON list of names in the entry ``__names__`` of
  the same service. Names are not secret, but keeping the index in the keyring
  keeps it beside the secrets (one place to clear, nothing in the config
  folder). ``names()`` reads that index, so an entry created with another tool
  (``keyring set promptlyd NAME``) is found by ``get`` but not listed.
* :class:`FileStore` — ``<config_dir>/secrets.json``:
  ``{"version": 1, "secrets": {"name": "value"}}``. Written through a temp file
  created with ``O_CREAT | O_EXCL`` and mode 0600, fsynced, then ``os.replace``d
  over the old one. A folder it creates is made 0700; an existing folder is left
  as it is (the file is 0600 either way). Like OpenSSH with a private key, it
  refuses to read a file that group or others may read or write, or that another
  user owns — the error says ``chmod 600 …``.
* :class:`EnvFallback` — wraps a store: ``get`` returns the stored value, else
  the first non-empty variable of :func:`env_var_names`.

:func:`open_keystore` picks the store from config ``secrets_backend``
(``"auto"``, ``"keyring"``, ``"file"``). A keyring is *usable* when keyring's
active backend is not its ``fail`` backend, not a chainer with nothing to
chain, has a priority above 0 (this also rules out ``null.Keyring``), and a read
of a dummy entry answers within a few seconds without raising: detection alone
is not enough, since a systemd user service or SSH session without a D-Bus
session bus fails only on use (jaraco/keyring #280, #569, #620).

:class:`Redactor` and :class:`RedactingFilter` keep known secret values out of
logs and error messages; :class:`EnvFallback` registers every value it hands
out. Nothing here logs a secret value.

Keyring calls block (D-Bus round trips, maybe an unlock prompt): call them from
a worker thread (``asyncio.to_thread``) in async code.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import quote

from promptlyd.errors import ConfigError, PromptlydError, SecretMissing, ValidationError
from promptlyd.files import atomic_write

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

SERVICE = "promptlyd"  # the keyring service name
INDEX_ENTRY = "__names__"  # keyring entry holding the JSON list of names
PROBE_ENTRY = "__probe__"  # dummy entry read to test the keyring; never written
FILE_NAME = "secrets.json"
FILE_FORMAT_VERSION = 1
PROBE_TIMEOUT_SECONDS = 10.0
REDACTED = "[redacted]"
MIN_REDACT_LENGTH = 4  # shorter values are not redacted: they would shred every log line

# Extra variables tried first for a few names, where a convention exists.
ENV_ALIASES: Mapping[str, tuple[str, ...]] = {"smtp": ("SMTP_PASSWORD",)}

# Standard process variables never read as a secret's bare variable ("home" ≠ $HOME).
_PROCESS_VARIABLES = frozenset({
    "HOME", "PATH", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TERM", "LANG",
    "LANGUAGE", "TZ", "TMPDIR", "DISPLAY", "EDITOR", "PAGER", "HOSTNAME", "MAIL",
})

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}")
_NOT_ALNUM = re.compile(r"[^A-Z0-9]")

T = TypeVar("T")


class KeyStoreError(PromptlydError):
    """A secret store failed (keyring error, unreadable or unsafe secrets file)."""

    type = "secret_store_error"


class KeyStore(Protocol):
    """Where secrets live. Names are validated by :func:`check_name`."""

    backend: str  # "keyring: <backend class>" or "file: <path>" — for doctor and logs

    def get(self, name: str) -> str | None:
        """The secret, or None when there is none."""
        ...

    def set(self, name: str, value: str) -> None:
        """Store (or replace) a secret; an empty value is refused."""
        ...

    def delete(self, name: str) -> bool:
        """Remove a secret; False when there was none."""
        ...

    def names(self) -> list[str]:
        """The stored names, sorted. Never values."""
        ...


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise ValidationError.

    1-128 characters: ASCII letters, digits and ``. _ : @ / + -``, starting with
    a letter or digit (so ``__names__`` and ``__probe__`` stay reserved).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            f"invalid secret name {name!r}: use 1-128 letters, digits and . _ : @ / + -, "
            "starting with a letter or digit (e.g. 'anthropic')",
            field="name",
        )
    return name


def _check_value(value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError("a secret value must be a non-empty string", field="value")


def env_var_names(name: str) -> list[str]:
    """The environment variables read for secret ``name``, in the order tried.

    ``N`` is ``name`` upper-cased with every character outside ``A-Z0-9``
    replaced by ``_``. The candidates are, duplicates removed:

    1. the aliases in :data:`ENV_ALIASES` (``smtp`` → ``SMTP_PASSWORD``);
    2. ``N_API_KEY``, unless ``N`` already ends with ``_API_KEY``;
    3. ``N`` itself, unless it is a standard process variable (``HOME``, ``PATH``, …).

    ``anthropic`` → ``ANTHROPIC_API_KEY``, ``ANTHROPIC``; ``smtp`` →
    ``SMTP_PASSWORD``, ``SMTP_API_KEY``, ``SMTP``; ``github-token`` →
    ``GITHUB_TOKEN_API_KEY``, ``GITHUB_TOKEN``.
    """
    upper = _NOT_ALNUM.sub("_", name.upper())
    candidates = list(ENV_ALIASES.get(name, ()))
    if not upper.endswith("_API_KEY"):
        candidates.append(f"{upper}_API_KEY")
    if upper not in _PROCESS_VARIABLES:
        candidates.append(upper)
    return list(dict.fromkeys(candidates))


def missing_message(name: str) -> str:
    """The error text for a secret that is nowhere: says how to add it."""
    variables = " or ".join(env_var_names(name))
    return (
        f"No secret named {name!r} - add one with 'promptly secrets set {name}' "
        f"or set the {variables} environment variable"
    )


# --- the OS keyring ---------------------------------------------------------

def _class_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class KeyringStore:
    """Secrets in the OS keyring (service :data:`SERVICE`), with a name index entry."""

    def __init__(self, keyring_backend: KeyringBackend | None = None) -> None:
        if keyring_backend is None:
            import keyring

            keyring_backend = keyring.get_keyring()
        self._keyring = keyring_backend
        self.backend = f"keyring: {_class_name(keyring_backend)}"
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        check_name(name)
        return self._call("read", name, lambda: self._keyring.get_password(SERVICE, name))

    def set(self, name: str, value: str) -> None:
        check_name(name)
        _check_value(value)
        with self._lock:
            self._call(
                "store", name, lambda: self._keyring.set_password(SERVICE, name, value),
                hide=value,
            )
            names = self._read_index()
            if name not in names:
                self._write_index([*names, name])

    def delete(self, name: str) -> bool:
        check_name(name)
        with self._lock:
            existed = self._remove(name)
            names = self._read_index()
            if name in names:
                self._write_index([n for n in names if n != name])
        return existed

    def names(self) -> list[str]:
        with self._lock:
            return self._read_index()

    def _remove(self, name: str) -> bool:
        from keyring.errors import PasswordDeleteError

        if self._call("read", name, lambda: self._keyring.get_password(SERVICE, name)) is None:
            return False
        try:
            self._keyring.delete_password(SERVICE, name)
        except PasswordDeleteError:
            return False  # gone between the read and the delete
        except Exception as exc:
            raise self._error("delete", name, exc) from exc
        return True

    def _read_index(self) -> list[str]:
        raw = self._call(
            "read", INDEX_ENTRY, lambda: self._keyring.get_password(SERVICE, INDEX_ENTRY)
        )
        if raw is None:
            return []
        try:
            names = json.loads(raw)
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            log.warning("the keyring entry %s/%s is not a JSON list of names; ignoring it",
                        SERVICE, INDEX_ENTRY)
            return []
        return sorted(set(names))

    def _write_index(self, names: list[str]) -> None:
        from keyring.errors import PasswordDeleteError

        if names:
            text = json.dumps(sorted(set(names)))
            self._call(
                "store", INDEX_ENTRY,
                lambda: self._keyring.set_password(SERVICE, INDEX_ENTRY, text),
            )
            return
        try:
            self._keyring.delete_password(SERVICE, INDEX_ENTRY)
        except PasswordDeleteError:
            pass
        except Exception as exc:
            raise self._error("delete", INDEX_ENTRY, exc) from exc

    def _call(self, action: str, name: str, fn: Callable[[], T], hide: str | None = None) -> T:
        try:
            return fn()
        except PromptlydError:
            raise
        except Exception as exc:
            raise self._error(action, name, exc, hide) from exc

    def _error(
        self, action: str, name: str, exc: Exception, hide: str | None = None
    ) -> KeyStoreError:
        detail = str(exc) or type(exc).__name__
        if hide:
            detail = detail.replace(hide, REDACTED)
        return KeyStoreError(
            f"the OS keyring ({self.backend.removeprefix('keyring: ')}) could not {action} "
            f"secret {name!r}: {detail}. Unlock the keyring, or set "
            'secrets_backend = "file" in the config to keep secrets in a 0600 file'
        )


@dataclass(frozen=True)
class KeyringCheck:
    """The outcome of :func:`check_keyring`."""

    backend: KeyringBackend | None  # the usable backend, or None
    name: str  # its class, e.g. "keyring.backends.SecretService.Keyring" ("" if unknown)
    reason: str | None  # why it is not usable; None when usable

    @property
    def usable(self) -> bool:
        return self.reason is None


def check_keyring(*, probe_timeout: float = PROBE_TIMEOUT_SECONDS) -> KeyringCheck:
    """Is keyring's active backend a real, working store? (See the module docstring.)"""
    import keyring
    from keyring.backends import chainer, fail

    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # detection itself can fail without a session bus (#620)
        return KeyringCheck(None, "", f"keyring backend detection failed: {exc}")
    name = _class_name(backend)
    if isinstance(backend, fail.Keyring):
        return KeyringCheck(None, name, "keyring found no OS keyring backend "
                                        "and fell back to its 'fail' backend")
    try:
        if isinstance(backend, chainer.ChainerBackend) and not type(backend).backends:
            return KeyringCheck(None, name, "keyring's chainer backend has no keyrings to chain")
        priority = float(type(backend).priority)
    except Exception as exc:
        return KeyringCheck(None, name, f"{name} is not viable: {exc}")
    if priority <= 0:
        return KeyringCheck(None, name, f"{name} has priority {priority:g}, so it stores nothing")
    problem = _probe(backend, probe_timeout)
    if problem is not None:
        return KeyringCheck(None, name, f"{name} {problem}")
    return KeyringCheck(backend, name, None)


def _probe(backend: KeyringBackend, timeout: float) -> str | None:
    """Read the dummy entry in a helper thread; a locked keyring may block on a prompt."""
    outcome: list[Exception | None] = []

    def read() -> None:
        try:
            backend.get_password(SERVICE, PROBE_ENTRY)
        except Exception as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=read, name="promptlyd-keyring-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or not outcome:
        return f"did not answer a test read within {timeout:g} s (waiting for an unlock prompt?)"
    exc = outcome[0]
    if exc is not None:
        return f"failed a test read: {type(exc).__name__}: {exc}"
    return None


# --- the file store -----------------------------------------------------------

class FileStore:
    """Secrets in a JSON file, mode 0600 (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.backend = f"file: {self.path}"
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        check_name(name)
        return self._load().get(name)

    def set(self, name: str, value: str) -> None:
        check_name(name)
        _check_value(value)
        with self._lock:
            data = self._load()
            data[name] = value
            self._save(data)

    def delete(self, name: str) -> bool:
        check_name(name)
        with self._lock:
            data = self._load()
            if name not in data:
                return False
            del data[name]
            self._save(data)
            return True

    def names(self) -> list[str]:
        return sorted(self._load())

    def _load(self) -> dict[str, str]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise KeyStoreError(f"cannot read {self.path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            self._check_safe(st)
            raw = fh.read()
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            # The exception text could quote the file; name only the position.
            where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise KeyStoreError(
                f"{self.path} is not valid JSON{where}; fix it, or move it aside and set "
                "the secrets again with 'promptly secrets set NAME'"
            ) from None
        secrets = doc.get("secrets") if isinstance(doc, dict) else None
        if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
        ):
            raise KeyStoreError(
                f'{self.path} must hold {{"version": 1, "secrets": {{"name": "value", ...}}}}'
            )
        return dict(secrets)

    def _check_safe(self, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            raise KeyStoreError(f"{self.path} is not a regular file")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise KeyStoreError(
                f"{self.path} belongs to another user (uid {st.st_uid}); refusing to use it"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyStoreError(
                f"{self.path} is accessible by other users (mode {mode:04o}); "
                f"refusing to read it. Run 'chmod 600 {self.path}' (and change any secret "
                "that may have been read)"
            )

    def _save(self, data: Mapping[str, str]) -> None:
        folder = self.path.parent
        body = json.dumps(
            {"version": FILE_FORMAT_VERSION, "secrets": dict(sorted(data.items()))}, indent=2
        ) + "\n"
        try:
            self._make_folder(folder)
            atomic_write(self.path, body, mode=0o600)  # exactly 0600, whatever the umask
        except OSError as exc:
            raise KeyStoreError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    @staticmethod
    def _make_folder(folder: Path) -> None:
        if folder.is_dir():
            return
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            return  # someone else made it; leave its mode alone
        os.chmod(folder, 0o700)


# --- env fallback -------------------------------------------------------------

class EnvFallback:
    """A store with environment variables as fallback; registers values for redaction."""

    def __init__(
        self, store: KeyStore, env: Mapping[str, str], redactor: Redactor | None = None
    ) -> None:
        self.store = store
        self.env = env
        self.backend = store.backend
        self.redactor = redactor if redactor is not None else Redactor()

    @property
    def kind(self) -> str:
        """``"keyring"`` or ``"file"``: the first word of the store's ``backend``."""
        return self.backend.split(":", 1)[0]

    def get(self, name: str) -> str | None:
        """The stored secret, else the first non-empty variable of :func:`env_var_names`.

        If the store fails but a variable is set, the variable is used (with a
        warning that names the variable, never the value).
        """
        try:
            value = self.store.get(name)
        except KeyStoreError as exc:
            var = self._env_var(name)
            if var is None:
                raise
            log.warning("secret %r: %s; using $%s instead", name, exc.message, var)
            value = None
        if value is None:
            var = self._env_var(name)
            value = self.env[var] if var is not None else None
        if value is not None:
            self.redactor.add(value)
        return value

    def require(self, name: str) -> str:
        """Like ``get``, but a missing secret raises SecretMissing saying how to add it."""
        value = self.get(name)
        if value is None:
            raise SecretMissing(missing_message(name), field=name)
        return value

    def source_of(self, name: str) -> str | None:
        """Where ``get`` finds the secret: ``"keyring"``, ``"file"``, ``"env:VAR"`` or None."""
        if self.store.get(name) is not None:
            return self.kind
        var = self._env_var(name)
        return f"env:{var}" if var is not None else None

    def set(self, name: str, value: str) -> None:
        self.store.set(name, value)
        self.redactor.add(value)

    def delete(self, name: str) -> bool:
        return self.store.delete(name)

    def names(self) -> list[str]:
        """The names in the store (variables cannot be listed without guessing names)."""
        return self.store.names()

    def _env_var(self, name: str) -> str | None:
        for var in env_var_names(name):
            if self.env.get(var):
                return var
        return None


def open_keystore(
    config_dir: Path,
    backend: str,
    env: Mapping[str, str],
    *,
    probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    redactor: Redactor | None = None,
) -> tuple[EnvFallback, str | None]:
    """The key store for config ``secrets_backend``, and at most one warning to show.

    ``"file"``: ``<config_dir>/secrets.json``. ``"keyring"``: the OS keyring, or
    ConfigError when it is not usable. ``"auto"``: the keyring when usable, else
    the file, with a warning saying why. The warning is returned, not logged:
    the daemon logs it once and ``promptly doctor`` prints it.
    """
    path = Path(config_dir) / FILE_NAME
    if backend == "file":
        return EnvFallback(FileStore(path), env, redactor), None
    if backend not in ("auto", "keyring"):
        raise ConfigError(
            f"secrets_backend: must be 'auto', 'keyring' or 'file', got {backend!r}",
            key="secrets_backend",
        )
    check = check_keyring(probe_timeout=probe_timeout)
    if check.backend is not None:
        warning = None
        if path.exists():
            warning = (
                f"{path} exists but secrets are read from the OS keyring ({check.name}); "
                "the file is ignored. Set secrets_backend = \"file\" to use it, or set its "
                "secrets again with 'promptly secrets set NAME' and delete it"
            )
        return EnvFallback(KeyringStore(check.backend), env, redactor), warning
    if backend == "keyring":
        raise ConfigError(
            f'secrets_backend = "keyring", but no OS keyring is usable: {check.reason}. '
            "Start or unlock a Secret Service (GNOME Keyring, KWallet) in this session, or "
            'set secrets_backend = "auto" or "file"',
            key="secrets_backend",
        )
    warning = (
        f"no usable OS keyring: {check.reason}. Secrets are kept in {path} (mode 0600); "
        'set secrets_backend = "file" in the config to choose this explicitly'
    )
    return EnvFallback(FileStore(path), env, redactor), warning


# --- redaction ----------------------------------------------------------------

class Redactor:
    """Replaces known secret values in text with ``[redacted]``.

    Each value is matched as written, stripped of surrounding whitespace, and
    percent-encoded (as it appears in a URL query). Values shorter than
    :data:`MIN_REDACT_LENGTH` are ignored. Longer values win over values they
    contain. Thread-safe; ``add`` may be called while other threads redact.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.update(values)

    def add(self, value: str) -> None:
        self.update((value,))

    def update(self, values: Iterable[str]) -> None:
        with self._lock:
            found = set(self._values)
            for value in values:
                for variant in (value, value.strip(), quote(value, safe="")):
                    if len(variant) >= MIN_REDACT_LENGTH:
                        found.add(variant)
            if found == self._values:
                return
            self._values = frozenset(found)
            ordered = sorted(found, key=lambda v: (-len(v), v))
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def add_store(self, store: KeyStore) -> None:
        """Register every value currently in ``store`` (e.g. at daemon start)."""
        # Read them all before taking the lock: a store may call ``add`` on us from ``get``.
        values = [v for v in (store.get(n) for n in store.names()) if v is not None]
        self.update(values)

    def __len__(self) -> int:
        return len(self._values)

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from a record's message, traceback and stack.

    The message is formatted with its args, redacted, and stored back with no
    args. Attach it to *handlers*: a filter on a logger does not see records
    propagated from its children.
    """

    def __init__(self, redactor: Redactor, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not len(self.redactor):
            return True
        try:
            message = record.getMessage()
        except Exception:  # bad args: keep what we can, redacted
            message = f"{record.msg} (log arguments: {record.args!r})"
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True
