"""Skill files: Markdown instructions with YAML front matter (SPEC §8).

A skill lives in the skills folder as ``<slug>.md`` (layout ``"file"``) or as
``<slug>/SKILL.md`` (layout ``"folder"``, the Agent Skills layout, where
``references/``, ``scripts/`` and ``assets/`` may sit beside ``SKILL.md``; they
are resources, never part of the content). Everything here is pure — text in,
values out — except ``atomic_write`` and ``scan_folder`` at the bottom.

Decisions, so nobody has to guess:

* Front matter is the block between a ``---`` line at the very start of the
  file (after an optional BOM) and the next ``---`` (or ``...``) line. LF and
  CRLF files both work; the style of the opening line is the file's style.
* ``content`` is the body with the one blank line after the front matter and
  the file's final line ending removed; every other byte is kept.
  ``render_skill`` writes that blank line and a final newline around any
  non-empty content, so ``parse(render(x)).content == x`` for any text.
* ``render_skill`` with ``previous_text`` edits the old file in place: only
  changed keys, where they live, in the spelling used; everything else stays
  byte for byte. The result is parsed back and checked; if an in-place edit
  is not safe (aliases, a flow-style front matter) the front matter is
  rewritten as clean YAML holding the same data.
* Lenient where we can be: a file without front matter, or without ``name``,
  is a usable skill named after its slug, carrying a warning. Fields of the
  wrong type are ignored with a warning. Only what we cannot read is a
  ``SkillProblem``: not UTF-8, too big, invalid YAML (with the line), front
  matter that is not a mapping, or front matter that is never closed.
* Field spellings: the seed's camelCase (``requiredSources``) plus snake_case
  and kebab-case (``required_sources``, ``required-sources``); Claude Code's
  ``user-invocable`` also means ``isUserInvocable``. When two spellings are
  present the first in ``FIELD_SPELLINGS`` wins, with a warning.
* Promptly-only fields may sit under ``metadata:`` (Agent Skills' string→string
  map) so a folder skill stays valid for Agent Skills validators. There, lists
  are comma-separated strings and booleans are ``"true"``/``"false"``. The
  top level wins over ``metadata`` when both are set (with a warning).
  ``name`` and ``description`` are only read from the top level.
* In the folder layout a ``name`` that differs from the folder name, or that
  breaks the Agent Skills naming rule, is a warning, not an error: Promptly
  itself is happy with any display name.
* Slugs are file or folder names as they are — letters, digits, ``-``, ``_``
  and ``.``, starting with a letter or digit, at most 64 characters — so path
  and slug map one to one. A root ``README.md`` is not a skill. Hidden files,
  editor leftovers and anything deeper (``references/*.md``) are ignored;
  ``scan_folder`` reports files that look like skills but cannot be loaded.
  When ``foo.md`` and ``foo/SKILL.md`` both exist, the folder wins.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Layout = Literal["file", "folder"]

MAX_SKILL_BYTES = 1_000_000

# The seed's Skill fields that live in front matter, in the order we write them.
SEED_FIELDS: tuple[str, ...] = (
    "name", "description", "category", "tags", "author", "requiredSources",
    "iconUrl", "isPublic", "isUserInvocable",
)
# Accepted spellings of each field; the first is the one we write.
FIELD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "description": ("description",),
    "category": ("category",),
    "tags": ("tags",),
    "author": ("author",),
    "requiredSources": ("requiredSources", "required_sources", "required-sources"),
    "iconUrl": ("iconUrl", "icon_url", "icon-url"),
    "isPublic": ("isPublic", "is_public", "is-public"),
    "isUserInvocable": (
        "isUserInvocable", "is_user_invocable", "is-user-invocable", "user-invocable",
    ),
}
_LIST_FIELDS = frozenset({"tags", "requiredSources"})
_BOOL_FIELDS = frozenset({"isPublic", "isUserInvocable"})
# Fields that may also live under ``metadata:``; name/description are top-level
# Agent Skills fields and are never read from there.
_METADATA_FIELDS = tuple(f for f in SEED_FIELDS if f not in ("name", "description"))
_SPELLING_TO_FIELD = {s: f for f, spellings in FIELD_SPELLINGS.items() for s in spellings}

_SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_AGENT_SKILLS_NAME_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_YAML_BREAKS = ("\r", "\n", "\x85", "\u2028", "\u2029")
_WIDE = 10**9  # never fold long lines when dumping YAML


@dataclass(frozen=True)
class SkillDoc:
    """A readable skill. ``warnings`` say what was guessed or ignored."""

    slug: str
    name: str
    description: str | None
    category: str | None
    tags: tuple[str, ...]
    author: str | None
    required_sources: tuple[str, ...]
    icon_url: str | None
    is_public: bool | None
    is_user_invocable: bool | None
    content: str
    front_matter: Mapping[str, Any] = field(hash=False)
    layout: Layout = "file"
    warnings: tuple[str, ...] = ()

    def api_fields(self) -> dict[str, Any]:
        """The seed's Skill fields (camelCase); optional ones left out when None.

        ``frontmatter.tags`` and ``frontmatter.requiredSources`` are always
        lists (possibly empty); ``author`` only when set.
        """
        out: dict[str, Any] = {"name": self.name, "content": self.content, "slug": self.slug}
        optional = {
            "description": self.description, "category": self.category,
            "iconUrl": self.icon_url, "isPublic": self.is_public,
            "isUserInvocable": self.is_user_invocable,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        front: dict[str, Any] = {
            "tags": list(self.tags), "requiredSources": list(self.required_sources),
        }
        if self.author is not None:
            front["author"] = self.author
        out["frontmatter"] = front
        return out


@dataclass(frozen=True)
class SkillProblem:
    """A skill file we cannot load; ``message`` says why and how to fix it."""

    slug: str | None
    path: Path | None
    message: str
    line: int | None = None


class SkillPath(NamedTuple):
    slug: str
    layout: Layout
    path: Path


@dataclass(frozen=True)
class FolderScan:
    """What ``scan_folder`` found: loadable skill files, and files it had to skip."""

    skills: tuple[SkillPath, ...]
    problems: tuple[SkillProblem, ...]


# --------------------------------------------------------------------------
# Splitting a file into front matter and body


@dataclass(frozen=True)
class _Split:
    bom: str
    opening: str  # the opening "---" line with its line ending ("" without front matter)
    yaml: str | None  # text between the fences; None without front matter
    closing: str  # the closing line with its line ending
    body: str  # everything after the closing line
    nl: str  # the file's line ending, "\n" or "\r\n"


class _Unreadable(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _is_fence(line: str, *marks: str) -> bool:
    return line.rstrip("\r\n").rstrip(" \t") in marks


def _split(text: str) -> _Split:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text[len(bom):]
    end = text.find("\n")
    first = text if end < 0 else text[: end + 1]
    nl = "\r\n" if first.endswith("\r\n") else "\n"
    if not _is_fence(first, "---") or end < 0:
        if _is_fence(first, "---"):
            raise _Unreadable(_UNCLOSED, 1)
        return _Split(bom, "", None, "", text, nl)
    pos = len(first)
    while pos < len(text):
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos: end + 1]
        if _is_fence(line, "---", "..."):
            return _Split(bom, first, text[len(first): pos], line, text[pos + len(line):], nl)
        pos += len(line)
    raise _Unreadable(_UNCLOSED, 1)


_UNCLOSED = ("the front matter opened by '---' on line 1 is never closed; "
             "add a line with just '---' after the last 'key: value' line")


def _content_of(split: _Split) -> str:
    body = split.body
    if split.yaml is not None and body.startswith(split.nl):
        body = body[len(split.nl):]
    if body.endswith(split.nl):
        body = body[: -len(split.nl)]
    return body


# --------------------------------------------------------------------------
# YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                first = seen.setdefault(key_node.value, key_node.start_mark.line)
                if first != key_node.start_mark.line:
                    # Front matter starts on line 2 of the file; marks count from 0.
                    raise yaml.constructor.ConstructorError(
                        None, None,
                        f"duplicate key '{key_node.value}' (first set on line {first + 2})",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def _load_front_matter(split: _Split) -> dict[str, Any]:
    """Parse the YAML between the fences; raise ``_Unreadable`` with the file line."""
    assert split.yaml is not None
    try:
        data = yaml.load(split.yaml, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        if exc.problem == "mapping values are not allowed here":
            problem += "; put quotes around a value that contains ': '"
        where = f" at line {line}" if line is not None else ""
        raise _Unreadable(f"invalid YAML front matter{where}: {problem}", line) from exc
    except yaml.reader.ReaderError as exc:
        line = split.yaml[: exc.position].count("\n") + 2
        raise _Unreadable(
            f"invalid YAML front matter at line {line}: "
            f"character #x{exc.character:04x} is not allowed in YAML", line,
        ) from exc
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises one of the above
        raise _Unreadable(f"invalid YAML front matter: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _Unreadable(f"the front matter must be 'key: value' lines, not {_kind(data)}", 2)
    return {str(k): v for k, v in data.items()}


def _kind(value: object) -> str:
    kinds = ((bool, "true/false"), ((int, float), "a number"), (str, "text"),
             (list, "a list"), (dict, "a mapping"))
    return next((word for types, word in kinds if isinstance(value, types)),
                type(value).__name__)


# --------------------------------------------------------------------------
# Reading the fields


def _first_spelling(
    data: Mapping[str, Any], fname: str, where: str, warnings: list[str],
) -> str | None:
    present = [s for s in FIELD_SPELLINGS[fname] if s in data]
    if len(present) > 1:
        shown = " and ".join(f"'{where}{s}'" for s in present)
        warnings.append(f"{shown} mean the same field; using '{where}{present[0]}'")
    return present[0] if present else None


def _coerce(fname: str, raw: Any, label: str, warnings: list[str]) -> Any:
    """Normalize one field's value; None when absent or unusable (with a warning)."""
    if raw is None:
        return None
    if fname in _BOOL_FIELDS:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, (str, int)) and str(raw).strip().lower() in _TRUE | _FALSE:
            return str(raw).strip().lower() in _TRUE
        expected = "true or false"
    elif fname in _LIST_FIELDS:
        if isinstance(raw, str):
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        if isinstance(raw, list) and all(_is_text_like(item) for item in raw):
            return tuple(str(item) for item in raw)
        expected = "a list of text or a comma-separated string"
    else:
        if _is_text_like(raw):
            return str(raw)
        expected = "text"
    warnings.append(f"'{label}' should be {expected}, not {_kind(raw)}; ignoring it")
    return None


