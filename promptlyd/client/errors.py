"""What the Python client raises.

    PromptlyError                                   base of everything the client raises
    ├── ClientConfigError(ValueError)               the config file is invalid / missing
    ├── APIConnectionError(ConnectionError)         the socket could not be talked to
    │   ├── DaemonNotRunning                        no socket, or nobody listening on it
    │   └── APITimeoutError(TimeoutError)           the daemon did not answer in time
    ├── APIResponseValidationError(ValueError)      an answer that is not the documented shape
    ├── RunWaitTimeout(TimeoutError)                ``runs.wait`` ran out of time
    └── APIStatusError                              the daemon answered with an error status
        ├── BadRequestError(ValueError)         400 bad input (``.field`` names it)
        ├── PermissionDeniedError(PermissionError) 403 another user's daemon
        ├── NotFoundError(LookupError)          404 unknown id
        ├── ConflictError                       409 state forbids it (duplicate slug …)
        ├── NotAvailableError                   501 not offered in local mode (billing)
        └── InternalServerError                 other 5xx: a bug in the daemon

Transport errors from httpx are mapped here, at the boundary, and chained with
``raise … from exc``; callers never need to import httpx.
"""

from __future__ import annotations

from typing import Any


class PromptlyError(Exception):
    """Base class of every error the client raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientConfigError(PromptlyError, ValueError):
    """The config file the client was pointed at is missing or invalid."""


class APIConnectionError(PromptlyError, ConnectionError):
    """The daemon's socket could not be reached or the connection broke."""


class DaemonNotRunning(APIConnectionError):
    """No socket at the path, or nothing listening on it."""

    def __init__(self, socket_path: str, *, stale: bool = False) -> None:
        what = f"nothing listening at {socket_path}" if stale else f"no socket at {socket_path}"
        super().__init__(
            f"promptlyd is not running ({what}): start it with `promptlyd` or "
            "`systemctl --user start promptlyd`"
        )
        self.socket_path = socket_path


class APITimeoutError(APIConnectionError, TimeoutError):
    """The daemon did not answer within the client's timeout."""


class APIResponseValidationError(PromptlyError, ValueError):
    """The daemon answered with something that is not the documented shape."""


class RunWaitTimeout(PromptlyError, TimeoutError):
    """``runs.wait`` gave up before the run finished; ``.run`` is the last state seen."""

    def __init__(self, message: str, run: Any) -> None:
        super().__init__(message)
        self.run = run


class APIStatusError(PromptlyError):
    """An error answer: ``status``, and the body's ``type``, ``message`` and ``field``."""

    def __init__(
        self, status: int, type: str, message: str, field: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.field = field
        self.body = body

    def __str__(self) -> str:
        where = f" (field: {self.field})" if self.field else ""
        return f"{self.message}{where}"


class BadRequestError(APIStatusError, ValueError):
    """400: the input was refused; ``field`` says which (camelCase, as the API names it)."""


class PermissionDeniedError(APIStatusError, PermissionError):
    """403: the socket belongs to another user's daemon."""


class NotFoundError(APIStatusError, LookupError):
    """404: no object with that id (or no such endpoint)."""


class ConflictError(APIStatusError):
    """409: the current state forbids the change (a duplicate slug, …)."""


class NotAvailableError(APIStatusError):
    """501: not offered by a local daemon (billing checkout/portal, …)."""


class InternalServerError(APIStatusError):
    """5xx other than 501: a bug in the daemon; its log says more."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    501: NotAvailableError,
}


def status_error(status: int, body: Any, text: str) -> APIStatusError:
    """The typed exception for an error answer (``body`` parsed JSON or None)."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        kind = str(err.get("type") or "error")
        message = str(err.get("message") or f"HTTP {status}")
        field = err.get("field")
        field = str(field) if field is not None else None
    else:
        kind, field = "error", None
        message = text.strip() or f"HTTP {status}"
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    return cls(status, kind, message, field, body)
