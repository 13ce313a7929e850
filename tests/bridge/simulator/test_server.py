"""The loopback server runner serves a WSGI app over real HTTP and stops cleanly."""

import httpx

from bridge.simulator.server import serving


def hello_app(environ, start_response):  # type: ignore[no-untyped-def]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]


def test_serving_answers_over_loopback_and_stops() -> None:
    with serving(hello_app) as running:
        assert running.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{running.url}/ping").text == "/ping"
