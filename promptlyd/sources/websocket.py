"""An MCP client transport over a websocket (subprotocol ``mcp``), on ``websockets``.

The 2.x SDK has no websocket client (websockets are not in the MCP spec), so this
is the small piece that turns a websocket into the read and write streams the
SDK's ``Client`` takes: each text frame is one JSON-RPC message.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

SUBPROTOCOL = "mcp"


@contextlib.asynccontextmanager
async def websocket_client(url: str, *, headers: Mapping[str, str] | None = None,
                           open_timeout: float = 20.0,
                           on_status: Callable[[int], None] | None = None,
                           ) -> AsyncIterator[tuple[Any, Any]]:
    """Connect to ``url``; yield ``(read_stream, write_stream)`` for ``mcp.Client``.

    ``on_status`` hears the HTTP status of a refused handshake (401, 403, …).
    """
    import anyio
    import mcp_types
    from mcp.shared.message import SessionMessage
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    try:
        ws = await connect(url, subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                           additional_headers=dict(headers or {}), open_timeout=open_timeout,
                           max_size=2**24)
    except InvalidStatus as exc:
        if on_status is not None:
            on_status(exc.response.status_code)
        raise ConnectionError(f"the websocket handshake was refused with HTTP "
                              f"{exc.response.status_code}") from exc
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def reader() -> None:
        async with read_writer:
            try:
                async for frame in ws:
                    text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                    try:
                        message = mcp_types.jsonrpc_message_adapter.validate_json(
                            text, by_name=False)
                    except ValueError as exc:
                        await read_writer.send(exc)
                        continue
                    await read_writer.send(SessionMessage(message))
            except (ConnectionClosed, anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

    async def writer() -> None:
        async with write_reader:
            try:
                async for session_message in write_reader:
                    await ws.send(session_message.message.model_dump_json(
                        by_alias=True, exclude_unset=True))
            except ConnectionClosed:
                await read_writer.aclose()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            tg.start_soon(writer)
            try:
                yield read_stream, write_stream
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await ws.close()
