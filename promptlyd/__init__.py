"""promptlyd: a lightweight, single-user scheduler daemon that runs AI tasks locally."""

from promptlyd._imports import defer_httpx_cli

__version__ = "0.1.0"

defer_httpx_cli()
