import pytest

from common import infra
from common.processes import free_port


def test_down_service_is_named_with_how_to_start_it() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(
        infra.ServiceUnavailable, match=r"RabbitMQ is not reachable at 127\.0\.0\.1:\d+.*rabbitmq-server"
    ):
        infra.require_rabbitmq(f"amqp://guest:guest@127.0.0.1:{port}/")


def test_real_services_are_up(amqp_url: str, redis_url: str, postgres_url: str) -> None:
    # the session fixtures raise ServiceUnavailable otherwise; this pins the defaults CI relies on
    assert amqp_url.startswith("amqp://") and redis_url.startswith("redis://") and postgres_url.startswith("postgresql")
