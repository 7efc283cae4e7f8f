"""Skill files: parsing, paths, rendering with preservation, atomic writes, folder scans."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptlyd.files import atomic_write
from promptlyd.skills.edit import render_skill
from promptlyd.skills.parse import (
    SEED_FIELDS,
    SkillDoc,
    SkillPath,
    SkillProblem,
    parse_skill,
    scan_folder,
    slug_for,
)
from promptlyd.slugs import slugify

# No example database in the working directory.
PROPERTY = settings(database=None, deadline=None, max_examples=300,
                    suppress_health_check=[HealthCheck.too_slow])


def doc(text: str | bytes, *, slug: str = "daily-news", layout: str = "file") -> SkillDoc:
    raw = text.encode() if isinstance(text, str) else text
    result = parse_skill(raw, slug=slug, layout=layout)  # type: ignore[arg-type]
    assert isinstance(result, SkillDoc), result
    return result


def problem(text: str | bytes, **kwargs: Any) -> SkillProblem:
    raw = text.encode() if isinstance(text, str) else text
    result = parse_skill(raw, slug="broken", layout="file", **kwargs)
    assert isinstance(result, SkillProblem), result
    return result


# --------------------------------------------------------------------------
# Parsing

PLAIN = """\
---
name: Daily News Briefing
description: "Summarize the news: what happened and why it matters"
category: briefing
tags: [news, daily]
author: me
requiredSources: [github, rss]
iconUrl: https://example.com/icon.png
isPublic: false
isUserInvocable: true
---

# Daily news

Read the feeds and write **five** bullet points.
"""


def test_plain_file_skill() -> None:
    skill = doc(PLAIN)
    assert skill.slug == "daily-news"
    assert skill.layout == "file"
    assert skill.name == "Daily News Briefing"
    assert skill.description == "Summarize the news: what happened and why it matters"
    assert skill.category == "briefing"
    assert skill.tags == ("news", "daily")
    assert skill.author == "me"
    assert skill.required_sources == ("github", "rss")
    assert skill.icon_url == "https://example.com/icon.png"
    assert skill.is_public is False
    assert skill.is_user_invocable is True
    assert skill.content == "# Daily news\n\nRead the feeds and write **five** bullet points."
    assert skill.warnings == ()
    assert skill.front_matter["tags"] == ["news", "daily"]
    assert skill.api_fields() == {
        "name": "Daily News Briefing",
        "content": skill.content,
        "slug": "daily-news",
        "description": "Summarize the news: what happened and why it matters",
        "category": "briefing",
        "iconUrl": "https://example.com/icon.png",
        "isPublic": False,
        "isUserInvocable": True,
        "frontmatter": {"author": "me", "requiredSources": ["github", "rss"],
                        "tags": ["news", "daily"]},
    }


def test_api_fields_leave_out_unset_values() -> None:
    skill = doc("---\nname: Tiny\n---\nDo it.\n", slug="tiny")
    assert skill.api_fields() == {
        "name": "Tiny", "content": "Do it.", "slug": "tiny",
        "frontmatter": {"tags": [], "requiredSources": []},
    }


# The example from the Agent Skills specification (agentskills.io/specification).
AGENT_SKILL = """\
---
name: pdf-processing
description: Extract text and tables from PDF files, fill forms, merge documents.
license: Apache-2.0
metadata:
  author: example-org
  version: "1.0"
---

# PDF processing

See [the reference guide](references/REFERENCE.md) for details.

