"""``promptly stats`` and ``promptly billing``: what has run, and what it cost."""

from __future__ import annotations

import click

from promptlyd.cli import common as c


@click.command("stats")
@c.json_option
def stats() -> None:
    """Count tasks, runs, successes, failures, tokens and cost."""
    result = c.client().promptly.get_stats()
    c.output(result, lambda: c.details([
        ("Tasks", f"{result.total_tasks} ({result.active_tasks} active)"),
        ("Runs", result.total_runs),
        ("Succeeded", result.successful_runs),
        ("Failed", result.failed_runs),
        ("Tokens", result.total_tokens_used),
        ("Cost", c.cost(result.total_cost_cents)),
    ]))


billing = c.group("billing", "Billing: this month's usage and budgets.",
                  default="status")


@billing.command("status")
@c.json_option
def status() -> None:
    """Show this month's runs and cost against [budget] in the config."""
    result = c.client().promptly.billing.get_status()

    def human() -> None:
        limit = "unlimited" if result.runs_limit is None else str(result.runs_limit)
        budget = (c.cost(result.monthly_budget_cents)
                  if result.monthly_budget_cents is not None else "none")
        c.details([
            ("Plan", result.plan),
            ("Period start", c.when(result.billing_period_start)),
            ("Runs", f"{result.runs_used} of {limit}"),
            ("Cost", f"{c.cost(result.usage_cost_cents)} (budget: {budget})"),
            ("Active tasks", result.tasks_count),
        ])

    c.output(result, human)
