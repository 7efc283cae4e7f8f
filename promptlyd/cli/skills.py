"""``promptly skills …``: reusable Markdown instructions prepended to task prompts.

Each skill is a file in the daemon's skills folder (``<slug>.md`` or
``<slug>/SKILL.md``); ``edit`` and ``new`` open that file in ``$EDITOR`` and
the daemon picks up the change by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from promptlyd.cli import common as c

if TYPE_CHECKING:
    from promptlyd.client import PromptlyResource, Skill

skills = c.group("skills", "Skills: reusable instructions for prompts, kept as Markdown files.")

# How long `edit` and `install-examples` wait for the daemon to load the files they
# wrote (its watcher takes well under a second; a busy machine may take longer).
RELOAD_WAIT = 10.0
NEW_SKILL_TEXT = """\
Write the instructions for the model here, in Markdown: the tone to use, the
shape of the answer, what to leave out. They are put before the task's prompt.
"""


def show_skill(skill: Skill) -> None:
    fm = skill.frontmatter
    c.details([
        ("ID", skill.id),
        ("Name", skill.name),
        ("Slug", skill.slug),
        ("Description", skill.description),
        ("Category", skill.category),
        ("Tags", ", ".join(fm.tags) if fm and fm.tags else None),
        ("Needs sources", ", ".join(fm.required_sources) if fm and fm.required_sources else None),
        ("Author", fm.author if fm else None),
        ("Version", skill.version),
        ("File", skill.path),
        ("Problem", skill.problem),
        ("Updated", c.when(skill.updated_at) if skill.updated_at else None),
    ])
    c.block("Content", skill.content)


def _skill_options(creating: bool) -> Callable[[c.F], c.F]:
    options = [
        click.option("--name", required=creating, help="The skill's name."),
        click.option("--content", metavar="TEXT",
                     help="The instructions, as Markdown ('-' reads stdin)."),
        click.option("--file", "file", metavar="PATH",
                     help="Read the instructions from this file ('-' = stdin)."),
        click.option("--description", help="One line on what the skill is for."),
        click.option("--category", help="A category, e.g. writing."),
    ]
    if creating:
        options.append(click.option("--slug", help="URL-friendly id (default: from the name)."))

    return c.apply_all(options)


def _fields(opts: dict[str, Any]) -> dict[str, Any]:
    fields = c.given({k: opts.get(k) for k in ("name", "description", "category", "slug")})
    content = c.read_text(opts.get("content"), opts.get("file"), "content")
    if content is not None:
        fields["content"] = content
    return fields


@skills.command("list")
@c.json_option
def list_skills() -> None:
    """List every skill."""
    items = c.client().promptly.skills.list()

    def human() -> None:
        rows = [[c.short(s.id), c.clip(s.name, 30), s.slug or "-", str(s.version or "-"),
                 c.clip(s.description or "", 40), c.clip(s.problem or "", 60)] for s in items]
        c.table(["ID", "NAME", "SLUG", "VERSION", "DESCRIPTION", "PROBLEM"], rows,
                empty="No skills yet: create one with `promptly skills new NAME`, or copy "
                      "the examples with `promptly skills install-examples`.")

    c.output(items, human)


@skills.command("show")
@click.argument("skill_id", metavar="ID")
@c.json_option
def show(skill_id: str) -> None:
    """Show a skill and its instructions."""
    skill = c.client().promptly.skills.retrieve(c.resolve("skill", skill_id))
    c.output(skill, lambda: show_skill(skill))


@skills.command("create")
@_skill_options(creating=True)
@c.json_option
def create(**opts: Any) -> None:
    """Create a skill from --content or --file."""
    fields = _fields(opts)
    if "content" not in fields:
        raise click.UsageError("give the instructions with --content TEXT or --file PATH")
    name, content = fields.pop("name"), fields.pop("content")
    skill = c.client().promptly.skills.create(name=name, content=content, **fields)
    c.output(skill, lambda: click.echo(f"Created skill {skill.name!r} ({c.short(skill.id)}, "
                                       f"slug {skill.slug})."))


@skills.command("update")
@click.argument("skill_id", metavar="ID")
@_skill_options(creating=False)
@c.json_option
def update(skill_id: str, **opts: Any) -> None:
    """Change a skill; only the options given are changed."""
    fields = _fields(opts)
    if not fields:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    skill = c.client().promptly.skills.update(c.resolve("skill", skill_id), **fields)
    c.output(skill, lambda: click.echo(f"Updated skill {skill.name!r} ({c.short(skill.id)}), "
                                       f"now version {skill.version}."))


@skills.command("delete")
@click.argument("skill_id", metavar="ID")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@c.json_option
def delete(skill_id: str, yes: bool) -> None:
    """Delete a skill (and detach it from every task)."""
    api = c.client().promptly
    skill = api.skills.retrieve(c.resolve("skill", skill_id))
    if not yes:
        click.confirm(f"Delete skill {skill.name!r} ({c.short(skill.id)})?", abort=True,
                      err=True)
    api.skills.delete(skill.id)
    c.done(f"Deleted skill {skill.name!r} ({c.short(skill.id)}).")


skills.add_command(delete, "rm")


def _file_of(skill: Skill) -> Path:
    if not skill.path:
        raise c.CliError(f"the daemon did not say where the file of skill {skill.name!r} is; "
                         "upgrade promptlyd")
    return Path(skill.path)


def _text(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _edit(api: PromptlyResource, skill: Skill) -> None:
    """Open the skill's file in $EDITOR, then wait for the daemon to load what was saved."""
    path = _file_of(skill)
    before = _text(path)
    click.edit(filename=str(path))
    if _text(path) == before:
        c.done(f"No changes to {path}.", skill)
        return
    deadline = time.monotonic() + RELOAD_WAIT
    now = api.skills.retrieve(skill.id)
    while now.updated_at == skill.updated_at and time.monotonic() < deadline:
        time.sleep(0.05)
        now = api.skills.retrieve(skill.id)
    if now.problem:
        raise c.CliError(f"skill {now.slug} was saved but can't be used: {now.problem}; "
                         f"fix it with `promptly skills edit {now.slug}`")
    if now.updated_at == skill.updated_at:
        c.done(f"Saved {path}; the instructions mean the same (version {now.version}).", now)
    else:
        c.done(f"Saved {path}: skill {now.name!r} is now version {now.version}.", now)


