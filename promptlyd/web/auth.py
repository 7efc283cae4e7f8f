"""One-time login tokens, sessions and their CSRF tokens, in memory only.

A daemon restart logs everyone out. Tokens are ``secrets.token_urlsafe`` values;
only their SHA-256 digests are kept, and a presented token is compared with every
kept digest by ``hmac.compare_digest`` (constant time). Expiry is checked when a
token is used, never by a timer, so an idle daemon does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from promptlyd.clock import Clock

LOGIN_TTL = timedelta(minutes=10)  # a login link is good for this long, once
SESSION_IDLE = timedelta(hours=12)  # a session unused this long ends
MAX_LOGIN_TOKENS = 16  # outstanding links; the oldest goes first
MAX_SESSIONS = 32


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclass
class Session:
    digest: bytes
    csrf: str
    created_at: datetime
    last_seen: datetime

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), self.csrf.encode())


@dataclass
class Sessions:
    clock: Clock
    _logins: dict[bytes, datetime] = field(default_factory=dict)  # digest → expiry
    _sessions: dict[bytes, Session] = field(default_factory=dict)

    def issue_login_token(self) -> tuple[str, datetime]:
        """A fresh one-time login token and when it expires."""
        now = self.clock.now()
        self._prune(now)
        while len(self._logins) >= MAX_LOGIN_TOKENS:
            del self._logins[min(self._logins, key=self._logins.__getitem__)]
        token = secrets.token_urlsafe(32)
        expires = now + LOGIN_TTL
        self._logins[_digest(token)] = expires
        return token, expires

    def redeem(self, token: str | None) -> tuple[str, Session] | None:
        """Exchange a login token (once) for a new session: (cookie value, session)."""
        if not token:
            return None
        now = self.clock.now()
        self._prune(now)
        found = _find(self._logins, _digest(token))
        if found is None:
            return None
        del self._logins[found]
        while len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
            del self._sessions[oldest.digest]
        cookie = secrets.token_urlsafe(32)
        session = Session(digest=_digest(cookie), csrf=secrets.token_urlsafe(32),
                          created_at=now, last_seen=now)
        self._sessions[session.digest] = session
        return cookie, session

    def lookup(self, cookie: str | None) -> Session | None:
        """The live session of this cookie value, or None."""
        if not cookie:
            return None
        now = self.clock.now()
        self._prune(now)
        found = _find(self._sessions, _digest(cookie))
        if found is None:
            return None
        session = self._sessions[found]
        session.last_seen = now
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.digest, None)

    @property
    def active(self) -> int:
        return len(self._sessions)

    def _prune(self, now: datetime) -> None:
        for digest in [d for d, exp in self._logins.items() if exp <= now]:
            del self._logins[digest]
        for digest in [d for d, s in self._sessions.items() if now - s.last_seen > SESSION_IDLE]:
            del self._sessions[digest]


def _find(table: Iterable[bytes], digest: bytes) -> bytes | None:
    """The key equal to ``digest``, comparing against every key in constant time."""
    found = None
    for key in table:
        if hmac.compare_digest(key, digest):
            found = key
    return found
