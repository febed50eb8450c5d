"""Health checks owned by the registering process, on every backend: a callable, an HTTP URL
and a TCP port; N failures mark the instance down where other clients see it, passing again
marks it up; a drain is never undone by a check; deregister_after removes a critical instance."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from ops_helpers import eventually

import coordkit
from coordkit.discovery.health import HealthCheck

DEADLINE = 15.0
FAST = {"interval": 0.05, "timeout": 1.0, "failures": 2}
MakeClient = Callable[..., coordkit.Client]


def _status_seen(reader: coordkit.Client, instance_id: str) -> Callable[[], str | None]:
    def status() -> str | None:
        found = [i for i in reader.instances("api") if i.id == instance_id]
        return found[0].status if found else None

    return status


def test_a_callable_check_marks_down_then_up(make_client: MakeClient) -> None:
    owner, reader = make_client(), make_client()
    reg = owner.register("api", "127.0.0.1", 8001, id="a")
    healthy = threading.Event()
    healthy.set()
    status = _status_seen(reader, "a")
    with reader.discover("api") as cache, HealthCheck(reg, healthy.is_set, **FAST) as check:
        assert cache.wait_for(lambda found: [i.id for i in found] == ["a"], DEADLINE)
        healthy.clear()
        assert cache.wait_for(lambda found: found == (), DEADLINE)  # no longer up: not picked
        assert status() == "down"
        [instance] = reader.instances("api")
        assert instance.status_reason == "is_set: check returned false"
        assert not check.healthy
        healthy.set()
        assert cache.wait_for(lambda found: [i.id for i in found] == ["a"], DEADLINE)
        assert check.healthy and reg.instance.status == "up"


@pytest.fixture
def web() -> Iterator[tuple[str, threading.Event]]:
    """An HTTP server answering GET /health 200 while the event is set, else 503."""
    ok = threading.Event()
    ok.set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            authorized = self.headers.get("Authorization") == "Basic dXNlcjpzZWNyZXQ="  # user:secret
            self.send_response(200 if ok.is_set() and authorized else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://user:secret@127.0.0.1:{server.server_address[1]}/health?token=hidden", ok
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_an_http_check_follows_the_answer_and_hides_credentials(
    make_client: MakeClient, web: tuple[str, threading.Event]
) -> None:
    url, ok = web
    owner, reader = make_client(), make_client()
    reg = owner.register("api", "127.0.0.1", 8001, id="a")
    status = _status_seen(reader, "a")
    with HealthCheck(reg, url, **FAST) as check:
        ok.clear()
        eventually(lambda: status() == "down", "the instance marked down", DEADLINE)
        [instance] = reader.instances("api")
        assert "HTTP 503" in instance.status_reason
        for shown in (instance.status_reason, repr(check), check.name):
            assert "secret" not in shown and "hidden" not in shown and "user" not in shown
        ok.set()
        eventually(lambda: status() == "up", "the instance marked up again", DEADLINE)


def test_a_tcp_check_sees_a_closed_port(make_client: MakeClient) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    owner, reader = make_client(), make_client()
    reg = owner.register("api", "127.0.0.1", port, id="a")
    status = _status_seen(reader, "a")
    with HealthCheck(reg, port, **FAST):
        listener.close()
        eventually(lambda: status() == "down", "the instance marked down", DEADLINE)
        assert "TCP 127.0.0.1" in reader.instances("api")[0].status_reason


def test_a_check_never_undoes_a_drain(make_client: MakeClient) -> None:
    owner = make_client()
    reg = owner.register("api", "127.0.0.1", 8001, id="a")
    healthy = threading.Event()
    runs = [0]

    def probe() -> bool:
        runs[0] += 1
        return healthy.is_set()

    reg.drain("deploy")
    with HealthCheck(reg, probe, **FAST) as check:
        eventually(lambda: not check.healthy, "the check failing")
        healthy.set()
        eventually(lambda: check.healthy, "the check passing again")
        seen = runs[0]
        eventually(lambda: runs[0] >= seen + 3, "more runs")
    assert reg.instance.status == "draining" and reg.instance.status_reason == "deploy"


def test_a_critical_instance_is_deregistered_after_the_limit(make_client: MakeClient) -> None:
    owner, reader = make_client(), make_client()
    reg = owner.register("api", "127.0.0.1", 8001, id="a")
    with HealthCheck(reg, lambda: False, deregister_after=0.3, **FAST):
        eventually(lambda: reader.instances("api") == [], "the instance deregistered", DEADLINE)
    assert not reg.registered


def test_a_hanging_callable_counts_as_failing(make_client: MakeClient) -> None:
    owner = make_client()
    reg = owner.register("api", "127.0.0.1", 8001, id="a")
    release = threading.Event()
    with HealthCheck(reg, release.wait, interval=0.05, timeout=0.1, failures=2):
        eventually(lambda: reg.instance.status == "down", "marked down", DEADLINE)
        assert "no answer within 0.1s" in reg.instance.status_reason
        release.set()
        eventually(lambda: reg.instance.status == "up", "up once it answers", DEADLINE)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"interval": 0}, "interval"),
        ({"timeout": -1}, "timeout"),
        ({"failures": 0}, "failures"),
        ({"passes": True}, "passes"),
        ({"deregister_after": "soon"}, "deregister_after"),
    ],
)
def test_bad_options_are_refused(make_client: MakeClient, options: dict[str, object], match: str) -> None:
    reg = make_client().register("api", "127.0.0.1", 8001, id="a")
    with pytest.raises(coordkit.ConfigurationError, match=match):
        HealthCheck(reg, lambda: True, **options)  # type: ignore[arg-type]
    for target in (3.5, "ftp://x/", 70000):
        with pytest.raises(coordkit.ConfigurationError, match="health check"):
            HealthCheck(reg, target)  # type: ignore[arg-type]
