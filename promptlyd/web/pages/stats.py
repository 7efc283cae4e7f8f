"""Stats (``/stats``): the API's totals, and runs, failures, tokens and cost per day."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from promptlyd.timeutil import iso
from promptlyd.web.charts import bar_chart, day_start, per_day
from promptlyd.web.pages.common import failed, page, web_of

DAYS = 30


async def stats(request: Request) -> Response:
    from zoneinfo import ZoneInfo

    from markupsafe import Markup

    web = web_of(request)
    totals = await web.api.get("/stats")
    if not totals.ok:
        return failed(request, totals)
    zone = web.ctx.config.timezone
    today = web.ctx.clock.now().astimezone(ZoneInfo(zone)).date()
    since = iso(day_start(today, DAYS, zone))
    rows = await web.ctx.store.read(lambda s: s.run_usage_since(since))
    days = per_day(rows, zone, today, DAYS)
    labels = [f"{d.day:%b %d}" for d in days]
    charts = [
        ("Runs per day (failures in red)",
         bar_chart("Runs per day", labels, [d.runs for d in days],
                   highlight=[d.failed for d in days])),
        ("Failures per day", bar_chart("Failures per day", labels, [d.failed for d in days])),
        ("Tokens per day", bar_chart("Tokens per day", labels, [d.tokens for d in days])),
        ("Cost per day", bar_chart("Cost per day (cents)", labels, [d.cents for d in days],
                                   unit="¢")),
    ]
    return page(request, "stats.html", title="Stats", totals=totals.data, days=days,
                charts=[(title, Markup(svg)) for title, svg in charts], span=DAYS)


routes = [Route("/stats", stats, methods=["GET"])]
