"""The handoff service's probes (handoff/health.py) on real processes, RabbitMQ, Redis and PostgreSQL.

A dependency is made to fail the way the brief allows: the service reaches it through a local TCP forwarder
(tests/support/forwarder.py) whose port is then closed (and its open connections cut), so the service's URL
points at a closed port; nothing of the shared infrastructure is stopped. Opening the port again brings the
dependency back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e_support.stack import http_json
from tests.handoff.conftest import handoff_service
from tests.support.forwarder import Forwarder, forwarder_for


def readiness(base: str) -> tuple[int, Any]:
    status, body, _ = http_json("GET", f"{base}/health/ready", timeout=10)
    return status, body


def wait_readiness(base: str, expected: int, timeout: float = 60.0) -> Any:
    """Poll /health/ready until it answers `expected`; its last body."""
    deadline = time.monotonic() + timeout
    status, body = readiness(base)
    while status != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        status, body = readiness(base)
    assert status == expected, f"/health/ready stayed {status}: {body}"
    return body


@pytest.fixture
def forwarders(pg_url: str, amqp_url: str, redis_url: str) -> Iterator[dict[str, Forwarder]]:
    found = {"database": forwarder_for(pg_url, 5432), "rabbitmq": forwarder_for(amqp_url, 5672),
             "redis": forwarder_for(redis_url, 6379)}
    yield found
    for forwarder in found.values():
        forwarder.close()


def test_ready_with_every_dependency_up_also_a_replica_waiting_in_line(
    pg_url: str, amqp_url: str, redis_url: str, amqp_names: dict[str, str]
) -> None:
    """Two replicas on the same partitions without a group: the first is every partition's active consumer,
    the second only waits in line (single active consumer), and is ready all the same."""
    first = handoff_service("handoff-ready-1", database_url=pg_url, amqp_url=amqp_url, names=amqp_names)
    second = handoff_service("handoff-ready-2", database_url=pg_url, amqp_url=amqp_url, names=amqp_names)
    with first, second:
        for replica in (first, second):
            body = wait_readiness(replica.url, 200)
            assert body == {"status": "ready", "problems": []}
        assert http_json("GET", f"{first.url}/health")[1]["ingest"]["partitions_owned"] == [0, 1, 2, 3]


def test_not_ready_names_the_part_whose_port_is_closed_and_recovers(
    pg_url: str, amqp_url: str, redis_url: str, amqp_names: dict[str, str], forwarders: dict[str, Forwarder]
) -> None:
    service = handoff_service(
        "handoff-ready-faults", database_url=forwarders["database"].url(pg_url),
        amqp_url=forwarders["rabbitmq"].url(amqp_url), names=amqp_names,
        REDIS_URL=forwarders["redis"].url(redis_url),
    )
    with service:
        wait_readiness(service.url, 200)
        for part, forwarder in forwarders.items():
            forwarder.close()
            body = wait_readiness(service.url, 503)
            assert body["status"] == "unavailable"
            assert [p for p in body["problems"] if p.startswith(f"{part}: ")], body
            assert http_json("GET", f"{service.url}/health")[0] == 200  # liveness asks no dependency
            forwarder.open()
            wait_readiness(service.url, 200, timeout=90)  # aio-pika reconnects after 5 s, then restores consumers
