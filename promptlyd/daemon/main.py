"""``promptlyd``: the daemon's entry point and lifecycle.

Start: config (exit 78 if invalid, nothing touched) → database lock (a second
daemon exits 75) → store and migrations → subsystems (``daemon.services``) →
runs left unfinished by a dead daemon become failed, delivered as failures →
socket → ready (sd_notify). SIGTERM/SIGINT: stop serving and exit 0. SIGHUP: reload the config
(``daemon.reload``: every registered subsystem gets ``apply(config)``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from promptlyd import __version__
from promptlyd.config import Config, load_config
from promptlyd.daemon.logs import setup_logging
from promptlyd.errors import AlreadyRunning, ConfigError, PromptlydError

log = logging.getLogger("promptlyd")

EX_CONFIG = 78
EX_TEMPFAIL = 75


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="promptlyd",
        description="Run the promptly scheduler daemon in the foreground (logs to stderr).",
    )
    p.add_argument("--config", help="config file (default: $PROMPTLY_CONFIG or "
                                     "$XDG_CONFIG_HOME/promptly/config.toml)")
    p.add_argument("--socket", help="control socket path (default: $PROMPTLY_SOCKET, the "
                                     "config's socket, or "
                                     "$XDG_RUNTIME_DIR/promptly/promptlyd.sock)")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="override the config's log_level")
    p.add_argument("--version", action="version", version=f"promptlyd {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        config = load_config(
            args.config and Path(args.config).expanduser(), socket_override=args.socket
        )
    except ConfigError as exc:
        print(f"promptlyd: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)
    setup_logging(args.log_level or config.log_level)
    os.umask(0o077)  # everything the daemon writes is private to its user
    from promptlyd.daemon.lock import DatabaseLock

    lock = DatabaseLock(config.database)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"promptlyd: {exc}", file=sys.stderr)
        sys.exit(EX_TEMPFAIL)
    try:
        code = asyncio.run(Daemon(config, config_arg=args.config, socket_arg=args.socket,
                                  log_level=args.log_level).run())
    except AlreadyRunning as exc:
        print(f"promptlyd: {exc}", file=sys.stderr)
        code = EX_TEMPFAIL
    except PromptlydError as exc:
        print(f"promptlyd: {exc}", file=sys.stderr)
        code = 1
    finally:
        lock.release()
    sys.exit(code)


def _warm_providers(config: Config, providers: Any, used: list[str]) -> None:
    """Import the providers' libraries, and build the clients active tasks use."""
    from promptlyd.providers.registry import PROVIDER_KINDS
    from promptlyd.providers.warm import warm_kinds

    warm_kinds((p.kind for p in config.providers.values()), PROVIDER_KINDS)
    for name in used:
        try:
            provider = providers.get(name)
        except PromptlydError:
            continue  # unknown or missing key: the run will say so
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            prepare()


def _freeze_startup_objects(_: object) -> None:
    """Move everything loaded at start-up (SDKs, catalog, the schedule heap) out of the
    cyclic collector's reach: a full collection walking them pauses the event loop for
    tens of milliseconds, which would make a due run late."""
    import gc

    gc.freeze()