@skills.command("edit")
@click.argument("skill_id", metavar="ID")
@c.json_option
def edit(skill_id: str) -> None:
    """Open a skill's file in $EDITOR (ID, id prefix or slug).

    The daemon loads the saved file by itself within a second; this waits for
    it and reports the new version, or the problem if the file can't be used.
    """
    api = c.client().promptly
    _edit(api, api.skills.retrieve(c.resolve("skill", skill_id)))


@skills.command("new")
@click.argument("name")
@click.option("--slug", help="The file name without .md (default: from the name).")
@click.option("--description", help="One line on what the skill is for and when to use it.")
@click.option("--category", help="A category, e.g. writing.")
@click.option("--content", metavar="TEXT",
              help="The instructions ('-' reads stdin); default: a short placeholder.")
@click.option("--no-edit", is_flag=True, help="Create the file but do not open $EDITOR.")
@c.json_option
def new(name: str, no_edit: bool, **opts: Any) -> None:
    """Create a skill file named after NAME in the skills folder and open it in $EDITOR."""
    fields = c.given({k: opts.get(k) for k in ("slug", "description", "category")})
    content = c.read_text(opts.get("content"), None, "content") or NEW_SKILL_TEXT
    api = c.client().promptly
    skill = api.skills.create(name=name, content=content, **fields)
    if no_edit or c.state().json:
        c.output(skill, lambda: click.echo(f"Created skill {skill.name!r} in {skill.path}."))
        return
    click.echo(f"Created skill {skill.name!r} in {skill.path}; opening it in your editor.")
    _edit(api, skill)


