"""Local sources: folders on this machine as ``list_files``, ``read_file``, ``search_files``.

Every path the model gives is confined to ``config.paths``: ``..`` is refused, and
the path, with every symlink resolved, must lie inside one of the folders — so an
absolute path elsewhere and a symlink that points out are refused alike. Binary
files are described, not dumped; long files and long listings are cut with a note.
"""

from __future__ import annotations

import asyncio
import fnmatch
import mimetypes
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from promptlyd.sources.base import SourceError, SourceSettings, SourceTool

MAX_LIST_ENTRIES = 500
MAX_SEARCH_MATCHES = 100
MAX_SEARCH_FILE_BYTES = 2_000_000
SNIFF_BYTES = 8192

TOOLS = (
    SourceTool("list_files", "List the files and folders in a folder (the source's folders "
               "when no path is given). Paths are absolute, or relative to the first folder.",
               {"type": "object", "properties": {
                   "path": {"type": "string", "description": "folder to list"},
                   "recursive": {"type": "boolean", "description": "include subfolders"}}}),
    SourceTool("read_file", "Read a text file. Long files are cut; pass offset (in "
               "characters) to read further.",
               {"type": "object", "required": ["path"], "properties": {
                   "path": {"type": "string"},
                   "offset": {"type": "integer", "minimum": 0}}}),
    SourceTool("search_files", "Search text files for a string (case-insensitive); answers "
               "path:line: text for each match.",
               {"type": "object", "required": ["query"], "properties": {
                   "query": {"type": "string"},
                   "path": {"type": "string", "description": "folder to search in"},
                   "glob": {"type": "string", "description": "only file names matching, "
                                                              "e.g. *.md"}}}),
)


class PathRefused(SourceError):
    """A path outside the source's folders."""


