"""The HTTP API on the Unix socket: the Starlette app (``app``), request helpers
(``http``), the routes by resource (``tasks``, ``library``, ``misc``) and the
OpenAPI document (``openapi``).

Translates HTTP to calls on the store, the executor and the skills writer and back;
it validates through :mod:`promptlyd.shapes` and holds no SQL and no schedule math.
"""
