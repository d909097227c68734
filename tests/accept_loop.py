"""A blocking server on 127.0.0.1 for the tests that need raw sockets.

:class:`AcceptLoop` accepts connections on its own thread, one at a time,
counts them and hands each to :meth:`AcceptLoop.handle`; leaving the
``with`` block stops the loop. Subclasses say what a connection gets: a
TLS alert (tests/test_tls.py), plain HTTP on an ``https://`` URL
(tests/test_wrong_address.py).
"""

from __future__ import annotations

import socket
import threading
from typing import TypeVar

__all__ = ["AcceptLoop"]

_Loop = TypeVar("_Loop", bound="AcceptLoop")


class AcceptLoop:
    """Counts the connections it accepts and hands each to :meth:`handle`."""

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.02)  # how soon the loop sees the stop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port: int = self._sock.getsockname()[1]

    def handle(self, conn: socket.socket) -> None:
        """Serve one accepted connection (5 s timeout); closing it is the caller's."""
        raise NotImplementedError

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.settimeout(5)
            self.handle(conn)

    def __enter__(self: _Loop) -> _Loop:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
