"""Fixtures for the deployment tests: production-like secrets, unique infrastructure names, a Graph API stub."""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from common.processes import free_port


@pytest.fixture(scope="session")
def production_secrets() -> dict[str, str]:
    """Real (random, non-placeholder) values for every secret the services read with APP_ENV=production."""
    names = ["RASA_TOKEN", "ACTION_SERVER_TOKEN", "ACTIONS_SESSION_KEY", "HANDOFF_INTERNAL_TOKEN", "ACCOUNTS_API_TOKEN",
             "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_ACCESS_TOKEN"]
    return {name: secrets.token_urlsafe(24) for name in names}


@pytest.fixture(scope="module")
def names(run_id: str) -> dict[str, str]:
    """Queue, exchange, key and schema names no other test run uses."""
    tag = f"{run_id}{uuid.uuid4().hex[:4]}"
    return {
        "WHATSAPP_PREFIX": f"img{tag}",
        "HANDOFF_EXCHANGE": f"img{tag}-events",
        "HANDOFF_QUEUE": f"img{tag}-handoff",
        "RASA_LOCK_PREFIX": f"img{tag}lock",
        "ACCOUNTS_CACHE_PREFIX": f"img{tag}acc",
        "schema": f"img_{tag}",
    }


@pytest.fixture(scope="module")
def pg_schema_url(postgres_url: str, names: dict[str, str]) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema (Rasa's tracker and the handoff tables go there)."""
    schema = names["schema"]
    admin = create_engine(postgres_url, future=True)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


class GraphStub:
    """Meta's Graph API as far as a sender sees it: records every POST and answers like Meta does."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                payload = json.loads(body or b"{}")
                stub.requests.append((self.path, payload, dict(self.headers)))
                if payload.get("status") == "read":
                    answer: dict[str, Any] = {"success": True}
                else:
                    to = str(payload.get("to", ""))
                    answer = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                              "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v21.0"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages_to(self, wa_id: str) -> list[dict[str, Any]]:
        return [p for _, p, _ in self.requests if p.get("to") == wa_id and p.get("type") != "read"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def graph_stub() -> Iterator[GraphStub]:
    stub = GraphStub()
    yield stub
    stub.close()
