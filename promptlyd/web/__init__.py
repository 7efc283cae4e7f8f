"""The local dashboard: pages and the same API on an opt-in loopback TCP listener.

Owns: the listener (``listen``), login tokens, sessions and CSRF (``auth``), the
guard every request passes (``guard``), the in-process API client the pages use
(``apiclient``: validation messages are the API's own), the pages (``pages``),
templates, static files, Markdown rendering (``render``) and charts (``charts``).
Must not touch SQL (the store does), nor duplicate an API handler: the API app is
served as it is under ``/api/promptly/``, behind the session check.
"""
