"""The daemon's subsystems, built in one place, and the one list reload walks.

``build_services`` wires store, providers, executor, scheduler, skills sync,
model directory, API context, the API app and (with ``[web] listen``) the
dashboard from one ``Config``; ``Services.reloadable`` is
the list of everything with ``apply(config)``. A new subsystem (the delivery
worker, the sources) is built here and appended to that list. Nothing is
started here: ``daemon.main`` loads the schedule, starts the skills watch and
serves.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptlyd.api.context import AppContext
from promptlyd.clock import Clock
from promptlyd.config import Config
from promptlyd.daemon.logs import LogLevel
from promptlyd.daemon.reload import Reloadable
from promptlyd.daemon.server import ConnectionLimits
from promptlyd.destinations.worker import DeliveryWorker
from promptlyd.events import EventBus
from promptlyd.events.changes import teller
from promptlyd.providers.catalog import Catalog
from promptlyd.providers.discovery import ModelDirectory
from promptlyd.providers.registry import ProviderRegistry, SecretLookup
from promptlyd.runs.executor import Runner
from promptlyd.scheduling.loop import Scheduler
from promptlyd.scheduling.waker import Waker
from promptlyd.secrets import Redactor
from promptlyd.skills.sync import SkillSync
from promptlyd.skills.write import SkillWriter
from promptlyd.sources.service import Sources
from promptlyd.store import AsyncStore

if TYPE_CHECKING:
    from promptlyd.web.service import Dashboard


@dataclass
class Services:
    providers: ProviderRegistry
    runner: Runner
    scheduler: Scheduler
    skills: SkillSync
    sources: Sources
    delivery: DeliveryWorker
    directory: ModelDirectory
    ctx: AppContext
    limits: ConnectionLimits
    events: EventBus = field(default_factory=EventBus)
    api_app: Any = None  # the one API app, served on the socket and the dashboard
    dashboard: Dashboard | None = None  # the web listener, when [web] listen is set
    reloadable: list[Reloadable] = field(default_factory=list)


def build_services(config: Config, *, store: AsyncStore, clock: Clock, catalog: Catalog,
                   keys: SecretLookup, organization_id: str, waker: Waker | None = None,
                   log_level: LogLevel | None = None,
                   redactor: Redactor | None = None) -> Services:
    """``redactor``: the key store's; tool outputs, run errors, source tests and
    delivery errors lose every secret it knows before they are stored, logged or sent
    to a model."""
    events = EventBus(clock=clock)
    store.on_change = teller(events)  # every committed change of runs, tasks, skills
    providers = ProviderRegistry(config.providers, keys)
    sources = Sources(config, keys, redactor=redactor)
    delivery = DeliveryWorker(config=config, store=store, clock=clock, secrets=keys,
                              organization_id=organization_id, user_id=getpass.getuser(),
                              redact=redactor.redact if redactor is not None else None)
    runner = Runner(config=config, store=store, clock=clock, catalog=catalog,
                    providers=providers, tools_for=sources.tools_for, outbox=delivery,
                    redact=redactor.redact if redactor is not None else None)
    ctx = AppContext(config=config, store=store, clock=clock, catalog=catalog,
                     organization_id=organization_id, started_at=clock.now(), runner=runner,
                     source_tester=sources.test, deliveries=delivery, events=events)
    ctx.counters.update(deliveryAttempts=lambda: delivery.attempts,
                        eventSubscribers=lambda: events.subscribers,
                        eventsPublished=lambda: events.published,
                        eventsBacklog=lambda: events.backlog,
                        eventsDropped=lambda: events.dropped)
    directory = ModelDirectory(config, catalog, providers)
    ctx.models_lister = directory.models
    scheduler = Scheduler(config=config, store=store, clock=clock, runner=runner, waker=waker,
                          outbox=delivery)
    ctx.listeners.append(scheduler)
    ctx.counters.update(schedulerWakeups=lambda: scheduler.wakeups,
                        runsActive=lambda: runner.busy)
    skills = SkillSync(store, clock, config.skills_dir)
    ctx.skills = SkillWriter(skills)
    services = Services(providers=providers, runner=runner, scheduler=scheduler,
                        skills=skills, sources=sources, delivery=delivery,
                        directory=directory,
                        ctx=ctx, limits=ConnectionLimits.of(config), events=events)
    from promptlyd.api.app import create_app

    services.api_app = create_app(ctx)
    if config.web.listen:  # restart-only (daemon.reload.RESTART_ONLY): not on the list
        from promptlyd.web.service import Dashboard

        services.dashboard = Dashboard(config.web, ctx, services.api_app, services.limits)
        ctx.dashboard = services.dashboard
    # every subsystem that takes a reloaded config, in the order reload applies it
    services.reloadable = [log_level or LogLevel(), providers, runner, scheduler, skills,
                           sources, delivery, directory, ctx, services.limits]
    return services
