"""The HTTP endpoints (the agent's and a service's /metrics) against what a hostile or odd
client does: IPv6 and bare-port listen values, gzip, slow connections that never finish
their request, and a scraper asking hundreds of times a second."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import MetricsData

from obs.agent.config import listen_address
from obs.agent.endpoints import Endpoints
from obs.export.http_server import Gzipped, RouteServer, cached
from obs.lifecycle.prometheus_endpoint import PrometheusEndpoint
from support.servers import free_port
from support.waiting import wait_for

pytestmark = pytest.mark.servers  # starts servers, processes or a browser


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def _endpoints(address: tuple[str, int]) -> Endpoints:
    return Endpoints(address, lambda: [b"up 1\n"], list).start()


@pytest.mark.skipif(not _ipv6(), reason="this machine has no IPv6 loopback")
def test_an_ipv6_listen_value_serves_on_ipv6() -> None:
    address = listen_address("[::]:0")
    assert address == ("::", 0)
    endpoints = _endpoints(address)
    try:
        with urllib.request.urlopen(f"http://[::1]:{endpoints.port}/healthz", timeout=5) as r:
            assert r.status == 200
    finally:
        endpoints.stop()


def test_a_bare_port_listens_on_every_ipv4_address() -> None:
    port = free_port()
    address = listen_address(f":{port}")
    assert address == ("0.0.0.0", port)
    endpoints = _endpoints(address)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert r.read() == b"up 1\n"
    finally:
        endpoints.stop()


@pytest.fixture
def big_page() -> Iterator[tuple[RouteServer, bytes]]:
    page = b"".join(b'bullmq_queue_jobs{bullmq_queue_name="q%d"} 3\n' % i for i in range(5000))
    server = RouteServer(
        ("127.0.0.1", 0), {"/metrics": lambda: (200, "text/plain", [page[:1000], page[1000:]])}
    ).start()
    yield server, page
    server.stop()


def test_metrics_are_gzipped_for_a_scraper_that_accepts_it(
    big_page: tuple[RouteServer, bytes],
) -> None:
    server, page = big_page
    url = f"http://127.0.0.1:{server.port}/metrics"
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=5) as reply:
        assert reply.headers["Content-Encoding"] == "gzip"
        body = reply.read()
    assert len(body) < len(page) / 5
    assert gzip.decompress(body) == page
    with urllib.request.urlopen(url, timeout=5) as reply:  # no Accept-Encoding: as it is
        assert reply.headers["Content-Encoding"] is None
        assert reply.read() == page


def test_slow_connections_hold_few_threads_and_never_lock_scrapers_out() -> None:
    server = RouteServer(
        ("127.0.0.1", 0),
        {"/metrics": lambda: (200, "text/plain", [b"ok\n"])},
        max_connections=4,
        io_timeout=0.5,
        deadline=0.5,
    ).start()
    before = threading.active_count()
    slow: list[socket.socket] = []
    try:
        for _ in range(60):  # a slowloris: requests begun and never finished
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            connection.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            slow.append(connection)
        assert wait_for(lambda: server.server.refused >= 30)
        for _ in range(10):  # while they linger, at most four threads serve them
            assert threading.active_count() - before <= 4
            time.sleep(0.05)
        time.sleep(0.5)  # past their deadline: a scraper takes a place
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            assert reply.read() == b"ok\n"
        assert wait_for(lambda: server.server.open_connections == 0)
    finally:
        for connection in slow:
            connection.close()
        server.stop()


def test_a_services_metrics_page_is_collected_at_most_once_a_second() -> None:
    collections: list[int] = []
    now = [1000.0]

    def scrape() -> MetricsData:
        collections.append(1)
        return MetricsData([])

    endpoint = PrometheusEndpoint("127.0.0.1", 0, scrape, clock=lambda: now[0]).start()
    url = f"http://127.0.0.1:{endpoint.port}/metrics"
    try:
        for _ in range(50):  # a hostile scraper, as fast as it can
            with urllib.request.urlopen(url, timeout=5) as reply:
                assert reply.status == 200
        assert len(collections) == 1
        now[0] += 1.0
        with urllib.request.urlopen(url, timeout=5):
            pass
        assert len(collections) == 2
    finally:
        endpoint.stop()


def test_a_cached_page_is_kept_gzipped_and_served_whole_to_every_client(
    big_page: tuple[RouteServer, bytes],
) -> None:
    _, page = big_page
    renders: list[int] = []

    def lazily() -> Iterator[bytes]:  # pieces made as they are taken, as /metrics does
        renders.append(1)
        for start in range(0, len(page), 1000):
            yield page[start : start + 1000]

    route = cached(lambda: (200, "text/plain", lazily()), max_age=60)
    _, _, body = route()
    assert isinstance(body, Gzipped)  # what is kept until the next scrape: not the page
    assert sum(map(len, body.pieces)) < len(page) / 5
    assert body.length == len(page)
    server = RouteServer(("127.0.0.1", 0), {"/metrics": route}).start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(reply.read()) == page
        with urllib.request.urlopen(url, timeout=5) as reply:  # no Accept-Encoding: inflated
            assert reply.headers["Content-Encoding"] is None
            assert int(reply.headers["Content-Length"]) == len(page)
            assert reply.read() == page
    finally:
        server.stop()
    assert len(renders) == 1


def test_a_failing_lazy_page_answers_500() -> None:
    def failing() -> Iterator[bytes]:
        yield b"x" * 2000
        raise RuntimeError("collector gone")

    server = RouteServer(("127.0.0.1", 0), {"/metrics": cached(lambda: (200, "t", failing()))})
    server.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
        assert error.value.code == 500
    finally:
        server.stop()
