"""Schemathesis against the control plane of a live rack (loopback), from its own OpenAPI
document: generated requests, valid and not (with and without the token), for every operation
but the endless event stream. Bounded: a fixed number of examples per operation, no shrinking,
a timeout per request. No answer may be a 5xx: on a healthy rack neither an unhandled error nor
a BMC that does not answer (502) nor a refusal of the model's (501) has any business here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")  # the [test] extra installs it
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402

from emulator import topology  # noqa: E402
from emulator.harness import RackThread  # noqa: E402
from tests.test_control import rack_text  # noqa: E402

pytestmark = pytest.mark.timeout(600)

#: Examples per operation: enough to reach every field's bounds and types, bounded in time.
EXAMPLES = 25


@pytest.fixture(scope="module")
def live_rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RackThread]:
    rack = RackThread(
        topology.load_text(rack_text(), "<test>"),
        speed=20.0,
        state_dir=tmp_path_factory.mktemp("state"),
    )
    rack.start()
    try:
        yield rack
    finally:
        rack.close()


def _check(case: Any, rack: RackThread) -> None:
    headers = {"Authorization": f"Bearer {rack.token}"}
    response = case.call(base_url=rack.control_url, headers=headers, timeout=30)
    status = response.status_code
    described = f"{case.method} {case.formatted_path} {case.body!r} -> {status} {response.text}"
    assert status < 500, described
    if status >= 400:
        error = response.json()  # strict JSON, an {"error": ...} every time
        assert isinstance(error, dict) and error.get("error"), described
    # and without the token: a 401 (or a refusal of the request's shape before it)
    bare = case.call(base_url=rack.control_url, timeout=30)
    assert bare.status_code in (400, 401, 404, 405, 411, 413, 422), (described, bare.text)


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_generated_request_gets_a_server_error(live_rack: RackThread, mode: str) -> None:
    """Every operation of the OpenAPI document (but the endless stream), ``EXAMPLES`` cases
    each, valid (positive) or not (negative)."""
    schema = schemathesis.openapi.from_url(live_rack.control_url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path != "/events/stream"]
    assert len(operations) >= 14
    generation = schemathesis.GenerationMode(mode)
    exercised = 0
    for operation in operations:

        @given(operation.as_strategy(generation_mode=generation))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            _check(case, live_rack)

        try:
            run()
        except Unsatisfiable:
            # no invalid request exists for it (GET /status takes nothing to get wrong)
            assert mode == "negative", operation.label
            continue
        exercised += 1
    # negative: each operation with a body, a path or a query parameter to get wrong
    assert exercised >= (len(operations) if mode == "positive" else 8), exercised
