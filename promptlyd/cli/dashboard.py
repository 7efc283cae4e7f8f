"""``promptly dashboard``: a one-time login link for the local dashboard."""

from __future__ import annotations

import os
import sys

import click

from promptlyd.cli import common as c


def _has_display() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY")
                                            or os.environ.get("WAYLAND_DISPLAY"))


@click.command("dashboard")
@click.option("--no-open", is_flag=True, help="Only print the link, do not open a browser.")
@c.json_option
def dashboard(no_open: bool) -> None:
    """Print (and, with a display, open) a one-time login link to the dashboard."""
    link = c.client().request("POST", "/api/promptly/dashboard/login")

    def human() -> None:
        click.echo(link["url"])
        click.echo(f"(one-time link, valid until {c.when(link['expiresAt'])})", err=True)
        if not no_open and _has_display():
            import webbrowser

            webbrowser.open(link["url"])

    c.output(link, human)
