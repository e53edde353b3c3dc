"""Serving a process's Prometheus registry on a port of its own (`METRICS_PORT`; unset: not served).

Every service exposes `/metrics` on its metrics port (9105 in the deployment), apart from its service port: the
NetworkPolicies open that port to the monitoring namespace only, so Prometheus never needs a path to the
action server's or Rasa's API (docs/security.md). The metric catalogue is in docs/runbook.md.
"""

from __future__ import annotations

import logging
import threading

from prometheus_client import start_http_server

from common.config import env_int, env_str

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_served: dict[str, int] = {}


def serve_metrics(env: str = "METRICS_PORT") -> int | None:
    """Serve /metrics on the port named by `env`, once per process; returns the port, or None when unset."""
    with _lock:
        if env not in _served:
            port = env_int(env, 0)
            if not port:
                return None
            start_http_server(port, addr=env_str("METRICS_HOST", "0.0.0.0"))  # noqa: S104 - Prometheus scrapes it
            _served[env] = port
            logger.info("metrics on :%d/metrics", port)
        return _served[env]
