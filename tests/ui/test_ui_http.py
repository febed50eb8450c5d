"""coordkit ui over plain HTTP and in the browser's banner: writes refused without --write and
confirmed with it, loopback-only binding, no secret on any page, and a lost store connection
shown on the open page until it is back."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from selenium import webdriver
from ui_server import free_port, running_ui

import coordkit
from coordkit.testing import eventually
from coordkit.testing._secure import SecureEtcdServer, User
from coordkit.testing.proxy import FaultProxy
from coordkit.ui import check_bind
from coordkit_cli.main import cli

pytestmark = pytest.mark.ui

PAGES = ["/", "/locks", "/elections", "/services", "/config", "/keys", "/keys?path=/app"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _post(url: str, headers: dict[str, str] | None = None, **fields: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), headers=headers or {})
    try:
        with opener.open(request) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _get(url: str) -> str:
    with urllib.request.urlopen(url) as reply:
        return str(reply.read().decode())


def test_writes_are_refused_without_write(client: coordkit.Client) -> None:
    client.put("/app/stale", "1")
    with running_ui(client) as base:
        status, text = _post(base + "/change/delete-key", key="/app/stale", confirm="yes")
    assert status == 403 and "--write" in text
    assert client.get("/app/stale") is not None


def test_writes_need_a_confirmation_step(client: coordkit.Client) -> None:
    client.put("/app/stale", "1")
    registration = client.register("payment", "10.0.0.1", 8080)
    with running_ui(client, write=True) as base:
        forged = _post(
            base + "/change/delete-key", {"Origin": "http://evil.example"}, key="/app/stale", confirm="yes"
        )
        assert forged[0] == 403 and client.get("/app/stale") is not None
        status, page = _post(base + "/change/delete-key", key="/app/stale")
        assert status == 200 and 'name="confirm" value="yes"' in page
        assert client.get("/app/stale") is not None
        assert _post(base + "/change/delete-key", key="/app/stale", confirm="yes")[0] == 303
        assert client.get("/app/stale") is None
        fields = {"service": "payment", "id": registration.id, "confirm": "yes"}
        assert _post(base + "/change/drain", **fields)[0] == 303
        assert [i.status for i in client.instances("payment")] == ["draining"]
        assert (
            _post(base + "/change/config-set", app="pay", key="timeout", value="9", confirm="yes")[0] == 303
        )
        assert client.get_text("/config/pay/timeout") == "9"


@pytest.mark.memory  # memory:// only: the secure etcd of this module is not needed here
def test_the_ui_binds_to_loopback_unless_told() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host, allow_remote=False)
    with pytest.raises(coordkit.ConfigurationError, match="--allow-remote"):
        check_bind("0.0.0.0", allow_remote=False)
    check_bind("0.0.0.0", allow_remote=True)
    result = CliRunner().invoke(cli, ["--url", "memory://", "ui", "--bind", "0.0.0.0:0"])
    assert result.exit_code == 2 and "--allow-remote" in result.output


@pytest.fixture(scope="module")
def secure_etcd() -> Iterator[SecureEtcdServer]:
    with SecureEtcdServer(users=[User("alice")]) as server:
        yield server


def test_no_secret_reaches_a_page(secure_etcd: SecureEtcdServer) -> None:
    password = secure_etcd.secrets.users["alice"].password
    keys = [p.read_text() for p in Path(secure_etcd.secrets.folder).glob("*-key.pem")]
    key_lines = [line for text in keys for line in text.splitlines() if line and not line.startswith("-----")]
    with coordkit.connect(secure_etcd.url + "/ck-ui-secret", **secure_etcd.credentials("alice")) as client:
        client.put("/app/x", "1")
        with running_ui(client) as base:
            for page in PAGES:
                for text in (
                    _get(base + page),
                    _get(base + page + ("&" if "?" in page else "?") + "fragment=1"),
                ):
                    assert password not in text, page
                    assert not any(line in text for line in key_lines), page


@pytest.mark.parametrize("kind", ["etcd", "zookeeper"])
def test_a_lost_connection_shows_and_the_page_recovers(
    kind: str, request: pytest.FixtureRequest, browser: webdriver.Chrome, screenshots: Path
) -> None:
    server = request.getfixturevalue(f"{kind}_server")
    scheme = server.url.split("://")[0]
    with FaultProxy(server.endpoints) as proxy:
        namespace = f"/ck-ui-banner-{kind}"
        url = proxy.url(scheme, namespace)
        with (
            coordkit.connect(url, ttl=3, timeout=1) as reader,
            coordkit.connect(server.url + namespace) as writer,
            running_ui(reader) as base,
        ):
            browser.get(base + "/config")

            def banner() -> bool:
                script = "return !document.getElementById('banner').classList.contains('hidden');"
                return bool(browser.execute_script(script))

            assert not banner()
            proxy.blackhole()
            eventually(banner, timeout=30, message="the banner to show the lost connection")
            browser.save_screenshot(str(screenshots / f"banner-{kind}.png"))
            proxy.heal()
            eventually(lambda: not banner(), timeout=30, message="the banner to go once connected")
            writer.put("/config/pay/after", "1")
            eventually(lambda: "after" in browser.page_source, timeout=15, message="the page to follow again")


def test_the_command_serves_the_store_it_is_given_and_stops_on_sigterm(etcd_server: Any) -> None:
    port = free_port()
    url = f"{etcd_server.url}/ck-ui-cli"
    with coordkit.connect(url) as client:
        client.put("/config/pay/timeout", "7")
        proc = subprocess.Popen(
            [sys.executable, "-m", "coordkit_cli", "--url", url, "ui", "--bind", f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            page = eventually(
                lambda: _get(f"http://127.0.0.1:{port}/config"), timeout=30, ignoring=(OSError,)
            )
            assert 'data-key="timeout"' in page and ">7<" in page
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/ (read-only)" in err


def test_a_drain_confirmed_in_the_browser_is_done(
    client: coordkit.Client, browser: webdriver.Chrome, screenshots: Path, backend_kind: str
) -> None:
    client.register("payment", "10.0.0.1", 8080)
    with running_ui(client, write=True) as base:
        browser.get(base + "/services")
        browser.execute_script("document.querySelector('form[action=\"/change/drain\"] button').click();")
        eventually(lambda: "About to" in browser.page_source, timeout=15, message="the confirmation page")
        assert [i.status for i in client.instances("payment")] == ["up"]
        browser.save_screenshot(str(screenshots / f"confirm-{backend_kind}.png"))
        browser.execute_script("document.getElementById('confirm').click();")
        eventually(lambda: [i.status for i in client.instances("payment")] == ["draining"], timeout=15)
        eventually(lambda: "status-draining" in browser.page_source, timeout=15, message="the drained page")
