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
