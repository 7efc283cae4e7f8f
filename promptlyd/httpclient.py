"""The outbound HTTP client of the hot paths: model calls over Chat Completions and
webhook deliveries.

Built on aiohttp, imported and its session made at first use (or in the start-up
warm-up thread, ``warm``), so importing this module costs nothing. Why not httpx
or the OpenAI SDK: on loopback at 64 requests in flight, one request cost 2.7 ms
of CPU through httpx (its pool looks at every idle connection on every request)
and 2.1 ms through the SDK, against 0.1 ms here — on one event loop that is the
difference between 190 and more than 500 runs a second.

One ``HTTPClient`` per peer role (a provider, the webhook sender); each keeps its
connections alive. Every request runs under one deadline covering connect, send
and the whole body; a body over ``max_body_bytes`` is cut off, not read whole.
Failures without an answer are one exception, ``HTTPFailure``, whose ``kind`` says
timeout, connection or too large; an answer of any status is a ``Response``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from promptlyd import __version__
from promptlyd.errors import PromptlydError

if TYPE_CHECKING:
    import aiohttp

USER_AGENT = f"promptlyd/{__version__}"
MAX_BODY_BYTES = 32 * 1024 * 1024  # an answer larger than this is not a model's reply
_SMALL = 64 * 1024  # a body read only to keep its connection reusable


FailureKind = Literal["timeout", "connection", "too_large"]


class HTTPFailure(PromptlydError):
    """No complete answer: ``kind`` is "timeout", "connection" or "too_large"; the
    message is the reason in a few words, for the caller to put in its own sentence."""

    def __init__(self, message: str, *, kind: FailureKind) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


def warm() -> None:
    """Import aiohttp now (blocking, ~0.15 s: call it from a worker thread)."""
    import aiohttp  # noqa: F401


def tls_context() -> ssl.SSLContext:
    """Certificates verified against certifi's bundle, as httpx and the model SDKs do
    (the same on every system, whatever its own store holds)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class HTTPClient:
    """Keep-alive HTTP/1.1 to any host. ``trust_env`` honours HTTP(S)_PROXY/NO_PROXY
    as the model SDKs do; ``follow_redirects`` is off for webhooks (a redirect is
    their receiver's answer, not an invitation to post elsewhere)."""

    def __init__(self, *, trust_env: bool = False, follow_redirects: bool = False,
                 max_body_bytes: int = MAX_BODY_BYTES, tls_now: bool = False) -> None:
        self._trust_env = trust_env
        self._follow_redirects = follow_redirects
        self.max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None
        # built at the first https request (~20 ms), or now with ``tls_now`` (a provider
        # whose base URL is https, built in a worker thread)
        self._tls: ssl.SSLContext | None = tls_context() if tls_now else None
        # scheme://host → its proxy from the environment (None: direct), looked up once:
        # aiohttp's own trust_env reads the environment and ~/.netrc on every request
        self._proxies: dict[str, str | None] = {}

    def _proxy(self, url: str) -> str | None:
        if not self._trust_env:
            return None
        scheme, _, rest = url.partition("://")
        origin = f"{scheme}://{rest.split('/', 1)[0]}"
        if origin not in self._proxies:
            self._proxies[origin] = proxy_for(scheme, rest.split("/", 1)[0])
        return self._proxies[origin]

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp

            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),  # our one deadline covers it all
            )
        return self._session

    async def request(self, method: str, url: str, *, timeout: float,
                      body: bytes | None = None, headers: Mapping[str, str] | None = None,
                      read_body: bool = True) -> Response:
        """The answer; with ``read_body=False`` only its status and headers matter (a
        webhook receiver's): a small body is read so the connection stays reusable,
        anything else is dropped with the connection."""
        import aiohttp

        if not url[:8].lower().startswith(("http://", "https://")):
            # aiohttp takes "//host/path" for a URL and then trips on its own assert
            raise HTTPFailure("the URL does not start with http:// or https://",
                              kind="connection")
        session = self._client()
        limit = self.max_body_bytes
        tls: ssl.SSLContext | bool = True
        if url[:8].lower() == "https://":
            if self._tls is None:
                self._tls = tls_context()
            tls = self._tls
        try:
            async with asyncio.timeout(timeout):
                async with session.request(method, url, data=body, headers=headers,
                                           proxy=self._proxy(url), ssl=tls,
                                           allow_redirects=self._follow_redirects) as answer:
                    length = answer.content_length
                    if not read_body:
                        if length is not None and length <= _SMALL:
                            await answer.read()
                        else:
                            answer.close()
                        return Response(answer.status, answer.headers, b"")
                    if length is not None and length > limit:
                        raise _too_large(limit)
                    # read in chunks even with a length: a compressed body can grow
                    data = await _read_capped(answer, limit)
                    return Response(answer.status, answer.headers, data)
        except TimeoutError:
            raise HTTPFailure(f"no answer within {timeout:g} s", kind="timeout") from None
        except aiohttp.ClientHttpProxyError as exc:  # its text holds the proxy's URL
            raise HTTPFailure(f"the proxy refused the request ({exc.status} {exc.message})",
                              kind="connection") from exc
        except aiohttp.ClientConnectorCertificateError as exc:
            raise HTTPFailure(f"the server's TLS certificate is not trusted: "
                              f"{getattr(exc, 'certificate_error', exc)}",
                              kind="connection") from exc
        except aiohttp.ClientConnectorError as exc:
            os_error = getattr(exc, "os_error", None)  # not on every aiohttp's subclasses
            reason = (os_error.strerror or str(os_error)) if os_error else str(exc)
            raise HTTPFailure(without_userinfo(reason), kind="connection") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise HTTPFailure("the server closed the connection without answering",
                              kind="connection") from exc
        except (aiohttp.ClientError, ValueError, OSError) as exc:  # a bad URL: ValueError
            raise HTTPFailure(without_userinfo(str(exc) or type(exc).__name__),
                              kind="connection") from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def without_userinfo(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it taken out (a proxy's, say)."""
    return _USERINFO.sub("", text)


def proxy_for(scheme: str, host: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy ``HTTP(S)_PROXY``/``ALL_PROXY`` names for ``scheme://host`` (host may
    carry a port), unless ``NO_PROXY`` exempts the host: ``*``, the host itself, or a
    domain it is under (``example.com`` and ``.example.com`` both cover
    ``api.example.com``) — the rules common to curl and the SDKs (no CIDR ranges)."""
    import os

    env = os.environ if environ is None else environ
    found = {k.lower().removesuffix("_proxy"): v for k, v in env.items()
             if k.lower().endswith("_proxy") and v}
    proxy = found.get(scheme) or found.get("all")
    if proxy is None:
        return None
    name = host.lower()
    bare = name[1:name.find("]")] if name.startswith("[") else name.rsplit(":", 1)[0]
    for entry in (e.strip().lower() for e in found.get("no", "").split(",")):
        domain = entry.lstrip(".")
        if entry == "*" or (domain and (domain in (bare, name)
                                         or bare.endswith("." + domain))):
            return None
    return proxy


async def _read_capped(answer: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> HTTPFailure:
    return HTTPFailure(f"the answer is larger than {limit // (1024 * 1024)} MB",
                       kind="too_large")
