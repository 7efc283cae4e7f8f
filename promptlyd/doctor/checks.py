"""The checks, in the order they are printed."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from promptlyd import __version__
from promptlyd.config import DEFAULT_PROVIDERS, Config, load_config
from promptlyd.errors import ConfigError, PromptlydError

OK, WARN, PROBLEM, SKIPPED = "ok", "warn", "problem", "skipped"
SMTP_TIMEOUT = 5.0
PROVIDER_TIMEOUT = 10.0  # a person waits; the first call also loads the SDK


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok | warn | problem | skipped
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "message": self.message,
                **({"fix": self.fix} if self.fix else {})}


@dataclass
class Doctor:
    """What the checks share: the config (if valid), a client (if the daemon answers)."""

    config_path: Path | None
    socket_path: Path | None
    env: Mapping[str, str]
    config: Config | None = None
    client: Any = None  # promptlyd.client.Promptly, when the daemon answers
    keys: Any = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status == PROBLEM]


Check = Callable[[Doctor], list[Finding]]


def _needs_config(name: str) -> list[Finding]:
    return [Finding(name, SKIPPED, "the config is not valid (see above)")]


def config_check(d: Doctor) -> list[Finding]:
    try:
        d.config = load_config(d.config_path, socket_override=str(d.socket_path)
                               if d.socket_path else None)
    except ConfigError as exc:
        return [Finding("config", PROBLEM, str(exc),
                        "fix that line (config.example.toml documents every key)")]
    where = d.config.path or "none (defaults)"
    return [Finding("config", OK, f"valid: {where}")]


def database_check(d: Doctor) -> list[Finding]:
    if d.config is None:
        return _needs_config("database")
    import sqlite3

    from promptlyd.store.health import check_database

    path = d.config.database
    if not path.exists():
        return [Finding("database", OK, f"not created yet: {path} (the daemon creates it at "
                                        "its first start)")]
    try:
        health = check_database(path)
    except (OSError, sqlite3.Error) as exc:
        return [Finding("database", PROBLEM, f"cannot read {path}: {exc}",
                        f"check its owner and permissions (`ls -l {path}`; it should be "
                        "yours, mode 0600), or restore it from a backup")]
    if not health.sound:
        return [Finding("database", PROBLEM,
                        f"{path} fails PRAGMA integrity_check: {'; '.join(health.integrity[:3])}",
                        "stop promptlyd and restore the database from a backup "
                        "(sqlite3 promptly.db .recover can rescue what is readable)")]
    found = [Finding("database", OK,
                     f"{path}: integrity ok, schema {health.version}")]
    if health.pending:
        found.append(Finding("database", WARN,
                             f"{len(health.pending)} migration(s) will be applied at the next "
                             f"start: {', '.join(health.pending)}"))
    return found


def socket_check(d: Doctor) -> list[Finding]:
    if d.config is None:
        return _needs_config("socket")
    path = d.config.socket
    folder = path.parent
    if not folder.exists():
        return [Finding("socket", OK, f"{folder} not created yet (the daemon makes it 0700)")]
    found: list[Finding] = []
    st = folder.stat()
    if st.st_uid != os.getuid():
        found.append(Finding("socket", PROBLEM, f"{folder} belongs to uid {st.st_uid}",
                             "choose another `socket` in the config"))
    elif stat.S_IMODE(st.st_mode) & 0o077:
        found.append(Finding("socket", PROBLEM,
                             f"{folder} is mode {stat.S_IMODE(st.st_mode):04o}, not 0700",
                             f"chmod 700 {folder}"))
    if path.exists():
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(Finding("socket", PROBLEM, f"{path} is mode {mode:04o}, not 0600",
                                 "restart promptlyd (it makes its socket 0600)"))
    return found or [Finding("socket", OK, f"{path} (folder 0700, socket 0600)")]


def daemon_check(d: Doctor) -> list[Finding]:
    if d.config is None:
        return _needs_config("daemon")
    from promptlyd.client import APIConnectionError, Promptly

    client = Promptly(socket_path=d.config.socket, timeout=10)
    try:
        health = client.health()
    except APIConnectionError as exc:
        client.close()
        return [Finding("daemon", PROBLEM, str(exc).split(": start it")[0],
                        "start it: `systemctl --user start promptlyd` (or `promptlyd`)")]
    d.client = client
    found = [Finding("daemon", OK, f"promptlyd {health.version} answers on {d.config.socket} "
                                   f"(pid {health.pid}, up {health.uptime_seconds:.0f} s)")]
    if health.version != __version__:
        found.append(Finding("daemon", WARN,
                             f"the daemon is {health.version}, this promptly is {__version__}",
                             "restart it to run the installed version "
                             "(`systemctl --user restart promptlyd`)"))
    return found


def keystore_check(d: Doctor) -> list[Finding]:
    if d.config is None:
        return _needs_config("secrets")
    from promptlyd.secrets import FILE_NAME, open_keystore

    try:
        keys, warning = open_keystore(d.config.config_dir, d.config.secrets_backend, d.env)
    except PromptlydError as exc:
        return [Finding("secrets", PROBLEM, str(exc))]
    d.keys = keys
    found = [Finding("secrets", OK, f"key store: {keys.backend}")]
    if warning:
        found.append(Finding("secrets", WARN, warning))
    path = d.config.config_dir / FILE_NAME
    if keys.kind == "file" and path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            found.append(Finding("secrets", PROBLEM, f"{path} is mode {mode:04o}: others may "
                                 "read your keys", f"chmod 600 {path}"))
    return found


def _used_providers(d: Doctor) -> list[str]:
    assert d.config is not None
    used = {d.config.default_model.split("/", 1)[0]}
    used |= {n for n in d.config.providers if n not in DEFAULT_PROVIDERS}
    if d.client is not None:
        used |= {(t.model or "").split("/", 1)[0] for t in d.client.promptly.tasks.list()
                 if t.status == "active" and t.model}
    return sorted(u for u in used if u)


def providers_check(d: Doctor) -> list[Finding]:
    if d.config is None or d.keys is None:
        return _needs_config("providers")
    from promptlyd.providers.catalog import Catalog
    from promptlyd.providers.discovery import ModelDirectory
    from promptlyd.providers.registry import ProviderRegistry

    config = d.config
    registry = ProviderRegistry(config.providers, d.keys)
    directory = ModelDirectory(config, Catalog.load(), registry)
    found: list[Finding] = []

    async def ask() -> list[tuple[str, str | None]]:
        try:
            return [(n, await directory.provider_problem(n, PROVIDER_TIMEOUT))
                    for n in _used_providers(d)
                    if n in config.providers]
        finally:
            await registry.aclose()

    for name, problem in asyncio.run(ask()):
        if problem is None:
            found.append(Finding("providers", OK, f"{name}: usable"))
        else:
            found.append(Finding("providers", PROBLEM, f"{name}: {problem}"))
    for name in _used_providers(d):
        if name not in config.providers:
            found.append(Finding("providers", PROBLEM, f"{name}: tasks use it, but it is not "
                                 "configured", f"add [providers.{name}] to the config"))
    return found


def default_model_check(d: Doctor) -> list[Finding]:
    if d.config is None:
        return _needs_config("default model")
    from promptlyd.providers.catalog import Catalog

    model = d.config.default_model
    provider = d.config.providers.get(model.split("/", 1)[0])
    if provider is not None and (provider.local or model.split("/", 1)[0]
                                 not in DEFAULT_PROVIDERS):
        return [Finding("default model", OK, f"{model} (a local or added server's model)")]
    info = Catalog.load().get(model)
    fix = "set default_model in the config to a current model (`promptly models` lists them)"
    if info is None:
        return [Finding("default model", PROBLEM, f"{model} is not in the catalog", fix)]
    if info.deprecated:
        today = datetime.now(UTC).date()
        when = "was retired" if info.retired(today) else "is deprecated, retired"
        return [Finding("default model", PROBLEM, f"{model} {when} on {info.end_of_life}", fix)]
    return [Finding("default model", OK, f"{model} (in the catalog, current)")]


def skills_check(d: Doctor) -> list[Finding]:
    if d.config is None:
        return _needs_config("skills")
    from promptlyd.skills.parse import SkillProblem, scan_folder
    from promptlyd.skills.plan import read_skill_file

    root = d.config.skills_dir
    if not root.exists():
        return [Finding("skills", OK, f"{root} not created yet (the daemon creates it)")]
    if not os.access(root, os.R_OK | os.X_OK):
        return [Finding("skills", PROBLEM, f"cannot read the skills folder {root}",
                        f"chmod 700 {root}")]
    scan = scan_folder(root)
    found = [Finding("skills", PROBLEM, f"{p.path}: {p.message}",
                     "fix the file, or move it out of the skills folder")
             for p in scan.problems]
    for sp in scan.skills:
        got = read_skill_file(sp.path, sp.slug, sp.layout)
        if got is not None and isinstance(got[1], SkillProblem):
            line = f":{got[1].line}" if got[1].line else ""
            found.append(Finding("skills", PROBLEM, f"{sp.path}{line}: {got[1].message}",
                                 "fix the file (`promptly skills edit "
                                 f"{sp.slug}`)"))
    if not found:
        found.append(Finding("skills", OK, f"{len(scan.skills)} skill(s) in {root}, all "
                                           "readable"))
    return found


def sources_check(d: Doctor) -> list[Finding]:
    if d.client is None:
        return [Finding("sources", SKIPPED, "the daemon is not answering: sources are tested "
                                            "through it")]
    found: list[Finding] = []
    for source in d.client.promptly.sources.list():
        result = d.client.promptly.sources.test(source.id)
        if not result.success:
            found.append(Finding("sources", PROBLEM, f"{source.name}: {result.message}",
                                 f"fix it, then `promptly sources test {source.slug}`"))
    return found or [Finding("sources", OK, "every source connects")]


def smtp_check(d: Doctor) -> list[Finding]:
    if d.config is None:
        return _needs_config("smtp")
    smtp = d.config.smtp
    if not smtp.host:
        return []
    try:
        with socket.create_connection((smtp.host, smtp.port), timeout=SMTP_TIMEOUT):
            pass
    except OSError as exc:
        return [Finding("smtp", PROBLEM, f"{smtp.host}:{smtp.port} does not answer: "
                        f"{exc.strerror or exc}", "check [smtp] host and port in the config")]
    return [Finding("smtp", OK, f"{smtp.host}:{smtp.port} answers")]


def unit_check(d: Doctor) -> list[Finding]:
    from promptlyd.service.managers import manager_for

    try:
        state = manager_for(sys.platform, d.env).state()
    except PromptlydError as exc:
        return [Finding("service", WARN, str(exc))]
    if not state.installed:
        return [Finding("service", WARN, f"not installed as a service (no {state.path})",
                        "`promptly service install` starts it at login and restarts it")]
    program = state.exec_start or ""
    if not os.access(program.strip('"'), os.X_OK):
        return [Finding("service", PROBLEM, f"{state.path} runs {program}, which is not "
                        "there", "`promptly service install` writes it again")]
    return [Finding("service", OK, f"installed: {state.path}"
                                   + (f" ({state.active})" if state.active else ""))]


CHECKS: list[Check] = [config_check, database_check, socket_check, daemon_check,
                       keystore_check, providers_check, default_model_check, skills_check,
                       sources_check, smtp_check, unit_check]


def run_checks(d: Doctor, checks: list[Check] | None = None) -> list[Finding]:
    for check in checks or CHECKS:
        try:
            d.findings.extend(check(d))
        except Exception as exc:  # a check that breaks is a finding, not a traceback
            d.findings.append(Finding(check.__name__.removesuffix("_check"), PROBLEM,
                                      f"the check itself failed: {type(exc).__name__}: {exc}"))
    if d.client is not None:
        d.client.close()
    return d.findings
