"""What gets delivered (pure): a task's ``deliverOn`` applied to one finished run."""

from __future__ import annotations

DELIVER_ON = ("always", "changed", "failure")
DEFAULT_DELIVER_ON = "always"


def skip_reason(deliver_on: str | None, *, failed: bool, output: str | None,
                last_sent: str | None, sent_before: bool) -> str | None:
    """Why this run is not sent to a destination, or None when it is.

    ``always``: every finished run. ``changed``: a completed run only when its output
    differs from the last one sent there (``sent_before``/``last_sent``); failures
    always. ``failure``: failed runs only. A failure is never skipped.
    """
    mode = deliver_on or DEFAULT_DELIVER_ON
    if failed:
        return None
    if mode == "failure":
        return 'deliverOn is "failure" and the run completed'
    if mode == "changed" and sent_before and output == last_sent:
        return 'deliverOn is "changed" and the output is the same as the last one delivered'
    return None
