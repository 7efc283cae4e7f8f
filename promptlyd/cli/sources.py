"""``promptly sources …``: data connections (MCP servers, HTTP APIs, local folders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from promptlyd.cli import common as c

if TYPE_CHECKING:
    from promptlyd.client import Source

sources = c.group("sources", "Sources: MCP servers, APIs and folders.")

AUTH_TYPES = ("none", "bearer", "basic", "header", "query", "api_key")


def target(source: Source) -> str:
    """Where a source connects: its command, URL or folders."""
    cfg = source.config
    if cfg.command:
        return " ".join([cfg.command, *(cfg.args or [])])
    return cfg.url or cfg.base_url or ", ".join(cfg.paths or []) or "-"


def show_source(source: Source) -> None:
    cfg = source.config
    c.details([
        ("ID", source.id),
        ("Name", source.name),
        ("Slug", source.slug),
        ("Type", source.type + (f" ({cfg.transport})" if cfg.transport else "")),
        ("Description", source.description),
        ("Command", " ".join([cfg.command, *(cfg.args or [])]) if cfg.command else None),
        ("URL", cfg.url),
        ("Base URL", cfg.base_url),
        ("Folders", ", ".join(cfg.paths) if cfg.paths else None),
        ("Env", ", ".join(sorted(cfg.env)) if cfg.env else None),
        ("Auth", source.auth_type),
        ("Connected", c.yes_no(source.is_active)),
        ("Last connected", c.when(source.last_connected_at) if source.last_connected_at
         else None),
        ("Updated", c.when(source.updated_at) if source.updated_at else None),
    ])
    tools = source.tools or []
    if tools:
        click.echo(f"\nTools ({len(tools)}):")
        for tool in tools:
            click.echo(f"  {tool.name}: {c.clip(tool.description or '', 80)}")


def _source_options(creating: bool) -> Callable[[c.F], c.F]:
    options = [
        click.option("--name", required=creating, help="The source's name."),
        click.option("--type", "type_", type=click.Choice(("mcp", "api", "local")),
                     required=creating, help="mcp: an MCP server; api: an HTTP API; "
                                             "local: folders on this machine."),
        click.option("--command", help="MCP over stdio: the program that starts the server."),
        click.option("--arg", "args", multiple=True, help="An argument of --command "
                                                          "(repeatable, in order)."),
        click.option("--url", help="MCP over http/websocket: the server's URL."),
        click.option("--base-url", help="api: the base URL the model may call."),
        click.option("--path", "paths", multiple=True,
                     help="local: an absolute folder the model may read (repeatable)."),
        click.option("--env", multiple=True, metavar="KEY=VALUE",
                     help="MCP over stdio: an environment variable (repeatable)."),
        click.option("--transport", type=click.Choice(("stdio", "http", "websocket")),
                     help="MCP transport (default: from --command or --url)."),
        click.option("--description", help="What the source gives access to."),
        click.option("--auth-type", type=click.Choice(AUTH_TYPES),
                     help="How to authenticate (the credential lives in the keyring)."),
        click.option("--secret-name", metavar="NAME",
                     help="The keyring secret holding the credential "
                          "(`promptly secrets set NAME`)."),
    ]

    return c.apply_all(options)


def _config(opts: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = c.given({
        "command": opts.get("command"), "args": list(opts.get("args") or ()) or None,
        "url": opts.get("url"), "baseUrl": opts.get("base_url"),
        "paths": list(opts.get("paths") or ()) or None, "transport": opts.get("transport"),
    })
    if opts.get("env"):
        cfg["env"] = c.parse_env(opts["env"])
    return cfg


def _fields(opts: dict[str, Any]) -> dict[str, Any]:
    fields = c.given({"name": opts.get("name"), "description": opts.get("description"),
                      "auth_type": opts.get("auth_type")})
    if opts.get("secret_name"):
        fields["auth_config"] = {"secretName": opts["secret_name"]}
    return fields


@sources.command("list")
@c.json_option
def list_sources() -> None:
    """List every source."""
    items = c.client().promptly.sources.list()

    def human() -> None:
        rows = [[c.short(s.id), c.clip(s.name, 28), s.type, c.yes_no(s.is_active),
                 str(len(s.tools)) if s.tools is not None else "-", c.clip(target(s), 50)]
                for s in items]
        c.table(["ID", "NAME", "TYPE", "CONNECTED", "TOOLS", "TARGET"], rows,
                empty="No sources yet: add one with `promptly sources create --name NAME "
                      "--type local --path /some/folder`.")

    c.output(items, human)


@sources.command("show")
@click.argument("source_id", metavar="ID")
@c.json_option
def show(source_id: str) -> None:
    """Show a source: its connection, auth and tools."""
    source = c.client().promptly.sources.retrieve(c.resolve("source", source_id))
    c.output(source, lambda: show_source(source))


@sources.command("create")
@_source_options(creating=True)
@c.json_option
def create(**opts: Any) -> None:
    """Add a source (then check it with `promptly sources test ID`)."""
    fields = _fields(opts)
    source = c.client().promptly.sources.create(
        name=fields.pop("name"), type=opts["type_"], config=_config(opts), **fields)
    c.output(source, lambda: click.echo(
        f"Created source {source.name!r} ({c.short(source.id)}); check it with "
        f"`promptly sources test {c.short(source.id)}`."))


@sources.command("update")
@click.argument("source_id", metavar="ID")
@_source_options(creating=False)
@c.json_option
def update(source_id: str, **opts: Any) -> None:
    """Change a source; only the options given change.

    Connection options (--command, --arg, --url, …) replace those settings and keep the
    others.
    """
    api = c.client().promptly
    sid = c.resolve("source", source_id)
    if opts.get("type_") is not None:
        raise click.UsageError("a source's type cannot change; create a new source instead")
    fields = _fields(opts)
    changes = _config(opts)
    if changes:
        current = api.sources.retrieve(sid).config.to_dict()
        fields["config"] = {**current, **changes}
    if not fields:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    source = api.sources.update(sid, **fields)
    c.output(source, lambda: click.echo(f"Updated source {source.name!r} "
                                        f"({c.short(source.id)})."))


@sources.command("delete")
@click.argument("source_id", metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@c.json_option
def delete(source_id: str, yes: bool) -> None:
    """Delete a source (and detach it from every task)."""
    api = c.client().promptly
    source = api.sources.retrieve(c.resolve("source", source_id))
    if not yes:
        click.confirm(f"Delete source {source.name!r} ({c.short(source.id)})?", abort=True,
                      err=True)
    api.sources.delete(source.id)
    c.done(f"Deleted source {source.name!r} ({c.short(source.id)}).")


@sources.command("test")
@click.argument("source_id", metavar="ID")
@c.json_option
def test(source_id: str) -> None:
    """Connect to a source and list its tools (exit 1 if it fails)."""
    sid = c.resolve("source", source_id)
    result = c.client().promptly.sources.test(sid)

    def human() -> None:
        if not result.success:
            return
        click.echo(f"OK: {result.message or 'connected'}")
        tools = result.tools or []
        click.echo(f"Tools ({len(tools)}):" if tools else "No tools offered.")
        for tool in tools:
            click.echo(f"  {tool.name}: {c.clip(tool.description or '', 80)}")

    c.output(result, human)
    if not result.success:
        raise c.CliError(f"source {c.short(sid)} did not connect: "
                         f"{result.message or 'no reason given'}")


# `add` and `rm` are the spellings of `create` and `delete`; both work.
sources.add_command(create, "add")
sources.add_command(delete, "rm")


@sources.command("tools")
@click.argument("source_id", metavar="ID")
@click.option("--refresh", is_flag=True, help="Connect now and list them afresh "
                                              "(like `promptly sources test`).")
@c.json_option
def tools(source_id: str, refresh: bool) -> None:
    """List the tools a source offered when last connected, as the model sees them."""
    api = c.client().promptly
    sid = c.resolve("source", source_id)
    if refresh:
        result = api.sources.test(sid)
        if not result.success:
            raise c.CliError(f"source {c.short(sid)} did not connect: "
                             f"{result.message or 'no reason given'}")
    source = api.sources.retrieve(sid)
    listed = source.tools or []
    prefix = source.slug or source.name

    def human() -> None:
        if source.tools is None:
            click.echo(f"No tools seen yet: run `promptly sources test {c.short(sid)}`.")
            return
        rows = [[f"{prefix}__{t.name}", c.clip(t.description or "", 70)] for t in listed]
        c.table(["OFFERED AS", "DESCRIPTION"], rows, empty="This source offers no tools.")

    c.output(listed, human)


@sources.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Show what would be created; change nothing.")
@c.json_option
def import_servers(file: str, dry_run: bool) -> None:
    """Create one source per server of an mcpServers JSON file.

    Reads Claude Desktop's claude_desktop_config.json and Claude Code's .mcp.json.
    ${VAR} and ${VAR:-default} are expanded from the environment; credentials in
    headers (and env values named like …TOKEN or …API_KEY) are stored as secrets.
    """
    import json
    import os

    from promptlyd.cli.secrets import _store
    from promptlyd.errors import PromptlydError
    from promptlyd.sources.importer import plan_import

    try:
        with open(file, encoding="utf-8") as fh:
            document = json.load(fh)
    except (OSError, ValueError) as exc:
        raise c.CliError(f"cannot read {file}: {exc}") from exc
    api = None if dry_run else c.client()
    taken = set() if api is None else {s.slug for s in api.promptly.sources.list() if s.slug}
    try:
        planned = plan_import(document, os.environ, taken)
    except PromptlydError as exc:
        raise c.CliError(f"{file}: {exc}") from exc
    shown = [{**p.body, "secrets": sorted(p.secrets)} for p in planned]
    if dry_run:
        def human_plan() -> None:
            for item in shown:
                cfg = item["config"]
                where = (" ".join([cfg["command"], *cfg.get("args", [])])
                         if "command" in cfg else cfg.get("url", ""))
                click.echo(f"would create {item['name']!r} ({cfg['transport']}): {where}")
                for name in item["secrets"]:
                    click.echo(f"  and store secret {name}")
            if not shown:
                click.echo("No servers in the file.")

        c.output(shown, human_plan)
        return
    assert api is not None
    keys = _store() if any(p.secrets for p in planned) else None
    created = []
    for p in planned:
        try:
            for name, value in p.secrets.items():
                assert keys is not None
                keys.set(name, value)
        except PromptlydError as exc:
            raise c.CliError(f"storing the secrets of {p.name!r} failed: {exc}") from exc
        created.append(api.request("POST", "/api/promptly/sources", json=p.body))

    def human() -> None:
        for item in created:
            click.echo(f"Created source {item['name']!r} ({c.short(item['id'])}).")
        if created:
            click.echo("Check them with `promptly sources test ID`.")

    c.output(created, human)
