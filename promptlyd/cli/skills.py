"""``promptly skills …``: reusable Markdown instructions prepended to task prompts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from promptlyd.cli import common as c

if TYPE_CHECKING:
    from promptlyd.client import Skill

skills = c.group("skills", "Skills: reusable instructions for prompts.")


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
                 c.clip(s.problem or s.description or "", 50)] for s in items]
        c.table(["ID", "NAME", "SLUG", "VERSION", "DESCRIPTION"], rows,
                empty="No skills yet: create one with "
                      "`promptly skills create --name NAME --file SKILL.md`.")

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
