"""Writing skill files: ``render_skill`` and its in-place front-matter editor.

Split from :mod:`promptlyd.skills.parse` (which reads them); the rules are in that
module's docstring. ``render_skill`` with ``previous_text`` changes only the
keys whose value changed, where they live and in the spelling the file uses,
and keeps every other byte; the result is parsed back and checked, and when an
in-place edit is not safe (aliases, flow-style front matter) the front matter
is rewritten as clean YAML holding the same data.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promptlyd.errors import PromptlydError
from promptlyd.skills.parse import (
    _BOOL_FIELDS,
    _LIST_FIELDS,
    _METADATA_FIELDS,
    _SPELLING_TO_FIELD,
    _WIDE,
    _YAML_BREAKS,
    FIELD_SPELLINGS,
    SEED_FIELDS,
    Layout,
    SkillDoc,
    SkillFileError,
    _content_of,
    _kind,
    _load_front_matter,
    _read_fields,
    _Split,
    _split,
    parse_skill,
)


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
        except SkillFileError:
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


class FrontMatterTooUnusual(PromptlydError):
    """The front matter is too unusual to edit in place (the file is rewritten whole)."""


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
                raise FrontMatterTooUnusual("overlapping edits")
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
            raise FrontMatterTooUnusual("alias")
        return end

    @staticmethod
    def pair(mapping: MappingNode, key: str) -> tuple[Node, Node]:
        for key_node, value_node in mapping.value:
            if isinstance(key_node, ScalarNode) and key_node.value == key:
                return key_node, value_node
        # data and nodes agree:
        raise FrontMatterTooUnusual(f"key {key!r} not found")  # pragma: no cover

    def _colon(self, key_node: Node, value_node: Node) -> int:
        index: int = key_node.end_mark.index
        while index < len(self.text) and self.text[index] in " \t":
            index += 1
        if index >= len(self.text) or self.text[index] != ":" or \
                value_node.start_mark.index <= index:
            raise FrontMatterTooUnusual("explicit key or alias")
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
            raise FrontMatterTooUnusual("key does not start its line")
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
    except FrontMatterTooUnusual:
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
        raise FrontMatterTooUnusual("not a mapping")
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
                raise FrontMatterTooUnusual("metadata is an alias")
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
