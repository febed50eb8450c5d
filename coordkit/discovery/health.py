"""Health checks run by the registering process over its own registration.

A :class:`HealthCheck` runs one probe on an interval: a callable (truthy: passing), an HTTP URL
(a 2xx answer: passing) or a TCP port (a connection accepted: passing). After ``failures``
consecutive failures it marks the registration ``down`` (with the failure as its reason);
after ``passes`` consecutive passes it marks it ``up`` again. With ``deregister_after`` S, an
instance down for S seconds is deregistered, as consul's ``DeregisterCriticalServiceAfter``
(the check stops then). The check never overrides a drain: while the registration is
``draining`` (its owner's ``drain()``) it records results and changes nothing.

Every probe is bounded by ``timeout``: a callable runs on a worker thread of the check's own,
and one that has not returned in time counts as a failure (it is not interrupted: Python
cannot; the next run waits for it, and fails the same way, until it returns).

A store that cannot be reached when the status should change is retried at the next run: the
check's own view (:attr:`HealthCheck.healthy`) moves at once, the registration when it can.
"""

from __future__ import annotations

import base64
import concurrent.futures
import logging
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ClosedError, ConfigurationError, CoordkitError
from .instance import DOWN, DRAINING, UP

if TYPE_CHECKING:
    from .registry import Registration

__all__ = ["HealthCheck", "Probe"]

log = logging.getLogger(__name__)
Probe = Callable[[], object]  # truthy: passing; False or an exception: failing


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{what} must be a number of seconds > 0, not {value!r}")
    return float(value)


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{what} must be an int >= 1, not {value!r}")
    return value


def _shown(url: str) -> str:
    """The URL without credentials or query: what a status reason and a log line may say."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def http_probe(url: str, timeout: float) -> tuple[Probe, str]:
    """A probe passing on a 2xx answer to ``GET url``, and how to name it."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ConfigurationError(f"a health check URL must be http:// or https://, not {_shown(url)!r}")

    parts = urllib.parse.urlsplit(url)
    headers = {}
    if parts.username is not None:  # urllib does not send a URL's user info: say it as Basic auth
        secret = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port is not None else "")
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def probe() -> bool:
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return 200 <= int(answer.status) < 300
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code}") from None

    return probe, f"GET {_shown(url)}"


def tcp_probe(host: str, port: int, timeout: float) -> tuple[Probe, str]:
    """A probe passing when ``host:port`` accepts a TCP connection, and how to name it."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"a health check port must be within 1..65535, not {port!r}")

    def probe() -> bool:
        with socket.create_connection((host, port), timeout=timeout):
            return True

    return probe, f"TCP {host}:{port}"


class HealthCheck:
    """Check ``target`` every ``interval`` seconds and keep ``registration``'s status in step.

    ``target``: a callable, an ``http(s)://`` URL, or a TCP port on ``host`` (default the
    registered address). Starts at once, with a first run right away; close it (or leave its
    ``with`` block) to stop. Raises ConfigurationError for a bad option, before anything runs.
    """

    def __init__(
        self,
        registration: Registration,
        target: Probe | str | int,
        *,
        interval: float = 10.0,
        timeout: float = 2.0,
        failures: int = 3,
        passes: int = 1,
        deregister_after: float | None = None,
        host: str | None = None,
    ) -> None:
        self.interval = _positive(interval, "interval")
        self.timeout = _positive(timeout, "timeout")
        self.failures = _count(failures, "failures")
        self.passes = _count(passes, "passes")
        self.deregister_after = (
            None if deregister_after is None else _positive(deregister_after, "deregister_after")
        )
        self._registration = registration
        if isinstance(target, str):
            self._probe, self.name = http_probe(target, self.timeout)
        elif isinstance(target, int) and not isinstance(target, bool):
            self._probe, self.name = tcp_probe(host or registration.instance.address, target, self.timeout)
        elif callable(target):
            self._probe, self.name = target, getattr(target, "__name__", "check")
        else:
            raise ConfigurationError(f"a health check is a callable, a URL or a port, not {target!r}")
        self.healthy = True  # the check's own verdict, whatever the store says
        self.last_error = ""
        self._failed, self._passed = 0, 0
        self._down_since: float | None = None  # when this check marked the instance down
        self._owed: str | None = None  # a status change the store has not taken yet
        self._stop = threading.Event()
        self._runner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="coordkit-check-probe")
        self._thread = threading.Thread(target=self._loop, name=f"coordkit-check {self.name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "healthy" if self.healthy else f"failing ({self.last_error})"
        return f"<coordkit HealthCheck {self.name} every {self.interval:g}s {state}>"

    def __enter__(self) -> HealthCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop checking (the status stays as it is). Idempotent; returns once no run is going
        on (but for a callable that has not returned: it is left to finish on its own)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(self.timeout + 5)
        self._runner.shutdown(wait=False, cancel_futures=True)

    # --- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            passed, error = self._run_once()
            if self._stop.is_set():
                return
            self._record(passed, error)
            if self._settle():
                return
            self._stop.wait(self.interval)

    def _run_once(self) -> tuple[bool, str]:
        try:
            future = self._runner.submit(self._probe)
        except RuntimeError:  # shut down by close()
            return True, ""
        try:
            return (True, "") if future.result(self.timeout) else (False, "check returned false")
        except concurrent.futures.TimeoutError:
            return False, f"no answer within {self.timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - a probe's failure, whatever it is, is the check's result
            text = "".join(c if c.isprintable() else " " for c in f"{type(exc).__name__}: {exc}")
            return False, text[:160]  # a status reason is one printable line

    def _record(self, passed: bool, error: str) -> None:
        if passed:
            self._failed, self._passed = 0, self._passed + 1
            if not self.healthy and self._passed >= self.passes:
                self.healthy, self.last_error = True, ""
                self._down_since, self._owed = None, UP
                log.info("coordkit health %s passing again", self.name)
            return
        self._passed, self._failed, self.last_error = 0, self._failed + 1, error
        if self.healthy and self._failed >= self.failures:
            self.healthy = False
            self._down_since, self._owed = time.monotonic(), DOWN
            log.warning("coordkit health %s failing %d times: %s", self.name, self._failed, error)

    def _settle(self) -> bool:
        """Bring the registration in step (True: deregistered, the check is over)."""
        registration = self._registration
        since = self._down_since
        try:
            limit = self.deregister_after
            if since is not None and limit is not None and time.monotonic() - since >= limit:
                log.warning("coordkit health %s: down for %gs, deregistering", self.name, limit)
                registration.deregister()
                return True
            owed = self._owed
            if owed is not None:
                registration.adopt_status()  # a drain by `coordkit maint` counts too
            if owed is None or registration.instance.status == DRAINING:
                return False  # nothing to change, or drained by its owner: a drain is not ours to undo
            if owed == DOWN:
                registration.down(f"{self.name}: {self.last_error}"[:200])
            else:
                registration.up()
            self._owed = None
        except ClosedError:
            return True  # deregistered by its owner: nothing left to check
        except CoordkitError as exc:
            log.warning("coordkit health %s: status not written yet (%s); retrying", self.name, exc)
        return False
