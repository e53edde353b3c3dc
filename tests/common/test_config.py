import pytest

from common.config import ConfigError, env_bool, env_int, env_secret, env_str


def test_defaults_and_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_TEST_VAR", raising=False)
    assert env_str("X_TEST_VAR", "d") == "d"
    monkeypatch.setenv("X_TEST_VAR", "42")
    assert env_int("X_TEST_VAR", 1) == 42
    monkeypatch.setenv("X_TEST_VAR", "yes")
    assert env_bool("X_TEST_VAR", False) is True


def test_malformed_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST_VAR", "many")
    with pytest.raises(ConfigError, match="X_TEST_VAR"):
        env_int("X_TEST_VAR", 1)


def test_placeholder_secrets_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_SECRET", raising=False)
    monkeypatch.setenv("APP_ENV", "development")
    assert env_secret("X_SECRET", "dev-secret") == "dev-secret"
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.raises(ConfigError, match="X_SECRET"):
        env_secret("X_SECRET", "dev-secret")
    monkeypatch.setenv("X_SECRET", "s3cr3t-from-vault")
    assert env_secret("X_SECRET", "dev-secret") == "s3cr3t-from-vault"
