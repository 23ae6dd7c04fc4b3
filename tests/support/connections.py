"""A TCP relay in front of a server that counts the connections clients open, server side.

Pool tests count connections where they arrive instead of reading httpx/httpcore internals:
``accepted`` (connections ever opened), ``open`` (open now) and ``peak`` (most open at once).
It runs in threads of its own, so it serves the sync and the async flavour alike.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit


class ConnectionCounter:
    """Relays ``127.0.0.1:<port>`` to the target; counts connections."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._scheme = parts.scheme
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._frozen: set[threading.Event] = set()
        self._live: set[threading.Event] = set()
        self._closed = False
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self._thread = threading.Thread(target=self._accept, name="connection-counter", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The relay's base URL (same scheme as the target)."""
        return f"{self._scheme}://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self.accepted += 1
                self.open += 1
                self.peak = max(self.peak, self.open)
                self._sockets += [client, upstream]
            done = threading.Event()
            with self._lock:
                self._live.add(done)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink, done), daemon=True).start()

    def freeze(self) -> None:
        """The peers of the connections open now go silent: their bytes are dropped, nothing is closed
        (a dead network path). Connections opened later are relayed normally."""
        with self._lock:
            self._frozen |= self._live

    def _pump(self, source: socket.socket, sink: socket.socket, done: threading.Event) -> None:
        try:
            while data := source.recv(65536):
                if done not in self._frozen:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                if not done.is_set():
                    done.set()
                    self.open -= 1
                    self._live.discard(done)

    def close(self) -> None:
        """Stop accepting and cut every relayed connection."""
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def count_connections(target_url: str) -> Iterator[ConnectionCounter]:
    """A :class:`ConnectionCounter` in front of ``target_url`` for the ``with`` block."""
    counter = ConnectionCounter(target_url)
    try:
        yield counter
    finally:
        counter.close()