@skills.command("install-examples")
@click.option("--force", is_flag=True, help="Overwrite example skills that already exist.")
@click.option("--to", "dest", metavar="DIR",
              help="Copy into DIR (default: the config's skills_dir).")
@c.json_option
def install_examples(force: bool, dest: str | None) -> None:
    """Copy the example skills shipped with promptly into your skills folder.

    An example whose file or folder already exists is skipped unless --force.
    A running daemon loads the new files by itself; this waits until it has (so
    `promptly skills` right after lists them).
    """
    from promptlyd.skills.examples import install_examples as install

    daemon_folder = _skills_dir(required=dest is None)
    folder = Path(dest).expanduser() if dest else daemon_folder
    if folder is None:  # pragma: no cover - required=True raised instead
        raise c.CliError("no skills folder: give one with --to DIR")
    report = install(folder, force=force)
    result = {"skillsDir": str(folder), "installed": report.installed,
              "skipped": report.skipped}
    json_output = c.state().json
    if not json_output:
        if report.installed:
            click.echo(f"Installed {len(report.installed)} example skill(s) into {folder}: "
                       f"{', '.join(report.installed)}.")
        if report.skipped:
            click.echo(f"Skipped {len(report.skipped)} that already exist: "
                       f"{', '.join(report.skipped)} (use --force to overwrite them).")
    if report.installed and daemon_folder is not None and _same(folder, daemon_folder):
        note = _wait_loaded(folder, report.installed)
        if note and not json_output:
            click.echo(note)
    if json_output:
        c.emit_json(result)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _on_disk(folder: Path, slug: str) -> str | None:
    """The instructions of the skill file ``slug`` in ``folder``, as the daemon reads them."""
    from promptlyd.skills.parse import SkillDoc, parse_skill

    for path, layout in ((folder / slug / "SKILL.md", "folder"), (folder / f"{slug}.md", "file")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        doc = parse_skill(data, slug=slug, layout=layout)  # type: ignore[arg-type]
        return doc.content.strip() if isinstance(doc, SkillDoc) else None
    return None


def _wait_loaded(folder: Path, slugs: list[str]) -> str | None:
    """Return once the daemon reports the skill files just written as they are on disk,
    so that `promptly skills` right after shows them. A note (None when all is well)
    if the daemon is not running; an error if it does not load them in time."""
    from promptlyd.client.errors import DaemonNotRunning

    expected = {slug: _on_disk(folder, slug) for slug in slugs}
    api = c.client().promptly
    deadline = time.monotonic() + RELOAD_WAIT
    while True:
        try:
            listed = {s.slug: s for s in api.skills.list()}
        except DaemonNotRunning:
            return ("promptlyd is not running: the files are written and the skills are "
                    "loaded when it starts.")
        pending = [slug for slug, content in expected.items()
                   if slug not in listed or (content is not None and
                                             (listed[slug].content or "").strip() != content)]
        if not pending:
            return None
        if time.monotonic() >= deadline:
            raise c.CliError(
                f"the files are written to {folder}, but the daemon has not loaded "
                f"{', '.join(pending)} within {RELOAD_WAIT:g} s; see `promptly skills` in a "
                f"moment, and the daemon's log if they still do not show")
        time.sleep(0.05)


def _skills_dir(required: bool = True) -> Path | None:
    """The config's skills_dir (the daemon's folder); None if unreadable and not required."""
    from promptlyd.config import load_config
    from promptlyd.errors import ConfigError

    config = c.state().config
    try:
        return load_config(Path(config) if config else None).skills_dir
    except ConfigError as exc:
        if not required:
            return None
        raise c.CliError(f"{exc}; or give the folder with --to DIR") from exc