class Daemon:
    def __init__(self, config: Config, *, config_arg: str | None = None,
                 socket_arg: str | None = None, log_level: str | None = None) -> None:
        self.config = config
        self._config_arg = config_arg
        self._socket_arg = socket_arg
        self._log_level = log_level
        self._stop = asyncio.Event()
        self.exit_code = 0
        self._background: set[asyncio.Task[Any]] = set()

    def load_config(self) -> Config:
        """The config as at start: the same file and socket arguments (for reload)."""
        return load_config(Path(self._config_arg) if self._config_arg else None,
                           socket_override=self._socket_arg)

    async def run(self) -> int:
        from promptlyd.clock import SystemClock
        from promptlyd.daemon.logs import LogLevel
        from promptlyd.daemon.reload import Reloader
        from promptlyd.daemon.sdnotify import sd_notify
        from promptlyd.daemon.server import ApiServer, bind_unix_socket
        from promptlyd.daemon.services import build_services
        from promptlyd.providers.catalog import Catalog
        from promptlyd.runs.states import INTERRUPTED
        from promptlyd.scheduling.waker import make_waker
        from promptlyd.store import AsyncStore
        from promptlyd.store.db import Store
        from promptlyd.timeutil import iso

        config = self.config
        clock = SystemClock()
        store = AsyncStore(config.database)
        await asyncio.get_running_loop().run_in_executor(None, store.open)
        org = await store.read(lambda s: s.organization_id())
        keys = await self._open_keys(config)
        services = build_services(config, store=store, clock=clock, catalog=Catalog.load(),
                                  keys=keys, organization_id=org, waker=make_waker(),
                                  log_level=LogLevel(self._log_level),
                                  redactor=keys.redactor)
        scheduler, runner, skills = services.scheduler, services.runner, services.skills
        providers, delivery = services.providers, services.delivery

        def fail_unfinished(s: Store) -> int:
            """Before anything runs: a dead daemon's unfinished runs fail, and are
            delivered as failures (their outbox rows in the same write)."""
            failed = s.fail_unfinished_runs(iso(clock.now()), INTERRUPTED)
            for run in failed:
                delivery.enqueue(s, run)
            return len(failed)

        failed = await store.write(fail_unfinished)
        if failed:
            log.warning("marked %d run(s) left unfinished by a stopped daemon as failed", failed)
        dashboard = services.dashboard
        if dashboard is not None:
            dashboard.bind()  # a taken port stops the start before anything runs
        delivery.start()  # pending deliveries a stopped daemon left are sent now
        reloader = Reloader(config, services.reloadable, self.load_config)
        scheduled = await scheduler.load()
        await skills.start()  # scan the skills folder, then watch it
        server = ApiServer(services.api_app, bind_unix_socket(config.socket), services.limits)
        await server.start()
        if dashboard is not None:
            await dashboard.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload, reloader)
        notify = self._notifier(services, clock)
        loop_task = asyncio.create_task(scheduler.run(), name="scheduler")
        loop_task.add_done_callback(self._scheduler_ended)
        used = await store.read(lambda s: s.providers_in_use())
        warm = asyncio.create_task(asyncio.to_thread(_warm_providers, config, providers, used),
                                   name="warm-providers")
        warm.add_done_callback(_freeze_startup_objects)
        log.info("promptlyd %s ready on %s (database %s, %d task(s) scheduled, pid %d)",
                 __version__, config.socket, config.database, scheduled, os.getpid())
        sd_notify("READY=1", os.environ)
        if notify is not None:
            self._spawn(notify.run())  # STATUS=… now, then as runs and tasks change
        try:
            await self._stop.wait()
        finally:
            sd_notify("STOPPING=1", os.environ)
            scheduler.request_stop()  # start no new runs; a claim under way completes
            await asyncio.gather(loop_task, return_exceptions=True)
            grace = runner.config.shutdown_grace_seconds  # as reloaded
            if runner.busy:
                log.info("waiting up to %g s for %d run(s) to finish", grace, runner.busy)
            cancelled = await runner.drain(grace)
            if cancelled:
                log.warning("%d run(s) did not finish in time: marked interrupted", cancelled)
            await delivery.stop()  # sends under way stay pending for the next start
            services.events.close()  # event streams end, so the server's connections close
            if dashboard is not None:
                await dashboard.stop()
            await server.stop()
            await asyncio.gather(warm, *self._background, return_exceptions=True)
            await skills.stop()
            await providers.aclose()
            store.close()
        log.info("stopped")
        return self.exit_code

    def _notifier(self, services: Any, clock: Any) -> Any:
        """Under systemd (``NOTIFY_SOCKET``): the status reporter, and the watchdog in the
        scheduler's wake loop when ``WATCHDOG_USEC`` asks for one. Else nothing at all."""
        from promptlyd.daemon.notify import StatusReporter, Watchdog, watchdog_interval
        from promptlyd.daemon.sdnotify import sd_notify

        env = dict(os.environ)
        if not env.get("NOTIFY_SOCKET"):
            return None

        def send(message: str) -> None:
            sd_notify(message, env)

        interval = watchdog_interval(env, os.getpid())
        if interval is not None:
            services.scheduler.hooks.append(Watchdog(interval, send, clock))
            log.info("systemd watchdog: a ping every %g s", interval)
        return StatusReporter(services.events, services.scheduler, send, clock)

    async def _open_keys(self, config: Config) -> Any:
        from promptlyd.secrets import RedactingFilter, open_keystore

        keys, warning = await asyncio.to_thread(
            open_keystore, config.config_dir, config.secrets_backend, os.environ)
        if warning:
            log.warning("%s", warning)
        await asyncio.to_thread(keys.redactor.add_store, keys)
        for handler in logging.getLogger().handlers:
            handler.addFilter(RedactingFilter(keys.redactor))
        return keys

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _scheduler_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stop.is_set():
            return
        exc = task.exception()
        log.critical("the scheduler stopped (%s): exiting so the service manager restarts "
                     "promptlyd", exc or "no error")
        self.exit_code = 1
        self._stop.set()

    def _on_stop(self, sig: signal.Signals) -> None:
        log.info("received %s: shutting down", sig.name)
        self._stop.set()

    def _on_reload(self, reloader: Any) -> None:
        task = asyncio.get_running_loop().create_task(reloader.reload(), name="reload")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
