"""Prompt composition (SPEC §6): template variables, skills, the text that is sent.

Pure: everything comes in as arguments (``now`` included), nothing is read or
written. The runner builds the variables with :func:`template_vars`, then calls
:func:`compose` with the attached skills and the task's prompt, and stores
``ComposedPrompt.full_text`` on the run.

Rendering rules (:func:`render`):

* ``{{name}}`` and ``{{ name }}`` (spaces or tabs inside the braces) are replaced
  when ``name`` is a key of the variables mapping; names are case-sensitive.
* Anything else in double braces — an unknown name, ``{{ Current_Date }}``,
  ``{{#each}}`` — is left exactly as written.
* One pass: a substituted value is never scanned again, so a previous output
  that contains ``{{current_date}}`` is sent literally, not re-expanded.

Composition rules (:func:`compose`):

* Skill contents are rendered with the same variables (a skill may say "only
  what changed since {{last_output}}").
* Each rendered skill is trimmed (leading blank lines and trailing whitespace
  removed); skills that are then empty are dropped. Skill names are not put
  into the text.
* ``system`` is the skills joined with :data:`SEPARATOR` (one blank line), in
  attach order, or ``None`` when there are none.
* ``user`` is the rendered prompt, untrimmed.
* ``full_text`` is ``system + SEPARATOR + user`` (just ``user`` without skills):
  exactly what a provider that does not take a system prompt receives, and what
  is stored on the run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

VARIABLES = (
    "current_date",
    "current_time",
    "frequency",
    "organization_name",
    "task_name",
    "timezone",
    "last_output",
)

# Between two skills, and between the skills and the prompt: one blank line.
SEPARATOR = "\n\n"

# The frequency of a task whose ``cronExpression`` overrides its schedule.
CUSTOM_FREQUENCY = "custom"

_PLACEHOLDER = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\}\}")
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\r?\n)+")


@dataclass(frozen=True)
class ComposedPrompt:
    system: str | None  # the rendered skills, joined; None when no skills are attached
    user: str  # the rendered prompt
    full_text: str  # what was sent, as stored on the run: skills, blank line, prompt


def frequency_label(schedule: str, cron_expression: str | None = None) -> str:
    """The ``{{frequency}}`` value: the schedule name, or ``"custom"`` under a cron expression."""
    if cron_expression is not None and cron_expression.strip():
        return CUSTOM_FREQUENCY
    return schedule


def template_vars(
    *,
    now: datetime,
    timezone: str,
    frequency: str,
    organization_name: str,
    task_name: str,
    last_output: str | None,
) -> dict[str, str]:
    """The values of :data:`VARIABLES` for one run.

    ``now`` is an aware instant; ``current_date`` (``YYYY-MM-DD``) and
    ``current_time`` (``HH:MM``, 24-hour) are that instant's wall clock in the
    task's ``timezone``. ``frequency`` is passed through (see
    :func:`frequency_label`). ``last_output`` is ``""`` when there was no
    previous successful run.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("template_vars needs an aware datetime for 'now'")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {timezone!r}") from exc
    local = now.astimezone(zone)
    return {
        "current_date": local.date().isoformat(),
        "current_time": local.strftime("%H:%M"),
        "frequency": frequency,
        "organization_name": organization_name,
        "task_name": task_name,
        "timezone": timezone,
        "last_output": last_output if last_output is not None else "",
    }


def render(template: str, variables: Mapping[str, str]) -> str:
    """Replace ``{{name}}`` / ``{{ name }}`` for the names in ``variables``, in one pass."""

    def substitute(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return match.group(0) if value is None else value

    return _PLACEHOLDER.sub(substitute, template)


def compose(
    skills: Sequence[tuple[str, str]],
    prompt: str,
    variables: Mapping[str, str],
) -> ComposedPrompt:
    """Render the skills ``(name, content)`` in attach order, then the prompt."""
    parts = [_trim(render(content, variables)) for _name, content in skills]
    parts = [part for part in parts if part]
    user = render(prompt, variables)
    if not parts:
        return ComposedPrompt(system=None, user=user, full_text=user)
    system = SEPARATOR.join(parts)
    return ComposedPrompt(system=system, user=user, full_text=system + SEPARATOR + user)


def _trim(text: str) -> str:
    """Drop leading blank lines (keeping the first line's indentation) and trailing space."""
    return _LEADING_BLANK_LINES.sub("", text).rstrip()
