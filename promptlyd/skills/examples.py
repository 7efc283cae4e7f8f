"""The example skills shipped with promptlyd, and copying them to a skills folder.

They live in the package (``promptlyd/examples/skills/``, package data) so an
installed promptlyd finds them; the repository's top-level ``skills/`` is a
symlink to that folder, so there is one copy. The folder's ``README.md`` is
for people browsing the repository and is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from promptlyd.files import atomic_write


def examples_folder() -> Traversable:
    return resources.files("promptlyd") / "examples" / "skills"


@dataclass
class InstallReport:
    installed: list[str] = field(default_factory=list)  # slugs
    skipped: list[str] = field(default_factory=list)  # slugs that already exist


def _files(entry: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """``(relative path, file)`` for every file below ``entry``; SKILL.md last."""
    if entry.is_file():
        return [(prefix + entry.name, entry)]
    out: list[tuple[str, Traversable]] = []
    for child in sorted(entry.iterdir(), key=lambda t: t.name):
        if not child.name.startswith((".", "__")):
            out += _files(child, f"{prefix}{entry.name}/")
    out.sort(key=lambda item: item[0].endswith("/SKILL.md"))
    return out


def example_slugs() -> list[str]:
    return sorted(e.name.removesuffix(".md") for e in examples_folder().iterdir()
                  if _is_skill(e))


def _is_skill(entry: Traversable) -> bool:
    if entry.name.startswith((".", "__")):
        return False
    if entry.is_file():
        return entry.name.endswith(".md") and entry.name.lower() != "readme.md"
    return (entry / "SKILL.md").is_file()


def install_examples(dest: Path, *, force: bool = False) -> InstallReport:
    """Copy each example skill into ``dest`` unless it is already there.

    A skill counts as there when ``<slug>.md`` or a ``<slug>/`` folder exists;
    ``force`` overwrites its files (other files in a folder stay). Each file
    is written atomically, so a watching daemon never reads half a file.
    """
    report = InstallReport()
    for entry in sorted(examples_folder().iterdir(), key=lambda t: t.name):
        if not _is_skill(entry):
            continue
        slug = entry.name.removesuffix(".md")
        if not force and ((dest / f"{slug}.md").exists() or (dest / slug).exists()):
            report.skipped.append(slug)
            continue
        for relative, file in _files(entry):
            atomic_write(dest / relative, file.read_text(encoding="utf-8"))
        report.installed.append(slug)
    return report
