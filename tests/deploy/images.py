"""An image's contents without a container engine: its file tree, its venv, its command, run as a process.

`ImageTree.build(target, workdir)` lays out the target's /app exactly as docker/Dockerfile's COPY lines say
(tests/deploy/dockerfile.py), installs the lock its deps stage installs into a venv of its own (cached under
build/image-venvs/ by the lock's hash, `uv pip sync --require-hashes`, as the image does), and `start()` runs
the image's CMD the way a container would: cwd = the tree, the image's ENV with /app and /opt/venv mapped to the
tree and the venv (so PYTHONPATH is the tree only and `python` is the venv's), no variable inherited from the
test process, plus the settings the test passes. The exposed port is replaced by a free one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from common.processes import free_port, wait_http
from tests.deploy.dockerfile import Target

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
VENV_CACHE = REPO_ROOT / "build" / "image-venvs"
LOG_DIR = REPO_ROOT / ".test-logs"


def uv_binary() -> str:
    found = shutil.which("uv") or str(REPO_ROOT / ".tools" / "uv" / "bin" / "uv")
    if not Path(found).exists():
        raise RuntimeError("uv is missing: run scripts/bootstrap.sh (it installs uv into .tools/uv)")
    return found


def base_python() -> str:
    """The interpreter the development venv was made from (Python 3.10, as in the python:3.10-slim images)."""
    for name in ("python3.10", "python3"):
        candidate = Path(sys.base_prefix) / "bin" / name
        if candidate.exists():
            return str(candidate)
    return sys.executable


def image_venv(lock: Path) -> Path:
    """A venv holding exactly `lock` (hash-checked), reused while the lock is unchanged."""
    digest = hashlib.sha256(lock.read_bytes() + base_python().encode()).hexdigest()[:12]
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    venv = VENV_CACHE / f"{lock.stem}-{digest}"
    with open(VENV_CACHE / ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # another test run may be building the same venv
        if (venv / ".complete").exists():
            return venv
        for stale in VENV_CACHE.glob(f"{lock.stem}-*"):  # an older lock's venv, or an interrupted build
            if re.fullmatch(r"[0-9a-f]{12}", stale.name.removeprefix(f"{lock.stem}-")):
                shutil.rmtree(stale, ignore_errors=True)
        uv = uv_binary()
        subprocess.run([uv, "venv", "--quiet", "--python", base_python(), str(venv)], check=True)
        subprocess.run(
            [uv, "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"), "--require-hashes", str(lock)],
            check=True,
        )
        (venv / ".complete").write_text(lock.name)
    return venv


def _substitute_port(text: str, old: int, new: int) -> str:
    return re.sub(rf"(?<![0-9]){old}(?![0-9])", str(new), text)


@dataclass
class ImageTree:
    """One target laid out on disk, with its venv and the port its process will listen on."""

    target: Target
    root: Path
    home: Path
    venv: Path
    port: int
    files: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, name: str, workdir: Path, stage_files: Mapping[str, Path] | None = None) -> ImageTree:
        target = Target.load(DOCKERFILE, REPO_ROOT, name)
        root, home = workdir / name / "app", workdir / name / "home"
        root.mkdir(parents=True)
        home.mkdir(parents=True)
        files = target.lay_out(root, dict(stage_files or {}))
        return cls(target, root, home, image_venv(target.lock()), free_port(), files)

    @property
    def exposed(self) -> int:
        (port,) = self.target.exposed
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self, settings: Mapping[str, str]) -> dict[str, str]:
        """What the container's process would see: the image's ENV (paths mapped), then `settings`."""
        workdir = self.target.workdir.rstrip("/")
        venv_path = self.target.env.get("VIRTUAL_ENV", "/opt/venv")
        env = {"HOME": str(self.home), "LANG": "C.UTF-8"}
        for key, value in self.target.env.items():
            value = re.sub(rf"(?<![\w/]){re.escape(venv_path)}(?=/|:|$)", str(self.venv), value)
            value = re.sub(rf"(?<![\w/]){re.escape(workdir)}(?=/|:|$)", str(self.root), value)
            env[key] = _substitute_port(value, self.exposed, self.port) if value == str(self.exposed) else value
        env.update(settings)
        return env

    def command(self) -> list[str]:
        return [_substitute_port(part, self.exposed, self.port) for part in self.target.cmd]

    def healthcheck(self) -> list[str] | None:
        check = self.target.healthcheck
        return [_substitute_port(part, self.exposed, self.port) for part in check] if check else None

    def start(self, settings: Mapping[str, str], ready_path: str = "/", timeout: float = 120.0) -> Running:
        LOG_DIR.mkdir(exist_ok=True)
        log_path = LOG_DIR / f"image-{self.target.name}.log"
        env = self.environment(settings)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(self.command(), cwd=self.root, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        running = Running(self, process, env, log_path)
        try:
            wait_http(self.url + ready_path, timeout, process)
        except Exception as exc:
            running.stop()
            raise RuntimeError(f"{self.target.name} did not start: {exc}\n{running.log_tail()}") from exc
        return running

    def run_once(self, argv: list[str], settings: Mapping[str, str],
                 timeout: float = 120.0) -> subprocess.CompletedProcess:
        """A one-off command in this image (a migration Job, an operator CLI), as `docker run IMAGE argv`."""
        return subprocess.run(argv, cwd=self.root, env=self.environment(settings), capture_output=True, text=True,
                              timeout=timeout)

    def unexpected_files(self) -> list[str]:
        """Files that appeared in the tree outside var/: a read-only root filesystem would have refused them."""
        laid_out = set(self.files)
        found = {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}
        return sorted(f for f in found - laid_out if not f.startswith("var/"))


@dataclass
class Running:
    tree: ImageTree
    process: subprocess.Popen
    env: dict[str, str]
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def healthcheck_passes(self) -> bool:
        command = self.tree.healthcheck()
        assert command, f"{self.tree.target.name} has no HEALTHCHECK"
        return subprocess.run(command, cwd=self.tree.root, env=self.env, timeout=30).returncode == 0

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode


def wait_for(predicate, timeout: float, interval: float = 0.5, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `predicate` until it returns something truthy; that value, or TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} within {timeout}s")