Run the extraction script:
scripts/extract.py
"""


def test_agent_skills_folder_as_the_spec_shows_it(tmp_path: Path) -> None:
    tmp_path = tmp_path / "skills"
    folder = tmp_path / "pdf-processing"
    (folder / "references").mkdir(parents=True)
    (folder / "scripts").mkdir()
    (folder / "SKILL.md").write_text(AGENT_SKILL, encoding="utf-8")
    (folder / "references" / "REFERENCE.md").write_text("# Reference\nNot content.\n")
    (folder / "scripts" / "extract.py").write_text("print('hi')\n")

    scan = scan_folder(tmp_path)
    assert scan.skills == (SkillPath("pdf-processing", "folder", folder / "SKILL.md"),)
    assert scan.problems == ()

    skill = doc((folder / "SKILL.md").read_bytes(), slug="pdf-processing", layout="folder")
    assert skill.layout == "folder"
    assert skill.name == "pdf-processing"
    assert skill.description == (
        "Extract text and tables from PDF files, fill forms, merge documents.")
    assert skill.author == "example-org"  # read from metadata
    assert skill.front_matter["license"] == "Apache-2.0"
    assert skill.front_matter["metadata"] == {"author": "example-org", "version": "1.0"}
    assert skill.content.startswith("# PDF processing\n")
    assert "Not content" not in skill.content
    assert skill.warnings == ()


def test_folder_name_mismatch_is_a_warning() -> None:
    skill = doc("---\nname: PDF Tools\ndescription: d\n---\nx\n", slug="pdf-tools",
                layout="folder")
    assert skill.name == "PDF Tools"
    assert skill.warnings == (
        "name 'PDF Tools' does not match the folder 'pdf-tools'; Agent Skills tools "
        "expect the name to equal the folder name",
    )
    # The same file as <slug>.md: any display name is fine.
    assert doc("---\nname: PDF Tools\n---\nx\n", slug="pdf-tools").warnings == ()


def test_folder_skill_without_description_is_a_warning() -> None:
    skill = doc("---\nname: notes\n---\nx\n", slug="notes", layout="folder")
    assert skill.description is None
    assert skill.warnings == ("missing 'description'; Agent Skills tools require one that "
                              "says what the skill does and when to use it",)


METADATA_HELD = """\
---
name: briefing
description: Morning briefing
metadata:
  category: briefing
  tags: "news, daily , ,weather"
  author: me
  requiredSources: github
  iconUrl: https://example.com/i.png
  isPublic: "true"
  is-user-invocable: "no"
  version: "2.1"
