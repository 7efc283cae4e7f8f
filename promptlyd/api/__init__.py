"""The HTTP API served on the Unix socket (Starlette app + uvicorn server)."""
