"""docker/Dockerfile read as BuildKit reads it (tests/deploy/dockerfile.py): the targets, and what each one holds."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.dockerfile import DockerIgnore, Target, targets
from tests.deploy.images import DOCKERFILE, REPO_ROOT


def test_one_target_per_service_with_the_operators_command() -> None:
    commands = {t: Target.load(DOCKERFILE, REPO_ROOT, t).cmd for t in targets(DOCKERFILE)}
    assert commands["gateway"] == ["python", "-m", "connectors.whatsapp.gateway"]
    assert commands["actions"] == ["python", "-m", "actions.server", "-p", "5055"]
    assert commands["handoff"] == ["python", "-m", "handoff"]
    assert "exec rasa run --enable-api --auth-token" in commands["rasa"][-1]
    assert set(commands) == {"rasa", "gateway", "actions", "handoff", "accounts-api", "whatsapp-simulator"}


def test_service_images_run_as_the_app_user_without_build_steps() -> None:
    for name in targets(DOCKERFILE):
        target = Target.load(DOCKERFILE, REPO_ROOT, name)
        assert target.last("USER") is not None and target.last("USER").args == "app", name
        assert target.chain[0].base.startswith("python:3.10-slim"), name
        assert target.healthcheck, name


def test_the_rasa_tree_holds_everything_endpoints_and_credentials_name(tmp_path: Path) -> None:
    files = set(Target.load(DOCKERFILE, REPO_ROOT, "rasa").lay_out(tmp_path, {"model": REPO_ROOT}))
    for needed in ("bot/stores.py", "handoff/event_broker.py", "handoff/topology.py", "connectors/rest.py",
                   "connectors/whatsapp/channel.py", "common/logs.py", "endpoints.yml", "credentials.yml",
                   "config.yml", "models/current.tar.gz"):
        assert needed in files, needed
    assert not any(f.startswith(("tests/", "actions/", "standins/", "docs/")) for f in files)
    assert (tmp_path / "var").is_dir()  # RUN mkdir -p /app/var


def test_dockerignore_rules_as_buildkit_applies_them(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("**/__pycache__\n*.db\nmodels\n!models/keep.txt\n/var\n")
    ignore = DockerIgnore(tmp_path / "docker" / "Dockerfile", tmp_path)
    assert ignore.excluded("handoff/__pycache__/app.cpython-310.pyc")
    assert ignore.excluded("a.db") and not ignore.excluded("sub/a.db")
    assert ignore.excluded("models/current.tar.gz") and not ignore.excluded("models/keep.txt")
    assert ignore.excluded("var/x") and not ignore.excluded("handoff/var.py")
    (tmp_path / "docker" / "Dockerfile.dockerignore").write_text("only-this\n")
    beside = DockerIgnore(tmp_path / "docker" / "Dockerfile", tmp_path)  # BuildKit: the Dockerfile's own wins
    assert beside.excluded("only-this") and not beside.excluded("a.db")
