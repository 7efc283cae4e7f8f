"""Stateful fuzzing over the socket: schemathesis follows the document's OpenAPI links
(create a task → get, patch, run, delete it; run → get the run; create a source or a
skill → its operations), mixing valid and invalid data. Every answer: no 5xx (the
deliberate 501s aside), documented status and schema, and every 4xx in the error shape.

Bounded in the default run (a few hundred requests); ``--runslow`` runs thousands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks
from schemathesis.core.transport import Response

from promptlyd.api.openapi import LINKS, document
from tests.daemon_proc import DaemonProcess, isolated_daemon
from tests.test_api_contract import error_shaped, no_server_error

SENT: list[tuple[str, str, int]] = []


CHECKS = [no_server_error, error_shaped, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


def _schema() -> Any:
    config = schemathesis.Config.from_dict({
        "seed": 20261124,
        "generation": {"mode": "all", "database": "none", "no-shrink": True},
    })
    return schemathesis.openapi.from_dict(json.loads(json.dumps(document())), config=config)


@pytest.fixture(scope="module")
def stateful_daemon() -> Iterator[DaemonProcess]:
    d, cleanup = isolated_daemon('log_level = "WARNING"\n')
    d.start()
    yield d
    cleanup()


def machine(client: httpx.Client) -> Any:
    base = _schema().as_state_machine()

    class OverTheSocket(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            """Each scenario starts from an empty daemon (what one made, the next can't
            trip over: a duplicate slug, a run still running)."""
            for kind in ("tasks", "skills", "sources"):
                for item in client.get(f"/api/promptly/{kind}").json():
                    client.delete(f"/api/promptly/{kind}/{item['id']}")

        def call(self, case: Any, **kwargs: Any) -> Any:
            kw = case.as_transport_kwargs(base_url="http://localhost")
            body = kw.get("json") if "json" in kw else kw.get("data")
            request = {"json": body} if "json" in kw else {"content": body}
            answer = client.request(kw["method"], kw["url"], params=kw.get("params"),
                                    headers=kw.get("headers"), **request)
            SENT.append((kw["method"], case.operation.path, answer.status_code))
            return Response.from_httpx(answer, verify=False)

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    return OverTheSocket


def run_machine(daemon: DaemonProcess, examples: int, steps: int) -> None:
    SENT.clear()
    with daemon.client() as client:
        machine(client).run(settings=settings(
            max_examples=examples, stateful_step_count=steps, database=None, deadline=None,
            derandomize=True,
            # generate only: replaying a scenario against a live daemon is not exact
            # (a run may still be running), which Hypothesis would call flaky
            phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
    assert "bug while serving" not in daemon.log()


def test_the_document_links_every_create_to_its_operations() -> None:
    ops = {op["operationId"] for item in document()["paths"].values() for op in item.values()}
    for source, links in LINKS.items():
        assert source in ops
        for link in links.values():
            assert link["operationId"] in ops, link


def test_following_links_keeps_the_contract(stateful_daemon: DaemonProcess) -> None:
    run_machine(stateful_daemon, examples=40, steps=8)
    # the links were really followed: an id one call made was used by another, with 2xx
    followed = {(m, p) for m, p, s in SENT if "{" in p and s < 300}
    print(f"\nstateful: {len(SENT)} requests; followed with 2xx: {sorted(followed)}")
    assert len(SENT) <= 1500
    # ids are random UUIDs: a 2xx on an id path (models aside: their ids are names)
    # means the id came from an earlier call's answer, through a link
    assert followed - {("GET", "/api/promptly/models/{modelId}")}, sorted(set(SENT))
    assert any(400 <= s < 500 for _, _, s in SENT)  # invalid data was sent too


@pytest.mark.slow
def test_following_links_keeps_the_contract_thousands(stateful_daemon: DaemonProcess) -> None:
    run_machine(stateful_daemon, examples=500, steps=12)
