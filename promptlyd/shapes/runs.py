"""The TaskRun response shape (the seeds' fields plus what a local daemon records)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptlyd.shapes.common import omit_none


def run_to_api(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "completedAt": row.get("completed_at"),
        "costCents": row.get("cost_cents"),
        "createdAt": row["created_at"],
        "deliveryStatus": row.get("delivery_status"),
        "durationMs": row.get("duration_ms"),
        "error": row.get("error"),
        "output": row.get("output"),
        "startedAt": row.get("started_at"),
        "status": row["status"],
        "taskId": row["task_id"],
        "tokensUsed": row.get("tokens_used"),
        # promptlyd additions
        "trigger": row.get("trigger"),
        "scheduledFor": row.get("scheduled_for"),
        "model": row.get("model"),
        "inputTokens": row.get("input_tokens"),
        "outputTokens": row.get("output_tokens"),
        "tokensEstimated": row.get("tokens_estimated"),
        "renderedPrompt": row.get("rendered_prompt"),
        "toolCalls": row.get("tool_calls"),
        "deliveries": row.get("deliveries"),
    }
    return omit_none(out)
