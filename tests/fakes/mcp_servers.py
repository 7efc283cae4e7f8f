"""A small MCP server of the tests' own, on the SDK's server classes, run as a child:

    python tests/fakes/mcp_servers.py stdio              # over stdin/stdout
    python tests/fakes/mcp_servers.py http TOKEN         # streamable HTTP on 127.0.0.1
    python tests/fakes/mcp_servers.py websocket TOKEN    # websocket (subprotocol mcp)

The network modes print ``PORT <n>`` on stdout once listening and check
``Authorization: Bearer TOKEN`` on every request (401 otherwise). Tools: ``echo``,
``hang`` (never answers), ``die`` (the process kills itself mid-call), ``big``.
Standalone on purpose: a stdio child gets only a minimal environment (no PYTHONPATH).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("promptly-test")


@server.tool()
def echo(text: str) -> str:
    """Answer with the text given."""
    return f"echo: {text}"


@server.tool()
async def hang() -> str:
    """Never answer."""
    await asyncio.sleep(3600)
    return "unreachable"


@server.tool()
def die() -> str:
    """Kill this server in the middle of the call."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@server.tool()
def big(size: int = 50_000) -> str:
    """A long answer."""
    return "x" * size


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    return sock


def _bearer_ok(headers: Any, token: str) -> bool:
    return bool(headers.get("authorization") == f"Bearer {token}")


async def serve_http(token: str) -> None:
    import uvicorn

    app = server.streamable_http_app()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            if not _bearer_ok(headers, token):
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body", "body": b"bad token"})
                return
        await app(scope, receive, send)

    config = uvicorn.Config(guarded, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve(sockets=[_listening()])


async def serve_websocket(token: str) -> None:
    import anyio
    import mcp_types
    from mcp.shared.message import SessionMessage
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.http11 import Request, Response

    lowlevel = server._lowlevel_server

    def check(connection: ServerConnection, request: Request) -> Response | None:
        if not _bearer_ok(request.headers, token):
            return connection.respond(401, "bad token\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        read_writer, read_stream = anyio.create_memory_object_stream[Any](0)
        write_stream, write_reader = anyio.create_memory_object_stream[Any](0)

        async def reader() -> None:
            async with read_writer:
                async for frame in ws:
                    message = mcp_types.jsonrpc_message_adapter.validate_json(frame,
                                                                              by_name=False)
                    await read_writer.send(SessionMessage(message))

        async def writer() -> None:
            async with write_reader:
                async for item in write_reader:
                    await ws.send(item.message.model_dump_json(by_alias=True,
                                                               exclude_unset=True))

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            await lowlevel.run(read_stream, write_stream,
                               lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()

    async with serve(handler, sock=_listening(), subprotocols=["mcp"],  # type: ignore[list-item]
                     process_request=check) as ws_server:
        await ws_server.serve_forever()


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "stdio":
        server.run("stdio")
    elif mode == "http":
        asyncio.run(serve_http(sys.argv[2]))
    elif mode == "websocket":
        asyncio.run(serve_websocket(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
