"""promptlyd: a lightweight, single-user scheduler daemon that runs AI tasks locally."""

__version__ = "0.1.0"
