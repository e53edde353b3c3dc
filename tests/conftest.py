"""Fixtures shared by every test area: real infrastructure and the trained model."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from common import infra

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def run_id() -> str:
    """A prefix for queues, keys and schemas, so concurrent runs never collide."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def amqp_url() -> str:
    infra.require_rabbitmq()
    return infra.amqp_url()


@pytest.fixture(scope="session")
def redis_url() -> str:
    infra.require_redis()
    return infra.redis_url()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    infra.require_postgres()
    return infra.postgres_url()


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model `make test` trained before pytest started (trained here if pytest runs alone)."""
    from bot import paths

    if not paths.MODEL.exists():
        from bot.train import train

        train()
    return paths.MODEL
