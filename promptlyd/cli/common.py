"""What every command group shares: the client, ``--json``, tables, times and id prefixes.

Nothing here imports httpx: the client is created (and httpx imported) only when a
command actually talks to the daemon, so ``promptly --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
from click_default_group import DefaultGroup

from promptlyd.errors import PromptlydError
from promptlyd.timeutil import wall_clock

if TYPE_CHECKING:
    from promptlyd.client import Promptly

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_NOT_RUNNING = 2
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SHORT = 8


class CliError(click.ClickException, PromptlydError):  # type: ignore[misc]  # both set .message
    """Printed as ``Error: <message>`` on stderr; exits 1."""

    exit_code = EXIT_ERROR


class NotRunningError(CliError):
    """The daemon is not running: exits 2."""

    exit_code = EXIT_NOT_RUNNING


@dataclass
class State:
    """The root command's options, and the client made from them on first use."""

    socket: str | None = None
    config: str | None = None
    json: bool = False
    utc: bool = False
    _client: Promptly | None = field(default=None, repr=False)

    def client(self) -> Promptly:
        if self._client is None:
            from promptlyd.client import Promptly

            client = Promptly(socket_path=self.socket, config_path=self.config)
            click.get_current_context().find_root().call_on_close(client.close)
            self._client = client
        return self._client


def state() -> State:
    ctx = click.get_current_context()
    obj = ctx.find_object(State)
    if obj is None:  # a group invoked on its own (tests); behave like the root
        obj = ctx.find_root().ensure_object(State)
    return obj


def client() -> Promptly:
    return state().client()


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        obj = ctx.find_object(State) or ctx.find_root().ensure_object(State)
        obj.json = True


def json_option(f: F) -> F:
    """``--json`` on a command: the same as ``promptly --json``."""
    return click.option("--json", "json_flag", is_flag=True, expose_value=False,
                        callback=_set_json,
                        help="Print the raw JSON answer (for scripts).")(f)


def group(name: str, help: str, default: str | None = "list") -> click.Group:
    """A command group; with no verb it runs ``default`` (``list``), as llm's groups do."""
    made = DefaultGroup(name=name, help=help, default=default,
                        default_if_no_args=default is not None)
    return cast(click.Group, made)


def apply_all(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    """Several option decorators as one, in the order listed."""

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


# --- output --------------------------------------------------------------------------


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def dumped(value: Any) -> Any:
    """Typed results (or lists of them) → their JSON."""
    if isinstance(value, list):
        return [dumped(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def output(value: Any, human: Callable[[], None]) -> None:
    """JSON when asked for, else the human rendering."""
    if state().json:
        emit_json(dumped(value))
    else:
        human()


def done(message: str, json_value: Any = None) -> None:
    """Report a change: a sentence for people, ``{"success": true, …}`` for scripts."""
    if state().json:
        emit_json(dumped(json_value) if json_value is not None else {"success": True})
    else:
        click.echo(message)


def clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str = "") -> None:
    """Columns aligned to their widest cell; the last column is not padded."""
    rows = [list(r) for r in rows]
    if not rows:
        if empty:
            click.echo(empty)
        return
    widths = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(len(headers))]
    for line in (list(headers), *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])] + [line[-1]]
        click.echo("  ".join(cells).rstrip())


def details(pairs: Iterable[tuple[str, Any]]) -> None:
    """``Label:  value`` lines, aligned; None values are left out."""
    shown = [(k, v) for k, v in pairs if v is not None and v != ""]
    width = max((len(k) for k, _ in shown), default=0) + 1
    for key, value in shown:
        click.echo(f"{(key + ':').ljust(width)}  {value}")


def block(title: str, text: str | None) -> None:
    """A titled, indented block of text (a prompt, an output)."""
    if text is None:
        return
    click.echo(f"\n{title}:")
    for line in text.splitlines() or [""]:
        click.echo(f"  {line}")


def short(item_id: str | None) -> str:
    return (item_id or "")[:SHORT]


def when(stamp: str | None, never: str = "-", zone: str | None = None) -> str:
    """An API timestamp to the minute, with its zone's abbreviation: in ``zone`` (a
    task's IANA zone) when given, else in this machine's local zone; in UTC under
    ``promptly --utc``."""
    if not stamp:
        return never
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return format_instant(moment, zone, utc=state().utc if click.get_current_context(
        silent=True) else False)


def format_instant(moment: datetime, zone: str | None = None, *, utc: bool = False) -> str:
    """``2026-12-02 07:30 CET``: ``moment`` in UTC, in the IANA ``zone``, or (neither, or
    a zone this machine does not know) in the local zone — always saying which."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if utc:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return wall_clock(moment, zone)


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def cost(cents: float | None) -> str:
    if cents is None:
        return "-"
    return f"${cents / 100:.4f}" if cents else "$0"


def yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


# --- ids -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    id: str
    label: str
    slug: str | None = None


def _candidates(kind: str) -> list[Candidate]:
    api = client().promptly
    if kind == "task":
        return [Candidate(t.id, t.name) for t in api.tasks.list()]
    if kind == "skill":
        return [Candidate(s.id, s.name, s.slug) for s in api.skills.list()]
    if kind == "source":
        return [Candidate(s.id, s.name, s.slug) for s in api.sources.list()]
    if kind == "run":
        return [Candidate(r.id or "", f"{r.status} {when(r.created_at)}")
                for r in api.runs.list(limit=10_000)]
    raise AssertionError(kind)


def resolve(kind: str, text: str) -> str:
    """A full id, an exact slug (skills, sources), or a unique id prefix → the full id.

    An exact slug wins over an id prefix: ``skills delete cafe`` means the skill named
    cafe, not whichever id happens to start with "cafe".
    """
    given = text.strip()
    wanted = given.lower()
    if UUID_RE.match(wanted):
        return wanted
    if not wanted:
        raise CliError(f"empty {kind} id")
    items = _candidates(kind)
    matches = [c for c in items if c.slug is not None and c.slug == given]
    if not matches:
        matches = [c for c in items if c.id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0].id
    if not matches:
        raise CliError(f"no {kind} with an id starting with {text!r}; list them with "
                       f"`promptly {kind}s list`")
    shown = ", ".join(f"{short(c.id)} ({c.label})" for c in matches[:5])
    more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
    raise CliError(f"{text!r} is ambiguous: it starts {len(matches)} {kind} ids ({shown}{more});"
                   " give more of the id")


def resolve_many(kind: str, texts: Iterable[str]) -> list[str]:
    return [resolve(kind, t) for t in texts]


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--env")
        env[key] = value
    return env


def given(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the options the user passed (click gives None / () for the others)."""
    return {k: v for k, v in values.items() if v is not None and v != ()}


def read_text(value: str | None, file: str | None, what: str) -> str | None:
    """``--content TEXT`` or ``--file PATH`` (``-`` = stdin), not both."""
    if value is not None and file is not None:
        raise click.UsageError(f"give {what} with --{what} or --file, not both")
    if file is not None:
        with click.open_file(file, encoding="utf-8") as fh:
            return str(fh.read())
    if value == "-":
        return sys.stdin.read()
    return value
