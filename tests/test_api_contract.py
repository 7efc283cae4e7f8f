"""The HTTP contract: the real daemon answers as its own ``openapi.json`` says.

A bounded, derandomized schemathesis run (positive data, a few cases per operation)
sends generated requests over the daemon's real Unix socket and checks every answer:
no 5xx, documented status codes and content types, bodies that match the documented
schemas. Then the two contract points it found: a 405 lists every method of its path
in ``Allow``, and a bad ``organizationId`` query is a documented 400.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from promptlyd.api.openapi import document
from tests.daemon_proc import DaemonProcess, isolated_daemon

ORG = "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"
CASES_PER_OPERATION = 10  # x 29 operations: a few hundred requests in all
# Billing answers 501 on purpose (not offered in local mode) and documents it.
# So does the dashboard's login link on a daemon whose dashboard is off (this one).
NOT_IMPLEMENTED_ON_PURPOSE = {"/api/promptly/billing/checkout", "/api/promptly/billing/portal",
                              "/api/promptly/dashboard/login"}


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' ``not_a_server_error``, except for the documented, deliberate 501s."""
    if response.status_code == 501 and case.operation.path in NOT_IMPLEMENTED_ON_PURPOSE:
        return None
    result: bool | None = checks.not_a_server_error(ctx, response, case)
    return result


def error_shaped(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx answer is ``{"error": {"type", "message", "field"?}}``."""
    if not 400 <= response.status_code < 500:
        return None
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err.get("type"), str) and isinstance(err.get("message"), str), err
    assert set(err) <= {"type", "message", "field"}, err
    return True


CHECKS = [no_server_error, error_shaped, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_headers_conformance,
          checks.response_schema_conformance]
SENT: list[tuple[str, str, int]] = []


@pytest.fixture(scope="module")
def contract_daemon() -> Iterator[DaemonProcess]:
    d, cleanup = isolated_daemon()
    d.start()
    yield d
    cleanup()


@pytest.fixture(scope="module")
def socket_client(contract_daemon: DaemonProcess) -> Iterator[httpx.Client]:
    with contract_daemon.client() as client:
        yield client


def _load_schema() -> Any:
    """The document, loaded with a fixed seed and bounded generation. It is built in this
    process (schemathesis' fixture-based loader does not work with pytest 9); the test
    below checks that the daemon serves exactly this document."""
    config = schemathesis.Config.from_dict({
        "seed": 20261201,
        "generation": {"mode": "positive", "max-examples": CASES_PER_OPERATION,
                       "deterministic": True, "database": "none", "no-shrink": True},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })
    return schemathesis.openapi.from_dict(json.loads(json.dumps(document())), config=config)


# An endless stream has no answer to validate: tests/test_events.py checks it.
schema = _load_schema().exclude(path="/api/promptly/events")


def test_the_daemon_serves_the_document_under_test(socket_client: httpx.Client) -> None:
    served = socket_client.get("/api/promptly/openapi.json").json()
    assert served == json.loads(json.dumps(document()))


@schema.parametrize()
@settings(max_examples=CASES_PER_OPERATION, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_the_daemon_keeps_its_documented_contract(case: Any,
                                                  socket_client: httpx.Client) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://localhost")
    body = kwargs.get("json") if "json" in kwargs else kwargs.get("data")
    request = {"json": body} if "json" in kwargs else {"content": body}
    response = socket_client.request(kwargs["method"], kwargs["url"],
                                     params=kwargs.get("params"),
                                     headers=kwargs.get("headers"), **request)
    SENT.append((kwargs["method"], case.operation.path, response.status_code))
    case.validate_response(response, checks=CHECKS)


def test_the_generated_run_was_real_and_bounded() -> None:
    """The run above sent requests to every kind of operation, and not too many."""
    if not SENT:
        pytest.skip("the schemathesis run was deselected")
    operations = {(method, path) for method, path, _ in SENT}
    assert len(operations) >= 25, operations
    assert len(SENT) <= 40 * CASES_PER_OPERATION
    assert any(200 <= status < 300 for _, _, status in SENT)


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/promptly/tasks", "GET, HEAD, POST"),
    ("/api/promptly/tasks/00000000-0000-4000-8000-000000000000", "GET, HEAD, PATCH, DELETE"),
    ("/api/promptly/sources/00000000-0000-4000-8000-000000000000", "GET, HEAD, PATCH, DELETE"),
    ("/api/promptly/skills", "GET, HEAD, POST"),
    ("/api/promptly/tasks/00000000-0000-4000-8000-000000000000/run", "POST"),
])
def test_a_405_lists_every_method_of_the_path(socket_client: httpx.Client, path: str,
                                              expected: str) -> None:
    r = socket_client.put(path, json={})
    assert r.status_code == 405
    assert r.headers["allow"] == expected
    err = r.json()["error"]
    assert err["type"] == "method_not_allowed" and "PUT" in err["message"]
    assert expected in err["message"]


LISTS_WITH_ORG = ["/api/promptly/tasks", "/api/promptly/sources", "/api/promptly/skills",
                  "/api/promptly/runs", "/api/promptly/stats", "/api/promptly/billing/status"]


@pytest.mark.parametrize("path", LISTS_WITH_ORG)
@pytest.mark.parametrize("org", ["", "org_abc123", "182bd5e5"])
def test_a_bad_organization_id_is_a_documented_400(socket_client: httpx.Client, path: str,
                                                   org: str) -> None:
    r = socket_client.get(path, params={"organizationId": org})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "organizationId"
    doc = socket_client.get("/api/promptly/openapi.json").json()
    responses = doc["paths"][path]["get"]["responses"]
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"}
    assert "organizationId" in {p["name"] for p in doc["paths"][path]["get"]["parameters"]}


@pytest.mark.parametrize("path", LISTS_WITH_ORG)
def test_any_uuid_is_the_local_organization(socket_client: httpx.Client, path: str) -> None:
    assert socket_client.get(path, params={"organizationId": ORG}).status_code == 200
    assert socket_client.get(path).status_code == 200


def test_every_documented_query_parameter_is_read_by_the_server(
        socket_client: httpx.Client) -> None:
    """A query parameter the document names is one the server checks (a bad one is a 400)."""
    doc = socket_client.get("/api/promptly/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                if param["in"] != "query":
                    continue
                url = path.replace("{taskId}", "00000000-0000-4000-8000-000000000000")
                r = socket_client.request(method, url, params={param["name"]: "not valid"})
                assert r.status_code == 400, (method, path, param["name"], r.text)
                assert "400" in op["responses"], (method, path)
