"""The HTTP server itself (uvicorn under ``caas up``), as a client meets it over a socket."""

import socket
import time

from caas.server import KEEP_ALIVE


def _get(sock: socket.socket, host: str) -> bytes:
    """One keep-alive ``GET /healthz`` on ``sock``; the response's head and body ('' when the
    server closed the connection)."""
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_an_idle_connection_stays_open_longer_than_a_client_idles(sqlite_server):
    """A pooled connection left idle for 6 s (more than uvicorn's default of 5, less than
    caas's KEEP_ALIVE) is still open: its next request is answered, not reset. The openstack
    CLI's --wait and the cluster layer reuse connections after such pauses."""
    assert KEEP_ALIVE > 6
    host = sqlite_server.url.split("//")[1].rstrip("/")
    name, port = host.rsplit(":", 1)
    with socket.create_connection((name, int(port)), timeout=30) as sock:
        assert _get(sock, host).startswith(b"HTTP/1.1 200")
        time.sleep(6)
        assert _get(sock, host).startswith(b"HTTP/1.1 200")
