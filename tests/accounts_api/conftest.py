"""One real stand-in process for the module's tests (SQLite in a temp dir, small seed, OTP read-back on)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e_support.stack import AccountsApi, start_accounts_api


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccountsApi]:
    started = start_accounts_api(tmp_path_factory.mktemp("accounts_api"), name="accounts-api-tests")
    yield started
    started.process.stop()


@pytest.fixture(autouse=True)
def clean_faults(api: AccountsApi) -> Iterator[None]:
    """Every test starts and ends with no injected faults."""
    api.reset_faults()
    yield
    api.reset_faults()
