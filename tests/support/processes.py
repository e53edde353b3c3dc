"""The process harness lives in common.processes (the local stack uses it too); tests import it from here."""

from common.processes import REPO_ROOT, VENV_BIN, ServiceProcess, base_env, free_port, wait_http

__all__ = ["REPO_ROOT", "VENV_BIN", "ServiceProcess", "base_env", "free_port", "wait_http"]
