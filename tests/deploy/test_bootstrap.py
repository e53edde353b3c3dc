"""scripts/bootstrap.sh on a machine without Python 3.10: it tries `uv python install 3.10`, and says plainly when
that cannot work. Run in a scratch copy with a PATH that has no 3.10 (and HOME elsewhere, so no pyenv)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.images import REPO_ROOT, uv_binary


def scratch_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts" / "bootstrap.sh", project / "scripts")
    shutil.copy(REPO_ROOT / ".python-version", project)
    shutil.copy(REPO_ROOT / "requirements.lock", project)
    (tmp_path / "home").mkdir()
    return project


def run(project: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/bootstrap.sh"], cwd=project, capture_output=True, text=True, timeout=300,
                          env={"HOME": str(project.parent / "home"), "PATH": f"{bin_dir}:/usr/bin:/bin", **env})


def test_without_python_310_and_without_the_internet_it_says_so(tmp_path: Path) -> None:
    project = scratch_project(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").symlink_to(uv_binary())  # the real uv; its Python downloads point nowhere, as when offline
    done = run(project, bin_dir, UV_PYTHON_INSTALL_MIRROR="http://127.0.0.1:9/unreachable",
               UV_PYTHON_INSTALL_DIR=str(tmp_path / "pythons"), UV_NO_CACHE="1")
    assert done.returncode == 1
    assert "trying: uv python install 3.10" in done.stderr
    assert "Python 3.10 was not found" in done.stderr
    assert "offline" in done.stderr and "cannot work" in done.stderr
    assert not (project / ".venv").exists()


def test_without_python_310_it_installs_one_with_uv(tmp_path: Path) -> None:
    """A stand-in uv that 'installs' this machine's 3.10 (no download): bootstrap then builds the venv with it."""
    project = scratch_project(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python310 = Path(sys.base_prefix) / "bin" / "python3.10"
    log = tmp_path / "uv.log"
    (bin_dir / "uv").write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$1 $2" in
  "python install") touch {tmp_path}/installed ;;
  "python find") [ -f {tmp_path}/installed ] && echo {python310} || exit 1 ;;
  "venv "*) mkdir -p .venv/bin && ln -sf {python310} .venv/bin/python ;;
esac
""")
    (bin_dir / "uv").chmod(0o755)
    done = run(project, bin_dir)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0].startswith("python find 3.10") and "python install 3.10" in calls
    assert f"installed Python 3.10 with uv: {python310}" in done.stderr
    assert any(c.startswith("pip sync") and "--require-hashes" in c for c in calls)
