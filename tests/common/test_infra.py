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


def test_every_service_that_is_down_is_named_in_one_message() -> None:
    rabbit, postgres = free_port(), free_port()  # nothing listens on either
    with pytest.raises(infra.ServiceUnavailable) as raised:
        infra.require_all(
            amqp=f"amqp://guest:guest@127.0.0.1:{rabbit}/",
            redis=infra.redis_url(),  # up: not mentioned
            postgres=f"postgresql://postgres@127.0.0.1:{postgres}/test",
        )
    message = str(raised.value)
    assert message.startswith("2 services are down")
    assert f"RabbitMQ is not reachable at 127.0.0.1:{rabbit}" in message and "rabbitmq-server -detached" in message
    assert f"PostgreSQL is not reachable at 127.0.0.1:{postgres}" in message and "pg_ctlcluster" in message
    assert "Redis" not in message
    assert "AMQP_URL" in message and "TEST_DATABASE_URL" in message


def test_require_all_passes_when_everything_is_up(amqp_url: str, redis_url: str, postgres_url: str) -> None:
    infra.require_all()
