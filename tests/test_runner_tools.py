"""The runner's tool plumbing, in-process: a tool registered by the test, the real
OpenAI SDK against a loopback server, a real SQLite store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from promptlyd.clock import SystemClock
from promptlyd.config import load_config
from promptlyd.providers.base import ToolSpec
from promptlyd.providers.catalog import Catalog
from promptlyd.providers.registry import ProviderRegistry
from promptlyd.runs.executor import Runner
from promptlyd.store import AsyncStore
from promptlyd.timeutil import iso
from tests.fakes.model_servers import OpenAIServer, reply, running, tool_call


class Calculator:
    """A tool executor of the test's own: adds numbers; refuses negative ones."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1

    def specs(self) -> list[ToolSpec]:
        return [ToolSpec(name="add", description="Add two numbers",
                         input_schema={"type": "object", "properties": {
                             "a": {"type": "number"}, "b": {"type": "number"}}})]

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        self.calls.append(arguments)
        if arguments["a"] < 0:
            raise ValueError("negative numbers are not allowed")
        return str(arguments["a"] + arguments["b"]) + " " + "x" * int(arguments.get("pad", 0))


@pytest.fixture
def oai() -> Iterator[OpenAIServer]:
    yield from running(OpenAIServer())


@pytest.fixture
async def setup(tmp_path: Path, oai: OpenAIServer) -> AsyncIterator[dict[str, Any]]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'max_tool_rounds = 3\nmax_tool_output_chars = 50\n[providers.fake]\n'
                   f'kind = "openai"\nbase_url = "{oai.base_url}"\nlocal = true\n')
    config = load_config(cfg, env={"HOME": str(tmp_path), "TZ": "UTC"})
    store = AsyncStore(tmp_path / "p.db")
    store.open()
    tool = Calculator()

    async def tools_for(task: dict[str, Any], sources: list[dict[str, Any]]) -> Calculator:
        return tool

    providers = ProviderRegistry(config.providers, {})  # a local provider needs no key
    runner = Runner(config=config, store=store, clock=SystemClock(), catalog=Catalog.load(),
                    providers=providers, tools_for=tools_for)
    now = iso(SystemClock().now())
    task = {"id": str(uuid.uuid4()), "name": "t", "prompt": "what is 2+3?", "model": "fake/m",
            "schedule": "daily", "timezone": "UTC", "status": "active", "anchor_at": now,
            "created_at": now, "updated_at": now}
    source = {"id": str(uuid.uuid4()), "slug": "calc", "name": "calc", "type": "local",
              "config": {"paths": ["/tmp"]}, "created_at": now, "updated_at": now}

    def seed(s: Any) -> None:
        s.insert("tasks", task)
        s.insert("sources", source)
        s.set_links("sources", task["id"], [source["id"]])

    await store.write(seed)
    yield {"runner": runner, "store": store, "task": task, "tool": tool}
    await providers.aclose()
    store.close()


async def run_once(setup: dict[str, Any]) -> dict[str, Any]:
    runner: Runner = setup["runner"]
    run = await runner.run_now(setup["task"]["id"])
    async with asyncio.timeout(20):
        while runner.busy:
            await asyncio.sleep(0.01)
    row: dict[str, Any] = await setup["store"].read(lambda s: s.get("runs", run["id"]))
    return row


async def test_tool_calls_are_run_and_recorded(setup: dict[str, Any],
                                               oai: OpenAIServer) -> None:
    oai.script([tool_call("add", {"a": 2, "b": 3}, usage=(20, 5)),
                tool_call("add", {"a": -1, "b": 3}, usage=(30, 5)),
                tool_call("add", {"a": 1, "b": 1, "pad": 200}, usage=(40, 5)),
                reply("2+3 is 5", usage=(50, 6))])
    run = await run_once(setup)
    assert run["status"] == "completed", run
    assert run["output"] == "2+3 is 5"
    assert run["tokens_used"] == 20 + 30 + 40 + 50 + 5 + 5 + 5 + 6
    calls = run["tool_calls"]
    assert [c["arguments"] for c in calls] == [{"a": 2, "b": 3}, {"a": -1, "b": 3},
                                              {"a": 1, "b": 1, "pad": 200}]
    assert calls[0]["output"].startswith("5") and calls[0]["error"] is None
    assert "negative numbers are not allowed" in calls[1]["error"]
    assert "truncated" in calls[2]["output"] and len(calls[2]["output"]) < 120
    # the model got the tool result back on the wire
    second = oai.completion_requests[1].body["messages"]
    assert second[-1]["role"] == "tool" and second[-1]["content"].startswith("5")
    assert [t["function"]["name"] for t in oai.completion_requests[0].body["tools"]] == ["add"]
    assert setup["tool"].closed == 1  # the run released its tools


async def test_hitting_the_tool_round_cap_fails_the_run(setup: dict[str, Any],
                                                        oai: OpenAIServer) -> None:
    oai.script([tool_call("add", {"a": 1, "b": 1})] * 5)
    run = await run_once(setup)
    assert run["status"] == "failed"
    assert "after 3 rounds (max_tool_rounds)" in run["error"]
    assert len(run["tool_calls"]) == 3  # the work done is still recorded
    assert run["tokens_used"] > 0


async def test_slots_resize_wakes_waiters() -> None:
    from promptlyd.runs.slots import Slots

    slots = Slots(1)
    assert slots.try_take()
    waiter = asyncio.ensure_future(slots.take())
    await asyncio.sleep(0)
    assert not waiter.done()
    slots.resize(2)  # a config reload raised max_concurrent_runs
    async with asyncio.timeout(1):
        await waiter
    assert slots.active == 2 and not slots.try_take()
    slots.give()
    slots.give()
    assert slots.active == 0


async def test_no_new_runs_while_draining(setup: dict[str, Any]) -> None:
    from promptlyd.errors import Conflict

    runner: Runner = setup["runner"]
    assert await runner.drain(0) == 0
    with pytest.raises(Conflict, match="shutting down"):
        await runner.run_now(setup["task"]["id"])
    assert await setup["store"].read(lambda s: s.list_runs()) == []
