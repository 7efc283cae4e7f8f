"""One reload path, in-process: a changed value of EVERY config key reaches the
subsystem that uses it (table-driven over ``Config``'s fields: a new key without a
row here fails), restart-only keys keep their value, and a broken config changes
nothing. The SIGHUP end-to-end test is in test_daemon_lifecycle.py."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from promptlyd.clock import FakeClock
from promptlyd.config import (
    BudgetConfig,
    Config,
    DeliveryConfig,
    ProviderConfig,
    SmsConfig,
    SmtpConfig,
    WebConfig,
    load_config,
)
from promptlyd.daemon.logs import LogLevel
from promptlyd.daemon.reload import RESTART_ONLY, Reloader
from promptlyd.daemon.services import Services, build_services
from promptlyd.errors import ConfigError
from promptlyd.providers.catalog import Catalog
from promptlyd.store import AsyncStore

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PACKAGE = Path(__file__).resolve().parent.parent / "promptlyd"

# key → (the changed value, what each subsystem using it now holds)
Probe = Callable[[Services], list[Any]]
RELOADABLE: dict[str, tuple[Callable[[Config, Path], Any], Probe]] = {
    "timezone": (lambda c, _: "Asia/Tokyo",
                 lambda s: [s.scheduler.config.timezone, s.ctx.config.timezone]),
    "organization_name": (lambda c, _: "Elsewhere",
                          lambda s: [s.runner.config.organization_name]),
    "default_model": (lambda c, _: "ollama/llama3.2", lambda s: [s.ctx.config.default_model]),
    "skills_dir": (lambda c, tmp: tmp / "other-skills",
                   lambda s: [s.skills.root, s.runner.config.skills_dir]),
    "max_concurrent_runs": (lambda c, _: c.max_concurrent_runs + 3,
                            lambda s: [s.runner.slots.size]),
    "run_timeout_seconds": (lambda c, _: 42.0, lambda s: [s.runner.config.run_timeout_seconds]),
    "catch_up_window_hours": (lambda c, _: 2.5,
                              lambda s: [s.scheduler.config.catch_up_window_hours]),
    "shutdown_grace_seconds": (lambda c, _: 3.0,
                               lambda s: [s.runner.config.shutdown_grace_seconds]),
    "max_tool_rounds": (lambda c, _: 2, lambda s: [s.runner.config.max_tool_rounds]),
    "max_tool_output_chars": (lambda c, _: 99,
                              lambda s: [s.runner.config.max_tool_output_chars,
                                         s.sources.settings().max_output_chars]),
    "source_connect_timeout_seconds": (lambda c, _: 7.0,
                                       lambda s: [s.sources.settings().connect_timeout]),
    "tool_timeout_seconds": (lambda c, _: 8.0, lambda s: [s.sources.settings().tool_timeout]),
    "request_timeout_seconds": (lambda c, _: 4.0, lambda s: [s.limits.request_timeout]),
    "smtp": (lambda c, _: SmtpConfig(host="mail.example.org", port=2525, sender="me@x.org"),
             lambda s: [s.delivery.config.smtp, s.delivery.destinations.config.smtp]),
    "sms": (lambda c, _: SmsConfig(account_sid="AC123", sender="+15550001111"),
            lambda s: [s.delivery.config.sms, s.delivery.destinations.config.sms]),
    "delivery": (lambda c, _: DeliveryConfig(retry_schedule_seconds=(1.0, 2.0),
                                             timeout_seconds=3.0),
                 lambda s: [s.delivery.config.delivery]),
    "log_level": (lambda c, _: "DEBUG",
                  lambda s: [logging.getLevelName(logging.getLogger().level)]),
    "providers": (lambda c, _: {**c.providers, "extra": ProviderConfig(
                      name="extra", kind="openai", base_url="http://127.0.0.1:9", local=True)},
                  lambda s: [{n: s.providers.config(n) for n in s.providers.names()},
                             s.directory.config.providers, s.runner.config.providers,
                             s.ctx.config.providers]),
    "budget": (lambda c, _: BudgetConfig(runs_limit=5, monthly_budget_cents=100),
               lambda s: [s.scheduler.config.budget, s.ctx.config.budget]),
}
# keys a reload deliberately does not change, and why
NOT_RELOADED: dict[str, str] = {
    **RESTART_ONLY,
    "path": "the file reload reads: fixed at start by --config / PROMPTLY_CONFIG",
}


def test_every_config_key_is_covered() -> None:
    keys = {f.name for f in dataclasses.fields(Config)}
    covered = RELOADABLE.keys() | NOT_RELOADED.keys()
    assert keys == covered, (f"add a row for {sorted(keys - covered)}" if keys - covered
                             else f"drop the rows for {sorted(covered - keys)}")
    assert not RELOADABLE.keys() & NOT_RELOADED.keys()


@pytest.fixture
def restore_log_level() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.fixture
async def services(tmp_path: Path, restore_log_level: None) -> AsyncIterator[Services]:
    config = load_config(env={"HOME": str(tmp_path), "TZ": "UTC"})
    config.skills_dir.mkdir(parents=True)
    store = AsyncStore(tmp_path / "p.db")
    store.open()
    built = build_services(config, store=store, clock=FakeClock(T0), catalog=Catalog.load(),
                           keys={}, organization_id=str(uuid.uuid4()))
    yield built
    await built.skills.stop()
    await built.providers.aclose()
    store.close()


@pytest.mark.parametrize("key", sorted(RELOADABLE))
async def test_a_changed_key_reaches_its_subsystems(services: Services, key: str,
                                                    tmp_path: Path) -> None:
    base = services.ctx.config
    changed, probe = RELOADABLE[key]
    new_value = changed(base, tmp_path)
    assert new_value != getattr(base, key)
    assert all(seen != new_value for seen in probe(services)), "the probe sees the change"
    new = base.with_(**{key: new_value})
    reloader = Reloader(base, services.reloadable, lambda: new)
    assert await reloader.reload()
    assert probe(services) == [new_value] * len(probe(services))
    assert reloader.config == new


async def test_restart_only_keys_keep_their_value(services: Services, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    base = services.ctx.config
    new = base.with_(database=tmp_path / "elsewhere.db", socket=tmp_path / "s.sock",
                     secrets_backend="file", config_dir=tmp_path / "cfg",
                     web=WebConfig(listen="127.0.0.1:8799"), organization_name="Changed")
    reloader = Reloader(base, services.reloadable, lambda: new)
    with caplog.at_level(logging.WARNING, logger="promptlyd.reload"):
        assert await reloader.reload()
    live = services.ctx.config
    for key in RESTART_ONLY:
        assert getattr(live, key) == getattr(base, key), key
    assert live.organization_name == "Changed"  # the rest applies
    warning = next(r.getMessage() for r in caplog.records if "needs a restart" in r.getMessage())
    assert warning.startswith("SIGHUP: database, socket, secrets_backend, config_dir, web "
                                  "changed")


async def test_a_broken_config_changes_nothing(services: Services,
                                               caplog: pytest.LogCaptureFixture) -> None:
    base = services.ctx.config

    def broken() -> Config:
        raise ConfigError("timezone: unknown IANA timezone 'Nowhere/Land'", path="c.toml",
                          line=1)

    reloader = Reloader(base, services.reloadable, broken)
    with caplog.at_level(logging.ERROR, logger="promptlyd.reload"):
        assert not await reloader.reload()
    assert "SIGHUP: config not reloaded: c.toml:1: timezone" in caplog.text
    assert services.ctx.config is base and services.runner.config is base
    assert reloader.config is base


async def test_one_failing_subsystem_does_not_keep_the_others_on_the_old_config(
        services: Services, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def apply(self, config: Config) -> None:
            raise RuntimeError("boom")

    base = services.ctx.config
    new = base.with_(organization_name="After")
    reloader = Reloader(base, [Broken(), *services.reloadable], lambda: new)
    with caplog.at_level(logging.ERROR, logger="promptlyd.reload"):
        assert await reloader.reload()
    assert "Broken could not take the new config" in caplog.text
    assert services.runner.config.organization_name == "After"


async def test_log_level_from_the_command_line_wins(restore_log_level: None,
                                                    tmp_path: Path) -> None:
    config = load_config(env={"HOME": str(tmp_path), "TZ": "UTC"})
    await LogLevel("WARNING").apply(config.with_(log_level="DEBUG"))
    assert logging.getLogger().level == logging.WARNING
    await LogLevel().apply(config.with_(log_level="ERROR"))
    assert logging.getLogger().level == logging.ERROR


async def test_reload_rescans_the_skills_folder(services: Services) -> None:
    """SIGHUP also means "re-read the skills": a file added unwatched appears."""
    base = services.ctx.config
    (base.skills_dir / "hello.md").write_text("---\nname: Hello\n---\nSay hello.\n")
    assert await services.ctx.store.read(lambda s: s.list_rows("skills")) == []
    assert await Reloader(base, services.reloadable, lambda: base).reload()
    rows = await services.ctx.store.read(lambda s: s.list_rows("skills"))
    assert [r["slug"] for r in rows] == ["hello"]


async def test_two_reloads_in_a_row_apply_one_after_the_other(tmp_path: Path) -> None:
    base = load_config(env={"HOME": str(tmp_path), "TZ": "UTC"})
    first_may_finish = asyncio.Event()
    seen: list[str] = []

    class Slow:
        async def apply(self, config: Config) -> None:
            seen.append(f"start {config.organization_name}")
            if config.organization_name == "one":
                await first_may_finish.wait()
            seen.append(f"end {config.organization_name}")

    names = iter(["one", "two"])
    reloader = Reloader(base, [Slow()], lambda: base.with_(organization_name=next(names)))
    first = asyncio.create_task(reloader.reload())
    second = asyncio.create_task(reloader.reload())
    async with asyncio.timeout(10):
        while not seen:
            await asyncio.sleep(0.01)
        first_may_finish.set()
        assert await first and await second
    assert seen == ["start one", "end one", "start two", "end two"]
    assert reloader.config.organization_name == "two"
