"""Checks that responses have the seeds' documented shapes.

The seed examples (tests/data/seed_examples.json) are the 'Returns Examples'
JSON of seeds 001/003/004, copied verbatim; the run/stats/billing/model field
lists are the ones seed 000 documents.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

SEED = json.loads((Path(__file__).parent / "data" / "seed_examples.json").read_text())
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

RUN_FIELDS = {"id", "completedAt", "costCents", "createdAt", "deliveryStatus", "durationMs",
              "error", "output", "startedAt", "status", "taskId", "tokensUsed"}
STATS_FIELDS = {"activeTasks", "failedRuns", "successfulRuns", "totalCostCents", "totalRuns",
                "totalTasks", "totalTokensUsed"}
BILLING_FIELDS = {"billingPeriodStart", "plan", "runsLimit", "runsUsed", "stripeCustomerId",
                  "stripeSubscriptionId", "tasksCount", "tasksLimit", "usageCostCents",
                  "usageCreditsCents", "usersCount", "usersLimit"}
MODEL_FIELDS = {"id", "codingIndex", "contextLength", "intelligenceIndex", "name",
                "openRouterId", "outputSpeed", "powerTier", "provider",
                "supportsInternetSearch", "supportsToolCalling"}

# What promptlyd adds (SPEC §3, §5), per shape.
ADDITIONS = {
    "task": {"isActive", "hourlyInterval", "scheduledDate", "catchUpWindowHours", "deliverOn"},
    "skill": {"problem", "path"},
    "source": set(),
    "run": {"trigger", "scheduledFor", "model", "inputTokens", "outputTokens",
            "tokensEstimated", "renderedPrompt", "toolCalls", "deliveries"},
    "billing": {"monthlyBudgetCents"},
    "model": {"inputPricePerMillion", "outputPricePerMillion", "local", "available", "discovered",
              "availabilityReason"},
}
REQUIRED = {
    "task": {"id", "createdAt", "model", "name", "prompt", "schedule", "status", "lastRunAt",
             "nextRunAt"},
    "skill": {"id", "content", "name"},
    "source": {"id", "config", "name", "type"},
}
TIME_FIELDS = {"createdAt", "updatedAt", "lastRunAt", "nextRunAt", "lastConnectedAt",
               "startedAt", "completedAt", "scheduledFor", "billingPeriodStart"}
ID_FIELDS = {"id", "organizationId", "taskId"}


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def check_common(obj: dict[str, Any], *, uuid_ids: bool = True) -> None:
    for key, value in obj.items():
        if key in TIME_FIELDS and value is not None:
            assert TIME_RE.match(value), f"{key}={value!r} is not RFC 3339 UTC with ms and Z"
        if key in ID_FIELDS and uuid_ids:
            assert str(uuid.UUID(value)) == value, f"{key}={value!r} is not a UUID"
        assert value is not None or key in ("lastRunAt", "nextRunAt", "runsLimit"), (
            f"{key} is null; optional fields without a value are left out")


def check_like_seed(kind: str, obj: dict[str, Any]) -> None:
    """Every field is the seed's (same JSON type) or a documented addition."""
    seed = SEED[kind]
    check_common(obj)
    missing = REQUIRED[kind] - obj.keys()
    assert not missing, f"{kind} lacks {missing}"
    for key, value in obj.items():
        assert key in seed or key in ADDITIONS[kind], f"{kind} has unexpected field {key!r}"
        if key in seed and value is not None:
            assert json_type(value) == json_type(seed[key]), (
                f"{kind}.{key}: {json_type(value)} where the seed has {json_type(seed[key])}")
    for sub, sub_kind in (("skills", "skill"), ("sources", "source")):
        for item in obj.get(sub, []) if kind == "task" else []:
            check_like_seed(sub_kind, item)


def check_fields(kind: str, obj: dict[str, Any], documented: set[str]) -> None:
    check_common(obj, uuid_ids=kind != "model")
    extra = obj.keys() - documented - ADDITIONS.get(kind, set())
    assert not extra, f"{kind} has undocumented fields {extra}"
