"""Keep third-party imports from pulling in what we never use.

httpx imports its own command-line client (``httpx._main``: rich, pygments, click's
help formatting) whenever those happen to be installed — about 40 ms of every
``promptly`` command and some megabytes of the daemon, for a CLI we never run.
``defer_httpx_cli`` puts a stand-in for ``httpx._main`` in place before httpx is
first imported; its ``main`` loads the real one if anything ever calls it.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_NAME = "httpx._main"


def defer_httpx_cli() -> None:
    if "httpx" in sys.modules or _NAME in sys.modules:
        return  # too late (or done): httpx was imported the usual way
    stand_in = types.ModuleType(_NAME, "stand-in: the real module loads on first use")

    def main(*args: Any, **kwargs: Any) -> Any:
        del sys.modules[_NAME]
        import httpx._main as real

        return real.main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules[_NAME] = stand_in
