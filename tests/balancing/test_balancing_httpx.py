"""The httpx transports against real local HTTP servers (three instances on 127.0.0.1),
registered in a real store (memory, ZooKeeper, etcd) and found through discovery: sync over a
sync client, async over a coordkit.aio client (and over a sync one)."""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from balancing_helpers import Instance

import coordkit
import coordkit.aio
from coordkit.balancing import NoInstanceAvailableError, OutlierEjection
from coordkit.errors import ConfigurationError
from coordkit.testing.loops import run

httpx = pytest.importorskip("httpx")
transports = pytest.importorskip("coordkit.balancing.httpx")

URL = "http://payment-service/pay"


def _options() -> Any:
    """Eject after 2 consecutive failures; no retry budget (a test's few requests would exhaust
    it). A new OutlierEjection each time: it keeps the state of the balancer it serves."""
    return {"ejection": OutlierEjection(consecutive_failures=2, base_time=60), "budget": False}


@pytest.fixture
def servers(client: coordkit.Client) -> Iterator[list[Instance]]:
    """Three HTTP instances of payment-service, registered by the test's sync client."""
    found = [Instance() for _ in range(3)]
    for k, server in enumerate(found):
        client.register("payment-service", "127.0.0.1", server.port, id=f"pay-{k}")
    yield found
    for server in found:
        server.stop()


def _ports(replies: list[Any]) -> Counter[int]:
    return Counter(r.json()["port"] for r in replies)


def test_sync_transport_balances_ejects_and_retries(client: coordkit.Client, servers: list[Instance]) -> None:
    transport = transports.BalancedTransport(client, strategy="round_robin", balancer_options=_options())
    with httpx.Client(transport=transport) as http:
        replies = [http.post(URL, json={"k": k}) for k in range(9)]
        assert _ports(replies) == Counter({s.port: 3 for s in servers})
        assert {r.json()["host"] for r in replies} == {"payment-service"}
        assert str(replies[0].request.url) == URL  # what the caller asked for

        servers[0].status = 500
        before = servers[0].hits
        gets = [http.get(URL) for _ in range(9)]
        assert {r.status_code for r in gets} == {200}  # each 500 retried on another instance
        assert servers[0].hits - before == 2  # two failures, then ejected (no more picks)

        servers[0].status, servers[1].status = 200, 500  # a POST on a failing instance: no retry
        posts = [http.post(URL, json={}) for _ in range(4)]
        assert Counter(r.status_code for r in posts)[500] >= 1
        assert all(r.json()["port"] != servers[0].port for r in posts)  # still ejected


def test_connect_refused_is_retried_even_for_a_post(client: coordkit.Client, servers: list[Instance]) -> None:
    servers[2].stop()  # registered, not listening: the request is never sent
    transport = transports.BalancedTransport(client, balancer_options=_options())
    with httpx.Client(transport=transport) as http:
        replies = [http.post(URL, json={}) for _ in range(6)]
    assert {r.status_code for r in replies} == {200}
    assert set(_ports(replies)) == {servers[0].port, servers[1].port}


def test_async_transport_over_an_aio_client(store_url: str, servers: list[Instance]) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            transport = transports.AsyncBalancedTransport(
                aio, strategy="round_robin", balancer_options=_options()
            )
            async with httpx.AsyncClient(transport=transport) as http:
                replies = [await http.get(URL) for _ in range(9)]
                assert _ports(replies) == Counter({s.port: 3 for s in servers})

                servers[1].status = 500
                before = servers[1].hits
                gets = [await http.get(URL) for _ in range(9)]
                assert {r.status_code for r in gets} == {200}
                assert servers[1].hits - before == 2  # then ejected
                assert [i.id for i in transport._made["payment-service"][0].ejected] == ["pay-1"]

    run(main())


def test_async_transport_post_goes_once(store_url: str, client: coordkit.Client) -> None:
    """One instance answering 500: a POST reaches it once, a GET three times (the attempts)."""
    server = Instance()
    server.status = 500
    client.register("payment-service", "127.0.0.1", server.port, id="only")

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            transport = transports.AsyncBalancedTransport(
                aio, balancer_options={"budget": False, "ejection": False}
            )
            async with httpx.AsyncClient(transport=transport) as http:
                assert (await http.post(URL, json={})).status_code == 500
                assert server.hits == 1
                assert (await http.get(URL)).status_code == 500  # the last 5xx, after 3 attempts
                assert server.hits == 4
                assert (await http.post(URL, extensions={"idempotent": True})).status_code == 500
                assert server.hits == 7

    try:
        run(main())
    finally:
        server.stop()


def test_async_transport_over_a_sync_client_and_no_instance(
    client: coordkit.Client, servers: list[Instance]
) -> None:
    async def main() -> None:
        transport = transports.AsyncBalancedTransport(client, balancer_options=_options())
        async with httpx.AsyncClient(transport=transport) as http:
            replies = [await http.get(URL) for _ in range(3)]
            assert _ports(replies) == Counter({s.port: 1 for s in servers})
            with pytest.raises(NoInstanceAvailableError, match="'nobody'") as caught:
                await http.get("http://nobody/")
            assert isinstance(caught.value, httpx.ConnectError)  # what httpx users already catch

    run(main())


def test_sync_transport_refuses_an_aio_client(store_url: str) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            with pytest.raises(ConfigurationError, match="AsyncBalancedTransport"):
                transports.BalancedTransport(aio)

    run(main())


def test_missing_httpx_gives_install_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "coordkit.balancing.httpx")
    with pytest.raises(ImportError, match=r"pip install 'coordkit\[httpx\]'"):
        importlib.import_module("coordkit.balancing.httpx")