def _is_text_like(value: object) -> bool:
    # Numbers and dates read from YAML are fine as text ("version: 1.0");
    # true/false, lists and mappings are not.
    return not isinstance(value, (bool, list, dict)) and value is not None


def _read_fields(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The seed fields set in ``data``, normalized, keyed by camelCase name."""
    warnings: list[str] = []
    values: dict[str, Any] = {}
    meta = data.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        warnings.append(
            f"'metadata' should be a mapping of 'key: value' lines, not {_kind(meta)}; "
            "ignoring it"
        )
        meta = None
    for fname in SEED_FIELDS:
        top = None
        spelling = _first_spelling(data, fname, "", warnings)
        if spelling is not None:
            top = _coerce(fname, data[spelling], spelling, warnings)
        below = None
        if meta and fname in _METADATA_FIELDS:
            spelling = _first_spelling(meta, fname, "metadata.", warnings)
            if spelling is not None:
                below = _coerce(fname, meta[spelling], f"metadata.{spelling}", warnings)
        if top is not None and below is not None and top != below:
            warnings.append(
                f"'{fname}' is set at the top level and under 'metadata'; "
                "using the top-level value"
            )
        value = top if top is not None else below
        if value is not None:
            values[fname] = value
    return values, warnings


# --------------------------------------------------------------------------
# Parsing


def parse_skill(
    text_or_bytes: bytes | str,
    *,
    slug: str,
    layout: Layout,
    max_bytes: int = MAX_SKILL_BYTES,
    path: Path | None = None,
) -> SkillDoc | SkillProblem:
    """Read one skill file; a ``SkillProblem`` says why it can't be used.

    ``path`` only fills ``SkillProblem.path``; nothing is read from disk.
    """
    if layout not in ("file", "folder"):
        raise ValueError(f"layout must be 'file' or 'folder', not {layout!r}")

    def problem(message: str, line: int | None = None) -> SkillProblem:
        return SkillProblem(slug, path, message, line)

    raw = text_or_bytes.encode("utf-8", "surrogatepass") if isinstance(
        text_or_bytes, str) else text_or_bytes
    if len(raw) > max_bytes:
        return problem(f"file is {_size(len(raw))}; skills are limited to "
                       f"{_size(max_bytes, trim=True)}")
    if isinstance(text_or_bytes, str):
        text = text_or_bytes
    else:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return problem("not UTF-8 text (it looks like UTF-16); save the file as UTF-8")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            return problem(
                f"not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
                "save the file as UTF-8", line,
            )
    try:
        split = _split(text)
        data = {} if split.yaml is None else _load_front_matter(split)
    except _Unreadable as exc:
        return problem(exc.message, exc.line)

    values, warnings = _read_fields(data)
    where = "folder" if layout == "folder" else "file"
    name = values.get("name")
    if split.yaml is None:
        warnings.insert(0, f"no front matter: using the {where} name '{slug}' as the name; "
                           "start the file with a '---' block holding 'name:' and "
                           "'description:'")
        name = slug
    elif name is None or not name.strip():
        missing = "missing" if name is None else "empty"
        warnings.insert(0, f"{missing} 'name' in front matter; using the {where} name '{slug}'")
        name = slug
    if layout == "folder":
        warnings.extend(_agent_skills_warnings(name, values.get("description"), slug))
    return SkillDoc(
        slug=slug,
        name=name,
        description=values.get("description"),
        category=values.get("category"),
        tags=values.get("tags", ()),
        author=values.get("author"),
        required_sources=values.get("requiredSources", ()),
        icon_url=values.get("iconUrl"),
        is_public=values.get("isPublic"),
        is_user_invocable=values.get("isUserInvocable"),
        content=_content_of(split),
        front_matter=data,
        layout=layout,
        warnings=tuple(warnings),
    )


def _agent_skills_warnings(name: str, description: str | None, folder: str) -> list[str]:
    out = []
    if name != folder:
        out.append(f"name '{name}' does not match the folder '{folder}'; Agent Skills "
                   "tools expect the name to equal the folder name")
    elif not _AGENT_SKILLS_NAME_RE.fullmatch(name) or len(name) > 64:
        out.append(f"name '{name}' is not a valid Agent Skills name (lowercase letters, "
                   "digits and single hyphens, at most 64 characters)")
    if not description:
        out.append("missing 'description'; Agent Skills tools require one that says what "
                   "the skill does and when to use it")
    elif len(description) > 1024:
        out.append(f"'description' is {len(description)} characters; Agent Skills allow "
                   "at most 1024")
    return out


def _size(n: int, *, trim: bool = False) -> str:
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if n >= scale:
            text = f"{n / scale:.1f}"
            if trim and text.endswith(".0"):
                text = text[:-2]
            return f"{text} {unit}"
    return f"{n} bytes"


# --------------------------------------------------------------------------
# Paths and slugs

_SLUG_RULE = ("use letters, digits, '-', '_' or '.', start with a letter or digit, "
              "at most 64 characters")


def slug_for(path: Path, root: Path) -> tuple[str, Layout] | None:
    """``(slug, layout)`` if ``path`` is a skill file under ``root``, else None.

    ``<root>/<slug>.md`` is a ``"file"`` skill, ``<root>/<slug>/SKILL.md`` a
    ``"folder"`` skill. Everything else is not a skill: a root ``README.md``
    (any case), hidden files, editor leftovers (``.foo.md.swp``, ``foo.md~``,
    ``#foo.md#``, ``~$foo.md``), names that aren't slugs, and anything deeper
    such as ``<slug>/references/*.md``. Pure: the disk is not consulted, so
    pass both paths in the same form (both absolute, say).
    """
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    if len(parts) == 1 and parts[0].endswith(".md"):
        stem = parts[0][:-3]
        if stem.lower() != "readme" and _SLUG_RE.fullmatch(stem):
            return stem, "file"
    elif len(parts) == 2 and parts[1] == "SKILL.md" and _SLUG_RE.fullmatch(parts[0]):
        return parts[0], "folder"
    return None


def slugify(name: str) -> str:
    """A slug for a new skill: lowercase ASCII letters, digits and single hyphens.

    At most 64 characters (a valid Agent Skills name); ``"skill"`` when
    nothing usable is left, and never ``"readme"`` (``readme.md`` is not loaded).
    """
    text = unicodedata.normalize("NFKD", name.casefold())
    text = text.encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"['`]", "", text)
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    text = text[:64].rstrip("-") or "skill"
    return "readme-skill" if text == "readme" else text


# --------------------------------------------------------------------------
# Rendering


def _check_input(fname: str, value: Any) -> Any:
    """Validate one API value; lists become tuples and an empty list means unset."""
    if value is None:
        return None
    if fname in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif fname in _LIST_FIELDS:
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value) or None
        expected = "a list of strings"
    else:
        if isinstance(value, str):
            return value
        expected = "a string"
    raise ValueError(f"skill field '{fname}' must be {expected}, not {_kind(value)}")


def _normalize_input(fields: Mapping[str, Any]) -> dict[str, Any]:
    items = dict(fields)
    front = items.pop("frontmatter", None)
    if front is not None:
        if not isinstance(front, Mapping):
            raise ValueError(f"skill field 'frontmatter' must be a mapping, not {_kind(front)}")
        for key, value in front.items():
            items.setdefault(key, value)
    out: dict[str, Any] = {}
    for key, value in items.items():
        if key in ("content", "slug"):
            continue
        fname = _SPELLING_TO_FIELD.get(key)
        if fname is None:
            raise ValueError(f"unknown skill field '{key}'; expected one of "
                             + ", ".join(SEED_FIELDS))
        out[fname] = _check_input(fname, value)
    return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _metadata_value(value: Any) -> Any:
    """Agent Skills metadata holds strings: lists comma-joined, booleans spelled out.

    A list whose items would not survive the comma round trip stays a list.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        if all(item and item == item.strip() and "," not in item for item in value):
            return ", ".join(value)
        return list(value)
    return value


def _inline(value: Any) -> str:
    """``value`` as YAML that fits on one line after ``key: ``."""
    if isinstance(value, (list, dict)):
        text = yaml.safe_dump(value, default_flow_style=True, width=_WIDE,
                              allow_unicode=True, sort_keys=False).rstrip("\n")
    else:  # dumped as a mapping value, so block-context quoting rules apply
        text = yaml.safe_dump({"k": value}, default_flow_style=False, width=_WIDE,
                              allow_unicode=True, sort_keys=False)
        text = text[len("k: "):].rstrip("\n")
    if any(brk in text for brk in _YAML_BREAKS):
        # Line breaks inside a value: double quotes with escapes stay on one line.
        text = yaml.safe_dump(value, default_flow_style=True, default_style='"',
                              width=_WIDE, allow_unicode=False, sort_keys=False).rstrip("\n")
    return text


def _body_text(content: str, nl: str) -> str:
    return nl + content + nl if content else ""


def _front_lines(updates: Mapping[str, Any], layout: Layout, nl: str) -> str:
    lines: list[str] = []
    meta: list[str] = []
    for fname in SEED_FIELDS:
        value = updates.get(fname)
        if value is None:
            continue
        if layout == "folder" and fname in _METADATA_FIELDS:
            meta.append(f"  {fname}: {_inline(_metadata_value(value))}")
        else:
            lines.append(f"{fname}: {_inline(_plain(value))}")
    if meta:
        lines += ["metadata:", *meta]
    return "".join(line + nl for line in lines)


def render_skill(
    fields: Mapping[str, Any],
    content: str,
    *,
    previous_text: str | None = None,
    layout: Layout = "file",
) -> str:
    """Skill file text for ``fields`` (the seed's camelCase names) and ``content``.

    Without ``previous_text``: a clean file, ``name`` required, fields in
    ``SEED_FIELDS`` order; with ``layout="folder"`` the Promptly-only fields go
    under ``metadata:`` as strings so the file is a valid Agent Skill.

    With ``previous_text`` (an update): ``fields`` is a patch — keys left out
    stay as they are, ``None`` (or an empty list) removes a key. Only keys
    whose value changed are touched, where they already live (top level or
    ``metadata:``, in the spelling the file uses); comments, order, custom keys
    and formatting of everything else are kept byte for byte. New keys are
    appended — under ``metadata:`` for a folder skill or a file that already
    keeps Promptly fields there. The body is rewritten only if ``content``
    changed. If the front matter is too unusual to edit in place, it is
    rewritten as clean YAML with the same data (comments lost); a previous
    text that cannot be read at all is replaced by a clean file.

    A nested ``frontmatter`` mapping (the API shape) is accepted; ``content``
    and ``slug`` keys are ignored; any other unknown key is a ``ValueError``.
    """
    updates = _normalize_input(fields)
    if previous_text is not None:
        try:
            split = _split(previous_text)
            data = None if split.yaml is None else _load_front_matter(split)
        except _Unreadable:
            pass
        else:
            if data is None:
                return _add_front_matter(split, updates, content, layout, previous_text)
            return _update(split, data, updates, content, layout)
    name = updates.get("name")
    if not name:
        raise ValueError("a new skill file needs a non-empty 'name'")
    return "---\n" + _front_lines(updates, layout, "\n") + "---\n" + _body_text(content, "\n")


def _add_front_matter(
    split: _Split, updates: dict[str, Any], content: str, layout: Layout, previous: str,
) -> str:
    """Update a file that had no front matter: give it one."""
    same_content = content == _content_of(split)
    if same_content and all(v is None for v in updates.values()):
        return previous
    nl = split.nl
    body = (nl + split.body if split.body else "") if same_content else _body_text(content, nl)
    return split.bom + "---" + nl + _front_lines(updates, layout, nl) + "---" + nl + body


class _Fallback(Exception):
    """The front matter is too unusual to edit in place."""


class _Editor:
    """Collects text edits on the front matter YAML, using composer node marks."""

    def __init__(self, text: str, nl: str) -> None:
        self.text = text
        self.nl = nl
        self.edits: list[tuple[int, int, int, str]] = []

    def _edit(self, start: int, end: int, replacement: str) -> None:
        self.edits.append((start, end, len(self.edits), replacement))

    def apply(self) -> str:
        out: list[str] = []
        cursor = 0
        for start, end, _, replacement in sorted(self.edits):
            if start < cursor:
                raise _Fallback("overlapping edits")
            out += [self.text[cursor:start], replacement]
            cursor = end
        out.append(self.text[cursor:])
        return "".join(out)

    def _line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def _line_end(self, index: int) -> int:
        end = self.text.find("\n", index)
        return len(self.text) if end < 0 else end + 1

    def _node_end(self, node: Node) -> int:
        """Index just past the last character of ``node`` (trailing comments excluded)."""
        start: int = node.start_mark.index
        if isinstance(node, ScalarNode):
            end: int = node.end_mark.index
            if node.style in ("|", ">"):
                while end > start and self.text[end - 1] in " \t\r\n":
                    end -= 1
        elif isinstance(node, (SequenceNode, MappingNode)) and node.value and \
                not node.flow_style:
            last = node.value[-1]
            end = self._node_end(last[1] if isinstance(node, MappingNode) else last)
        else:
            end = node.end_mark.index
        if end < start:  # an alias: its marks are those of the anchored node
            raise _Fallback("alias")
        return end

    @staticmethod
    def pair(mapping: MappingNode, key: str) -> tuple[Node, Node]:
        for key_node, value_node in mapping.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                return key_node, value_node
        raise _Fallback(f"key {key!r} not found")  # pragma: no cover - data and nodes agree

    def _colon(self, key_node: Node, value_node: Node) -> int:
        index: int = key_node.end_mark.index
        while index < len(self.text) and self.text[index] in " \t":
            index += 1
        if index >= len(self.text) or self.text[index] != ":" or \
                value_node.start_mark.index <= index:
            raise _Fallback("explicit key or alias")
        return index

    def replace(self, mapping: MappingNode, key: str, value: Any) -> None:
        key_node, value_node = self.pair(mapping, key)
        colon = self._colon(key_node, value_node)
        start: int = value_node.start_mark.index
        end = self._node_end(value_node)
        inline = _inline(value)
        if isinstance(value_node, ScalarNode):
            one_line = value_node.style not in ("|", ">")
        else:
            one_line = bool(getattr(value_node, "flow_style", False))
        if one_line and "\n" not in self.text[start:end]:
            # Keep the spacing before the value and any comment after it.
            self._edit(start, end, (" " if start == colon + 1 else "") + inline)
        else:
            self._edit(colon + 1, end, " " + inline)

    def delete(self, mapping: MappingNode, key: str) -> None:
        key_node, value_node = self.pair(mapping, key)
        start = self._line_start(key_node.start_mark.index)
        if self.text[start: key_node.start_mark.index].strip():
            raise _Fallback("key does not start its line")
        self._edit(start, self._line_end(self._node_end(value_node)), "")

    def add(self, mapping: MappingNode | None, lines: list[str], *, at_end: bool) -> None:
        """Append ``lines`` to ``mapping``, indented like its keys.

        ``at_end``: at the very end of the front matter (for the top level),
        else right after the mapping's last entry (for ``metadata:``).
        """
        indent = ""
        if mapping is not None and mapping.value:
            indent = " " * mapping.value[0][0].start_mark.column
        if at_end or mapping is None:
            at = len(self.text)
        else:
            at = self._line_end(self._node_end(mapping))
        prefix = self.nl if at > 0 and self.text[at - 1] != "\n" else ""
        self._edit(at, at, prefix + "".join(indent + line + self.nl for line in lines))


def _update(
    split: _Split, data: dict[str, Any], updates: dict[str, Any], content: str, layout: Layout,
) -> str:
    """Apply ``updates`` to a file with front matter, touching as little text as possible."""
    assert split.yaml is not None
    current, _ = _read_fields(data)
    merged = copy.deepcopy(data)  # what the front matter must parse to afterwards
    meta = merged.get("metadata") if isinstance(merged.get("metadata"), dict) else None
    keeps_meta = meta is not None and any(
        s in meta for f in _METADATA_FIELDS for s in FIELD_SPELLINGS[f])
    top_ops: list[tuple[str, Any]] = []  # (key, value); value _DELETE removes the key
    meta_ops: list[tuple[str, Any]] = []
    top_new: dict[str, Any] = {}
    meta_new: dict[str, Any] = {}
    for fname in SEED_FIELDS:
        if fname not in updates or updates[fname] == current.get(fname):
            continue
        new = updates[fname]
        spellings = FIELD_SPELLINGS[fname]
        top = [s for s in spellings if s in merged]
        below = [s for s in spellings if s in meta] if (
            meta is not None and fname in _METADATA_FIELDS) else []
        if new is None:
            for s in top:
                top_ops.append((s, _DELETE))
                del merged[s]
            for s in below:
                meta_ops.append((s, _DELETE))
                assert meta is not None
                del meta[s]
        elif top:
            top_ops.append((top[0], _plain(new)))
            merged[top[0]] = _plain(new)
        elif below:
            assert meta is not None
            meta_ops.append((below[0], _metadata_value(new)))
            meta[below[0]] = _metadata_value(new)
        elif fname in _METADATA_FIELDS and (layout == "folder" or keeps_meta) and (
                meta is not None or "metadata" not in merged):
            meta_new[fname] = _metadata_value(new)
        else:
            top_new[fname] = _plain(new)
    if meta_ops and meta is not None and not meta and not meta_new:
        del merged["metadata"]  # an empty "metadata:" would read as null
    merged.update(top_new)
    if meta_new:
        if meta is None:
            merged["metadata"] = {}
        merged["metadata"].update(meta_new)

    same_content = content == _content_of(split)
    body = split.body if same_content else _body_text(content, split.nl)
    closing = split.closing
    if body and not closing.endswith("\n"):
        closing += split.nl

    def assemble(front: str) -> str:
        return split.bom + split.opening + front + closing + body

    try:
        text = assemble(_edit_front_matter(
            split.yaml, split.nl, data, merged, top_ops, meta_ops, top_new, meta_new))
    except _Fallback:
        text = None
    if text is not None and _parses_to(text, merged, content):
        return text
    # Rewrite the front matter as clean YAML. PyYAML writes some line-break
    # characters raw when allowed Unicode, so fall back to escaping it all.
    for allow_unicode in (True, False):
        dumped = yaml.safe_dump(merged, sort_keys=False, allow_unicode=allow_unicode,
                                width=_WIDE, default_flow_style=None) if merged else ""
        text = assemble(dumped.replace("\n", split.nl))
        if _parses_to(text, merged, content):
            return text
    raise ValueError(  # pragma: no cover - a bug if reached
        "could not update the skill file without changing other keys; "
        "edit its front matter by hand")


_DELETE = object()


def _edit_front_matter(
    text: str, nl: str, data: Mapping[str, Any], merged: Mapping[str, Any],
    top_ops: list[tuple[str, Any]], meta_ops: list[tuple[str, Any]],
    top_new: dict[str, Any], meta_new: dict[str, Any],
) -> str:
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None and not isinstance(root, MappingNode):
        raise _Fallback("not a mapping")
    editor = _Editor(text, nl)
    for key, value in top_ops:
        assert root is not None
        if value is _DELETE:
            editor.delete(root, key)
        else:
            editor.replace(root, key, value)
    new_block: list[str] = []
    if meta_ops or meta_new:
        if not isinstance(data.get("metadata"), dict):
            new_block = ["metadata:", *(f"  {k}: {_inline(v)}" for k, v in meta_new.items())]
        else:
            assert root is not None
            meta_node = editor.pair(root, "metadata")[1]
            if not isinstance(meta_node, MappingNode):
                raise _Fallback("metadata is an alias")
            if "metadata" not in merged:
                editor.delete(root, "metadata")
            elif meta_node.flow_style:
                editor.replace(root, "metadata", merged["metadata"])
            else:
                for key, value in meta_ops:
                    if value is _DELETE:
                        editor.delete(meta_node, key)
                    else:
                        editor.replace(meta_node, key, value)
                if meta_new:
                    editor.add(meta_node, [f"{k}: {_inline(v)}" for k, v in meta_new.items()],
                               at_end=False)
    if top_new:
        editor.add(root, [f"{k}: {_inline(v)}" for k, v in top_new.items()], at_end=True)
    if new_block:
        editor.add(root, new_block, at_end=True)
    return editor.apply()


def _parses_to(text: str, front_matter: Mapping[str, Any], content: str) -> bool:
    doc = parse_skill(text, slug="skill", layout="file", max_bytes=len(text) * 4 + 4)
    if not isinstance(doc, SkillDoc) or doc.content != content:
        return False
    try:
        return _same(dict(doc.front_matter), dict(front_matter))
    except RecursionError:  # pragma: no cover - self-referencing YAML aliases
        return False


def _same(a: Any, b: Any) -> bool:
    """Equality of parsed YAML values, with NaN equal to itself and bool apart from int."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


# --------------------------------------------------------------------------
# The only I/O: writing one file, listing the folder


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so readers see the old or the new file.

    The temporary file sits in the same folder and starts with ``.`` (so
    ``slug_for`` and watchers ignore it); it is fsynced, then renamed over the
    target. An existing file keeps its permission bits; a new one gets the
    usual ``0o666 & ~umask``. A symlink is written through, not replaced.
    Missing parent folders are created.
    """
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def scan_folder(root: Path) -> FolderScan:
    """Every skill file under ``root``, plus what looks like a skill but was skipped.

    Skills come sorted by slug. When ``foo.md`` and ``foo/SKILL.md`` both
    exist the folder wins and ``foo.md`` is reported. Also reported: names
    that can't be slugs (``Morning Brief.md``), ``.markdown``/``.MD``
    suffixes, and ``foo/skill.md`` spelled in the wrong case. A missing root
    is an empty folder. Files are listed, never read.
    """
    try:
        entries = sorted(root.iterdir())
    except FileNotFoundError:
        return FolderScan((), ())
    except OSError as exc:
        return FolderScan((), (SkillProblem(
            None, root, f"cannot list the skills folder: {exc.strerror or exc}"),))
    files: dict[str, Path] = {}
    folders: dict[str, Path] = {}
    problems: list[SkillProblem] = []
    for entry in entries:
        name = entry.name
        if name.startswith((".", "#", "~")) or name.endswith(("~", "#")):
            continue  # hidden files and editor leftovers
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except OSError:  # pragma: no cover - vanished or unreadable while listing
            continue
        if is_dir:
            _scan_skill_folder(root, entry, folders, problems)
        elif is_file:
            hit = slug_for(entry, root)
            if hit is not None:
                files[hit[0]] = entry
            else:
                message = _near_miss_file(name)
                if message is not None:
                    problems.append(SkillProblem(None, entry, message))
    for slug, path in files.items():
        if slug in folders:
            problems.append(SkillProblem(
                slug, path,
                f"both '{path.name}' and '{slug}/SKILL.md' define the skill '{slug}'; "
                f"using '{slug}/SKILL.md' — remove or rename '{path.name}'",
            ))
    skills = [SkillPath(slug, "file", path) for slug, path in files.items()
              if slug not in folders]
    skills += [SkillPath(slug, "folder", path) for slug, path in folders.items()]
    skills.sort()
    problems.sort(key=lambda p: str(p.path))
    return FolderScan(tuple(skills), tuple(problems))


def _scan_skill_folder(
    root: Path, folder: Path, found: dict[str, Path], problems: list[SkillProblem],
) -> None:
    skill_md = folder / "SKILL.md"
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError:  # pragma: no cover - unreadable folder
        return
    if "SKILL.md" in names and skill_md.is_file():
        hit = slug_for(skill_md, root)
        if hit is not None:
            found[hit[0]] = skill_md
        else:
            problems.append(SkillProblem(
                None, skill_md,
                f"the folder name '{folder.name}' can't be a skill slug ({_SLUG_RULE}); "
                f"rename the folder to '{slugify(folder.name)}'",
            ))
        return
    for other in sorted(names):
        if other.lower() == "skill.md" and (folder / other).is_file():
            problems.append(SkillProblem(
                None, folder / other,
                f"'{folder.name}/{other}' must be named '{folder.name}/SKILL.md' "
                "(in capitals) to be loaded",
            ))
            return


def _near_miss_file(name: str) -> str | None:
    """Why a root file that looks like a skill is not loaded, or None if it isn't one."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or stem.lower() == "readme":
        return None
    if suffix.lower() in ("md", "markdown") and suffix != "md":
        return f"skill files end in '.md'; rename '{name}' to '{stem}.md' to load it"
    if suffix == "md":
        return (f"'{name}' can't be a skill file name ({_SLUG_RULE}); "
                f"rename it to '{slugify(stem)}.md' to load it")
    return None
