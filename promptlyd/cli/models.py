"""``promptly models …``: the models tasks can use (catalog plus local servers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from promptlyd.cli import common as c

if TYPE_CHECKING:
    from promptlyd.client import Model

models = c.group("models", "Models: the catalog and local servers.")


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _availability(model: Model) -> str:
    if model.available is None:
        return "-"
    return "yes" if model.available else "no"


@models.command("list")
@click.option("--provider", metavar="NAME", help="Only this provider's models, e.g. ollama.")
@c.json_option
def list_models(provider: str | None) -> None:
    """List models with context size, tool support and prices ($ per million tokens)."""
    items = c.client().promptly.models.list()
    if provider is not None:
        items = [m for m in items if m.provider == provider]

    def human() -> None:
        rows = [[m.id or "-", f"{m.context_length:,}" if m.context_length else "-",
                 c.yes_no(m.supports_tool_calling), _price(m.input_price_per_million),
                 _price(m.output_price_per_million), c.yes_no(m.local), _availability(m)]
                for m in items]
        c.table(["ID", "CONTEXT", "TOOLS", "IN $/M", "OUT $/M", "LOCAL", "AVAILABLE"], rows,
                empty=f"No models{f' from provider {provider!r}' if provider else ''}.")

    c.output(items, human)


@models.command("show")
@click.argument("model_id", metavar="ID")
@c.json_option
def show(model_id: str) -> None:
    """Show a model: provider/model (slashes and all), or a bare catalog name."""
    model = c.client().promptly.models.retrieve(model_id)

    def human() -> None:
        c.details([
            ("ID", model.id),
            ("Name", model.name),
            ("Provider", model.provider),
            ("Context", f"{model.context_length:,} tokens" if model.context_length else None),
            ("Power tier", model.power_tier),
            ("Tool calling", c.yes_no(model.supports_tool_calling)),
            ("Web search", c.yes_no(model.supports_internet_search)),
            ("Price in", f"${_price(model.input_price_per_million)} per million tokens"
             if model.input_price_per_million is not None else None),
            ("Price out", f"${_price(model.output_price_per_million)} per million tokens"
             if model.output_price_per_million is not None else None),
            ("Local", c.yes_no(model.local)),
            ("Available", None if model.available is None else (
                _availability(model) + (f" ({model.availability_reason})"
                                        if model.availability_reason else ""))),
            ("OpenRouter id", model.open_router_id),
        ])

    c.output(model, human)
