"""Executing runs: the one code path from a task to a recorded result.

    new_run (pending) ─► wait for a slot (max_concurrent_runs) ─► running
        ─► compose prompt (variables, skills in attach order)
        ─► model conversation (tool loop, retries, per-run timeout)
        ─► completed | failed, with tokens, cost, duration, rendered prompt
        ─► hand-off to delivery: the outbox rows, in the write that records the result

Every failure becomes a failed run with a human error; nothing here may take
the daemon down. A slot (task, scheduled instant) is served at most once: the
schema's UNIQUE constraint refuses a second run for it. Every status change
goes through ``Store.transition_run`` (the table in :mod:`promptlyd.runs.states`).

``Runner`` plays the ``runs.Executor`` role for the scheduler (running tasks,
slots, ``launch``) and takes a new config with ``apply`` (slots resized).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.errors import Conflict, PromptlydError
from promptlyd.providers.base import ModelError, ModelRequest, UserMessage
from promptlyd.providers.catalog import Catalog
from promptlyd.providers.registry import ProviderRegistry
from promptlyd.providers.toolloop import ToolExecutor, run_conversation
from promptlyd.runs import Outbox
from promptlyd.runs.compose import compose, frequency_label, template_vars
from promptlyd.runs.create import new_run
from promptlyd.runs.slots import Slots
from promptlyd.runs.states import (
    INTERRUPTED,
    UNFINISHED,
    RunStatus,
    Trigger,
)
from promptlyd.sources.requirements import missing_required
from promptlyd.store import AsyncStore
from promptlyd.store.db import Row, Store
from promptlyd.timeutil import iso, parse_iso

log = logging.getLogger("promptlyd.runner")

ToolsFor = Callable[[Row, list[Row]], Awaitable[ToolExecutor | None]]


@dataclass
class RunInputs:
    task: Row
    skills: list[Row]
    sources: list[Row]
    last_output: str | None
    missing_skills: list[str]


class Runner:
    def __init__(
        self,
        *,
        config: Config,
        store: AsyncStore,
        clock: Clock,
        catalog: Catalog,
        providers: ProviderRegistry,
        outbox: Outbox | None = None,
        tools_for: ToolsFor | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.catalog = catalog
        self.providers = providers
        self.outbox = outbox
        self.tools_for = tools_for
        # the key store's redactor: tool outputs and errors, and the run's error, lose
        # every secret it knows before they are stored or sent to the model
        self.redact: Callable[[str], str] = redact or _as_is
        self.slots = Slots(config.max_concurrent_runs)
        self.running: dict[str, str] = {}  # task id → run id (no overlap per task)
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = True

    async def apply(self, config: Config) -> None:
        """A reloaded config: limits, timeouts and template values for the next runs."""
        self.config = config
        self.slots.resize(config.max_concurrent_runs)

    # --- the runs.Executor role (what the scheduler uses) ---------------------------

    def running_task_ids(self) -> Collection[str]:
        return self.running.keys()

    def take_slots(self, up_to: int) -> int:
        return self.slots.take_up_to(up_to)

    def give_slots(self, count: int) -> None:
        self.slots.give(count)

    # --- starting runs ------------------------------------------------------------

    async def run_now(self, task_id: str) -> Row:
        """``POST /tasks/{id}/run``: create the run and execute it in the background."""
        if not self._accepting:
            raise Conflict("promptlyd is shutting down and starts no new runs; run it again "
                           "once the daemon is back", field="taskId")
        if task_id in self.running:
            raise Conflict(f"task {task_id} is already running (run {self.running[task_id]}); "
                           "wait for it to finish", field="taskId")
        self.running[task_id] = "starting"  # reserved: a second request now sees it

        async def start() -> Row:
            try:
                run = await self.create_run(task_id)  # NotFound: the task was deleted
            except BaseException:
                del self.running[task_id]
                raise
            self.launch(run, claimed=False)
            return run

        # shielded: a write once queued commits even if its caller gives up (group
        # commit), so a request cut off meanwhile must still launch the run it made
        return await asyncio.shield(start())

    async def create_run(self, task_id: str) -> Row:
        """Store a new pending manual run (``NotFound`` if the task is gone)."""
        run = new_run(task_id, trigger=Trigger.MANUAL, now=self.clock.now())

        def tx(store: Store) -> Row:
            store.insert_run(run)  # manual runs have no slot: they never collide
            return run

        return await self.store.write(tx)

    def launch(self, run: Row, *, claimed: bool) -> None:
        """Execute ``run`` in the background.

        ``claimed``: the scheduler already took a slot for it and recorded it as
        running (``started_at`` set), in the same transaction that created it.
        """
        self.running[run["task_id"]] = run["id"]
        task = asyncio.create_task(self._execute(run, claimed), name=f"run-{run['id']}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float | None = None) -> int:
        """Stop accepting; wait up to ``grace`` s (default: the config's
        ``shutdown_grace_seconds``) for runs; cancel the rest. Returns how many were cancelled."""
        self._accepting = False
        if grace is None:
            grace = self.config.shutdown_grace_seconds
        if not self._tasks:
            return 0
        _done, pending = await asyncio.wait(list(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=10)
        return len(pending)

    # --- executing ------------------------------------------------------------------

    async def _execute(self, run: Row, claimed: bool) -> None:
        task_id, run_id = run["task_id"], run["id"]
        have_slot = claimed
        try:
            if not claimed:
                await self.slots.take()
                have_slot = True
                if not self._accepting:  # the slot came free while draining: start nothing
                    await self._interrupt(run_id)
                    return
            await self._run(run, claimed)
        except asyncio.CancelledError:
            await self._interrupt(run_id)
            raise
        except Exception as exc:  # a bug: record it, never crash the daemon
            log.exception("run %s crashed", run_id)
            await self._finish(run_id, task_id, None, status=RunStatus.FAILED,
                               error=f"internal error: {type(exc).__name__}: {exc}",
                               started=None, expect=UNFINISHED)
        finally:
            if have_slot:
                self.slots.give()
            if self.running.get(task_id) == run_id:
                del self.running[task_id]

    async def _run(self, run: Row, claimed: bool) -> None:
        run_id, task_id = run["id"], run["task_id"]
        t0 = time.monotonic()
        if claimed:
            started = parse_iso(run["started_at"])
        else:
            started = self.clock.now()
            row = await self.store.write(lambda s: s.transition_run(
                run_id, RunStatus.RUNNING, {"started_at": iso(started)}))
            if row is None:
                return  # the task (and its runs) was deleted meanwhile
        inputs = await self.store.read(lambda s: _load_inputs(s, task_id))
        if inputs is None:
            return
        task = inputs.task
        log.info("run %s started: task %s (%s), model %s, trigger %s", run_id[:8], task_id[:8],
                 task["name"], task["model"], run["trigger"])
        variables = template_vars(
            now=started, timezone=task["timezone"],
            frequency=frequency_label(task["schedule"], task.get("cron_expression")),
            organization_name=self.config.organization_name, task_name=task["name"],
            last_output=inputs.last_output,
        )
        prompt = compose([(s["name"], s["content"]) for s in inputs.skills], task["prompt"],
                         variables)
        base: Row = {"model": task["model"], "rendered_prompt": prompt.full_text}
        if inputs.missing_skills:
            names = ", ".join(inputs.missing_skills)
            await self._finish(run_id, task_id, t0, status=RunStatus.FAILED, started=started,
                               error=f"skill file missing or broken: {names}; fix it in "
                                     f"{self.config.skills_dir} or detach it", extra=base)
            return
        lacking = missing_required(inputs.skills, inputs.sources)  # skills' requiredSources
        if lacking is not None:
            await self._finish(run_id, task_id, t0, status=RunStatus.FAILED, started=started,
                               error=lacking, extra=base)
            return
        try:
            # the timeout covers the set-up too: a key lookup or a source that hangs
            async with asyncio.timeout(self.config.run_timeout_seconds):
                provider, model_name = await asyncio.to_thread(self.providers.resolve,
                                                               task["model"])
                tools = (await self.tools_for(task, inputs.sources)
                         if self.tools_for and inputs.sources else None)
                try:
                    request = ModelRequest(model=model_name, system=prompt.system,
                                           messages=[UserMessage(prompt.user)])
                    provider_name = task["model"].split("/", 1)[0]
                    result = await run_conversation(
                        provider, request, tools, max_rounds=self.config.max_tool_rounds,
                        max_tool_output_chars=self.config.max_tool_output_chars,
                        retry=self.providers.retry_policy(provider_name),
                        redact=self.redact,
                    )
                finally:
                    if tools is not None:  # the run's source connections, child processes
                        await asyncio.shield(tools.aclose())
        except TimeoutError:
            await self._finish(run_id, task_id, t0, status=RunStatus.FAILED, started=started,
                               error=f"timed out after {self.config.run_timeout_seconds:g} s "
                                     "(run_timeout_seconds)", extra=base)
            return
        except (ModelError, PromptlydError) as exc:
            partial = getattr(exc, "partial", None)
            extra = dict(base)
            if partial is not None:
                extra.update(_usage(self, task, partial))
            await self._finish(run_id, task_id, t0, status=RunStatus.FAILED, started=started,
                               error=str(exc), extra=extra)
            return
        extra = {**base, **_usage(self, task, result), "output": result.text}
        await self._finish(run_id, task_id, t0, status=RunStatus.COMPLETED, started=started,
                           error=None, extra=extra)

    async def _interrupt(self, run_id: str) -> None:
        """Shutdown caught the run: unfinished → failed, and delivered as a failure (a
        finished run's deliveries stay in the outbox and are sent after the restart)."""
        stamp = iso(self.clock.now())
        outbox = self.outbox

        def tx(store: Store) -> None:
            row = store.transition_run(run_id, RunStatus.FAILED,
                                       {"error": INTERRUPTED, "completed_at": stamp},
                                       expect=UNFINISHED)
            if row is not None and outbox is not None:
                outbox.enqueue(store, row)

        await self.store.write(tx)
        log.warning("run %s interrupted: daemon stopped", run_id[:8])

    async def _finish(self, run_id: str, task_id: str, t0: float | None, *,
                      status: RunStatus, error: str | None, started: Any,
                      extra: Row | None = None,
                      expect: Collection[RunStatus] | None = None) -> Row | None:
        now = self.clock.now()
        if error is not None:
            error = self.redact(error)  # e.g. a source's connect error quoting its server
        changes: Row = {"completed_at": iso(now), "error": error, **(extra or {})}
        if t0 is not None:
            changes["duration_ms"] = round((time.monotonic() - t0) * 1000)
        outbox = self.outbox

        def tx(store: Store) -> Row | None:
            row = store.transition_run(run_id, status, changes, expect=expect)
            if row is None:
                return None
            if started is not None:
                store.update("tasks", task_id, {"last_run_at": iso(started)})
            if outbox is not None:  # the outbox, in this same write
                row = outbox.enqueue(store, row) or row
            return row

        row = await self.store.write(tx)
        if outbox is not None:
            outbox.wake()
        level = logging.INFO if status == RunStatus.COMPLETED else logging.WARNING
        log.log(level, "run %s %s%s", run_id[:8], status, f": {error}" if error else "")
        return row


def _as_is(text: str) -> str:
    return text


def _usage(runner: Runner, task: Row, result: Any) -> Row:
    provider = runner.config.providers.get(task["model"].split("/", 1)[0])
    local = provider is not None and provider.local
    cost = 0.0 if local else runner.catalog.cost_cents(
        task["model"], result.input_tokens, result.output_tokens)
    return {
        "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
        "tokens_used": result.input_tokens + result.output_tokens,
        "tokens_estimated": result.usage_estimated, "cost_cents": cost,
        "tool_calls": [c.to_dict() for c in result.tool_calls] or None,
    }


def _load_inputs(store: Store, task_id: str) -> RunInputs | None:
    task = store.get("tasks", task_id)
    if task is None:
        return None
    skill_links, source_links = store.task_links([task_id])
    skill_ids = skill_links.get(task_id, [])
    skills_by_id = store.get_many("skills", skill_ids)
    skills, missing = [], []
    for sid in skill_ids:
        row = skills_by_id.get(sid)
        if row is None or row.get("problem"):
            missing.append(row["name"] if row else sid)
        else:
            skills.append(row)
    sources_by_id = store.get_many("sources", source_links.get(task_id, []))
    sources = [sources_by_id[s] for s in source_links.get(task_id, []) if s in sources_by_id]
    return RunInputs(task=task, skills=skills, sources=sources,
                     last_output=store.last_output(task_id), missing_skills=missing)
