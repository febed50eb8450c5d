"""The ASGI application of ``coordkit ui``: one page per URL, fragments for the live updates,
the server-sent event stream, and the few writes allowed with ``write=True``.

Every page is rendered on the server from fresh reads (:mod:`coordkit.ui.views`); the page's
script re-fetches its own section (``?fragment=1``) when :mod:`coordkit.ui.live` says it
changed. A read that fails while the store is unreachable renders the section with the error
(never the URL's secrets: a URL with a password is refused by connect, and security options are
not shown); the banner says the connection is lost, and the next event after the session is
back re-renders it. Writes are POST forms: the first POST asks for confirmation, the second
(with ``confirm=yes``) acts; without ``write=True`` they are refused with 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from coordkit import Client, CoordkitError
from coordkit.config.values import parse_value
from coordkit.discovery import DRAINING

from .live import LiveState
from .views import config_apps, key_listing, overview, queues, services

__all__ = ["PAGES", "create_app"]

#: (path, name shown in the navigation, section name)
PAGES = (
    ("/", "Overview", "overview"),
    ("/locks", "Locks and semaphores", "locks"),
    ("/elections", "Elections", "elections"),
    ("/services", "Services", "services"),
    ("/config", "Config", "config"),
    ("/keys", "Keys", "keys"),
)
_TEMPLATES = Path(__file__).parent / "templates"


def create_app(
    client: Client, *, write: bool = False, services_base: str = "/services", config_base: str = "/config"
) -> Starlette:
    """The UI over ``client`` as an ASGI application (serve it with uvicorn or mount it).

    Read-only unless ``write``. A lost connection shows on the pages only if ``client`` has a
    session (a ``session=False`` client is CONNECTED until closed). The watch starts with the
    application's lifespan and stops with it; ``client`` stays open (the caller closes it)."""
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
    live = LiveState(client, services_base=services_base, config_base=config_base)
    readers: dict[str, Callable[[Request], dict[str, Any]]] = {
        "overview": lambda request: _overview(client, services_base, config_base),
        "locks": lambda request: {"queues": queues(client, live.seen)},
        "elections": lambda request: _elections(client, live),
        "services": lambda request: {"services": services(client, services_base)},
        "config": lambda request: {"apps": config_apps(client, config_base)},
        "keys": lambda request: _keys(client, request),
    }

    def render(request: Request, section: str, **extra: Any) -> HTMLResponse:
        fragment = request.query_params.get("fragment") == "1"
        data: dict[str, Any] = {"error": ""}
        try:
            data.update(readers[section](request))
        except CoordkitError as exc:
            data["error"] = f"{type(exc).__name__}: {exc}"
        page = {
            "now": time.time(),
            "pages": PAGES,
            "section": section,
            "fragment": fragment,
            "write": write,
            "state": live.state,
        }
        html = env.get_template(f"{section}.html").render(**page, **data, **extra)
        return HTMLResponse(html)

    def page(section: str) -> Callable[[Request], Any]:
        def endpoint(request: Request) -> Response:  # sync: Starlette runs it in a thread
            return render(request, section)

        return endpoint

    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            async for kind, data in live.events():
                if await request.is_disconnected():
                    return
                yield f"event: {kind}\ndata: {data}\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def change(request: Request) -> Response:
        action = request.path_params["action"]
        # A plain urlencoded form (what the pages post): no multipart parser needed.
        form = {
            k: v[-1]
            for k, v in urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace")).items()
        }
        fields = {k: str(v) for k, v in form.items() if k != "confirm"}
        if not write:
            return HTMLResponse("this UI is read-only: start it with --write to change the store", 403)
        if not _same_origin(request):
            return HTMLResponse("refused: the form was not posted from this UI's own pages", 403)
        if action not in _ACTIONS:
            return HTMLResponse("no such action", 404)
        if form.get("confirm") != "yes":
            html = env.get_template("confirm.html").render(
                pages=PAGES,
                section="",
                fragment=False,
                write=write,
                state=live.state,
                action=action,
                fields=fields,
            )
            return HTMLResponse(html)
        try:
            where = await run_in_threadpool(_ACTIONS[action], client, fields, services_base, config_base)
        except (CoordkitError, KeyError, ValueError) as exc:
            return HTMLResponse(f"refused: {type(exc).__name__}: {exc}", 400)
        return RedirectResponse(where, status_code=303)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        live.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            live.stop()

    routes = [Route(path, page(section)) for path, _, section in PAGES]
    routes += [Route("/events", events), Route("/change/{action}", change, methods=["POST"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.live = live  # serve() ends the pages' event streams with it on shutdown
    return app


def _same_origin(request: Request) -> bool:
    """A write must come from a page of this UI: a browser names the page that posts in
    ``Origin`` (and ``Sec-Fetch-Site``), so another site cannot make a visitor's browser post
    a confirmed change to a UI on their loopback (cross-site request forgery)."""
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    host = request.headers.get("host", "")
    return origin is None or origin in (f"http://{host}", f"https://{host}")


def _overview(client: Client, services_base: str, config_base: str) -> dict[str, Any]:
    data = overview(client)
    found = queues(client, {})
    data["counts"] = {
        "contender queues": len(found),
        "contenders": sum(len(q.contenders) for q in found),
        "services": len(services(client, services_base)),
        "config apps": len(config_apps(client, config_base)),
    }
    return {"info": data}


def _elections(client: Client, live: LiveState) -> dict[str, Any]:
    found = queues(client, live.seen)
    live.note_leaders({q.path: (h.key, h.token, h.value) for q in found if (h := q.head) is not None})
    history = {path: list(items) for path, items in live.history.items()}
    return {"queues": found, "history": history}


def _keys(client: Client, request: Request) -> dict[str, Any]:
    path = request.query_params.get("path", "/") or "/"
    parts = [p for p in path.strip("/").split("/") if p]
    crumbs = [("/" + "/".join(parts[: i + 1]), part) for i, part in enumerate(parts)]
    return {"path": path, "crumbs": crumbs, "rows": key_listing(client, path)}


def _drain(client: Client, fields: dict[str, str], services_base: str, config_base: str) -> str:
    client.set_status(
        fields["service"], fields["id"], DRAINING, reason="drained from coordkit ui", base=services_base
    )
    return "/services"


def _set_config(client: Client, fields: dict[str, str], services_base: str, config_base: str) -> str:
    with client.config(fields["app"], base=config_base, writable=True) as admin:
        admin.set(fields["key"], parse_value(fields["value"]))
    return "/config"


def _delete_key(client: Client, fields: dict[str, str], services_base: str, config_base: str) -> str:
    client.delete(fields["key"])
    return "/keys"


_ACTIONS: dict[str, Callable[[Client, dict[str, str], str, str], str]] = {
    "drain": _drain,
    "config-set": _set_config,
    "delete-key": _delete_key,
}
