"""The daemon process: start-up and shutdown (``main``), the subsystems wired from
one config and the list reload walks (``services``), the API server on the Unix
socket (``server``), the one-daemon-per-database lock (``lock``), systemd's
readiness protocol (``sdnotify``), logging (``logs``) and the one reload path
(``reload``: every subsystem's ``apply(config)``).

Wires the subsystems together and owns their lifetimes; it holds no business
logic of its own (no schedule math, no run execution, no SQL).
"""

from __future__ import annotations

from promptlyd.daemon.main import main

__all__ = ["main"]
