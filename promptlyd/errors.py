"""The promptlyd exception tree.

    PromptlydError                      base of everything we raise on purpose
    ├── ConfigError(ValueError)         invalid config file: file, line, key
    ├── ValidationError(ValueError)     bad API input: which field and why      → 400
    ├── NotFound(LookupError)           unknown id: which one                   → 404
    ├── Conflict(PromptlydError)        state forbids it (duplicate slug …)     → 409
    ├── NotAvailable(PromptlydError)    not offered in local mode (billing)     → 501
    ├── AlreadyRunning(PromptlydError)  a second daemon on the same database
    └── SecretMissing(LookupError)      no key for a provider / destination

Foreign errors are mapped at the boundary with ``raise … from exc``.
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


class Conflict(PromptlydError):
    status = 409
    type = "conflict"


class NotAvailable(PromptlydError):
    status = 501
    type = "not_available"


class AlreadyRunning(PromptlydError):
    type = "already_running"


class SecretMissing(PromptlydError, LookupError):
    type = "secret_missing"
