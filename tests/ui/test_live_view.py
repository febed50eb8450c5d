"""coordkit ui in a real headless browser, on every backend: what the pages show of a held lock
with two waiters, an election, three instances (one draining) and a config, and that a release,
a new leader and a drain reach the open page without a reload."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.support.ui import WebDriverWait
from ui_server import running_ui

import coordkit
from coordkit.testing import eventually

pytestmark = pytest.mark.ui

WATCH_DELAY = 15  # seconds a change may take to reach the open page (watch, event, fetch)


_TEXTS = "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent.trim());"


def _texts(browser: webdriver.Chrome, css: str) -> list[str]:
    """The text of every element matching ``css``, read at one instant: the page replaces its
    section whenever the store changes, so elements found earlier may be gone."""
    return list(browser.execute_script(_TEXTS, css))


def _in_background(call: Callable[[], object]) -> None:
    """Run a blocking acquire or campaign on a thread; the end of its session (the test's
    clients are closed after it) ends it with an error nobody needs to see."""

    def run() -> None:
        with contextlib.suppress(coordkit.CoordkitError):
            call()

    threading.Thread(target=run, daemon=True).start()


def _until(browser: webdriver.Chrome, check: Callable[[], bool], what: str) -> None:
    WebDriverWait(browser, WATCH_DELAY, poll_frequency=0.1).until(lambda _: check(), message=what)


class Scene:
    """The coordination state the pages are checked against, each actor on a session of its own."""

    def __init__(self, make_client: Callable[..., coordkit.Client]) -> None:
        self.observer = make_client()
        self.holder = make_client().lock("orders/42", identity="holder-a")
        assert self.holder.acquire(timeout=10)
        self.waiters = [make_client().lock("orders/42", identity=f"waiter-{n}") for n in (1, 2)]
        for count, waiter in enumerate(self.waiters, start=2):
            _in_background(lambda w=waiter: w.acquire(timeout=60))  # type: ignore[misc]
            eventually(lambda c=count: len(self.observer.tree("/orders/42")) == c, timeout=10)  # type: ignore[misc]
        self.leader = make_client().election("scheduler")
        assert self.leader.campaign("node-a", timeout=10)
        self.follower = make_client().election("scheduler")
        self.campaign = threading.Thread(
            target=self.follower.campaign, args=("node-b",), kwargs={"timeout": 60}
        )
        self.campaign.daemon = True
        self.campaign.start()
        eventually(lambda: len(self.observer.tree("/scheduler")) == 2, timeout=10)
        registrar = make_client()
        self.instances = [
            registrar.register("payment", f"10.0.0.{n}", 8080, metadata={"zone": f"eu-{n}"}, weight=n)
            for n in (1, 2, 3)
        ]
        self.instances[2].drain("deploy")
        registrar.config("payment", writable=True).update({"timeout": 5, "mode": "fast"})
        self.observer.put("/config/payment/broken", "{not json")


@pytest.fixture
def scene(make_client: Callable[..., coordkit.Client]) -> Iterator[Scene]:
    yield Scene(make_client)  # make_client closes every client: the sessions end, the waits too


def test_pages_show_the_state_and_follow_changes_live(
    scene: Scene, browser: webdriver.Chrome, screenshots: Path, backend_kind: str
) -> None:
    with running_ui(scene.observer) as base:
        browser.get(base + "/")
        assert _texts(browser, "#backend") == [scene.observer.kind]
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('main a')).map(a => a.href);"
        )
        assert {base + p for p in ("/locks", "/elections", "/services", "/config", "/keys")} <= set(links)
        browser.save_screenshot(str(screenshots / f"overview-{backend_kind}.png"))

        # Locks: the holder first, the waiters in the order they came, each with its token.
        browser.get(base + "/locks")
        rows = "table[data-path='/orders/42'] tr[data-token]"
        assert _texts(browser, rows + " td.identity") == ["holder-a", "waiter-1", "waiter-2"]
        tokens = [int(t) for t in _texts(browser, rows + " td.token")]
        assert tokens == sorted(tokens) and tokens[0] == scene.holder.token
        browser.save_screenshot(str(screenshots / f"locks-{backend_kind}.png"))
        scene.holder.release()
        _until(
            browser,
            lambda: _texts(browser, rows + " td.identity") == ["waiter-1", "waiter-2"],
            "the release to reach the open page",
        )

        # Elections: the leader with its token; a resignation shows the next leader live.
        browser.get(base + "/elections")
        leader = "table[data-path='/scheduler'] td.leader"
        assert _texts(browser, leader) == ["node-a"]
        assert _texts(browser, "table[data-path='/scheduler'] td.token") == [str(scene.leader.token)]
        scene.leader.resign()
        _until(
            browser, lambda: _texts(browser, leader) == ["node-b"], "the new leader to reach the open page"
        )
        browser.save_screenshot(str(screenshots / f"elections-{backend_kind}.png"))

        # Services: three instances, the third draining; draining another shows live.
        browser.get(base + "/services")
        statuses = "table[data-service='payment'] tr.instance td.status"
        assert sorted(t.split()[0] for t in _texts(browser, statuses)) == ["draining", "up", "up"]
        addresses = _texts(browser, "table[data-service='payment'] tr.instance td.mono")
        assert {"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"} <= set(addresses)
        scene.instances[0].drain("maintenance")
        _until(
            browser,
            lambda: sorted(t.split()[0] for t in _texts(browser, statuses)) == ["draining", "draining", "up"],
            "the drained instance to reach the open page",
        )
        browser.save_screenshot(str(screenshots / f"services-{backend_kind}.png"))

        # Config: JSON values, the invalid key flagged (and its text not shown).
        browser.get(base + "/config")
        value = "table[data-app='payment'] tr[data-key='{}'] td.value"
        assert _texts(browser, value.format("timeout")) == ["5"]
        assert _texts(browser, value.format("mode")) == ['"fast"']
        broken = _texts(browser, value.format("broken"))[0]
        assert broken.startswith("INVALID") and "{not json" not in broken
        browser.save_screenshot(str(screenshots / f"config-{backend_kind}.png"))

        browser.get(base + "/keys?path=/services")
        assert "payment/" in _texts(browser, "#keys td.mono")
        browser.save_screenshot(str(screenshots / f"keys-{backend_kind}.png"))
