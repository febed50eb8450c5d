"""The typed object behind ``click.Context.obj``: the global options and the client.

The client connects on first use, so ``coordkit --version`` or ``--help`` never touch the
network, and it is closed with the root Click context whatever way the command ends.
"""

from __future__ import annotations

from typing import Any

import click

import coordkit

from .output import Output

__all__ = ["CliContext", "pass_cli"]

_NO_URL = (
    "no store URL: pass --url or set COORDKIT_URL "
    "(e.g. etcd://127.0.0.1:2379, zk://127.0.0.1:2181, memory://), "
    "or start a local dev server with `coordkit dev up`"
)


class CliContext:
    """What every command needs: where the store is, how to print, and the client.

    A plain class, not a dataclass: every command builds one, and defining a dataclass costs
    Python 3.11 about a millisecond of start-up (see CONTRIBUTING.md, "Start-up").
    """

    def __init__(
        self,
        click_ctx: click.Context,
        url: str | None,
        *,
        json: bool = False,
        timeout: float | None = None,
        ttl: float | None = None,
        security: dict[str, Any] | None = None,
    ) -> None:
        self.click_ctx = click_ctx
        self.url = url
        self.json = json
        self.timeout = timeout
        self.ttl = ttl  # a command that holds something may ask for its own session TTL
        self.security = security or {}  # --user, --password-file, --ca... (paths, no secret)
        self._client: coordkit.Client | None = None

    @property
    def out(self) -> Output:
        return Output(json=self.json)

    @property
    def client(self) -> coordkit.Client:
        """The connected client (connecting now if this is the first use).

        Raises ConfigurationError without a URL, BackendUnavailableError if no server
        answers within ``--timeout`` (or the URL's ``connect_timeout``).
        """
        if self._client is None:
            client = self._connect(self._resolved_url(), session=True)
            # The root context outlives the subcommand's, and closing it ends the session.
            self._client = self.click_ctx.find_root().with_resource(client)
        return self._client

    @property
    def reader(self) -> coordkit.Client:
        """A client for a command that only reads and watches: connected without a session
        (on etcd no lease is granted, nor revoked at exit: ``connect(session=False)``), or
        the command's client if it already has one. Raises as :attr:`client`."""
        if self._client is None:
            client = self._connect(self._resolved_url(), session=False)
            self._client = self.click_ctx.find_root().with_resource(client)
        return self._client

    def _resolved_url(self) -> str:
        """--url or $COORDKIT_URL, else the running dev server's (what connect() would find),
        looked up here so that the note comes first and the error names the CLI's options."""
        if self.url:
            return self.url
        from coordkit.dev import running_url

        self.url = running_url()
        if self.url is None:
            raise coordkit.ConfigurationError(_NO_URL)
        self.out.note(f"using the dev server at {self.url}")
        return self.url

    def _connect(self, url: str, *, session: bool) -> coordkit.Client:
        # Only what the command line gave: the rest keeps the URL's query string.
        options: dict[str, Any] = {}
        if self.timeout is not None:
            options.update(timeout=self.timeout, connect_timeout=self.timeout)
        if self.ttl is not None:
            options["ttl"] = self.ttl
        return coordkit.connect(url, **options, **self.security, session=session)

    def warn_if_in_process(self, written: str) -> None:
        """A memory:// store lives in this process, so what a command writes there is gone
        when the command exits: say so on stderr rather than let the write look durable."""
        if self.client.backend.capabilities.in_process:
            self.out.note(
                f"memory:// keeps its data in this process only: {written} is gone when "
                "this command exits (use etcd:// or zk://, or `coordkit dev up`)"
            )

    def endpoints(self) -> tuple[str, ...]:
        """The servers this command talks to, for error messages.

        Before a client exists (connecting failed) they are read off the URL text; that is
        only for naming them, the library has already validated or rejected the URL.
        """
        if self._client is not None:
            return tuple(self._client.endpoints)
        return endpoints_in_url(self.url)


def endpoints_in_url(url: str | None) -> tuple[str, ...]:
    if not url or "://" not in url:
        return ()
    rest = url.split("://", 1)[1]
    netloc = rest.split("?", 1)[0].split("/", 1)[0]
    return tuple(part.strip() for part in netloc.split(",") if part.strip())


pass_cli = click.make_pass_decorator(CliContext)