class Folders:
    """The folders of a local source, and the confinement rule. Blocking (call in a thread)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.roots = [Path(os.path.realpath(os.path.expanduser(p))) for p in paths]

    def resolve(self, raw: str | None) -> Path:
        """``raw`` as a real path inside a root; raise ``PathRefused`` otherwise."""
        if raw is None or raw in ("", "."):
            return self.roots[0]
        if not isinstance(raw, str) or "\x00" in raw:
            raise PathRefused("path must be a string without NUL characters")
        given = Path(os.path.expanduser(raw))
        if ".." in given.parts:
            raise PathRefused(f"{raw!r}: '..' is not allowed; paths stay inside "
                              f"{self.shown()}")
        candidate = given if given.is_absolute() else self.roots[0] / given
        real = Path(os.path.realpath(candidate))
        if not self.inside(real):
            why = "points outside (through a symlink)" if self.inside(
                Path(os.path.normpath(candidate))) else "is outside"
            raise PathRefused(f"{raw!r} {why} the folders this source may read: "
                              f"{self.shown()}")
        return real

    def inside(self, real: Path) -> bool:
        return any(real == root or root in real.parents for root in self.roots)

    def shown(self) -> str:
        return ", ".join(str(r) for r in self.roots)


def is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a character cut at the end of the sample is fine
    return False


def describe_binary(path: Path, size: int) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "unknown type"
    return f"{path} is a binary file ({kind}, {size} bytes); its content is not shown"


def list_files(folders: Folders, path: str | None, recursive: bool) -> str:
    if path in (None, "") and len(folders.roots) > 1:
        return "Folders of this source:\n" + "\n".join(f"{r}/" for r in folders.roots)
    base = folders.resolve(path)
    if not base.is_dir():
        raise SourceError(f"{base} is not a folder")
    lines: list[str] = []
    more = False
    walker = os.walk(base) if recursive else [(str(base), *_split(base))]
    for top, dirs, files in walker:
        dirs.sort()
        for name in sorted(dirs):
            lines.append(f"{Path(top, name)}/")
        for name in sorted(files):
            full = Path(top, name)
            try:
                size = full.stat().st_size
            except OSError:
                continue
            lines.append(f"{full} ({size} bytes)")
        if len(lines) > MAX_LIST_ENTRIES:
            more = True
            break
    out = "\n".join(lines[:MAX_LIST_ENTRIES]) or f"{base} is empty"
    if more or len(lines) > MAX_LIST_ENTRIES:
        out += f"\n[listing cut at {MAX_LIST_ENTRIES} entries; list a subfolder]"
    return out


def _split(base: Path) -> tuple[list[str], list[str]]:
    dirs: list[str] = []
    files: list[str] = []
    for entry in os.scandir(base):
        (dirs if entry.is_dir() else files).append(entry.name)
    return dirs, files


def read_file(folders: Folders, path: str, offset: int, limit: int) -> str:
    real = folders.resolve(path)
    if real.is_dir():
        raise SourceError(f"{real} is a folder: use list_files")
    if not real.is_file():
        raise SourceError(f"no file {real}")
    size = real.stat().st_size
    with open(real, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
        if is_binary(head):
            return describe_binary(real, size)
        fh.seek(0)
        data = fh.read(min(size, (offset + limit) * 4 + 4))
    text = data.decode("utf-8", "replace")[offset:]
    if len(text) > limit or (offset + limit) * 4 + 4 < size:
        shown = text[:limit]
        return (f"{shown}\n[file is {size} bytes; showed characters {offset}-"
                f"{offset + len(shown)}; call read_file with offset={offset + len(shown)} "
                "for more]")
    return text


def search_files(folders: Folders, query: str, path: str | None, glob: str | None) -> str:
    if not isinstance(query, str) or not query:
        raise SourceError("query must be a non-empty string")
    bases = [folders.resolve(path)] if path else folders.roots
    needle = query.lower()
    matches: list[str] = []
    for base in bases:
        for top, dirs, files in os.walk(base):
            dirs.sort()
            for name in sorted(files):
                if glob and not fnmatch.fnmatch(name, glob):
                    continue
                full = Path(top, name)
                real = Path(os.path.realpath(full))
                if not folders.inside(real) or not real.is_file():
                    continue  # a symlink out of the folders
                if real.stat().st_size > MAX_SEARCH_FILE_BYTES:
                    continue
                data = real.read_bytes()
                if is_binary(data[:SNIFF_BYTES]):
                    continue
                for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                    if needle in line.lower():
                        matches.append(f"{full}:{number}: {line.strip()[:300]}")
                        if len(matches) >= MAX_SEARCH_MATCHES:
                            return "\n".join(matches) + (
                                f"\n[stopped at {MAX_SEARCH_MATCHES} matches; narrow the "
                                "search with path or glob]")
    return "\n".join(matches) or f"no matches for {query!r}"


class LocalSource:
    def __init__(self, row: Mapping[str, Any], settings: SourceSettings) -> None:
        self.folders = Folders((row.get("config") or {}).get("paths") or [])
        self.limit = settings.max_output_chars

    async def open(self) -> Sequence[SourceTool]:
        missing = [str(r) for r in self.folders.roots if not r.is_dir()]
        if missing:
            raise SourceError(f"folder(s) not found: {', '.join(missing)}",
                              field="config.paths")
        return TOOLS

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> str:
        return await asyncio.to_thread(self._call, tool, arguments)

    def _call(self, tool: str, args: Mapping[str, Any]) -> str:
        try:
            if tool == "list_files":
                return list_files(self.folders, args.get("path"), bool(args.get("recursive")))
            if tool == "read_file":
                return read_file(self.folders, str(args.get("path") or ""),
                                 max(0, int(args.get("offset") or 0)), self.limit)
            if tool == "search_files":
                return search_files(self.folders, args.get("query", ""), args.get("path"),
                                    args.get("glob"))
        except OSError as exc:
            raise SourceError(f"{tool} failed: {exc.strerror or exc}") from exc
        raise SourceError(f"unknown tool {tool!r} (list_files, read_file, search_files)")

    async def close(self) -> None:
        return None


class LocalKind:
    type = "local"

    def build(self, row: Mapping[str, Any], settings: SourceSettings) -> LocalSource:
        return LocalSource(row, settings)
