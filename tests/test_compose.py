"""Prompt composition (SPEC §6): variables, rendering, skills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from promptlyd.runs.compose import (
    SEPARATOR,
    VARIABLES,
    ComposedPrompt,
    compose,
    frequency_label,
    render,
    template_vars,
)

NOW = datetime(2024, 3, 10, 23, 30, tzinfo=UTC)


def kolkata_vars(last_output: str | None = "yesterday's report") -> dict[str, str]:
    return template_vars(
        now=NOW,
        timezone="Asia/Kolkata",
        frequency="daily",
        organization_name="Home",
        task_name="Morning brief",
        last_output=last_output,
    )


def test_template_vars_are_in_the_task_zone() -> None:
    # 23:30 UTC is already 05:00 the next day in Kolkata (UTC+05:30).
    assert kolkata_vars() == {
        "current_date": "2024-03-11",
        "current_time": "05:00",
        "frequency": "daily",
        "organization_name": "Home",
        "task_name": "Morning brief",
        "timezone": "Asia/Kolkata",
        "last_output": "yesterday's report",
    }
    assert set(kolkata_vars()) == set(VARIABLES)


def test_template_vars_in_a_zone_behind_utc_and_from_a_non_utc_instant() -> None:
    # 01:15 on the 11th at UTC+02:00 is 23:15 UTC on the 10th, 19:15 in New York (EDT).
    now = datetime(2024, 3, 11, 1, 15, tzinfo=timezone(timedelta(hours=2)))
    variables = template_vars(now=now, timezone="America/New_York", frequency="hourly",
                              organization_name="Acme", task_name="t", last_output=None)
    assert (variables["current_date"], variables["current_time"]) == ("2024-03-10", "19:15")


def test_no_previous_output_is_empty() -> None:
    assert kolkata_vars(last_output=None)["last_output"] == ""


def test_naive_now_and_unknown_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        template_vars(now=datetime(2024, 3, 10, 23, 30), timezone="UTC", frequency="daily",
                      organization_name="Home", task_name="t", last_output=None)
    with pytest.raises(ValueError, match="Mars/Olympus"):
        template_vars(now=NOW, timezone="Mars/Olympus", frequency="daily",
                      organization_name="Home", task_name="t", last_output=None)


def test_frequency_label() -> None:
    assert frequency_label("daily") == "daily"
    assert frequency_label("weekly", None) == "weekly"
    assert frequency_label("daily", "0 9 * * 1-5") == "custom"
    assert frequency_label("hourly", "  ") == "hourly"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("current_date", "2024-03-11"),
        ("current_time", "05:00"),
        ("frequency", "daily"),
        ("organization_name", "Home"),
        ("task_name", "Morning brief"),
        ("timezone", "Asia/Kolkata"),
        ("last_output", "yesterday's report"),
    ],
)
def test_each_variable_is_rendered(name: str, expected: str) -> None:
    assert render(f"<{{{{{name}}}}}>", kolkata_vars()) == f"<{expected}>"


def test_whitespace_inside_the_braces() -> None:
    variables = kolkata_vars()
    assert render("{{ task_name }}|{{task_name  }}|{{\ttask_name}}", variables) == (
        "Morning brief|Morning brief|Morning brief"
    )


def test_unknown_placeholders_are_left_exactly_as_written() -> None:
    template = "{{ unknown }} {{Current_Date}} {{}} {{ current_date } {current_date} {{#each}}"
    assert render(template, kolkata_vars()) == template
    assert render("{{{current_date}}}", kolkata_vars()) == "{2024-03-11}"


def test_values_are_not_expanded_again() -> None:
    variables = kolkata_vars(last_output="Report for {{current_date}} at {{ current_time }}")
    assert render("Before: {{last_output}} / now {{current_date}}", variables) == (
        "Before: Report for {{current_date}} at {{ current_time }} / now 2024-03-11"
    )


@pytest.mark.parametrize(
    "text", ["", "plain text", "{ current_date }", "{current_date}}", "}}{{", "a { { b } }"]
)
def test_text_without_placeholders_is_unchanged(text: str) -> None:
    assert render(text, {"current_date": "2024-03-11"}) == text


@pytest.mark.parametrize(
    "value", ["", "{{last_output}}", "\\1 \\g<0>", "{{ task_name }}", "line\n{{x}}\n", "é{{"]
)
def test_any_value_is_inserted_verbatim(value: str) -> None:
    assert render("[{{last_output}}]", {"last_output": value, "task_name": "T"}) == f"[{value}]"


def test_skills_are_prepended_in_attach_order() -> None:
    skills = [
        ("style", "Write in short sentences.\n"),
        ("diff", "\n\nReport only what changed since:\n{{last_output}}\n\n"),
        ("tone", "  Keep a friendly tone for {{organization_name}}."),
    ]
    result = compose(skills, "Brief for {{current_date}} ({{frequency}}).\n", kolkata_vars())
    system = (
        "Write in short sentences.\n"
        "\n"
        "Report only what changed since:\n"
        "yesterday's report\n"
        "\n"
        "  Keep a friendly tone for Home."
    )
    user = "Brief for 2024-03-11 (daily).\n"
    assert result == ComposedPrompt(system=system, user=user, full_text=system + "\n\n" + user)
    assert result.full_text == (
        "Write in short sentences.\n\n"
        "Report only what changed since:\nyesterday's report\n\n"
        "  Keep a friendly tone for Home.\n\n"
        "Brief for 2024-03-11 (daily).\n"
    )
    assert SEPARATOR == "\n\n"


def test_no_skills_means_no_system_prompt() -> None:
    result = compose([], "Hello {{task_name}}", kolkata_vars())
    assert result == ComposedPrompt(system=None, user="Hello Morning brief",
                                    full_text="Hello Morning brief")


def test_empty_skills_are_dropped() -> None:
    result = compose([("blank", "\n  \n"), ("diff", "{{last_output}}")], "Go",
                     kolkata_vars(last_output=None))
    assert result.system is None
    assert result.full_text == "Go"


def test_skill_content_is_not_re_expanded_either() -> None:
    variables = kolkata_vars(last_output="{{task_name}}")
    result = compose([("diff", "Since: {{last_output}}")], "{{task_name}}", variables)
    assert result.system == "Since: {{task_name}}"
    assert result.user == "Morning brief"
