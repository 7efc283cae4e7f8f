"""The ``promptlyd`` that belongs to the running ``promptly``."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from promptlyd.errors import ServiceError


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def candidates(argv0: str, python: str, *, search_path: bool = True) -> list[Path]:
    """Where to look, best first: beside the running ``promptly`` script (a venv's or
    pipx's bin, ``~/.local/bin``), beside the interpreter (a venv run as ``python -m``),
    the scripts folder of a ``--user`` install, then ``$PATH``."""
    out: list[Path] = []
    if argv0 and os.path.basename(argv0).startswith("promptly"):
        out.append(Path(os.path.abspath(argv0)).parent / "promptlyd")
    out.append(Path(python).parent / "promptlyd")
    if not search_path:
        return out
    user = sysconfig.get_path("scripts", f"{os.name}_user")
    if user:
        out.append(Path(user) / "promptlyd")
    found = shutil.which("promptlyd")
    if found:
        out.append(Path(found))
    return out


def find_promptlyd(argv: Sequence[str] | None = None, python: str | None = None, *,
                   search_path: bool = True) -> Path:
    argv = sys.argv if argv is None else argv
    looked = candidates(argv[0] if argv else "", python or sys.executable,
                        search_path=search_path)
    for path in looked:
        if _runnable(path):
            return Path(os.path.abspath(path))
    where = ", ".join(str(p) for p in dict.fromkeys(looked))
    raise ServiceError(f"cannot find the promptlyd program (looked at {where}); install "
                       "promptlyd into the same environment as promptly (`pip install .`)")