---
Go.
"""


def test_fields_held_in_metadata() -> None:
    skill = doc(METADATA_HELD, slug="briefing", layout="folder")
    assert skill.category == "briefing"
    assert skill.tags == ("news", "daily", "weather")
    assert skill.author == "me"
    assert skill.required_sources == ("github",)
    assert skill.icon_url == "https://example.com/i.png"
    assert skill.is_public is True
    assert skill.is_user_invocable is False
    assert skill.warnings == ()


def test_top_level_wins_over_metadata() -> None:
    skill = doc("---\nname: x\ncategory: top\nmetadata:\n  category: below\n"
                "  author: only-below\n---\n")
    assert skill.category == "top"
    assert skill.author == "only-below"
    assert skill.warnings == ("'category' is set at the top level and under 'metadata'; "
                              "using the top-level value",)


def test_other_spellings_and_lenient_values() -> None:
    skill = doc("---\nname: 2024\nrequired_sources: github, rss\nicon-url: x.png\n"
                "is_public: yes\nuser-invocable: false\ntags: [1, two]\n---\n")
    assert skill.name == "2024"
    assert skill.required_sources == ("github", "rss")
    assert skill.icon_url == "x.png"
    assert skill.is_public is True
    assert skill.is_user_invocable is False
    assert skill.tags == ("1", "two")
    assert skill.warnings == ()


def test_wrong_types_are_ignored_with_a_warning() -> None:
    skill = doc("---\nname: x\ncategory: [a, b]\ntags: {a: 1}\nisPublic: maybe\n"
                "metadata: just text\n---\n")
    assert (skill.category, skill.tags, skill.is_public) == (None, (), None)
    assert skill.warnings == (
        "'metadata' should be a mapping of 'key: value' lines, not text; ignoring it",
        "'category' should be text, not a list; ignoring it",
        "'tags' should be a list of text or a comma-separated string, not a mapping; "
        "ignoring it",
        "'isPublic' should be true or false, not text; ignoring it",
    )


def test_two_spellings_of_one_field() -> None:
    skill = doc("---\nname: x\nrequiredSources: [a]\nrequired_sources: [b]\n---\n")
    assert skill.required_sources == ("a",)
    assert skill.warnings == ("'requiredSources' and 'required_sources' mean the same "
                              "field; using 'requiredSources'",)


def test_crlf_and_bom() -> None:
    raw = ("\ufeff---\r\nname: Windows skill\r\ndescription: written in Notepad\r\n---\r\n"
           "\r\nLine one\r\nLine two\r\n").encode()
    skill = doc(raw)
    assert skill.name == "Windows skill"
    assert skill.description == "written in Notepad"
    assert skill.content == "Line one\r\nLine two"


def test_content_is_byte_exact_apart_from_separator_and_final_newline() -> None:
    assert doc("---\nname: x\n---\n\n\n  indented\n\ttab\n\n").content == "\n  indented\n\ttab\n"
    assert doc("---\nname: x\n---\nno blank line, no newline").content == (
        "no blank line, no newline")
    assert doc("---\nname: x\n---\n").content == ""
    assert doc("---\nname: x\n---").content == ""
    assert doc("---  \nname: x\n...\nbody\n").content == "body"


def test_no_front_matter_is_usable_with_a_warning() -> None:
    skill = doc("# Just instructions\n\nBe brief.\n", slug="brief")
    assert skill.name == "brief"
    assert skill.content == "# Just instructions\n\nBe brief."
    assert skill.front_matter == {}
    assert skill.warnings == ("no front matter: using the file name 'brief' as the name; "
                              "start the file with a '---' block holding 'name:' and "
                              "'description:'",)


def test_missing_name_falls_back_to_the_slug() -> None:
    skill = doc("---\ndescription: no name here\n---\nBody\n", slug="nameless")
    assert skill.name == "nameless"
    assert skill.description == "no name here"
    assert skill.warnings == ("missing 'name' in front matter; using the file name "
                              "'nameless'",)
    empty = doc("---\nname: ''\n---\n", slug="nameless")
    assert empty.name == "nameless"
    assert empty.warnings == ("empty 'name' in front matter; using the file name 'nameless'",)
    assert doc("---\n---\nBody\n", slug="bare").name == "bare"


def test_invalid_yaml_names_the_line() -> None:
    p = problem("---\nname: ok\ndescription: Use it: for X\n---\nbody\n")
    assert p.line == 3
    assert p.message == ("invalid YAML front matter at line 3: mapping values are not "
                         "allowed here; put quotes around a value that contains ': '")
    p = problem("---\nname: ok\ntags: [a, b\n---\n")
    assert p.message.startswith("invalid YAML front matter at line ")
    assert p.slug == "broken"


def test_front_matter_must_be_a_mapping() -> None:
    assert problem("---\n- a\n- b\n---\n").message == (
        "the front matter must be 'key: value' lines, not a list")
    assert problem("---\njust a sentence\n---\n").message == (
        "the front matter must be 'key: value' lines, not text")


def test_duplicate_keys_are_refused() -> None:
    p = problem("---\nname: a\ndescription: d\nname: b\n---\n")
    assert p.message == ("invalid YAML front matter at line 4: duplicate key 'name' "
                         "(first set on line 2)")
    assert p.line == 4


def test_unclosed_front_matter() -> None:
    p = problem("---\nname: x\n\nBody without a closing fence\n")
    assert p.message == ("the front matter opened by '---' on line 1 is never closed; "
                         "add a line with just '---' after the last 'key: value' line")


def test_not_utf8() -> None:
    p = problem(b"---\nname: caf\xe9\n---\n", path=Path("/skills/broken.md"))
    assert p.message == "not UTF-8 text (byte 0xe9 on line 2); save the file as UTF-8"
    assert p.path == Path("/skills/broken.md")
    assert problem("---\nname: x\n---\n".encode("utf-16")).message == (
        "not UTF-8 text (it looks like UTF-16); save the file as UTF-8")


def test_too_big() -> None:
    big = b"---\nname: big\n---\n" + b"x" * 5_000_000
    assert problem(big).message == "file is 5.0 MB; skills are limited to 1 MB"
    assert problem(b"x" * 2_500, max_bytes=2_000).message == (
        "file is 2.5 kB; skills are limited to 2 kB")


def test_control_characters_in_front_matter() -> None:
    assert problem("---\nname: a\x00b\n---\n").message == (
        "invalid YAML front matter at line 2: character #x0000 is not allowed in YAML")


def test_bad_layout_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="layout"):
        parse_skill(b"x", slug="x", layout="nested")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Paths

ROOT = Path("/home/me/.config/promptly/skills")


@pytest.mark.parametrize(("rel", "expected"), [
    ("daily-news.md", ("daily-news", "file")),
    ("Daily_News.v2.md", ("Daily_News.v2", "file")),
    ("pdf-processing/SKILL.md", ("pdf-processing", "folder")),
    ("readme/SKILL.md", ("readme", "folder")),
    ("README.md", None),  # describes the folder, not a skill
    ("readme.md", None),
    ("pdf-processing/references/REFERENCE.md", None),
    ("pdf-processing/README.md", None),
    ("pdf-processing/skill.md", None),  # reported by scan_folder
    ("pdf-processing/scripts/SKILL.md", None),
    ("a/b/c.md", None),
    ("notes.txt", None),
    ("daily.MD", None),
    ("daily.markdown", None),
    (".hidden.md", None),
    (".hidden/SKILL.md", None),
    (".daily.md.swp", None),  # vim
    (".daily.md.a1b2c3d4.tmp", None),  # our own atomic_write
    ("daily.md~", None),  # emacs backup
    ("#daily.md#", None),  # emacs autosave
    (".#daily.md", None),  # emacs lock
    ("~$daily.md", None),  # office lock
    ("daily.md.orig", None),
    ("4913", None),  # vim's write test
    ("Morning Brief.md", None),  # not a slug; reported by scan_folder
    (".md", None),
    ("-leading.md", None),
    (f"{'x' * 65}.md", None),
    (f"{'x' * 64}.md", ("x" * 64, "file")),
])
def test_slug_for(rel: str, expected: tuple[str, str] | None) -> None:
    assert slug_for(ROOT / rel, ROOT) == expected


def test_slug_for_outside_root() -> None:
    assert slug_for(Path("/elsewhere/daily.md"), ROOT) is None
    assert slug_for(ROOT, ROOT) is None


@pytest.mark.parametrize(("name", "expected"), [
    ("Daily News Briefing", "daily-news-briefing"),
    ("  --Hello,   World!--  ", "hello-world"),
    ("Café crème", "cafe-creme"),
    ("Straße", "strasse"),
    ("Don't panic", "dont-panic"),
    ("PDF_Tools v2.0", "pdf-tools-v2-0"),
    ("日本語", "skill"),
    ("README", "readme-skill"),  # readme.md would not be loaded
    ("", "skill"),
    ("!!!", "skill"),
    ("a" * 100, "a" * 64),
    ("a" * 63 + " b", "a" * 63),  # no trailing hyphen after the cut
])
def test_slugify(name: str, expected: str) -> None:
    assert slugify(name, fallback="skill") == expected


@given(st.text())
@PROPERTY
def test_slugify_is_always_a_valid_agent_skills_name(name: str) -> None:
    slug = slugify(name, fallback="skill")
    assert 1 <= len(slug) <= 64
    assert slug == slug.strip("-") and "--" not in slug
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in slug)
    assert slug_for(ROOT / f"{slug}.md", ROOT) == (slug, "file")


# --------------------------------------------------------------------------
# Rendering


def test_render_clean_file() -> None:
    text = render_skill({
        "name": "Daily: news", "description": "# not a comment", "category": None,
        "tags": ["a, b", "c"], "isPublic": True, "requiredSources": [],
    }, "Body\n")
    assert text == ("---\nname: 'Daily: news'\ndescription: '# not a comment'\n"
                    "tags: ['a, b', c]\nisPublic: true\n---\n\nBody\n\n")
    skill = doc(text)
    assert (skill.name, skill.description, skill.tags, skill.is_public) == (
        "Daily: news", "# not a comment", ("a, b", "c"), True)
    assert skill.content == "Body\n"


def test_render_folder_skill_keeps_agent_skills_shape() -> None:
    text = render_skill({"name": "daily", "description": "d", "tags": ["news", "daily"],
                         "isPublic": True, "author": "me"}, "Go.", layout="folder")
    assert text == ("---\nname: daily\ndescription: d\nmetadata:\n  tags: news, daily\n"
                    "  author: me\n  isPublic: 'true'\n---\n\nGo.\n")
    skill = doc(text, slug="daily", layout="folder")
    assert (skill.tags, skill.author, skill.is_public, skill.warnings) == (
        ("news", "daily"), "me", True, ())
    # Only top-level keys Agent Skills validators know about.
    assert set(skill.front_matter) <= {"name", "description", "license", "compatibility",
                                       "metadata", "allowed-tools"}
    assert all(isinstance(v, str) for v in skill.front_matter["metadata"].values())


def test_render_accepts_the_api_shape() -> None:
    original = doc(PLAIN)
    text = render_skill(original.api_fields(), original.content)
    assert doc(text).api_fields() == original.api_fields()


def test_render_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="needs a non-empty 'name'"):
        render_skill({"description": "x"}, "")
    with pytest.raises(ValueError, match="unknown skill field 'colour'"):
        render_skill({"name": "x", "colour": "red"}, "")
    with pytest.raises(ValueError, match="'tags' must be a list of strings, not text"):
        render_skill({"name": "x", "tags": "a, b"}, "")
    with pytest.raises(ValueError, match="'isPublic' must be true or false"):
        render_skill({"name": "x", "isPublic": "yes"}, "")


# Characters that need YAML quoting or escaping, line breaks YAML knows about,
# and a BOM — mixed with any text at all.
TRICKY = [
    *":#'\"-?[]{},&*!|>%@` \t\r\n\x85\u2028\u2029\ufeff\x00\ufffe",
    "a", "é", "日", "😀", "true", "null", "1.0", "---", "...",
]
texts = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"])),
    st.lists(st.sampled_from(TRICKY), max_size=12).map("".join),
)
names = texts.filter(lambda s: s.strip() != "")
optional_lists = st.one_of(st.none(), st.lists(texts, max_size=4))
optional_texts = st.one_of(st.none(), texts)
optional_bools = st.one_of(st.none(), st.booleans())
field_values = st.fixed_dictionaries({
    "name": names,
    "description": optional_texts,
    "category": optional_texts,
    "tags": optional_lists,
    "author": optional_texts,
    "requiredSources": optional_lists,
    "iconUrl": optional_texts,
    "isPublic": optional_bools,
    "isUserInvocable": optional_bools,
})


def expected_api(fields: dict[str, Any], content: str, slug: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": fields["name"], "content": content, "slug": slug}
    for key in ("description", "category", "iconUrl", "isPublic", "isUserInvocable"):
        if fields.get(key) is not None:
            out[key] = fields[key]
    front: dict[str, Any] = {"tags": list(fields.get("tags") or []),
                             "requiredSources": list(fields.get("requiredSources") or [])}
    if fields.get("author") is not None:
        front["author"] = fields["author"]
    out["frontmatter"] = front
    return out


@given(fields=field_values, content=texts, layout=st.sampled_from(["file", "folder"]))
@PROPERTY
def test_render_then_parse_gives_the_same_fields(
    fields: dict[str, Any], content: str, layout: str,
) -> None:
    text = render_skill(fields, content, layout=layout)  # type: ignore[arg-type]
    skill = doc(text, slug="s", layout=layout)
    assert skill.api_fields() == expected_api(fields, content, "s")


# --------------------------------------------------------------------------
# Preserving a hand-written file

HAND_WRITTEN = """\
---
# Morning briefing — tweak freely
description:   What happened overnight   # shown in the picker
name: Morning Briefing
x-reviewed-by: "Ada"      # custom key, keep it
tags:
  - news     # the main one
  - weather
