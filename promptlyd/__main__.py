"""``python -m promptlyd``: the ``promptly`` command-line client."""

from __future__ import annotations

from promptlyd.cli import main

if __name__ == "__main__":
    main()
