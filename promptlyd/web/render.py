"""Templates (Jinja2, autoescaped), Markdown that cannot run script, and display filters.

A model's output is rendered with markdown-it-py with raw HTML off and links
(and images) limited to http(s) and mailto; the page's Content-Security-Policy
allows no inline script either, so ``<script>`` in an output is shown as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup

from promptlyd.timeutil import wall_clock

SAFE_SCHEMES = ("http://", "https://", "mailto:")


def markdown_renderer() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

    def validate_link(url: str) -> bool:
        return url.strip().lower().startswith(SAFE_SCHEMES)

    md.validateLink = validate_link  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return str(renderer.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    return md


def instant(stamp: str | None, zone: str | None = None, never: str = "—") -> str:
    """``2026-12-02 07:30 CET``: an API instant in ``zone`` (else UTC), saying which."""
    if not stamp:
        return never
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return wall_clock(moment, zone, fallback_utc=True)


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60)} s"


def cost(cents: float | None) -> str:
    if cents is None:
        return "—"
    return f"${cents / 100:.4f}" if cents else "$0"


def short(item_id: str | None) -> str:
    return (item_id or "")[:8]


def _defined(fn: Any) -> Any:
    """The filter, given None for a field the API left out (an undefined value)."""
    import jinja2

    def wrapped(value: Any, *args: Any) -> Any:
        return fn(None if isinstance(value, jinja2.Undefined) else value, *args)
    return wrapped


class Renderer:
    """The template environment of one dashboard (templates and filters)."""

    def __init__(self) -> None:
        import jinja2

        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("promptlyd.web", "templates"),
            autoescape=True,
            trim_blocks=True, lstrip_blocks=True,
        )
        self._md = markdown_renderer()
        filters = {"instant": instant, "duration": duration, "cost": cost, "short": short,
                   "markdown": self.markdown}
        self.env.filters.update({name: _defined(fn) for name, fn in filters.items()})

    def markdown(self, text: str | None) -> Markup:
        return Markup(self._md.render(text or ""))  # raw HTML off: the output is escaped

    def render(self, template: str, **values: Any) -> str:
        return self.env.get_template(template).render(**values)
