"""Everything a request handler needs, passed down explicitly (no globals)."""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.errors import ValidationError
from promptlyd.events import EventBus
from promptlyd.providers.catalog import Catalog
from promptlyd.store import AsyncStore

if TYPE_CHECKING:
    from promptlyd.skills.write import SkillWriter


class TaskListener(Protocol):
    """Told about every task change (the scheduler re-arms its timer from this)."""

    def task_changed(self, task_id: str, next_run_at: str | None) -> None: ...

    def task_deleted(self, task_id: str) -> None: ...


class RunStarter(Protocol):
    """Creates a run for a task now and executes it in the background."""

    async def run_now(self, task_id: str) -> dict[str, Any]: ...


class Redeliverer(Protocol):
    """Re-queues every destination of a finished run (the delivery worker)."""

    async def redeliver(self, run_id: str) -> dict[str, Any]: ...


class LoginLinks(Protocol):
    """Issues one-time dashboard login links (the web listener, when it is on)."""

    async def login_link(self) -> dict[str, Any]: ...


@dataclass
class AppContext:
    config: Config
    store: AsyncStore
    clock: Clock
    catalog: Catalog
    organization_id: str
    started_at: datetime
    user_id: str = field(default_factory=getpass.getuser)
    listeners: list[TaskListener] = field(default_factory=list)
    runner: RunStarter | None = None
    models_lister: Callable[[], Any] | None = None
    counters: dict[str, Callable[[], int]] = field(default_factory=dict)
    source_tester: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    skills: SkillWriter | None = None  # skill writes go to the skills folder
    deliveries: Redeliverer | None = None  # POST /runs/{id}/redeliver
    events: EventBus = field(default_factory=EventBus)  # GET /events subscribes here
    dashboard: LoginLinks | None = None  # POST /dashboard/login (socket only)

    async def apply(self, config: Config) -> None:
        """A reloaded config: requests from now on see it."""
        self.config = config

    def check_model(self, model: str, field_name: str = "model") -> str:
        """Accept ``provider/model`` with a configured provider, or a bare catalog name."""
        if "/" not in model:
            resolved = self.catalog.resolve_id(model)
            if resolved is None:
                raise ValidationError(
                    f"model must be 'provider/model' (e.g. 'openai/gpt-4o-mini' or "
                    f"'ollama/llama3.2'); {model!r} is not a known model name",
                    field=field_name,
                )
            model = resolved
        provider, _, name = model.partition("/")
        if not provider or not name:
            raise ValidationError(
                f"model must be 'provider/model', got {model!r}", field=field_name
            )
        if provider not in self.config.providers:
            known = ", ".join(sorted(self.config.providers))
            raise ValidationError(
                f"unknown provider {provider!r} in model {model!r} (known: {known}; add "
                f"others under [providers.NAME] in the config)",
                field=field_name,
            )
        return model

    def task_changed(self, task_id: str, next_run_at: str | None) -> None:
        for listener in self.listeners:
            listener.task_changed(task_id, next_run_at)

    def task_deleted(self, task_id: str) -> None:
        for listener in self.listeners:
            listener.task_deleted(task_id)
