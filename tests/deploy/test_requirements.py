"""Each image installs a lock of its own: hashed, runtime only, and the same versions and files as the development
lock the tests run on (scripts/lock.sh generates them; docs/deploy.md, "Dependencies")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.dockerfile import Target, targets
from tests.deploy.images import DOCKERFILE, REPO_ROOT

DEV_LOCK = REPO_ROOT / "requirements.lock"
DEV_ONLY = re.compile(r"^(pytest.*|ruff|mypy|mypy-extensions|playwright|types-.*|iniconfig|pluggy-.*)$")
RASA_PINS = {"pydantic": r"1\.10\.", "sqlalchemy": r"1\.4\.", "sanic": r"21\.12\.", "aio-pika": r"8\.2\.3$",
             "redis": r"4\.", "protobuf": r"4\.23\."}


def parse_lock(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """{normalised name: (version, hashes)}; fails on a requirement without hashes."""
    packages: dict[str, tuple[str, frozenset[str]]] = {}
    text = path.read_text()
    for block in re.split(r"\n(?=[a-zA-Z0-9])", text):
        first = block.split("\n", 1)[0]
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", first)
        if not match:
            continue
        hashes = frozenset(re.findall(r"--hash=(sha256:[0-9a-f]{64})", block))
        assert hashes, f"{path.name}: {match.group(1)} has no hash"
        packages[re.sub(r"[-_.]+", "-", match.group(1).lower())] = (match.group(2), hashes)
    return packages


def image_locks() -> dict[str, Path]:
    return {target: Target.load(DOCKERFILE, REPO_ROOT, target).lock() for target in targets(DOCKERFILE)}


def test_each_image_installs_its_own_lock() -> None:
    locks = image_locks()
    assert set(locks) == {"rasa", "gateway", "actions", "handoff", "accounts-api", "whatsapp-simulator"}
    for target, lock in locks.items():
        assert lock == REPO_ROOT / "requirements" / f"{target}.lock"
        assert lock.exists() and (REPO_ROOT / "requirements" / f"{target}.in").exists()


@pytest.mark.parametrize("target", sorted(image_locks()))
def test_image_lock_is_runtime_only_and_agrees_with_the_dev_lock(target: str) -> None:
    dev = parse_lock(DEV_LOCK)
    lock = parse_lock(image_locks()[target])
    assert "prometheus-client" in lock
    assert not [name for name in lock if DEV_ONLY.match(name)], "test or lint tools in an image"
    for name, (version, hashes) in lock.items():
        assert name in dev, f"{name} is not in requirements.lock"
        assert version == dev[name][0], f"{name}: {version} here, {dev[name][0]} in requirements.lock"
        assert hashes <= dev[name][1], f"{name}: files the development venv never installed"
    for name, pattern in RASA_PINS.items():
        if name in lock:
            assert re.match(pattern, lock[name][0]), f"{name} {lock[name][0]}: Rasa 3.6 needs {pattern}"
    requested = {re.sub(r"[-_.]+", "-", re.split(r"[\s=<>\[;#]", line, maxsplit=1)[0].lower())
                 for line in (REPO_ROOT / "requirements" / f"{target}.in").read_text().splitlines()
                 if line.strip() and not line.startswith("#")}
    assert requested <= set(lock), requested - set(lock)


def test_the_gateway_leaves_the_machine_learning_stack_out() -> None:
    gateway = parse_lock(image_locks()["gateway"])
    assert "rasa" in gateway
    assert not {"tensorflow", "keras", "jax", "jaxlib", "scikit-learn", "spacy"} & set(gateway)


def test_the_dev_lock_has_every_image_lock_and_the_tools() -> None:
    dev = parse_lock(DEV_LOCK)
    for name in ("pytest", "ruff", "mypy", "playwright", "spacy-lookups-data", "prometheus-client"):
        assert name in dev, name
    included = {line.split()[1] for line in (REPO_ROOT / "requirements.in").read_text().splitlines()
                if line.startswith("-r ")}
    assert included == {f"requirements/{t}.in" for t in image_locks()}
