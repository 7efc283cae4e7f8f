"""The promptlyd exception tree: every exception class in the package is here.

    PromptlydError                     base of all we raise on purpose → 500
    ├── ConfigError(ValueError)        invalid config: file, line, key
    ├── ValidationError(ValueError)    bad API input: the field, why   → 400
    │   ├── ScheduleError              bad schedule input              scheduling/triggers.py
    │   └── SourceImportError          a server file that can't import sources/importer.py
    ├── NotFound(LookupError)          unknown id: which one           → 404
    ├── Conflict                       state forbids it (dup. slug)    → 409
    │   └── IllegalTransition          a run status change not allowed runs/states.py
    ├── TooLarge                       a request body over the limit   → 413
    ├── NotAvailable                   not offered in local mode       → 501
    ├── AlreadyRunning                 a second daemon, same database
    ├── SecretMissing(LookupError)     no key for a provider / sink
    ├── KeyStoreError                  keyring error, unsafe file      secrets.py
    ├── ModelError                     a model call failed (``kind``)  providers/base.py
    │   └── ToolLoopExceeded           tools wanted at the round limit providers/toolloop.py
    ├── SourceError                    can't connect, or a call failed sources/base.py
    │   ├── OffBase                    would leave the API's base URL  sources/api.py
    │   └── PathRefused                outside a local source's folders sources/local.py
    ├── HTTPFailure                    an outbound request unanswered  httpclient.py
    ├── SkillFileError                 unreadable skill front matter   skills/parse.py
    ├── FrontMatterTooUnusual          can't edit the file in place    skills/edit.py
    ├── ServiceError                   can't install / run the service
    └── CliError(ClickException)       ``Error: …`` on stderr, exit 1  cli/common.py
        └── NotRunningError            no daemon running, exit 2       cli/common.py

Classes without a module beside them live here. ``SkillFileError`` and
``FrontMatterTooUnusual`` never leave their modules (a skill's problem reaches
the API as its ``problem`` text; an unusual file is rewritten whole instead).

The Python client (``promptlyd/client/errors.py``) has its own tree under
``PromptlyError``, mirroring the hosted SDK's; it maps the daemon's error bodies
(``{"error": {"type", "message", "field"}}``) back to typed exceptions.

Foreign errors are mapped at the boundary with ``raise … from exc``. A test
(``tests/test_errors.py``) walks every module and fails on a class left out.
"""

from __future__ import annotations


class PromptlydError(Exception):
    """Base class: every error we raise on purpose derives from this."""

    status = 500
    type = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_body(self) -> dict[str, object]:
        err: dict[str, object] = {"type": self.type, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return {"error": err}


class ServiceError(PromptlydError):
    """``promptly service``: no promptlyd to run, or the service manager refused."""


class ConfigError(PromptlydError, ValueError):
    """The config file is invalid; the message names the file, line and key."""

    type = "config_error"

    def __init__(
        self, message: str, *, path: str | None = None, line: int | None = None,
        key: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}", field=key)
        self.path = path
        self.line = line
        self.key = key


class ValidationError(PromptlydError, ValueError):
    """Bad input; ``field`` names the offending field (camelCase, as sent)."""

    status = 400
    type = "invalid_request"


class NotFound(PromptlydError, LookupError):
    """An id that does not exist."""

    status = 404
    type = "not_found"

    @classmethod
    def no_such(cls, what: str, item_id: str, *, field: str, hint: str = "") -> NotFound:
        """``no task with id '…'`` naming the field that carried the id."""
        return cls(f"no {what} with id {item_id!r}{hint}", field=field)


class Conflict(PromptlydError):
    status = 409
    type = "conflict"


class TooLarge(PromptlydError):
    """A request body over the API's size limit (refused before it is read whole)."""

    status = 413
    type = "payload_too_large"


class NotAvailable(PromptlydError):
    status = 501
    type = "not_available"


class AlreadyRunning(PromptlydError):
    type = "already_running"


class SecretMissing(PromptlydError, LookupError):
    type = "secret_missing"
