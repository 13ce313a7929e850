"""The autouse guard refuses connections that leave the machine."""

import socket

import pytest


def test_guard_refuses_non_loopback_addresses() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(ConnectionRefusedError, match=r"only connect to 127\.0\.0\.1"),
    ):
        sock.connect(("93.184.216.34", 80))


def test_guard_allows_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
