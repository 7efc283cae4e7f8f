"""Tool-call overhead: a run whose model calls an MCP stdio tool 20 times.

Run: ``.venv/bin/python -m tests.bench.tools`` — one JSON line. The model is the
loopback OpenAI-wire server scripted to ask for ``fake__echo`` 20 times (one call a
round), then answer; the tool server is the tests' own MCP server
(``tests/fakes/mcp_servers.py``) over stdio, a source of the task.

Per call, at the model server: the gap between one answer (asking for the tool)
having been written out and the next completion request arriving — the daemon
reading the answer (our own HTTP client, ``promptlyd.httpclient``), calling the tool
over stdio, recording it, building and sending the next request; the fake's own
time is outside it. The tool server's own time (and the stdio round trip) is
measured apart: the same ``echo`` called 20 times straight from the mcp SDK's
``Client`` in this process. Overhead of our side = median gap − median direct call
(target ≤ 5 ms p50). Several runs (``BENCH_RUNS``, default 5); each run's first call
may include connecting to the source and is reported apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.bench.common import machine, summary
from tests.daemon_proc import isolated_daemon
from tests.fakes.model_servers import OpenAIServer, Recorded, dynamic, reply, tool_call

CALLS = 20
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
FAKE_MCP = str(Path(__file__).resolve().parent.parent / "fakes" / "mcp_servers.py")


def direct_calls() -> list[float]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def go() -> list[float]:
        times: list[float] = []
        params = StdioServerParameters(command=sys.executable, args=[FAKE_MCP, "stdio"])
        async with Client(stdio_client(params)) as client:
            await client.list_tools()
            for i in range(CALLS * 2):
                t0 = time.perf_counter()
                await client.call_tool("echo", {"text": f"hello {i}"})
                times.append((time.perf_counter() - t0) * 1000)
        return times[CALLS:]  # warm

    return asyncio.run(go())


class TimedServer(OpenAIServer):
    """Records when each answer has been written out, so a gap excludes the fake's
    own time (parsing the request, building the answer)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[float] = []

    def _send_bytes(self, *args: Any, **kwargs: Any) -> None:
        super()._send_bytes(*args, **kwargs)
        self.sent.append(time.perf_counter())


def main() -> None:
    arrivals: list[float] = []
    lock = threading.Lock()
    state = {"n": 0}

    def answer(_: Recorded) -> Any:
        with lock:
            arrivals.append(time.perf_counter())
            state["n"] += 1
            k = state["n"] % (CALLS + 1)
        if k == 0:
            return reply("done", usage=(1, 1))
        return tool_call("fake__echo", {"text": f"call {k}"})

    server = TimedServer(default=dynamic(answer), keep_alive=True).start()
    daemon, cleanup = isolated_daemon(
        'log_level = "WARNING"\nrun_timeout_seconds = 120\n'
        f"max_tool_rounds = {CALLS + 5}\n"
        f'[providers.fake]\nkind = "openai"\nbase_url = "{server.base_url}"\nlocal = true\n')
    gaps_first: list[float] = []  # each run's first call
    gaps: list[float] = []
    tool_ms: list[float] = []  # the run's own record of each call (ms resolution)
    try:
        daemon.start()
        with daemon.client() as api:
            src = api.post("/api/promptly/sources", json={
                "name": "Fake", "type": "mcp",
                "config": {"command": sys.executable, "args": [FAKE_MCP, "stdio"]}})
            assert src.status_code == 201, src.text
            task = api.post("/api/promptly/tasks", json={
                "name": "tools", "model": "fake/m", "prompt": "call echo",
                "sourceIds": [src.json()["id"]]}).json()
            for _ in range(RUNS):
                begin = len(arrivals)
                run = api.post(f"/api/promptly/tasks/{task['id']}/run").json()
                deadline = time.monotonic() + 120
                while True:
                    got = api.get(f"/api/promptly/runs/{run['id']}").json()
                    if got["status"] in ("completed", "failed"):
                        break
                    assert time.monotonic() < deadline, got["status"]
                    time.sleep(0.05)
                assert got["status"] == "completed", got.get("error")
                assert len(got["toolCalls"]) == CALLS, len(got["toolCalls"])
                came = arrivals[begin:begin + CALLS + 1]
                went = server.sent[begin:begin + CALLS + 1]
                steps = [(came[i + 1] - went[i]) * 1000 for i in range(CALLS)]
                gaps_first.append(steps[0])  # may include connecting to the source
                gaps.extend(steps[1:])
                tool_ms.extend(c["durationMs"] for c in got["toolCalls"][1:])
    finally:
        cleanup()
        server.stop()
    direct = direct_calls()
    ours = statistics.median(gaps) - statistics.median(direct)
    print(json.dumps({
        "bench": "tools", "calls_per_run": CALLS, "runs": RUNS,
        "gap_per_call": summary(gaps), "gap_first_call_of_run": summary(gaps_first),
        "direct_call": summary(direct), "recorded_tool_duration": summary(tool_ms, 1),
        "ours_p50_ms": round(ours, 3),
        "machine": machine()}))


if __name__ == "__main__":
    main()
