"""The outbound HTTP client (``promptlyd.httpclient``) against real loopback peers, and
its proxy rules from the environment (``proxy_for``, pure)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptlyd import __version__
from promptlyd.httpclient import HTTPClient, HTTPFailure, proxy_for, without_userinfo
from tests.fakes.helpers import serving, within
from tests.fakes.http_peers import HTTPPeer

WAIT = 30.0

LIMIT = 64 * 1024  # max_body_bytes of the client under test


@pytest.fixture
def peer() -> Iterator[HTTPPeer]:
    with HTTPPeer() as p:
        yield p


@pytest.fixture
async def client() -> AsyncIterator[HTTPClient]:
    c = HTTPClient(max_body_bytes=LIMIT)
    yield c
    await c.aclose()


async def failure(client: HTTPClient, url: str, *, timeout: float = 30.0,
                  read_body: bool = True) -> HTTPFailure:
    """The HTTPFailure a request ends in (``within`` fails a hung test long before 60 s)."""
    with pytest.raises(HTTPFailure) as info:
        await within(client.request("GET", url, timeout=timeout, read_body=read_body), 60)
    return info.value


# --- answers ------------------------------------------------------------------------

async def test_an_answer_has_its_status_case_insensitive_headers_and_body(
        peer: HTTPPeer, client: HTTPClient) -> None:
    answer = await within(client.request("POST", peer.url + "/ok", timeout=30, body=b"ping",
                                         headers={"X-Sent": "1"}))
    assert answer.status == 200
    assert answer.body == b"hello"
    assert answer.headers["x-peer-thing"] == "yes"
    assert answer.headers["X-PEER-THING"] == "yes"
    assert answer.headers["Content-Length"] == "5"
    [seen] = peer.seen
    assert (seen.method, seen.target, seen.body) == ("POST", "/ok", b"ping")
    assert seen.headers["x-sent"] == "1"
    assert seen.headers["user-agent"] == f"promptlyd/{__version__}"


async def test_connections_are_kept_alive_and_aclose_ends_them_for_a_new_session(
        peer: HTTPPeer, client: HTTPClient) -> None:
    for _ in range(2):
        assert (await within(client.request("GET", peer.url + "/ok", timeout=30))).body \
            == b"hello"
    await client.aclose()
    again = await within(client.request("GET", peer.url + "/ok", timeout=30))
    assert (again.status, again.body) == (200, b"hello")
    first, second, third = (s.client_port for s in peer.seen)
    assert first == second  # one kept-alive connection
    assert third != first  # after aclose: a new session, a new connection


@pytest.mark.parametrize("route", ["/bytes", "/chunked"])
async def test_a_body_of_exactly_the_limit_is_read_whole(
        peer: HTTPPeer, client: HTTPClient, route: str) -> None:
    answer = await within(client.request("GET", f"{peer.url}{route}/{LIMIT}", timeout=30))
    assert answer.body == b"x" * LIMIT


@pytest.mark.parametrize("route", ["/bytes", "/chunked"])
async def test_one_byte_past_the_limit_is_too_large(
        peer: HTTPPeer, client: HTTPClient, route: str) -> None:
    exc = await failure(client, f"{peer.url}{route}/{LIMIT + 1}")
    assert exc.kind == "too_large"
    assert "larger than" in exc.message


async def test_a_content_length_past_the_limit_is_refused_without_reading_the_body(
        peer: HTTPPeer, client: HTTPClient) -> None:
    # the peer announces 1 GB and sends none of it: reading would wait for the 30 s
    # deadline (a "timeout"); the length alone must decide, and the connection be dropped
    exc = await failure(client, f"{peer.url}/claims/{1024 ** 3}")
    assert exc.kind == "too_large"
    await asyncio.to_thread(peer.wait_hangup, "/claims")


async def test_an_endless_chunked_body_is_cut_off_and_its_connection_dropped(
        peer: HTTPPeer, client: HTTPClient) -> None:
    # no length to go by: the client must stop reading once past the limit (an endless
    # body read on would run into the 30 s deadline instead) and hang up on the peer
    exc = await failure(client, peer.url + "/endless")
    assert exc.kind == "too_large"
    await asyncio.to_thread(peer.wait_hangup, "/endless")
    # the connection that had a body left over is not used again
    answer = await within(client.request("GET", peer.url + "/ok", timeout=30))
    assert answer.body == b"hello"
    assert peer.seen[-1].client_port != peer.seen[0].client_port


async def test_read_body_false_gives_status_and_headers_and_keeps_a_small_answers_connection(
        peer: HTTPPeer, client: HTTPClient) -> None:
    answer = await within(client.request("GET", peer.url + "/ok", timeout=30,
                                         read_body=False))
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers["X-Peer-Thing"] == "yes"
    await within(client.request("GET", peer.url + "/ok", timeout=30))
    assert peer.seen[0].client_port == peer.seen[1].client_port  # the small body was read


async def test_read_body_false_does_not_read_an_endless_body(
        peer: HTTPPeer, client: HTTPClient) -> None:
    answer = await within(client.request("GET", peer.url + "/endless", timeout=30,
                                         read_body=False))
    assert (answer.status, answer.body) == (200, b"")
    await asyncio.to_thread(peer.wait_hangup, "/endless")  # dropped with its connection


# --- failures without an answer --------------------------------------------------------

@pytest.mark.parametrize("route", ["/hang", "/stall"])
async def test_no_complete_answer_within_the_deadline_is_a_timeout(
        peer: HTTPPeer, client: HTTPClient, route: str) -> None:
    # /hang never answers; /stall sends the headers and half its body: the deadline
    # covers the whole exchange, not only the wait for the status line
    exc = await failure(client, peer.url + route, timeout=0.3)
    assert exc.kind == "timeout"
    assert exc.message == "no answer within 0.3 s"
    await asyncio.to_thread(peer.wait_hangup, route)  # the client hung up


async def test_nothing_listening_is_a_connection_failure(client: HTTPClient) -> None:
    with socket.socket() as bound:  # a port held but not listening: refused, for sure
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        exc = await failure(client, f"http://127.0.0.1:{port}/")
    assert exc.kind == "connection"
    assert isinstance(exc.__cause__, OSError)  # aiohttp's error, chained


async def test_a_peer_that_hangs_up_without_answering_is_a_connection_failure(
        peer: HTTPPeer, client: HTTPClient) -> None:
    exc = await failure(client, peer.url + "/drop")
    assert exc.kind == "connection"
    assert "closed the connection without answering" in exc.message


async def test_an_answer_that_is_not_http_is_a_connection_failure(
        peer: HTTPPeer, client: HTTPClient) -> None:
    exc = await failure(client, peer.url + "/garbage")
    assert exc.kind == "connection"


@pytest.mark.parametrize("url", [
    "not a url", "", "http://", "ftp://127.0.0.1/x", "http://127.0.0.1:99999/",
    "http://[::1/", "//127.0.0.1/x", "/just/a/path",
])
async def test_a_bad_url_is_a_connection_failure(client: HTTPClient, url: str) -> None:
    exc = await failure(client, url)
    assert exc.kind == "connection"
    assert exc.message


# --- redirects -------------------------------------------------------------------------

async def test_redirects_are_answers_unless_followed(peer: HTTPPeer) -> None:
    plain, following = HTTPClient(), HTTPClient(follow_redirects=True)
    try:
        answer = await within(plain.request("GET", peer.url + "/redirect", timeout=30))
        assert answer.status == 302 and answer.headers["location"] == "/ok"
        assert [s.target for s in peer.seen] == ["/redirect"]
        answer = await within(following.request("GET", peer.url + "/redirect", timeout=30))
        assert (answer.status, answer.body) == (200, b"hello")
        assert [s.target for s in peer.seen] == ["/redirect", "/redirect", "/ok"]
    finally:
        await plain.aclose()
        await following.aclose()


# --- proxies from the environment (pure) ---------------------------------------------------

P = "http://proxy.local:3128"
A = "http://all.local:1080"


@pytest.mark.parametrize(("scheme", "host", "env", "expected"), [
    ("http", "api.example.com", {}, None),
    ("http", "api.example.com", {"HTTP_PROXY": P}, P),
    ("http", "api.example.com", {"http_proxy": P}, P),
    ("https", "api.example.com", {"HTTP_PROXY": P}, None),  # http's proxy is for http only
    ("https", "api.example.com", {"HTTPS_PROXY": P}, P),
    ("https", "api.example.com", {"ALL_PROXY": A}, A),
    ("http", "api.example.com", {"all_proxy": A}, A),
    ("http", "api.example.com", {"HTTP_PROXY": P, "ALL_PROXY": A}, P),  # specific wins
    ("http", "api.example.com", {"HTTP_PROXY": "", "ALL_PROXY": A}, A),  # empty: unset
    ("http", "api.example.com", {"HTTP_PROXY": P, "NO_PROXY": "api.example.com"}, None),
    ("http", "API.Example.COM", {"HTTP_PROXY": P, "NO_PROXY": "api.example.com"}, None),
    ("http", "api.example.com:8443", {"HTTP_PROXY": P, "NO_PROXY": "api.example.com"}, None),
    ("http", "api.example.com", {"HTTP_PROXY": P, "NO_PROXY": "example.com"}, None),
    ("http", "api.example.com", {"HTTP_PROXY": P, "NO_PROXY": ".example.com"}, None),
    ("http", "example.com", {"HTTP_PROXY": P, "NO_PROXY": ".example.com"}, None),
    ("http", "badexample.com", {"HTTP_PROXY": P, "NO_PROXY": "example.com"}, P),
    ("http", "example.com.evil", {"HTTP_PROXY": P, "NO_PROXY": "example.com"}, P),
    ("http", "a.b", {"HTTP_PROXY": P, "NO_PROXY": " x.y , ,a.b "}, None),  # spaces, empties
    ("http", "a.b", {"HTTP_PROXY": P, "NO_PROXY": ","}, P),
    ("http", "anything", {"HTTP_PROXY": P, "no_proxy": "*"}, None),
    ("http", "host:8080", {"HTTP_PROXY": P, "NO_PROXY": "host:8080"}, None),
    ("http", "host:9090", {"HTTP_PROXY": P, "NO_PROXY": "host:8080"}, P),
    ("http", "[::1]:8080", {"HTTP_PROXY": P, "NO_PROXY": "::1"}, None),
    ("http", "[::1]", {"HTTP_PROXY": P, "NO_PROXY": "::1"}, None),
    ("http", "[::2]:8080", {"HTTP_PROXY": P, "NO_PROXY": "::1"}, P),
    ("http", "127.0.0.1:11434", {"HTTP_PROXY": P, "NO_PROXY": "localhost,127.0.0.1"}, None),
])
def test_proxy_for(scheme: str, host: str, env: dict[str, str], expected: str | None) -> None:
    assert proxy_for(scheme, host, env) == expected


def test_proxy_for_reads_the_process_environment_by_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("http", "h.example") is None
    monkeypatch.setenv("HTTP_PROXY", P)
    assert proxy_for("http", "h.example") == P


labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
hostnames = st.lists(labels, min_size=1, max_size=4).map(".".join)
ports = st.none() | st.integers(min_value=1, max_value=65535)
schemes = st.sampled_from(["http", "https"])
proxy_vars = st.dictionaries(
    st.sampled_from(["HTTP_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
    st.just(P), min_size=1)


def with_port(host: str, port: int | None) -> str:
    return host if port is None else f"{host}:{port}"


@given(scheme=schemes, host=hostnames, port=ports, proxies=proxy_vars,
       others=st.lists(hostnames, max_size=3), upper=st.booleans())
def test_a_host_listed_in_no_proxy_is_never_proxied(
        scheme: str, host: str, port: int | None, proxies: dict[str, str],
        others: list[str], upper: bool) -> None:
    entries = [*others, host]
    env = {**proxies, ("NO_PROXY" if upper else "no_proxy"): ",".join(entries)}
    assert proxy_for(scheme, with_port(host, port), env) is None
    assert proxy_for(scheme, with_port("sub." + host, port), env) is None  # and under it


@given(scheme=schemes, host=hostnames, port=ports, proxies=proxy_vars,
       before=st.lists(hostnames, max_size=3))
def test_a_star_in_no_proxy_exempts_every_host(
        scheme: str, host: str, port: int | None, proxies: dict[str, str],
        before: list[str]) -> None:
    env = {**proxies, "NO_PROXY": ",".join([*before, "*"])}
    assert proxy_for(scheme, with_port(host, port), env) is None


@given(scheme=schemes, host=hostnames, port=ports,
       env=st.dictionaries(st.sampled_from(["PATH", "HOME", "NO_PROXY", "no_proxy", "PROXY",
                                            "HTTP_PROXY_USER", "LANG"]), labels))
def test_without_a_proxy_variable_nothing_is_proxied(
        scheme: str, host: str, port: int | None, env: dict[str, str]) -> None:
    assert proxy_for(scheme, with_port(host, port), env) is None


@given(scheme=schemes, host=hostnames, port=ports, upper=st.booleans())
def test_the_schemes_own_proxy_beats_all_proxy(
        scheme: str, host: str, port: int | None, upper: bool) -> None:
    own = f"{scheme}_proxy".upper() if upper else f"{scheme}_proxy"
    env = {"ALL_PROXY": A, own: P, "NO_PROXY": "other.invalid"}
    assert proxy_for(scheme, with_port(host, port), env) == P


@given(host=hostnames, domain=hostnames)
def test_no_proxy_matches_whole_labels_only(host: str, domain: str) -> None:
    # "example.com" exempts "api.example.com", never "badexample.com"
    exempt = proxy_for("http", host, {"HTTP_PROXY": P, "NO_PROXY": domain}) is None
    assert exempt == (host == domain or host.endswith("." + domain))


# --- what a failure may say ---------------------------------------------------------

def test_urls_in_failure_text_lose_their_credentials() -> None:
    text = "url='http://bob:s3cret@127.0.0.1:3128', then https://tok@h/x and http://plain/"
    assert without_userinfo(text) == ("url='http://127.0.0.1:3128', then https://h/x and "
                                      "http://plain/")


class RefusingProxy:
    """Answers every CONNECT with 407: a proxy that wants credentials it was not given."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.lines: list[bytes] = []

    async def __aenter__(self) -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.lines.append(await reader.readline())
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                         b"Content-Length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_a_refusing_proxy_is_named_without_its_password(
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = RefusingProxy()
    async with proxy as port:
        monkeypatch.setenv("HTTPS_PROXY", f"http://bob:s3cretpw@127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = HTTPClient(trust_env=True)
        try:
            with pytest.raises(HTTPFailure) as info:
                await client.request("GET", "https://models.example.test/v1/models",
                                     timeout=WAIT)
        finally:
            await client.aclose()
    assert proxy.lines and proxy.lines[0].startswith(b"CONNECT models.example.test:443")
    assert info.value.kind == "connection"
    assert "407" in info.value.message and "proxy" in info.value.message
    assert "s3cretpw" not in info.value.message and "bob" not in info.value.message


@pytest.fixture
def self_signed(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server on loopback whose certificate nobody vouches for."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield int(server.server_address[1])


async def test_an_untrusted_certificate_is_a_connection_failure_that_says_so(
        self_signed: int) -> None:
    client = HTTPClient()
    try:
        with pytest.raises(HTTPFailure) as info:
            await client.request("GET", f"https://127.0.0.1:{self_signed}/", timeout=WAIT)
    finally:
        await client.aclose()
    assert info.value.kind == "connection"
    assert "TLS certificate is not trusted" in info.value.message