notes: |
  Free-form text,
  # this is not a comment

metadata:
  author: Ada Lovelace
  version: "1.0"
  requiredSources: github, rss
---

## Steps

1. Read the feeds.
2. Summarize.
"""


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.split("\n"), after.split("\n")
    assert len(a) == len(b), after
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y]


def test_update_description_only_touches_its_value() -> None:
    after = render_skill({"description": "What happened: overnight"},
                         doc(HAND_WRITTEN).content, previous_text=HAND_WRITTEN)
    assert changed_lines(HAND_WRITTEN, after) == [
        ("description:   What happened overnight   # shown in the picker",
         "description:   'What happened: overnight'   # shown in the picker"),
    ]
    assert doc(after).description == "What happened: overnight"


def test_update_with_the_same_values_changes_nothing() -> None:
    before = doc(HAND_WRITTEN)
    after = render_skill(before.api_fields(), before.content, previous_text=HAND_WRITTEN)
    assert after == HAND_WRITTEN


def test_update_keeps_metadata_fields_in_metadata() -> None:
    after = render_skill({"author": "Grace Hopper", "requiredSources": ["github"]},
                         doc(HAND_WRITTEN).content, previous_text=HAND_WRITTEN)
    assert changed_lines(HAND_WRITTEN, after) == [
        ("  author: Ada Lovelace", "  author: Grace Hopper"),
        ("  requiredSources: github, rss", "  requiredSources: github"),
    ]


def test_update_rewrites_a_changed_list_and_appends_new_keys() -> None:
    after = render_skill({"tags": ["news"], "category": "briefing", "isPublic": True},
                         doc(HAND_WRITTEN).content, previous_text=HAND_WRITTEN)
    # The list block collapses to one line; the new keys join the metadata
    # block, because this file already keeps Promptly fields there.
    assert after == HAND_WRITTEN.replace(
        "tags:\n  - news     # the main one\n  - weather\n", "tags: [news]\n",
    ).replace(
        "  requiredSources: github, rss\n",
        "  requiredSources: github, rss\n  category: briefing\n  isPublic: 'true'\n",
    )
    skill = doc(after)
    assert (skill.tags, skill.category, skill.is_public) == (("news",), "briefing", True)


def test_update_removes_keys_set_to_none() -> None:
    after = render_skill({"tags": None, "author": None, "requiredSources": []},
                         doc(HAND_WRITTEN).content, previous_text=HAND_WRITTEN)
    assert after == HAND_WRITTEN.replace(
        "tags:\n  - news     # the main one\n  - weather\n", "",
    ).replace("  author: Ada Lovelace\n", "").replace("  requiredSources: github, rss\n", "")
    assert doc(after).front_matter["metadata"] == {"version": "1.0"}


def test_update_removing_the_last_metadata_key_removes_the_block() -> None:
    text = "---\nname: x\nmetadata:\n  author: me\n# end\n---\nBody\n"
    after = render_skill({"author": None}, "Body", previous_text=text)
    assert after == "---\nname: x\n# end\n---\nBody\n"


def test_update_of_the_body_only() -> None:
    after = render_skill({}, "New body", previous_text=HAND_WRITTEN)
    front = HAND_WRITTEN[: HAND_WRITTEN.index("## Steps")]
    assert after == front + "New body\n"
    after = render_skill({}, "", previous_text=HAND_WRITTEN)
    assert after == front[:-1]


def test_update_appends_top_level_keys_in_a_plain_file() -> None:
    text = "---\nname: x  # mine\n---\nBody\n"
    after = render_skill({"category": "c", "tags": ["a", "b"], "name": "y"}, "Body",
                         previous_text=text)
    assert after == "---\nname: y  # mine\ncategory: c\ntags: [a, b]\n---\nBody\n"


def test_update_appends_a_metadata_block_for_folder_skills() -> None:
    text = "---\nname: x\ndescription: d\n---\nBody\n"
    after = render_skill({"tags": ["a"], "isUserInvocable": False}, "Body",
                         previous_text=text, layout="folder")
    assert after == ("---\nname: x\ndescription: d\nmetadata:\n  tags: a\n"
                     "  isUserInvocable: 'false'\n---\nBody\n")


def test_update_keeps_spelling_crlf_and_bom() -> None:
    text = "\ufeff---\r\nname: x\r\nicon_url: a.png # old\r\n---\r\n\r\nBody\r\n"
    after = render_skill({"iconUrl": "b.png", "author": "me"}, "Body", previous_text=text)
    assert after == ("\ufeff---\r\nname: x\r\nicon_url: b.png # old\r\nauthor: me\r\n---\r\n"
                     "\r\nBody\r\n")
    after = render_skill({}, "New\r\nbody", previous_text=text)
    assert after.endswith("---\r\n\r\nNew\r\nbody\r\n")
    assert doc(after).content == "New\r\nbody"


def test_update_of_an_empty_value_and_flow_metadata() -> None:
    text = "---\nname: x\ncategory:\nmetadata: {author: me, version: '1'}\n---\n"
    after = render_skill({"category": "c", "author": "you", "tags": ["t"]}, "",
                         previous_text=text)
    assert after == ("---\nname: x\ncategory: c\nmetadata: {author: you, version: '1', "
                     "tags: t}\n---\n")


def test_update_of_a_file_without_front_matter_adds_one() -> None:
    text = "Just the instructions.\n"
    assert render_skill({"name": "x"}, "Just the instructions.", previous_text=text) == (
        "---\nname: x\n---\n\nJust the instructions.\n")
    assert render_skill({}, "Just the instructions.", previous_text=text) == text


def test_update_that_cannot_be_done_in_place_keeps_the_data() -> None:
    # An alias makes line edits unsafe; the front matter is rewritten cleanly.
    text = "---\nname: x\nshared: &s [a, b]\ntags: *s\nkeep: 1\n---\nBody\n"
    after = render_skill({"tags": ["c"]}, "Body", previous_text=text)
    skill = doc(after)
    assert skill.tags == ("c",)
    assert skill.front_matter == {"name": "x", "shared": ["a", "b"], "tags": ["c"], "keep": 1}
    # A broken previous file is replaced by a clean one.
    assert render_skill({"name": "x"}, "B", previous_text="---\n: [\n---\n") == (
        "---\nname: x\n---\n\nB\n")


updates = st.fixed_dictionaries({}, optional={
    "name": names, "description": optional_texts, "category": optional_texts,
    "tags": optional_lists, "author": optional_texts, "requiredSources": optional_lists,
    "iconUrl": optional_texts, "isPublic": optional_bools, "isUserInvocable": optional_bools,
})


@given(patch=updates, content=st.one_of(st.none(), texts),
       layout=st.sampled_from(["file", "folder"]))
@PROPERTY
def test_any_update_of_a_hand_written_file(
    patch: dict[str, Any], content: str | None, layout: str,
) -> None:
    before = doc(HAND_WRITTEN)
    new_content = before.content if content is None else content
    after = render_skill(patch, new_content, previous_text=HAND_WRITTEN,
                         layout=layout)  # type: ignore[arg-type]
    skill = doc(after)
    expected = before.api_fields()
    expected.update(expected.pop("frontmatter"))
    expected.update(patch)
    expected["content"] = new_content
    for key in ("tags", "requiredSources"):
        expected[key] = list(expected[key] or [])
    if not patch.get("name", "x").strip():
        expected["name"] = "daily-news"
    got = skill.api_fields()
    got.update(got.pop("frontmatter"))
    assert got == {k: v for k, v in expected.items() if v is not None}
    # Keys we did not manage are untouched, comments and all.
    for line in ("# Morning briefing — tweak freely",
                 'x-reviewed-by: "Ada"      # custom key, keep it',
                 "notes: |", "  # this is not a comment", '  version: "1.0"'):
        assert f"\n{line}\n" in after
    assert skill.front_matter["x-reviewed-by"] == "Ada"
    assert skill.front_matter["notes"] == "Free-form text,\n# this is not a comment\n"
    assert skill.front_matter["metadata"]["version"] == "1.0"
    if "description" not in patch and content is None:
        assert "description:   What happened overnight   # shown in the picker" in after


def test_seed_fields_are_the_ones_render_knows() -> None:
    fields = dict.fromkeys(SEED_FIELDS)
    fields["name"] = "x"
    assert render_skill(fields, "") == "---\nname: x\n---\n"


# --------------------------------------------------------------------------
# Files


def skills_dir(tmp_path: Path) -> Path:
    """A folder of its own: the autouse fixture puts a HOME inside tmp_path."""
    folder = tmp_path / "skills"
    folder.mkdir()
    return folder


def test_atomic_write_replaces_keeps_mode_and_leaves_no_temp_files(tmp_path: Path) -> None:
    tmp_path = skills_dir(tmp_path)
    target = tmp_path / "daily.md"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, "---\nname: ünïcode\n---\n")
    assert target.read_bytes() == "---\nname: ünïcode\n---\n".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daily.md"]


def test_atomic_write_new_file_respects_umask(tmp_path: Path) -> None:
    tmp_path = skills_dir(tmp_path)
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new" / "SKILL.md", "x\r\n")
    finally:
        os.umask(old)
    written = tmp_path / "new" / "SKILL.md"
    assert written.read_bytes() == b"x\r\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o640
    assert [p.name for p in written.parent.iterdir()] == ["SKILL.md"]


def test_atomic_write_goes_through_a_symlink(tmp_path: Path) -> None:
    tmp_path = skills_dir(tmp_path)
    real = tmp_path / "dotfiles" / "daily.md"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "skills" / "daily.md"
    link.parent.mkdir()
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_atomic_write_cleans_up_after_a_failure(tmp_path: Path) -> None:
    tmp_path = skills_dir(tmp_path)
    target = tmp_path / "daily.md"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "bad \udc80 surrogate")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["daily.md"]


def test_scan_folder(tmp_path: Path) -> None:
    tmp_path = skills_dir(tmp_path)
    def write(rel: str, text: str = "---\nname: x\n---\n") -> Path:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    plain = write("daily.md")
    both_file = write("pdf.md")
    both_folder = write("pdf/SKILL.md")
    write("pdf/references/REFERENCE.md")
    write("README.md")
    write(".daily.md.swp")
    write("daily.md~")
    write("#daily.md#")
    write("notes.txt")
    write("empty-folder/.keep")
    spaced = write("Morning Brief.md")
    upper = write("Weekly.MD")
    lower = write("lower/skill.md")
    bad_folder = write("My Folder/SKILL.md")

    scan = scan_folder(tmp_path)
    assert scan.skills == (
        SkillPath("daily", "file", plain),
        SkillPath("pdf", "folder", both_folder),
    )
    assert [(p.path, p.message) for p in scan.problems] == sorted([
        (spaced, "'Morning Brief.md' can't be a skill file name (use letters, digits, '-', "
                 "'_' or '.', start with a letter or digit, at most 64 characters); rename "
                 "it to 'morning-brief.md' to load it"),
        (upper, "skill files end in '.md'; rename 'Weekly.MD' to 'Weekly.md' to load it"),
        (lower, "'lower/skill.md' must be named 'lower/SKILL.md' (in capitals) to be loaded"),
        (bad_folder, "the folder name 'My Folder' can't be a skill slug (use letters, digits, "
                     "'-', '_' or '.', start with a letter or digit, at most 64 "
                     "characters); rename the folder to 'my-folder'"),
        (both_file, "both 'pdf.md' and 'pdf/SKILL.md' define the skill 'pdf'; using "
                    "'pdf/SKILL.md' — remove or rename 'pdf.md'"),
    ], key=lambda item: str(item[0]))
    # a file that can't be a skill has no slug to name; a shadowed skill file does
    assert {p.path: p.slug for p in scan.problems} == {
        spaced: None, upper: None, lower: None, bad_folder: None, both_file: "pdf"}


def test_scan_missing_folder(tmp_path: Path) -> None:
    tmp_path = skills_dir(tmp_path)
    scan = scan_folder(tmp_path / "nope")
    assert (scan.skills, scan.problems) == ((), ())
