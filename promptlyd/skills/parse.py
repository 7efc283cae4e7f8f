"""Skill files: Markdown instructions with YAML front matter (SPEC §8).

A skill lives in the skills folder as ``<slug>.md`` (layout ``"file"``) or as
``<slug>/SKILL.md`` (layout ``"folder"``, the Agent Skills layout, where
``references/``, ``scripts/`` and ``assets/`` may sit beside ``SKILL.md``; they
are resources, never part of the content). Everything here is pure — text in,
values out — except ``scan_folder`` at the bottom.
Writing a file's text (``render_skill``) lives in :mod:`promptlyd.skills.edit`.

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

import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import yaml
from yaml.nodes import MappingNode, ScalarNode

from promptlyd.errors import PromptlydError
from promptlyd.slugs import slugify

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


class SkillFileError(PromptlydError):
    """A skill file whose front matter cannot be read; ``line`` is the file's line."""

    type = "skill_file_error"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
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
            raise SkillFileError(_UNCLOSED, 1)
        return _Split(bom, "", None, "", text, nl)
    pos = len(first)
    while pos < len(text):
        end = text.find("\n", pos)
        line = text[pos:] if end < 0 else text[pos: end + 1]
        if _is_fence(line, "---", "..."):
            return _Split(bom, first, text[len(first): pos], line, text[pos + len(line):], nl)
        pos += len(line)
    raise SkillFileError(_UNCLOSED, 1)


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
    """Parse the YAML between the fences; raise ``SkillFileError`` with the file line."""
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
        raise SkillFileError(f"invalid YAML front matter{where}: {problem}", line) from exc
    except yaml.reader.ReaderError as exc:
        line = split.yaml[: exc.position].count("\n") + 2
        raise SkillFileError(
            f"invalid YAML front matter at line {line}: "
            f"character #x{exc.character:04x} is not allowed in YAML", line,
        ) from exc
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises one of the above
        raise SkillFileError(f"invalid YAML front matter: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SkillFileError(f"the front matter must be 'key: value' lines, not {_kind(data)}", 2)
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
    except SkillFileError as exc:
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


def _skill_slug(name: str) -> str:
    return slugify(name, fallback="skill")


# --------------------------------------------------------------------------
# The only I/O: listing the folder


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
        is_skill = "SKILL.md" in names and skill_md.is_file()
        misnamed = [n for n in sorted(names)
                    if n.lower() == "skill.md" and n != "SKILL.md" and (folder / n).is_file()]
    except OSError as exc:  # unreadable or untraversable: report it, scan the rest
        problems.append(SkillProblem(None, folder, f"cannot read the folder: {exc.strerror}; "
                                                   f"check its permissions (chmod u+rx)"))
        return
    if is_skill:
        hit = slug_for(skill_md, root)
        if hit is not None:
            found[hit[0]] = skill_md
        else:
            problems.append(SkillProblem(
                None, skill_md,
                f"the folder name '{folder.name}' can't be a skill slug ({_SLUG_RULE}); "
                f"rename the folder to '{_skill_slug(folder.name)}'",
            ))
        return
    for other in misnamed:
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
                f"rename it to '{_skill_slug(stem)}.md' to load it")
    return None
