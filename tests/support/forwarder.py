"""A local TCP forwarder in front of a shared server (RabbitMQ, Redis, PostgreSQL) for fault tests.

A test makes a dependency unreachable for the process under test without touching the shared server: the
process is given the forwarder's URL, and `close()` closes the forwarder's port and cuts every connection open
through it (the process sees its connections drop and new ones refused); `open()` serves again on the same port.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

from tests.support.processes import free_port


class Forwarder:
    """127.0.0.1:<port> forwarded to a real server; `close()` refuses and cuts every connection, `open()` serves
    again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.open()

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def close(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close() alone leaves the port listening on Linux
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._drop(sock)

    def url(self, url: str) -> str:
        """`url` with its host and port replaced by the forwarder's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{self.port}"))


def forwarder_for(url: str, default_port: int) -> Forwarder:
    """A forwarder to the server `url` names (`default_port` when the URL gives none)."""
    parts = urlsplit(url)
    return Forwarder(parts.hostname or "127.0.0.1", parts.port or default_port)
