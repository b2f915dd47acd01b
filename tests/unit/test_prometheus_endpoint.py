"""GET /metrics: the pure routing, then a real server on 127.0.0.1:0 (200, 404, 405, 400,
431, HEAD, a slow client timed out, a failing scrape, a taken port); and [metrics] config."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from shadowd.config import parse_config
from shadowd.core.errors import ConfigError
from shadowd.prometheus.endpoint import (
    MAX_CONNECTIONS,
    MetricsBindError,
    MetricsServer,
    Refuse,
    Scrape,
    route,
)
from shadowd.prometheus.exposition import CONTENT_TYPE

TEXT = "# HELP shadowd_log_seq Log.\n# TYPE shadowd_log_seq gauge\nshadowd_log_seq 7\n"


@pytest.mark.parametrize(("head", "expected"), [
    (b"GET /metrics HTTP/1.1\r\nHost: x", Scrape()),
    (b"GET /metrics?name[]=x HTTP/1.0", Scrape()),
    (b"HEAD /metrics HTTP/1.1", Scrape(head_only=True)),
    (b"GET / HTTP/1.1", Refuse(404, "only /metrics is served here")),
    (b"GET /metrics/x HTTP/1.1", Refuse(404, "only /metrics is served here")),
    (b"POST /metrics HTTP/1.1", Refuse(405, "/metrics answers GET and HEAD")),
    (b"GET /metrics HTTP/2.0", Refuse(400, "expected a request line: GET /metrics HTTP/1.1")),
    (b"GET metrics HTTP/1.1", Refuse(400, "expected a request line: GET /metrics HTTP/1.1")),
    (b"hello", Refuse(400, "expected a request line: GET /metrics HTTP/1.1")),
    (b"GET /metrics HTTP/1.1\r\nno colon", Refuse(400, "a header line has no colon")),
    (b"GET /metr\xffics HTTP/1.1", Refuse(400, "the request is not ASCII")),
])
def test_route(head: bytes, expected: Scrape | Refuse) -> None:
    assert route(head) == expected


# --- a real server ---------------------------------------------------------------------

Exchange = Callable[[bytes], Awaitable[bytes]]


@pytest.fixture(autouse=True)
def _quiet() -> object:
    with structlog.testing.capture_logs() as captured:
        yield captured


async def _scrape() -> str:
    return TEXT


@pytest.fixture
async def server() -> AsyncIterator[MetricsServer]:
    srv = MetricsServer("127.0.0.1", 0, _scrape, read_timeout_s=0.3, max_request_bytes=512)
    task = asyncio.create_task(srv.serve())
    await srv.wait_bound()
    yield srv
    task.cancel()
    await asyncio.wait([task])


async def _exchange(srv: MetricsServer, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(srv.host, srv.port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


def _split(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


async def test_get_metrics_is_the_text_format(server: MetricsServer) -> None:
    status, headers, body = _split(await _exchange(
        server, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"))
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert int(headers["Content-Length"]) == len(body)
    assert headers["Connection"] == "close"
    (family,) = text_string_to_metric_families(body.decode())
    assert family.samples[0].value == 7
    assert server.scrapes == 1


async def test_head_has_the_headers_and_no_body(server: MetricsServer) -> None:
    status, headers, body = _split(await _exchange(server, b"HEAD /metrics HTTP/1.1\r\n\r\n"))
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) == len(TEXT)


@pytest.mark.parametrize(("request_", "status"), [
    (b"GET / HTTP/1.1\r\n\r\n", 404),
    (b"GET /favicon.ico HTTP/1.1\r\n\r\n", 404),
    (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),  # TLS, by mistake
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\n", 400),  # the client half-closes before the blank line
])
async def test_anything_else_is_refused(server: MetricsServer, request_: bytes,
                                        status: int) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request_)
    writer.write_eof()
    got, headers, body = _split(await asyncio.wait_for(reader.read(), timeout=10))
    writer.close()
    assert got == status
    assert body
    assert int(headers["Content-Length"]) == len(body)
    assert server.scrapes == 0


async def test_a_request_over_the_bound_is_refused(server: MetricsServer) -> None:
    big = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 2048 + b"\r\n\r\n"
    status, _, _ = _split(await _exchange(server, big))
    assert status == 431


async def test_a_slow_client_times_out(server: MetricsServer) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /metr")  # ... and nothing more
    await writer.drain()
    status, _, body = _split(await asyncio.wait_for(reader.read(), timeout=10))
    writer.close()
    assert status == 408
    assert b"0.3s" in body


async def test_a_silent_client_does_not_hold_the_others(server: MetricsServer) -> None:
    _, silent = await asyncio.open_connection(server.host, server.port)
    status, _, _ = _split(await _exchange(server, b"GET /metrics HTTP/1.1\r\n\r\n"))
    silent.close()
    assert status == 200


async def test_a_peer_holding_every_connection_cannot_starve_the_scraper() -> None:
    srv = MetricsServer("127.0.0.1", 0, _scrape, read_timeout_s=60.0)  # slowloris's window
    task = asyncio.create_task(srv.serve())
    await srv.wait_bound()
    held = [await asyncio.open_connection(srv.host, srv.port)
            for _ in range(MAX_CONNECTIONS + 10)]
    for _, writer in held:
        writer.write(b"GET /metr")  # ... and nothing more, for a minute
    status, _, body = _split(await _exchange(srv, b"GET /metrics HTTP/1.1\r\n\r\n"))
    assert status == 200
    assert body == TEXT.encode()
    for _, writer in held:
        writer.close()
    task.cancel()
    await asyncio.wait([task])


async def test_a_failing_scrape_is_a_500_and_the_server_lives() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a part's figures broke")
        return TEXT

    srv = MetricsServer("127.0.0.1", 0, flaky, read_timeout_s=1.0)
    task = asyncio.create_task(srv.serve())
    await srv.wait_bound()
    try:
        first, _, _ = _split(await _exchange(srv, b"GET /metrics HTTP/1.1\r\n\r\n"))
        second, _, _ = _split(await _exchange(srv, b"GET /metrics HTTP/1.1\r\n\r\n"))
    finally:
        task.cancel()
        await asyncio.wait([task])
    assert (first, second) == (500, 200)


async def test_a_taken_port_is_a_clear_error(server: MetricsServer) -> None:
    second = MetricsServer("127.0.0.1", server.port, _scrape)
    task = asyncio.create_task(second.serve())
    with pytest.raises(MetricsBindError, match=r"\[metrics\] listen") as caught:
        await second.wait_bound()
    assert caught.value.port == server.port
    with pytest.raises(MetricsBindError):
        await task


# --- [metrics] in the config -----------------------------------------------------------


def test_metrics_are_off_by_default() -> None:
    config = parse_config("")
    assert config.metrics.listen == ""
    assert not config.metrics.allow_remote


@pytest.mark.parametrize("listen", ["127.0.0.1:9469", "[::1]:9469", "localhost:9469",
                                    "127.0.0.2:1"])
def test_loopback_listens_are_accepted(listen: str) -> None:
    assert parse_config(f'[metrics]\nlisten = "{listen}"\n').metrics.listen == listen


@pytest.mark.parametrize("listen", ["0.0.0.0:9469", "192.0.2.1:9469", "[::]:9469"])
def test_a_remote_listen_needs_allow_remote(listen: str) -> None:
    with pytest.raises(ConfigError, match="allow_remote") as caught:
        parse_config(f'[metrics]\nlisten = "{listen}"\n', file="s.toml")
    assert caught.value.path == "$.metrics.listen"
    assert "s.toml" in str(caught.value)
    text = f'[metrics]\nlisten = "{listen}"\nallow_remote = true\n'
    assert parse_config(text).metrics.allow_remote


@pytest.mark.parametrize("listen", ["9469", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000",
                                    "prometheus.example:9469", ":9469", "127.0.0.1:http"])
def test_a_malformed_listen_names_the_key(listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f'[metrics]\nlisten = "{listen}"\n')
    assert caught.value.path == "$.metrics.listen"
    assert "`$.metrics.listen`" in str(caught.value)


def test_unknown_metrics_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\$\.metrics"):
        parse_config("[metrics]\nlisten_on = \"127.0.0.1:1\"\n")
